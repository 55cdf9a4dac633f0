"""Train the injection classifier offline and write proxy/scanners/injection_model.json.

Usage: python -m bench.train_injection [--data DIR] [--search]

Pure Python (no numpy): logistic regression by AdaGrad over the features of
`proxy.scanners.injection_features`. Hyper-parameters are chosen by cross-validation grouped by
source *family* (the part of `source` before "/"), so every score is measured on families the
model did not train on: that is the situation of the held-out set. A Platt scaling fitted on the
out-of-fold scores makes the output a calibrated probability.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.eval_scanners import DEFAULT_DATA, roc_auc, threshold_at_fpr
from proxy.scanners.injection_features import Extracted, extract
from proxy.scanners.injection_model import MODEL_PATH, NORM_FLOOR, LinearModel

Feature = str | tuple[str, str]


@dataclass(frozen=True)
class Config:
    l2: float
    norm_power: float
    min_df: int
    epochs: int = 12
    rate: float = 0.3
    sparse: bool = True


@dataclass
class Example:
    features: Extracted
    label: int
    family: str


def load(path: Path) -> list[Example]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [Example(extract(r["text"]), int(r["label"]), r["source"].split("/")[0]) for r in rows]


def _sparse(features: Extracted) -> list[Feature]:
    tokens = features.tokens
    return [*tokens, *zip(tokens, tokens[1:], strict=False)]


def vocabulary(examples: list[Example], min_df: int) -> set[Feature]:
    df: Counter[Feature] = Counter()
    families: dict[Feature, set[str]] = defaultdict(set)
    for example in examples:
        for feature in set(_sparse(example.features)):
            df[feature] += 1
            families[feature].add(example.family)
    # A feature seen in one family only is that family's fingerprint, not an attack signal.
    return {f for f, n in df.items() if n >= min_df and len(families[f]) >= 2}


def vectorize(example: Example, vocab: set[Feature], norm_power: float) -> dict[Feature, float]:
    """Mirror of `LinearModel.raw_score`: occurrence counts scaled by len(tokens)**-power."""
    count = len(example.features.tokens)
    scale = 1.0 / (max(count, NORM_FLOOR) ** norm_power) if count and norm_power else 1.0
    vector: dict[Feature, float] = defaultdict(float)
    for feature in _sparse(example.features):
        if feature in vocab:
            vector[feature] += scale
    for name, value in example.features.dense.items():
        vector["dense:" + name] = value
    return vector


def train(examples: list[Example], config: Config, seed: int = 7) -> LinearModel:
    vocab = vocabulary(examples, config.min_df) if config.sparse else set()
    vectors = [(vectorize(e, vocab, config.norm_power), e.label) for e in examples]
    # Balance the classes so the bias does not just learn the base rate.
    positives = sum(label for _, label in vectors)
    class_weight = {
        1: len(vectors) / (2 * positives),
        0: len(vectors) / (2 * (len(vectors) - positives)),
    }
    weights: dict[Feature, float] = defaultdict(float)
    squares: dict[Feature, float] = defaultdict(lambda: 1e-6)
    bias, bias_sq = 0.0, 1e-6
    rng = random.Random(seed)
    order = list(range(len(vectors)))
    for _ in range(config.epochs):
        rng.shuffle(order)
        for index in order:
            vector, label = vectors[index]
            z = bias + sum(weights[f] * v for f, v in vector.items())
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            gradient = (p - label) * class_weight[label]
            bias_sq += gradient * gradient
            bias -= config.rate * gradient / math.sqrt(bias_sq)
            for f, v in vector.items():
                g = gradient * v + config.l2 * weights[f]
                squares[f] += g * g
                weights[f] -= config.rate * g / math.sqrt(squares[f])
    unigrams = {
        f: w
        for f, w in weights.items()
        if isinstance(f, str) and not f.startswith("dense:") and abs(w) > 1e-3
    }
    bigrams = {f: w for f, w in weights.items() if isinstance(f, tuple) and abs(w) > 1e-3}
    dense = {
        f.removeprefix("dense:"): w
        for f, w in weights.items()
        if isinstance(f, str) and f.startswith("dense:")
    }
    return LinearModel(bias, unigrams, bigrams, dense, config.norm_power, 1.0, 0.0)


def platt(scores: list[float], labels: list[int]) -> tuple[float, float]:
    """Fit p = sigmoid(a*z + b) by Newton steps on the log-loss (Platt 1999, with his priors)."""
    positives = sum(labels)
    negatives = len(labels) - positives
    targets = [(positives + 1) / (positives + 2) if y else 1 / (negatives + 2) for y in labels]
    a, b = 1.0, 0.0
    for _ in range(100):
        ga = gb = haa = hab = hbb = 0.0
        for z, t in zip(scores, targets, strict=True):
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, a * z + b))))
            d, w = p - t, max(p * (1 - p), 1e-9)
            ga, gb = ga + d * z, gb + d
            haa, hab, hbb = haa + w * z * z, hab + w * z, hbb + w
        det = haa * hbb - hab * hab
        if abs(det) < 1e-12:
            break
        a -= (hbb * ga - hab * gb) / det
        b -= (haa * gb - hab * ga) / det
    return a, b


def grouped_folds(examples: list[Example], k: int) -> list[set[str]]:
    """Leave-families-out folds: each family sits whole in one fold, folds balanced by size."""
    sizes = Counter(e.family for e in examples)
    folds: list[set[str]] = [set() for _ in range(k)]
    totals = [0] * k
    for family, size in sizes.most_common():
        target = totals.index(min(totals))
        folds[target].add(family)
        totals[target] += size
    return folds


def cross_validate(
    examples: list[Example], config: Config, folds: list[set[int]]
) -> tuple[list[float], float]:
    """Out-of-fold raw scores, and the mean of the per-fold ROC AUCs."""
    scores = [0.0] * len(examples)
    aucs: list[float] = []
    for fold in folds:
        model = train([e for i, e in enumerate(examples) if i not in fold], config)
        held = sorted(fold)
        for index in held:
            scores[index] = model.raw_score(examples[index].features)
        labels = [examples[i].label for i in held]
        if 0 < sum(labels) < len(labels):
            aucs.append(roc_auc([scores[i] for i in held], labels))
    return scores, sum(aucs) / len(aucs)


def family_folds(examples: list[Example], k: int = 5) -> list[set[int]]:
    by_family = grouped_folds(examples, k)
    return [{i for i, e in enumerate(examples) if e.family in fold} for fold in by_family]


def stratified_folds(examples: list[Example], k: int = 5, seed: int = 11) -> list[set[int]]:
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: examples[i].label)
    return [set(order[start::k]) for start in range(k)]


def report(examples: list[Example], scores: list[float], title: str) -> float:
    labels = [e.label for e in examples]
    auc = roc_auc(scores, labels)
    pairs = list(zip(scores, examples, strict=True))
    threshold = threshold_at_fpr([s for s, e in pairs if not e.label], 0.01)
    recall = sum(s > threshold for s, e in pairs if e.label) / sum(labels)
    print(f"{title}: AUC {auc:.3f}, recall@1%FPR {recall:.3f}")
    by_family: dict[tuple[str, int], list[float]] = defaultdict(list)
    for s, e in zip(scores, examples, strict=True):
        by_family[(e.family, e.label)].append(s)
    for (family, label), values in sorted(by_family.items(), key=lambda x: (-x[0][1], x[0][0])):
        rate = sum(v > threshold for v in values) / len(values)
        print(f"    {family:45s} label={label} n={len(values):4d} flagged={rate:.3f}")
    return recall + auc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--search", action="store_true", help="grid-search hyper-parameters")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    examples = load(args.data / "injection_dev.jsonl.gz")
    if args.search:
        grid = [Config(0.01, 0.5, 3, sparse=False)] + [
            Config(l2, power, 3) for l2 in (0.003, 0.03) for power in (0.0, 0.5)
        ]
    else:
        grid = [Config(0.03, 0.5, 3)]
    # Choose by leave-families-out CV (generalisation to unseen attack and benign families)...
    best: tuple[float, Config] | None = None
    by_family = family_folds(examples)
    for config in grid:
        scores, mean_auc = cross_validate(examples, config, by_family)
        report(
            examples,
            scores,
            f"family-grouped CV {config}: mean per-fold AUC {mean_auc:.3f}; pooled",
        )
        if best is None or mean_auc > best[0]:
            best = (mean_auc, config)
    assert best is not None
    config = best[1]
    # ...but calibrate on stratified CV: pooled leave-family-out scores mix five differently
    # scaled models, and a Platt fit on them would flatten every probability towards the prior.
    oof, mean_auc = cross_validate(examples, config, stratified_folds(examples))
    report(examples, oof, f"stratified CV {config}: mean per-fold AUC {mean_auc:.3f}; pooled")
    a, b = platt(oof, [e.label for e in examples])
    model = train(examples, config)
    model = LinearModel(
        model.bias, model.unigrams, model.bigrams, model.dense, config.norm_power, a, b
    )
    args.out.write_text(json.dumps(model.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    print(
        f"chose {config}; platt a={a:.3f} b={b:.3f}; {len(model.unigrams)} unigrams, "
        f"{len(model.bigrams)} bigrams -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
