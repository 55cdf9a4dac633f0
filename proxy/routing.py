"""Routes: path prefix -> upstream, compiled once; the ResolveRoute stage."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import ClientTimeout

from proxy.config import Settings, Timeouts, Upstream
from proxy.exchange import Exchange
from proxy.formats import FORMATS, Describe
from proxy.replies import LocalReply, bad_request, not_found


@dataclass(frozen=True, slots=True)
class Route:
    prefix: str
    upstream_name: str
    upstream: Upstream
    format: str
    describe: Describe
    rewrite: str | None
    methods: frozenset[str]
    timeout: ClientTimeout
    max_body_bytes: int
    reject_unparsable: bool
    stream_guard: str = "window"
    stream_hold_back: int | None = None  # None: the longest match the scanners can make

    def matches(self, path: str) -> bool:
        if self.prefix.endswith("/"):
            return path.startswith(self.prefix) or path == self.prefix[:-1]
        return path == self.prefix or path.startswith(self.prefix + "/")

    def upstream_path(self, path: str) -> str:
        if self.rewrite is None:
            return path
        rest = path[len(self.prefix) :].lstrip("/")
        base = self.rewrite if self.rewrite.endswith("/") else self.rewrite + "/"
        return base + rest


class RouteTable:
    """Longest prefix wins, so `/v1/messages` can go to Anthropic while `/v1` goes to OpenAI."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: len(r.prefix), reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteTable:
        routes = []
        for rc in settings.routes:
            upstream = settings.upstreams[rc.upstream]
            timeouts = rc.timeouts or upstream.timeouts
            routes.append(
                Route(
                    prefix=rc.prefix,
                    upstream_name=rc.upstream,
                    upstream=upstream,
                    format=rc.format,
                    describe=FORMATS[rc.format],
                    rewrite=rc.rewrite,
                    methods=frozenset(m.upper() for m in rc.methods),
                    timeout=client_timeout(timeouts),
                    max_body_bytes=rc.max_body_bytes or settings.limits.max_body_bytes,
                    reject_unparsable=rc.on_unparsable == "reject",
                    stream_guard=rc.stream_guard,
                    stream_hold_back=rc.stream_hold_back,
                )
            )
        return cls(routes)

    def match(self, path: str) -> Route | None:
        for route in self.routes:
            if route.matches(path):
                return route
        return None

    @property
    def max_body_bytes(self) -> int:
        return max((r.max_body_bytes for r in self.routes), default=0)


def client_timeout(timeouts: Timeouts) -> ClientTimeout:
    # sock_read bounds each wait for upstream bytes, so a long stream that keeps flowing is fine.
    return ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.read
    )


def has_dot_segment(raw_path: str) -> bool:
    # aiohttp does not normalise paths, and an upstream would resolve "/ml/../v1" to "/v1":
    # a way out of a route's rewrite prefix and around rules scoped to the route.
    if "." not in raw_path and "%" not in raw_path:
        return False
    return any(unquote(segment) in (".", "..") for segment in raw_path.split("/"))


class ResolveRoute:
    """Pick the route for the path; clients can never name an upstream host themselves.

    Matching and forwarding use the raw path, so percent-encoding reaches the upstream as sent.
    """

    def __init__(self, table: RouteTable) -> None:
        self.table = table

    async def __call__(self, exchange: Exchange) -> LocalReply | None:
        request = exchange.request
        raw_path = request.rel_url.raw_path
        if has_dot_segment(raw_path):
            return bad_request(
                "the path must not contain '.' or '..' segments", code="invalid_path"
            )
        route = self.table.match(raw_path)
        if route is None:
            return not_found(f"no route for {raw_path}", code="unknown_route")
        if request.method not in route.methods:
            return LocalReply(
                405,
                f"method {request.method} is not allowed on this route",
                "invalid_request_error",
                code="method_not_allowed",
                headers={"allow": ", ".join(sorted(route.methods))},
            )
        exchange.route = route
        exchange.upstream_path = route.upstream_path(raw_path)
        return None
