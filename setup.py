"""Build step: the request path's modules compiled to C with mypyc, when this machine can.

The same typed Python runs compiled or from source. Compiled, Warden executes 9% fewer
instructions a request on the shipped setup (bench.instructions: 1,714 k -> 1,566 k), because
the interpreter no longer dispatches each bytecode of that code. Everything else (what the
package contains, its metadata) is in pyproject.toml.

`WARDEN_COMPILE=0` builds from source only. Without mypyc or a working C compiler the build
falls back to source as well, and says so. A compiled build writes proxy/compiled.json, the
digest of every source it compiled; proxy.compiled reads it at import to run from source
whenever a compiled module is older than its .py (an edit since the last `make compile`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
MANIFEST = "compiled.json"

# The request path's synchronous work: scanners, request and stream formats, policy
# evaluation, audit rows and their hash chain, rate-limit arithmetic, logging and metrics.
# Left out: coroutines (mypyc 1.15 aborted Warden in compiled async code, so the stages,
# the forwarder and the Redis and Postgres clients stay interpreted), config readers
# (proxy.typed_yaml inspects their dataclasses, which compiled classes do not describe the
# same way), the admin API and the command line.
COMPILED_PACKAGES = ("scanners", "formats", "policy")
COMPILED_MODULES = (
    "audit/chained_row",
    "audit/checkpoint",
    "audit/read_back",
    "audit/record",
    "audit/slots",
    "audit_row",
    "errors",
    "exchange",
    "ids",
    "logs",
    "metrics",
    "ratelimit/admission",
    "ratelimit/plan",
    "ratelimit/share",
    "ratelimit/share_sizing",
    "ratelimit/wording",
    "record",
    "redact",
    "replies",
    "response_guard",
    "restore",
    "risk",
    "sse",
    "stream_meter",
    "tally",
    "usage",
)
NOT_COMPILED = {"settings.py", "__init__.py"}


def compiled_sources() -> list[str]:
    """The .py files to compile, relative to the repository root, sorted."""
    found = [f"proxy/{name}.py" for name in COMPILED_MODULES]
    for package in COMPILED_PACKAGES:
        found += [
            path.relative_to(ROOT).as_posix()
            for path in (ROOT / "proxy" / package).glob("*.py")
            if path.name not in NOT_COMPILED
        ]
    return sorted(found)


def _extensions() -> list[Any]:
    if os.environ.get("WARDEN_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("warden: mypyc is not installed, building from source only", file=sys.stderr)
        return []
    sources = compiled_sources()
    # One shared library, inside the package (proxy/native__mypyc.*.so), so compiled modules
    # call each other directly and an editable install finds it where it finds `proxy`.
    # A named group turns on mypy's incremental cache, and pip runs this file twice (metadata,
    # then the build): the second run found every module fresh, generated no C and linked an
    # empty library. Without a cache every run generates all of it.
    try:
        extensions = mypycify(
            [*sources, f"--cache-dir={os.devnull}"],
            opt_level="3",
            debug_level="0",
            separate=[(sources, "proxy.native")],
        )
    except (Exception, SystemExit) as error:  # noqa: BLE001 - a type error or a mypyc crash
        print(f"warden: mypyc failed ({error!r}), building from source only", file=sys.stderr)
        return []
    for extension in extensions:
        # gcc 12 sees possibly uninitialised temporaries in mypyc 1.15's output, and mypyc
        # builds with -Werror; they are set on every path that reads them.
        extension.extra_compile_args.append("-Wno-maybe-uninitialized")
    return extensions


class BuildCompiled(build_ext):
    """Compiles the extensions, or falls back to source when this machine cannot compile."""

    def run(self) -> None:
        if not self.extensions:
            # Built from source: what an earlier compiled build left in place goes unused.
            self._remove_built()
            return
        try:
            super().run()
        except Exception as error:  # noqa: BLE001 - any compiler failure means "from source"
            print(f"warden: compiling failed ({error}), building from source only", file=sys.stderr)
            self._remove_built()
            return
        self._write_manifest()

    def _package_dir(self) -> Path:
        return ROOT / "proxy" if self.inplace else Path(self.build_lib) / "proxy"

    def _write_manifest(self) -> None:
        digests = {
            path.removeprefix("proxy/"): hashlib.sha256((ROOT / path).read_bytes()).hexdigest()
            for path in compiled_sources()
        }
        target = self._package_dir() / MANIFEST
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps({"sources": digests}, indent=1, sort_keys=True) + "\n")

    def _remove_built(self) -> None:
        # A half-built set must not be imported: without the manifest nothing compiled is used.
        (self._package_dir() / MANIFEST).unlink(missing_ok=True)


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildCompiled})
