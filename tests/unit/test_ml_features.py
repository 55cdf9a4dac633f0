"""Prediction bodies read as rows, and class probabilities read from answers."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.ml.features import Batch, Prediction, Unreadable, numeric_rows, prediction_of, read_batch
from proxy.ml.outputs import top_probabilities

NAMES = ("a", "b")


def rows(operation: str, payload: Any, names: tuple[str, ...] | None = NAMES) -> Any:
    batch = read_batch(operation, payload)
    if isinstance(batch, Unreadable):
        return batch
    return list(batch.named(names))


@pytest.mark.parametrize(
    ("operation", "payload", "expected"),
    [
        ("predict", {"instances": [[1, 2], [3, 4]]}, [{"a": 1, "b": 2}, {"a": 3, "b": 4}]),
        ("predict", {"instances": [{"b": 2, "a": 1}]}, [{"b": 2, "a": 1}]),
        ("predict", {"instances": [7, 8]}, [{"a": 7}, {"a": 8}]),
        ("predict", {"inputs": {"a": [1, 3], "b": [2, 4]}}, [{"a": 1, "b": 2}, {"a": 3, "b": 4}]),
        ("predict", {"inputs": {"a": 1, "b": "x"}}, [{"a": 1, "b": "x"}]),
        (
            "infer",
            {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
            [{"a": 1, "b": 2}, {"a": 3, "b": 4}],
        ),
        (
            "infer",
            {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [[1, 2]]}]},
            [{"a": 1, "b": 2}],
        ),
        (
            "infer",
            {
                "inputs": [
                    {"name": "age", "shape": [2], "datatype": "INT32", "data": [30, 40]},
                    {"name": "city", "shape": [2, 1], "datatype": "BYTES", "data": [["x"], ["y"]]},
                ]
            },
            [{"age": 30, "city": "x"}, {"age": 40, "city": "y"}],
        ),
        ("json", {"model": "m", "amount": 3, "country": "NL"}, [{"amount": 3, "country": "NL"}]),
        ("json", [{"a": 1}, {"a": 2}], [{"a": 1}, {"a": 2}]),
        ("json", {"instances": [[1, 2]]}, [{"a": 1, "b": 2}]),
        ("json", {"dataframe_records": [{"a": 5}]}, [{"a": 5}]),
        (
            "json",
            {"dataframe_split": {"columns": ["b", "a"], "data": [[1, 2]]}},
            [{"b": 1, "a": 2}],
        ),
        ("json", {"features": {"a": 1}}, [{"a": 1}]),
        ("json", {"data": [[9, 8]]}, [{"a": 9, "b": 8}]),
    ],
)
def test_rows_from_every_body_shape(operation: str, payload: Any, expected: list[Any]):
    assert rows(operation, payload) == expected


def test_positional_values_without_names_are_numbered():
    assert rows("predict", {"instances": [[1, 2, 3]]}, names=None) == [{"0": 1, "1": 2, "2": 3}]
    assert rows("predict", {"instances": [[1, 2, 3]]}) == [{"a": 1, "b": 2, "2": 3}]


@pytest.mark.parametrize(
    ("operation", "payload", "param"),
    [
        ("predict", {"instances": [{"a": 1}, [1]]}, "instances[1]"),
        ("predict", {"instances": "x"}, "instances"),
        ("predict", {"inputs": {"a": [1, 2], "b": [1]}}, "inputs.b"),
        (
            "infer",
            {"inputs": [{"name": "x", "shape": [2, 2], "data": [1, 2, 3]}]},
            "inputs[0].data",
        ),
        (
            "infer",
            {
                "inputs": [
                    {"name": "x", "shape": [2], "data": [1, 2]},
                    {"name": "y", "shape": [3], "data": [1, 2, 3]},
                ]
            },
            "inputs[1].shape",
        ),
        (
            "json",
            {"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}},
            "dataframe_split.data[0]",
        ),
        ("json", "text", ""),
    ],
)
def test_unreadable_inputs_name_the_path(operation: str, payload: Any, param: str):
    batch = read_batch(operation, payload)
    assert isinstance(batch, Unreadable)
    assert batch.param == param and batch.message


def test_deep_nesting_is_not_walked():
    data: Any = 1.0
    for _ in range(40):
        data = [data]
    batch = read_batch("infer", {"inputs": [{"name": "x", "shape": [1], "data": data}]})
    assert isinstance(batch, Unreadable) and "too deeply" in batch.message


def test_locations_for_messages():
    v1 = read_batch("predict", {"instances": [[1], [2]]})
    v2 = read_batch("infer", {"inputs": [{"name": "x", "shape": [2, 1], "data": [1, 2]}]})
    plain = read_batch("json", {"a": 1})
    assert isinstance(v1, Batch) and v1.locate(1) == "instances[1]"
    assert isinstance(v2, Batch) and v2.locate(1) == "row 1 of inputs[0]"
    assert isinstance(plain, Batch) and plain.locate(0) == "row 0"


def test_which_calls_are_predictions():
    assert prediction_of("kserve", "infer", "iris", {}, "/v2/models/iris/infer") is not None
    assert prediction_of("kserve", "metadata", "iris", None, "/v2/models/iris") is None
    assert prediction_of("openai", "chat", "gpt-4o", {}, "/v1/chat/completions") is None
    by_path = prediction_of("json", "json", None, {"x": 1}, "/fraud/score")
    assert by_path is not None and by_path.model == "fraud/score"
    named = prediction_of("json", "json", "churn", {"x": 1}, "/score")
    assert named is not None and named.model == "churn"
    assert prediction_of("json", "json", None, None, "/score") is None


def test_batch_size_is_known_without_reading_rows():
    huge = {"inputs": [{"name": "x", "shape": [100000, 4], "datatype": "FP32", "data": []}]}
    assert Prediction("m", "infer", huge).size == (100000, "inputs[0]")
    assert Prediction("m", "predict", {"instances": [1, 2, 3]}).size == (3, "instances")
    assert Prediction("m", "json", {"x": 1}).size is None


def test_numeric_rows_keep_finite_numbers_only():
    batch = read_batch(
        "predict", {"instances": [{"a": 1, "b": True, "c": "x", "d": None, "e": 2.5}]}
    )
    assert isinstance(batch, Batch)
    assert numeric_rows(batch, None, 10, 10) == [{"a": 1.0, "e": 2.5}]
    assert numeric_rows(batch, None, 10, 1) == [{"a": 1.0}]
    assert numeric_rows(batch, None, 0, 10) == []


@pytest.mark.parametrize(
    ("operation", "answer", "tops"),
    [
        (
            "infer",
            {
                "outputs": [
                    {"name": "probabilities", "datatype": "FP32", "shape": [2, 3],
                     "data": [0.7, 0.2, 0.1, 0.3, 0.3, 0.4]},
                    {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["a", "c"]},
                ]
            },
            [0.7, 0.4],
        ),
        (
            "infer",
            {"outputs": [{"name": "output-0", "datatype": "FP64", "shape": [1, 2],
                          "data": [[0.25, 0.75]]}]},
            [0.75],
        ),
        ("infer", {"outputs": [{"name": "prob", "datatype": "FP32", "shape": [2],
                                "data": [0.9, 0.2]}]}, []),
        ("infer", {"outputs": [{"name": "probs", "datatype": "FP32", "shape": [2],
                                "data": [0.9, 0.2]}]}, [0.9, 0.8]),
        ("infer", {"outputs": [{"name": "logits", "datatype": "FP32", "shape": [1, 2],
                                "data": [2.5, -1.0]}]}, []),
        ("predict", {"predictions": [{"label": "a", "probabilities": {"a": 0.6, "b": 0.4}}]},
         [0.6]),
        ("predict", {"predictions": [[0.1, 0.9], [0.5, 0.5]]}, [0.9, 0.5]),
        ("predict", {"predictions": [3.2, 4.1]}, []),
        ("json", {"probabilities": [[0.2, 0.8]]}, [0.8]),
        ("json", {"predict_proba": [0.2, 0.8]}, [0.8]),
        ("json", {"probability": 0.1}, [0.9]),
        ("json", {"score": 17}, []),
        ("json", [[0.3, 0.7]], [0.7]),
    ],
)  # fmt: skip
def test_top_probabilities(operation: str, answer: Any, tops: list[float]):
    assert top_probabilities(operation, answer) == pytest.approx(tops)
