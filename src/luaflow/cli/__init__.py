"""Command-line interface (`luaflow run|start|result`)."""

from luaflow.cli._main import main

__all__ = ["main"]
