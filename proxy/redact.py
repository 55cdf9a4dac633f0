"""Replace finding spans with readable placeholders, reversibly within one request."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from proxy.scanners import Finding

_LABELS: Final[dict[str, str]] = {
    "pii.email": "EMAIL",
    "pii.phone": "PHONE",
    "pii.credit_card": "CREDIT_CARD",
    "pii.us_ssn": "US_SSN",
    "pii.iban": "IBAN",
    "pii.ip_address": "IP_ADDRESS",
}
_PLACEHOLDER_RE: Final = re.compile(r"\[([A-Z][A-Z0-9_]*)_(\d+)\]")
# Longest placeholder a stream may have to reassemble before restoring it.
MAX_PLACEHOLDER_LEN: Final = 48


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


def _merged_spans(findings: Iterable[Finding]) -> list[tuple[int, int, str]]:
    """Overlapping spans merge into one; the longest finding names the placeholder."""
    spans = sorted(
        (f.start, f.end, label, f.end - f.start)
        for f in findings
        if (label := placeholder_label(f.kind)) is not None and f.end > f.start
    )
    merged: list[tuple[int, int, str, int]] = []
    for start, end, label, length in spans:
        if merged and start < merged[-1][1]:
            last_start, last_end, last_label, last_length = merged[-1]
            keep = label if length > last_length else last_label
            merged[-1] = (last_start, max(end, last_end), keep, max(length, last_length))
        else:
            merged.append((start, end, label, length))
    return [(start, end, label) for start, end, label, _ in merged]


class Redactor:
    """Per-request placeholder mapping: the same value always gets the same placeholder.

    The mapping holds the original values, so it lives only as long as the request, is never
    logged or persisted, and its repr shows counts only.
    """

    __slots__ = ("_by_value", "_by_placeholder", "_counters")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counters: dict[str, int] = {}

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

    def redact_detailed(self, text: str, findings: Iterable[Finding]) -> Redaction:
        parts: list[str] = []
        cursor = replaced = 0
        for start, end, label in _merged_spans(findings):
            parts.append(text[cursor:start])
            parts.append(self.placeholder_for(label, text[start:end]))
            cursor = end
            replaced += 1
        parts.append(text[cursor:])
        return Redaction("".join(parts), replaced)

    def redact(self, text: str, findings: Iterable[Finding]) -> str:
        return self.redact_detailed(text, findings).text

    def restore(self, text: str) -> str:
        """Put the original values back for placeholders this redactor issued."""
        if not self._by_placeholder or "[" not in text:
            return text
        lookup = self._by_placeholder.get
        return _PLACEHOLDER_RE.sub(lambda m: lookup(m.group(), m.group()), text)


def redact(text: str, findings: Iterable[Finding], redactor: Redactor | None = None) -> Redaction:
    """One-shot redaction; pass a shared `redactor` to keep placeholders stable across texts."""
    return (redactor if redactor is not None else Redactor()).redact_detailed(text, findings)
