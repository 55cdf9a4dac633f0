"""compile_policies(): policy files -> an immutable PolicySet, or every problem found."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from proxy.policy.model import PHASES, Phase
from proxy.policy.policy_set import Override, PolicyDefaults, PolicySet, Rule
from proxy.policy.rule_compiler import CustomCompiler, RuleCompiler
from proxy.policy.source import (
    PolicyError,
    PolicyProblem,
    SourceFile,
    read_directory,
    read_source,
)


def _phase_kinds(rules: tuple[Rule, ...]) -> tuple[str, ...] | None:
    kinds: list[str] = []
    for rule in rules:
        if rule.finding_kinds is None:
            return None
        kinds.extend(rule.finding_kinds)
    return tuple(dict.fromkeys(kinds))


def canonical_version(sources: list[SourceFile]) -> str:
    """SHA-256 of what decides (rules and overrides, not tests), independent of YAML layout."""
    canonical = [
        {
            "file": s.name,
            "rules": s.data.get("rules", []),
            "contracts": s.data.get("contracts", []),
            "overrides": s.data.get("overrides", []),
        }
        for s in sources
    ]
    return hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()


def compile_policies(
    files: list[tuple[str, str]],
    *,
    defaults: PolicyDefaults | None = None,
    known_kinds: frozenset[str] = frozenset(),
    custom_compiler: CustomCompiler | None = None,
) -> PolicySet:
    """Compile (name, text) files in order; raise PolicyError listing every problem."""
    compiler = RuleCompiler(known_kinds, custom_compiler)
    sources: list[SourceFile] = []
    invalid: set[tuple[str, str, int]] = set()  # (file, section, index) that failed the schema
    for name, text in files:
        source, problems = read_source(name, text)
        compiler.problems.extend(problems)
        if source is None:
            continue
        bad = compiler.validate_shape(source)
        if bad is not None:
            sources.append(source)
            invalid.update((name, section, index) for section, index in bad)

    def items(source: SourceFile, section: str) -> list[tuple[int, dict[str, Any]]]:
        return [
            (index, raw)
            for index, raw in enumerate(source.data.get(section, []))
            if (source.name, section, index) not in invalid
        ]

    custom_kinds = {
        f"custom.{raw['id']}"
        for source in sources
        for _, raw in items(source, "rules")
        if "custom" in (raw.get("when") or {})
    }
    rules: dict[str, Rule] = {}
    scanners: list[Any] = []
    specs: dict[str, Any] = {}
    for source in sources:
        for index, raw in items(source, "rules"):
            if not compiler.new_id(rules, source, ("rules", index), raw["id"]):
                continue
            rule, scanner = compiler.compile_rule(source, index, raw, custom_kinds)
            if rule is not None:
                rules[rule.id] = rule
            if scanner is not None:
                scanners.append(scanner)
                specs[raw["id"]] = raw["when"]["custom"]
        for index, raw in items(source, "contracts"):
            if not compiler.new_id(rules, source, ("contracts", index), raw["id"]):
                continue
            contract_rule = compiler.compile_contract(source, index, raw)
            if contract_rule is not None:
                rules[contract_rule.id] = contract_rule
    overrides: dict[tuple[str, str], Override] = {}
    for source in sources:
        for index, raw in items(source, "overrides"):
            key = (raw["tenant"], raw["rule"])
            if key in overrides:
                compiler.problem(
                    source, ("overrides", index), "duplicate override for this tenant and rule"
                )
                continue
            override = compiler.compile_override(source, index, raw, rules)
            if override is not None:
                overrides[key] = override
    tests = []
    for source in sources:
        for index, raw in items(source, "tests"):
            expected = raw["expect"].get("rule")
            if expected is not None and expected not in rules:
                compiler.problem(
                    source, ("tests", index, "expect", "rule"), f"no rule with id '{expected}'"
                )
            tests.append((source.name, source.line_of(("tests", index)), raw))
    if compiler.problems:
        raise PolicyError(compiler.problems)
    by_phase: dict[Phase, tuple[Rule, ...]] = {
        phase: tuple(r for r in rules.values() if r.phase == phase) for phase in PHASES
    }
    return PolicySet(
        version=canonical_version(sources),
        rules=by_phase,
        overrides=overrides,
        defaults=defaults or PolicyDefaults(),
        files=tuple(s.name for s in sources),
        custom_scanners=tuple(scanners),
        custom_specs=specs,
        tests=tuple(tests),
        scanned_phases=frozenset(r.phase for r in rules.values() if r.reads_findings),
        phase_kinds={phase: _phase_kinds(by_phase[phase]) for phase in PHASES},
    )


def compile_directory(directory: Path, **options: Any) -> PolicySet:
    try:
        files = read_directory(directory)
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(str(directory), None, None, None, f"cannot read: {exc}")]
        ) from exc
    return compile_policies(files, **options)
