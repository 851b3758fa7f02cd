"""Temporal-backed execution engine for luaflow."""
