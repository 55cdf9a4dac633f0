"""Prompt-injection and jailbreak scanner: technique cues plus a calibrated linear classifier."""

from __future__ import annotations

from typing import Final

from proxy.scanners.base import Finding
from proxy.scanners.injection_features import CUES, extract
from proxy.scanners.injection_model import LinearModel, load_model

CLASSIFIER_KIND: Final = "injection.classifier"
# Below this probability nothing is reported: a lone cue word in a benign prompt ("ignore the
# noise in this data") is not worth a finding, and risk scoring would only add noise.
REPORT_FLOOR: Final = 0.35
MAX_CUE_LEN: Final = 256


class InjectionScanner:
    """Findings carry the document's injection probability as their score.

    Each technique cue that fired becomes `injection.<signal>` with the cue's span; when the
    classifier is confident but no cue fired (paraphrased attacks, role-play jailbreaks) the
    finding is `injection.classifier` and spans the scanned text.
    """

    name = "injection"
    kinds: frozenset[str] = frozenset({CLASSIFIER_KIND, *(f"injection.{cue}" for cue in CUES)})
    max_match_len = MAX_CUE_LEN

    def __init__(self, model: LinearModel | None = None) -> None:
        self._model = model if model is not None else load_model()

    def probability(self, text: str) -> float:
        return self._model.probability(extract(text))

    def scan(self, text: str) -> list[Finding]:
        features = extract(text)
        probability = self._model.probability(features)
        if probability < REPORT_FLOOR:
            return []
        # Cue offsets index the normalised text; they are exact only if its length did not change.
        same_offsets = len(text) == len(text.lower()) and text.isascii()
        findings: list[Finding] = []
        seen: set[str] = set()
        for cue, start, end in features.cues:
            if cue in seen:
                continue
            seen.add(cue)
            span = (start, min(end, start + MAX_CUE_LEN)) if same_offsets else (0, len(text))
            findings.append(Finding(f"injection.{cue}", *span, round(probability, 4)))
        if not findings:
            findings.append(Finding(CLASSIFIER_KIND, 0, len(text), round(probability, 4)))
        return findings
