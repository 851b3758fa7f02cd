"""The `logger` module (logger.lua): structured lines handed to a sink.

Host code logs through Python `logging` (logger `luaflow.<entry id>`, `.<name>` for named
children); workflows print their lines through the run's `print`, which stays silent while the
workflow replays, so a replay never logs twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from luaflow.lua._args import args_lib
from luaflow.lua._errors import LuaflowError
from luaflow.lua._json import marshal, to_go_any
from luaflow.lua._modules import lua_source, lua_table
from luaflow.lua._runtime import LuaState

_LOGGER_LUA = lua_source("logger.lua")

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


@dataclass(frozen=True)
class LogLine:
    """One `logger:<level>(msg, fields)` call."""

    level: int
    logger: str
    message: str
    #: The caller's fields plus `location` ("file.lua:12") and, in processes, `pid`.
    fields: dict[str, Any]

    def text(self) -> str:
        """The message followed by the fields as JSON (sorted keys)."""
        return f"{self.message} {marshal(self.fields)}"


LogSink = Callable[[LogLine], None]


def to_logging(line: LogLine) -> None:
    """Sink for host code: Python logging; the fields also travel as `record.lua_fields`."""
    logger = logging.getLogger(line.logger)
    if logger.isEnabledFor(line.level):
        logger.log(line.level, "%s", line.text(), extra={"lua_fields": line.fields})


def printed(print_line: Callable[[str], None]) -> LogSink:
    """Sink for workflows: `LEVEL logger: message {fields}` through the run's print."""
    return lambda line: print_line(
        f"{logging.getLevelName(line.level)} {line.logger}: {line.text()}"
    )


def logger_module(state: LuaState, sink: LogSink, entry_id: str, pid: Callable[[], str]) -> Any:
    """The shared Logger of `state`, named `luaflow.<entry_id>`."""
    base = f"luaflow.{entry_id or 'lua'}"

    def emit(site: bytes, level: bytes, name: bytes, message: bytes, fields: Any) -> None:
        try:
            data = to_go_any(state, fields)
        except LuaflowError as err:
            data = {"fields_error": err.message}
        data["location"] = site.decode("utf-8", "replace")
        suffix = name.decode("utf-8", "replace")
        text = message.decode("utf-8", "replace")
        line = LogLine(LEVELS[level.decode()], f"{base}.{suffix}" if suffix else base, text, data)
        size = len(line.text()) + 1
        with state.output(size) as fit:
            if fit == size:
                sink(line)

    with_site = state.index(state.rt, "with_site")
    bridge = lua_table(state, {"pid": lambda: pid().encode()})
    bridge[b"emit"] = with_site(emit)
    return state.run_own(_LOGGER_LUA, "luaflow/logger.lua", bridge, args_lib(state))[0]


__all__ = ["LEVELS", "LogLine", "LogSink", "logger_module", "printed", "to_logging"]
