"""Which audit rows count as incident blocks, how they group into runs, and status moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from proxy.audit.chained_row import GENESIS_HASH, ChainedRow, chained_row
from proxy.audit.record import AuditRecord
from proxy.incidents.grouping import BlockRun, block_runs, is_incident_block
from proxy.triage import parse_severity, severity_rank, transition_error

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)


def row(n: int, minutes: float, **changes: Any) -> ChainedRow:
    """A block as the audit writer hands it to the hook: chained, clamped, in COLUMNS order."""
    base: dict[str, Any] = {
        "request_id": f"r{n}",
        "event_time": T0 + timedelta(minutes=minutes),
        "decision": "block",
        "status": 403,
        "latency_ms": 1.0,
        "tenant": "acme",
        "winning_rule": "secrets.block",
        "severity": "high",
    }
    return chained_row(AuditRecord(**{**base, **changes}), "w-0", n + 1, GENESIS_HASH)


@pytest.mark.parametrize(
    ("changes", "wanted"),
    [
        ({}, True),
        ({"severity": "critical"}, True),
        ({"severity": "medium"}, False),
        ({"severity": None}, False),
        ({"decision": "flag"}, False),
        ({"decision": "rate_limited"}, False),
        ({"tenant": None}, False),
        ({"winning_rule": None}, False),
    ],
)
def test_incident_blocks_are_enforced_blocks_at_the_threshold(
    changes: dict[str, Any], wanted: bool
):
    assert is_incident_block(row(0, 0, **changes), severity_rank("high")) is wanted


def test_rows_group_by_tenant_and_rule_and_split_on_quiet_spells():
    rows = [
        row(1, 0),
        row(2, 9, severity="critical"),
        row(3, 30),  # 21 minutes after r2: a new run
        row(4, 1, tenant="globex"),
        row(5, 2, winning_rule="injection.block"),
        row(6, 35),
    ]
    runs = block_runs(reversed(rows), WINDOW, max_request_ids=10)
    assert runs == [
        BlockRun("acme", "injection.block", "high", T0 + timedelta(minutes=2),
                 T0 + timedelta(minutes=2), 1, ("r5",)),
        BlockRun("acme", "secrets.block", "critical", T0, T0 + timedelta(minutes=9), 2,
                 ("r1", "r2")),
        BlockRun("acme", "secrets.block", "high", T0 + timedelta(minutes=30),
                 T0 + timedelta(minutes=35), 2, ("r3", "r6")),
        BlockRun("globex", "secrets.block", "high", T0 + timedelta(minutes=1),
                 T0 + timedelta(minutes=1), 1, ("r4",)),
    ]  # fmt: skip


def test_request_ids_are_the_first_ones_and_bounded():
    runs = block_runs([row(n, n / 10) for n in range(50)], WINDOW, max_request_ids=3)
    assert len(runs) == 1 and runs[0].count == 50
    assert runs[0].request_ids == ("r0", "r1", "r2")


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        ("open", "acknowledged", True),
        ("open", "resolved", True),
        ("acknowledged", "resolved", True),
        ("acknowledged", "acknowledged", True),
        ("resolved", "resolved", True),
        ("acknowledged", "open", False),
        ("resolved", "open", False),
        ("resolved", "acknowledged", False),
    ],
)
def test_status_moves_only_forward(current: str, target: Any, ok: bool):
    problem = transition_error(current, target)
    assert (problem is None) is ok
    if not ok:
        assert current in problem and target in problem  # type: ignore[operator]


def test_severity_is_read_in_any_case():
    assert [parse_severity(s) for s in ("Low", "MEDIUM", " high ", "Critical")] == [
        "low", "medium", "high", "critical",
    ]  # fmt: skip
    assert parse_severity("urgent") is None and parse_severity(2) is None
    assert severity_rank("critical") > severity_rank("low") > severity_rank(None)
