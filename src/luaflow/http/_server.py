"""`http.service` / `http.router` / `http.endpoint` entries served by uvicorn (SPEC 1.12, 4).

Each request runs its handler (`function.lua`) as host code on a thread, with the `http` module
bound to that request; a Lua error is a 500 with a JSON body and the server carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from luaflow.lua import LuaflowError, LuaState, json_module, lua_table, parse_go_duration
from luaflow.lua._modules import lua_source
from luaflow.lua._runtime import ModuleLoader
from luaflow.lua._values import decode_str
from luaflow.registry import Entry, Registry

_HTTP_LUA = lua_source("http.lua", "luaflow.http")

#: Largest request body read for a handler unless the service sets `max_body` (bytes).
DEFAULT_MAX_BODY = 120 * 1024 * 1024

#: Runs a handler entry as host code (off the event loop) with the given extra modules.
HandlerCall = Callable[[Entry, Mapping[str, ModuleLoader]], Awaitable[Any]]


@dataclass
class _Sink:
    """The response a handler writes."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)

    def response(self) -> Response:
        return Response(b"".join(self.chunks), status_code=self.status, headers=self.headers)


def _text(value: Any) -> str:
    return str(decode_str(value)) if isinstance(value, bytes) else str(value)


def http_module(request: dict[str, Any], sink: _Sink) -> ModuleLoader:
    """A loader for the `http` module bound to one request and its response."""

    def load(state: LuaState) -> Any:
        def set_header(name: Any, value: Any) -> None:
            sink.headers[_text(name).lower()] = _text(value)

        def set_default_header(name: Any, value: Any) -> None:
            sink.headers.setdefault(_text(name).lower(), _text(value))

        bridge = lua_table(
            state,
            {
                "set_status": lambda code: setattr(sink, "status", int(code)),
                "set_header": set_header,
                "set_default_header": set_default_header,
                "write": lambda data: sink.chunks.append(
                    data if isinstance(data, bytes) else str(data).encode()
                ),
            },
        )
        bridge[b"request"] = state.to_lua(request)
        bridge[b"json"] = json_module(state)
        return state.call(state.load(_HTTP_LUA.decode(), "luaflow/http.lua"), bridge)[0]

    return load


def parse_addr(entry: Entry) -> tuple[str, int]:
    """`":8080"` -> all interfaces; `"127.0.0.1:0"` -> a free port on loopback."""
    addr = entry.data.get("addr")
    if not isinstance(addr, str) or ":" not in addr:
        raise entry.error('expected "host:port" or ":port"', "addr")
    host, _, port = addr.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise entry.error(f"invalid port {port!r}", "addr") from None
    return host or "0.0.0.0", number


def _route_path(path: str) -> str:
    """`{name...}` (trailing wildcard) becomes Starlette's `{name:path}`."""
    if path.endswith("...}"):
        start = path.rindex("{")
        return f"{path[:start]}{{{path[start + 1 : -4]}:path}}"
    return path


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the luaflow command owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class HttpService:
    """One `http.service`: its routes and the uvicorn server serving them."""

    entry: Entry
    registry: Registry
    call: HandlerCall
    max_body: int = DEFAULT_MAX_BODY
    routes: list[str] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def build(self) -> Starlette:
        routes: list[Route] = []
        service_id = str(self.entry.id)
        for router in self.registry.by_kind("http.router"):
            if str(router.meta.get("server")) != service_id:
                continue
            prefix = str(router.data.get("prefix", "")).rstrip("/")
            for endpoint in self.registry.by_kind("http.endpoint"):
                if str(endpoint.meta.get("router")) != str(router.id):
                    continue
                path = _route_path(prefix + str(endpoint.data.get("path", "/")))
                method = str(endpoint.data.get("method", "GET")).upper()
                handler = self.registry.get(str(endpoint.data["func"]))
                routes.append(Route(path, self._handler(handler), methods=[method]))
                self.routes.append(f"{method} {path} -> {handler.id}")
        return Starlette(routes=routes)

    def _handler(self, handler: Entry) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            declared = request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.max_body:
                return _error(413, "Invalid", f"request body exceeds {self.max_body} bytes")
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > self.max_body:
                    return _error(413, "Invalid", f"request body exceeds {self.max_body} bytes")
            sink = _Sink()
            data = {
                "method": request.method,
                "path": request.url.path,
                "params": dict(request.path_params),
                "query": {k: request.query_params.getlist(k) for k in request.query_params},
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
                "host": request.url.hostname or "",
                "remote": f"{request.client.host}:{request.client.port}" if request.client else "",
            }
            try:
                await self.call(handler, {"http": http_module(data, sink)})
            except LuaflowError as err:
                return _error(500, err.kind or "Internal", err.text())
            return sink.response()

        return endpoint

    async def start(self) -> tuple[str, int]:
        """Serve until `stop()`; returns the bound address."""
        host, port = parse_addr(self.entry)
        idle = (self.entry.data.get("timeouts") or {}).get("idle")
        keep_alive = parse_go_duration(str(idle)) / 1e9 if idle else 5.0
        config = uvicorn.Config(
            self.build(),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=max(int(keep_alive), 1),
            timeout_graceful_shutdown=10,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(), name=f"http {self.entry.id}")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise self.entry.error(f"cannot listen on {host}:{port}", "addr")
            await asyncio.sleep(0.02)
        sockets = [s for server in self._server.servers for s in server.sockets]
        bound = sockets[0].getsockname() if sockets else (host, port)
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        """Finish requests in flight, then close (graceful shutdown)."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None


def _error(status: int, kind: str, message: str) -> Response:
    return JSONResponse({"error": message, "kind": kind}, status_code=status)
