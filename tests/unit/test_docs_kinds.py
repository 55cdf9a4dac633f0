"""docs/policies.md lists every finding kind a policy may name: the list cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from proxy.scanners import SCANNERS

POLICIES_DOC = Path(__file__).parents[2] / "docs" / "policies.md"


def documented_kinds() -> dict[str, set[str]]:
    rows = re.findall(r"^\| `(\w+)` \| (`.+`) \|$", POLICIES_DOC.read_text(), re.MULTILINE)
    return {scanner: set(re.findall(r"`([\w.]+)`", kinds)) for scanner, kinds in rows}


@pytest.mark.parametrize("scanner", ["pii", "secrets", "injection"])
def test_the_policy_guide_lists_each_kind_of_the_scanner(scanner: str) -> None:
    assert documented_kinds().get(scanner) == set(SCANNERS[scanner].kinds)
