"""Registry data model: entry ids, entries, their lifecycle and the loaded registry."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

KNOWN_KINDS: frozenset[str] = frozenset(
    {
        "temporal.client",
        "temporal.worker",
        "workflow.lua",
        "function.lua",
        "library.lua",
        "process.lua",
        "http.service",
        "http.router",
        "http.endpoint",
        "process.host",
        "process.service",
        "registry.entry",
        "env.variable",
        "env.storage.os",
        "env.storage.memory",
        "env.storage.static",
    }
)
"""Kinds this runtime understands; entries of other kinds are kept but reported as ignored."""

LUA_KINDS: frozenset[str] = frozenset(
    {"workflow.lua", "function.lua", "library.lua", "process.lua"}
)
"""Kinds whose `source` is a Lua chunk loaded into `Entry.source`."""

_WIPPY_ONLY_KINDS: frozenset[str] = frozenset(
    {
        "module.lua",
        "function.lua.bc",
        "library.lua.bc",
        "process.lua.bc",
        "workflow.lua.bc",
        "process.wasm",
        "function.wasm",
        "function.wat",
        "terminal.host",
        "http.static",
        "env.storage.file",
        "env.storage.router",
    }
)
"""Wippy kinds in the families luaflow runs that it does not implement: kept and reported as
ignored. Any other kind of these families is a typo, and kinds of the other Wippy families
(`db.*`, `store.*`, `queue.*`, ...) are ignored."""


_WORKER_ROLES: dict[str, str] = {
    "workflow.lua": "workflow",
    "function.lua": "activity",
    "process.lua": "activity",
}
"""Lua kinds bound to a `temporal.worker` through `meta.temporal.<role>.worker`."""


def _display(path: Path) -> str:
    """Show a path relative to the working directory when it lies below it, as users expect."""
    try:
        return str(path.relative_to(Path.cwd())) if path.is_absolute() else str(path)
    except (ValueError, OSError):
        return str(path)


class RegistryError(Exception):
    """One readable message naming file, entry id and field, so a user can fix the YAML directly."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | None = None,
        entry: str | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = message
        self.file = file
        self.entry = entry
        self.field = field
        parts: list[str] = []
        if file is not None:
            parts.append(_display(file))
        if entry is not None:
            parts.append(f"entry {entry}")
        if field is not None:
            parts.append(f"field {field}")
        parts.append(message)
        super().__init__(": ".join(parts))


@dataclass(frozen=True, order=True)
class EntryId:
    """Registry id `namespace:name`; the namespace may be empty for built-in ids (`:registry`)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}:{self.name}"

    @classmethod
    def parse(cls, text: str, default_namespace: str | None = None) -> EntryId:
        """Parse `ns:name`, or a bare `name` qualified with `default_namespace` (ruling R17)."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"invalid entry id {text!r}: expected 'namespace:name'")
        if text.count(":") > 1:
            raise ValueError(f"invalid entry id {text!r}: more than one ':'")
        namespace, sep, name = text.rpartition(":")
        if not name:
            raise ValueError(f"invalid entry id {text!r}: empty name")
        if not sep:
            if default_namespace is None:
                raise ValueError(f"invalid entry id {text!r}: no namespace (expected 'ns:name')")
            namespace = default_namespace
        return cls(namespace, name)


@dataclass(frozen=True)
class Lifecycle:
    """The parts of an entry's `lifecycle` block that decide whether and when it starts."""

    auto_start: bool = False
    depends_on: tuple[EntryId, ...] = ()
    start_timeout: str = "10s"
    stop_timeout: str = "10s"
    #: The raw `restart` block of a service (checked by the app, which knows durations).
    restart: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Entry:
    """One registry entry as declared in YAML, with placeholders resolved and files inlined."""

    id: EntryId
    kind: str
    meta: Mapping[str, Any]
    data: Mapping[str, Any]
    file: Path
    lifecycle: Lifecycle
    source: str | None = None
    source_path: Path | None = None

    def ref(self, value: str) -> EntryId:
        """Resolve a reference string; a bare name lives in this entry's namespace (R17)."""
        return EntryId.parse(value, self.id.namespace)

    def error(self, message: str, field: str | None = None) -> RegistryError:
        """Build an error that points the user at this entry's file and id."""
        return RegistryError(message, file=self.file, entry=str(self.id), field=field)

    @property
    def method(self) -> str | None:
        """The exported function to call (Lua kinds) or the HTTP verb (endpoints)."""
        value = self.data.get("method")
        return value if isinstance(value, str) else None


def _implicit_refs(entry: Entry) -> list[str]:
    """Validated reference fields that make an entry wait for another one (SPEC 1.3)."""
    refs: list[Any] = []
    if entry.kind == "temporal.worker":
        refs.append(entry.data.get("client"))
    elif entry.kind == "process.service":
        refs.append(entry.data.get("host"))
    elif entry.kind == "http.router":
        refs.append(entry.meta.get("server"))
    elif entry.kind == "http.endpoint":
        refs.append(entry.meta.get("router"))
    elif entry.kind in _WORKER_ROLES:
        temporal = entry.meta.get("temporal")
        section = temporal.get(_WORKER_ROLES[entry.kind]) if isinstance(temporal, Mapping) else None
        if isinstance(section, Mapping):
            refs.append(section.get("worker"))
    return [ref for ref in refs if isinstance(ref, str)]


@dataclass
class Registry:
    """All entries of one app, looked up by id or kind, and ordered for startup."""

    root: Path
    entries: dict[EntryId, Entry]
    ignored_kinds: dict[str, list[EntryId]] = field(default_factory=dict)

    def find(self, entry_id: EntryId | str) -> Entry | None:
        """Return the entry or None; a malformed id string simply matches nothing."""
        if isinstance(entry_id, str):
            try:
                entry_id = EntryId.parse(entry_id)
            except ValueError:
                return None
        return self.entries.get(entry_id)

    def get(self, entry_id: EntryId | str) -> Entry:
        """Return the entry or raise a RegistryError that names the missing id."""
        if isinstance(entry_id, str):
            try:
                entry_id = EntryId.parse(entry_id)
            except ValueError as exc:
                raise RegistryError(str(exc)) from None
        entry = self.entries.get(entry_id)
        if entry is None:
            raise RegistryError(f"unknown entry {entry_id}")
        return entry

    def by_kind(self, *kinds: str) -> list[Entry]:
        """Entries of the given kinds, sorted by id for deterministic iteration."""
        return sorted(
            (entry for entry in self.entries.values() if entry.kind in kinds),
            key=lambda entry: entry.id,
        )

    def dependencies(self, entry: Entry) -> tuple[EntryId, ...]:
        """Entries that must start before this one: `lifecycle` plus referenced services."""
        deps = list(entry.lifecycle.depends_on)
        for ref in _implicit_refs(entry):
            dep = entry.ref(ref)
            if dep in self.entries and dep != entry.id and dep not in deps:
                deps.append(dep)
        return tuple(deps)

    def start_order(self) -> list[Entry]:
        """Auto-start entries, dependencies first; ties broken by id so boots are repeatable."""
        graph: dict[EntryId, tuple[EntryId, ...]] = {}
        pending = [e.id for e in self.entries.values() if e.lifecycle.auto_start]
        while pending:
            current = pending.pop()
            if current in graph:
                continue
            graph[current] = self.dependencies(self.entries[current])
            pending.extend(d for d in graph[current] if d in self.entries)
        waiting = {node: {d for d in deps if d in graph} for node, deps in graph.items()}
        dependents: dict[EntryId, list[EntryId]] = {node: [] for node in graph}
        for node, deps in waiting.items():
            for dep in deps:
                dependents[dep].append(node)
        ready = [node for node, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        ordered: list[EntryId] = []
        while ready:
            node = heapq.heappop(ready)
            ordered.append(node)
            for dependent in dependents[node]:
                waiting[dependent].discard(node)
                if not waiting[dependent]:
                    heapq.heappush(ready, dependent)
        if len(ordered) < len(graph):
            self._raise_cycle({node: deps for node, deps in waiting.items() if deps})
        return [self.entries[node] for node in ordered if self.entries[node].lifecycle.auto_start]

    def _raise_cycle(self, blocked: dict[EntryId, set[EntryId]]) -> NoReturn:
        """Walk the unresolved part of the graph until a node repeats and report that loop."""
        node = min(blocked)
        path: list[EntryId] = []
        while node not in path:
            path.append(node)
            node = min(dep for dep in blocked[node] if dep in blocked)
        cycle = [*path[path.index(node) :], node]
        first = self.entries[cycle[0]]
        raise first.error("dependency cycle: " + " -> ".join(str(n) for n in cycle))
