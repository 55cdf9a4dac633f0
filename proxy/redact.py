"""Replace finding spans with readable placeholders, reversibly within one request."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from proxy.restore import PLACEHOLDER_RE, Restorer
from proxy.scanners import Finding

# Which finding kinds may have their original values put back in the answer.
KindPredicate = Callable[[str], bool]

_LABELS: Final[dict[str, str]] = {
    "pii.email": "EMAIL",
    "pii.phone": "PHONE",
    "pii.credit_card": "CREDIT_CARD",
    "pii.us_ssn": "US_SSN",
    "pii.iban": "IBAN",
    "pii.ip_address": "IP_ADDRESS",
}


def placeholder_label(kind: str) -> str | None:
    """The placeholder word for a kind; None for kinds that are not spans of a value."""
    if kind.startswith("injection."):
        return None
    if kind.startswith("secret."):
        return "SECRET"
    if kind.startswith("custom."):
        label = re.sub(r"[^A-Z0-9]+", "_", kind.removeprefix("custom.").upper()).strip("_")
        return label[:32] or "CUSTOM"
    return _LABELS.get(kind, "REDACTED")


@dataclass(frozen=True, slots=True)
class Redaction:
    """The redacted text and how many spans were replaced (no original values)."""

    text: str
    replaced: int


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    label: str
    length: int  # of the longest finding merged in, which names the placeholder
    kinds: set[str]


def _merged_spans(findings: Iterable[Finding]) -> list[_Span]:
    """Overlapping spans merge into one; the longest finding names the placeholder."""
    spans = sorted(
        (f.start, f.end, label, f.kind)
        for f in findings
        if (label := placeholder_label(f.kind)) is not None and f.end > f.start
    )
    merged: list[_Span] = []
    for start, end, label, kind in spans:
        last = merged[-1] if merged else None
        if last is not None and start < last.end:
            if end - start > last.length:
                last.label, last.length = label, end - start
            last.end = max(end, last.end)
            last.kinds.add(kind)
        else:
            merged.append(_Span(start, end, label, end - start, {kind}))
    return merged


class Redactor:
    """Per-request placeholder mapping: the same value always gets the same placeholder.

    The mapping holds the original values, so it lives only as long as the request, is never
    logged or persisted, and its repr shows counts only.
    """

    __slots__ = ("_by_value", "_by_placeholder", "_counters", "_restorable")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._restorable: set[str] = set()

    def __repr__(self) -> str:
        return f"<Redactor placeholders={len(self._by_placeholder)}>"

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def placeholder_for(self, label: str, value: str) -> str:
        key = (label, value)
        placeholder = self._by_value.get(key)
        if placeholder is None:
            number = self._counters.get(label, 0) + 1
            self._counters[label] = number
            placeholder = f"[{label}_{number}]"
            self._by_value[key] = placeholder
            self._by_placeholder[placeholder] = value
        return placeholder

    def redact_detailed(
        self, text: str, findings: Iterable[Finding], restorable: KindPredicate | None = None
    ) -> Redaction:
        """Placeholders for `findings`; those whose every merged kind is `restorable` are
        marked so, for `restorer()`."""
        parts: list[str] = []
        cursor = replaced = 0
        for span in _merged_spans(findings):
            placeholder = self.placeholder_for(span.label, text[span.start : span.end])
            if restorable is not None and all(restorable(kind) for kind in span.kinds):
                self._restorable.add(placeholder)
            parts.append(text[cursor : span.start])
            parts.append(placeholder)
            cursor = span.end
            replaced += 1
        parts.append(text[cursor:])
        return Redaction("".join(parts), replaced)

    def redact(
        self, text: str, findings: Iterable[Finding], restorable: KindPredicate | None = None
    ) -> str:
        return self.redact_detailed(text, findings, restorable).text

    def restore(self, text: str) -> str:
        """Put the original values back for every placeholder this redactor issued."""
        if not self._by_placeholder or "[" not in text:
            return text
        lookup = self._by_placeholder.get
        return PLACEHOLDER_RE.sub(lambda m: lookup(m.group(), m.group()), text)

    def restorer(self) -> Restorer | None:
        """The placeholders issued so far for restorable kinds, frozen: placeholders given
        later (to hide values in the answer) are not in it. None when there are none."""
        if not self._restorable:
            return None
        return Restorer({p: self._by_placeholder[p] for p in self._restorable})


def redact(text: str, findings: Iterable[Finding], redactor: Redactor | None = None) -> Redaction:
    """One-shot redaction; pass a shared `redactor` to keep placeholders stable across texts."""
    return (redactor if redactor is not None else Redactor()).redact_detailed(text, findings)
