"""Policy files read as plain data, with the line of every value, for errors people can act on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One error in a policy file: where it is, which rule, which field, what is wrong."""

    file: str
    line: int | None
    rule_id: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        rule = f" rule {self.rule_id}:" if self.rule_id else ""
        at = f" {self.field}:" if self.field else ""
        return f"{where}:{rule}{at} {self.message}"


class PolicyError(Exception):
    """The policy set did not compile; nothing of it is used."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} policy problem(s):\n" + "\n".join(str(p) for p in problems)
        )


@dataclass(frozen=True, slots=True)
class SourceFile:
    name: str
    text: str
    data: Any
    lines: dict[JsonPath, int] = field(default_factory=dict)

    def line_of(self, path: JsonPath) -> int | None:
        """The line of `path`, or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


def read_source(name: str, text: str) -> tuple[SourceFile | None, list[PolicyProblem]]:
    """Parse YAML; record each value's line; duplicate keys are errors, not silently last-wins."""
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [PolicyProblem(name, line, None, None, f"invalid YAML: {exc}")]
    lines: dict[JsonPath, int] = {}
    problems: list[PolicyProblem] = []
    if node is not None:
        _walk(node, (), lines, problems, name)
    return SourceFile(name, text, {} if data is None else data, lines), problems


def _walk(
    node: yaml.Node,
    path: JsonPath,
    lines: dict[JsonPath, int],
    problems: list[PolicyProblem],
    name: str,
) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(
                    PolicyProblem(
                        name, key_node.start_mark.line + 1, None, key, "duplicate key in mapping"
                    )
                )
            seen.add(key)
            _walk(value_node, (*path, key), lines, problems, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, problems, name)


def read_directory(directory: Path) -> list[tuple[str, str]]:
    """(file name, text) of every policy file, in name order: file order breaks ties."""
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    return [(path.name, path.read_text(encoding="utf-8")) for path in files]
