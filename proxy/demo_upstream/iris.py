"""The demo-iris classifier: nearest class centroid of Fisher's iris data, as probabilities."""

from __future__ import annotations

import math
from typing import Any, Final

from proxy.demo_upstream.errors import DemoRequestError

IRIS_MODEL: Final = "demo-iris"
IRIS_CLASSES: Final = ("setosa", "versicolor", "virginica")
# The input order, also the names a KServe v1 instance object may give them.
IRIS_FEATURES: Final = ("sepal_length", "sepal_width", "petal_length", "petal_width")
# Per-class feature means (cm) of Fisher's iris data: sepal length/width, petal length/width.
_IRIS_CENTROIDS: Final = (
    (5.006, 3.428, 1.462, 0.246),
    (5.936, 2.770, 4.260, 1.326),
    (6.588, 2.974, 5.552, 2.026),
)


def iris_probabilities(row: Any) -> list[float]:
    """Softmax over negative squared distances to the class centroids.

    `row` is the four features in order, or an object naming them.
    """
    if isinstance(row, dict) and set(row) == set(IRIS_FEATURES):
        row = [row[name] for name in IRIS_FEATURES]
    if (
        not isinstance(row, list)
        or len(row) != 4
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in row)
    ):
        raise DemoRequestError(
            f"{IRIS_MODEL} expects 4 numeric features per instance, got {row!r}."
        )
    scores = [
        -sum((x - c) ** 2 for x, c in zip(row, centroid, strict=True))
        for centroid in _IRIS_CENTROIDS
    ]
    exps = [math.exp(s - max(scores)) for s in scores]
    return [e / sum(exps) for e in exps]


def iris_label(probabilities: list[float]) -> str:
    return IRIS_CLASSES[max(range(len(probabilities)), key=probabilities.__getitem__)]
