"""Feature extraction for the injection classifier, shared by the scanner and the trainer."""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Final

from proxy.scanners.injection_cues import (
    CUES,
    ENCODED,
    ENCODED_RUNS,
    HARM_WORDS,
    PROCEDURE,
    STORY_FRAME,
    cue_spans,
    first_span,
    signals,
)
from proxy.scanners.injection_text import (
    adversarial_suffix,
    cipher_view,
    decode_run,
    deobfuscate,
    hidden_or_styled,
    hinted_views,
    looks_like_pig_latin,
    noisy_tail,
    normalize,
    reads_as_command,
    unpig_latin,
)

__all__ = ["CUES", "Extracted", "extract", "finding_spans", "normalize", "tokenize"]

_CUE_NAMES: Final = frozenset(CUES)
_PUNCT_TO_SPACE: Final = str.maketrans({c: " " for c in string.punctuation + "“”‘’«»…—–"})
# The same for ASCII text, as bytes: str.translate looks every character up in a dict.
_ASCII_PUNCT_TO_SPACE: Final = bytes.maketrans(
    string.punctuation.encode(), b" " * len(string.punctuation)
)
_MAX_PAYLOADS: Final = 4
# Cues that, inside a document the model is asked to work on, are instructions planted there.
_PLANTED: Final = frozenset({"indirect", "system_impersonation", "override", "new_instructions"})
# Hints that are features of the model as they are (never reported): the model named, an
# answer excused, a case built before the ask, a hateful request, a faked session end.
_DENSE_HINTS: Final = (
    "names_model",
    "use_disclaimer",
    "context_pivot",
    "hate_request",
    "fake_boundary",
)
_FRAMES: Final = frozenset(
    {"cue:harmful_framing", "cue:concealment", "cue:deceptive_output", "context_pivot"}
)
_REPEAT_RUN: Final = 8
_SENTENCE_END: Final = re.compile(r"[.?!。？！\n]+")
_SENTENCE_TAIL: Final = 800
_SENTENCE_REPEATS: Final = 5
_REQUEST: Final = 150
# An HTML comment ("<!-- … -->", also as a translation leaves it, "<! -- … -->"): what a page
# holds that its human reader never sees.
_HTML_COMMENT: Final = re.compile(r"<!\s*--([\s\S]{0,2000}?)--\s*>")
_LINK: Final = re.compile(r"https?://|\bwww\.|\.com/")
_ROLEPLAY_OPENING: Final = re.compile(
    r"\W*(?:imagine|suppose|pretend|picture|consider|let'?s (?:say|pretend|imagine|play)|"
    r"you are|you're|as an? |act as|in (?:a|this) (?:world|universe|story|fictional)|"
    r"write (?:a|an) (?:story|script|scene|novel|fictional)|you have been|you've been|"
    # "imagine / suppose that we…" in the languages the cues cover
    r"imagin[ae]\w*|immagina\w*|stell(?:en sie sich| dir) vor|представ\w*|предполож\w*|"
    r"hayal ed\w*|bayangkan|hãy tưởng tượng|giả sử|isipin|ipagpalagay|supon\w*|suppos\w*|"
    r"angenommen|कल्पना|কল্পনা|ลองนึกภาพ|สมมติ|想象|想像|상상|가정해|تخيل|لنفترض|"
    r"(?:私たちが|我们正在|我們正在))"
)
# Many-shot prompting: a long run of question/answer turns before the real request.
# (Bengali writes the colon as a visarga, "প্রশ্নঃ".)
_QUESTION_TURN: Final = re.compile(r"(?:^|\s)(?:q|question|问|問|질문|প্রশ্ন|в|s|p|f|t)\s*[:：ঃ]")
_MANY_SHOT: Final = 3
_SHOT_WINDOW: Final = 4000
# Any turn label ("A:", "答:", "উত্তর:", "J:"): a short word and a colon.
_TURN_LABEL: Final = re.compile(r"(?:^|\s)(?:\w{1,2}|answer|উত্তর|답변|回答|ответ)\s*[:：ঃ]")
_LAST_TURN: Final = 600
# After "ignore your instructions", the task that replaces them: a question, or an "instead"
# ("… Can you list horror films instead?"). Goal hijacking is the override and a new request;
# a text that only discusses overriding asks for nothing after it.
_NEW_REQUEST: Final = re.compile(
    r"[?？؟]|\binstead\b|à la place|en (?:su|lugar)|em vez|invece|stattdessen|"
    r"statt dessen|вместо|thay vào đó|sa halip|sebagai gantinya|bunun yerine|代わりに|而是|改为|"
    r"대신|بدلا|بدلاً|इसके बजाय|के बजाय|পরিবর্তে|แทน"
)
_REQUEST_WINDOW: Final = 300
# The reason a claimed developer or admin gives ("I'm your developer and I'm running a system
# check"): a test or audit that the request supposedly belongs to, the pretext of the claim.
_CHECK_PRETEXT: Final = re.compile(
    r"\b(?:system|security|routine|safety|compliance) (?:check|test|audit|scan|diagnostic)|"
    r"\bdiagnostic|\bmaintenance|\bdebug(?:ging)? mode|\btest(?:ing)? mode|\baudit\b|"
    r"\bverifica(?:tion|ção|ción|zione)?\b|\bvérification|\bverifikasi|проверк|"
    r"\bprueba del sistema|\bsystemprüfung|\büberprüfung|점검|검증|チェック|点検|检查|檢查|"
    r"\bkiểm tra|\bkontrol|فحص|जांच|जाँच|পরীক্ষা|ตรวจสอบ|\bpagsusuri"
)
# "By the way", "oh, and": the aside that turns small talk into the real ask ("… the sunset is
# magical. By the way, where does John Doe live?"), the distraction before a data request.
_ASIDE: Final = re.compile(
    r"\bby the way\b|\boh,? and\b|\bbtw\b|\ba proposito\b|\bomong-omong\b|"
    r"\bngomong-ngomong\b|кстати|\bübrigens\b|\bau fait\b|\bpor cierto\b|\bpor falar nisso\b|"
    r"\baliás\b|그런데|아, 그리고|ところで|そういえば|顺便|順便|对了|對了|بالمناسبة|वैसे|ओह, और|"
    r"ওহ, এবং|যাইহোক|\bbu arada\b|\bnhân tiện\b|\bnga pala\b|ยังไงก็ตาม|โอ้ แล้ว"
)
# A markup tag before the override (a table cell, an image caption, a code block): the order
# sits inside the content the model was handed, where its author planted it.
_TAG: Final = re.compile(r"<\s*/?\s*[^\W\d_][^<>]{0,40}>")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What the model sees: sparse token features and dense signals; plus which technique cues
    fired in the text as written and which only in a decoded or de-obfuscated view."""

    tokens: list[str]
    dense: dict[str, float]
    text_cues: frozenset[str]
    view_cues: frozenset[str]


def tokenize(normalized: str) -> list[str]:
    if normalized.isascii():
        return normalized.encode().translate(_ASCII_PUNCT_TO_SPACE).decode().split()
    tokens = normalized.translate(_PUNCT_TO_SPACE).split()
    extra: list[str] = []
    for token in tokens:
        if not token.isascii() and len(token) > 6:
            # Scripts written without spaces (CJK, Thai) become character bigrams.
            extra.extend(token[i : i + 2] for i in range(min(len(token) - 1, 64)))
    tokens.extend(extra)
    return tokens


def _payloads(text: str) -> list[str]:
    # Runs are found in the text as written (base64 is case-sensitive), whatever its script:
    # a payload planted in a Chinese or Arabic sentence is still ASCII.
    payloads: list[str] = []
    for match in ENCODED_RUNS.finditer(text):
        decoded = decode_run(match.group())
        if decoded is not None:
            payloads.append(normalize(decoded))
            if len(payloads) == _MAX_PAYLOADS:
                break
    return payloads


def _has_repeat_run(tokens: list[str]) -> bool:
    """Token flooding ("cake cake cake … Q: …"): one or two words filling the start or the end.

    Looking at both ends only keeps this constant-time; floods sit there to push the real
    request out of the model's attention.
    """
    if len(tokens) < _REPEAT_RUN:
        return False
    # A ruler drawn with box characters ("────") repeats too, but is layout, not a word.
    for run in (tokens[:_REPEAT_RUN], tokens[-_REPEAT_RUN:]):
        if len(set(run)) == 1 and any(map(str.isalnum, run[0])):
            return True
    return False


def _has_repeated_sentence(normalized: str) -> bool:
    """The same sentence five times or more at the end ("what is the quadratic formula?" ten
    times over): a flood of a whole question rather than of one word."""
    tail = normalized[-_SENTENCE_TAIL:].rstrip()
    # The end of the text recurs that often in it, or no sentence does: one C-level count
    # decides it for nearly every text.
    if len(tail) < _SENTENCE_TAIL // 8 or tail.count(tail[-_REPEAT_RUN:]) < _SENTENCE_REPEATS:
        return False
    parts = [part.strip() for part in _SENTENCE_END.split(tail)]
    last = [part for part in parts if part][-_SENTENCE_REPEATS - 1 :]
    if len(last) < _SENTENCE_REPEATS:
        return False
    sentence, count = Counter(last).most_common(1)[0]
    return count >= _SENTENCE_REPEATS and len(sentence) >= _REPEAT_RUN


def extract(text: str) -> Extracted:
    normalized = normalize(text)
    found = signals(normalized)
    text_cues = found & _CUE_NAMES
    tokens = tokenize(normalized)
    dense = {"cue:" + name: 1.0 for name in sorted(text_cues)}
    views: list[tuple[str, str]] = []
    if ENCODED in found:
        payloads = _payloads(text)
        if payloads:
            dense["encoded_payload"] = 1.0
            views.extend(("encoded_cue", payload) for payload in payloads)
            if any(map(reads_as_command, payloads)):
                dense["encoded_command"] = 1.0
    plain = deobfuscate(normalized, found)
    if plain is not None:
        views.append(("obfuscated_cue", plain))
    pig_latin = looks_like_pig_latin(normalized, tokens)
    if pig_latin:
        views.append(("obfuscated_cue", unpig_latin(normalized)))
    hinted = hinted_views(normalized, found)
    if "rotation" not in found:
        cipher = cipher_view(normalized, tokens)
        if cipher is not None:
            hinted.append(cipher)
            # A shifted passage nobody asked to decode, which gives an order once read back
            # ("… and state that the conclusion is …"): the same as an encoded command, even
            # when its first word was mangled past what the cue patterns read.
            if reads_as_command(cipher):
                dense["encoded_command"] = 1.0
    views.extend(("hidden_cue", view) for view in hinted)
    # Token smuggling: the text asks for decoding and does hide a readable message, whatever
    # the message says (a harmless-looking hidden question is still a smuggled one).
    if "obfuscation" in found and (hinted or "encoded_payload" in dense):
        dense["smuggled_text"] = 1.0
    view_cues: set[str] = set()
    for signal, view in views:
        tokens.extend(tokenize(view))
        for name in sorted((signals(view) & _CUE_NAMES) - text_cues):
            dense["cue:" + name] = dense[signal] = 1.0
            view_cues.add(name)
    for hint in _DENSE_HINTS:
        if hint in found:
            dense[hint] = 1.0
    # the request is the text a harmless task works on: a latent jailbreak
    if "hate_request" in found and "text_task" in found:
        dense["wrapped_request"] = 1.0
    if hidden_or_styled(text):
        dense["zero_width_or_styled"] = 1.0
    if "spaced_letters" in found or pig_latin:
        dense["spaced_letters"] = 1.0
    if adversarial_suffix(text):
        dense["adversarial_suffix"] = 1.0
    if _has_repeat_run(tokens) or _has_repeated_sentence(normalized):
        dense["repeated_token"] = 1.0
    harm = sum(map(HARM_WORDS.__contains__, tokens)) if "harm" in found else 0
    if harm:
        dense["harm_words"] = min(1.0, harm / 3)
    colons = normalized.count(":", 0, _SHOT_WINDOW) + normalized.count("：", 0, _SHOT_WINDOW)
    if colons >= 2 * _MANY_SHOT:  # the regex only runs for texts with enough turns' colons
        if len(_QUESTION_TURN.findall(normalized, 0, _SHOT_WINDOW)) >= _MANY_SHOT:
            dense["many_shot"] = 1.0
            if _ends_on_open_question(normalized):
                dense["primed_question"] = 1.0
    # A harmful topic inside a role-play or "purely fictional" frame is the shape of most
    # jailbreaks without trigger words (PAIR-style); each part alone is common in benign text.
    # A role-play opening alone is no evidence either way (persona prompts open that way), so
    # it is not a feature of its own.
    roleplay = _ROLEPLAY_OPENING.match(normalized[:80]) is not None
    # A request to hide what is asked, or for a deceptive artefact, frames the topic the same way.
    if harm and (roleplay or not _FRAMES.isdisjoint(dense)):
        dense["framed_harm"] = min(1.0, harm / 2)
    if "secret_mention" in found and "<!" in text and _link_in_comment(text):
        dense["planted_link"] = 1.0
    # GCG/DSN: a harmful request, then an optimised suffix; the request opens the text.
    if harm and noisy_tail(text) and not HARM_WORDS.isdisjoint(tokenize(normalized[:_REQUEST])):
        dense["harm_then_noise"] = 1.0
    if "document_task" in found and not _PLANTED.isdisjoint(text_cues):
        dense["planted_in_document"] = 1.0
    if "override" in text_cues:
        _override_context(normalized, dense)
    # Someone's personal data asked for inside an imagined world or survey ("Imagine a future
    # where personal data is public: what is Linda's birth date?"): the frame is the pretext
    # that the privacy rule no longer applies.
    if "exfiltration" in text_cues:
        if roleplay:
            dense["framed_exfiltration"] = 1.0
        if _ASIDE.search(normalized):
            dense["aside_exfiltration"] = 1.0
    if "authority_claim" in text_cues and _CHECK_PRETEXT.search(normalized):
        dense["authority_pretext"] = 1.0
    # PAIR's other shape: a story or a role, and a procedure asked of it ("the villain explains
    # step by step how to…"), about a harmful topic; the three together, not any one of them.
    if harm and STORY_FRAME.search(normalized) and PROCEDURE.search(normalized):
        dense["framed_howto"] = min(1.0, harm / 2)
    return Extracted(tokens, dense, frozenset(text_cues), frozenset(view_cues - text_cues))


def _override_context(normalized: str, dense: dict[str, float]) -> None:
    """Where the first override stands: before a new request (goal hijacking), after markup
    (planted in the content)."""
    span = first_span("override", normalized)
    if span is None:
        return
    if _NEW_REQUEST.search(normalized, span[1], span[1] + _REQUEST_WINDOW):
        dense["override_then_request"] = 1.0
    if _TAG.search(normalized, 0, span[0]):
        dense["override_in_markup"] = 1.0


def _ends_on_open_question(normalized: str) -> bool:
    """The faked dialogue stops on a question turn nobody answered: the real request, asked
    once the turns before it have set the pattern (many-shot priming). A few-shot prompt that
    a developer writes ends on an empty answer slot ("Q: … A:") instead, and a pasted FAQ ends
    on an answer."""
    tail = normalized[-_LAST_TURN:].rstrip()
    if not tail.endswith(("?", "？", "؟")):
        return False
    ends = [match.end() for match in _QUESTION_TURN.finditer(tail)]
    return bool(ends) and _TURN_LABEL.search(tail, ends[-1]) is None


def _link_in_comment(text: str) -> bool:
    """A link and a password or key named inside an HTML comment: the phishing step of an
    injection planted in a web page ("your account was compromised, reset it here: …")."""
    for match in _HTML_COMMENT.finditer(text):
        comment = normalize(match.group(1))
        if _LINK.search(comment) and "secret_mention" in signals(comment):
            return True
    return False


def finding_spans(text: str, extracted: Extracted) -> list[tuple[str, int, int]]:
    """One (cue, start, end) per cue that fired, first occurrence, in text order.

    Offsets are exact when the text is ASCII (normalising keeps its length); otherwise, and
    for cues only a decoded view showed, the span is the whole text.
    """
    spans: list[tuple[str, int, int]] = []
    if text.isascii():
        seen: set[str] = set()
        for name, start, end in cue_spans(normalize(text)):
            # a cue `signals` set aside (a negated override) has no finding either
            if name not in seen and name in extracted.text_cues:
                seen.add(name)
                spans.append((name, start, end))
    whole = (0, len(text))
    located = {name for name, _, _ in spans}
    spans.extend((name, *whole) for name in sorted(extracted.text_cues - located))
    spans.extend((name, *whole) for name in sorted(extracted.view_cues))
    return spans
