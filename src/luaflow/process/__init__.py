"""Host processes: Lua code outside workflows that calls functions, starts, messages and stops
workflows, and talks to other host processes."""

from luaflow.process._host import HOST_THREADS, HeaderClientInterceptor, HostRuntime
from luaflow.process._threads import HostThreads

__all__ = ["HOST_THREADS", "HeaderClientInterceptor", "HostRuntime", "HostThreads"]
