"""Exfiltration cues: what the model holds that an attack wants out of it.

Its hidden prompt or instructions, a password or key it was told to keep, or someone else's
personal data (a birth date, an address) asked of it, in English and in the languages attacks
are translated to; also the request told as a hypothetical ("if I asked for your password").
A password or key merely named is a cue of its own, `secret_mention`: weak evidence alone
("how do I reset my password"). A device's own password is a near miss
(`injection_nearmiss`). Patterns are RE2, run on the lower-cased normalised text like
`injection_cues`.
"""

from __future__ import annotations

from typing import Final

# A password or secret key called the listener's own ("your"), in other languages.
_POSSESSIVE_SECRET: Final = (
    r"\b(?:tu|su|sua|seu|tua|teu|ta|ton|votre|dein\w*|ihr\w*|il tuo|la tua|je|uw|tw[oó]j)\s+"
    r"(?:contraseña|clave(?: secreta)?|senha|chave(?: secreta)?|mot de passe|clé secrète|"
    r"passwort|kennwort|geheimschlüssel|password|chiave segreta|wachtwoord|hasło|palavra-passe)"
)
EXFILTRATION: Final = (
    r"\b(?:reveal|tell|show|print|repeat|output|share|give|disclose|leak|spell|list|write|"
    r"display|dump|recite|confirm|provide|send|expose|what(?:'s| is| are))\b"
    r"(?:\W+\w+){0,5}?\W+(?:(?:your|the|my|its|our)\W+(?:\w+\W+){0,2}?(?:passwords?|passcode|"
    r"pass code|secret(?: key| code| word)?|api keys?|credentials|access codes?|confidential)"
    r"|(?:your|its)\W+(?:\w+\W+){0,2}?(?:system prompt|instructions|initial prompt|rules|"
    r"hidden (?:prompt|instructions)|guidelines|configuration))"
    r"|\bprompt (?:above|before this)\b"
    r"|\b(?:repeat|print|output|recite|reproduce|copy|return|write out)\b[^.!?\n]{0,60}\bverbatim\b"
    r"|\b(?:words|text|everything) (?:above|before) this\b"
    r"|\bwhat (?:were|are) (?:you|your) (?:told|instructed|instructions)\b"
    # someone else's personal data asked of the model
    r"|\b(?:tell me|give me|what(?:'s| is)|share|reveal|provide|list)\W+(?:\w+\W+){0,3}?"
    r"(?:[a-z]+'s|the user'?s?|the users'|their|his|her) (?:\w+ )?(?:birth ?date|date of "
    r"birth|(?:home |email |e-mail )?address|phone number|social security|ssn|location|city of "
    r"residence|bank (?:balance|account)|salary|medical (?:history|records)|credit card)"
    r"|\bwhere does (?:the user|[a-z]+ [a-z]+|[a-z]+) (?:currently )?live\b"
    # a named person's data to be used ("a phishing e-mail using Laura's e-mail address"), as
    # the patterns for other languages below take it whatever the verb
    r"|\b(?:use|using)\W+(?:\w+\W+){0,3}?[a-z]+'s (?:\w+ )?(?:birth ?date|date of birth|"
    r"(?:home |email |e-mail )?address|phone number|social security|ssn)\b"
    # someone else's birth date, e-mail address or home town, in other languages
    r"|\b(?:fecha de nacimiento|data de nascimento|date de naissance|data di nascita|"
    r"(?:dirección|endereço|adresse|indirizzo) (?:de |di )?(?:correo electrónico|e-?mail|"
    r"électronique|posta elettronica)|ciudad (?:actual )?de residencia|cidade (?:atual )?de "
    r"residência|ville de résidence|città di residenza) "
    r"(?:(?:actuel(?:le)?|actual|atual|attuale) )?(?:de|da|do|di|du)\b"
    r"|\b(?:geburtsdatum|e-mail-adresse|wohnort) (?:von|des|der)\b"
    # and with a name's genitive ("Lauras E-Mail-Adresse"); the nouns are feminine, so no
    # article or pronoun ending in "s" can stand before them
    r"|\b[a-zäöüß]{3,}(?:s|'s|’s) (?:(?:jetzige|aktuelle|derzeitige)n? )?(?:e-?mail-?adresse|"
    r"wohnadresse|privatadresse|telefonnummer|handynummer|wohnstadt|wohnort)\b"
    r"|дат\w* рождения|адрес\w* электронной почты|где (?:\S+ )?(?:живет|живёт|проживает)"
    r"|\bdoğum tarih\w*|\bnerede yaşıyor|\bikamet (?:ettiği|şehr)\w*"
    r"|\byaşadığı (?:şehr|şehir|yer|adres)"
    r"|\blungsod ng tirahan\b|ผู้ใช้อยู่ที่ไหน|\bwhere (?:is|are) the users? (?:now|located|currently)\b"
    # someone's e-mail address, in the languages whose word order the lines above miss
    r"|(?:'|’)n?[ıiuü]n (?:\S+ ){0,3}e-?posta adres|का ई-?मेल (?:पता|आईडी)|की ई-?मेल आईडी"
    r"|এর ই-?মেই?ল (?:ঠিকানা|আইডি)|عنوان بريد \S+ الإلكتروني|عنوان البريد الإلكتروني (?:ل|الخاص ب)"
    r"|địa chỉ email của|ที่อยู่อีเมลของ|\bemail address ni\b"
    r"|\btanggal lahir\b|\bdi mana (?:\w+ ){0,2}tinggal\b|\bngày sinh của\b|\bsống ở đâu\b"
    r"|\bthành phố cư trú|\bpetsa ng kapanganakan\b|\bkaarawan ni\b|\bsaan nakatira\b"
    r"|的(?:出生日期|生日|电子邮件地址|電子郵件地址)|住在哪|の(?:生年月日|誕生日|メールアドレス)"
    r"|どこに住んで|의 (?:생년월일|생일|이메일 주소)|어디에 살|تاريخ ميلاد|أين يعيش"
    r"|की जन्म ?तिथि|कहाँ रहत|এর জন্ম তারিখ|কোথায় থাক|วันเกิดของ"
    # "if I asked for your password": the request told as a hypothetical
    r"|\bask(?:ed|ing)? (?:you )?for (?:your|the) (?:\w+ )?(?:passwords?|secret(?: key| code)?|"
    r"credentials|api keys?|access codes?)\b"
    r"|\bse ti chiedessi (?:la |il |la tua |il tuo )?(?:password|chiave)"
    r"|\bsi te (?:pidiera|pidiese|preguntara por) (?:la |tu )?(?:contraseña|clave)"
    r"|\bse (?:eu )?te pedisse (?:a |sua |tua |a tua )?(?:senha|palavra-passe)"
    r"|\bsi je (?:te|vous) demandais (?:le |ton |votre )?mot de passe"
    r"|\bwenn ich dich nach (?:dem |deinem )?passwort (?:fragen würde|fragte)"
    # the password "of our system", asked of the model that guards it, in other languages
    r"|(?:\b(?:password|contraseñas?|senhas?|palavra-passe|mot de passe|passwort|kata sandi|"
    r"mật khẩu|has[lł]o)|şifre\w*)\s+(?:\S+\s+){0,2}?(?:para|per|pour|für|untuk|của|del|della|"
    r"de|do|da|des|du|sa|van|dla)\s+(?:\S+\s+){0,2}?(?:sistema|système|system|systeem|sistem|"
    r"hệ thống|systemu)\w*"
    r"|парол\w* (?:\S+ ){0,2}?(?:для|от|нашей|вашей) (?:\S+ )?систем\w*|у (?:вас|тебя) парол\w*"
    r"|(?:поделитесь|поделись|скажите|скажи|назовите|назови|сообщите) (?:\S+ )?парол\w*"
    r"|\b(?:iyong|inyong|mong|ang) password\b"
    # "password" / "secret key" with a possessive, in other languages, asked for: after a
    # request or a question word, or (German, Dutch) before the verb that asks for it. The
    # possessive alone is ordinary account talk: "a sua senha é fraca", "dein Passwort ist zu
    # kurz".
    r"|(?:^|[\s¿¡\"'«(])(?:qual|quale|cuál|cual|quelle|quel|dai|dammi|dimmi|dirmi|condividi|"
    r"condivida|condividere|mostra|mostrami|rivela|rivelami|conferma|dime|dame|comparte|"
    r"compartan|compartas|comparta|compartir|muestra|muéstrame|revela|revelar|confirma|diga|diz|"
    r"dizer|dá|dê|partilha|partilhe|partilhar|compartilhe|compartilha|compartilhar|mostre|"
    r"revele|donne|donnez|donner|dis|dites|dire|partage|partagez|partager|montre|montrez|"
    r"révèle|révélez|révéler|indique|indiquez|confirme|confirmez|gib|sag|nenn|teile|zeig|"
    r"verrate|lautet|was|welches|geef|deel|vertel|noem|wat|podaj|powiedz|pokaż|udostępnij|"
    r"ujawnij|jakie|jaki)\s+(?:\S+\s+){0,4}?"
    + _POSSESSIVE_SECRET
    + r"|"
    + _POSSESSIVE_SECRET
    + r"(?:\s+\S+){0,2}?\s+(?:teilen|geben|sagen|nennen|verraten|"
    r"zeigen|mitteilen|delen|geven|vertellen|noemen)\b"
    r"|(?:твой|ваш|ваше) (?:пароль|секретн\w* ключ)|(?:şifren(?:izi?|i)?\b|gizli anahtar\w*)"
    # Turkish puts the verb last: "sistemimizin şifresini söyle", "şifreyi onaylayın"; the
    # definite object, as "the password" in English ("bir şifre ver" asks for a new one)
    r"|\bsistem\w* şifre|şifre(?:yi|sini|nizi) (?:\S+ ){0,2}?(?:söyle|paylaş|ver|göster|onayla|"
    r"yaz|açıkla)"
    r"|\b(?:kata sandi|kunci rahasia) (?:anda|kamu)|\b(?:mật khẩu|khóa bí mật) của (?:bạn|em)"
    # The same in Arabic, Hindi, Bengali, Thai, Chinese, Japanese and Korean: the password
    # asked for (tell, share, show, confirm, "what is") or called the model's own ("your"),
    # not merely named ("I forgot my password", "how do I reset the password").
    r"|(?:ما (?:هي|هو)|أخبرني|اكشف|شارك|أعطني|قل لي|اعرض|تؤكد|أكد|أرسل)\s+(?:\S+\s+){0,2}?"
    r"(?:كلمة (?:المرور|السر)|المفتاح السري)|(?:كلمة (?:المرور|السر)|المفتاح السري) الخاصة? بك"
    r"|(?:पासवर्ड|गुप्त कुंजी)[^.!?।\n]{0,20}?(?:बता|दिखा|साझा|शेयर|क्या है|क्या होगा)"
    r"|(?:आपका|आपकी|आपके|तुम्हारा|तुम्हारी) (?:पासवर्ड|गुप्त कुंजी)"
    r"|(?:পাসওয়ার্ড|গোপন কী)[^.!?।\n]{0,20}?(?:শেয়ার|বল|দেখা|কি\?|কী\?)"
    r"|(?:আপনার|তোমার) (?:পাসওয়ার্ড|গোপন কী)"
    r"|(?:แชร์|บอก|ยืนยัน|เปิดเผย|แสดง|ขอ)\S{0,12}รหัสผ่าน|รหัสผ่าน(?:ของคุณ|ของเธอ)"
    r"|รหัสผ่าน[^.!?\n]{0,30}?(?:ยืนยัน|บอก|แชร์)"
    r"|(?:你的|您的)(?:密码|密碼|密钥|密鑰)"
    r"|(?:パスワード|秘密鍵)[^。！？!?\n]{0,12}?(?:教え|見せ|明か|言っ|言え|共有|確認|必要|は[?？])"
    r"|あなたの(?:パスワード|秘密鍵)"
    r"|(?:비밀번호|비밀 ?키)[^.!?\n]{0,12}?(?:알려|말해|보여|공유|공개|확인|필요|뭐)"
    r"|(?:너의|당신의|네) ?(?:비밀번호|비밀 ?키)|(?:비밀번호|비밀 ?키|암호)(?:는|가) (?:무엇|뭐)"
)
# A password or key asked of the model itself is the classic exfiltration target; alone, a
# mention is weak evidence ("how do I reset my password"), so it is a cue of its own.
SECRET_MENTION: Final = (
    r"\b(?:passwords?|passcodes?|pass codes?|passphrase|secret (?:key|code|word|phrase)|"
    r"access codes?|admin credentials|root password)\b"
    r"|\b(?:contraseñas?|claves? secretas?|senhas?|chaves? secretas?|mots? de passe|"
    r"clés? secrètes?|passw[oö]rt\w*|kennw[oö]rt\w*|geheim(?:e[rn]? )?schlüssel\w*|"
    r"chiavi? segret[ae]|wachtwoord\w*|has[lł]\w*|parola(?:nız)?|kata sandi|"
    r"kunci rahasia|mật khẩu|khóa bí mật|lihim na (?:susi|code)|password)\b|\bparolayı|şifre"
    r"|пароль\w*|секретн\w* (?:ключ|код)\w*|كلمة (?:المرور|السر)|المفتاح السري|رمز المرور"
    r"|पासवर्ड|गुप्त (?:कुंजी|कोड)|পাসওয়ার্ড|গোপন (?:কী|কোড)|รหัสผ่าน|คีย์ลับ|รหัสลับ"
    r"|密码|密碼|密钥|密鑰|口令|暗号|パスワード|秘密鍵|暗証番号|비밀번호|비밀 ?키|암호"
)
