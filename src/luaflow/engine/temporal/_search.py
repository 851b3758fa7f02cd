"""Typed search attribute updates for `workflow.attrs` (Temporal types per value or declaration)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from luaflow.lua import INVALID, LuaflowError


def search_attribute_update(name: str, value: Any, known: str | None) -> Any:
    """A typed Temporal update for `name`: the registered type when known, else by value."""
    kind = known or _type_of(value)
    if value is None:
        return _key(name, kind).value_unset()
    try:
        converted = _convert(value, kind)
    except (TypeError, ValueError):
        raise LuaflowError(
            f"search attribute {name}: cannot store {value!r} as {kind}", INVALID, False
        ) from None
    return _key(name, kind).value_set(converted)


def typed_search_attributes(values: Any, option: str) -> TypedSearchAttributes:
    """Search attributes a workflow starts with, from a Lua table of name = value (each typed
    by its value); a name the server does not know is refused by the server (kind Invalid)."""
    if values == []:  # an empty Lua table
        values = {}
    if not isinstance(values, Mapping) or not all(isinstance(k, str) and k for k in values):
        raise LuaflowError(f"option {option}: expected a table of name = value", INVALID, False)
    updates = [search_attribute_update(k, v, None) for k, v in values.items() if v is not None]
    return TypedSearchAttributes([SearchAttributePair(u.key, u.value) for u in updates])


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, list):
        return "KeywordList"
    return "Keyword"


def _key(name: str, kind: str) -> Any:
    factory = {
        "Keyword": SearchAttributeKey.for_keyword,
        "Text": SearchAttributeKey.for_text,
        "Int": SearchAttributeKey.for_int,
        "Double": SearchAttributeKey.for_float,
        "Bool": SearchAttributeKey.for_bool,
        "Datetime": SearchAttributeKey.for_datetime,
        "KeywordList": SearchAttributeKey.for_keyword_list,
    }[kind]
    return factory(name)


def _convert(value: Any, kind: str) -> Any:
    if kind in ("Keyword", "Text"):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "Int":
        return int(value)
    if kind == "Double":
        return float(value)
    if kind == "Bool":
        if not isinstance(value, bool):
            raise TypeError(kind)
        return value
    if kind == "KeywordList":
        return [str(v) for v in (value if isinstance(value, list) else [value])]
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
