"""`luaflow lint`: an app or Lua files checked without starting anything."""

from luaflow.lint._lint import Finding, lint_paths

__all__ = ["Finding", "lint_paths"]
