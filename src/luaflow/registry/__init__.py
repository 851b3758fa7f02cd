"""Registry of app entries loaded from YAML definition files.

Everything else in luaflow (workers, Lua runtime, HTTP, CLI) reads entries through this package,
so loading validates references up front and reports problems with file, entry and field.
"""

from ._loader import load_registry
from ._model import (
    KNOWN_KINDS,
    LUA_KINDS,
    Entry,
    EntryId,
    Lifecycle,
    Registry,
    RegistryError,
)

__all__ = [
    "KNOWN_KINDS",
    "LUA_KINDS",
    "Entry",
    "EntryId",
    "Lifecycle",
    "Registry",
    "RegistryError",
    "load_registry",
]
