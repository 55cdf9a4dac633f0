"""Which audit rows are incident blocks, and how a batch of them groups into runs. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from proxy.audit.chained_row import ChainedRow
from proxy.triage import Severity, parse_severity, severity_rank


@dataclass(frozen=True, slots=True)
class BlockRun:
    """Blocks of one tenant by one rule, none further than the window from the previous one."""

    tenant: str
    rule_id: str
    severity: Severity  # the highest among the run's blocks
    first_seen: datetime
    last_seen: datetime
    count: int
    request_ids: tuple[str, ...]  # the first ones, bounded


def is_incident_block(row: ChainedRow, min_rank: int) -> bool:
    """An enforced block by a rule at or above the threshold, for a known tenant.

    Monitor-mode matches never make `decision` a block, so "enforced" needs no extra check.
    """
    return (
        row.column("decision") == "block"
        and bool(row.column("tenant"))
        and bool(row.column("winning_rule"))
        and severity_rank(row.column("severity")) >= min_rank
    )


def block_runs(
    rows: Iterable[ChainedRow], window: timedelta, max_request_ids: int
) -> list[BlockRun]:
    """Chained audit rows (incident blocks only) as runs, ordered by tenant, rule and time.

    A batch usually spans a fraction of a second, but a journal replayed after an outage can
    span hours: a gap longer than the window inside one batch starts a new run there too.
    """
    groups: dict[tuple[str, str], list[tuple[datetime, str, Severity]]] = defaultdict(list)
    for row in rows:
        severity = parse_severity(row.column("severity")) or "low"
        key = (row.column("tenant"), row.column("winning_rule"))
        groups[key].append((row.event_time, row.column("request_id"), severity))
    runs: list[BlockRun] = []
    for (tenant, rule_id), blocks in sorted(groups.items()):
        blocks.sort()
        start = 0
        for i in range(1, len(blocks) + 1):
            if i == len(blocks) or blocks[i][0] - blocks[i - 1][0] > window:
                runs.append(_run(tenant, rule_id, blocks[start:i], max_request_ids))
                start = i
    return runs


def _run(
    tenant: str, rule_id: str, blocks: list[tuple[datetime, str, Severity]], max_ids: int
) -> BlockRun:
    return BlockRun(
        tenant=tenant,
        rule_id=rule_id,
        severity=max((b[2] for b in blocks), key=severity_rank),
        first_seen=blocks[0][0],
        last_seen=blocks[-1][0],
        count=len(blocks),
        request_ids=tuple(b[1] for b in blocks[:max_ids]),
    )
