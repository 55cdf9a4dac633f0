"""Class probabilities in prediction answers: the top probability of each instance. Pure.

Only values that are plainly a probability distribution count (each in [0, 1], summing to 1),
so regression outputs, labels and logits are never mistaken for confidence:
- KServe v2: an output tensor whose name says probabilities (`probabilities`, `probs`,
  `predict_proba`, ...), else any floating tensor of shape [N, C] whose rows are distributions;
- KServe v1 / plain JSON: `predictions` (or `outputs`) whose items are distributions, objects
  with a `probabilities`-like field (a list, or an object of class -> probability), or a
  top-level `probabilities`-like field; a single number there is a binary class probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from proxy.ml.features import numeric

_PROBABILITY_NAMES: Final = (
    "probabilities",
    "probability",
    "probs",
    "proba",
    "predict_proba",
    "class_probabilities",
    "scores",
)
_FLOAT_TYPES: Final = frozenset({"FP16", "FP32", "FP64"})
_SUM_TOLERANCE: Final = 0.01


def top_probabilities(operation: str, answer: Any) -> list[float]:
    """One top-class probability per instance; empty when the answer carries none."""
    if operation == "infer":
        return _v2(answer)
    if isinstance(answer, list):
        return _items(answer)
    if not isinstance(answer, dict):
        return []
    for name in _PROBABILITY_NAMES:
        if name in answer:
            return _items(_as_rows(answer[name]), nested=False)
    for field in ("predictions", "outputs"):
        if isinstance(answer.get(field), list):
            return _items(answer[field])
    return []


def _as_rows(value: Any) -> list[Any]:
    """A field holding one instance's probabilities, or a list of them."""
    if isinstance(value, list) and value and all(isinstance(v, list | dict) for v in value):
        return value
    return [value]


def _items(items: list[Any], nested: bool = True) -> list[float]:
    """`nested`: items are predictions, which may hold probabilities in a field of their own."""
    tops: list[float] = []
    for item in items:
        top = _top_of(item, nested)
        if top is None:
            return []  # one instance without probabilities: the answer is not read as having any
        tops.append(top)
    return tops


def _top_of(item: Any, nested: bool) -> float | None:
    if isinstance(item, dict):
        if nested:
            for name in _PROBABILITY_NAMES:
                if name in item:
                    return _top_of(item[name], nested=False)
        return _distribution_top(list(item.values()))
    if isinstance(item, list):
        return _distribution_top(item)
    value = numeric(item)
    if not nested and value is not None and 0.0 <= value <= 1.0:
        return max(value, 1.0 - value)  # a binary classifier's probability of the positive class
    return None


def _distribution_top(values: Sequence[Any]) -> float | None:
    """The largest value of a probability distribution (each in [0, 1], summing to 1)."""
    if len(values) < 2:
        return None
    total = top = 0.0
    for value in values:
        number = numeric(value)
        if number is None or not 0.0 <= number <= 1.0:
            return None
        total += number
        if number > top:
            top = number
    return top if abs(total - 1.0) <= _SUM_TOLERANCE else None


def _v2(answer: Any) -> list[float]:
    if not isinstance(answer, dict) or not isinstance(answer.get("outputs"), list):
        return []
    named: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for tensor in answer["outputs"]:
        if not isinstance(tensor, dict):
            continue
        if str(tensor.get("name", "")).lower() in _PROBABILITY_NAMES:
            named.append(tensor)
        elif tensor.get("datatype") in _FLOAT_TYPES:
            others.append(tensor)
    # Named probabilities first; a single value per instance counts only under such a name.
    for tensors, binary in ((named, True), (others, False)):
        for tensor in tensors:
            tops = _tensor_tops(tensor, binary)
            if tops:
                return tops
    return []


def _tensor_tops(tensor: dict[str, Any], binary: bool) -> list[float]:
    shape, data = tensor.get("shape"), tensor.get("data")
    if not isinstance(shape, list) or not isinstance(data, list):
        return []
    flat = _flatten(data)
    if len(shape) == 2 and isinstance(shape[1], int) and shape[1] >= 2:
        width = shape[1]
        if len(flat) != shape[0] * width:
            return []
        tops = [_distribution_top(flat[r * width : (r + 1) * width]) for r in range(shape[0])]
        return [] if any(t is None for t in tops) else [t for t in tops if t is not None]
    if binary and len(shape) in (1, 2):
        tops = [_top_of(v, nested=False) for v in flat]
        return [] if any(t is None for t in tops) else [t for t in tops if t is not None]
    return []


def _flatten(data: list[Any]) -> list[Any]:
    if all(not isinstance(v, list) for v in data):
        return data
    return [x for row in data for x in (row if isinstance(row, list) else [row])]
