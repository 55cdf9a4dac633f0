"""Score the default scanners on the labelled dev sets (PII spans, injection classification).

Usage: python -m bench.eval_scanners [--data DIR] [--show-errors N] [--only pii|injection]
                                     [--cv family|source|both]

`--cv` also retrains the injection model without each family (or each source) in turn and
scores the held-out rows: the numbers that say how the detector does on attack and benign
families it never saw (needs the training extras, see bench/train_injection.py).

PII matching rule: a predicted finding is a true positive when a gold entity of the same type
overlaps its span (at least one shared character); each gold entity is matched at most once.
Unmatched predictions are false positives, unmatched gold entities false negatives.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from proxy.redact import placeholder_label
from proxy.scanners import SCANNERS, scan_text
from proxy.scanners.injection import InjectionScanner

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def entity_type(kind: str) -> str | None:
    """The data set's entity type: the redaction label, for the PII and secret kinds."""
    if not kind.startswith(("pii.", "secret.")):
        return None
    return placeholder_label(kind)


def eval_pii(path: Path, show_errors: int) -> bool:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    errors: list[str] = []
    scanners = [SCANNERS["pii"], SCANNERS["secrets"]]
    for row in read_jsonl(path):
        text = row["text"]
        gold = [(e["type"], e["start"], e["end"]) for e in row["entities"]]
        matched = [False] * len(gold)
        for finding in scan_text(text, scanners):
            kind = entity_type(finding.kind)
            if kind is None:
                continue
            for index, (gold_type, start, end) in enumerate(gold):
                if not matched[index] and gold_type == kind:
                    if start < finding.end and finding.start < end:
                        matched[index] = True
                        counts[kind][0] += 1
                        break
            else:
                counts[kind][1] += 1
                errors.append(f"FP {kind}: {text[finding.start : finding.end]!r} in {text!r}")
        for index, (gold_type, start, end) in enumerate(gold):
            if not matched[index]:
                counts[gold_type][2] += 1
                errors.append(f"FN {gold_type}: {text[start:end]!r} in {text!r}")
    print(f"## PII spans ({path.name}); rule: same type and overlapping span\n")
    print("| type | gold | tp | fp | fn | precision | recall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    ok = True
    for kind in sorted(counts):
        tp, fp, fn = counts[kind]
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + fn) if tp + fn else 1.0
        ok = ok and precision >= 0.97 and recall >= 0.97
        print(f"| {kind} | {tp + fn} | {tp} | {fp} | {fn} | {precision:.3f} | {recall:.3f} |")
    for line in errors[:show_errors]:
        print(line[:300], file=sys.stderr)
    return ok


def roc_auc(scores: list[float], labels: list[int]) -> float:
    """Mann-Whitney U with ties counted half."""
    pairs = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = 0.0
    index = 0
    while index < len(pairs):
        stop = index
        while stop < len(pairs) and pairs[stop][0] == pairs[index][0]:
            stop += 1
        average_rank = (index + stop + 1) / 2
        rank_sum += average_rank * sum(label for _, label in pairs[index:stop])
        index = stop
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def threshold_at_fpr(negative_scores: list[float], fpr: float) -> float:
    """Smallest threshold (score > t flags) whose false-positive rate is at most `fpr`."""
    ordered = sorted(negative_scores, reverse=True)
    allowed = int(fpr * len(ordered))
    return ordered[allowed] if allowed < len(ordered) else 0.0


def eval_injection(path: Path, show_errors: int) -> bool:
    scanner = InjectionScanner()
    rows = list(read_jsonl(path))
    scores = [scanner.probability(r["text"]) for r in rows]
    labels = [int(r["label"]) for r in rows]
    threshold = threshold_at_fpr([s for s, y in zip(scores, labels, strict=True) if not y], 0.01)
    print(f"\n## Injection ({path.name}), shipped model (trained on this set)\n")
    auc = roc_auc(scores, labels)
    flagged = [s > threshold for s in scores]
    recall = sum(f for f, y in zip(flagged, labels, strict=True) if y) / sum(labels)
    fpr = sum(f for f, y in zip(flagged, labels, strict=True) if not y) / (
        len(labels) - sum(labels)
    )
    print(
        f"ROC AUC {auc:.3f}; threshold at 1% FPR = {threshold:.3f}: "
        f"recall {recall:.3f}, FPR {fpr:.3f}"
    )
    report = scanner.report_threshold
    print(
        f"at the scanner's reporting threshold {report}: recall "
        f"{_rate(scores, labels, 1, report):.3f}, FPR {_rate(scores, labels, 0, report):.3f}\n"
    )
    print("| family | label | n | flagged @1%FPR thr | flagged @report |")
    print("| --- | ---: | ---: | ---: | ---: |")
    families: dict[tuple[str, int], list[float]] = defaultdict(list)
    for row, score in zip(rows, scores, strict=True):
        families[(row["source"].split("/")[0], int(row["label"]))].append(score)
    for (family, label), values in sorted(
        families.items(), key=lambda item: (-item[0][1], item[0][0])
    ):
        at_thr = sum(v > threshold for v in values) / len(values)
        at_report = sum(v >= report for v in values) / len(values)
        print(f"| {family} | {label} | {len(values)} | {at_thr:.3f} | {at_report:.3f} |")
    misses = [
        (score, row)
        for score, row in zip(scores, rows, strict=True)
        if (score >= report) != bool(row["label"])
    ]
    for score, row in misses[:show_errors]:
        print(f"{row['label']} {score:.2f} {row['source']}: {row['text'][:200]!r}", file=sys.stderr)
    return recall >= 0.85


def eval_injection_cv(path: Path, scheme: str) -> None:
    """Leave-one-family-out or leave-one-source-out scores of the shipped configuration."""
    from bench import train_injection as training

    data = training.load(path)
    config = training.Config()
    matrix = training.Matrix(data, config.norm_power, config.bigrams)
    raw = training.out_of_fold(matrix, data, config, scheme)
    a, b = training.platt(raw, data.labels)
    probabilities = training.calibrated(raw, a, b)
    report = training.report_threshold(probabilities, data.labels)
    summary = training.summarize(raw, data)
    title = {"family": "leave-one-family-out", "source": "leave-one-source-out"}[scheme]
    print(f"\n## Injection, {title} cross-validation ({config})\n")
    print(
        f"ROC AUC {summary.auc:.3f}; recall at 1% FPR {summary.recall_at_1pct:.3f}; "
        f"out-of-fold reporting threshold {report}: recall "
        f"{float((probabilities[data.labels == 1] >= report).mean()):.3f}, "
        f"FPR {float((probabilities[data.labels == 0] >= report).mean()):.3f}\n"
    )
    print("| held-out family | label | n | flagged @1%FPR thr | flagged @report |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for (family, label), rate in sorted(summary.flagged.items(), key=lambda x: (-x[0][1], x[0])):
        mask = (data.families == family) & (data.labels == label)
        at_report = float((probabilities[mask] >= report).mean())
        print(f"| {family} | {label} | {int(mask.sum())} | {rate:.3f} | {at_report:.3f} |")


def _rate(scores: list[float], labels: list[int], label: int, threshold: float) -> float:
    chosen = [s for s, y in zip(scores, labels, strict=True) if y == label]
    return sum(s >= threshold for s in chosen) / len(chosen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of the sets")
    parser.add_argument("--show-errors", type=int, default=0, help="print N misses to stderr")
    parser.add_argument("--only", choices=("pii", "injection"), default=None)
    parser.add_argument(
        "--cv", choices=("family", "source", "both"), default=None, help="injection CV numbers"
    )
    args = parser.parse_args()
    ok = True
    if args.only in (None, "pii"):
        ok = eval_pii(args.data / "pii_dev.jsonl.gz", args.show_errors) and ok
    if args.only in (None, "injection"):
        ok = eval_injection(args.data / "injection_dev.jsonl.gz", args.show_errors) and ok
        for scheme in {
            "family": ["family"],
            "source": ["source"],
            "both": ["family", "source"],
        }.get(args.cv or "", []):
            eval_injection_cv(args.data / "injection_dev.jsonl.gz", scheme)
    print("\ntargets met" if ok else "\ntargets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
