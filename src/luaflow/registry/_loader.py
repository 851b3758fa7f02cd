"""Build a Registry from an app folder's YAML definition files (SPEC 1.1-1.5, 1.13, 1.14)."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from ._model import (
    _WIPPY_ONLY_KINDS,
    _WORKER_ROLES,
    KNOWN_KINDS,
    LUA_KINDS,
    Entry,
    EntryId,
    Lifecycle,
    Registry,
    RegistryError,
    _display,
)

_NAMESPACE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ENV_RE = re.compile(r"\$\$\{|\$\{env:([^}|]+)(?:\|([^}]*))?\}")
_FILE_PREFIX = "file://"
_ENVELOPE = frozenset({"name", "kind", "meta", "lifecycle"})
_SKIPPED_DIRS = frozenset({"node_modules", ".luaflow"})
#: Values YAML aliases may add to a file once expanded: enough for any shared config block,
#: far too few for an alias bomb ("billion laughs") to cost memory or time.
MAX_ALIAS_VALUES = 100_000
_FAMILIES = frozenset(kind.split(".")[0] for kind in KNOWN_KINDS)


def load_registry(app_dir: Path | str, environ: Mapping[str, str] | None = None) -> Registry:
    """Load and validate every definition file of an app; raise RegistryError on the first problem.

    `environ` replaces os.environ for `${env:...}` placeholders, so tests and tools stay hermetic.
    """
    root = Path(app_dir).resolve()
    if not root.is_dir():
        raise RegistryError("app folder not found", file=root)
    loader = _Loader(root, os.environ if environ is None else environ)
    for path in _yaml_files(_source_dir(root)):
        loader.load_file(path)
    return loader.finish()


class _AliasBombError(yaml.YAMLError):
    """A document whose aliases expand beyond MAX_ALIAS_VALUES, or refer to themselves."""


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def _check_aliases(root: yaml.Node) -> None:
    """Count the values of a node graph as if every alias were a copy (memoised, so this costs
    one visit per node) and refuse a graph that aliases blow up or that contains itself."""
    sizes: dict[int, int] = {}
    ancestors: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            ancestors.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
        elif key in ancestors:
            raise _AliasBombError("an alias refers to a value that contains it")
        elif key not in sizes:
            ancestors.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))
    if sizes[id(root)] - len(sizes) > MAX_ALIAS_VALUES:
        raise _AliasBombError(
            f"aliases expand to more than {MAX_ALIAS_VALUES} extra values (an alias bomb?)"
        )


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing alias bombs before they are built."""

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _check_aliases(node)
        return node


def _read_yaml(path: Path) -> Any:
    """Parse one YAML file, turning parser failures into errors with a line number."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), _BoundedLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise RegistryError(f"invalid YAML{where}: {problem}", file=path) from None
    except _AliasBombError as exc:
        raise RegistryError(f"invalid YAML: {exc}", file=path) from None
    except RecursionError:
        raise RegistryError("invalid YAML: nested too deeply", file=path) from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise RegistryError(f"cannot read YAML: {exc}", file=path) from None


def _source_dir(root: Path) -> Path:
    """The folder to scan: `directories.src` from wippy.lock when given, else the app folder."""
    lock = root / "wippy.lock"
    if not lock.is_file():
        return root
    doc = _read_yaml(lock)
    directories = doc.get("directories") if isinstance(doc, dict) else None
    src = directories.get("src") if isinstance(directories, dict) else None
    if src is None:
        return root
    if not isinstance(src, str) or not (root / src).is_dir():
        raise RegistryError(
            f"source directory {src!r} not found", file=lock, field="directories.src"
        )
    return (root / src).resolve()


def _yaml_files(top: Path) -> list[Path]:
    """All YAML files below `top`, sorted, ignoring hidden folders, installed deps and state."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS]
        found.extend(
            Path(folder, name)
            for name in files
            if name.endswith((".yaml", ".yml")) and not name.startswith(".")
        )
    return sorted(found)


def _shape(value: Any) -> str:
    """How a YAML value looks, for errors about documents of the wrong shape."""
    if value is None:
        return "an empty document"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} value"


def _check_foreign_kind(entry: Entry) -> None:
    """Accept a kind luaflow does not run only when it is another Wippy component's: a kind of
    luaflow's own families that it does not know, or one close to a known kind, is a typo."""
    kind = entry.kind
    if kind in _WIPPY_ONLY_KINDS:
        return
    close = difflib.get_close_matches(kind, sorted(KNOWN_KINDS), n=1, cutoff=0.85)
    if close:
        raise entry.error(f"unknown kind {kind!r} (did you mean {close[0]}?)", "kind")
    family = kind.split(".")[0]
    if family in _FAMILIES:
        known = ", ".join(sorted(k for k in KNOWN_KINDS if k.split(".")[0] == family))
        raise entry.error(f"unknown kind {kind!r} (known {family} kinds: {known})", "kind")


def _set_in(mapping: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """Copy `mapping` with `value` stored at a nested key path, leaving the original untouched."""
    head, *rest = path
    copy = dict(mapping)
    copy[head] = _set_in(copy[head], tuple(rest), value) if rest else value
    return copy


class _Loader:
    """Accumulates entries file by file, then checks references across the whole app."""

    def __init__(self, root: Path, environ: Mapping[str, str]) -> None:
        self.root = root
        self.environ = environ
        self.entries: dict[EntryId, Entry] = {}
        self.dep_fields: dict[EntryId, dict[EntryId, str]] = {}

    # -- per file -------------------------------------------------------------------------------

    def load_file(self, path: Path) -> None:
        """Add the entries of one file. Every YAML file of the source tree is a registry
        document (as in Wippy), so anything else is an error rather than silently skipped."""
        doc = _read_yaml(path)
        if not isinstance(doc, dict):
            raise RegistryError(
                "not a registry document: expected a mapping with namespace and entries, "
                f"got {_shape(doc)}",
                file=path,
            )
        if "namespace" not in doc:
            raise RegistryError(
                "required: every YAML file of the app is a registry document", file=path,
                field="namespace",
            )  # fmt: skip
        if "entries" in doc:
            raw_entries = doc["entries"] if doc["entries"] is not None else []
            if not isinstance(raw_entries, list):
                raise RegistryError("must be a list of entries", file=path, field="entries")
        elif "name" in doc or "kind" in doc:
            raw_entries = [{k: v for k, v in doc.items() if k not in ("namespace", "version")}]
        else:
            raise RegistryError(
                "required: a list of entries (or a single entry's name and kind)",
                file=path,
                field="entries",
            )
        version = doc.get("version", "1.0")
        if version != "1.0" and not (isinstance(version, float) and version == 1.0):
            raise RegistryError(f"unsupported version {version!r}", file=path, field="version")
        namespace = doc["namespace"]
        if not isinstance(namespace, str) or not _NAMESPACE_RE.match(namespace):
            raise RegistryError(
                f"invalid namespace {namespace!r} (dot-separated identifiers)",
                file=path,
                field="namespace",
            )
        for index, raw in enumerate(raw_entries):
            entry = self._entry(path, namespace, index, raw)
            previous = self.entries.get(entry.id)
            if previous is not None:
                raise entry.error(
                    f"duplicate entry id, first declared in {_display(previous.file)}"
                )
            self.entries[entry.id] = entry

    def _entry(self, path: Path, namespace: str, index: int, raw: Any) -> Entry:
        """Turn one raw YAML mapping into an Entry with placeholders and files resolved."""
        where = f"entries[{index}]"
        if not isinstance(raw, dict):
            raise RegistryError("must be a mapping with name and kind", file=path, field=where)
        name, kind = raw.get("name"), raw.get("kind")
        if not isinstance(name, str) or not name or ":" in name:
            raise RegistryError(
                f"name must be a non-empty string without ':', got {name!r}",
                file=path,
                field=f"{where}.name",
            )
        entry_id = EntryId(namespace, name)
        if not isinstance(kind, str) or not kind:
            raise RegistryError(
                f"must be a non-empty string, got {kind!r}",
                file=path,
                entry=str(entry_id),
                field="kind",
            )
        meta = raw.get("meta")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise RegistryError("must be a mapping", file=path, entry=str(entry_id), field="meta")
        data = {key: value for key, value in raw.items() if key not in _ENVELOPE}
        entry = Entry(entry_id, kind, meta, data, path, Lifecycle())
        if kind not in KNOWN_KINDS:
            _check_foreign_kind(entry)
        entry = replace(entry, lifecycle=self._lifecycle(entry, raw.get("lifecycle")))
        if kind not in KNOWN_KINDS:
            return entry  # kept raw: an ignored entry must not fail the load over its env or files
        meta = self._resolve(entry, meta, "meta", inline=False)
        data = {
            key: value
            if kind in LUA_KINDS and key == "source"
            else self._resolve(entry, value, key, inline=True)
            for key, value in data.items()
        }
        entry = replace(entry, meta=meta, data=data)
        return self._lua(entry) if kind in LUA_KINDS else entry

    def _lifecycle(self, entry: Entry, raw: Any) -> Lifecycle:
        """Parse `lifecycle`, merging `requires` and legacy `depends_on` into one list."""
        if raw is None:
            return Lifecycle()
        if not isinstance(raw, dict):
            raise entry.error("must be a mapping", "lifecycle")
        auto_start = raw.get("auto_start", False)
        if not isinstance(auto_start, bool):
            raise entry.error("must be true or false", "lifecycle.auto_start")
        deps: dict[EntryId, str] = {}
        for key in ("requires", "depends_on"):
            items = raw.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                raise entry.error("must be a list of entry ids", f"lifecycle.{key}")
            for position, item in enumerate(items):
                deps.setdefault(self._ref(entry, item, f"lifecycle.{key}[{position}]"), key)
        self.dep_fields[entry.id] = deps
        timeouts = {key: raw.get(key, "10s") for key in ("start_timeout", "stop_timeout")}
        for key, value in timeouts.items():
            if not isinstance(value, str):
                raise entry.error(
                    f"must be a duration like '10s', got {value!r}", f"lifecycle.{key}"
                )
        restart = raw.get("restart")
        if restart is not None and not isinstance(restart, dict):
            raise entry.error("must be a mapping", "lifecycle.restart")
        return Lifecycle(
            auto_start, tuple(deps), timeouts["start_timeout"], timeouts["stop_timeout"], restart
        )

    def _ref(self, entry: Entry, value: Any, field: str) -> EntryId:
        """Resolve a reference field value (R17) or explain why it is not an entry id."""
        if not isinstance(value, str):
            raise entry.error(f"must be an entry id string, got {value!r}", field)
        try:
            return entry.ref(value)
        except ValueError as exc:
            raise entry.error(str(exc), field) from None

    def _resolve(self, entry: Entry, value: Any, path: str, *, inline: bool) -> Any:
        """Resolve env placeholders (and, when `inline`, file:// strings) in a nested value."""
        if isinstance(value, str):
            text = self._substitute(entry, value, path)
            return (
                self._read(entry, text, path)[0]
                if inline and value.startswith(_FILE_PREFIX)
                else text
            )
        if isinstance(value, dict):
            return {
                k: self._resolve(entry, v, f"{path}.{k}", inline=inline) for k, v in value.items()
            }
        if isinstance(value, list):
            return [
                self._resolve(entry, item, f"{path}[{i}]", inline=inline)
                for i, item in enumerate(value)
            ]
        return value

    def _substitute(self, entry: Entry, text: str, path: str) -> str:
        """Apply `${env:NAME}`, `${env:NAME|default}` and the `$${` escape to one string."""

        def replacement(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if name in self.environ:
                return self.environ[name]
            if default is not None:
                return default
            raise entry.error(f"environment variable {name} is not set and has no default", path)

        return _ENV_RE.sub(replacement, text) if "${" in text else text

    def _read(self, entry: Entry, ref: str, field: str) -> tuple[str, Path]:
        """Read a `file://` path relative to the entry's YAML file, refusing to leave the app."""
        relative = ref[len(_FILE_PREFIX) :]
        target = (entry.file.parent / relative).resolve()
        if not relative or Path(relative).is_absolute() or not target.is_relative_to(self.root):
            raise entry.error(f"path escapes the app folder: {ref}", field)
        if not target.is_file():
            raise entry.error(f"file not found: {ref} ({target})", field)
        try:
            return target.read_text(encoding="utf-8"), target
        except (OSError, UnicodeDecodeError) as exc:
            raise entry.error(f"cannot read {ref}: {exc}", field) from None

    def _lua(self, entry: Entry) -> Entry:
        """Check the common Lua fields (SPEC 1.5) and load the chunk's source text."""
        data = entry.data
        source = data.get("source")
        if not isinstance(source, str) or not source.startswith(_FILE_PREFIX):
            raise entry.error("required, must be a file://path.lua string", "source")
        text, source_path = self._read(entry, source, "source")
        method = data.get("method")
        if method is not None and not isinstance(method, str):
            raise entry.error(f"must be a string, got {method!r}", "method")
        modules = data.get("modules")
        if modules is not None and not (
            isinstance(modules, list) and all(isinstance(m, str) for m in modules)
        ):
            raise entry.error("must be a list of module names", "modules")
        imports = data.get("imports")
        if imports is not None:
            if not isinstance(imports, dict):
                raise entry.error("must be a mapping alias: entry id", "imports")
            resolved = {
                str(alias): str(self._ref(entry, target, f"imports.{alias}"))
                for alias, target in imports.items()
            }
            data = {**data, "imports": resolved}
        return replace(entry, data=data, source=text, source_path=source_path)

    # -- whole app ------------------------------------------------------------------------------

    def finish(self) -> Registry:
        """Check cross-entry references, store them as full ids and build the Registry."""
        ignored: dict[str, list[EntryId]] = {}
        for entry_id in sorted(self.entries):
            entry = self.entries[entry_id]
            for dep, key in self.dep_fields.get(entry_id, {}).items():
                self._target(entry, str(dep), f"lifecycle.{key}", None)
            if entry.kind in KNOWN_KINDS:
                self.entries[entry_id] = self._check_refs(entry)
            else:
                ignored.setdefault(entry.kind, []).append(entry_id)
        return Registry(self.root, dict(sorted(self.entries.items())), ignored)

    def _target(self, entry: Entry, value: Any, field: str, kind: str | None) -> str:
        """Resolve a reference that must name an existing entry (of `kind`, when given)."""
        target_id = self._ref(entry, value, field)
        target = self.entries.get(target_id)
        if target is None:
            raise entry.error(f"unknown entry {target_id}", field)
        if kind is not None and target.kind != kind:
            raise entry.error(f"{target_id} is a {target.kind}, expected a {kind}", field)
        return str(target_id)

    def _check_refs(self, entry: Entry) -> Entry:
        """Validate the reference fields of one known entry kind (SPEC 1.7-1.12)."""
        data, meta = entry.data, entry.meta
        if entry.kind == "temporal.worker":
            if "client" not in data:
                raise entry.error("required (a temporal.client entry id)", "client")
            client = self._target(entry, data["client"], "client", "temporal.client")
            task_queue = data.get("task_queue")
            if not isinstance(task_queue, str) or not task_queue:
                raise entry.error("required, must be a non-empty string", "task_queue")
            data = {**data, "client": client}
        elif entry.kind in _WORKER_ROLES:
            meta = self._check_worker(entry, _WORKER_ROLES[entry.kind])
        elif entry.kind == "http.router":
            meta = self._meta_ref(entry, "server", "http.service")
        elif entry.kind == "http.endpoint":
            meta = self._meta_ref(entry, "router", "http.router")
            if "func" not in data:
                raise entry.error("required (a function.lua entry id)", "func")
            data = {**data, "func": self._target(entry, data["func"], "func", "function.lua")}
        elif entry.kind == "process.service":
            if "process" not in data:
                raise entry.error("required (a process.lua entry id)", "process")
            process = self._target(entry, data["process"], "process", "process.lua")
            host = data.get("host")
            if host is not None:
                host = self._target(entry, host, "host", "process.host")
            data = {**data, "process": process, "host": host}
        if entry.kind in LUA_KINDS:
            for alias, target in data.get("imports", {}).items():
                if not target.startswith(":"):  # empty namespace: built-in, provided at run time
                    self._lua_target(entry, target, f"imports.{alias}")
        return replace(entry, data=data, meta=meta)

    def _lua_target(self, entry: Entry, value: Any, field: str) -> str:
        """An import: any Lua entry, whose module is what its source returns (as in Wippy)."""
        target_id = self._target(entry, value, field, None)
        kind = self.entries[EntryId.parse(target_id)].kind
        if kind not in LUA_KINDS:
            raise entry.error(
                f"{target_id} is a {kind}, expected a Lua entry ({', '.join(sorted(LUA_KINDS))})",
                field,
            )
        return target_id

    def _meta_ref(self, entry: Entry, key: str, kind: str) -> dict[str, Any]:
        """Resolve a required parent reference held in `meta` (children attach via meta)."""
        if key not in entry.meta:
            raise entry.error(f"required (a {kind} entry id)", f"meta.{key}")
        return {**entry.meta, key: self._target(entry, entry.meta[key], f"meta.{key}", kind)}

    def _check_worker(self, entry: Entry, role: str) -> Mapping[str, Any]:
        """Check `meta.temporal.<role>` and resolve its `worker` to a temporal.worker id."""
        temporal = entry.meta.get("temporal")
        if temporal is None:
            return entry.meta
        if not isinstance(temporal, dict):
            raise entry.error("must be a mapping", "meta.temporal")
        section = temporal.get(role)
        field = f"meta.temporal.{role}"
        if section is None:
            return entry.meta
        if not isinstance(section, dict):
            raise entry.error("must be a mapping", field)
        if role == "workflow" and not isinstance(section.get("name", ""), str):
            raise entry.error("must be a string", f"{field}.name")
        if "worker" not in section:
            return entry.meta
        worker = self._target(entry, section["worker"], f"{field}.worker", "temporal.worker")
        return _set_in(entry.meta, ("temporal", role, "worker"), worker)
