"""HTTP: `http.service` / `http.router` / `http.endpoint` entries and the `http` Lua module."""

from luaflow.http._server import (
    DEFAULT_MAX_BODY,
    MAX_JSON_DEPTH,
    HttpService,
    UntrustedJSONError,
    http_module,
    load_untrusted_json,
    parse_addr,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "MAX_JSON_DEPTH",
    "HttpService",
    "UntrustedJSONError",
    "http_module",
    "load_untrusted_json",
    "parse_addr",
]
