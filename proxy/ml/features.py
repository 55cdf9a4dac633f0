"""Prediction inputs as rows of features, from KServe v1, v2 and plain JSON bodies. Pure.

A row is named (an object: feature -> value) or positional (a list in the model's feature
order, which only an input contract can name). Reading never changes the body.

KServe v1 / plain JSON: `instances` or `inputs` (a list of rows, or an object of columns);
plain JSON also `dataframe_split`, `dataframe_records` (MLflow), `features`, `data`, a list of
rows, or else the object itself as one row. KServe v2: one 2-D tensor `[N, k]` is N positional
rows; otherwise every tensor is one named feature of shape `[N]` or `[N, 1]`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

Row = Mapping[str, Any] | Sequence[Any]

# Fields of a plain JSON body that carry the rows, in the order they are looked for.
_ROW_FIELDS: Final = ("instances", "inputs", "dataframe_records", "features", "data")
# Fields of a plain JSON body that are about the call, not features of the single row.
_CALL_FIELDS: Final = frozenset({"model", "stream", "parameters", "id", "params"})
_MAX_NESTING: Final = 32
# Operations that are predictions, by format; anything else (metadata, health) is not.
_KSERVE_PREDICTIONS: Final = frozenset({"predict", "explain", "infer"})


@dataclass(frozen=True, slots=True)
class Batch:
    """The rows of one prediction request and where they were found (`field`, a JSON path)."""

    field: str
    rows: Sequence[Row]
    positional: bool = False
    # Rows assembled from columns or cut from flat tensor data have no JSON path of their own.
    numbered: bool = False

    def locate(self, index: int) -> str:
        """Where row `index` is, for messages: `instances[3]`, or `row 3 of inputs`."""
        if self.numbered or not self.field:
            return f"row {index}" + (f" of {self.field}" if self.field else "")
        return f"{self.field}[{index}]"

    def named(
        self, names: Sequence[str] | None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Rows as objects; positional values take `names` in order, or their index."""
        rows = self.rows if limit is None else self.rows[:limit]
        for row in rows:
            if isinstance(row, Mapping):
                yield dict(row)
            else:
                yield {_name(names, i): value for i, value in enumerate(row)}


@dataclass(frozen=True, slots=True)
class Unreadable:
    """Inputs that cannot be read as rows; `param` is the JSON path at fault."""

    message: str
    param: str


def _name(names: Sequence[str] | None, index: int) -> str:
    return names[index] if names is not None and index < len(names) else str(index)


class Prediction:
    """One call to an ML model: its name and its inputs, read into rows when first needed."""

    __slots__ = ("model", "operation", "payload", "_batch", "_numbers")

    def __init__(self, model: str, operation: str, payload: Any) -> None:
        self.model = model
        self.operation = operation
        self.payload = payload
        self._batch: Batch | Unreadable | None = None
        self._numbers: list[dict[str, float]] | None = None

    @property
    def batch(self) -> Batch | Unreadable:
        if self._batch is None:
            self._batch = read_batch(self.operation, self.payload)
        return self._batch

    def numbers(
        self, names: Sequence[str] | None, limit: int, max_features: int
    ) -> list[dict[str, float]]:
        """The numeric features of the first `limit` instances, read once: the scorer reads
        them on the request path and the statistics again after it."""
        if self._numbers is None:
            batch = self.batch
            self._numbers = (
                numeric_rows(batch, names, limit, max_features) if isinstance(batch, Batch) else []
            )
        return self._numbers

    @property
    def size(self) -> tuple[int, str] | None:
        """(instances, field) when known without reading them, so a limit costs nothing."""
        payload = self.payload
        if not isinstance(payload, dict):
            return None
        if self.operation == "infer":
            tensors = payload.get("inputs")
            if isinstance(tensors, list) and tensors and isinstance(tensors[0], dict):
                shape = tensors[0].get("shape")
                if isinstance(shape, list) and shape and isinstance(shape[0], int):
                    return shape[0], "inputs[0]" if len(tensors) == 1 else "inputs"
            return None
        for field in ("instances", "inputs"):
            if isinstance(payload.get(field), list):
                return len(payload[field]), field
        return None


def prediction_of(
    route_format: str, operation: str, model: str | None, payload: Any, path: str
) -> Prediction | None:
    """The prediction a request makes, or None (metadata, health, chat, bodiless calls).

    Plain JSON routes are prediction endpoints by configuration; a body that names no `model`
    is known by its upstream path (`/score` -> `score`), the way such endpoints are deployed.
    """
    if route_format == "kserve":
        if operation in _KSERVE_PREDICTIONS and model:
            return Prediction(model, operation, payload)
        return None
    if route_format == "json" and isinstance(payload, dict | list):
        name = model or path.strip("/")
        return Prediction(name, "json", payload) if name else None
    return None


def read_batch(operation: str, payload: Any) -> Batch | Unreadable:
    if operation == "infer":
        return _v2(payload)
    if operation in ("predict", "explain"):
        if not isinstance(payload, dict):
            return Unreadable("the request body must be a JSON object", "")
        field = "instances" if "instances" in payload else "inputs"
        return _rows_or_columns(payload.get(field), field)
    return _plain(payload)


def _plain(payload: Any) -> Batch | Unreadable:
    if isinstance(payload, list):
        return _rows(payload, "")
    if not isinstance(payload, dict):
        return Unreadable("expected a JSON object or a list of instances", "")
    split = payload.get("dataframe_split")
    if isinstance(split, dict):
        return _dataframe_split(split)
    for field in _ROW_FIELDS:
        if field in payload and isinstance(payload[field], list | dict):
            return _rows_or_columns(payload[field], field)
    row = {k: v for k, v in payload.items() if k not in _CALL_FIELDS}
    return Batch("", [row])


def _dataframe_split(split: dict[str, Any]) -> Batch | Unreadable:
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        return Unreadable("'columns' must be a list of names", "dataframe_split.columns")
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        return Unreadable("'data' must be a list of rows", "dataframe_split.data")
    for i, row in enumerate(data):
        if len(row) != len(columns):
            where = f"dataframe_split.data[{i}]"
            return Unreadable(f"{where} has {len(row)} values for {len(columns)} columns", where)
    return Batch("dataframe_split.data", [dict(zip(columns, r, strict=True)) for r in data])


def _rows_or_columns(value: Any, field: str) -> Batch | Unreadable:
    if isinstance(value, list):
        return _rows(value, field)
    if isinstance(value, dict):
        return _columns(value, field)
    return Unreadable(f"'{field}' must be a list of instances", field)


def _rows(items: list[Any], field: str) -> Batch | Unreadable:
    """A list of objects (named), of lists (positional) or of scalars (one feature each)."""
    if all(isinstance(item, dict) for item in items):
        return Batch(field, items)
    if all(isinstance(item, list) for item in items):
        return Batch(field, items, positional=True)
    if not any(isinstance(item, dict | list) for item in items):
        return Batch(field, [[item] for item in items], positional=True)
    where = f"{field}[{next(i for i, x in enumerate(items) if type(x) is not type(items[0]))}]"
    return Unreadable("instances mix objects, lists and single values", where)


def _columns(columns: dict[str, Any], field: str) -> Batch | Unreadable:
    """TensorFlow's columnar form, {feature: [value per row]}; without lists, one row."""
    lists = [k for k, v in columns.items() if isinstance(v, list)]
    if not lists:
        return Batch(field, [columns])
    count = len(columns[lists[0]])
    for key, value in columns.items():
        if not isinstance(value, list) or len(value) != count:
            return Unreadable(
                f"every column must list one value per instance ({count})", f"{field}.{key}"
            )
    rows = [{k: v[i] for k, v in columns.items()} for i in range(count)]
    return Batch(field, rows, numbered=True)


def _v2(payload: Any) -> Batch | Unreadable:
    """Tensors were checked for name, shape, datatype and data by the format reader."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        return Unreadable("'inputs' must be a list of tensors", "inputs")
    tensors: list[dict[str, Any]] = payload["inputs"]
    if len(tensors) == 1 and len(tensors[0].get("shape", ())) == 2:
        return _v2_matrix(tensors[0])
    columns: dict[str, list[Any]] = {}
    count: int | None = None
    for i, tensor in enumerate(tensors):
        shape: list[int] = tensor.get("shape") or [1]
        values = _flat(tensor.get("data"))
        width = math.prod(shape[1:])
        if values is None or len(values) != shape[0] * width:
            return _shape_mismatch(f"inputs[{i}]", values, shape)
        if count is not None and shape[0] != count:
            return Unreadable(
                f"tensors have different batch sizes ({count} and {shape[0]})", f"inputs[{i}].shape"
            )
        count = shape[0]
        columns[tensor["name"]] = (
            values if width == 1 else [values[r * width : (r + 1) * width] for r in range(count)]
        )
    rows = [{name: column[r] for name, column in columns.items()} for r in range(count or 0)]
    return Batch("inputs", rows, numbered=True)


def _v2_matrix(tensor: dict[str, Any]) -> Batch | Unreadable:
    count, width = tensor["shape"]
    values = _flat(tensor.get("data"))
    if values is None or len(values) != count * width:
        return _shape_mismatch("inputs[0]", values, tensor["shape"])
    rows = [values[r * width : (r + 1) * width] for r in range(count)]
    return Batch("inputs[0]", rows, positional=True, numbered=True)


def _shape_mismatch(where: str, values: list[Any] | None, shape: list[int]) -> Unreadable:
    if values is None:
        return Unreadable(f"{where}.data nests too deeply", f"{where}.data")
    return Unreadable(
        f"{where}.data has {len(values)} values; shape {shape} needs {math.prod(shape)}",
        f"{where}.data",
    )


def _flat(data: Any) -> list[Any] | None:
    """Row-major values of nested lists; None past `_MAX_NESTING` levels."""
    if type(data) is not list:
        return [data]
    # Tensors are nearly always flat or one level of rows: those without the general walk.
    if not any(type(item) is list for item in data):
        return data
    if all(type(item) is list for item in data):
        out = [value for item in data for value in item]
        if not any(type(value) is list for value in out):
            return out
    out = []
    stack: list[tuple[Iterator[Any], int]] = [(iter(data), 1)]
    while stack:
        items, depth = stack[-1]
        item = next(items, _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            if depth >= _MAX_NESTING:
                return None
            stack.append((iter(item), depth + 1))
        else:
            out.append(item)
    return out


_END: Final = object()


def numeric(value: Any) -> float | None:
    """A feature value as a finite number, or None (strings, booleans, nulls, vectors)."""
    kind = type(value)  # exact types: JSON numbers are int or float, and bool is not one
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        return float(value)
    return None


def numeric_rows(
    batch: Batch, names: Sequence[str] | None, limit: int, max_features: int
) -> list[dict[str, float]]:
    """The first `limit` rows' numeric features (at most `max_features` each), for statistics."""
    out: list[dict[str, float]] = []
    width = len(names) if names is not None else 0
    for row in batch.rows[:limit]:
        if isinstance(row, Mapping):
            pairs: Iterable[tuple[str, Any]] = row.items()
        elif names is not None and len(row) <= width:
            pairs = zip(names, row, strict=False)
        else:
            pairs = ((_name(names, i), value) for i, value in enumerate(row))
        numbers: dict[str, float] = {}
        for name, value in pairs:
            number = numeric(value)
            if number is not None:
                numbers[name] = number
                if len(numbers) >= max_features:
                    break
        out.append(numbers)
    return out
