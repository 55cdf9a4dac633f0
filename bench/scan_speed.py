"""Scanner throughput: all default scanners on a 2 KB prompt, growth to 100 KB, adversarial inputs.

Usage: python -m bench.scan_speed [--repeat N]

Targets (issue 4): 2 KB median <= 200 µs; time per KB roughly flat up to 100 KB; every
adversarial input no slower than 10x random text of the same size.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
from collections.abc import Callable

from proxy.scanners import SCANNERS, scan_text
from proxy.scanners.window import StreamWindow

_WORDS = (
    "please summarise the following report and list the three main risks for the project team "
    "we shipped version 2 of the api in march with 14 endpoints and a new billing flow the "
    "customer asked whether the migration could finish before friday so write a short answer"
).split()


def prose(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(_WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def random_text(size: int, seed: int = 2) -> str:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + " " * 12 + ".,"
    return "".join(rng.choice(alphabet) for _ in range(size))


def adversarial(size: int) -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (size // len(unit) + 1))[:size]

    return {
        "one char 'a'": "a" * size,
        "one digit '1'": "1" * size,
        "spaced digits": fill("1 "),
        "dotted digits": fill("1."),
        "nested brackets": fill("(") + fill(")"),
        "colons (ipv6 shape)": fill("a:"),
        "at signs": fill("a@"),
        "run of @": "@" * size,
        "digits and colons (ipv6 shape)": fill("1:"),
        "phone words and digit groups": fill("tel 030 12 34 56 78 "),
        "near-miss AWS ids": fill("AKIA" + "ABCDEFGHIJKLMNO "),
        "near-miss GitHub tokens": fill("ghp_" + "a" * 30 + " "),
        "PEM header, no end": "-----BEGIN RSA PRIVATE KEY-----\n" + fill("QUJD"),
        "base64 run": fill("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="),
        "card-like groups": fill("4111 1111 1111 111 "),
        # every row's nine digits asks which column it is in (fields.Tables)
        "table of nine-digit ids": "ssn_ok,id\n" + fill("no,219099999\n"),
        # every row's nine digits asks for its column in the INSERT's list
        "SQL rows of nine-digit ids": "INSERT INTO t (id, ssn_ok) VALUES\n"
        + fill("(219099999, 'no'),\n"),
        # "aws" in the header: every 40-character base64 value asks for its column
        "base64 under an AWS header": "| key | aws_region |\n|---|---|\n"
        + fill("| q7Zk2Lm9Xv4Tn8Rb3Wj6Hs1Pd5Gc0FyAe4Ku8N0O | us-east-1 |\n"),
        "cue words": fill("ignore previous "),
    }


def median_seconds(function: Callable[[], object], repeat: int) -> float:
    function()  # warm caches (phone metadata, RE2 DFA)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def timed_against(
    function: Callable[[], object], baseline: Callable[[], object], rounds: int
) -> tuple[float, float]:
    """Median time of `function`, and the median ratio to `baseline` timed right before it."""
    function()
    times, ratios = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        baseline()
        middle = time.perf_counter()
        function()
        end = time.perf_counter()
        times.append(end - middle)
        ratios.append((end - middle) / (middle - start))
    return statistics.median(times), statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    scanners = list(SCANNERS.values())
    ok = True

    prompt = prose(2048)
    median = median_seconds(lambda: scan_text(prompt, scanners), args.repeat)
    print("## 2 KB prompt, all default scanners\n")
    print(f"median {median * 1e6:.0f} µs (target <= 200 µs)")
    for name, scanner in SCANNERS.items():
        each = median_seconds(lambda s=scanner: s.scan(prompt), args.repeat)  # type: ignore[misc]
        print(f"  {name:10s} {each * 1e6:7.0f} µs")
    ok = ok and median <= 200e-6

    print("\n## Growth (prose)\n\n| size | median | µs per KB |\n| ---: | ---: | ---: |")
    for size in (1_000, 10_000, 50_000, 100_000):
        text = prose(size)
        repeat = max(5, args.repeat * 2_000 // size)
        seconds = median_seconds(lambda t=text: scan_text(t, scanners), repeat)  # type: ignore[misc]
        print(
            f"| {size // 1000} KB | {seconds * 1e3:.2f} ms | {seconds * 1e6 / (size / 1000):.0f} |"
        )

    size = 10_000
    # Generate the inputs once: timing their generation would inflate the baseline. Each case
    # is timed in rounds alternating with the baseline, and the ratio is the median of the
    # per-round ratios, so load from other processes on the machine hits both sides alike.
    random_input = random_text(size)
    baseline = median_seconds(lambda: scan_text(random_input, scanners), 20)
    print(f"\n## Adversarial, {size // 1000} KB (random text baseline {baseline * 1e3:.2f} ms)\n")
    print("| input | median | × random |\n| --- | ---: | ---: |")
    for name, text in adversarial(size).items():
        seconds, ratio = timed_against(
            lambda t=text: scan_text(t, scanners),  # type: ignore[misc]
            lambda: scan_text(random_input, scanners),
            rounds=9,
        )
        ok = ok and ratio <= 10
        print(f"| {name} | {seconds * 1e3:.2f} ms | {ratio:.1f} |")

    stream = prose(20_000)
    window_scanners = [SCANNERS["pii"], SCANNERS["secrets"]]

    def run_window(hold_back: int) -> None:
        window = StreamWindow(window_scanners, hold_back)
        for index in range(0, len(stream), 4):
            window.feed(stream[index : index + 4])
        window.finish()

    print("\n## Streaming window, 20 KB in 4-character deltas (pii + secrets)\n")
    for hold_back in (64, 256, SCANNERS["secrets"].max_match_len):
        seconds = median_seconds(lambda h=hold_back: run_window(h), 5)  # type: ignore[misc]
        print(
            f"hold_back {hold_back}: {seconds * 1e3:.1f} ms total, "
            f"{seconds * 1e6 / (len(stream) / 4):.1f} µs per delta"
        )
    print("\ntargets met" if ok else "\ntargets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
