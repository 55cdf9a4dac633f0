"""Replace strings inside a JSON payload by their segment paths (redaction), never in place.

Paths are those of `Segment.path`. A path through a string that holds JSON carries the
`IN_JSON` marker at that point, e.g. `("messages", 1, "tool_calls", 0, "function", "arguments",
IN_JSON, "email")`: the string is parsed (the same way extraction parsed it), the inner paths are
replaced in the parsed value, and it is serialised back compactly into the outer string. So the
text stays valid JSON whatever the replacement contains (quotes, backslashes, newlines).

A path ending `KEY, name` renames the object key `name`; the object keeps its key order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from proxy.formats.segments import (
    IN_JSON,
    KEY,
    JsonPath,
    dump_embedded_json,
    parse_embedded_json,
)


class SegmentPathError(LookupError):
    """A replacement path does not lead to a string of the payload (a bug in the caller)."""


class KeyCollision(ValueError):
    """A renamed object key would take the name of another key of the same object."""

    def __init__(self, path: JsonPath) -> None:
        super().__init__(f"renaming the key at {path!r} would overwrite another key")
        self.path = path


def replace_segments(payload: Any, replacements: Mapping[JsonPath, str]) -> Any:
    """A copy of `payload` with the string at each path replaced.

    Only the containers along the replaced paths are copied; untouched subtrees are shared with
    the input, which is never mutated. Raises `SegmentPathError` for a path that does not end on
    a string or a key, `ValueError` when a replacement path lies inside another one, and
    `KeyCollision` when a renamed key would replace another.
    """
    if not replacements:
        return payload
    direct: dict[JsonPath, str] = {}
    inside: dict[JsonPath, dict[JsonPath, str]] = {}
    for path, text in replacements.items():
        split = _embedded_json_split(payload, path)
        if split is None:
            direct[path] = text
        else:
            inside.setdefault(path[:split], {})[path[split + 1 :]] = text
    for outer, inner in inside.items():
        if outer in direct:
            raise ValueError(f"replacement paths overlap at {outer!r}")
        parsed = parse_embedded_json(_string_at(payload, outer))
        if parsed is None:
            raise SegmentPathError(f"{outer!r} does not hold a JSON object or array")
        direct[outer] = dump_embedded_json(replace_segments(parsed, inner))
    return _replace_strings(payload, direct)


def _embedded_json_split(payload: Any, path: JsonPath) -> int | None:
    """The index of the first `IN_JSON` applied to a string along `path`, or None.

    Checks the path on the way: every step must exist, and a path without the marker must end
    on a string. Resolving the marker by the node it applies to keeps a real key "<json>" a key.
    """
    node = payload
    for index, step in enumerate(path):
        if isinstance(node, str):
            if step == IN_JSON:
                return index
            raise SegmentPathError(f"{path!r}: step {index} goes into a string")
        if _is_key_step(node, step) and index == len(path) - 2:
            if path[-1] not in node:
                raise SegmentPathError(f"{path!r}: no key {path[-1]!r} here")
            return None
        node = _child(node, step, path)
    if not isinstance(node, str):
        raise SegmentPathError(f"{path!r} does not end on a string")
    return None


def _is_key_step(node: Any, step: str | int) -> bool:
    return isinstance(node, dict) and isinstance(step, int) and step == KEY


def _child(node: Any, step: str | int, path: JsonPath) -> Any:
    if isinstance(node, dict) and isinstance(step, str) and step in node:
        return node[step]
    if (
        isinstance(node, list)
        and isinstance(step, int)
        and not isinstance(step, bool)
        and 0 <= step < len(node)
    ):
        return node[step]
    raise SegmentPathError(f"{path!r}: no {step!r} here")


def _string_at(payload: Any, path: JsonPath) -> str:
    node = payload
    for step in path:
        node = _child(node, step, path)
    if not isinstance(node, str):
        raise SegmentPathError(f"{path!r} does not end on a string")
    return node


def _replace_strings(payload: Any, direct: dict[JsonPath, str]) -> Any:
    # Every path has been checked to end on a string or a key, so none can be a prefix of
    # another. Values are replaced first: their paths name keys by their old names.
    if () in direct:
        return direct[()]
    root = _shallow_copy(payload)
    copied = {id(root)}  # containers made here, safe to write to
    renames: dict[JsonPath, dict[str, str]] = {}
    for path, text in direct.items():
        if len(path) >= 2 and isinstance(path[-2], int) and path[-2] == KEY:
            renames.setdefault(path[:-2], {})[str(path[-1])] = text
            continue
        _writable(root, path[:-1], copied)[path[-1]] = text
    # Deepest objects first: the paths of outer ones still hold the old names.
    for container, names in sorted(renames.items(), key=lambda item: -len(item[0])):
        node = _writable(root, container, copied)
        kept = set(node) - set(names)
        if any(new in kept for new in names.values()) or len(set(names.values())) < len(names):
            raise KeyCollision(container)
        renamed = {names.get(key, key): value for key, value in node.items()}
        node.clear()
        node.update(renamed)
    return root


def _writable(root: Any, path: JsonPath, copied: set[int]) -> Any:
    """The container at `path`, copied on the way down unless this call made it."""
    node = root
    for step in path:
        child = node[step]
        if id(child) not in copied:
            child = _shallow_copy(child)
            node[step] = child
            copied.add(id(child))
        node = child
    return node


def _shallow_copy(node: Any) -> Any:
    if isinstance(node, dict):
        return dict(node)
    if isinstance(node, list):
        return list(node)
    raise SegmentPathError("only objects and arrays hold strings")
