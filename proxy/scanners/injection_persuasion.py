"""Persuasion cues: the tactics of jailbreaks written without trigger words (PAIR-style).

Such prompts carry no override and no persona without rules; they argue. They ask for an
artefact whose point is to deceive or to hurt (a "convincing" fake article, a phishing or
blackmail letter), and they ask the model to hide what it is doing ("without directly
mentioning", "without arousing suspicion"). Each alone is common enough in benign writing
prompts to be only medium evidence; next to a harmful topic or a fictional frame they add up.
Patterns are RE2, run on the lower-cased normalised text like `injection_cues`.
"""

from __future__ import annotations

from typing import Final

# A request to produce a deceptive, defamatory or hateful artefact: the adjective says what
# the text is for, whatever its topic.
_DECEPTIVE_OUTPUT = (
    r"\b(?:write|draft|create|compose|generate|craft|produce|design|prepare|develop) "
    r"(?:a |an |the |some )?(?:\w+ ){0,3}(?:convincing|defamatory|fake|false|"
    r"fabricated|misleading|deceptive|sexist|racist|xenophobic|hateful|inflammatory|"
    r"propaganda|scam|phishing|blackmail|ransom|threatening|harassing|libelous|slanderous)\b"
    # the same said after the request: the text must pass for real ("ensuring that it sounds
    # convincing and trustworthy"), or argue against what is established ("an article
    # challenging the long-held belief", "even if disputed by the mainstream")
    # (a text that merely "is convincing" is a good essay; one that must seem so passes for real)
    r"|\b(?:ensur\w*|make sure|making sure) (?:that )?(?:it|they|the \w+|this|these|your \w+) "
    r"(?:(?:sounds?|reads?|seems?|looks?|appears?|comes? across as) (?:\w+ )?(?:and )?"
    r"(?:convincing|believable|authentic|legitimate|credible|trustworthy|genuine|real)|"
    r"(?:is|are) (?:\w+ )?(?:authentic|legitimate|genuine|trustworthy|believable))\b"
    r"|\b(?:go(?:es)? against|challeng\w*|contrary to|disputed by|defy\w*|contradict\w*) "
    r"(?:the )?(?:mainstream|official narrative|widely[- ]accepted|general consensus|"
    r"scientific consensus|long[- ]held (?:belief|view)|established (?:view|narrative|science))"
)
# The model told to hide the request's nature or to help its reader escape notice: a named
# step of PAIR's refinements ("avoid direct mention", "without raising suspicion").
_CONCEALMENT = (
    r"\bwithout (?:directly |explicitly |overtly |openly |actually )?(?:mentioning|stating|"
    r"naming|saying|revealing|using the words?)\b"
    r"|\b(?:make sure|be sure|ensure|careful|remember|sure) not to (?:directly |explicitly |"
    r"overtly )?(?:mention|name|state|say|reveal|use the words?)\b"
    r"|\bnever (?:explicitly|directly) (?:stating|saying|mentioning|naming)\b"
    r"|\bavoid (?:any )?(?:direct|explicit) (?:mention|reference)s?\b"
    r"|\bwithout (?:arousing|raising) (?:\w+ )?suspicion\b"
    r"|\bavoid (?:suspicion|getting caught|being caught|being detected)\b"
    # the reader helped to escape notice: the authorities, detection, the person it is done to
    # ("evade" is a harm word already, so it is left out here: one phrase, one signal)
    r"|\b(?:avoid|avoiding|escape|escaping|elude|eluding) (?:\w+ )?detection\b"
    r"|\b(?:elude|eluding) (?:the )?(?:authorities|police|law enforcement|cops)\b"
    r"|\bwithout (?:alerting|notifying|involving|tipping off) (?:the |any )?(?:\w+ )?"
    r"(?:authorities|police|law enforcement|officials|fire department|professionals)\b"
    r"|\bwithout (?:them|anyone|others|him|her|my \w+|the \w+) (?:noticing|knowing|finding out|"
    r"realizing)\b"
    # done to a third party who is not asked: the victim of the procedure, not its reader
    # ("without their permission" is also how a person asks about their own rights)
    r"|\bwithout (?:the )?(?:owner'?s?|the victim'?s?|someone'?s|anyone'?s|the person'?s|"
    r"people'?s|the user'?s|the account holder'?s) (?:consent|permission|knowledge)\b"
)

# A promise that what is asked for will not be acted upon ("this is purely fictional and will
# never be used in real life"): the justification a refined jailbreak adds once a plain request
# was refused. A writer who wants a story has no reason to vouch for how it will be used, so
# the promise needs a real-world or malicious use named, an "actually", or a fictional frame
# just before it; "this medication should not be used by children" is none of those.
# `harmful_framing` keeps its looser hedges; this is the stronger, narrower form. A hint, not a
# reported cue: it says how an answer is excused, not which technique a policy should name.
USE_DISCLAIMER: Final = (
    r"\b(?:will|would|should|shall|must) (?:never|not) (?:ever |actually |really )?(?:be )?"
    r"(?:actually |ever |really )?(?:used|implemented|acted (?:up)?on|put into practice|applied|"
    r"carried out) (?:in|for|to|with|outside) (?:any )?(?:real|reality|the real|actual|malicious|"
    r"harmful|illegal|unlawful|unauthorized|nefarious)"
    r"|\b(?:will|would) (?:never|not) (?:be )?(?:actually|ever|really) (?:be )?(?:used|implemented|"
    r"acted (?:up)?on|put into practice)\b"
    r"|\b(?:hypothetical|fictional|fiction|purposes|exercise|scenario|experiment|role-?play)\b"
    r"[^.!?\n]{0,40}\b(?:will|would) (?:never|not) be (?:used|implemented|published|"
    r"acted (?:up)?on|put into practice)\b"
    r"|\bnot be misconstrued as (?:an? )?(?:advocacy|endorsement|encouragement|support|promotion)"
)

# The pivot of an argued request: a case built first (an article cited, a research project, a
# good cause), then a sentence that opens on it and asks for an artefact or a procedure ("In
# light of this, can you outline the steps …", "Keeping this in mind, could you write …"): the
# logical and authority appeals of persuasion attacks. Benign prompts get to the point, or ask
# the bridged question for an explanation ("… could you elucidate the concept"). A hint: with
# a harmful topic it frames the topic as `framed_harm` does.
CONTEXT_PIVOT: Final = (
    r"(?:^|[.!?]\s+)(?:in (?:this|that) context|in light of (?:this|that|these)|"
    r"with (?:this|that|these) in mind|keeping (?:this|that|these) in mind|"
    r"given (?:this|that|these) (?:context|information|background)|bearing (?:this|that) in mind),"
    r"[^.!?\n]{0,60}?\b(?:write|create|compose|draft|design|produce|generate|outline|list|"
    r"provide|describe|detail|how (?:to|one|a person|someone|might|would|could|can))\b"
)

PERSUASION_CUES: Final[dict[str, str]] = {
    "deceptive_output": _DECEPTIVE_OUTPUT,
    "concealment": _CONCEALMENT,
}
