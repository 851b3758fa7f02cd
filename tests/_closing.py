"""Lua states made by a test are closed after it: a state left to Python's cycle collector is
torn down in an unsafe order (see LuaState.close), which can crash a later test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import pytest


class _Closable(Protocol):
    def close(self) -> None: ...


def close_every(monkeypatch: pytest.MonkeyPatch, cls: type[_Closable]) -> Iterator[None]:
    """For an autouse fixture: every `cls` made during the test is closed at its end."""
    made: list[_Closable] = []
    init = cls.__init__

    def tracked(self: _Closable, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(cls, "__init__", tracked)
    yield
    for obj in made:
        obj.close()
