"""Idle keep-alive connections (`timeouts.idle`, SPEC 1.12): none by default, as in Go's
http.Server, so a client's pooled connection is never closed under it; a set idle timeout
closes a connection that stays idle that long."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from luaflow.app import App

INDEX = """\
version: "1.0"
namespace: web
entries:
  - name: gateway
    kind: http.service
    addr: "127.0.0.1:0"
    TIMEOUTS
    lifecycle: {auto_start: true}
  - {name: api, kind: http.router, meta: {server: gateway}}
  - {name: ping, kind: function.lua, source: file://web.lua, method: ping, modules: [http]}
  - {name: ping.endpoint, kind: http.endpoint, method: GET, path: /ping, func: ping,
     meta: {router: api}}
"""

WEB_LUA = """\
local http = require("http")
return { ping = function() return http.response():write("pong") end }
"""

REQUEST = b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n"


@contextlib.asynccontextmanager
async def _pinged(
    root: Path, timeouts: str
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """The service with `timeouts`, and a connection that has served one request."""
    (root / "_index.yaml").write_text(INDEX.replace("TIMEOUTS", timeouts))
    (root / "web.lua").write_text(WEB_LUA)
    async with App.load(root, report=lambda _: None) as app:
        await app.start(workers=False, http=True)
        reader, writer = await asyncio.open_connection(*app.http_addresses["web:gateway"])
        try:
            await _ping(reader, writer)
            yield reader, writer
        finally:
            writer.close()


async def _ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(REQUEST)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"pong"


async def test_no_idle_timeout_by_default(tmp_path: Path) -> None:
    async with _pinged(tmp_path, "") as (reader, writer):
        # idle for longer than uvicorn's own default (5 s): the server does not close it
        try:
            closed = await asyncio.wait_for(reader.read(1), 6.5)
        except TimeoutError:
            closed = None
        assert closed is None, "the server closed an idle connection"
        await _ping(reader, writer)


async def test_idle_timeout_closes_an_idle_connection(tmp_path: Path) -> None:
    async with _pinged(tmp_path, 'timeouts: {idle: "1s"}') as (reader, _):
        assert await asyncio.wait_for(reader.read(1), 10) == b""  # closed by the server
