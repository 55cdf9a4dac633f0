"""Policies as code: YAML rules compiled into a PolicySet whose `decide()` is pure.

source.py      YAML with line numbers, PolicyProblem, PolicyError
model.py       PolicyInput, Decision, actions and phases
conditions.py  `when:` keys compiled into predicates
policy_set.py  Rule, Scope, Override, PolicySet.decide()
compile.py     compile_policies(): schema + semantic checks -> PolicySet
"""

from proxy.policy.compile import compile_directory, compile_policies, policy_schema
from proxy.policy.model import ACTION_RANK, Action, Decision, Phase, PolicyInput, RuleMatch
from proxy.policy.policy_set import PolicyDefaults, PolicySet, Rule
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
