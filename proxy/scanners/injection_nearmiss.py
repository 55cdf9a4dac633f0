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
# A secret kept, not asked for ("share the recipe anonymously so as not to reveal your secret",
# "never disclose your password to anyone"): the advice an exfiltration attack inverts.
NEGATED_REVEAL: Final = (
    r"\b(?:not|never|n't|without) (?:to |ever )?(?:reveal|reveals|revealing|share|sharing|"
    r"disclose|disclosing|expose|exposing|give away|tell anyone|leak|leaking)\b[^.!?;,\n]{0,40}"
)
