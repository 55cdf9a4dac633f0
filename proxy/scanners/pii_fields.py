"""Which field a value sits in: the label just before it, after the value of the field before.

A number that only its field makes personal data (nine digits are an SSN where the field says
so) is judged by its own field, not by any field nearby: in `ssn: 933-45-6789, id: 786109640`
the id is no SSN.
"""

from __future__ import annotations

import re
from typing import Final

# "SSN", "social security", "soc. sec." and the identifier spellings of a field name:
# social_security_number, socialSecurityNumber, SOCIALSECURITYNUMBER.
_SSN_NAME: Final = re.compile(r"ssn|soc(?:ial)?[^a-z0-9]{0,2}sec", re.IGNORECASE)
# How far back a label may stand: "social security number (SSN), which is 219099999".
LABEL_WIDTH: Final = 48
# The end of the field before: another value, i.e. a digit. A label is read only after it; a
# line break is no end ("SSN:" on one line, the number on the next).
_FIELD_BREAK: Final = re.compile(r"[0-9][^0-9]*\Z")


def says_ssn(text: str, start: int) -> bool:
    """Whether the field of the value at `start` names a social security number."""
    return label_matches(_SSN_NAME, text, start)


def label_matches(name: re.Pattern[str], text: str, start: int) -> bool:
    """`name` in the label just before `start`, after the end of any field before it."""
    begin = max(0, start - LABEL_WIDTH)
    before = _FIELD_BREAK.search(text, begin, start)
    if before is not None:
        begin = before.start() + 1
    return name.search(text, begin, start) is not None
