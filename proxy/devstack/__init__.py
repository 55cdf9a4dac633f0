"""Embedded PostgreSQL and Redis servers, run from PyPI wheels, for `warden dev` and tests."""

from proxy.devstack.postgres import PG_SUPERUSER, EmbeddedPostgres
from proxy.devstack.process import HOST, DevStackError
from proxy.devstack.redis_server import EmbeddedRedis

__all__ = ["HOST", "PG_SUPERUSER", "DevStackError", "EmbeddedPostgres", "EmbeddedRedis"]
