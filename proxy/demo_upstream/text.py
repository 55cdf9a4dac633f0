"""Reading the text the echo model answers to, and counting tokens (words) in it."""

from __future__ import annotations

from typing import Any

from proxy.demo_upstream.wire import Json


def text_of(content: Any) -> str:
    """Flatten string-or-parts content; OpenAI, Responses and Anthropic all share this shape."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (p.get("text") for p in content if isinstance(p, dict))
        return "\n".join(t for t in texts if isinstance(t, str))
    return ""


def last_user_text(messages: list[Json]) -> str:
    users = [m for m in messages if m.get("role") == "user"] or messages
    return text_of(users[-1].get("content")) if users else ""


def count_words(*texts: str) -> int:
    return sum(len(text.split()) for text in texts)
