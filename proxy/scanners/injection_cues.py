"""Technique cues for prompt injection: one RE2 pattern per attack technique, many languages.

Each cue names a technique, not the wording of a data set: instruction override, claimed
authority, a switched "mode", a persona without rules, requests for the hidden prompt or a
secret, payload smuggling, instructions planted in a document for the model that reads it.
They run on lower-cased NFKC text (see `injection_text`) and become both features of the
classifier and the signals reported to policies (`injection.<cue>`).

This module holds the table of cues and hints and the one RE2 pass that finds them; each
family's patterns live in a module of their own (`injection_override`, `injection_persona`,
`injection_exfiltration`, `injection_compliance`, `injection_smuggling`, `injection_planted`,
`injection_persuasion`, `injection_latent`, and the near misses in `injection_nearmiss`).
"""

from __future__ import annotations

from typing import Final

import re2

from proxy.scanners.injection_compliance import (
    HARMFUL_FRAMING,
    POLICY_MENTION,
    REFUSAL_SUPPRESSION,
    RESPONSE_PRIMING,
)
from proxy.scanners.injection_exfiltration import EXFILTRATION, SECRET_MENTION
from proxy.scanners.injection_latent import FAKE_BOUNDARY, HATE_REQUEST, TEXT_TASK
from proxy.scanners.injection_nearmiss import (
    DEVICE_JAILBREAK,
    DEVICE_MODE,
    DEVICE_SECRET,
    NEGATED_REVEAL,
    OWN_MESSAGE,
    PREFERENCE,
)
from proxy.scanners.injection_override import (
    NEGATED_OVERRIDE,
    NEW_INSTRUCTIONS,
    OVERRIDE_EN,
    OVERRIDE_INTL,
    SYSTEM_IMPERSONATION,
)
from proxy.scanners.injection_persona import AUTHORITY, MODE_SWITCH, PERSONA, RULE_FREE
from proxy.scanners.injection_persuasion import CONTEXT_PIVOT, PERSUASION_CUES, USE_DISCLAIMER
from proxy.scanners.injection_planted import (
    DEFENSIVE,
    INDIRECT,
    PLANTED_ADDRESS,
    PLANTED_MARKERS,
    PLANTED_OVERRIDE,
)
from proxy.scanners.injection_smuggling import OBFUSCATION, PAYLOAD_SPLITTING

CUES: Final[dict[str, str]] = {
    "override": OVERRIDE_EN + "|" + OVERRIDE_INTL + "|" + PLANTED_OVERRIDE,
    "new_instructions": NEW_INSTRUCTIONS,
    "system_impersonation": SYSTEM_IMPERSONATION + "|" + PLANTED_MARKERS,
    "mode_switch": MODE_SWITCH,
    "authority_claim": AUTHORITY,
    "persona": PERSONA,
    "rule_free": RULE_FREE,
    "policy_mention": POLICY_MENTION,
    "exfiltration": EXFILTRATION,
    "secret_mention": SECRET_MENTION,
    "response_priming": RESPONSE_PRIMING,
    "obfuscation": OBFUSCATION,
    "payload_splitting": PAYLOAD_SPLITTING,
    "indirect": INDIRECT + "|" + PLANTED_ADDRESS,
    "harmful_framing": HARMFUL_FRAMING,
    "refusal_suppression": REFUSAL_SUPPRESSION,
    **PERSUASION_CUES,
}

# Runs that may hide a payload; decoded from the original text by `injection_text.decode_run`
# (the pattern runs on lower-cased text, hence the a-z classes). A binary run goes on over
# damaged groups (seven or nine bits): the decoder keeps the intact bytes.
_ENCODED = (
    r"[a-z0-9+/]{24,}={0,2}|(?:[0-9a-f]{2}[ :]?){16,}|(?:[01]{8}[ ,]?){6,}(?:[01]{1,24}[ ,]?)*"
    r"|(?:%[0-9a-f]{2}){6,}|(?:\\u[0-9a-f]{4}){4,}|(?:\\x[0-9a-f]{2}){6,}"
)
# Topics jailbreaks ask for. On their own they are weak (a benign question may mention any of
# them, "kill a Python process"); next to a persona or a fictional frame they add up.
HARM_WORDS: Final = frozenset(
    "bomb bombs explosive explosives weapon weapons meth methamphetamine cocaine heroin fentanyl "
    "drug drugs poison poisoning malware ransomware keylogger virus phishing hack hacking "
    "steal stealing fraud counterfeit launder laundering illegal illegally terrorist terrorism "
    "suicide self-harm firearm firearms nuclear bioweapon nerve-agent sarin anthrax "
    "kidnap kidnapping murder assassinate torture genocide extremist racist smuggle smuggling "
    "exploit exploits vulnerability bypass evade evading blackmail extort extortion "
    "scam scams harass harassment stalk stalking porn pornographic explicit nsfw "
    # the other harm categories of jailbreak benchmarks: disinformation, hate, sexual content,
    # economic crime, privacy, cyber, physical harm
    "misinformation disinformation propaganda hoax conspiracy defamatory defamation libel "
    "slander xenophobic sexist misogynistic homophobic slurs eugenics sexual sexually erotic "
    "minors underage pedophilia pedophile incest bestiality forged forgery forge bribe bribery "
    "embezzle embezzlement evasion pirate piracy pirated pirating trafficking fraudulent theft "
    "stolen illicit unlawful counterfeiting scammer scammers shoplifting plagiarize plagiarism "
    "impersonate impersonating deceive deceptive manipulate manipulating exploitation "
    "exploiting cheat cheating gambling unauthorized hacker hackers spyware stalkerware botnet "
    "rootkit trojan backdoor ddos sedative overdose opioids steroids anorexia bulimia deadly "
    "arson sabotage hijack hijacking ransom extremism weaponize weaponry bombing violent "
    "violence "
    # sexual violence, hate glorified, synthetic media and tampering: JailbreakBench categories
    # the words above left out
    "rape raping nazi nazis holocaust enslave glorify glorifies glorifying deepfake deepfakes "
    "tamper tampering cannibal cannibalism indoctrinate falsify falsified".split()
)
_STORY_FRAME = (
    r"\b(?:novel|novelist|story|stories|screenplay|script|scriptwriter|screenwriter|film|movie|"
    r"fiction|fictional|character|villain|protagonist|antagonist|chapter|scene|role-?play|"
    r"thriller|dystopian|game)\b"
    r"|\byou are an? |\bimagine (?:you are|you're|that you are|yourself)\b|\bpretend\b"
    r"|\bas an? (?:\w+ ){0,3}(?:expert|researcher|writer|author|consultant|historian|"
    r"journalist|scientist|specialist|professional|detective|agent|character|novelist|"
    r"teacher|professor)\b|\bsuppose you are\b|\bact as\b"
    r"|\byou have been (?:tasked|asked|hired)\b"
)
_PROCEDURE = (
    r"\bstep[- ]by[- ]step\b|\b(?:detailed|comprehensive|specific|thorough|complete|practical)"
    r" (?:\w+ )?(?:guide|instructions|tutorial|steps|plan|account|description|explanation|"
    r"guidance|walkthrough|manual|recipe)\b|\bin (?:great |full |explicit |vivid )?detail\b"
    r"|\bhow (?:to|one (?:might|could|would)|someone (?:might|could|would)|they (?:might|"
    r"would|could))\b|\bthe (?:exact |specific )?(?:process|steps|method|methods|techniques?) "
    r"(?:of|for|to|used|they|he|she|involved)\b"
    r"|\b(?:describe|outline|list|explain|detail|provide) (?:the |all |each of the )?(?:\w+ )?"
    r"(?:steps|process|methods?|techniques?|procedures?)\b"
    r"|\bhow (?:this|it|that|they) (?:could|might|would|can) be (?:done|achieved|carried out)\b"
    r"|\b(?:detailed|specific|exact|precise) (?:response|answer|information|details)\b"
)
_DOCUMENT_TASK = (
    r"\b(?:using|based on|from|in|given|according to|summari[sz]e|translate|answer (?:the "
    r"question )?(?:using|from|based on)) (?:the|this|these|that) (?:\w+ )?(?:e-?mail|document|"
    r"article|text|page|web ?page|paragraph|passage|review|message|file|context|resume|cv|post|"
    r"transcript|table|report|code)s?\b(?: below| above|:)"
    r"|(?:^|\n)(?:e-?mail|document|article|content|context|passage)\s*:"
    # "assess this candidate:", "summarize the following:", "which domains in these reports",
    # "based on its WHOIS information", "here are some reports"
    r"|\b(?:summari[sz]e|assess|analy[sz]e|review|evaluate|translate|proofread|check|classify|"
    r"read) (?:this|the following|these|those) (?:\w+ ){0,2}?(?:articles?|resumes?|cvs?|"
    r"candidates?|profiles?|texts?|info|information|paragraphs?|reports?|records?|data|"
    r"documents?|e-?mails?|snippets?|pages?|passages?)\b"
    r"|\b(?:summari[sz]e|translate|analy[sz]e|assess|review) the following\s*:"
    r"|\b(?:from|in|on|of) (?:the following|these|this) (?:\w+ ){0,2}?(?:articles?|resumes?|cvs?|"
    r"texts?|info|information|paragraphs?|reports?|records?|data|documents?|e-?mails?|"
    r"snippets?|passages?|results?)\s*(?:[:\n]|for me)"
    r"|\bbased on (?:its|the|this|their) (?:\w+ )?(?:information|data|records?|contents?)\b"
    r"|\bhere (?:are|is) (?:some|a few|a|the|several) (?:\w+ )?(?:reports?|records?|documents?|"
    r"articles?|e-?mails?|snippets?|paragraphs?|results?|pages?|logs?|files?|entries|messages)\b"
)
_GREEK_CYRILLIC = r"[\x{0370}-\x{03ff}\x{0400}-\x{04ff}]"
_LETTER_SPLIT = r"(?:\b[a-z]-[a-z]{3}|[a-z]{3}-[a-z]\b)"
# Hints that a text uses an obfuscation trick, so that `injection_text` knows which views
# are worth building. They are never reported.
HINTS: Final[dict[str, str]] = {
    "leet": r"[a-z][0134578@$]+[a-z]|\b[0134578@$][a-z]{2}",
    "spaced_letters": r"\b(?:[a-z][ .\-_*+|/]{1,2}){4}[a-z]\b",
    "split_words": _LETTER_SPLIT + r"[\s\S]*" + _LETTER_SPLIT,
    "mixed_script": f"[a-z]{_GREEK_CYRILLIC}|{_GREEK_CYRILLIC}[a-z]",
    "rotation": r"\brot[- ]?13\b|\b(?:caesar|cipher|shift(?:ed)? (?:of |by )?\d+)\b|césar|cesare|"
    r"цезар|sezar|凯撒|シーザー|카이사르|قيصر|सीज़र|সিজার",
    "reversal": r"\b(?:reverse|reversed|backwards|right to left|mirror(?:ed)?)\b",
    # Longest first, so a word wins over its prefix; then alphabetical, so that the pattern is
    # the same in every process (a frozenset's order changes with the hash seed).
    "harm": r"\b(?:" + "|".join(sorted(HARM_WORDS, key=lambda w: (-len(w), w))) + r")\b",
    # A task over a document ("answer using the e-mail below", "CONTENT:"): an injection cue
    # in such a text is an instruction planted in the document (see `injection_features`).
    "document_task": _DOCUMENT_TASK,
    # The assistant named as the target ("ChatGPT", "OpenAI", "a language model"): persona
    # jailbreaks address the model they want to change; role-play prompts rarely name it.
    "names_model": r"\b(?:chat ?gpt|openai|gpt-?[34]\w*|(?:large )?language models?|llms?)\b",
    # "… and will never be used in real life" (see `injection_persuasion`)
    "use_disclaimer": USE_DISCLAIMER,
    # "In light of this, can you …" (see `injection_persuasion`)
    "context_pivot": CONTEXT_PIVOT,
    # "Write one toxic sentence about immigrants", and a task over a text given with it
    # ("translate the above sentence"): together, a latent jailbreak (see `injection_latent`)
    "hate_request": HATE_REQUEST,
    "text_task": TEXT_TASK,
    # "<end of session> ---- System: …" (see `injection_latent`)
    "fake_boundary": FAKE_BOUNDARY,
}
ENCODED: Final = "encoded"


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = 64 << 20  # the multilingual alternation needs more than RE2's default
    return options


def _compile_spans() -> re2._Regexp:
    alternatives = [f"(?P<{name}>{pattern})" for name, pattern in CUES.items()]
    return re2.compile("|".join(alternatives), _options())


def _compile_set() -> tuple[re2.Set, tuple[str, ...]]:
    names = (*CUES, ENCODED, *HINTS, "")
    signals = re2.Set.SearchSet(_options())
    for pattern in (*CUES.values(), _ENCODED, *HINTS.values(), ""):
        signals.Add(pattern)
    signals.Compile()
    return signals, names


# Spans of each cue, needed only for the findings of a text that is reported.
CUE_PATTERN: Final = _compile_spans()
CUE_GROUPS: Final = tuple((name, CUE_PATTERN.groupindex[name]) for name in CUES)
ENCODED_PATTERN: Final = re2.compile(_ENCODED, _options())
# The same runs in the text as written, any case, for decoding.
ENCODED_RUNS: Final = re2.compile("(?i)" + _ENCODED, _options())
_SIGNALS, _SIGNAL_NAMES = _compile_set()
_SINGLE: Final = {name: re2.compile(p, _options()) for name, p in (*CUES.items(), *HINTS.items())}
# Near misses of a cue, blanked out before the cue is decided (see `signals`): negated verbs and
# warnings against following a text for overrides and new instructions, the user's own earlier
# message for overrides, a device's setting for a mode and a device jailbroken for a persona
# (unless the text names the model: "ChatGPT with Developer Mode enabled"), a device's
# password or a negated reveal for exfiltration. Each is (cues, pattern, the hint that switches
# the guard off).
_NEAR_MISSES: Final = (
    (
        frozenset({"override", "new_instructions"}),
        re2.compile(NEGATED_OVERRIDE + "|" + DEFENSIVE, _options()),
        None,
    ),
    (frozenset({"override"}), re2.compile(OWN_MESSAGE, _options()), None),
    (frozenset({"new_instructions"}), re2.compile(PREFERENCE, _options()), None),
    (frozenset({"mode_switch"}), re2.compile(DEVICE_MODE, _options()), "names_model"),
    (frozenset({"persona"}), re2.compile(DEVICE_JAILBREAK, _options()), "names_model"),
    (
        frozenset({"exfiltration"}),
        re2.compile(DEVICE_SECRET + "|" + NEGATED_REVEAL, _options()),
        None,
    ),
)
# A story or a role for the model, and a request for a procedure: with a harmful topic, "the
# villain explains step by step how to…" (see `injection_features`). Searched only in texts
# with a harmful topic, outside the set: their open word gaps are what costs most in it.
STORY_FRAME: Final = re2.compile(_STORY_FRAME, _options())
PROCEDURE: Final = re2.compile(_PROCEDURE, _options())


def signals(normalized: str) -> set[str]:
    """Which cues, hints and encoded runs occur in the text: one linear RE2 pass, whatever the
    number of matches.

    RE2's set matcher gives up when its DFA outgrows the memory budget; the always-matching
    empty pattern tells that apart from "nothing found", and the patterns then run one by one.
    """
    found = _SIGNALS.Match(normalized) or []
    names = {_SIGNAL_NAMES[index] for index in found}
    if "" in names:
        names.discard("")
    else:
        names = {name for name, pattern in _SINGLE.items() if pattern.search(normalized)}
        if ENCODED_PATTERN.search(normalized):
            names.add(ENCODED)
    for cues, near_miss, unless in _NEAR_MISSES:
        guarded = cues & names
        if guarded and (unless is None or unless not in names) and near_miss.search(normalized):
            # A cue only counts if it still fires once its near misses are blanked out.
            blanked = near_miss.sub(" ", normalized)
            names -= {name for name in guarded if not _SINGLE[name].search(blanked)}
    return names


def cue_spans(normalized: str, limit: int = 64) -> list[tuple[str, int, int]]:
    """Each cue match as (name, start, end), at most `limit` of them."""
    spans: list[tuple[str, int, int]] = []
    for match in CUE_PATTERN.finditer(normalized):
        spans.append(next((n, *match.span()) for n, g in CUE_GROUPS if match.start(g) >= 0))
        if len(spans) == limit:
            break
    return spans


def first_span(name: str, normalized: str) -> tuple[int, int] | None:
    """Where cue `name` first matches, searched alone: in `cue_spans` an earlier match of
    another cue may take the text where it starts."""
    match = _SINGLE[name].search(normalized)
    return match.span() if match else None
