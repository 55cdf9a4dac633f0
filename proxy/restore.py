"""Restore-in-response: the placeholders a prompt was given become the original values again.

A content rule with `restore: true` lets the model work on `[EMAIL_1]` while the caller reads
the real address in the answer. The mapping is the request's own (`Redactor.restorer()`): it is
never logged or stored, and holds only placeholders issued for the prompt, so a value that a
response rule hid in the answer is never put back. A restored value is always one the caller
sent in this request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Final

# The shape of every placeholder `proxy.redact` issues: `[EMAIL_1]`, `[CREDIT_CARD_12]`.
PLACEHOLDER_RE: Final = re.compile(r"\[[A-Z][A-Z0-9_]*_\d+\]")


class Restorer:
    """Placeholder -> original value, for one request. Its repr shows a count, never values."""

    __slots__ = ("_values", "_json_values")

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        # Inside a JSON string (streamed tool-call arguments) a value must be escaped.
        self._json_values = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in values.items()}

    def __repr__(self) -> str:
        return f"<Restorer placeholders={len(self._values)}>"

    def __len__(self) -> int:
        return len(self._values)

    def restore(self, text: str, *, json_string: bool = False) -> str:
        """`text` with every placeholder of this request replaced; others are left alone."""
        if "[" not in text:
            return text
        values = self._json_values if json_string else self._values
        return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(), m.group()), text)

    def could_continue(self, tail: str) -> bool:
        """Whether `tail` (starting at "[") may still grow into one of this request's
        placeholders: whether it is a proper prefix of one."""
        return any(p.startswith(tail) and p != tail for p in self._values)

    def stream(self, *, json_string: bool = False) -> StreamRestorer:
        return StreamRestorer(self, json_string)


class StreamRestorer:
    """Restores a text that arrives in pieces: a placeholder split across pieces is held back
    from its "[" until it is whole or cannot be one, so it is never sent half-restored."""

    __slots__ = ("_restorer", "_json_string", "_held")

    def __init__(self, restorer: Restorer, json_string: bool) -> None:
        self._restorer = restorer
        self._json_string = json_string
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece if self._held else piece
        self._held = ""
        cut = text.rfind("[")
        # Only the last "[" can open a placeholder still being written: a placeholder holds
        # no "[" after its first character.
        if cut >= 0 and self._restorer.could_continue(text[cut:]):
            text, self._held = text[:cut], text[cut:]
        return self._restorer.restore(text, json_string=self._json_string)

    def flush(self) -> str:
        """The end of this text (or of what comes before an event without text): whatever is
        held cannot grow any more."""
        held, self._held = self._held, ""
        return self._restorer.restore(held, json_string=self._json_string)
