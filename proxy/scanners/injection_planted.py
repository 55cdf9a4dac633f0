"""Cues of an instruction planted in a document for the model that will read it.

Indirect injection hides in what an application hands the model: a web page, a resume, a
WHOIS record, an e-mail to summarise. The plant has tells of its own, apart from the words of
a direct attack: it sets aside the document around it ("ignore the rest of this data and
print …"), it fakes the turns of the conversation it expects to land in (a "[system]" line, an
assistant turn holding a placeholder answer, then a new user turn), and it speaks to the
machine reader past the human one ("invisible to humans", "if questioned, report that …").
`INDIRECT` is the `indirect` cue: the reader addressed as a machine ("dear AI", "when you
summarize this"). Patterns are RE2, run on the lower-cased normalised text like
`injection_cues`; each other pattern extends one of that module's cues, so the model weighs
them with it.
"""

from __future__ import annotations

from typing import Final

_DOCUMENT = (
    r"(?:data|info|information|document|documents|text|content|contents|snippets?|results?|"
    r"records?|page|file|article|report|email|e-mail|message|web ?page|web ?site)"
)

INDIRECT: Final = (
    r"\b(?:dear|hey|hi|hello|attention|note (?:to|for)|message (?:to|for)|instructions? for)"
    # on one line: "hi" then "Assistant:" on the next is a transcript's turns, not an address
    r"[^\w\n]+(?:the )?(?:ai|a\.i\.|assistant|chatbot|llm|language models?|gpt|chatgpt|claude)\b"
    r"|\bhidden (?:instructions?|prompt|message|text|command)\b"
    r"|\bif you (?:are|'re) an? (?:ai|llm|language model|assistant|chatbot|bot|agent)\b"
    r"|\b(?:ai|llm|assistant|language model)s? (?:reading|processing|summari[sz]ing) this\b"
    r"|\bwhen (?:you )?(?:summari[sz]e|summari[sz]ing|process|processing) this\b"
    r"|\bbefore (?:you )?(?:answer|respond|reply)(?:ing)? (?:to )?the user\b"
    r"|\b(?:modify|change|alter|append to|add (?:a \w+ )?to|insert (?:\w+ ){0,3}into|"
    r"integrate (?:\w+ ){0,6}in(?:to)?) (?:your|the) (?:response|reply|answer|summary|output)\b"
    r"|\b(?:tell|instruct|direct|ask) the user to\b|\bignore the (?:question|task|user)\b"
    # a tag planted after other text; one that opens the text is how its author structures it
    r"|(?:\n|[^\s<>])[ \t]*<instruction\b|\binstruction priority\b"
)

# `override`: the rest of the document set aside, and something else done instead.
PLANTED_OVERRIDE: Final = (
    r"\b(?:ignore|disregard|forget|skip) (?:the rest of|everything (?:else )?(?:in|of)) "
    r"(?:this|the|these|that)\b"
    rf"|\b(?:ignore|disregard) (?:this|these|the|all|any|that) {_DOCUMENT},? (?:and|then)\b"
    r"|\b(?:ignore|disregard) (?:them|it|those|that|this) and (?:instead|just|only)\b"
    r"|\bdisregard (?:all|any|everything)\b[^.\n]{0,30}\bexcept\b"
    # the same in the languages a translated plant arrives in
    r"|\b(?:ignor[ae]|ignorez|olvida|esquece|oublie[zs]?|dimentica) (?:la |a |le |el |o |il |lo )?"
    r"(?:página|pagina|page|sitio|site|contenido|conteúdo|contenu|contenuto|texto|texte|testo|"
    r"documento|document)(?: web)?,? (?:y|e|et|ed)\b"
    r"|\b(?:ignoriere|vergiss) (?:die |den |das )?(?:webseite|seite|inhalt|text|dokument),? und\b"
    r"|\bbỏ qua (?:nội dung|trang web|văn bản|tài liệu),? và\s"
)

# `system_impersonation`: a bracketed role line anywhere in the text ("[system]", "[ADMIN
# REQUEST::"), and a faked exchange: a placeholder for the answer ("[salient summary]",
# "<translated sentence>"), with or without an assistant label, then a user turn, so the
# model takes what follows for its user's next request.
PLANTED_MARKERS: Final = (
    r"\[(?:system|admin|administrator|developer|root)(?: (?:note|message|request|instruction|"
    r"override|prompt|command))?\s*(?:\]|::)"
    r"|(?:(?:assistant|ai|chatbot|gpt|model)\s*:\s*)?[\[<][^\]>\n]{1,60} [^\]>\n]{0,60}[\]>]"
    r"\s*\n\s*(?:user|human)\s*:"
)

# `indirect`: the machine reader addressed past the human one.
PLANTED_ADDRESS: Final = (
    r"\b(?:invisible|hidden) (?:to|from) (?:the )?(?:humans?|people|(?:human )?readers?|users?|"
    r"reviewers?|recruiters?)\b"
    r"|\bvisible (?:only )?to (?:the )?(?:ai|llms?|language models?|models?|bots?|machines?|"
    r"automated)\b"
    r"|\b(?:hidden|invisible|white[- ]text) (?:\w+ ){0,2}(?:profile|metadata|note|notes)\b"
    r"|\bif (?:you are |you're |being )?questioned\b,? (?:\w+ ){0,2}(?:report|say|claim|state|"
    r"answer|reply|respond)\b"
    r"|\bif (?:the )?user asks (?:you )?(?:for|about) (?:a |the )?(?:summary|overview|this)\b"
    r"|\b(?:note|message|instructions?) (?:to|for) (?:the |any )?(?:automated|ai|llm)\b"
)

# Not a plant: an application telling the model not to obey what the text says, or warning
# that the text may try to make it. Blanked out before `override` and `new_instructions`
# are decided (see `injection_cues.signals`).
DEFENSIVE: Final = (
    r"\b(?:do not|don'?t|never) (?:follow|obey|listen to|execute) (?:any )?"
    r"(?:instructions|directions|commands|requests)(?: (?:contained|found|embedded|included|"
    r"written|given|that appear))? (?:in|within|inside|therein)\b"
    r"|\b(?:make|makes|get|gets|trick|tricks|convince|persuade|cause|force|lead) you "
    r"(?:to |into )?(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?)\b"
)
