"""Policy compilation (every problem, with file, line, rule and field) and pure decisions."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import pytest

from proxy.policy import PolicyDefaults, PolicyError, PolicyInput, PolicySet, compile_policies

KINDS = frozenset({"pii.email", "pii.phone", "secret.aws_access_key", "injection.override"})


@dataclass(frozen=True)
class F:
    kind: str
    score: float = 0.9


def compile_yaml(*files: str, **options: Any) -> PolicySet:
    named = [(f"{i:02d}.yaml", textwrap.dedent(text)) for i, text in enumerate(files)]
    return compile_policies(named, known_kinds=KINDS, **options)


def problems(*files: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        compile_yaml(*files)
    return [str(p) for p in caught.value.problems]


ACCESS = """
rules:
  - id: models.allowlist
    description: Only approved models may be used.
    phase: access
    when: {model_not_in: ["echo-*", "gpt-4o*"]}
    action: block
    severity: high
  - id: params.max-tokens
    description: Keep answers under 4096 tokens.
    phase: access
    scope: {routes: ["/v1"]}
    when: {max_tokens: {gt: 4096}}
    action: block
    severity: medium
  - id: params.temperature
    description: Temperature between 0 and 1.
    phase: access
    when: {temperature: {outside: [0, 1]}}
    action: flag
    severity: low
  - id: streaming.watch
    description: Watch streaming for acme.
    phase: access
    scope: {tenants: ["acme"]}
    when: {stream: true}
    action: block
    severity: low
    mode: monitor
  - id: route.metadata-only
    description: The /json/ route carries no free text.
    phase: access
    scope: {routes: ["/json/"]}
    when: {fields_present: [prompt, messages, input, text, content]}
    action: block
    severity: high
  - id: headers.session
    description: Every call names its session.
    phase: access
    scope: {tenants: ["regulated-*"]}
    when: {headers_missing: [x-session-id]}
    action: block
    severity: medium
"""


def access(
    policy: PolicySet, tenant: str = "acme", route: str = "/v1", **payload: Any
) -> tuple[str, str | None]:
    model = payload.get("model")
    decision = policy.decide(
        "access",
        PolicyInput(tenant=tenant, route=route, model=model, payload=payload),
    )
    return decision.action, decision.rule_id


@pytest.mark.parametrize(
    ("payload", "route", "tenant", "expected"),
    [
        ({"model": "echo-1"}, "/v1", "acme", ("allow", None)),
        ({"model": "gpt-4o-mini"}, "/v1", "acme", ("allow", None)),
        ({"model": "gpt-5"}, "/v1", "acme", ("block", "models.allowlist")),
        ({}, "/v1", "acme", ("allow", None)),  # a models listing names no model
        ({"model": "echo-1", "max_tokens": 8000}, "/v1", "acme", ("block", "params.max-tokens")),
        (
            {"model": "echo-1", "max_completion_tokens": 8000},
            "/v1",
            "a",
            ("block", "params.max-tokens"),
        ),
        ({"model": "echo-1", "max_tokens": 8000}, "/ml/", "acme", ("allow", None)),  # out of scope
        ({"model": "echo-1", "max_tokens": 4096}, "/v1", "acme", ("allow", None)),
        ({"model": "echo-1", "temperature": 1.5}, "/v1", "acme", ("flag", "params.temperature")),
        ({"model": "gpt-5", "temperature": 1.5}, "/v1", "acme", ("block", "models.allowlist")),
        ({"model": "echo-1", "stream": True}, "/v1", "acme", ("allow", None)),  # monitor only
        ({"model": "echo-1", "features": {"age": 4}}, "/json/", "acme", ("allow", None)),
        (
            {"model": "echo-1", "rows": [{"text": "hi"}]},
            "/json/",
            "acme",
            ("block", "route.metadata-only"),
        ),
        ({"model": "echo-1"}, "/v1", "regulated-bank", ("block", "headers.session")),
    ],
)
def test_access_decisions(
    payload: dict[str, Any], route: str, tenant: str, expected: tuple[str, str | None]
):
    assert access(compile_yaml(ACCESS), tenant, route, **payload) == expected


def test_monitor_rules_record_what_would_have_happened():
    policy = compile_yaml(ACCESS)
    decision = policy.decide(
        "access",
        PolicyInput(tenant="acme", route="/v1", model="echo-1", payload={"stream": True}),
    )
    assert decision.action == "allow"
    assert [(m.rule_id, m.action) for m in decision.monitored] == [("streaming.watch", "block")]


def test_most_severe_wins_ties_by_file_order_and_every_match_is_listed():
    policy = compile_yaml(
        """
        rules:
          - {id: a.flag, description: a, phase: content, action: flag, severity: low,
             when: {findings: {kinds: ["pii.*"]}}}
          - {id: b.redact, description: b, phase: content, action: redact, severity: low,
             when: {findings: {kinds: [pii.email]}}}
          - {id: c.redact, description: c, phase: content, action: redact, severity: high,
             when: {findings: {kinds: [pii.phone]}}}
        """
    )
    decision = policy.decide(
        "content", PolicyInput(tenant="t", findings=[F("pii.email"), F("pii.phone")])
    )
    assert decision.action == "redact"
    assert decision.rule_id == "b.redact"  # first of the equally severe, in file order
    assert decision.rules == ("a.flag", "b.redact", "c.redact")
    assert set(decision.redact_kinds) == {"pii.email", "pii.phone"}


def test_content_conditions_counts_risk_and_labels():
    policy = compile_yaml(
        """
        rules:
          - {id: many.emails, description: bulk export, phase: content, action: block,
             severity: high, when: {findings: {kinds: [pii.email], min_count: 3}}}
          - {id: risky, description: risky, phase: content, action: block, severity: high,
             when: {risk: {gte: 0.75}}}
          - {id: suspicious, description: s, phase: content, action: flag, severity: low,
             when: {risk_label: [suspicious]}}
        """
    )

    def decide(findings: list[F], score: float = 0.0, label: str = "normal") -> str | None:
        inp = PolicyInput(tenant="t", findings=findings, risk_score=score, risk_label=label)
        return policy.decide("content", inp).rule_id

    assert decide([F("pii.email")] * 2) is None
    assert decide([F("pii.email")] * 3) == "many.emails"
    assert decide([], 0.8, "risky") == "risky"
    assert decide([], 0.5, "suspicious") == "suspicious"


def test_defaults_apply_when_no_rule_matches():
    policy = compile_yaml(
        """
        rules:
          - {id: allow.echo, description: echo is approved, phase: access, action: allow,
             severity: low, when: {model_in: ["echo-*"]}}
        """,
        defaults=PolicyDefaults(access="block"),
    )
    allowed = policy.decide("access", PolicyInput(tenant="t", model="echo-1"))
    denied = policy.decide("access", PolicyInput(tenant="t", model="gpt-5"))
    assert (allowed.action, allowed.rule_id) == ("allow", "allow.echo")
    assert (denied.action, denied.rule_id) == ("block", None)
    assert denied.reason == "no policy allows this request"


def test_tenant_overrides_tighten_and_loosen_only_where_allowed():
    rules = """
        rules:
          - {id: pii.flag, description: flag PII, phase: content, action: flag, severity: low,
             when: {findings: {kinds: ["pii.*"]}}}
          - {id: inj.block, description: block injection, phase: content, action: block,
             severity: high, overrides: any, when: {findings: {kinds: ["injection.*"]}}}
        overrides:
          - {tenant: bank, rule: pii.flag, action: block}
          - {tenant: lab, rule: inj.block, mode: monitor}
    """
    policy = compile_yaml(rules)

    def decide(tenant: str, kind: str) -> str:
        return policy.decide("content", PolicyInput(tenant=tenant, findings=[F(kind)])).action

    assert decide("bank", "pii.email") == "block"
    assert decide("other", "pii.email") == "flag"
    assert decide("lab", "injection.override") == "allow"
    assert decide("other", "injection.override") == "block"
    found = problems(textwrap.dedent(rules) + "  - {tenant: lab, rule: pii.flag, enabled: false}\n")
    assert found == [
        "00.yaml:10: overrides.2: rule 'pii.flag' may only be tightened per tenant "
        "(it sets overrides: tighten)"
    ]


def test_every_problem_names_file_line_rule_and_field():
    found = problems(
        """
        rules:
          - id: ok.rule
            description: fine
            phase: access
            action: block
            severity: high
            when: {model_in: [x]}
          - id: bad.action
            description: typo
            phase: access
            action: blok
            severity: high
          - id: wrong.phase
            description: findings are content conditions
            phase: access
            action: block
            severity: high
            when: {findings: {kinds: [pii.email]}}
          - id: unknown.kind
            description: no such scanner output
            phase: content
            action: block
            severity: high
            when: {findings: {kinds: ["pii.passport"]}}
          - id: redact.nothing
            description: redact what?
            phase: content
            action: redact
            severity: low
            when: {risk: {gt: 0.5}}
        """,
        """
        rules:
          - {id: ok.rule, description: again, phase: access, action: flag, severity: low}
        colour: blue
        """,
    )
    assert found == [
        "00.yaml:12: rule bad.action: action: 'blok' is not one of "
        "['allow', 'flag', 'redact', 'block']",
        "01.yaml:4: colour: unknown key (expected one of: rules, contracts, overrides, tests)",
        "00.yaml:19: rule wrong.phase: when.findings: 'findings' is a condition of the "
        "content or response phase",
        "00.yaml:25: rule unknown.kind: when.findings.kinds: unknown finding kind 'pii.passport'",
        "00.yaml:29: rule redact.nothing: action: redact needs `findings` or `custom` to say "
        "what to hide",
    ]


def test_duplicate_ids_and_keys_and_bad_yaml():
    rule = "  - {id: same, description: d, phase: access, action: flag, severity: low}\n"
    found = problems("rules:\n" + rule, "rules:\n" + rule)
    assert found == ["01.yaml:2: rule same: id: duplicate rule id (first at 00.yaml:2)"]
    assert problems("rules: []\nrules: []\n")[0] == "00.yaml:2: rules: duplicate key in mapping"
    assert problems("rules: [unclosed\n")[0].startswith("00.yaml:2: invalid YAML")


def test_version_is_stable_across_layout_and_changes_with_rules():
    flow = "rules:\n  - {id: a, description: d, phase: access, action: flag, severity: low}\n"
    block = (
        "rules:\n  - id: a\n    severity: low\n    action: flag\n"
        "    phase: access\n    description: d\n"
    )
    tested = block + "tests:\n  - {name: t, request: {}, expect: {action: allow}}\n"
    assert compile_yaml(flow).version == compile_yaml(block).version == compile_yaml(tested).version
    assert compile_yaml(flow.replace("flag", "block")).version != compile_yaml(flow).version
    assert len(compile_yaml(flow).version) == 64


def test_custom_rules_compile_through_the_given_compiler():
    compiled: list[tuple[str, dict[str, Any]]] = []

    def custom(rule_id: str, spec: dict[str, Any]) -> str:
        if "(" in "".join(spec.get("regex", [])):
            raise ValueError("bad regex '(': missing )")
        compiled.append((rule_id, spec))
        return f"scanner:{rule_id}"

    text = """
        rules:
          - id: project.codename
            description: Codenames stay inside.
            phase: content
            action: redact
            severity: medium
            when: {custom: {keywords: [bluebird], regex: ["PRJ-[0-9]{4}"]}}
          - id: uses.custom.kind
            description: other rules may name custom kinds
            phase: response
            action: flag
            severity: low
            when: {findings: {kinds: ["custom.project.codename"]}}
    """
    policy = compile_policies([("c.yaml", textwrap.dedent(text))], custom_compiler=custom)
    assert policy.custom_scanners == ("scanner:project.codename",)
    decision = policy.decide(
        "content", PolicyInput(tenant="t", findings=[F("custom.project.codename")])
    )
    assert (decision.action, decision.redact_kinds) == ("redact", ("custom.project.codename",))
    with pytest.raises(PolicyError, match="bad regex"):
        compile_policies(
            [("c.yaml", textwrap.dedent(text).replace("PRJ-[0-9]{4}", "PRJ-("))],
            custom_compiler=custom,
        )
