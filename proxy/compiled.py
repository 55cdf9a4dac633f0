"""Whether this process runs the compiled request path, and never a stale one.

setup.py compiles the request path's modules with mypyc and writes compiled.json beside them:
the SHA-256 of every source it compiled. Python would import a compiled module even after its
.py was edited, silently running old code. So at import `proxy` compares the digests: when any
differs, or there is no manifest, every `proxy.*` module is loaded from its .py. A partly
compiled package is never used: compiled modules call each other directly, not through Python.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

MANIFEST = "compiled.json"
PACKAGE_DIR = Path(__file__).parent

BuildStatus = Literal["compiled", "stale", "source"]


@dataclass(frozen=True)
class BuildState:
    status: BuildStatus
    # Module paths relative to the package ("scanners/pii.py"), as the manifest names them.
    modules: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.status == "compiled":
            return f"compiled ({len(self.modules)} modules)"
        if self.status == "stale":
            shown = ", ".join(self.changed[:3]) + (", ..." if len(self.changed) > 3 else "")
            return f"from source: {len(self.changed)} changed since compiled ({shown})"
        return "from source"


def read_state(package_dir: Path = PACKAGE_DIR) -> BuildState:
    """What the build in `package_dir` is: compiled and current, stale, or source only."""
    try:
        digests = json.loads((package_dir / MANIFEST).read_text())["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return BuildState("source")
    changed = tuple(
        name for name, digest in sorted(digests.items()) if _digest(package_dir / name) != digest
    )
    return BuildState("stale" if changed else "compiled", tuple(sorted(digests)), changed)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of one package from their .py files, passing over compiled ones."""

    def __init__(self, package: str) -> None:
        self.prefix = package + "."

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(self.prefix) or not path:
            return None
        leaf = fullname.rpartition(".")[2]
        for entry in path:
            source = Path(entry) / f"{leaf}.py"
            if source.is_file():
                return importlib.util.spec_from_file_location(fullname, source)
        # A subpackage (its __init__.py) or something that is not ours: the usual finders.
        return None


def use_current_build(package: str = "proxy", package_dir: Path = PACKAGE_DIR) -> BuildState:
    """Called once, as `package` is imported: compiled modules only when they are current."""
    state = read_state(package_dir)
    if state.status != "compiled" and not any(
        isinstance(finder, SourceFinder) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, SourceFinder(package))
    return state
