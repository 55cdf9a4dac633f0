"""Text views for the injection scanner: normalised, de-obfuscated and decoded.

Attackers hide an instruction from keyword filters with zero-width characters, styled or
look-alike letters, leetspeak, spaced-out letters, base64/hex/binary/URL encodings, ROT13, a
Caesar shift or reversed text. Each transform here undoes one trick so that the same cue
patterns see the plain instruction. The cheap ones (NFKC, zero-width removal) always run; the
others only when the text shows a hint of the trick, which keeps ordinary prompts fast.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import string
import unicodedata
from collections.abc import Collection
from typing import Final
from urllib.parse import unquote

_ZERO_WIDTH: Final = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e")
)
# Cyrillic and Greek letters that look like Latin ones, used to dodge keyword filters
# ("іgnоrе" with Cyrillic і, о, е). Applied only when some word mixes scripts, and only to a
# view: the text itself, Russian or Greek included, is matched as written too.
_HOMOGLYPHS: Final = str.maketrans(
    "аеорсухіјѕԁһӏкмтвнαεοριςκνυτχβ",
    "aeopcyxijsdhlkmtbhaeopiskvutxb",
)
_LEET: Final = str.maketrans("0134578@$", "oieastbas")
# "i g n o r e", "i.g.n.o.r.e", "i-g-n-o-r-e": five or more single letters with separators.
_SPACED_LETTERS: Final = re.compile(r"\b(?:[a-z][ .\-_*+|/]{1,2}){4,}[a-z]\b")
_SEPARATORS: Final = re.compile(r"[ .\-_*+|/]")
# "i-nstruction", "terminatio-n": hyphens splitting words at odd places.
_INNER_HYPHEN: Final = re.compile(r"(?<=[a-z])-(?=[a-z])")
_COMMON_WORDS: Final = frozenset(
    "the you your and what is are to of a in it that this for with me tell how do not be "
    "all i my can ignore instructions password secret previous say".split()
)
# Mathematical alphanumerics (𝐢𝐠𝐧𝐨𝐫𝐞) and full-width Latin letters (ｉｇｎｏｒｅ).
_STYLED: Final = re.compile(r"[\U0001d400-\U0001d7ff\uff21-\uff3a\uff41-\uff5a]")
_NON_LETTERS: Final = re.compile(r"[^a-z]+")
_DECODE_WINDOW: Final = 2000
_MIN_PREFIX: Final = 16
_CIPHER_WINDOW: Final = 8000
# Imperatives at the start of a clause: the orders a hidden payload carries.
_COMMAND: Final = re.compile(
    r"(?:^|[.!?;:,]\s*|\b(?:and|then|now|please|instead)\s+)(?:ignore|disregard|forget|state|"
    r"say|respond|reply|answer|output|print|write|tell|reveal|give|send|click|visit|go to|"
    r"follow|include|add|insert|append|repeat|pretend|act as|do not|don'?t|never|always|"
    r"you (?:must|should|will|are now))\b"
)
# A decoded view needs this many common words among `_HIT_WINDOW` consecutive ones.
_MIN_HITS: Final = 3
_HIT_WINDOW: Final = 12
_PIG_LATIN_WINDOW: Final = 60
_PIG_LATIN_WORD: Final = re.compile(r"\b[a-z]{2,}ay\b")
# Consonant clusters that open English words, for reading Pig Latin back.
_ONSETS: Final = frozenset(
    "th wh sh ch ph qu thr shr str spr scr spl squ pr tr cr br gr dr fr pl cl bl fl gl sl sp st "
    "sc sk sm sn sw tw kn wr".split()
)
_TAIL: Final = 160
_SUFFIX_TOKENS: Final = 15
_SUFFIX_SYMBOLS: Final = "{}[]()<>\\|`~^$%#@*+=;"
_NOT_SUFFIX_SYMBOLS: Final = str.maketrans(
    "", "", "".join(chr(c) for c in range(128) if chr(c) not in _SUFFIX_SYMBOLS)
)
_NOT_SUFFIX_SYMBOL_BYTES: Final = bytes(c for c in range(128) if chr(c) not in _SUFFIX_SYMBOLS)
# "generateqaoute USittoLength6": camelCase joins and letters fused with a trailing digit.
_FUSED_JOIN: Final = re.compile(r"[a-z][A-Z]|[a-zA-Z]{3}\d\b")
# Backticks at a word's edges are Markdown inline code ("`git reset --hard HEAD~1`").
_EDGE_PUNCTUATION: Final = "()[]\"'.,;:!?*`"
# Template slots ("${city}", "{{code here}}") are how prompt templates are written, not noise.
_PLACEHOLDER: Final = re.compile(r"\$?\{\{?[A-Za-z_][\w ]{0,30}\}\}?")
_SUFFIX_SHARE: Final = 0.1
_PUNCT_CLUSTER: Final = re.compile(r"[^\w\s]{2,}")
# Punctuation pairs that prose writes: closing quotes and brackets, ellipses, emoticons.
_PROSE_PUNCT: Final = frozenset(
    '." ," ?" !" ". ", ... ). ), .) \'. \', ?) !) :) -- ** ); (" ") .* *. **: :** ?! !! ?? '
    ".' ,' ?' !' (\"".split()
)
_LONE_OPENERS: Final = frozenset({"[", "{"})
# Markdown task-list boxes ("- [ ] buy milk") are the one place prose leaves a bracket alone.
_CHECKBOX: Final = re.compile(r"\[[ xX]\]")


def normalize(text: str) -> str:
    """Lower-cased text with full-width and styled letters folded and zero-width marks removed.

    Offsets into the result match the input when the input is ASCII (NFKC and the removals
    leave ASCII text as it is).
    """
    if not text.isascii():
        # NFKC folds full-width and styled letters ("ｉｇｎｏｒｅ", "𝐢𝐠𝐧𝐨𝐫𝐞") to plain ones.
        text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    return text.lower()


def hidden_or_styled(text: str) -> bool:
    """Zero-width characters or styled letters: text written to slip past keyword filters."""
    if text.isascii():
        return False
    return len(text.translate(_ZERO_WIDTH)) != len(text) or _STYLED.search(text) is not None


def deobfuscate(normalized: str, hints: Collection[str]) -> str | None:
    """Undo look-alike letters, leetspeak, spaced-out letters and split words, as hinted.

    None if no hint applies. Each step is one linear pass over the text.
    """
    view = normalized
    if "mixed_script" in hints:
        view = view.translate(_HOMOGLYPHS)
    if "leet" in hints:
        # Digits become letters everywhere ("2024" -> "2o2a"): harmless for the cue patterns.
        view = view.translate(_LEET)
    if "spaced_letters" in hints:
        view = _SPACED_LETTERS.sub(lambda m: _SEPARATORS.sub("", m.group()), view)
    if "split_words" in hints:
        view = _INNER_HYPHEN.sub("", view)
    return None if view == normalized else view


def looks_like_pig_latin(normalized: str, tokens: list[str]) -> bool:
    """Most words end in "ay" ("erewhay oesday ethay useryay")."""
    if normalized.count("ay", 0, 400) < 4:
        return False  # decided without looking at the words, for nearly every text
    head = tokens[:_PIG_LATIN_WINDOW]
    return len(head) >= 4 and sum(map(_ends_in_ay, head)) > 0.6 * len(head)


def _ends_in_ay(token: str) -> bool:
    return len(token) > 3 and token.endswith("ay")


def _unpig_word(match: re.Match[str]) -> str:
    stem = match.group()[:-2]
    # "useryay" is "user" (a word opening with a vowel gets "yay" or "way"); "ouyay" is "you"
    # (the "y" moved to the end). Which one is meant is not written down, so a common word wins.
    vowel_rule = stem[:-1] if stem[0] in "aeiou" and stem[-1] in "wy" else ""
    # The consonants that moved are the end of the stem, but which of them ("oesd": "does", not
    # "sdoe") only an English onset says: the longest one that is one, else the last letter.
    run = len(stem) - 1
    while run > 0 and stem[run - 1] not in "aeiouy":
        run -= 1
    start = next((i for i in range(run, len(stem) - 1) if stem[i:] in _ONSETS), len(stem) - 1)
    moved = stem[start:] + stem[:start]
    if vowel_rule and (vowel_rule in _COMMON_WORDS or moved not in _COMMON_WORDS):
        return vowel_rule
    return moved


def unpig_latin(normalized: str) -> str:
    """Pig Latin read back: "erewhay oesday ethay useryay ivelay" -> "where does the user live".

    The consonants moved to the end go back to the front; call it only for a text that
    `looks_like_pig_latin`.
    """
    return _PIG_LATIN_WORD.sub(_unpig_word, normalized)


def decode_run(run: str) -> str | None:
    """Printable text hidden in a base64, hex, binary, URL or escape run; None for digests.

    A payload damaged on the way (a group of bits dropped, a character lost in a translated
    copy) still yields what decodes before the damage, or, for binary, the intact bytes.
    """
    compact = run.replace(" ", "").replace(":", "").replace(",", "")
    try:
        if run.startswith("%"):
            return _readable(unquote(run, errors="strict"))
        if run.startswith(("\\u", "\\x")):
            return _readable(codecs.decode(run, "unicode_escape"))
        if set(compact) <= {"0", "1"}:
            groups = [g for g in run.replace(",", " ").split() if len(g) == 8]
            if not groups and len(compact) % 8 == 0:
                groups = [compact[i : i + 8] for i in range(0, len(compact), 8)]
            raw = bytes(int(group, 2) for group in groups)
        elif all(c in string.hexdigits for c in compact):
            raw = bytes.fromhex(compact[: len(compact) // 2 * 2])
        else:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=False)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    text = raw.decode("utf-8", errors="replace")
    whole = None if "\ufffd" in text else _readable(text)
    if whole is not None:
        return whole
    prefix = text.partition("\ufffd")[0]
    end = next((i for i, c in enumerate(prefix) if not c.isprintable()), len(prefix))
    prefix = prefix[:end]
    # A damaged run keeps only a prefix long enough to be words, not a lucky digest's bytes.
    return _readable(prefix) if len(prefix) >= _MIN_PREFIX and prefix.count(" ") >= 2 else None


def _readable(decoded: str) -> str | None:
    letters = sum(c.isalpha() or c == " " for c in decoded)
    return decoded if decoded and decoded.isprintable() and letters > 0.8 * len(decoded) else None


def reads_as_command(payload: str) -> bool:
    """A decoded, normalised payload that gives an order ("ignore the function and state
    that…"): what a hidden message in a prompt is for. Plain data hidden the same way does not."""
    return _COMMAND.search(payload) is not None


def _rot(text: str, shift: int) -> str:
    lower = string.ascii_lowercase
    return text.translate(str.maketrans(lower, lower[shift:] + lower[:shift]))


# Words every English sentence has, as each Caesar shift writes them ("the" -> "wkh"). Two-
# letter words are left out: their shifts are too often real words ("to" -> "up").
_SHIFTED_ANCHORS: Final = {  # shifted word -> the shift that reads it back
    _rot(word, shift): 26 - shift
    for shift in range(1, 26)
    for word in ("the", "and", "you", "your", "that", "this", "with", "ignore", "previous",
                 "instructions", "what", "tell")
}  # fmt: skip


def _english_hits(words: list[str]) -> int:
    """The most common English words among any `_HIT_WINDOW` consecutive words: a hidden
    message is a run of them, while chance hits in other text are scattered."""
    flags = [word in _COMMON_WORDS for word in words]
    best = current = sum(flags[:_HIT_WINDOW])
    if len(flags) <= _HIT_WINDOW or sum(flags) == best:
        return best
    for i in range(_HIT_WINDOW, len(flags)):
        current += flags[i] - flags[i - _HIT_WINDOW]
        best = max(best, current)
    return best


def cipher_view(normalized: str, tokens: Collection[str]) -> str | None:
    """A Caesar-shifted English passage nobody hinted at ("Lpsruh suhylrxv lqvwuxfwlrqv"),
    planted in a document: the text shifted back, or None.

    Common words as every shift writes them are looked up among the tokens (one C-level set
    test for nearly every text); two of them under the same shift, then a run of common words
    in the shifted-back text, make the view.
    """
    if _SHIFTED_ANCHORS.keys().isdisjoint(tokens):
        return None
    votes: dict[int, set[str]] = {}
    for token in _SHIFTED_ANCHORS.keys() & set(tokens):
        votes.setdefault(_SHIFTED_ANCHORS[token], set()).add(token)
    shift, anchors = max(votes.items(), key=lambda item: len(item[1]))
    if len(anchors) < 2:
        return None
    head = normalized[:_CIPHER_WINDOW]
    foreign = _NON_LETTERS.sub(" ", head).split()
    words = _rot(" ".join(w for w in foreign if w not in _COMMON_WORDS), shift).split()
    return _rot(head, shift) if _english_hits(words) >= _MIN_HITS else None


def hinted_views(normalized: str, hints: Collection[str]) -> list[str]:
    """ROT13 or the best Caesar shift, and the reversed text, each only when hinted at.

    A decoded view counts if words that are not English as written read as English once
    decoded: the request to decode ("decode this Caesar cipher: ...") is plain English around
    the hidden message, so only the other words are decoded and counted. The search looks at
    the first `_DECODE_WINDOW` characters, so a text full of hints costs no more.
    """
    views: list[str] = []
    if not ("rotation" in hints or "reversal" in hints):
        return views
    head = normalized[:_DECODE_WINDOW]
    foreign = " ".join(w for w in _NON_LETTERS.sub(" ", head).split() if w not in _COMMON_WORDS)
    if "rotation" in hints:
        best, best_hits = 0, _MIN_HITS - 1
        for shift in range(1, 26):
            hits = _english_hits(_rot(foreign, shift).split())
            if hits > best_hits:
                best, best_hits = shift, hits
        if best:
            views.append(_rot(head, best))
    if "reversal" in hints and _english_hits(foreign[::-1].split()) >= _MIN_HITS:
        views.append(head[::-1])
    return views


def adversarial_suffix(text: str) -> float:
    """How much the end of a prose prompt looks like an optimised suffix (GCG/DSN-style).

    Those suffixes are one line of fused fragments, camelCase or letter-digit joins and brackets
    inside words after a plain-language request: the share of such tokens among the last ones,
    when at least two are odd, the tail has no line break (code has them) and the text before
    it is ordinary prose. 0.0 when it does not look like one.
    """
    tail = text[-_TAIL:]
    if "\n" in tail or not tail.isascii():
        return 0.0
    if _symbol_count(tail) < 3:
        return 0.0  # the common case: prose ends in prose
    tokens = _CHECKBOX.sub("", _PLACEHOLDER.sub("", tail)).split()[-_SUFFIX_TOKENS:]
    if len(tokens) < 5:
        return 0.0
    odd = sum(map(_odd_token, tokens))
    share = odd / len(tokens)
    if odd < 2 or share < _SUFFIX_SHARE:
        return 0.0
    if _reads_as_prose(text[: text.rfind(tokens[0], len(text) - len(tail))]):
        return share
    # A one-line prompt is the request, then the suffix, which is often longer than the tokens
    # looked at: then the request is judged on the first part of the line.
    if "\n" not in text and "\\n" not in text and _reads_as_prose(text[: len(text) * 2 // 5]):
        return share
    return 0.0


def noisy_tail(text: str) -> bool:
    """The end of a one-line prompt strewn with punctuation clusters ("formatted^{(", "*.",
    "{\"!here!,") that prose does not write, and at least one odd token: a weaker form of
    `adversarial_suffix`, for suffixes built mostly from words."""
    tail = text[-_TAIL:]
    if "\n" in tail or not tail.isascii():
        return False
    clusters = [c for c in _PUNCT_CLUSTER.findall(tail) if c not in _PROSE_PUNCT]
    return len(clusters) >= 2 and any(map(_odd_token, tail.split()))


def _reads_as_prose(head: str) -> bool:
    return len(head) < 20 or _symbol_count(head) <= 0.02 * len(head)


def _symbol_count(text: str) -> int:
    """How many of `_SUFFIX_SYMBOLS` the text holds; ASCII text (nearly all) in one C pass
    rather than one count() per symbol."""
    if text.isascii():
        return len(text.encode().translate(None, _NOT_SUFFIX_SYMBOL_BYTES))
    return sum(map(text.count, _SUFFIX_SYMBOLS))


def _odd_token(token: str) -> bool:
    # Brackets and quotes at a word's edges are prose punctuation ("(Dennis", "whales).");
    # inside a word they are not ("signs},{timestamp").
    core = token.strip(_EDGE_PUNCTUATION)
    if core[:1] in ("#", "@") and core[1:].isalnum():
        return False  # a hashtag or a handle
    if not core:
        # A bracket that opens nothing ("[ [ [", GCG's filler) is no prose punctuation either.
        return token in _LONE_OPENERS or len(token.translate(_NOT_SUFFIX_SYMBOLS)) >= 2
    symbols = len(core.translate(_NOT_SUFFIX_SYMBOLS))
    if symbols >= 2 or (symbols and any(c.isalpha() for c in core)):
        return True
    return _FUSED_JOIN.search(core) is not None
