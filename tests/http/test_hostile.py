"""Untrusted requests and handler mistakes over a real socket: bad JSON bodies are a 400 JSON
error before the handler runs, a header a handler must not send is refused without breaking the
connection, malformed requests get a 400, and a bad `addr` is one error naming the field."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from luaflow.app import App
from luaflow.http import MAX_JSON_DEPTH
from luaflow.registry import RegistryError

INDEX = """\
version: "1.0"
namespace: web
entries:
  - name: gateway
    kind: http.service
    addr: "${env:HTTP_ADDR|127.0.0.1:0}"
    lifecycle: {auto_start: true}
  - {name: api, kind: http.router, meta: {server: gateway}}
  - {name: echo, kind: function.lua, source: file://web.lua, method: echo, modules: [http]}
  - {name: header, kind: function.lua, source: file://web.lua, method: header, modules: [http]}
  - {name: echo.endpoint, kind: http.endpoint, method: POST, path: /echo, func: echo,
     meta: {router: api}}
  - {name: header.endpoint, kind: http.endpoint, method: GET, path: /header, func: header,
     meta: {router: api}}
"""

WEB_LUA = """\
local http = require("http")

local function echo()
    local req, res = http.request(), http.response()
    local value, err = req:body_json()
    if err then
        res:set_status(400)
        return res:write_json({error = err:message()})
    end
    return res:write_json({value = value})
end

-- ?name=&value= sets that header and reports the outcome; ?strict=1 raises on failure.
local function header()
    local req, res = http.request(), http.response()
    local ok, err = res:set_header(req:query("name"), req:query("value"))
    if req:query("strict") then assert(ok, err) end
    local problem = err and err:message()
    return res:write_json({ok = ok or false, kind = err and err:kind(), error = problem})
end

return { echo = echo, header = header }
"""

_CONTROL = "control characters (CR, LF, ...) not allowed"


def _app(root: Path, addr: str = "127.0.0.1:0") -> App:
    (root / "_index.yaml").write_text(INDEX)
    (root / "web.lua").write_text(WEB_LUA)
    return App.load(root, report=lambda _: None, environ={"HTTP_ADDR": addr})


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[tuple[str, int]]:
    app = _app(tmp_path)
    async with app:
        await app.start(workers=False, http=True)
        yield app.http_addresses["web:gateway"]


class _Connection:
    """One keep-alive HTTP/1.1 connection, to show that a request did not close it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, dict[str, str], bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n"
        head += f"Content-Type: {content_type}\r\n\r\n" if body else "\r\n"
        self.writer.write(head.encode() + body)
        return await self.response()

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        status_line = await self.reader.readline()
        assert status_line, "the server closed the connection"
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body


@pytest.fixture
async def connection(web: tuple[str, int]) -> AsyncIterator[_Connection]:
    reader, writer = await asyncio.open_connection(*web)
    yield _Connection(reader, writer)
    writer.close()


@pytest.mark.parametrize(
    ("body", "content_type", "problem"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "nested deeper than"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "application/json",
         f"nested deeper than {MAX_JSON_DEPTH} levels"),
        (b'{"n": ' + b"9" * 30 + b"}", "application/json", "integer out of the 64-bit range"),
        (b'{"s": "\\ud800"}', "application/json; charset=utf-8", "string with a lone surrogate"),
        (b'["\\udfff"]', "application/problem+json", "string with a lone surrogate"),
    ],
    ids=["deep", "deeper-than-limit", "huge-integer", "lone-surrogate", "json-suffix-type"],
)  # fmt: skip
async def test_json_body_a_handler_cannot_hold_is_400(
    connection: _Connection, body: bytes, content_type: str, problem: str
) -> None:
    status, headers, payload = await connection.request("POST", "/echo", body, content_type)
    assert status == 400
    assert headers["content-type"] == "application/json"
    error = json.loads(payload)
    assert error["kind"] == "Invalid"
    assert error["error"].startswith("invalid JSON body: ") and problem in error["error"]
    # Same connection, a good body: the server and the handler are fine.
    status, _, payload = await connection.request("POST", "/echo", b'{"n": [1, "two", 3.5]}')
    assert (status, json.loads(payload)) == (200, {"value": {"n": [1, "two", 3.5]}})


async def test_json_body_past_the_memory_cap_is_an_error_of_that_request(
    connection: _Connection,
) -> None:
    body = b"[" + b",".join([b"1"] * 3_000_000) + b"]"  # 6 MB, 3 million values in Lua
    status, _, payload = await connection.request("POST", "/echo", body)
    assert status == 400
    assert "does not fit in the Lua memory limit of 64 MiB" in json.loads(payload)["error"]
    status, _, payload = await connection.request("POST", "/echo", b'{"n": 1}')
    assert (status, json.loads(payload)) == (200, {"value": {"n": 1}})


async def test_json_within_limits_and_syntax_errors_reach_the_handler(
    connection: _Connection,
) -> None:
    # One level less than the limit: the reply wraps it in one more table.
    nested = b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1)
    status, _, payload = await connection.request("POST", "/echo", nested)
    assert (status, payload) == (200, b'{"value":' + nested + b"}")
    status, _, payload = await connection.request("POST", "/echo", b"{not json")
    assert status == 400 and "invalid JSON" in json.loads(payload)["error"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("X-Note", "a%0D%0ASet-Cookie:%20evil=1", "invalid value for header x-note: " + _CONTROL),
        ("X-Note", "a%0Ab", "invalid value for header x-note: " + _CONTROL),
        ("X%20Bad:", "v", "invalid header name 'x bad:'"),
        ("Content-Length", "1", "header content-length is set by the server"),
    ],
    ids=["crlf-injection", "lf", "bad-name", "framing"],
)
async def test_header_injection_is_refused(
    connection: _Connection, name: str, value: str, problem: str
) -> None:
    status, headers, payload = await connection.request("GET", f"/header?name={name}&value={value}")
    assert status == 200
    assert "set-cookie" not in headers
    assert json.loads(payload) == {"ok": False, "kind": "Invalid", "error": problem}
    # A handler that insists fails with a 500 JSON error; the connection stays usable.
    status, _, payload = await connection.request(
        "GET", f"/header?name={name}&value={value}&strict=1"
    )
    assert status == 500 and problem in json.loads(payload)["error"]
    status, headers, _ = await connection.request("GET", "/header?name=X-Ok&value=fine")
    assert status == 200 and headers["x-ok"] == "fine"


async def test_malformed_request_gets_400(web: tuple[str, int]) -> None:
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n"):
        reader, writer = await asyncio.open_connection(*web)
        writer.write(raw)
        status_line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 400 ")


@pytest.mark.parametrize(
    ("addr", "problem"),
    [
        ("127.0.0.1:65536", "invalid port '65536' in '127.0.0.1:65536' (0-65535)"),
        ("127.0.0.1:http", "invalid port 'http' in '127.0.0.1:http' (0-65535)"),
        ("8080", 'expected "host:port" or ":port", got \'8080\''),
        ("no.such.host.invalid:80", "cannot listen on no.such.host.invalid:80: "),
    ],
)
async def test_bad_addr_names_the_field(tmp_path: Path, addr: str, problem: str) -> None:
    app = _app(tmp_path, addr)
    async with app:
        with pytest.raises(RegistryError) as info:
            await app.start(workers=False, http=True)
    assert (info.value.entry, info.value.field) == ("web:gateway", "addr")
    assert problem in info.value.reason


async def test_port_in_use_names_the_field(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        app = _app(tmp_path, f"127.0.0.1:{port}")
        async with app:
            with pytest.raises(RegistryError) as info:
                await asyncio.wait_for(app.start(workers=False, http=True), 10)
    assert str(info.value).endswith(
        f"entry web:gateway: field addr: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
