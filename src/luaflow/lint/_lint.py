"""Checks that need no server: registry, modules, the dialect's syntax and workflow determinism.

An app folder is loaded the way `luaflow run` loads it, then every Lua source goes through the
dialect front end and Lua's compiler; workflow sources are also checked for what would make a
replay differ (globals written, modules used without being listed, host-only calls). A `.lua`
file, or a folder that is not an app, is checked for syntax only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from luaflow.engine import check_entry_modules, chunk_name
from luaflow.lua import GLOBAL_MODULES, LuaRuntimeError, LuaState, analyze
from luaflow.registry import LUA_KINDS, Entry, RegistryError, load_registry

#: Calls the workflow `process` global answers with an error: they watch processes, which only
#: host code can do.
HOST_ONLY = {
    "process.monitor": "monitors",
    "process.unmonitor": "monitors",
    "process.link": "links",
    "process.unlink": "links",
}

_SUPPRESS = re.compile(r"--\s*luaflow:\s*ignore(?:\s+([\w,\s-]+))?")
_POSITION = re.compile(r"^(?P<file>.*?):(?P<line>\d+):(?:(?P<col>\d+):)?\s*(?P<message>.*)$")


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: where it is (line and column are 0 when unknown), its rule and message."""

    file: str
    line: int
    col: int
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.col or 1}"
        return f"{where}: {self.message} [{self.rule}]"


def lint_paths(paths: Sequence[Path]) -> tuple[list[Finding], int]:
    """Findings for every path, and the number of Lua files checked."""
    findings: list[Finding] = []
    checked = 0
    for path in paths:
        if path.is_dir() and _is_app(path):
            found, count = _lint_app(path)
        else:
            files = [path] if path.is_file() else sorted(path.rglob("*.lua"))
            found = [f for file in files for f in _syntax(file.read_text(), _display(file))]
            count = len(files)
        findings.extend(found)
        checked += count
    return sorted(set(findings)), checked


def _is_app(path: Path) -> bool:
    return (path / "_index.yaml").is_file() or (path / "wippy.lock").is_file()


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _lint_app(root: Path) -> tuple[list[Finding], int]:
    try:
        registry = load_registry(root)
    except RegistryError as err:
        file = _display(err.file) if err.file is not None else _display(root)
        return [Finding(file, 0, 0, "registry", _registry_text(err))], 0
    findings: list[Finding] = []
    sources: dict[str, str] = {}
    users: dict[str, list[Entry]] = {}
    for entry in registry.by_kind(*LUA_KINDS):
        name = _display(entry.source_path) if entry.source_path else chunk_name(registry, entry)
        try:
            check_entry_modules(entry)
        except RegistryError as err:
            findings.append(Finding(name, 0, 0, "forbidden-module", _registry_text(err)))
        if name not in sources:
            sources[name] = entry.source or ""
            findings.extend(_syntax(sources[name], name))
        if entry.kind != "library.lua":
            users.setdefault(name, []).append(entry)
    broken = {f.file for f in findings if f.rule == "syntax"}
    for name, entries in users.items():
        if name in broken:
            continue
        findings.extend(_modules_used(entries, sources[name], name))
        for entry in entries:
            if entry.kind == "workflow.lua":
                findings.extend(_determinism(entry, sources[name], name))
    return _unsuppressed(findings, sources), len(sources)


def _registry_text(err: RegistryError) -> str:
    parts = [f"entry {err.entry}"] if err.entry else []
    if err.field:
        parts.append(f"field {err.field}")
    return ": ".join([*parts, err.reason])


def _syntax(source: str, name: str) -> list[Finding]:
    """The dialect front end and Lua's own compiler, in a throwaway state."""
    state = LuaState()
    try:
        state.load(source, name)
    except LuaRuntimeError as err:
        match = _POSITION.match(err.message)
        if match is None:
            return [Finding(name, 0, 0, "syntax", err.message)]
        return [
            Finding(
                name,
                int(match["line"]),
                int(match["col"] or 0),
                "syntax",
                match["message"],
            )
        ]
    finally:
        state.close()
    return []


def _listed(entry: Entry) -> set[str]:
    return {*(entry.data.get("modules") or []), *(entry.data.get("imports") or {}), *GLOBAL_MODULES}


def _modules_used(entries: list[Entry], source: str, name: str) -> Iterable[Finding]:
    """`require` of a module an entry does not list fails when that line runs: at load for the
    chunk's own top level (so for every entry of the file), inside a function only when that
    function runs (so only when no entry of the file lists it)."""
    analysis = analyze(source, name)
    top = set(analysis.top_level_requires)
    for entry in entries:
        for module, line, col in top:
            if module not in _listed(entry):
                yield Finding(
                    name, line, col, "undeclared-module",
                    f'require("{module}"): "{module}" is not in the modules or imports of '
                    f"{entry.id}",
                )  # fmt: skip
    for module, line, col in analysis.requires:
        if (module, line, col) in top or any(module in _listed(e) for e in entries):
            continue
        ids = ", ".join(str(e.id) for e in entries)
        yield Finding(
            name, line, col, "undeclared-module",
            f'require("{module}"): "{module}" is not in the modules or imports of {ids}',
        )  # fmt: skip


def _determinism(entry: Entry, source: str, name: str) -> Iterable[Finding]:
    analysis = analyze(source, name)
    for global_name, line, col in analysis.global_writes:
        yield Finding(
            name,
            line,
            col,
            "global-write",
            f"assignment to global '{global_name}' in workflow {entry.id}: keep workflow state "
            "in locals (a global outlives the step that set it and hides what the run depends on)",
        )
    for path, line, col in analysis.global_fields:
        what = HOST_ONLY.get(path)
        if what is not None:
            yield Finding(
                name,
                line,
                col,
                "host-only",
                f"{path} is not supported in workflow context ({what} are for host code); "
                "use process.spawn_monitored/spawn_linked or pid.exit events instead",
            )


def _unsuppressed(findings: list[Finding], sources: dict[str, str]) -> list[Finding]:
    """Drop findings on a line that says `-- luaflow: ignore` (optionally naming rules)."""
    kept = []
    for finding in findings:
        lines = sources.get(finding.file, "").splitlines()
        text = lines[finding.line - 1] if 0 < finding.line <= len(lines) else ""
        match = _SUPPRESS.search(text)
        if match is not None:
            rules = {r.strip() for r in (match[1] or "").replace(",", " ").split()}
            if not rules or finding.rule in rules:
                continue
        kept.append(finding)
    return kept
