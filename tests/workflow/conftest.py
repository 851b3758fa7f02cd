"""Every scheduler a test makes is closed after it: a Lua state left to Python's cycle collector
is torn down in an unsafe order (see LuaState.close), which can crash a later test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from luaflow.workflow import Scheduler


@pytest.fixture(autouse=True)
def close_schedulers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    made: list[Scheduler] = []
    init = Scheduler.__init__

    def tracked(self: Scheduler, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Scheduler, "__init__", tracked)
    yield
    for scheduler in made:
        scheduler.close()
