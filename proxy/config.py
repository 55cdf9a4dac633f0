"""Settings: config.yaml parsed into frozen dataclasses, every problem reported at once."""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

# A field whose metadata carries SECRET must be written as a ${ENV} reference, never a literal.
SECRET = {"secret": True}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_WHOLE_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")

Format = Literal["openai", "anthropic", "kserve", "json"]


@dataclass(frozen=True, slots=True)
class Listener:
    host: str = "0.0.0.0"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class Listen:
    proxy: Listener = Listener("0.0.0.0", 8080)
    admin: Listener = Listener("127.0.0.1", 8081)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. `read` bounds the wait for each chunk, so long streams are fine."""

    connect: float = 10.0
    read: float = 300.0
    total: float | None = None


@dataclass(frozen=True, slots=True)
class Credential:
    """The provider credential Warden injects upstream; the client's Warden key never goes."""

    header: str = "authorization"
    value: str = field(default="", metadata=SECRET)
    prefix: str = ""


@dataclass(frozen=True, slots=True)
class Upstream:
    url: str
    credential: Credential | None = None
    timeouts: Timeouts = Timeouts()
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteConfig:
    prefix: str
    upstream: str
    format: Format = "json"
    # Replace the matched prefix with this before forwarding ("/ml/" -> "/").
    rewrite: str | None = None
    methods: list[str] = field(default_factory=lambda: ["GET", "POST"])
    timeouts: Timeouts | None = None
    max_body_bytes: int | None = None
    # A body the route's format cannot parse is refused, or read as generic JSON.
    on_unparsable: Literal["reject", "generic"] = "reject"


@dataclass(frozen=True, slots=True)
class Redis:
    url: str = "redis://127.0.0.1:6379/0"
    timeout: float = 0.25


@dataclass(frozen=True, slots=True)
class Postgres:
    url: str = "postgresql://postgres@127.0.0.1:5432/warden"
    pool_min: int = 1
    pool_max: int = 10
    migrate_on_start: bool = True


@dataclass(frozen=True, slots=True)
class Admin:
    # No token means the /admin API answers 503; health and metrics stay open.
    token: str | None = field(default=None, metadata=SECRET)


@dataclass(frozen=True, slots=True)
class Keys:
    cache_ttl_seconds: float = 5.0
    cache_max_entries: int = 100_000


@dataclass(frozen=True, slots=True)
class Policies:
    dir: str = "policies"


@dataclass(frozen=True, slots=True)
class Audit:
    enabled: bool = True
    failure_mode: Literal["spool", "fail_closed"] = "spool"
    spool_dir: str = ".warden/spool"


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Logging:
    level: Literal["debug", "info", "warning", "error"] = "info"
    requests: bool = True


@dataclass(frozen=True, slots=True)
class Settings:
    upstreams: dict[str, Upstream]
    routes: list[RouteConfig]
    listen: Listen = Listen()
    redis: Redis = Redis()
    postgres: Postgres = Postgres()
    admin: Admin = Admin()
    keys: Keys = Keys()
    policies: Policies = Policies()
    audit: Audit = Audit()
    limits: Limits = Limits()
    logging: Logging = Logging()
    # Where relative paths (policies dir, spool dir) are resolved from: the config file's folder.
    base_dir: str = "."


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    message: str


class ConfigError(Exception):
    """Every problem found in one config file, so an operator fixes them in one pass."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {p.path or '<root>'}: {p.message}" for p in problems]
        super().__init__(f"{len(problems)} problem(s) in {source}:\n" + "\n".join(lines))


def load_settings(
    path: str | Path, env: Mapping[str, str] | None = None, *, require_secrets: bool = True
) -> Settings:
    """Read, interpolate and validate a config file; raise ConfigError listing every problem.

    `require_secrets=False` lets tools that need only the database (migrate, keys) run
    without the provider credentials in their environment; missing secrets become "".
    """
    path = Path(path)
    env = os.environ if env is None else env
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [Problem("", f"cannot read file: {exc.strerror}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [Problem("", f"invalid YAML: {exc}")]) from exc
    if raw is None:
        raw = {}
    settings = settings_from_mapping(raw, env, source=str(path), require_secrets=require_secrets)
    return dataclasses.replace(settings, base_dir=str(path.resolve().parent))


def settings_from_mapping(
    raw: Any, env: Mapping[str, str], source: str = "<config>", *, require_secrets: bool = True
) -> Settings:
    validator = _Validator(env, require_secrets)
    settings = validator.convert(Settings, raw, "")
    problems = validator.problems
    if isinstance(settings, Settings):
        problems.extend(_cross_check(settings))
    if problems or not isinstance(settings, Settings):
        raise ConfigError(source, problems)
    return settings


def _cross_check(settings: Settings) -> list[Problem]:
    """Rules that span fields: references between sections and URL shapes."""
    problems: list[Problem] = []
    for name, upstream in settings.upstreams.items():
        url = urlsplit(upstream.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(Problem(f"upstreams.{name}.url", "expected an http(s) URL"))
    seen: set[str] = set()
    for i, route in enumerate(settings.routes):
        where = f"routes[{i}]"
        if route.upstream not in settings.upstreams:
            known = ", ".join(sorted(settings.upstreams)) or "none"
            problems.append(
                Problem(
                    f"{where}.upstream", f"unknown upstream {route.upstream!r} (known: {known})"
                )
            )
        if not route.prefix.startswith("/"):
            problems.append(Problem(f"{where}.prefix", "expected a path starting with '/'"))
        if route.rewrite is not None and not route.rewrite.startswith("/"):
            problems.append(Problem(f"{where}.rewrite", "expected a path starting with '/'"))
        if route.prefix in seen:
            problems.append(Problem(f"{where}.prefix", f"duplicate route prefix {route.prefix!r}"))
        seen.add(route.prefix)
    for label, url_text, schemes in (
        ("redis.url", settings.redis.url, ("redis", "rediss", "unix")),
        ("postgres.url", settings.postgres.url, ("postgres", "postgresql")),
    ):
        if urlsplit(url_text).scheme not in schemes:
            problems.append(Problem(label, f"expected a URL with scheme {' or '.join(schemes)}"))
    if settings.postgres.pool_min > settings.postgres.pool_max:
        problems.append(Problem("postgres.pool_min", "must not exceed postgres.pool_max"))
    return problems


class _Validator:
    """Walks raw YAML against the dataclasses above, collecting problems instead of stopping."""

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
        fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "base_dir"}
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
