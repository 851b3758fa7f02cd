"""`http.service` / `http.router` / `http.endpoint` entries served by uvicorn (SPEC 1.12, 4).

Each request runs its handler (`function.lua`) as host code on a thread, with the `http` module
bound to that request; a Lua error is a 500 with a JSON body and the server carries on. Requests
are untrusted: a JSON body a handler could not hold is a 400 before the handler runs, and a
handler cannot write a response header that would break the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from luaflow.lua import (
    MAX_DEPTH,
    LuaflowError,
    LuaState,
    ModuleLoader,
    ValueConversionError,
    check_incoming,
    json_module,
    lua_source,
    lua_table,
    parse_go_duration,
)
from luaflow.registry import Entry, Registry

_HTTP_LUA = lua_source("http.lua", "luaflow.http")

#: Largest request body read for a handler unless the service sets `max_body` (bytes).
DEFAULT_MAX_BODY = 120 * 1024 * 1024
#: Deepest nesting of a JSON request body (arrays and objects) a handler is given: as deep as
#: Lua values may be to cross back out (json.encode, payloads).
MAX_JSON_DEPTH = MAX_DEPTH
#: JSON bodies larger than this are checked off the event loop.
_INLINE_CHECK_BYTES = 64 * 1024
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
#: A header value: no control characters but tab, no surrounding whitespace (RFC 9110 5.5).
_FIELD_VALUE = re.compile(r"(?:[^\x00-\x20\x7f](?:[ \t]*[^\x00-\x20\x7f])*)?")
#: Framing headers the server computes; a handler's value could contradict the body it sent.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})

#: Runs a handler entry as host code (off the event loop) with the given extra modules.
HandlerCall = Callable[[Entry, Mapping[str, ModuleLoader]], Awaitable[Any]]


@dataclass
class _Sink:
    """The response a handler writes."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)

    def response(self) -> Response:
        no_body = self.status in (204, 304)  # HTTP forbids a body on these
        body = b"" if no_body else b"".join(self.chunks)
        return Response(body, status_code=self.status, headers=self.headers)

    def header(self, name: Any, value: Any, *, replace: bool = True) -> str | None:
        """Store a header (bytes pass through unchanged, as latin-1); why not, when invalid."""
        key, text = _latin1(name).lower(), _latin1(value).strip(" \t")
        if not _TOKEN.fullmatch(key):
            return f"invalid header name {key!r}"
        if key in _FRAMING:
            return f"header {key} is set by the server"
        if not _FIELD_VALUE.fullmatch(text):
            return f"invalid value for header {key}: control characters (CR, LF, ...) not allowed"
        if replace or key not in self.headers:
            self.headers[key] = text
        return None


def _latin1(value: Any) -> str:
    """Header bytes as a str that starlette encodes back to the very same bytes."""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


class UntrustedJSONError(ValueError):
    """JSON that parses but that Lua code could not hold."""


def load_untrusted_json(data: bytes | str, what: str = "value") -> Any:
    """Parse JSON from outside (a request body, a command-line argument), refusing what Lua
    code could not hold (UntrustedJSONError naming the place under `what`): nesting deeper
    than MAX_JSON_DEPTH, integers beyond 64 bits, lone surrogates. A syntax error is a plain
    ValueError."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise UntrustedJSONError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    try:
        check_incoming(value, what)
    except ValueConversionError as exc:
        raise UntrustedJSONError(exc.message) from None
    return value


def _json_problem(body: bytes) -> str | None:
    """Why a JSON body cannot reach its handler, or None. Syntax errors are the handler's to
    answer (`body_json` reports them)."""
    try:
        load_untrusted_json(body, "body")
    except UntrustedJSONError as exc:
        return str(exc)
    except ValueError:
        pass
    return None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def http_module(request: dict[str, Any], sink: _Sink) -> ModuleLoader:
    """A loader for the `http` module bound to one request and its response."""

    def set_header(name: Any, value: Any, replace: bool = True) -> bytes | None:
        problem = sink.header(name, value, replace=replace)
        return problem.encode() if problem is not None else None  # Lua gets bytes, never str

    def load(state: LuaState) -> Any:
        bridge = lua_table(
            state,
            {
                "set_status": lambda code: setattr(sink, "status", int(code)),
                "set_header": set_header,
                "set_default_header": lambda name, value: set_header(name, value, False),
                "write": lambda data: sink.chunks.append(
                    data if isinstance(data, bytes) else str(data).encode()
                ),
            },
        )
        bridge[b"request"] = state.to_lua(request)
        bridge[b"json"] = json_module(state)
        return state.run_own(_HTTP_LUA, "luaflow/http.lua", bridge)[0]

    return load


def parse_addr(entry: Entry) -> tuple[str, int]:
    """`":8080"` -> all interfaces; `"127.0.0.1:0"` -> a free port on loopback; `"[::1]:80"`."""
    addr = entry.data.get("addr")
    if not isinstance(addr, str) or ":" not in addr:
        raise entry.error(f'expected "host:port" or ":port", got {addr!r}', "addr")
    host, _, port = addr.rpartition(":")
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise entry.error(f"invalid port {port!r} in {addr!r} (0-65535)", "addr")
    return host.removeprefix("[").removesuffix("]") or "0.0.0.0", int(port)


def _listen(entry: Entry, host: str, port: int) -> socket.socket:
    """Bind the service's socket up front, so a taken port or an unknown host is one error
    naming the entry's `addr` (uvicorn would log it and exit the process)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise entry.error(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", "addr"
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise entry.error(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}", "addr"
        ) from None
    return sock


def _route_path(path: str) -> str:
    """`{name...}` (trailing wildcard) becomes Starlette's `{name:path}`."""
    if path.endswith("...}"):
        start = path.rindex("{")
        return f"{path[:start]}{{{path[start + 1 : -4]}:path}}"
    return path


#: What "no idle timeout" is for uvicorn, which wants a number of seconds: a keep-alive
#: connection stays open until its client closes it. (A server that closes idle connections
#: races clients that reuse them, such as httpx, whose pool also keeps them 5 s.)
_NO_IDLE_TIMEOUT = 24 * 3600


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
            if _is_json(request.headers.get("content-type", "")):
                problem = (
                    await asyncio.to_thread(_json_problem, body)
                    if len(body) > _INLINE_CHECK_BYTES
                    else _json_problem(body)
                )
                if problem is not None:
                    return _error(400, "Invalid", f"invalid JSON body: {problem}")
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
        keep_alive = parse_go_duration(str(idle)) / 1e9 if idle else 0.0
        if keep_alive <= 0:  # none, or 0: no idle timeout (SPEC 1.12, Go's http.Server)
            keep_alive = _NO_IDLE_TIMEOUT
        config = uvicorn.Config(
            self.build(),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=max(int(keep_alive), 1),
            timeout_graceful_shutdown=10,
        )
        sock = _listen(self.entry, host, port)
        bound = sock.getsockname()
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(
            self._server.serve(sockets=[sock]), name=f"http {self.entry.id}"
        )
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise self.entry.error(f"cannot serve on {host}:{port}", "addr")
            await asyncio.sleep(0.02)
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        """Finish requests in flight, then close (graceful shutdown)."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
        self._server = self._task = None


def _error(status: int, kind: str, message: str) -> Response:
    return JSONResponse({"error": message, "kind": kind}, status_code=status)
