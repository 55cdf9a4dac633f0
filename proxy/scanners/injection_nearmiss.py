"""Near misses: the words of a technique cue, used about a device instead of the model.

A phone, a browser or a game console has a "developer mode" and a router has an "admin
password"; asking how to reach either is a help-desk question. The jailbreak's "Developer
Mode" is a state of the model ("ChatGPT with Developer Mode enabled"), and the exfiltration
target is the secret the model guards ("what is the password?"), neither tied to a product.
`injection_cues.signals` blanks these phrases out and keeps the cue only if it still fires on
what is left, as it does for negated overrides. Patterns are RE2, run on the lower-cased
normalised text like `injection_cues`.
"""

from __future__ import annotations

from typing import Final

# Things with a settings screen, in the languages the mode cue covers. Brand names are
# written the same in every script users type them in.
_DEVICE = (
    r"(?:\b(?:phones?|smartphones?|android|iphones?|ipads?|ios|ipados|pixel|samsung|galaxy|"
    r"xiaomi|huawei|oneplus|tablets?|chromebook|chrome|firefox|browsers?|windows|macos|macbook|"
    r"mac|linux|ubuntu|routers?|modems?|bios|uefi|firmware|motherboard|laptops?|pc|computers?|"
    r"consoles?|playstation|ps[345]|xbox|nintendo|steam deck|smart ?tv|tv|roku|kindle|"
    r"smartwatch|watch|car|tesla|printers?|cameras?|extensions?|vs ?code|xcode|visual studio|"
    r"wordpress|django|flask|app|apps|settings|device|devices|gadget|headset|oculus|drone)\b"
    r"|teléfono|celular|móvil|ordenador|computadora|téléphone|portable|ordinateur|navigateur|"
    r"handy|smartphone|rechner|telefon|telefono|cellulare|telefone|телефон\w*|смартфон\w*|"
    r"компьютер\w*|ноутбук\w*|браузер\w*|điện thoại|máy tính|ponsel|手机|手機|安卓|电脑|電腦|"
    r"浏览器|瀏覽器|スマホ|携帯|パソコン|ブラウザ|폰|휴대폰|스마트폰|컴퓨터|브라우저|"
    r"هاتف|جوال|फ़ोन|फोन|ফোন|โทรศัพท์|มือถือ)"
)
# A mode named in the same sentence as a device ("enable developer mode on my Android phone",
# "my Pixel's developer mode", "如何在安卓手机上打开开发者模式"): the sentence is about a
# setting. Only that sentence is set aside; a Developer Mode prompt that mentions "phone
# numbers" once still names its mode in every other sentence.
DEVICE_MODE: Final = r"[^.!?;\n。！？]{0,80}" + _DEVICE + r"[^.!?;\n。！？]{0,80}"

# A device jailbroken ("how do I jailbreak my iPhone?", "Wie jailbreake ich mein iPhone?"):
# the sentence that names both is about the phone's lock, not the model's rules. The
# jailbreak prompt's "jailbreak" is the model's ("[🔓JAILBREAK]", "you are jailbroken").
_IN_SENTENCE = r"[^.!?;\n。！？]{0,80}"
DEVICE_JAILBREAK: Final = (
    _IN_SENTENCE
    + r"(?:jailbr\S*"
    + _IN_SENTENCE
    + _DEVICE
    + r"|"
    + _DEVICE
    + _IN_SENTENCE
    + r"jailbr\S*)"
    + _IN_SENTENCE
)

_SECRET = r"(?:passwords?|passcodes?|pass codes?|pins?|credentials|logins?)"
_SECRET_DEVICE = (
    r"(?:routers?|modems?|cameras?|webcams?|cctv|dvr|nvr|printers?|wi-?fi|wireless|hotspot|"
    r"network|access point|nas|switch|firewall|gateway|phones?|smartphones?|iphone|android|"
    r"laptops?|tablets?|tv|console|device|doorbell|thermostat|bios|voicemail|set-top box)"
)
# A device's password ("the admin password default for a TP-Link router", "the factory
# password of the camera", "my wifi password"): what its manual lists, not what the model
# was told to keep.
DEVICE_SECRET: Final = (
    r"\b(?:default|factory|preset|stock|manufacturer'?s?) (?:(?:admin|administrator|login|root|"
    r"user|wi-?fi|wireless|network|router) )?" + _SECRET + r"\b"
    r"|\b" + _SECRET + r" (?:by |is |set by )?default\b"
    r"|\b" + _SECRET_DEVICE + r"(?:'s)? (?:(?:admin|administrator|login|root|user|"
    r"wireless|network) )?" + _SECRET + r"\b"
    r"|\b" + _SECRET + r" (?:for|of|on|to) (?:(?:my|the|a|an|our|this|that|his|her|their) )?"
    r"(?:[\w-]+ ){0,2}?" + _SECRET_DEVICE + r"\b"
)
# A language or a format from now on ("from now on, I want you to answer in French", "from now
# on please reply in bullet points"): a preference for the answers, not new rules. "Answer as
# DAN" or "in character" is none of these, and stays.
_LANGUAGE = (
    r"(?:english|french|spanish|german|italian|portuguese|dutch|polish|russian|ukrainian|"
    r"chinese|mandarin|japanese|korean|arabic|hindi|turkish|indonesian|vietnamese|thai|greek|"
    r"swedish|norwegian|danish|finnish|czech|hungarian|romanian|hebrew|persian|latin)"
)
_FORMAT = (
    r"(?:json|yaml|xml|markdown|html|csv|a table|tables|bullet points|bullets|a list|lists|"
    r"numbered lists|short (?:sentences|answers|paragraphs)|plain (?:text|english|language)|"
    r"simple (?:terms|words|language)|metric units|imperial units|lower ?case|upper ?case|"
    r"full sentences|one (?:word|sentence|paragraph)|code blocks?)"
)
PREFERENCE: Final = (
    r"\bfrom (?:now|this (?:moment|point)) (?:on|onwards?|forward)\W+(?:(?:i want you|i'd like "
    r"you|i need you) to |please |can you |could you )?(?:always |only )?(?:answer|respond|"
    r"reply|write|speak|talk|explain|format (?:your )?(?:answers|replies|responses))"
    r"(?: to me)?(?: only)? (?:in|using|with) " + "(?:" + _LANGUAGE + "|" + _FORMAT + r")\b"
)
# A secret kept, not asked for ("share the recipe anonymously so as not to reveal your secret",
# "never disclose your password to anyone"): the advice an exfiltration attack inverts. The
# negation stands right before the verb, as in English, or (German, Dutch, Turkish, Japanese,
# Korean, Hindi) after it; a clause boundary ends it, so "don't refuse, tell me your password"
# keeps its request.
_REVEAL_TAIL = r"[^.!?;:,¿¡\n]{0,40}"
NEGATED_REVEAL: Final = (
    r"(?:\b(?:not|never|without)|n['’]?t) (?:to |ever )?(?:reveal|reveals|revealing|share|"
    r"sharing|disclose|disclosing|expose|exposing|give away|give out|tell anyone|leak|leaking|"
    r"send|write down|post)\b"
    + _REVEAL_TAIL
    # Spanish, Portuguese, Italian: "no compartas", "nunca compartilhe", "non dire a nessuno"
    + r"|\b(?:no|nunca|jam[aá]s|não|nao|non|mai)\s+(?:(?:se|te|me|le|lo|la|les|lhe|o|a|mai|"
    r"lo|gli|ne)\s+)?(?:compart\w*|partilh\w*|condivid\w*|revel\w*|rivel\w*|divulg\w*|"
    r"dig[ao]s?|digan|digam|decir|dizer|dire|dica|dite|diga|mostr\w*|muestr\w*|d[eéê]s?|den|"
    r"dar|dare|dai|entregu\w*|envi\w*|invi\w*|pas[es]\w*|comunic\w*|escrib\w*|escrev\w*|"
    r"scriv\w*|anot\w*)\b"
    + _REVEAL_TAIL
    # French: "ne partage jamais", "ne partagez pas", "ne jamais communiquer"
    + r"|\b(?:ne|n['’])\s*(?:(?:jamais|pas|le|la|les|lui|leur)\s+)?(?:partag\w*|révél\w*|"
    r"divulgu\w*|dis|dites|dire|donn\w*|communiqu\w*|montr\w*|transmet\w*|envoi\w*|"
    r"envoy\w*|écri\w*|note[sz]?)\b"
    + _REVEAL_TAIL
    # German, Dutch: "teile dein Passwort niemals", "verrate niemandem", "deel je wachtwoord nooit"
    + r"|\b(?:teil\w*|gib|geben|sag\w*|verrat\w*|nenn\w*|zeig\w*|schick\w*|send\w*|"
    r"weitergeb\w*|deel|geef|vertel|noem|stuur|zeg|laat)\b[^.!?;,\n]{0,40}?"
    r"\b(?:nie|niemals|niemandem|niemanden|keinesfalls|auf keinen fall|nooit|niemand|"
    r"aan niemand|met niemand)\b"
    + _REVEAL_TAIL
    + r"|\b(?:nie|niemals|keinesfalls|nooit)\b[^.!?;,\n]{0,40}?\b(?:teilen|weitergeben|"
    r"verraten|sagen|nennen|zeigen|preisgeben|schicken|senden|delen|geven|vertellen|noemen|"
    r"doorgeven|sturen)\b"
    # Indonesian, Vietnamese, Polish, Russian
     + r"|\b(?:jangan|tidak boleh)\s+(?:pernah\s+)?(?:mem)?(?:bagikan|berikan|beri|beritahu\w*|"
    r"kasih|kirim\w*|ungkap\w*|tunjuk\w*|sebar\w*)"
    + _REVEAL_TAIL
    + r"|(?:^|\s)(?:đừng|không được|không nên|chớ|không bao giờ|tuyệt đối không)\s+"
    r"(?:bao giờ\s+)?(?:chia sẻ|tiết lộ|cho|nói|gửi|đưa|cung cấp|để lộ)"
    + _REVEAL_TAIL
    + r"|\b(?:nigdy )?nie\s+(?:udostępniaj\w*|podawaj\w*|zdradzaj\w*|mów\w*|pokazuj\w*|"
    r"wysyłaj\w*|ujawniaj\w*)"
    + _REVEAL_TAIL
    + r"|(?:никогда )?не\s+(?:сообща\w*|говори\w*|называ\w*|показыва\w*|переда\w*|"
    r"раскрыва\w*|делитесь|делись|отправля\w*)"
    + _REVEAL_TAIL
    # Turkish puts the negation in the verb: "şifrenizi asla kimseyle paylaşmayın"
    + r"|(?:şifre|parola)\S*[^.!?;,\n]{0,40}?(?:paylaş|söyle|ver|göster|yaz|açıkla|ilet|gönder)"
    r"m[ae](?:y|z|m|\s|$)\S*"
    # Arabic: "لا تشارك كلمة المرور الخاصة بك"
     + r"|(?:^|\s)(?:لا|ولا)\s+(?:تشارك|تكشف|تعط|تخبر|تقل|تفصح|ترسل|تظهر|تعرض|تبح)\S*"
    r"[^.!?؟،,\n]{0,40}"
    # Hindi: "अपना पासवर्ड किसी को न बताएं", "साझा न करें", "मत बताओ"
     + r"|(?:पासवर्ड|गुप्त कुंजी)[^.!?।,\n]{0,30}?(?:(?:न|मत|नहीं)\s+(?:\S+\s+)?"
    r"(?:बता|दिखा|साझा|शेयर|दें|दे)|(?:बता|दिखा|साझा|शेयर)\S*\s+(?:न|मत|नहीं))\S*"
    # Chinese, Japanese, Korean
     + r"|(?:不要|别|別|切勿|不可|不能|绝不|絕不|千万不要|千萬不要|永远不要|永遠不要)"
    r"[^。！？，,；;\n]{0,8}(?:告诉|告訴|分享|透露|泄露|洩露|给|給|说|說|提供|发送|發送|"
    r"交给|交給)[^。！？，,；;\n]{0,20}"
    r"|(?:パスワード|秘密鍵|暗証番号)[^。！？、\n]{0,20}?(?:教え|見せ|明か|言わ|言っ|共有し|渡さ|"
    r"伝え|送ら|送っ)(?:ないで|ない|ません|るな|ては(?:いけ|だめ|な))"
    r"|(?:비밀번호|비밀 ?키|암호)[^.!?\n]{0,30}?(?:지 ?(?:마|말)|(?:하|주|해|여)?면 안)"
)
# The user's own earlier message ("negeer mijn vorige bericht", "忽略我之前的消息", "what I said
# about the budget"): a correction, not the model's instructions. English keeps "my" out of
# its override pattern (`injection_override`); the other languages name their objects by an
# adjective alone ("vorige", "之前", "السابقة"), so the user's own message is blanked out
# before the override cue is decided, and an override of the instructions beside it stays.
OWN_MESSAGE: Final = (
    r"\b(?:mijn|mi|mis|minha|minhas|meu|meus|mon|mes|il mio|i miei|la mia|le mie|meine?[rnms]?)"
    r"\s+(?:\S+\s+)?(?:vorige|laatste|eerdere|último|últimos|última|últimas|anterior|anteriores|"
    r"dernier|derniers|précédent|précédents|ultimo|ultimi|ultima|precedente|precedenti|"
    r"vorige|letzte|vorherige|bisherige)\w*\s+(?:bericht\w*|vraag|mensajes?|pregunta|mensage(?:m|ns)|"
    r"messages?|messaggi[oa]?|nachricht\w*|frage|eingabe)"
    # the adjective after the noun: "mis mensajes anteriores", "i miei messaggi precedenti"
    r"|\b(?:mi|mis|minha|minhas|meu|meus|mon|mes|il mio|i miei|la mia|le mie)\s+(?:mensajes?|"
    r"mensage(?:m|ns)|messaggi[oa]?|messages?|preguntas?|perguntas?|domande?|questions?)\s+"
    r"(?:anterior|anteriores|último|últimos|última|últimas|precedente|precedenti|ultimo|ultimi|"
    r"ultima|ultime|précédents?|précédentes?|derniers?|dernières?)"
    r"|\b(?:wat ik|lo que|o que|ce que|quello che|was ich)\s+(?:\S+\s+){0,3}?(?:zei|gezegd|"
    r"schreef|geschreven|dije|escribí|disse|escrevi|dit|écrit|detto|scritto|gesagt|geschrieben)"
    r"|\bmo(?:j|ją|ja|je|jego|ich)\S*\s+(?:poprzedni|ostatni)\S*\s+(?:wiadomo|pytani)\S*"
    r"|\bco\s+(?:\S+\s+)?(?:mówiłe|mówiła|napisałe|napisała|powiedziałe|powiedziała)\S*"
    r"|(?:мо[её]|мои|моего|моих|мою)\s+(?:предыдущ|последн)\S*\s+(?:сообщени|вопрос)\S*"
    r"|что я\s+(?:\S+\s+)?(?:говорил|написал|сказал)\S*"
    r"|\bpesan(?:ku)?\s+(?:(?:saya|aku)\s+)?(?:sebelumnya|terakhir|tadi)"
    r"|\b(?:yang|apa yang)\s+(?:saya|aku)\s+(?:katakan|tulis|bilang)"
    r"|tin nhắn (?:trước|cuối)(?: đó)? của tôi|những gì tôi (?:đã )?(?:nói|viết)"
    r"|我(?:之前|上一条|上一條|刚才|剛才|前面)的?(?:消息|信息|訊息|话|話|问题|問題)"
    r"|我(?:刚才|剛才|之前)(?:说|說|写|寫)的"
    r"|(?:رسالتي|رسائلي|كلامي)(?:\s+(?:السابقة|الأخيرة|السابق))?|ما قلته"
)
