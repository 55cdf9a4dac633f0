"""The ReadPrediction stage, and the scorer EnforceResponse asks for a prediction's ML risk."""

from __future__ import annotations

from typing import Any

from proxy.exchange import Exchange
from proxy.ml.features import prediction_of
from proxy.ml.observer import ModelObserver
from proxy.ml.outputs import top_probabilities
from proxy.ml.risk import MlRisk, combine, confidence_score, outlier_score
from proxy.replies import LocalReply


class ReadPrediction:
    """After ReadBody: whether the call is a prediction, of which model. Never replies.

    Inputs are read into rows only when something asks (a contract, the scorer, statistics).
    """

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        call, route = exchange.call, exchange.route
        if call is not None and route is not None and call.payload is not None:
            exchange.prediction = prediction_of(
                route.format, call.operation, call.model, call.payload, exchange.upstream_path
            )
        return None


class PredictionScorer:
    """ML risk from the answer's probabilities and the model's snapshot: no I/O."""

    def __init__(self, observer: ModelObserver) -> None:
        self.observer = observer
        self.settings = observer.settings

    def __call__(self, exchange: Exchange, answer: Any) -> MlRisk | None:
        prediction = exchange.prediction
        if prediction is None:
            return None
        settings = self.settings
        confidence = confidence_score(top_probabilities(prediction.operation, answer))
        outlier = drift = None
        snapshot = self.observer.snapshots.get(prediction.model)
        if snapshot is not None:
            names = self.observer.feature_names(prediction.model)
            rows = prediction.numbers(names, settings.max_rows, settings.max_features)
            outlier = outlier_score(
                rows,
                snapshot.stats.features,
                min_samples=settings.min_samples,
                sigma=settings.outlier_sigma,
            )
            drift = snapshot.drift.score
        return combine(confidence, outlier, drift, settings.weights)
