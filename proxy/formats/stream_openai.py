"""OpenAI streamed events: chat and completion chunks, and Responses API events."""

from __future__ import annotations

from typing import Any, Final

from proxy.formats.openai_items import STRUCTURE
from proxy.formats.segments import JsonPath, Prune, Segment, read_usage, walk_strings
from proxy.formats.stream_common import ChannelKey, Located

# In events, arguments are fragments of JSON, scanned as they come: no `IN_JSON` paths here.
_PRUNE: Final = Prune(
    keys=STRUCTURE.keys | {"obfuscation", "partial_image_b64"}, types=STRUCTURE.types
)
_BINARY_DELTAS: Final = frozenset({"response.audio.delta"})  # base64 audio
_CHAT_FIELDS: Final = ("content", "refusal", "reasoning_content", "reasoning")
_CHAT_KNOWN: Final = frozenset({"role", "tool_calls", "function_call", "audio", *_CHAT_FIELDS})
_ARGUMENTS: Final = ("arguments",)
_CHAT_PLAIN: Final = frozenset({"role", *_CHAT_FIELDS})  # most deltas: text and nothing else
_CONTENT_ONLY: Final = frozenset({"role", "content"})

Found = list[tuple[ChannelKey, JsonPath, bool]]


def locate(data: Any) -> Located:
    if not isinstance(data, dict):
        return Located(_walk(data, (), ("event",), snapshot=True))
    kind = data.get("type")
    located = _responses_event(kind, data) if isinstance(kind, str) else _chunk(data)
    # Tool-call arguments are JSON as the model writes it (chat deltas, finished items).
    for _, path, _ in located.texts:
        if path[-1:] == _ARGUMENTS:
            break
    else:
        return located
    arguments = {channel for channel, path, _ in located.texts if path[-1:] == _ARGUMENTS}
    return located._replace(json_channels=located.json_channels | arguments)


# --- Chat completions and completions: {"choices": [{"index", "delta" | "text"}], "usage"}


def plain_content(data: Any) -> tuple[ChannelKey, dict[str, Any], str] | None:
    """Most chunks, found at once: one choice whose delta holds `content` (and maybe `role`),
    nothing else. (its channel, the delta, the text); None for any other event, which
    `locate` reads (and finds the same for these)."""
    if type(data) is not dict or "type" in data or data.get("usage") is not None:
        return None
    choices = data.get("choices")
    if type(choices) is not list or len(choices) != 1:
        return None
    choice = choices[0]
    if type(choice) is not dict or "text" in choice:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or not delta.keys() <= _CONTENT_ONLY:
        return None
    content = delta.get("content")
    if type(content) is not str:
        return None
    index = choice.get("index")
    return ("choice", index if type(index) is int else 0, "content"), delta, content


def _chunk(data: dict[str, Any]) -> Located:
    choices = data.get("choices")
    found: Found = []
    if isinstance(choices, list):
        for pos, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            # `index` names the choice; with n > 1 its place in this chunk's list says nothing.
            index = choice.get("index")
            channel = ("choice", index if type(index) is int else pos)
            if isinstance(choice.get("text"), str):
                found.append(((*channel, "text"), ("choices", pos, "text"), False))
            delta = choice.get("delta")
            if isinstance(delta, dict):
                _chat_delta(found, delta, ("choices", pos, "delta"), channel)
    if isinstance(data.get("usage"), dict):
        return Located(found, read_usage(data, "prompt_tokens", "completion_tokens"))
    return Located(found)


def _chat_delta(found: Found, delta: dict[str, Any], path: JsonPath, channel: ChannelKey) -> None:
    for key in _CHAT_FIELDS:
        if isinstance(delta.get(key), str):
            found.append(((*channel, key), (*path, key), False))
    if delta.keys() <= _CHAT_PLAIN:
        return
    calls = delta.get("tool_calls")
    for pos, call in enumerate(calls if isinstance(calls, list) else []):
        if not isinstance(call, dict):
            continue
        call_channel = (*channel, "tool_call", _index(call.get("index"), pos))
        for kind, key in (("function", "arguments"), ("custom", "input")):
            part = call.get(kind)
            if isinstance(part, dict) and isinstance(part.get(key), str):
                found.append((call_channel, (*path, "tool_calls", pos, kind, key), False))
    legacy = delta.get("function_call")
    if isinstance(legacy, dict) and isinstance(legacy.get("arguments"), str):
        found.append(((*channel, "function_call"), (*path, "function_call", "arguments"), False))
    audio = delta.get("audio")
    if isinstance(audio, dict) and isinstance(audio.get("transcript"), str):
        found.append(((*channel, "audio"), (*path, "audio", "transcript"), False))
    for key, value in delta.items():
        # A field some provider streams that nobody listed: scanned all the same.
        if key not in _CHAT_KNOWN:
            found.extend(_walk(value, (*path, key), (*channel, key), snapshot=False))


# --- Responses API: typed events. Deltas grow a channel; `.done` events, finished items and the
# final response repeat whole texts (snapshots).

# event type -> (channel kind, field holding the text, snapshot?)
_TEXT_EVENTS: Final = {
    "response.output_text.delta": ("content", "delta", False),
    "response.output_text.done": ("content", "text", True),
    "response.refusal.delta": ("content", "delta", False),
    "response.refusal.done": ("content", "refusal", True),
    "response.function_call_arguments.delta": ("arguments", "delta", False),
    "response.function_call_arguments.done": ("arguments", "arguments", True),
    "response.mcp_call_arguments.delta": ("arguments", "delta", False),
    "response.mcp_call_arguments.done": ("arguments", "arguments", True),
    "response.custom_tool_call_input.delta": ("input", "delta", False),
    "response.custom_tool_call_input.done": ("input", "input", True),
    "response.code_interpreter_call_code.delta": ("code", "delta", False),
    "response.code_interpreter_call_code.done": ("code", "code", True),
    "response.reasoning_summary_text.delta": ("summary", "delta", False),
    "response.reasoning_summary_text.done": ("summary", "text", True),
    "response.reasoning_text.delta": ("reasoning", "delta", False),
    "response.reasoning_text.done": ("reasoning", "text", True),
    "response.audio.transcript.delta": ("transcript", "delta", False),
}
_PART_EVENTS: Final = {
    "response.content_part.added": False,
    "response.content_part.done": True,
    "response.reasoning_summary_part.added": False,
    "response.reasoning_summary_part.done": True,
}
_RESPONSE_EVENTS: Final = frozenset({"response.created", "response.queued", "response.in_progress"})
_FINAL_EVENTS: Final = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _responses_event(kind: str, data: dict[str, Any]) -> Located:
    output = _index(data.get("output_index"), 0)
    if kind in _TEXT_EVENTS:
        channel_kind, key, snapshot = _TEXT_EVENTS[kind]
        channel = _channel(channel_kind, output, data)
        json_channels = frozenset({channel}) if channel_kind == "arguments" else frozenset()
        text: Found = [(channel, (key,), snapshot)] if isinstance(data.get(key), str) else []
        return Located(text, json_channels=json_channels)
    if kind in _PART_EVENTS:
        part = data.get("part")
        if not isinstance(part, dict):
            return Located()
        key = "refusal" if part.get("type") == "refusal" else "text"
        if kind.startswith("response.reasoning_summary_part"):
            channel_kind = "summary"
        else:
            channel_kind = "reasoning" if part.get("type") == "reasoning_text" else "content"
        channel = _channel(channel_kind, output, data)
        ok = isinstance(part.get(key), str)
        part_text: Found = [(channel, ("part", key), _PART_EVENTS[kind])] if ok else []
        return Located(part_text, whole_values=not _PART_EVENTS[kind])
    if kind in ("response.output_item.added", "response.output_item.done"):
        snapshot = kind.endswith(".done")
        item = _item(data.get("item"), ("item",), output, snapshot)
        return Located(item, whole_values=not snapshot)
    if kind in _FINAL_EVENTS or kind in _RESPONSE_EVENTS:
        response = data.get("response")
        found: Found = []
        outputs = response.get("output") if isinstance(response, dict) else None
        for pos, output_item in enumerate(outputs if isinstance(outputs, list) else []):
            found.extend(_item(output_item, ("response", "output", pos), pos, snapshot=True))
        usage = read_usage(response, "input_tokens", "output_tokens")
        return Located(found, usage, done=kind in _FINAL_EVENTS)
    if kind in _BINARY_DELTAS:
        return Located()
    if kind.endswith(".delta") and isinstance(data.get("delta"), str):
        # A delta event nobody listed (`response.shell_call_command.delta`, ...): a channel of
        # its own, named by its type and indexes, still accumulated across events.
        indexes = sorted(
            (k, v) for k, v in data.items() if k.endswith("_index") and isinstance(v, int)
        )
        channel = (kind.removesuffix(".delta"), *(x for pair in indexes for x in pair))
        return Located([(channel, ("delta",), False)])
    # Anything else (annotations, errors, tool progress): each string scanned whole.
    return Located(_walk(data, (), ("event", kind), snapshot=True), done=kind == "error")


def _channel(kind: str, output: int, data: dict[str, Any]) -> ChannelKey:
    if kind == "content" or kind == "reasoning":
        return ("output", output, kind, _index(data.get("content_index"), 0))
    if kind == "summary":
        return ("output", output, "summary", _index(data.get("summary_index"), 0))
    if kind == "transcript":
        return ("audio_transcript",)
    return ("output", output, kind)


def _item(item: Any, path: JsonPath, output: int, snapshot: bool) -> Found:
    """An output item's strings, on the channels its deltas used."""
    if not isinstance(item, dict):
        return []
    reasoning = item.get("type") == "reasoning"
    found: Found = []
    for segment_path, data_path, _ in _walk(item, path, (), snapshot):
        found.append((_item_channel(output, segment_path, reasoning), data_path, snapshot))
    return found


def _item_channel(output: int, path: ChannelKey, reasoning: bool) -> ChannelKey:
    if len(path) == 3 and path[0] == "content" and path[2] in ("text", "refusal"):
        return ("output", output, "reasoning" if reasoning else "content", path[1])
    if len(path) == 3 and path[0] == "summary" and path[2] == "text":
        return ("output", output, "summary", path[1])
    if len(path) == 1 and path[0] in ("arguments", "input", "code"):
        return ("output", output, path[0])
    return ("output", output, *path)


def _walk(value: Any, path: JsonPath, channel: ChannelKey, snapshot: bool) -> Found:
    """Every string under `value`: channel `channel + its path below value`."""
    segments: list[Segment] = []
    walk_strings(segments, value, (), None, _PRUNE)
    return [((*channel, *s.path), (*path, *s.path), snapshot) for s in segments]


def _index(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
