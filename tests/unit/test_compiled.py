"""The compiled request path: used when current, never when a source changed since compiling."""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import proxy
from proxy.compiled import MANIFEST, read_state

REPO = Path(__file__).resolve().parents[2]


def write_package(root: Path, sources: dict[str, str], compiled: list[str]) -> Path:
    """A package `pkg` in `root` with a manifest naming `compiled` as built from their sources."""
    package = root / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in sources.items():
        (package / name).write_text(text)
    digests = {n: hashlib.sha256((package / n).read_bytes()).hexdigest() for n in compiled}
    (package / MANIFEST).write_text(json.dumps({"sources": digests}))
    return package


def test_a_manifest_matching_its_sources_is_a_compiled_build(tmp_path: Path) -> None:
    package = write_package(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 2\n"}, ["a.py", "b.py"])
    state = read_state(package)
    assert (state.status, state.modules, state.changed) == ("compiled", ("a.py", "b.py"), ())
    assert state.describe() == "compiled (2 modules)"


def test_an_edit_after_compiling_makes_the_build_stale(tmp_path: Path) -> None:
    package = write_package(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 2\n"}, ["a.py", "b.py"])
    (package / "b.py").write_text("B = 3\n")
    state = read_state(package)
    assert (state.status, state.changed) == ("stale", ("b.py",))
    assert state.describe() == "from source: 1 changed since compiled (b.py)"
    (package / "a.py").unlink()
    assert read_state(package).changed == ("a.py", "b.py")


def test_no_manifest_or_an_unreadable_one_is_a_source_build(tmp_path: Path) -> None:
    assert read_state(tmp_path).status == "source"
    (tmp_path / MANIFEST).write_text("{not json")
    assert read_state(tmp_path).status == "source"
    (tmp_path / MANIFEST).write_text('{"other": 1}')
    assert read_state(tmp_path).status == "source"


def test_a_stale_build_imports_every_module_from_its_source(tmp_path: Path) -> None:
    """A module's extension file beside its .py wins in Python's own import order; once the
    build is stale the source finder passes over it. The extension here is not a real one:
    importing it would fail, so the import succeeding shows the .py was the one read."""
    sources = {
        "a.py": "WHERE = 'source'\n",
        "compiled.py": (REPO / "proxy/compiled.py").read_text(),
    }
    package = write_package(tmp_path, sources, ["a.py"])
    (package / "__init__.py").write_text(
        "from pathlib import Path\n"
        "from pkg.compiled import use_current_build\n"
        "BUILD = use_current_build('pkg', Path(__file__).parent)\n"
    )
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (package / f"a{suffix}").write_bytes(b"not an extension module")
    (package / "a.py").write_text("WHERE = 'edited source'\n")
    script = textwrap.dedent(
        """
        import pkg, pkg.a
        print(pkg.BUILD.status, pkg.a.WHERE, pkg.a.__file__.endswith('.py'))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["stale", "edited", "source", "True"]


def test_this_process_runs_the_build_its_manifest_describes() -> None:
    """Compiled and current: every module the manifest names is its extension. Otherwise all
    are their .py. `make test` compiles first and sets WARDEN_EXPECT_COMPILED, so CI checks
    the compiled build, the one that ships."""
    state = proxy.BUILD
    if os.environ.get("WARDEN_EXPECT_COMPILED") == "1":
        assert state.status == "compiled", state.describe()
    names = state.modules or ("pipeline.py", "scanning.py")
    for name in names:
        module = importlib.import_module("proxy." + name.removesuffix(".py").replace("/", "."))
        assert module.__file__ is not None
        assert module.__file__.endswith(".py") == (state.status != "compiled"), module.__file__
