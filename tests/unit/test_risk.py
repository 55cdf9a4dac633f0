"""Risk scoring: noisy-OR of kind weights, thresholds and labels."""

from __future__ import annotations

import pytest

from proxy.risk import RiskThresholds, assess, kind_weight
from proxy.scanners import Finding


def finding(kind: str, score: float = 1.0) -> Finding:
    return Finding(kind, 0, 1, score)


@pytest.mark.parametrize(
    ("findings", "label"),
    [
        ([], "normal"),
        ([finding("pii.ip_address")], "normal"),
        ([finding("pii.email")], "normal"),
        ([finding("pii.email"), finding("pii.phone")], "suspicious"),
        ([finding("pii.credit_card", 0.95)], "suspicious"),
        ([finding("secret.aws_access_key", 0.95)], "risky"),
        ([finding("injection.override", 0.9)], "risky"),
        ([finding("injection.classifier", 0.5)], "suspicious"),
        ([finding("injection.classifier", 0.2)], "normal"),
        ([finding("pii.credit_card", 0.95), finding("pii.us_ssn", 0.9)], "risky"),
    ],
)
def test_labels(findings: list[Finding], label: str) -> None:
    risk = assess(findings)
    assert risk.label == label
    assert 0.0 <= risk.score <= 1.0


def test_many_findings_of_one_kind_count_once() -> None:
    assert assess([finding("pii.email")] * 50) == assess([finding("pii.email")])


def test_more_evidence_never_lowers_the_score() -> None:
    base = assess([finding("pii.phone")]).score
    assert assess([finding("pii.phone"), finding("pii.ip_address")]).score > base


def test_thresholds_are_configurable_and_validated() -> None:
    strict = RiskThresholds(suspicious=0.1, risky=0.35)
    assert assess([finding("pii.email")], strict).label == "suspicious"
    assert assess([finding("pii.email"), finding("pii.phone")], strict).label == "risky"
    with pytest.raises(ValueError):
        RiskThresholds(suspicious=0.8, risky=0.5)


def test_longest_prefix_weight() -> None:
    assert kind_weight("secret.private_key") > kind_weight("secret.slack_token")
    assert kind_weight("custom.anything") == kind_weight("custom.other")
    assert 0 < kind_weight("unknown.kind") < 1
