"""Host processes: Lua code outside workflows that starts, messages and stops workflows."""

from luaflow.process._host import HeaderClientInterceptor, HostRuntime

__all__ = ["HeaderClientInterceptor", "HostRuntime"]
