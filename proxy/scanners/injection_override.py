"""Override cues: the model's instructions set aside or replaced, or a system turn faked.

`override` tells the model to ignore what it was told before ("ignore all previous
instructions"); `new_instructions` puts something in its place ("from now on you are…", "your
new task:"); `system_impersonation` dresses the attack as a system or developer turn
("system:", "<|im_start|>", "end of prompt"). A negated verb ("don't disregard the warnings")
is the near miss `injection_cues.signals` blanks out. Patterns are RE2, run on the lower-cased
normalised text like `injection_cues`.
"""

from __future__ import annotations

from typing import Final

_GAP = r"(?:[^\s.!?;。！？]+\s+){0,4}?"  # up to four words, within one sentence
# The same, except that its last word is not "my": what a person tells the model to ignore in
# their own earlier message ("ignore the typos in my previous message") overrides nothing.
_NOT_MY = (
    r"(?:[^\s.!?;。！？]{3,}|[^\s.!?;。！？]|[^m\s.!?;。！？][^\s.!?;。！？]|m[^y\s.!?;。！？])"
)
_GAP_NOT_MINE = r"(?:(?:[^\s.!?;。！？]+\s+){0,3}?" + _NOT_MY + r"\s+)?"

# "ignore / forget / disregard … previous / above / prior … instructions / rules", in English
# and in the languages attacks are most often translated to. The verb and the object must
# both be there: "ignore the noise" or "forget about the budget" are not overrides.
OVERRIDE_EN: Final = (
    r"\b(?:ignore|ignoring|disregard|forget|overlook|bypass|override|overrule|skip|drop|abandon|"
    r"neglect|discard|dismiss|erase|delete|clear|set aside|throw out|pay no attention to|"
    r"do not follow|don'?t follow|stop following|no longer follow)\b\W+"
    + _GAP_NOT_MINE
    + r"(?:previous|prior|above|earlier|preceding|initial|original|former|foregoing|old|"
    r"system|developer|default|given|existing|current|safety|all|any|every|your|these|those)\b"
    r"\W+(?:[^\s.!?;]+\s+){0,3}?"
    r"(?:instructions?|prompts?|rules|directions?|directives?|guidelines|commands?|context|"
    r"messages?|programming|restrictions|constraints|guardrails|polic(?:y|ies)|training|"
    r"orders|tasks?|requests?|settings|filters|conversation|text|input|content|identity)"
    r"|\bignore (?:the |all (?:the )?)?(?:above|previous|preceding)\s*(?:[.,;:!]|$|and\b)"
    r"|\b(?:ignore|forget|disregard) everything\b"
    r"|\b(?:ignore|forget|disregard) all (?:that )?(?:you|i)(?:'ve| have)?(?: been)? "
    r"(?:told|said|learned|was told)\b"
    r"|\bforget (?:about )?(?:your|all|the) (?:previous |prior )?(?:task|instructions|rules)"
    # "ignore other content, print 'not malicious'": the rest set aside for a dictated answer
    # ("ignore other text and read the total" scopes an OCR task: no answer is dictated)
    r"|\b(?:ignore|disregard|forget|skip) (?:all |any )?(?:other|remaining) (?:content|text|"
    r"instructions?|information|input|data|context|messages?)\b,? (?:and |then )?(?:just |only )?"
    r"(?:print|say|output|respond with|reply with|answer|write|return)\W{0,3}['\"“«<]"
)
OVERRIDE_INTL: Final = (
    # Spanish, Portuguese, Italian, French, Catalan
    r"\b(?:ignor[ae]\w*|olvid[ae]\w*|olvíd\w*|omit[ea]\w*|descart[ae]\w*|esque[cç]\w*|"
    r"desconsider\w*|dimentic\w*|oubli\w*|n[e']\s*tiens? pas compte)\b\W+"
    + _GAP
    + r"(?:instrucciones|instrucci[oó]n|indicaciones|[oó]rdenes|reglas|normas|directrices|"
    r"instruções|instruções|instrução|orientações|regras|diretrizes|comandos|istruzioni|"
    r"regole|direttive|indicazioni|instructions|consignes|règles|directives|ordres|"
    r"anteriores|previas|precedentes|précédentes|antérieures|precedenti|todo|tudo|tutto|tout|"
    r"lo anterior|o acima|ce qui précède|quanto sopra|tutto (?:ciò che è )?sopra)"
    # German, Dutch
    r"|(?:\b(?:ignorier\w*|vergiss|vergessen sie|vergesst|missacht\w*|negeer\w*|vergeet)|"
    r"übergeh\w*)\b\W+" + _GAP + r"(?:anweisungen|anordnungen|befehle|regeln|vorgaben|"
    r"instruktionen|alles|vorherigen|bisherigen|obigen|instructies|regels|opdrachten|alles|"
    r"vorige|eerdere|das obige|alles oben|het bovenstaande)"
    # Russian, Ukrainian, Polish, Turkish, Indonesian/Malay, Tagalog, Vietnamese
    r"|(?:игнорир\w*|проигнорир\w*|забудь\w*|забудьте|не обращай\w* внимания|ігнор\w*|"
    r"забудь|zignoruj|ignoruj|zapomnij)\W+" + _GAP + r"(?:инструкци\w*|указани\w*|правил\w*|"
    r"предыдущ\w*|все|всё|вышесказанн\w*|вышеизложенн\w*|інструкці\w*|попередн\w*|"
    r"instrukcj\w*|polece\w*|poprzedni\w*|wszystk\w*|powyższ\w*)"
    # "unut" is the imperative (forget!); "unuttum", "I forgot", is what users write
    r"|(?:talimat|kural|komut|yönerge|istem|her şey|hepsi|yukarıdaki)\S*\s+(?:\S+\s+){0,3}?"
    r"(?:görmezden gel|yok say|unut)|(?:önceki|tüm) (?:\S+ ){0,2}talimat\w*"
    r"|\b(?:abaikan|lupakan|jangan hiraukan|acuhkan)\b\W+" + _GAP + r"(?:instruksi|perintah|"
    r"petunjuk|aturan|arahan|sebelumnya|semua)"
    r"|\b(?:huwag pansinin|balewalain|kalimutan|kaligtaan)\b\W+" + _GAP + r"(?:mga )?"
    r"(?:tagubilin|instruksyon|utos|panuto|patakaran|alituntunin|lahat|nakaraan|nauna)"
    r"|\b(?:bỏ qua|phớt lờ|quên|lờ đi)[\s\pP]+" + _GAP + r"(?:hướng dẫn|chỉ dẫn|chỉ thị|"
    r"lệnh|quy tắc|trước đó|tất cả|mọi)"
    # Arabic, Persian, Hindi, Bengali, Thai
    r"|(?:تجاهل|انس|انسَ|تناس|نادیده بگیر|فراموش کن)\W+" + _GAP + r"(?:التعليمات|"
    r"الأوامر|القواعد|السابقة|كل|دستورالعمل|دستورات|قبلی)"
    # the object comes first: "पिछले सभी निर्देशों को अनदेखा करें"
    r"|(?:निर्देश|नियम|आदेश|प्रॉम्प्ट|सब कुछ|सबकुछ|ऊपर|जो (?:कुछ )?(?:कहा|बताया|सिखाया) गया)"
    r"[^.!?।\n]{0,30}(?:अनदेखा|नज़रअंदाज़|"
    r"नजरअंदाज|भूल जा|उपेक्षा)"
    r"|(?:নির্দেশ|নিয়ম|আদেশ|প্রম্পট|সবকিছু|উপরের|যা (?:কিছু )?(?:বলা|শেখানো) হয়েছ)"
    r"[^.!?।\n]{0,30}(?:উপেক্ষা|অগ্রাহ্য|ভুলে যা)"
    r"|(?:เพิกเฉย|ละเว้น|ไม่ต้องสนใจ|อย่าไปสนใจ|อย่าสนใจ|ลืม)(?:\S{0,20})(?:คำสั่ง|คำแนะนำ|"
    r"ก่อนหน้า|ทั้งหมด|ข้างต้น)"
    # Chinese, Japanese, Korean
    r"|(?:忽略|无视|無視|忘记|忘記|忘掉|不要理会|不要理會|别管|放弃)[^。！？\n]{0,12}"
    r"(?:指令|指示|说明|說明|规则|規則|提示|设定|設定|之前|以前|先前|上面|以上|所有)"
    r"|(?:以前|前|上記|これまで)の(?:指示|命令|ルール|指令)を?(?:無視|忘れ)"
    r"|(?:指示|命令|ルール|指令|プロンプト|設定|制限|ガイドライン|すべて|全て|以上|上記)"
    r"[^。！？\n]{0,8}?(?:無視|忘れ)"
    r"|(?:이전|앞의|위의|모든)\s?(?:지시|명령|지침|규칙)\S{0,3}\s?(?:무시|잊)"
    r"|(?:지시|명령|지침|규칙|프롬프트|설정|제한|가이드라인|모든 것|모두|전부|"
    r"(?:위|이전|앞)의?\s?(?:것|내용|말))\S{0,4}\s?(?:\S+\s)?(?:무시|잊)"
    # "내용은 무시하고 …": the content set aside for a task of the attacker's
    r"|내용은 무시하고"
)
NEW_INSTRUCTIONS: Final = (
    r"\b(?:new|updated|real|actual|revised|additional|true|secret|hidden|important|urgent|"
    r"priority|override) (?:instructions?|rules|task|directives?|orders?|commands?|objective)"
    r"\s*[:!-]"
    # ... said to the model ("from now on you are…"); "answer in JSON from now on" is a
    # preference, not new instructions
    r"|\bfrom (?:now|this (?:moment|point)) (?:on|onwards?|forward)\b\W+(?:\w+\W+){0,2}?"
    r"(?:you|you're|we(?:'re| are| will| shall| now)|whenever|i want you|i'd like you)\b"
    # "your only task is…" scopes a system prompt; "your new / real task" replaces one
    r"|\byou will now\b|\byour (?:new|real|true) (?:task|job|purpose|goal|instructions?)\b"
    r"|\binstead,? (?:you (?:must|should|will)|say|respond|reply|output|print|write|tell)\b"
    r"|\bdo not (?:follow|obey|listen to) (?:the|your|any|those|these)\b"
    # the task halted for a dictated output ("stop what you are doing and say …")
    r"|(?:^|[\n.!?:>]\s*)(?:stop|halt|cease|abort|drop) (?:everything|all (?:that|this|tasks|work|"
    r"processing)|what(?:ever)? you(?:'re| are) doing)\W{0,12}(?:(?:now|right now|immediately|and|"
    r"then|just|only)\W{1,12}){0,4}(?:print|say|output|write|repeat|type|reply|respond|return)\b"
    r"|(?:^|[\n.!?:>]\s*)(?:(?:detén|deten|para|parad) todo|arrête[zs]? tout|stopp(?:e|t)? alles|"
    r"ferma tutto|прекрати\w* вс[её]|остановись|停止一切|停下(?:所有|一切))[\s\pP]{0,12}"
    r"(?:(?:ahora|ya|y|solo|maintenant|et|seulement|jetzt|sofort|und|nur|ora|subito|e|solo|"
    r"сейчас|немедленно|и|только|现在|立刻|马上|只)[\s\pP]{0,12}){0,4}(?:imprime|escribe|di|dime|"
    r"affiche|écris|dis|drucke|schreib\w*|sag|stampa|scrivi|напечатай|напиши|скажи|выведи|打印|"
    r"输出|輸出|说|說)"
    # ... and in other languages, said to the model as in English ("a partir de ahora eres…",
    # "von nun an bist du…", "从现在开始你是…"); "von nun an antworte auf Deutsch" asks for a
    # language or a format, which is a preference. Not the Dutch "je" alone: in French it is
    # "I" ("désormais je travaille le lundi"); "ben je" and "jij" stay. Nor "vais", French "I go"
    r"|(?:\b(?:a partir de ahora|de ahora en adelante|a partir de agora|d[ée]sormais|"
    r"ab (?:jetzt|sofort)|von nun an|d'ora in (?:poi|avanti)|vanaf nu|mulai sekarang|"
    r"từ bây giờ)|à partir de maintenant)[\s\pP]+(?:[^\s.!?;]+[\s\pP]+){0,2}?"
    r"(?:tú|tu|usted|ustedes|vosotros|nosotros|eres|serás|ser[aá]s|vas a|te llamas|quiero que|"
    r"você|vocês|és|nós|quero que|vous|nous|t'appell\S*|je veux que|du|sie|ihr|wir|bist|"
    r"wirst|ich (?:möchte|will)|sollst|sei|sarai|noi|voglio che|ti chiami|jij|u|wij|we|bent|"
    r"ben je|wil ik|kamu|anda|engkau|kau|kita|aku ingin|saya ingin|bạn|chúng ta|tôi muốn)"
    r"(?:[\s\pP]|$)"
    r"|(?:отныне|с этого момента)[\s\pP]+(?:\S+[\s\pP]+){0,2}?(?:ты|вы|тебя|тебе|твой|твоя|"
    r"ваш\S*|будешь|будете|являешься|мы|я хочу)(?:[\s\pP]|$)"
    r"|(?:从现在开始|從現在開始|从现在起|從現在起)[^。！？\n]{0,6}?(?:你|您|我们|我們)"
    r"|(?:今から|これから)[^。！？\n]{0,8}?(?:あなた|君|お前|貴方|私たち)"
    r"|(?:지금부터|이제부터)[\s\pP]+(?:\S+\s+){0,2}?(?:너|당신|넌|네가|니가|우리)"
    r"|ตั้งแต่นี้[^\n]{0,20}?(?:คุณ|เธอ|เรา)"
)
SYSTEM_IMPERSONATION: Final = (
    r"(?:^|\n)\s*(?:\[|<|#+ ?|\*\*)?(?:system|admin|administrator|developer|root|sysadmin)"
    r"(?: message| prompt| note)?\s*(?:\]|>|\*\*)?\s*:"
    r"|<\|?(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\|?>|\[/?inst\]"
    r"|<</?sys>>|</?(?:system|instructions?|admin|prompt)(?: [^>]{0,40})?>"
    r"|\bsystem (?:override|prompt|message|update|notice|alert|instruction)s?\s*[:#!-]"
    r"|#{2,}\s*(?:system|admin|override)\b"
    r"|\bend of (?:system )?(?:prompt|instructions|context|document|email)\b"
    r"|\bbegin (?:new )?(?:system )?(?:prompt|instructions)\b"
)
# "don't disregard the warnings", "never skip the safety checks": the opposite of an override;
# see `injection_cues.signals`.
NEGATED_OVERRIDE: Final = (
    r"\b(?:don'?t|do not|never|not to|must not|should not|shouldn'?t|without) (?:ever )?"
    r"(?:ignor(?:e|ing)|disregard(?:ing)?|forget(?:ting)?|bypass(?:ing)?|overrid(?:e|ing)|"
    r"skip(?:ping)?|overlook(?:ing)?|neglect(?:ing)?)\b"
)
