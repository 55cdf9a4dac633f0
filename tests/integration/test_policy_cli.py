"""`warden policies check` and `warden policies test`, as CI and policy authors run them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest


def warden(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_shipped_policies_compile_and_their_tests_pass(repo_root: Path, tmp_path: Path):
    checked = warden("policies", "check", str(repo_root / "policies"), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok: ")
    tested = warden("policies", "test", str(repo_root / "policies"), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout
    assert "FAIL" not in tested.stdout
    # The demo model's input contract is tested beside it (policies/ml.yaml).
    assert "PASS ml.yaml:" in tested.stdout
    assert "a negative petal length is refused, naming the feature" in tested.stdout
    summary = tested.stdout.strip().splitlines()[-1]
    passed = int(summary.split()[2])
    assert passed >= 10 and summary.endswith(" 0 failed")


def test_check_lists_every_problem_and_exits_1(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        textwrap.dedent(
            """
            rules:
              - id: one
                description: a
                phase: content
                action: block
                severity: huge
              - id: two
                description: b
                phase: content
                action: block
                severity: low
                when: {custom: {regex: ["(unclosed"]}}
            """
        )
    )
    result = warden("policies", "check", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("bad.yaml:7: rule one: severity: 'huge' is not one of")
    assert lines[1].startswith(
        "bad.yaml:13: rule two: when.custom.regex: custom rule 'two': invalid regex"
    )
    assert lines[-1] == "2 problem(s); nothing was loaded"


@pytest.mark.parametrize("expected_action", ["block", "allow"])
def test_test_reports_failures(tmp_path: Path, expected_action: str):
    (tmp_path / "p.yaml").write_text(
        textwrap.dedent(
            f"""
            rules:
              - id: codename
                description: codenames stay inside
                phase: content
                action: block
                severity: high
                when: {{custom: {{keywords: [bluebird]}}}}
            tests:
              - name: codename is blocked
                request: {{tenant: t, text: "what is Bluebird?"}}
                expect: {{action: {expected_action}, rule: codename}}
            """
        )
    )
    result = warden("policies", "test", str(tmp_path), cwd=tmp_path)
    if expected_action == "block":
        assert result.returncode == 0
        assert "PASS p.yaml:10 codename is blocked" in result.stdout
    else:
        assert result.returncode == 1
        assert "FAIL p.yaml:10 codename is blocked" in result.stdout
        assert "expected action=allow, rule=codename" in result.stdout
        assert "got      action=block, rule=codename" in result.stdout


def test_scan_reads_json_lines_and_reports_findings(tmp_path: Path):
    lines = [
        '{"text": "mail jane.doe@example.com today"}',
        '{"text": "nothing here"}',
        "not json",
    ]
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "scan"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1, "a bad line is reported and makes the exit status non-zero"
    assert "line 3: expected a JSON object" in result.stderr
    first, second = (orjson.loads(line) for line in result.stdout.splitlines())
    emails = [f for f in first["findings"] if f["kind"] == "pii.email"]
    assert [(f["start"], f["end"]) for f in emails] == [(5, 25)]
    assert set(first) == {"findings", "risk_score", "risk_label"}
    assert second == {"findings": [], "risk_score": 0.0, "risk_label": "normal"}
