"""Search attributes an app uses, so the embedded server can register them before workflows run.

Temporal rejects an upsert of an unregistered attribute. A real cluster is set up by its
operators; the embedded server is set up by luaflow from what the app's workflows show:
`meta.temporal.search_attributes` on a workflow entry (exact types), and the keys of the `search`
table literal in each `workflow.attrs{...}` call (type from the literal, else Keyword).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from luaflow.registry import Entry, Registry

#: Temporal search attribute types, as the `temporal` CLI spells them.
TYPES = ("Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList")

_ATTRS_CALL = re.compile(r"workflow\.attrs\s*\(?\s*\{")
_SEARCH = re.compile(r"\bsearch\s*=\s*\{")
_FIELD = re.compile(r"(?:^|[,{;\s])([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([^,;}\n]*)")


def _block(source: str, start: int) -> str:
    """The text of the `{...}` block whose opening brace is at `start - 1`."""
    depth, i = 1, start
    while i < len(source) and depth:
        depth += {"{": 1, "}": -1}.get(source[i], 0)
        i += 1
    return source[start : i - 1]


def _guess(value: str) -> str:
    value = value.strip()
    if value[:1] in ("'", '"'):
        return "Keyword"
    if value in ("true", "false"):
        return "Bool"
    if re.fullmatch(r"-?\d+", value):
        return "Int"
    if re.fullmatch(r"-?\d*\.\d+([eE]-?\d+)?", value):
        return "Double"
    return "Keyword"


def _top_level(block: str) -> str:
    """Drop nested tables so only this table's own keys are read."""
    out, depth = [], 0
    for ch in block:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def scan_search_attributes(source: str) -> dict[str, str]:
    """Keys (and guessed types) of `search = {...}` in `workflow.attrs` calls of a Lua source."""
    found: dict[str, str] = {}
    for call in _ATTRS_CALL.finditer(source):
        body = _block(source, call.end())
        search = _SEARCH.search(body)
        if search is None:
            continue
        for match in _FIELD.finditer(_top_level(_block(body, search.end()))):
            found.setdefault(match.group(1), _guess(match.group(2)))
    return found


def declared_search_attributes(registry: Registry) -> dict[str, str]:
    """Every search attribute the app's workflows use, name -> type."""
    out: dict[str, str] = {}
    for entry in registry.by_kind("workflow.lua"):
        out.update(scan_search_attributes(entry.source or ""))
        out.update(_meta_types(entry))
    return out


def _meta_types(entry: Entry) -> dict[str, str]:
    temporal = entry.meta.get("temporal") or {}
    declared: Any = temporal.get("search_attributes") if isinstance(temporal, Mapping) else None
    if declared is None:
        return {}
    if not isinstance(declared, Mapping):
        raise entry.error("expected a mapping name: type", "meta.temporal.search_attributes")
    canonical = {t.lower(): t for t in TYPES}
    out: dict[str, str] = {}
    for name, type_ in declared.items():
        if str(type_).lower() not in canonical:
            raise entry.error(
                f"unknown type {type_!r} (one of {', '.join(TYPES)})",
                f"meta.temporal.search_attributes.{name}",
            )
        out[str(name)] = canonical[str(type_).lower()]
    return out
