"""Input contracts: compiled from policy YAML, decided purely, problems named by line."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from proxy.ml.features import Prediction
from proxy.policy import PolicyError, PolicyInput, PolicySet, compile_policies
from proxy.policy.evaluate import run_policy_tests

CONTRACTS = """
contracts:
  - id: loans.input
    description: The loan model's inputs.
    models: ["loan-*"]
    scope: {tenants: [bank]}
    features:
      - {name: income, type: number, min: 0}
      - {name: term, type: integer, categories: [12, 24, 36]}
      - {name: purpose, type: string, categories: [car, home]}
      - {name: first_time, type: boolean, required: false}
      - {name: note, type: string, required: false, nullable: true}
    max_batch: 3
    extra_features: reject
  - id: loans.review
    description: Small incomes are reviewed in shadow mode.
    models: ["loan-*"]
    features:
      - {name: income, type: number, min: 1000}
    action: flag
    mode: monitor
"""


def compiled(text: str = CONTRACTS) -> PolicySet:
    return compile_policies([("ml.yaml", textwrap.dedent(text))])


def ask(policy: PolicySet, *instances: Any, model: str = "loan-v2", tenant: str = "bank") -> Any:
    body = {"instances": list(instances)}
    return policy.decide(
        "access", PolicyInput(tenant, prediction=Prediction(model, "predict", body))
    )


GOOD = {"income": 52000, "term": 24, "purpose": "car"}


@pytest.mark.parametrize(
    ("instance", "param", "message"),
    [
        ({**GOOD, "income": -1}, "income", "'income' must be at least 0, got -1"),
        ({**GOOD, "term": 18}, "term", "must be one of 12, 24, 36, got 18"),
        ({**GOOD, "term": 24.5}, "term", "must be an integer, got 24.5"),
        ({**GOOD, "purpose": "boat"}, "purpose", "must be one of 'car', 'home', got 'boat'"),
        ({**GOOD, "first_time": "yes"}, "first_time", "must be true or false, got 'yes'"),
        ({"term": 24, "purpose": "car"}, "income", "'income' is required"),
        ({**GOOD, "income": None}, "income", "'income' is required (got null)"),
        ({**GOOD, "income": True}, "income", "must be a number, got true"),
        ({**GOOD, "colour": "red"}, "colour", "'colour' is not a feature of this model"),
    ],
)
def test_violations_name_the_feature(instance: Any, param: str, message: str):
    decision = ask(compiled(), GOOD, instance)
    assert decision.action == "block" and decision.rule_id == "loans.input"
    assert decision.violation is not None
    assert decision.violation.param == param
    assert decision.violation.message.startswith("instances[1]: ")
    assert message in decision.violation.message


@pytest.mark.parametrize(
    ("instances", "param", "message"),
    [
        ([[52000, 24, "car"]], "instances", "has 3 values; expected 5 features in this order"),
        ([GOOD, [52000, 24, "car", True, None]], "instances[1]", "mix objects, lists"),
        ([], "instances", "holds no instances"),
    ],
)
def test_positional_and_unreadable_batches(instances: list[Any], param: str, message: str):
    decision = ask(compiled(), *instances)
    assert decision.violation is not None
    assert decision.violation.param == param and message in decision.violation.message
    positional = ask(compiled(), [52000, 24, "car", True, None])
    assert positional.action == "allow"


def test_conforming_inputs_and_scope():
    policy = compiled()
    allowed = ask(policy, GOOD, {**GOOD, "term": 12.0, "note": None, "first_time": True})
    assert allowed.action == "allow" and allowed.violation is None
    # Another tenant, another model, or no prediction at all: the contract does not apply.
    assert ask(policy, {"income": -1}, tenant="shop").rule_id is None
    assert ask(policy, {"income": -1}, model="fraud").rule_id is None
    assert policy.decide("access", PolicyInput("bank", model="loan-v2")).action == "allow"


def test_batch_limit_and_monitor_contracts():
    policy = compiled()
    too_many = ask(policy, GOOD, GOOD, GOOD, GOOD)
    assert too_many.violation is not None and too_many.violation.param == "instances"
    assert "batch of 4 instances is over this model's limit of 3" in too_many.violation.message
    shadow = ask(policy, {**GOOD, "income": 500})
    assert shadow.action == "allow"
    assert [m.rule_id for m in shadow.monitored] == ["loans.review"]


def test_contract_is_named_for_positional_inputs():
    policy = compiled()
    contract = policy.contract_for("loan-v3")
    assert contract is not None and contract.names[:3] == ("income", "term", "purpose")
    assert policy.contract_for("fraud") is None
    assert policy.scans("content") is False and policy.scans("response") is False


def test_compile_problems_point_at_the_feature():
    with pytest.raises(PolicyError) as caught:
        compiled(
            """
            contracts:
              - id: bad.contract
                description: shape mistakes
                models: [m]
                features:
                  - {name: a, type: string}
                  - {name: e, type: decimal}
                action: redact
            rules:
              - id: ml.in.content
                description: ml conditions belong to answers
                phase: content
                when: {ml_risk: {gte: 0.5}}
                action: flag
                severity: low
            """
        )
    found = [str(p) for p in caught.value.problems]
    assert found == [
        "ml.yaml:9: rule bad.contract: action: 'redact' is not one of ['block', 'flag']",
        "ml.yaml:8: rule bad.contract: features.1.type: 'decimal' is not one of "
        "['number', 'integer', 'string', 'boolean']",
        "ml.yaml:14: rule ml.in.content: when.ml_risk: 'ml_risk' is a condition of the "
        "response phase",
    ]
    with pytest.raises(PolicyError) as caught:
        compiled(
            """
            contracts:
              - id: bad.contract
                description: semantic mistakes
                models: [m]
                features:
                  - {name: a, type: string, min: 1}
                  - {name: b, type: number, min: 5, max: 1}
                  - {name: c, type: boolean, categories: [x]}
                  - {name: a, type: number}
                  - {name: d, type: integer, categories: [1, "two"]}
              - id: params.n
                description: a contract may not reuse a rule's id
                models: [m]
                features: [{name: x, type: number}]
            rules:
              - {id: params.n, description: first, phase: access, action: flag, severity: low}
            """
        )
    found = [str(p) for p in caught.value.problems]
    assert found == [
        "ml.yaml:7: rule bad.contract: features.0.min: a string feature has no range",
        "ml.yaml:8: rule bad.contract: features.1.min: min 5 is above max 1",
        "ml.yaml:9: rule bad.contract: features.2.categories: categories apply to string "
        "and integer features",
        "ml.yaml:10: rule bad.contract: features.3.name: duplicate feature 'a'",
        "ml.yaml:11: rule bad.contract: features.4.categories: 'two' is not an integer",
        "ml.yaml:12: rule params.n: id: duplicate rule id (first at ml.yaml:17)",
    ]


def test_policy_tests_check_the_param_named():
    policy = compiled(
        CONTRACTS
        + """
tests:
  - name: right feature
    request: {tenant: bank, format: kserve, path: "/v1/models/loan-v1:predict",
              body: {instances: [{income: -5, term: 12, purpose: car}]}}
    expect: {action: block, rule: loans.input, param: income}
  - name: wrong feature
    request: {tenant: bank, format: kserve, path: "/v1/models/loan-v1:predict",
              body: {instances: [{income: -5, term: 12, purpose: car}]}}
    expect: {action: block, rule: loans.input, param: term}
"""
    )
    outcomes = run_policy_tests(policy)
    assert [o.passed for o in outcomes] == [True, False]
    assert outcomes[1].got == "action=block, rule=loans.input, param=income"


def test_contracts_change_the_policy_version():
    other = CONTRACTS.replace("max_batch: 3", "max_batch: 4")
    assert compiled().version != compiled(other).version


def test_tenants_override_contracts_like_rules():
    policy = compiled(
        CONTRACTS
        + """
overrides:
  - {tenant: bank, rule: loans.review, mode: enforce, action: block}
"""
    )
    tightened = ask(policy, {**GOOD, "income": 500})
    assert tightened.action == "block" and tightened.rule_id == "loans.review"
    assert tightened.violation is not None and tightened.violation.param == "income"
    with pytest.raises(PolicyError, match="may only be tightened"):
        compiled(CONTRACTS + "\noverrides:\n  - {tenant: bank, rule: loans.input, action: flag}\n")
