"""Smuggling cues: a request disguised so that no part of it reads as one.

`obfuscation` names the disguise: an encoding or a cipher (base64, ROT13, Caesar, Morse),
reversed text, numbered parts or strings to concatenate, in many languages;
`payload_splitting` is the request itself cut into quoted parts the model is told to join.
Encoded runs are found by `injection_cues` and decoded by `injection_text`. Patterns are RE2,
run on the lower-cased normalised text like `injection_cues`.
"""

from __future__ import annotations

from typing import Final

OBFUSCATION: Final = (
    r"\b(?:base64|base-64|rot13|rot-13|caesar|cipher|hexadecimal|morse|leetspeak|pig latin)\b"
    r"|\b(?:decode|decipher|decrypt|unscramble)\b|\bin reverse(?: order)?\b"
    r"|\b(?:decodific\w*|décod\w*|dekodier\w*|entschlüssel\w*|i-decode|dekode\w*|"
    r"cifrado césar|code césar|codice (?:morse|cesare)|código (?:césar|morse)|caesar-chiffre|"
    r"sezar şifre\w*|mật mã caesar)\b|\bgiải mã|декодир|расшифр|şifresini çöz|шифр\S* цезар"
    r"|डिकोड|ডিকোড|ถอดรหัส|解码|解碼|デコード|디코딩|해독|凯撒密码|シーザー暗号|카이사르 암호"
    r"|شفرة قيصر|সিজার সিফার"
    r"|\b(?:spelled|written|read|write|spell|say)(?: it| this| that| them)? backwards\b"
    r"|\bpart (?:1|2|one|two|a|b)\b\W+(?:is|=|:)\s*['\"“]"
    r"|\b(?:concatenat|interlace|combine (?:the )?(?:parts|strings|a,? b|letters))"
    r"|\b[a-z]\s*=\s*['\"“][^'\"”]{1,120}['\"”]\W+(?:and )?[a-z]\s*=\s*['\"“]"
    r"|(?:\b(?:parte|partie|teil|bölüm|bagian|phần|bahagi)|часть) (?:1|2|a|b|uno|un|eins)\b\W+"
    r"|(?:भाग|ভাগ|ส่วนที่|部分|パート) ?[12]|[12]부(?:는|분)"
    r"|(?:\b(?:combin\w*|kombinier\w*|kombinasi\w*|birleştir\w*|kết hợp|pagsamahin)|объедин\S*)"
    r" (?:\w+ )?a,? b\b|a, b,? (?:और|এবং|และ|và|및|和|と|و) c\b"
    r"|\b(?:en orden inverso|al revés|em ordem inversa|de trás para frente|dans l'ordre inverse|"
    r"in ordine inverso|in umgekehrter reihenfolge|rückwärts|ters sırayla|tersten|urutan "
    r"terbalik|secara terbalik|thứ tự ngược|baligtad na pagkakasunod)\b|à l'envers"
    r"|в обратном порядке|задом наперёд|倒序|反顺序|反順序|逆順|逆の順序|역순|거꾸로"
    r"|بالترتيب العكسي|उल्टे क्रम|বিপরীত ক্রমে|ลำดับย้อนกลับ"
)
# Payload splitting: a request cut into quoted parts the model is told to join ("Part 1 is
# '…', Part 2 is '…'", "a = '…' b = '…' z = a + b + c", "combine A, B and C"), so that no part
# reads as the request. Mentions of parts, chapters or concatenation alone are `obfuscation`.
_QUOTE = r"['\"“”«„「]"
PAYLOAD_SPLITTING: Final = (
    # a = '…' b = '…', also numbered (a1 = 'some' a2 = 'ones')
    r"\b[a-z]\d?\s*=\s*['\"“][^'\"”\n]{1,120}['\"”]\W+(?:and |y |et |und |e |и |ve |dan |và |at )?"
    r"[a-z]\d?\s*=\s*['\"“]"
    # the chatbot called as a function in code it is asked to run ("start += ChatGPT(start)")
    r"|\b(?:chat ?gpt|gpt-?[34]\w*)\((?:\w+|f?['\"])"
    r"|\b[a-z]\s*\+\s*[a-z]\s*\+\s*[a-z]\b"
    r"|(?:\b(?:part|parte|partie|teil|bölüm|bagian|phần|bahagi)|часть)\s*(?:1|2|one|two|a|b|uno|un|"
    r"eins)\b\W{0,3}(?:\w+\W{1,3}){0,2}?"
    + _QUOTE
    + r"|(?:भाग|ভাগ|ส่วนที่|部分|パート)\s?[12]\W{0,3}(?:\S+\s){0,2}?"
    + _QUOTE
    + r"|[12]부(?:는|분)\s?"
    + _QUOTE
    + r"|(?:\b(?:combin\w*|kombinier\w*|kombinasi\w*|birleştir\w*|kết hợp|pagsamahin|"
    r"mélange\w*|unisci|une|junte|merge|join)|объедин\S*)\s(?:\w+\s)?a,?\s(?:b,?\s)?(?:and|und|y|et|e|и|ve|"
    r"dan|và|at)?\s?[bc]\b"
    r"|\ba, b,? (?:और|এবং|และ|và|및|和|と|و) c\b"
)
