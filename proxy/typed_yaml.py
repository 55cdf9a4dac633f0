"""Read plain YAML data into typed, frozen dataclasses, collecting every problem on the way.

The dataclasses are the schema: field types (str, int, float, bool, Literal, lists, dicts,
optional and nested dataclasses) and defaults say what is allowed. Strings may hold ${ENV}
references; fields whose metadata carries SECRET must be nothing but one.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

SECRET = {"secret": True}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_WHOLE_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# Fields that are filled in by the loader, not read from the file.
_DERIVED_FIELDS = frozenset({"base_dir"})


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str


def read_typed(
    cls: type[Any], raw: Any, env: Mapping[str, str], *, require_secrets: bool = True
) -> tuple[Any, list[Problem]]:
    """`cls` built from `raw`, or None, with every problem found."""
    reader = _Reader(env, require_secrets)
    return reader.convert(cls, raw, ""), reader.problems


class _Reader:
    def __init__(self, env: Mapping[str, str], require_secrets: bool) -> None:
        self.env = env
        self.require_secrets = require_secrets
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def convert(self, tp: Any, value: Any, path: str, secret: bool = False) -> Any:
        """Check `value` against type `tp`; the converted value, or None after a problem."""
        origin = typing.get_origin(tp)
        if origin in (types.UnionType, typing.Union):
            options = typing.get_args(tp)
            if value is None and type(None) in options:
                return None
            tp = next(o for o in options if o is not type(None))
            origin = typing.get_origin(tp)
        if isinstance(value, str) and tp is not str and "${" in value:
            # A non-string field written as ${ENV}: substitute, then read the result as YAML.
            text = self.interpolate(value, path, secret)
            if text is None:
                return None
            value = yaml.safe_load(text) if text else None
        if origin is Literal:
            if value in typing.get_args(tp):
                return value
            self.problem(path, f"expected {_type_name(tp)}, got {value!r}")
            return None
        if dataclasses.is_dataclass(tp):
            return self.convert_dataclass(tp, value, path)
        if origin is list:
            if not isinstance(value, list):
                self.problem(path, f"expected a list, got {_describe(value)}")
                return None
            (item_type,) = typing.get_args(tp)
            return [self.convert(item_type, v, f"{path}[{i}]", secret) for i, v in enumerate(value)]
        if origin is dict:
            if not isinstance(value, dict):
                self.problem(path, f"expected a mapping, got {_describe(value)}")
                return None
            _, item_type = typing.get_args(tp)
            return {
                str(k): self.convert(item_type, v, f"{path}.{k}", secret) for k, v in value.items()
            }
        return self.convert_scalar(tp, value, path, secret)

    def convert_scalar(self, tp: Any, value: Any, path: str, secret: bool) -> Any:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if tp is str and isinstance(value, str):
            return self.interpolate(value, path, secret)
        if tp is str and is_number and not secret:
            return str(value)
        if tp is bool and isinstance(value, bool):
            return value
        if tp in (int, float) and is_number and (tp is float or isinstance(value, int)):
            if value < 0:
                self.problem(path, f"expected a non-negative number, got {value}")
                return None
            return tp(value)
        self.problem(path, f"expected {_type_name(tp)}, got {_describe(value)}")
        return None

    def convert_dataclass(self, cls: Any, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping, got {_describe(value)}")
            return None
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name not in _DERIVED_FIELDS}
        before = len(self.problems)
        for key in value:
            if key not in fields:
                self.problem(
                    _join(path, str(key)), f"unknown key (expected one of: {', '.join(fields)})"
                )
        kwargs: dict[str, Any] = {}
        for name, f in fields.items():
            sub = _join(path, name)
            if name in value:
                kwargs[name] = self.convert(
                    hints[name], value[name], sub, bool(f.metadata.get("secret"))
                )
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                self.problem(sub, f"required key is missing ({_type_name(hints[name])})")
        if len(self.problems) > before:
            return None
        return cls(**kwargs)

    def interpolate(self, value: str, path: str, secret: bool) -> str | None:
        whole = _WHOLE_ENV_REF.match(value)
        if secret and not whole:
            self.problem(path, "secrets must be a ${ENV_VAR} reference, not a literal value")
            return None
        if secret and whole and whole.group(1) not in self.env and not self.require_secrets:
            return ""
        missing: list[str] = []

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        result = _ENV_REF.sub(substitute, value)
        if missing:
            self.problem(path, f"environment variable {missing[0]} is not set")
            return None
        if not secret and not _ENV_REF.search(value) and _url_has_password(result):
            self.problem(
                path, "a password in a URL is a secret: write it as a ${ENV_VAR} reference"
            )
            return None
        return result


def _url_has_password(text: str) -> bool:
    if "://" not in text:
        return False
    try:
        return bool(urlsplit(text).password)
    except ValueError:
        return False


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_type_name(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is list:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
