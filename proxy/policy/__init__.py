"""Policies as code: YAML rules compiled into a PolicySet whose `decide()` is pure.

source.py         YAML with line numbers, PolicyProblem, PolicyError
model.py          PolicyInput, Decision, actions and phases
conditions.py     `when:` keys compiled into predicates
policy_set.py     Rule, Scope, Override, PolicySet.decide()
rule_compiler.py  schema + semantic checks of each rule, contract and override
compile.py        compile_policies(): every file's items -> PolicySet
"""

from proxy.policy.compile import compile_directory, compile_policies
from proxy.policy.model import ACTION_RANK, Action, Decision, Phase, PolicyInput, RuleMatch
from proxy.policy.policy_set import PolicyDefaults, PolicySet, Rule
from proxy.policy.rule_compiler import policy_schema
from proxy.policy.source import PolicyError, PolicyProblem

__all__ = [
    "ACTION_RANK",
    "Action",
    "Decision",
    "Phase",
    "PolicyDefaults",
    "PolicyError",
    "PolicyInput",
    "PolicyProblem",
    "PolicySet",
    "Rule",
    "RuleMatch",
    "compile_directory",
    "compile_policies",
    "policy_schema",
]
