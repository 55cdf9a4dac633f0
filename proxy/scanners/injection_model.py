"""The injection classifier: a sparse logistic model over tokens and cues, shipped as JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from itertools import repeat
from pathlib import Path
from typing import Any, Final

from proxy.scanners.injection_features import Extracted

# Found through the package, not __file__: a module compiled by mypyc has no __file__ global.
MODEL_PATH: Final = Path(str(files("proxy.scanners").joinpath("injection_model.json")))
# Texts shorter than this many tokens are normalised as if they had this many, so one or two
# words of a short prompt ("Write a poem.") cannot carry a confident verdict on their own.
NORM_FLOOR: Final = 32


@dataclass(frozen=True, slots=True)
class LexicalTerm:
    """Word evidence of a second, lexical model, counted only past a margin.

    `z += weight * max(0, offset + sum of token weights / norm)`. Its tokens may be specific
    to one family, so on a family it never saw its sum is noise; only a sum well above the
    margin (text very like known attacks) adds to the score, and nothing ever subtracts.
    """

    unigrams: Mapping[str, float]
    offset: float
    weight: float


@dataclass(frozen=True, slots=True)
class LinearModel:
    """`probability = sigmoid(platt_a * z + platt_b)`, z the raw linear score.

    Token and token-bigram weights are summed over every occurrence and divided by
    `len(tokens) ** norm_power`, so a long document does not drift just by being long.
    """

    bias: float
    unigrams: Mapping[str, float]
    bigrams: Mapping[tuple[str, str], float]
    dense: Mapping[str, float]
    norm_power: float
    platt_a: float
    platt_b: float
    # Probability from which the scanner reports a finding; chosen at training time.
    report_threshold: float = 0.5
    lexical: LexicalTerm | None = None

    def raw_score(self, features: Extracted) -> float:
        tokens = features.tokens
        norm = max(len(tokens), NORM_FLOOR) ** self.norm_power if tokens else 1.0
        # map/zip/dict.get run in C: no per-token Python bytecode on the request path.
        sparse = sum(map(self.unigrams.get, tokens, repeat(0.0)))
        if self.bigrams:
            pairs = zip(tokens, tokens[1:], strict=False)
            sparse += sum(map(self.bigrams.get, pairs, repeat(0.0)))
        dense = sum(self.dense.get(name, 0.0) * value for name, value in features.dense.items())
        z = self.bias + sparse / norm + dense
        if self.lexical is not None:
            words = sum(map(self.lexical.unigrams.get, tokens, repeat(0.0))) / norm
            z += self.lexical.weight * max(0.0, self.lexical.offset + words)
        return z

    def probability(self, features: Extracted) -> float:
        z = self.platt_a * self.raw_score(features) + self.platt_b
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "bias": self.bias,
            "norm_power": self.norm_power,
            "platt": [self.platt_a, self.platt_b],
            "report_threshold": self.report_threshold,
            "dense": dict(self.dense),
            "unigrams": {k: round(v, 5) for k, v in self.unigrams.items()},
            "bigrams": {f"{a} {b}": round(v, 5) for (a, b), v in self.bigrams.items()},
        }
        if self.lexical is not None:
            data["lexical"] = {
                "offset": self.lexical.offset,
                "weight": self.lexical.weight,
                "unigrams": {k: round(v, 4) for k, v in self.lexical.unigrams.items()},
            }
        return data


def model_from_json(data: Mapping[str, Any]) -> LinearModel:
    bigrams: dict[tuple[str, str], float] = {}
    for key, weight in data["bigrams"].items():
        first, _, second = key.partition(" ")
        bigrams[(first, second)] = float(weight)
    platt_a, platt_b = data["platt"]
    lexical = data.get("lexical")
    return LinearModel(
        bias=float(data["bias"]),
        unigrams={str(k): float(v) for k, v in data["unigrams"].items()},
        bigrams=bigrams,
        dense={str(k): float(v) for k, v in data["dense"].items()},
        norm_power=float(data["norm_power"]),
        platt_a=float(platt_a),
        platt_b=float(platt_b),
        report_threshold=float(data.get("report_threshold", 0.5)),
        lexical=None
        if lexical is None
        else LexicalTerm(
            unigrams={str(k): float(v) for k, v in lexical["unigrams"].items()},
            offset=float(lexical["offset"]),
            weight=float(lexical["weight"]),
        ),
    )


def load_model(path: Path = MODEL_PATH) -> LinearModel:
    with path.open(encoding="utf-8") as handle:
        return model_from_json(json.load(handle))
