"""Execution engines that run luaflow workflows."""
