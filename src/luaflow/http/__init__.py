"""HTTP: `http.service` / `http.router` / `http.endpoint` entries and the `http` Lua module."""

from luaflow.http._server import (
    DEFAULT_MAX_BODY,
    MAX_JSON_DEPTH,
    HttpService,
    http_module,
    parse_addr,
)

__all__ = ["DEFAULT_MAX_BODY", "MAX_JSON_DEPTH", "HttpService", "http_module", "parse_addr"]
