"""OpenAI messages and items: roles, and the protocol structure that holds no text."""

from __future__ import annotations

from typing import Any, Final

from proxy.formats.segments import (
    ASSISTANT,
    SYSTEM,
    TOOL,
    USER,
    JsonPath,
    Prune,
    Segment,
    add_text,
    walk_strings,
)

__all__ = ["ASSISTANT", "STRUCTURE", "choices", "items"]

# Ids, enums and binary payloads (images, audio, files, encrypted reasoning) are skipped; so are
# logprobs, which repeat the content token by token. Any other field of a message, part or item
# is walked, so a part or item type added to the API later is scanned without a change here.
STRUCTURE: Final = Prune(
    keys=frozenset(
        {
            "type",
            "id",
            "call_id",
            "tool_call_id",
            "item_id",
            "approval_request_id",
            "role",
            "status",
            "finish_reason",
            "encrypted_content",
            "image_url",
            "file_id",
            "file_data",
            "file_url",
            "detail",
            "data",
            "b64_json",
            "logprobs",
        }
    ),
    types=frozenset(
        {
            "image_url",
            "input_image",
            "input_audio",
            "image",
            "image_generation_call",
            "computer_screenshot",
        }
    ),
    # Tool-call arguments are a JSON string: chat `function.arguments`, Responses
    # `function_call.arguments`, `mcp_call.arguments`.
    json_keys=frozenset({"arguments"}),
)

_ROLES: Final = {
    "system": SYSTEM,
    "developer": SYSTEM,
    "user": USER,
    "assistant": ASSISTANT,
    "tool": TOOL,
    "function": TOOL,
}


def items(out: list[Segment], value: Any, path: JsonPath, default_role: str) -> None:
    """Chat `messages`, Responses `input`/`instructions`/`output`: a string or a list of items."""
    if not isinstance(value, list):
        walk_strings(out, value, path, default_role, STRUCTURE)
        return
    for index, item in enumerate(value):
        role = _item_role(item, default_role) if isinstance(item, dict) else default_role
        walk_strings(out, item, (*path, index), role, STRUCTURE)


def _item_role(item: dict[str, Any], default_role: str) -> str:
    role = item.get("role")
    if isinstance(role, str):
        # An unknown role is read as the least trusted: the user's.
        return _ROLES.get(role, USER)
    kind = item.get("type")
    if not isinstance(kind, str) or kind == "message":
        return default_role
    # `function_call_output`, `custom_tool_call_output`, `shell_call_output`, ...: what a tool
    # returned; every other item (`function_call`, `reasoning`, ...) the model produced.
    return TOOL if kind.endswith("_output") else ASSISTANT


def choices(out: list[Segment], value: Any, path: JsonPath) -> None:
    """`choices` of a chat completion or completion: `message` (content, refusal, tool-call
    arguments, audio transcript, a provider's `reasoning_content`) or `text`."""
    if not isinstance(value, list):
        return
    for index, choice in enumerate(value):
        if isinstance(choice, dict):
            walk_strings(out, choice, (*path, index), ASSISTANT, STRUCTURE)
        else:
            add_text(out, choice, (*path, index), ASSISTANT)
