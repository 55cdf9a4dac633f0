"""Which field a value sits in: the label just before it, or the header of its table column.

A number that only its field makes personal data (nine digits are an SSN where the field says
so) is judged by its own field, not by any field nearby: in `ssn: 933-45-6789, id: 786109640`
the id is no SSN.
"""

from __future__ import annotations

import bisect
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


# Column separators of pasted tables, in the order they are tried: Markdown, TSV, CSV.
_SEPARATORS: Final = ("|", "\t", ";", ",")
_MARKDOWN_RULE: Final = re.compile(r"[\s|:\-]*")
# An SQL INSERT's column list; the VALUES tuples after it hold one value per listed column.
_SQL_INSERT: Final = re.compile(
    r"\binsert\s+into\s+[^\s(]{1,200}\s*\(([^()]{1,4000})\)\s*values\b", re.IGNORECASE
)
_SQL_STRING: Final = re.compile(r"'(?:[^']|'')*'")
# A statement's end: the first ";" that is not inside a quoted value.
_SQL_END: Final = re.compile(_SQL_STRING.pattern + "|;")
# A value far from its tuple's "(" is not read as a column of it: tuples are rows, not pages.
_SQL_TUPLE_WIDTH: Final = 2000


def says_ssn(text: str, start: int, tables: Tables) -> bool:
    """Whether the field of the value at `start` names a social security number."""
    if label_matches(_SSN_NAME, text, start):
        return True
    column = tables.column_name(start)
    return column is not None and _SSN_NAME.search(column) is not None


def label_matches(name: re.Pattern[str], text: str, start: int) -> bool:
    """`name` in the label just before `start`, after the end of any field before it."""
    begin = max(0, start - LABEL_WIDTH)
    before = _FIELD_BREAK.search(text, begin, start)
    if before is not None:
        begin = before.start() + 1
    return name.search(text, begin, start) is not None


class Tables:
    """The pasted tables of one text: which header cell stands above a value.

    A table is a block of lines that all hold its separator; its header is the block's first
    line (a Markdown rule under it is skipped). Each line's header is found once per text and
    kept, so a table of many rows costs one walk up, not one per row.
    """

    __slots__ = ("_text", "_headers", "_inserts")

    def __init__(self, text: str) -> None:
        self._text = text
        # A line's start -> the header line of the block it opens or continues.
        self._headers: dict[int, str] = {}
        # Per INSERT, in order: where its VALUES begin, where its statement ends and its
        # column names; found on the first question (most texts ask none).
        self._inserts: list[tuple[int, int, list[str]]] | None = None

    def column_name(self, start: int) -> str | None:
        """The header cell above the value at `start`, or the column an SQL INSERT lists for
        it; None when the value is in neither."""
        return self._table_column(start) or self._insert_column(start)

    def _table_column(self, start: int) -> str | None:
        text = self._text
        line_start = text.rfind("\n", 0, start) + 1
        if line_start == 0:
            return None  # the first line heads its table, if any
        line_end = text.find("\n", start)
        line = text[line_start : len(text) if line_end < 0 else line_end]
        separator = next((s for s in _SEPARATORS if s in line), None)
        if separator is None:
            return None
        above = text.rfind("\n", 0, line_start - 1) + 1
        if separator not in text[above : line_start - 1]:
            return None  # the line heads its own block
        cells = self._header(above, separator).split(separator)
        column = text.count(separator, line_start, start)
        return cells[column] if column < len(cells) else None

    def _header(self, line_start: int, separator: str) -> str:
        """The header of the block the line at `line_start` (which holds `separator`) is in."""
        text, known = self._text, self._headers
        # Up to the block's first line or a line already known, then the answer back down.
        pending: list[int] = []
        begin = line_start
        while begin not in known:
            pending.append(begin)
            if begin == 0:
                break
            above = text.rfind("\n", 0, begin - 1) + 1
            if separator not in text[above : begin - 1]:
                break
            begin = above
        header = known.get(begin)
        for begin in reversed(pending):
            if header is None:
                end = text.find("\n", begin)
                line = text[begin : len(text) if end < 0 else end]
                if not _MARKDOWN_RULE.fullmatch(line):
                    header = line
            known[begin] = header if header is not None else ""
        return known[line_start]

    def _insert_column(self, start: int) -> str | None:
        """The column of the INSERT ... VALUES tuple the value at `start` sits in."""
        if self._inserts is None:
            self._inserts = _inserts_of(self._text)
        inserts = self._inserts
        at = bisect.bisect_right(inserts, start, key=lambda insert: insert[0]) - 1
        if at < 0:
            return None
        values_start, statement_end, columns = inserts[at]
        if start >= statement_end:
            return None
        text = self._text
        opening = text.rfind("(", max(values_start, start - _SQL_TUPLE_WIDTH), start)
        if opening < 0:
            return None
        # Quoted values may hold any character; blanked out, what is left is the row's commas.
        before = _SQL_STRING.sub("''", text[opening + 1 : start])
        if ")" in before or "(" in before:
            return None
        column = before.count(",")
        return columns[column].strip(' \t\r\n`"[]') if column < len(columns) else None


def _inserts_of(text: str) -> list[tuple[int, int, list[str]]]:
    """Each INSERT: where its VALUES begin, where its statement ends (at the latest where the
    next INSERT begins, so every character is read once), and its column names."""
    inserts = list(_SQL_INSERT.finditer(text))
    found = []
    for i, insert in enumerate(inserts):
        end = inserts[i + 1].start() if i + 1 < len(inserts) else len(text)
        for token in _SQL_END.finditer(text, insert.end(), end):
            if token[0] == ";":
                end = token.start()
                break
        found.append((insert.end(), end, insert[1].split(",")))
    return found
