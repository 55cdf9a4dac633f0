"""Settings: config.yaml parsed into frozen dataclasses, every problem reported at once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from proxy.alerts.settings import AlertSettings
from proxy.alerts.settings import settings_problems as alert_problems
from proxy.audit.settings import AuditSettings, audit_problems
from proxy.event_loop import EventLoopChoice, loop_problem
from proxy.incidents.settings import IncidentSettings
from proxy.incidents.settings import settings_problems as incident_problems
from proxy.ml.settings import MlSettings, ml_problems
from proxy.ratelimit.settings import RateLimitSettings, settings_problems
from proxy.typed_yaml import SECRET, Problem, read_typed

Format = Literal["openai", "anthropic", "kserve", "json"]


@dataclass(frozen=True, slots=True)
class Listener:
    host: str = "0.0.0.0"
    port: int = 8080


@dataclass(frozen=True, slots=True)
class Listen:
    proxy: Listener = Listener("0.0.0.0", 8080)
    admin: Listener = Listener("127.0.0.1", 8081)
    # On SIGTERM: stop accepting, let in-flight requests (long streams too) finish for this
    # long, then cut them; the audit rows of all of them are written before the exit.
    shutdown_grace_seconds: float = 30.0
    # The serving processes' event loop: uvloop when installed (auto), or one of the two.
    event_loop: EventLoopChoice = "auto"


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
    # Streamed answers under response rules: hold back a window of text (default), hold the
    # whole answer (a block is still a clean 403), only record (observe), or skip (off).
    stream_guard: Literal["window", "buffer", "observe", "off"] = "window"
    # The most characters held back per text channel: matches up to this long are caught
    # whole. Only text that could still become a match is held (a word, a number, a key
    # block), so prose is not delayed by it. Default: the longest match the response scanners
    # can make (4200, a PEM private key).
    stream_hold_back: int | None = None


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
    # What happens when no enforced rule matches, per phase.
    default_access: Literal["allow", "block"] = "allow"
    default_content: Literal["allow", "flag", "block"] = "allow"
    default_response: Literal["allow", "flag", "block"] = "allow"
    # Every worker polls the folder this often; edits are live within about this time.
    reload_interval_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ScanningSettings:
    # A request or answer with more text than this (characters) is scanned in a scanning
    # process, so the event loop keeps answering small requests meanwhile; 0: always inline.
    offload_above_chars: int = 65_536
    # Scanning processes per worker: big scans at once; more wait their turn (small ones
    # never wait for them). Started on the first big scan.
    processes: int = 1


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
    audit: AuditSettings = AuditSettings()
    incidents: IncidentSettings = IncidentSettings()
    alerts: AlertSettings = AlertSettings()
    limits: Limits = Limits()
    scanning: ScanningSettings = ScanningSettings()
    logging: Logging = Logging()
    rate_limit: RateLimitSettings = RateLimitSettings()
    ml: MlSettings = MlSettings()
    # Where relative paths (policies dir, spool dir) are resolved from: the config file's folder.
    base_dir: str = "."


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
    settings, problems = read_typed(Settings, raw, env, require_secrets=require_secrets)
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
    if (why := loop_problem(settings.listen.event_loop)) is not None:
        problems.append(Problem("listen.event_loop", why))
    if settings.scanning.processes < 1:
        problems.append(Problem("scanning.processes", "must be at least 1"))
    if settings.postgres.pool_min > settings.postgres.pool_max:
        problems.append(Problem("postgres.pool_min", "must not exceed postgres.pool_max"))
    problems.extend(
        Problem(path, message) for path, message in settings_problems(settings.rate_limit)
    )
    for path, message in [*incident_problems(settings.incidents), *alert_problems(settings.alerts)]:
        problems.append(Problem(path, message))
    problems.extend(Problem(path, message) for path, message in ml_problems(settings.ml))
    problems.extend(Problem(path, message) for path, message in audit_problems(settings.audit))
    return problems
