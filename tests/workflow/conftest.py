"""Every scheduler (and so its Lua state) a test makes is closed after it (tests/_closing.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from luaflow.workflow import Scheduler
from tests._closing import close_every


@pytest.fixture(autouse=True)
def close_schedulers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from close_every(monkeypatch, Scheduler)
