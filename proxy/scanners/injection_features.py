"""Feature extraction for the injection classifier, shared by the scanner and the trainer."""

from __future__ import annotations

import base64
import binascii
import string
import unicodedata
from dataclasses import dataclass
from typing import Final

import re2

# Cue patterns, run on lower-cased NFKC text. Each is a signal reported to policies
# (`injection.<signal>`) and a dense feature of the model. They describe attack *techniques*,
# not the wording of any one data set, so they carry over to attack families we have not seen.
_WORDS = r"(?:[\w'’-]+\W+){0,4}?"
CUES: Final[dict[str, str]] = {
    "override": (
        r"\b(?:ignore|disregard|forget|overlook|bypass|override|skip|drop|abandon|neglect)\W+"
        + _WORDS
        + r"(?:previous|prior|above|earlier|preceding|initial|original|former|system|all|any|"
        r"your|these|those|the)\W+"
        + r"(?:\w+\W+){0,2}?"
        + r"(?:instructions?|prompts?|rules|directions?|guidelines|commands?|context|messages?|"
        r"programming|restrictions|constraints|guardrails|policies|training|directives?)"
        r"|\bignore (?:the )?above\b|\bignore (?:everything|all) (?:before|above|prior)"
        # Spanish, Portuguese, French, Italian, German, Dutch, Russian, Chinese, Japanese, Korean
        r"|\bignor\w* (?:\w+ ){0,3}(?:instrucciones|instruções|instructions|istruzioni|"
        r"anweisungen|instructies|acima|anteriores|précédentes|precedenti|vorherigen)"
        r"|\bvergiss\b|\boublie[zs]?\b (?:tout|les)|\bolvida\w* (?:todo|las)"
        r"|игнорир\w*|забудь\w*|忽略|无视|忘记|無視|忘れ|무시"
    ),
    "new_instructions": (
        r"\b(?:new|updated|real|actual|revised|additional) (?:instructions?|rules|task|directive)"
        r"\s*:|\bfrom now on\b|\bfrom this (?:moment|point) (?:on|forward)\b|\byou will now\b"
        r"|\binstead,? (?:you (?:must|should|will)|say|respond|output|print|write)\b"
        r"|\bdo not follow (?:the|your|any)\b"
    ),
    "system_impersonation": (
        r"(?:^|\n)\s*(?:\[|<|#+ ?)?(?:system|admin|administrator|developer|root)\s*(?:\]|>)?\s*:"
        r"|<\|?(?:im_start|system|endoftext)\|?>|\[/?inst\]|<<sys>>|\bsystem (?:override|prompt)\b"
        r"|\b(?:developer|admin|debug|maintenance|god|sudo|unrestricted|jailbreak) mode\b"
        r"|\bend of (?:system )?(?:prompt|instructions)\b"
    ),
    "persona": (
        r"\bdo anything now\b|\bdan\b|\bjailbr(?:eak|oken)\w*|\bunfiltered\b|\buncensored\b"
        r"|\bstay in character\b|\bbreak(?:ing)? character\b|\bnever refuse|\bwill not refuse"
        r"|\bcan(?:not|'t|’t) refuse|\bno (?:ethical|moral|content) (?:\w+ )?(?:guidelines|"
        r"restrictions|constraints|limits|boundaries|filters)"
        r"|\bwithout (?:any )?(?:ethical |moral )?"
        r"(?:restrictions|limitations|filters|censorship|rules|guidelines)\b"
        r"|\b(?:not|isn't|aren't) bound by\b|\b(?:openai|anthropic)(?:'s|’s)? (?:content )?polic"
        r"|\bcontent polic(?:y|ies)\b|\bamoral\b|\bunethical\b|\bmachiavellian\b"
        r"|\bpretend (?:to be|you are|that you)|\byou are (?:now|no longer)\b"
        r"|\bact as (?:an? )?(?:unrestricted|evil|uncensored|unfiltered)"
        r"|\bopposite mode\b|\bevil (?:ai|assistant|confidant|bot)\b"
    ),
    "exfiltration": (
        r"\b(?:reveal|tell|show|print|repeat|output|share|give|disclose|leak|spell|list|write)\b"
        r"(?:\W+\w+){0,5}?\W+(?:your|the|my|its)\W+(?:\w+\W+){0,2}?(?:system prompt|password|"
        r"secret|instructions|initial prompt|hidden (?:prompt|instructions)|api key|credentials)"
        r"|\bsystem prompt\b|\bprompt above\b|\bverbatim\b"
    ),
    "response_priming": (
        r"\b(?:start|begin) (?:your|the|each) (?:response|reply|answer|output)s? (?:with|by)\b"
        r"|\bsure,? here(?: is|'s)\b|\bnever (?:say|mention|add) (?:that )?(?:you|sorry|i'm sorry)"
        r"|\bdo not (?:include|add) (?:any )?(?:warnings?|disclaimers?|apolog)"
        r"|\bwithout (?:any )?(?:warnings?|disclaimers?)\b"
    ),
    "obfuscation": (
        r"\b(?:base64|rot13|rot-13|caesar|cipher|hexadecimal|morse|leetspeak|reversed?)\b"
        r"|\bdecode\b|\bpart \d\b|\bconcatenat|\binterlace"
    ),
}

# Base64/hex runs ride along in the same RE2 pass (case-folded, hence the a-z-only classes);
# they are decoded from the original text, which has the same offsets when it is ASCII.
_ENCODED = r"[a-z0-9+/]{24,}={0,2}|(?:[0-9a-f]{2}[ :]?){16,}"
_CUE_PATTERN: Final = re2.compile(
    "|".join(f"(?P<{name}>{pattern})" for name, pattern in CUES.items())
    + f"|(?P<encoded>{_ENCODED})"
)
_CUE_GROUPS: Final = tuple((name, _CUE_PATTERN.groupindex[name]) for name in CUES)
_ENCODED_GROUP: Final = _CUE_PATTERN.groupindex["encoded"]
_LEET_HINT: Final = re2.compile(r"[a-z][0134578@$]+[a-z]")
_NOT_SYMBOLS: Final = str.maketrans("", "", string.ascii_letters + string.digits + " \t\n\r")

_ZERO_WIDTH: Final = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"))
_PUNCT_TO_SPACE: Final = str.maketrans({c: " " for c in string.punctuation + "“”‘’«»…—–"})
_LEET: Final = str.maketrans("013457@$", "oieastas")
_TAIL: Final = 160


@dataclass(frozen=True, slots=True)
class Extracted:
    """What the model sees: sparse token features, dense signals, and the cue spans."""

    tokens: list[str]
    dense: dict[str, float]
    cues: list[tuple[str, int, int]]


def normalize(text: str) -> str:
    if not text.isascii():
        # NFKC folds full-width and styled letters ("ｉｇｎｏｒｅ", "𝐢𝐠𝐧𝐨𝐫𝐞") to plain ones.
        text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    return text.lower()


def tokenize(normalized: str) -> list[str]:
    tokens = normalized.translate(_PUNCT_TO_SPACE).split()
    if not normalized.isascii():
        extra: list[str] = []
        for token in tokens:
            if not token.isascii() and len(token) > 6:
                # Scripts written without spaces (CJK, Thai) become character bigrams.
                extra.extend(token[i : i + 2] for i in range(min(len(token) - 1, 64)))
        tokens.extend(extra)
    if _LEET_HINT.search(normalized) is not None:
        # "1gn0r3 pr3v10us" also yields "ignore previous"; letters-only tokens are unchanged.
        seen = set(tokens)
        leet = normalized.translate(_LEET).translate(_PUNCT_TO_SPACE).split()
        tokens.extend(token for token in leet if token not in seen)
    return tokens


def decode_run(run: str) -> str | None:
    """Printable text hidden in a base64 or hex run (digests decode to binary: dropped)."""
    try:
        compact = run.replace(" ", "").replace(":", "")
        if len(compact) % 2 == 0 and all(c in string.hexdigits for c in compact):
            raw = bytes.fromhex(compact)
        else:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=False)
        decoded = raw.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    letters = sum(c.isalpha() or c == " " for c in decoded)
    return decoded if decoded.isprintable() and letters > 0.8 * len(decoded) else None


def _tail_symbol_ratio(text: str) -> float:
    """Optimised adversarial suffixes (GCG-style) are dense in symbols and fused fragments."""
    tail = text[-_TAIL:]
    visible = len(tail) - tail.count(" ") - tail.count("\n")
    if visible < 20 or not tail.isascii():
        return 0.0
    return len(tail.translate(_NOT_SYMBOLS)) / visible


def _cues(normalized: str, text: str) -> tuple[list[tuple[str, int, int]], list[str]]:
    cues: list[tuple[str, int, int]] = []
    payloads: list[str] = []
    same_offsets = len(normalized) == len(text)
    for match in _CUE_PATTERN.finditer(normalized):
        if match.start(_ENCODED_GROUP) >= 0:
            if same_offsets and len(payloads) < 4:
                decoded = decode_run(text[match.start() : match.end()])
                if decoded is not None:
                    payloads.append(decoded)
            continue
        for name, group in _CUE_GROUPS:
            if match.start(group) >= 0:
                cues.append((name, match.start(), match.end()))
                break
    return cues, payloads


def extract(text: str) -> Extracted:
    normalized = normalize(text)
    cues, payloads = _cues(normalized, text)
    tokens = tokenize(normalized)
    dense: dict[str, float] = {}
    for name, _, _ in cues:
        dense["cue:" + name] = 1.0
    if payloads:
        dense["encoded_payload"] = 1.0
        for payload in payloads:
            payload_norm = normalize(payload)
            tokens.extend(tokenize(payload_norm))
            hidden, _ = _cues(payload_norm, payload)
            for name, _, _ in hidden:
                dense["cue:" + name] = dense["encoded_cue"] = 1.0
    if len(normalized) != len(text):
        dense["zero_width_or_styled"] = 1.0
    ratio = _tail_symbol_ratio(text)
    if ratio > 0.12:
        dense["tail_symbols"] = min(1.0, (ratio - 0.12) * 5)
    return Extracted(tokens, dense, cues)
