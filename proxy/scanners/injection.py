"""Prompt-injection and jailbreak scanner: technique cues plus a calibrated linear classifier."""

from __future__ import annotations

from typing import Final

from proxy.scanners.base import Finding
from proxy.scanners.injection_features import CUES, extract, finding_spans
from proxy.scanners.injection_model import LinearModel, load_model

CLASSIFIER_KIND: Final = "injection.classifier"
MAX_CUE_LEN: Final = 256


class InjectionScanner:
    """Findings carry the text's calibrated injection probability as their score.

    Nothing is reported below the model's `report_threshold`, chosen at training time so that
    benign families the model never saw stay quiet. Above it, each technique cue that fired
    becomes `injection.<cue>` with the cue's span; when no cue fired (paraphrased attacks,
    role-play jailbreaks) the finding is `injection.classifier` and spans the scanned text.
    """

    name = "injection"
    kinds: frozenset[str] = frozenset({CLASSIFIER_KIND, *(f"injection.{cue}" for cue in CUES)})
    max_match_len = MAX_CUE_LEN

    def __init__(self, model: LinearModel | None = None) -> None:
        self._model = model if model is not None else load_model()

    @property
    def report_threshold(self) -> float:
        return self._model.report_threshold

    def probability(self, text: str) -> float:
        return self._model.probability(extract(text))

    def scan(self, text: str) -> list[Finding]:
        features = extract(text)
        probability = self._model.probability(features)
        if probability < self._model.report_threshold:
            return []
        score = round(probability, 4)
        findings = [
            Finding(f"injection.{cue}", start, min(end, start + MAX_CUE_LEN), score)
            for cue, start, end in finding_spans(text, features)
        ]
        return findings or [Finding(CLASSIFIER_KIND, 0, len(text), score)]
