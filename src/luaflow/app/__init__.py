"""Apps: a registry folder booted into clients and workers."""

from luaflow.app._app import STATE_DIR, App, validate
from luaflow.engine import workflow_type

__all__ = ["STATE_DIR", "App", "validate", "workflow_type"]
