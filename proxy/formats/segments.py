"""Text segments: each string a model reads or writes, found by its JSON path, and token usage."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

JsonPath = tuple[str | int, ...]

# Deeper strings are refused rather than walked: each segment's path is a tuple of its depth, so
# a body of many strings nested a thousand levels deep would cost memory quadratically. No API
# here nests text half as deep (a tool schema ten objects deep is about 25).
MAX_DEPTH: Final = 64

# A path element meaning "the string reached so far holds JSON; the path goes on inside it"
# (OpenAI tool-call `arguments`). It is a plain str, yet never ambiguous: it only ever follows a
# path that ends on a string, where neither a key nor an index could apply.
IN_JSON: Final = "<json>"

# A path element meaning "the name of the object key that follows, not its value": the path
# `("input", KEY, "jane@example.com")` is the key itself. An int, so never an object's key, and
# negative, so never a list index.
KEY: Final = -1

# Roles: who wrote the text, as far as the wire format says. Tool results and documents are
# apart from user text because injection hidden in them is "indirect".
SYSTEM: Final = "system"
USER: Final = "user"
ASSISTANT: Final = "assistant"
TOOL: Final = "tool"
TOOL_DEFINITION: Final = "tool_definition"
DOCUMENT: Final = "document"


class TooDeeplyNested(ValueError):
    """A payload nests containers more than `MAX_DEPTH` levels: not read, so refuse it."""


class Segment(NamedTuple):
    """One string of a payload: where it is (`path`), what it says, and who wrote it if known.

    `is_key`: the string is an object key (its path ends `KEY, text`), not a value.
    A named tuple: as immutable as a frozen dataclass, and several times cheaper to build,
    once per string of every request and answer.
    """

    path: JsonPath
    text: str
    role: str | None = None
    is_key: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts reported by the upstream; None where a (streamed) event did not say."""

    input_tokens: int | None = None
    output_tokens: int | None = None

    def merge(self, later: Usage) -> Usage:
        """Counts from a later event win; streams report cumulative totals, never increments."""
        return Usage(
            later.input_tokens if later.input_tokens is not None else self.input_tokens,
            later.output_tokens if later.output_tokens is not None else self.output_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True, slots=True)
class Prune:
    """Protocol structure that holds no text, so walking it would only add noise or cost.

    `keys`: fields whose values are ids, enums or binary (skipped). `types`: objects whose `type`
    names a binary part (images, audio), skipped whole. `json_keys`: fields whose string value is
    itself JSON (tool-call arguments); their strings are walked inside with an `IN_JSON` path.
    `inert`: (key, string value) pairs that are vocabulary, not text (`"type": "string"` in a
    JSON schema); only these exact values are skipped, so a key can still carry text.
    `keys_are_text`: object keys are read too. In free-form JSON a key is data like any value
    (`{"jane@example.com": "vip"}`, a schema's property names); in protocol objects keys are
    the protocol's field names, which providers check.
    Free-form JSON (tool inputs) is walked with `NO_PRUNE`: there, a key named `type` is data.
    """

    keys: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    json_keys: frozenset[str] = frozenset()
    inert: frozenset[tuple[str, str]] = frozenset()
    keys_are_text: bool = False
    key_vocabulary: frozenset[str] = frozenset()  # keys that are never read as text


NO_PRUNE: Final = Prune(keys_are_text=True)
# Stream events: texts are found by their path in each event, so only values are read.
VALUES_ONLY: Final = Prune()
# Tool definitions and response schemas: JSON Schema, whose type names are not worth a scan;
# property names are read, since the model reads them.
_SCHEMA_VOCABULARY: Final = (
    "object string number integer boolean array null function custom json_schema json_object text"
)
# The keywords of JSON Schema and of the tool wrappers around it.
_SCHEMA_KEYWORDS: Final = (
    "type function custom name description parameters input_schema strict properties required "
    "items enum const additionalProperties anyOf oneOf allOf not $ref $defs definitions default "
    "title format pattern minimum maximum exclusiveMinimum exclusiveMaximum minLength maxLength "
    "minItems maxItems uniqueItems nullable examples json_schema schema cache_control"
)
SCHEMA: Final = Prune(
    inert=frozenset(("type", name) for name in _SCHEMA_VOCABULARY.split()),
    keys_are_text=True,
    key_vocabulary=frozenset(_SCHEMA_KEYWORDS.split()),
)


# A tuple, not `dict | list`: that union is built anew each time the line runs, per node.
_CONTAINERS: Final = (dict, list)


def _children(node: dict[str, Any] | list[Any]) -> Iterator[tuple[str | int, Any]]:
    return iter(node.items()) if isinstance(node, dict) else enumerate(node)


def walk_strings(
    out: list[Segment], value: Any, path: JsonPath, role: str | None, prune: Prune = NO_PRUNE
) -> None:
    """Append every non-empty string under `value` in document order; object keys too when
    `prune.keys_are_text`, each just before its value.

    Raises `TooDeeplyNested` past `MAX_DEPTH`: callers fail closed rather than skip text.
    """
    if isinstance(value, str):
        if value:
            out.append(Segment(path, value, role))
        return
    if not isinstance(value, _CONTAINERS) or _pruned_object(value, prune.types):
        return
    # Hot on every request: prune's sets in locals, one isinstance chain per child.
    skip, json_keys, inert, types = prune.keys, prune.json_keys, prune.inert, prune.types
    keys_are_text, vocabulary = prune.keys_are_text, prune.key_vocabulary
    stack: list[tuple[Iterator[tuple[str | int, Any]], JsonPath]] = [(_children(value), path)]
    while stack:
        children, base = stack[-1]
        for key, child in children:
            if keys_are_text and key and isinstance(key, str) and key not in vocabulary:
                out.append(Segment((*base, KEY, key), key, role, is_key=True))
            if isinstance(child, str):
                if not child or key in skip or (inert and (key, child) in inert):
                    continue
                if key in json_keys:
                    add_json_string(out, child, (*base, key), role)
                else:
                    out.append(Segment((*base, key), child, role))
            elif isinstance(child, _CONTAINERS):
                if key in skip or _pruned_object(child, types):
                    continue
                if len(base) >= MAX_DEPTH:
                    raise TooDeeplyNested(f"JSON nested deeper than {MAX_DEPTH} levels")
                stack.append((_children(child), (*base, key)))
                break  # descend now, so that strings come out in document order
        else:
            stack.pop()


def _pruned_object(node: dict[str, Any] | list[Any], types: frozenset[str]) -> bool:
    if not types or not isinstance(node, dict):
        return False
    kind = node.get("type")
    return isinstance(kind, str) and kind in types


def add_text(out: list[Segment], value: Any, path: JsonPath, role: str | None) -> None:
    """Append `value` if it is a non-empty string."""
    if isinstance(value, str) and value:
        out.append(Segment(path, value, role))


def add_json_string(out: list[Segment], text: str, path: JsonPath, role: str | None) -> None:
    """A string holding JSON: its strings, decoded, under `path + (IN_JSON, ...)`.

    Decoded, so that a secret spelled with `\\u` escapes is still seen. When the text is not a
    JSON object or array (a model may stream broken JSON), the whole raw string is one segment.
    """
    parsed = parse_embedded_json(text)
    if parsed is None:
        add_text(out, text, path, role)
    else:
        walk_strings(out, parsed, (*path, IN_JSON), role)


def parse_embedded_json(text: str) -> dict[str, Any] | list[Any] | None:
    """The object or array `text` holds, or None. Shared by extraction and replacement.

    Duplicate keys are refused: a parser keeps only one value, while the model reads the raw
    text, so `{"a": "<secret>", "a": "x"}` would hide the secret. Refused, the text is scanned raw.
    """
    try:
        parsed = _EMBEDDED_DECODER.decode(text)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict | list) else None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


_EMBEDDED_DECODER: Final = json.JSONDecoder(object_pairs_hook=_unique_keys)


def dump_embedded_json(value: Any) -> str:
    # Compact, as the OpenAI API writes tool-call arguments; non-ASCII kept as is.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def walk_fields(
    out: list[Segment],
    body: Mapping[str, Any],
    fields: Mapping[str, tuple[str | None, Prune]],
    skip: frozenset[str],
) -> None:
    """Walk each top-level field of `body` not in `skip`: known ones with their role and pruning,
    any other with no role and no pruning, so that a field nobody thought of is still scanned."""
    for key, value in body.items():
        if key in skip:
            continue
        role, prune = fields.get(key, (None, NO_PRUNE))
        walk_strings(out, value, (key,), role, prune)


def read_usage(payload: Any, input_key: str, output_key: str, *extra_input: str) -> Usage | None:
    """`payload["usage"]` as a Usage; `extra_input` are counts the provider keeps apart from the
    input count (Anthropic's cache reads and writes), added so inputs compare across providers."""
    usage = payload.get("usage") if isinstance(payload, dict) else None
    if not isinstance(usage, dict):
        return None
    counts = [_count(usage.get(key)) for key in (input_key, *extra_input)]
    known = [c for c in counts if c is not None]
    return Usage(sum(known) if known else None, _count(usage.get(output_key)))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
