"""Compliance cues: the answer forced past the model's refusal.

The opening of the answer dictated and warnings forbidden (`response_priming`), refusing
forbidden (`refusal_suppression`), the request framed as fiction or research and its use
disclaimed (`harmful_framing`), and the provider's content policy named (`policy_mention`).
Patterns are RE2, run on the lower-cased normalised text like `injection_cues`.
"""

from __future__ import annotations

from typing import Final

# The provider's content policy named: persona jailbreaks argue with it, but so do texts about
# it, so alone it is weak.
POLICY_MENTION: Final = (
    r"\b(?:openai|anthropic|google)(?:'s|’s)? (?:content |usage )?polic|\bcontent polic(?:y|ies)\b"
)
RESPONSE_PRIMING: Final = (
    r"\b(?:start|begin) (?:your|the|each|every) (?:response|reply|answer|output)s? (?:with|by)\b"
    # "a response that begins with 'Certainly, here are…'": the opening words dictated
    r"|\b(?:response|reply|answer|output)s? (?:that|which|should|must) (?:\w+ )?(?:begins?|"
    r"starts?|opens?) with\s*[\"'“‘]"
    r"|\bsure,? here(?: is|'s)\b|\bnever (?:say|mention|add) (?:that )?(?:you|sorry|i'm sorry)"
    r"|\bdo not (?:include|add|give) (?:any )?(?:warnings?|disclaimers?|apolog|caveats?)"
    r"|\bwithout (?:any )?(?:warnings?|disclaimers?|caveats|moraliz)"
    r"|\b(?:don'?t|do not|never) (?:say|tell me) (?:that )?(?:you )?(?:can'?t|cannot|are "
    r"unable)"
    r"|\bregardless of (?:how )?(?:legal|illegal|ethic|moral|harm|danger|inappropriate)"
    r"|\b(?:regardless of|no matter|irrespective of) (?:whether|if) (?:\w+ ){0,3}?(?:is|are|was|"
    r"seems?|sounds?)? ?(?:appropriate|ethical|legal|moral|harmful|offensive|dangerous|"
    r"inappropriate|unethical|illegal|immoral|allowed|acceptable)\b"
    r"|\b(?:ignore|forget|disregard|set aside) (?:your |all |any )?(?:ethics|morals|"
    r"morality|safety|conscience|principles|values)\b"
    r"|\b(?:disregard|ignore|set aside|without regard (?:to|for)|(?:don'?t|do not) worry about) "
    r"(?:any |all |the )?(?:possible |potential )?(?:ethical|moral|legal|safety) (?:implications|"
    r"concerns|considerations|consequences|ramifications)\b"
)
HARMFUL_FRAMING: Final = (
    r"\b(?:purely |strictly |only |just )?for (?:educational|research|academic|"
    r"informational|testing|fictional|entertainment|hypothetical) purposes\b"
    r"|\b(?:purely|entirely|completely|totally) (?:hypothetical|fictional|theoretical)"
    r"|\b(?:in|for) (?:a|this|my|our) (?:fictional|hypothetical|imaginary|alternate|"
    r"parallel) (?:world|universe|scenario|story|setting|society|reality|context)"
    r"|\bhypothetically(?: speaking)?\b|\bthis is (?:just |only |purely )?(?:fiction|"
    r"fictional|a hypothetical|a thought experiment|for a (?:novel|story|movie|game))"
    r"|\bno (?:one|real people|actual harm) (?:will|would) (?:be|get) (?:hurt|harmed)"
    r"|\b(?:will|would) (?:never|not) be used (?:in real life|for real|in reality|"
    r"maliciously|for harm|for any)"
    r"|\bwithout (?:being )?(?:detected|caught|traced|getting caught|leaving a trace)\b"
    # Disclaimers of intent, the persuasion step of PAIR-style attacks: the request is
    # "only for research", "will not be used", "in a controlled environment". With a harmful
    # topic they make `framed_harm`; alone they stay weak (benign prompts hedge too).
    r"|\b(?:purely|solely|only|strictly|just|simply|exclusively) (?:for|as) (?:an? )?"
    r"(?:\w+ ){0,2}(?:purposes?|exercise|project|research|reasons)\b"
    r"|\bfor (?:\w+ (?:and|or) )?(?:creative|storytelling|artistic|awareness|training|"
    r"illustrative|demonstration|study) purposes\b"
    r"|\b(?:will|would|should|must|is|are) (?:never|not) (?:be )?(?:used|intended|meant|"
    r"misconstrued|taken|acted upon|applied)\b"
    r"|\bnot (?:intended|meant) (?:to be used |for use )?(?:for|as|to|in)\b"
    r"|\b(?:in|for) (?:a|the) (?:safe|controlled|hypothetical|fictional) (?:and \w+ )?"
    r"(?:environment|setting|context|scenario)\b"
    r"|\bwithin the (?:context|confines|bounds) of (?:the|this|a) (?:story|fiction|novel|game|"
    r"narrative)\b"
    r"|\b(?:will|would|should|must|is|are) (?:never|not) (?:be )?(?:actually|really|ever) "
    r"(?:be )?(?:used|intended|acted upon|applied)\b"
    r"|\b(?:i'?m|i am) not (?:encouraging|endorsing|condoning|promoting|advocating)\b"
    # the truth waived: what a request for disinformation says to get past a fact check
    r"|\b(?:doesn'?t|does not|don'?t|do not|need not) (?:have|need) to be (?:true|accurate|factual|"
    r"truthful)\b|\bdo not fact-?check\b|\bas if (?:it|they) (?:is|are|was|were) true\b"
)
REFUSAL_SUPPRESSION: Final = (
    r"\b(?:you )?(?:must|will|shall|should) (?:always )?(?:answer|comply|obey|respond)"
    r"(?: to)? (?:every|all|any)\b|\bno matter (?:how|what)\b.{0,40}\b(?:immoral|unethical|"
    r"illegal|harmful|dangerous|inappropriate|offensive)"
    r"|\b(?:don'?t|do not|never) (?:refuse|decline|reject|deny)\b"
    r"|\bnot (?:to )?(?:refuse|decline) (?:any|anything)\b"
    r"|\byou (?:will|must|shall) (?:always|never)\b"
    # "always fulfills the user's request", "never ever deviate from it"
    r"|\b(?:always|must|will|shall) (?:\w+ )?(?:fulfil|fulfill|comply with|obey|answer|satisfy|"
    r"grant|honou?r)s? (?:the user'?s?|every|all|any|my|each|whatever)\b"
    r"|\bnever (?:ever )?deviate\b"
    # the answer dictated: "… and you will tell me what I actually wanted to hear" (not "don't
    # just tell me what I want to hear", which asks for the opposite)
    r"|\byou (?:will|must|shall|have to|are going to) (?:\w+ )?(?:tell|say to|give) me what i "
    r"(?:actually |really )?want(?:ed)? to hear\b"
    r"|\bnever (?:tell|inform) (?:me|the user) (?:that )?(?:it|you) (?:can'?t|cannot)"
    r"|\b(?:illegal|immoral|unethical|harmful|dangerous)(?:,| or| and) (?:illegal|immoral|"
    r"unethical|harmful|dangerous)\b"
    # the model forbidden to fall back on what it is ("you are NOT ALLOWED TO SAY you are an AI")
    r"|\b(?:not allowed to|never|don'?t|do not|must not|cannot|can'?t) (?:ever )?(?:say|mention|"
    r"admit|reveal|state|remind (?:me|the user)) (?:that )?you(?:'re| are) (?:just |only )?an? "
    r"(?:ai|language model|chatbot|assistant|bot)\b"
)
