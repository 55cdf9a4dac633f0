"""IncidentSettings: the `incidents:` section of config.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from proxy.triage import Severity

# Mirrors the CHECK on incidents.request_ids in migrations/0003_incidents.sql.
MAX_LINKED_REQUEST_IDS = 1000


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    # Open incidents automatically from enforced blocks (the admin API works either way).
    auto_open: bool = True
    # Blocks by rules of at least this severity open or grow an incident.
    min_severity: Severity = "high"
    # Blocks of one tenant by one rule join the same unresolved incident while each comes
    # within this many seconds of the incident's earlier blocks; after a quiet spell, a new one.
    group_window_seconds: float = 3600.0
    # Request ids kept per incident (the first ones); `count` keeps counting past this.
    max_request_ids: int = 100


def settings_problems(settings: IncidentSettings) -> list[tuple[str, str]]:
    problems = []
    if settings.group_window_seconds <= 0:
        problems.append(("incidents.group_window_seconds", "must be greater than 0"))
    if not 1 <= settings.max_request_ids <= MAX_LINKED_REQUEST_IDS:
        problems.append(
            ("incidents.max_request_ids", f"must be between 1 and {MAX_LINKED_REQUEST_IDS}")
        )
    return problems
