"""Input contracts of ML models: features, types, ranges, categories, batch size. Pure.

A contract compiles into an access rule (see rule_compiler.py), so scope, action, mode, tenant
overrides, tests and audit work as for any rule; what it adds is the violation it explains,
which enforcement turns into a 400 naming the feature at fault.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from proxy.ml.features import Batch, Prediction, Unreadable
from proxy.policy.conditions import glob_matcher
from proxy.policy.model import PolicyInput, Violation

_MISSING: Final = object()
_TYPE_NAMES: Final = {
    "number": "a number",
    "integer": "an integer",
    "string": "a string",
    "boolean": "true or false",
}


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    type: str  # number | integer | string | boolean
    required: bool = True
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    categories: frozenset[Any] | None = None

    def problem(self, value: Any) -> str | None:
        """What is wrong with `value` for this feature, or None."""
        if not _has_type(self.type, value):
            return f"must be {_TYPE_NAMES[self.type]}, got {_show(value)}"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {_number(self.minimum)}, got {_show(value)}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {_number(self.maximum)}, got {_show(value)}"
        if self.categories is not None and value not in self.categories:
            allowed = ", ".join(sorted(_show(c) for c in self.categories))
            return f"must be one of {allowed}, got {_show(value)}"
        return None


def _has_type(kind: str, value: Any) -> bool:
    # Exact types: JSON gives int, float, str, bool, and a bool is no number here.
    t = type(value)
    if kind == "number":
        return t is int or (t is float and math.isfinite(value))
    if kind == "integer":
        return t is int or (t is float and value.is_integer())
    return t is (str if kind == "string" else bool)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else repr(value[:40] + "...")
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int | float):
        return _number(value)
    return "a list" if isinstance(value, list) else "an object"


@dataclass(frozen=True, slots=True)
class Contract:
    """What a model accepts. `models` matches the model name the prediction is known by."""

    models: Callable[[str], bool]
    features: tuple[Feature, ...]
    max_batch: int | None = None
    extra_features: str = "allow"  # allow | reject
    names: tuple[str, ...] = field(init=False)
    _known: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(f.name for f in self.features))
        object.__setattr__(self, "_known", frozenset(self.names))

    def broken_by(self, inp: PolicyInput) -> bool:
        """The rule's condition: a prediction of a covered model that breaks the contract."""
        prediction = inp.prediction
        return (
            prediction is not None
            and self.models(prediction.model)
            and self.check(prediction) is not None
        )

    def check(self, prediction: Prediction) -> Violation | None:
        """The first violation in batch order, or None when every instance conforms."""
        size = prediction.size
        if size is not None and self.max_batch is not None and size[0] > self.max_batch:
            return self._too_many(*size)
        batch = prediction.batch
        if isinstance(batch, Unreadable):
            return Violation(batch.param or "inputs", f"cannot read the inputs: {batch.message}")
        count = len(batch.rows)
        where = batch.field or "the body"
        if count == 0:
            return Violation(batch.field or "instances", f"{where} holds no instances")
        if self.max_batch is not None and count > self.max_batch:
            return self._too_many(count, batch.field or "instances")
        for index, row in enumerate(batch.rows):
            violation = self._check_row(batch, index, row)
            if violation is not None:
                return violation
        return None

    def _too_many(self, count: int, field: str) -> Violation:
        return Violation(
            field, f"a batch of {count} instances is over this model's limit of {self.max_batch}"
        )

    def _check_row(self, batch: Batch, index: int, row: Any) -> Violation | None:
        values: Iterable[tuple[Feature, Any]]
        if not isinstance(row, Mapping):
            if len(row) != len(self.features):
                return Violation(
                    batch.field or "instances",
                    f"{batch.locate(index)} has {len(row)} values; expected {len(self.features)} "
                    f"features in this order: {', '.join(self.names)}",
                )
            values = zip(self.features, row, strict=True)
        else:
            if self.extra_features == "reject":
                for name in row:
                    if name not in self._known:
                        return Violation(
                            name,
                            f"{batch.locate(index)}: '{name}' is not a feature of this model "
                            f"(expected: {', '.join(self.names)})",
                        )
            values = ((f, row.get(f.name, _MISSING)) for f in self.features)
        for feature, value in values:
            if value is _MISSING or value is None:
                if feature.required and not (value is None and feature.nullable):
                    got = "" if value is _MISSING else " (got null)"
                    where = batch.locate(index)
                    return Violation(feature.name, f"{where}: '{feature.name}' is required{got}")
                continue
            problem = feature.problem(value)
            if problem is not None:
                where = batch.locate(index)
                return Violation(feature.name, f"{where}: '{feature.name}' {problem}")
        return None


Problems = list[tuple[tuple[str | int, ...], str]]


def compile_contract(spec: Mapping[str, Any]) -> tuple[Contract | None, Problems]:
    """A contract from its YAML spec (schema-checked); problems as (path inside it, message)."""
    features: list[Feature] = []
    problems: Problems = []
    seen: set[str] = set()
    for number, feature_spec in enumerate(spec["features"]):
        where: tuple[str | int, ...] = ("features", number)
        if feature_spec["name"] in seen:
            problems.append(((*where, "name"), f"duplicate feature '{feature_spec['name']}'"))
        seen.add(feature_spec["name"])
        feature, feature_problems = compile_feature(feature_spec)
        problems.extend(((*where, field), message) for field, message in feature_problems)
        if feature is not None:
            features.append(feature)
    if problems:
        return None, problems
    contract = Contract(
        glob_matcher(spec["models"]),
        tuple(features),
        spec.get("max_batch"),
        spec.get("extra_features", "allow"),
    )
    return contract, []


def compile_feature(spec: Mapping[str, Any]) -> tuple[Feature | None, list[tuple[str, str]]]:
    """A feature from its YAML spec; problems as (field inside the feature, message)."""
    kind = spec["type"]
    problems: list[tuple[str, str]] = []
    low, high = spec.get("min"), spec.get("max")
    if (low is not None or high is not None) and kind not in ("number", "integer"):
        problems.append(("min" if low is not None else "max", f"a {kind} feature has no range"))
    if low is not None and high is not None and low > high:
        problems.append(("min", f"min {low} is above max {high}"))
    categories = spec.get("categories")
    if categories is not None:
        if kind not in ("string", "integer"):
            problems.append(("categories", "categories apply to string and integer features"))
        for value in categories:
            if kind in ("string", "integer") and not _has_type(kind, value):
                problems.append(("categories", f"{_show(value)} is not {_TYPE_NAMES[kind]}"))
    if problems:
        return None, problems
    feature = Feature(
        name=spec["name"],
        type=kind,
        required=spec.get("required", True),
        nullable=spec.get("nullable", False),
        minimum=low,
        maximum=high,
        categories=frozenset(categories) if categories is not None else None,
    )
    return feature, []
