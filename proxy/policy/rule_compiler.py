"""RuleCompiler: each rule, contract and override checked and compiled, problems at file:line."""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any

import jsonschema

from proxy.policy.conditions import (
    ACCESS_KEYS,
    CONTENT_KEYS,
    ML_KEYS,
    RESPONSE_KEYS,
    compile_condition,
)
from proxy.policy.contract import compile_contract
from proxy.policy.model import ACTION_RANK
from proxy.policy.policy_set import Override, Rule, Scope
from proxy.policy.source import JsonPath, PolicyProblem, SourceFile

# Compiles a rule's `custom` patterns into a scanner; raises ValueError for a bad pattern.
CustomCompiler = Callable[[str, dict[str, Any]], Any]


@functools.cache
def policy_schema() -> dict[str, Any]:
    text = resources.files("proxy.policy").joinpath("policy.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# Sections whose items have an `id`: problems inside one name it.
_WITH_IDS = ("rules", "contracts")
_PHASE_KEYS = {"access": ACCESS_KEYS, "content": CONTENT_KEYS, "response": RESPONSE_KEYS}


def _field_of(path: JsonPath) -> tuple[int | None, str | None]:
    """(item index, dotted field inside the item) for a path like ("rules", 2, "when", "risk")."""
    if len(path) >= 2 and path[0] in _WITH_IDS and isinstance(path[1], int):
        inner = ".".join(str(p) for p in path[2:])
        return path[1], inner or None
    return None, ".".join(str(p) for p in path) or None


def _phases_of(key: str) -> str:
    return " or ".join(phase for phase, keys in _PHASE_KEYS.items() if key in keys)


class RuleCompiler:
    def __init__(self, known_kinds: frozenset[str], custom_compiler: CustomCompiler | None) -> None:
        self.known_kinds = known_kinds
        self.custom_compiler = custom_compiler
        self.problems: list[PolicyProblem] = []
        self.validator = jsonschema.Draft202012Validator(policy_schema())

    def problem(
        self, source: SourceFile, path: JsonPath, message: str, rule_id: str | None = None
    ) -> None:
        index, field = _field_of(path)
        if rule_id is None and index is not None:
            items = source.data.get(str(path[0])) if isinstance(source.data, dict) else None
            if isinstance(items, list) and index < len(items) and isinstance(items[index], dict):
                value = items[index].get("id")
                rule_id = value if isinstance(value, str) else None
        self.problems.append(
            PolicyProblem(source.name, source.line_of(path), rule_id, field, message)
        )

    def validate_shape(self, source: SourceFile) -> set[tuple[str, int]] | None:
        """Schema errors reported; the (section, index) items that failed, or None for the file.

        Items are checked one by one afterwards, so a typo in one rule does not hide the
        problems of the others.
        """
        bad: set[tuple[str, int]] = set()
        errors = sorted(self.validator.iter_errors(source.data), key=lambda e: list(e.path))
        for error in errors:
            path = tuple(error.absolute_path)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                # Point at each unexpected key's own line, and say what would have been valid.
                expected = list(error.schema.get("properties", {}))
                for key in error.instance:
                    if key not in expected:
                        message = f"unknown key (expected one of: {', '.join(expected)})"
                        self.problem(source, (*path, key), message)
            else:
                self.problem(source, path, error.message)
            if len(path) >= 2 and isinstance(path[1], int):
                bad.add((str(path[0]), path[1]))
            else:
                return None
        return bad

    def new_id(
        self, rules: dict[str, Rule], source: SourceFile, path: JsonPath, rule_id: str
    ) -> bool:
        """Rules and contracts share one id space; a second use is reported, not compiled."""
        if rule_id not in rules:
            return True
        self.problem(source, (*path, "id"), f"duplicate rule id (first at {rules[rule_id].source})")
        return False

    def kinds_known(self, patterns: Iterable[str], custom_kinds: set[str]) -> list[str]:
        every = self.known_kinds | custom_kinds
        return [p for p in patterns if not fnmatch.filter(every, p)]

    def compile_rule(
        self, source: SourceFile, index: int, raw: dict[str, Any], custom_kinds: set[str]
    ) -> tuple[Rule | None, Any]:
        path: JsonPath = ("rules", index)
        rule_id, phase = raw["id"], raw["phase"]
        when: dict[str, Any] = raw.get("when") or {}
        allowed = _PHASE_KEYS[phase]
        ok = True
        for key in when:
            if key not in allowed:
                self.problem(
                    source,
                    (*path, "when", key),
                    f"'{key}' is a condition of the {_phases_of(key)} phase",
                )
                ok = False
        if "findings" in when:
            unknown = self.kinds_known(when["findings"]["kinds"], custom_kinds)
            for pattern in unknown:
                self.problem(
                    source,
                    (*path, "when", "findings", "kinds"),
                    f"unknown finding kind '{pattern}'",
                )
                ok = False
        if raw["action"] == "redact" and phase == "access":
            self.problem(source, (*path, "action"), "redact applies to content and response rules")
            ok = False
        elif raw["action"] == "redact" and not ({"findings", "custom"} & set(when)):
            self.problem(
                source, (*path, "action"), "redact needs `findings` or `custom` to say what to hide"
            )
            ok = False
        if raw.get("restore") and (raw["action"] != "redact" or phase != "content"):
            self.problem(source, (*path, "restore"), "restore applies to content rules that redact")
            ok = False
        custom_kind = f"custom.{rule_id}" if "custom" in when else None
        scanner = None
        if custom_kind is not None:
            spec = when["custom"]
            if not spec.get("regex") and not spec.get("keywords"):
                self.problem(source, (*path, "when", "custom"), "give `regex` or `keywords`")
                ok = False
            elif self.custom_compiler is not None:
                try:
                    scanner = self.custom_compiler(rule_id, spec)
                except ValueError as exc:
                    self.problem(source, (*path, "when", "custom", "regex"), str(exc))
                    ok = False
        if not ok:
            return None, None
        condition = compile_condition(when, custom_kind)
        rule = Rule(
            id=rule_id,
            description=raw["description"],
            phase=phase,
            action=raw["action"],
            severity=raw["severity"],
            mode=raw.get("mode", "enforce"),
            may_loosen=raw.get("overrides", "tighten") == "any",
            scope=Scope.from_spec(raw.get("scope")),
            condition=condition.predicate,
            redact_kinds=condition.redact_kinds,
            source=f"{source.name}:{source.line_of(path)}",
            # Response rules on a prediction's ML risk alone need no answer text scanned.
            reads_findings=phase != "access" and not (when and set(when) <= ML_KEYS),
            finding_kinds=_finding_kinds(when, custom_kind),
            restore=bool(raw.get("restore", False)),
            needs_findings=condition.needs_findings,
        )
        return rule, scanner

    def compile_contract(self, source: SourceFile, index: int, raw: dict[str, Any]) -> Rule | None:
        """An input contract as an access rule whose condition is "the contract is broken"."""
        path: JsonPath = ("contracts", index)
        contract, problems = compile_contract(raw)
        for where, message in problems:
            self.problem(source, (*path, *where), message)
        if contract is None:
            return None
        return Rule(
            id=raw["id"],
            description=raw["description"],
            phase="access",
            action=raw.get("action", "block"),
            severity=raw.get("severity", "medium"),
            mode=raw.get("mode", "enforce"),
            may_loosen=raw.get("overrides", "tighten") == "any",
            scope=Scope.from_spec(raw.get("scope")),
            condition=contract.broken_by,
            redact_kinds=(),
            source=f"{source.name}:{source.line_of(path)}",
            reads_findings=False,
            contract=contract,
        )

    def compile_override(
        self, source: SourceFile, index: int, raw: dict[str, Any], rules: dict[str, Rule]
    ) -> Override | None:
        path: JsonPath = ("overrides", index)
        rule = rules.get(raw["rule"])
        if rule is None:
            self.problem(source, (*path, "rule"), f"no rule with id '{raw['rule']}'")
            return None
        override = Override(raw.get("action"), raw.get("mode"), raw.get("enabled", True))
        loosens = (
            not override.enabled
            or (
                override.action is not None
                and ACTION_RANK[override.action] < ACTION_RANK[rule.action]
            )
            or (override.mode == "monitor" and rule.mode == "enforce")
        )
        if loosens and not rule.may_loosen:
            self.problem(
                source,
                path,
                f"rule '{rule.id}' may only be tightened per tenant (it sets overrides: tighten)",
            )
            return None
        if override.action == "redact" and rule.phase == "access":
            self.problem(source, (*path, "action"), "redact applies to content and response rules")
            return None
        return override


def _finding_kinds(when: dict[str, Any], custom_kind: str | None) -> tuple[str, ...] | None:
    """The kinds a condition reads; None for risk conditions, which combine every finding."""
    if "risk" in when or "risk_label" in when:
        return None
    kinds = list(when["findings"]["kinds"]) if "findings" in when else []
    if custom_kind is not None:
        kinds.append(custom_kind)
    return tuple(kinds)
