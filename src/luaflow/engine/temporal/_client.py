"""`temporal.client` entries: address (or the embedded server), namespace, auth and TLS (B8)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, Interceptor, KeepAliveConfig, TLSConfig

from luaflow.devserver import is_embedded
from luaflow.engine.temporal._converter import DATA_CONVERTER
from luaflow.lua import LuaflowError, parse_go_duration
from luaflow.registry import Entry

#: `host:port` of a Temporal frontend: a name, an IPv4 address or a bracketed IPv6 address.
_ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")


@dataclass(frozen=True)
class ClientSettings:
    entry_id: str
    address: str  # "" or "embedded" for the embedded server
    namespace: str
    tq_prefix: str
    connect_timeout: timedelta
    keep_alive: KeepAliveConfig
    tls: TLSConfig | bool | None
    api_key: str | None
    ignored: tuple[str, ...] = ()

    @property
    def embedded(self) -> bool:
        return is_embedded(self.address)


def _duration(entry: Entry, key: str, default: str) -> timedelta:
    value = entry.data.get(key, default)
    try:
        return timedelta(microseconds=parse_go_duration(str(value)) / 1000)
    except LuaflowError as exc:
        raise entry.error(exc.message, key) from None


def _read(entry: Entry, path: Any, field: str) -> bytes:
    file = Path(str(path))
    if not file.is_absolute():
        file = entry.file.parent / file
    try:
        return file.read_bytes()
    except OSError as exc:
        raise entry.error(f"cannot read {file}: {exc.strerror}", field) from None


def _section(entry: Entry, key: str) -> Mapping[str, Any]:
    value = entry.data.get(key) or {}
    if not isinstance(value, Mapping):
        raise entry.error("expected a mapping", key)
    return value


def client_settings(entry: Entry) -> ClientSettings:
    """Validate a `temporal.client` entry; every error names the field."""
    address = entry.data.get("address", "")
    port = _ADDRESS.fullmatch(address) if isinstance(address, str) else None
    if not is_embedded(address) and (port is None or not 0 < int(port[1]) < 65536):
        raise entry.error(
            f"expected host:port (port 1-65535) or embedded, got {address!r}", "address"
        )
    namespace = entry.data.get("namespace", "default")
    tq_prefix = entry.data.get("tq_prefix", "")
    if not isinstance(namespace, str) or not namespace:
        raise entry.error("expected a namespace name", "namespace")
    if not isinstance(tq_prefix, str):
        raise entry.error("expected a string", "tq_prefix")
    keep_alive = KeepAliveConfig(
        interval_millis=int(_duration(entry, "keep_alive_time", "30s").total_seconds() * 1000),
        timeout_millis=int(_duration(entry, "keep_alive_timeout", "10s").total_seconds() * 1000),
    )
    auth = _section(entry, "auth")
    tls_section = _section(entry, "tls")
    auth_type = auth.get("type", "none")
    api_key: str | None = None
    cert: bytes | None = None
    key: bytes | None = None
    if auth_type == "api_key":
        if auth.get("api_key"):
            api_key = str(auth["api_key"])
        elif auth.get("api_key_file"):
            api_key = _read(entry, auth["api_key_file"], "auth.api_key_file").decode().strip()
        elif auth.get("api_key_env"):
            api_key = os.environ.get(str(auth["api_key_env"]))
        if not api_key:
            raise entry.error("api_key auth needs api_key or api_key_file", "auth.api_key")
    elif auth_type == "mtls":
        cert = (
            str(auth["cert_pem"]).encode()
            if auth.get("cert_pem")
            else _read(entry, auth.get("cert_file", ""), "auth.cert_file")
        )
        if auth.get("key_pem"):
            key = str(auth["key_pem"]).encode()
        elif auth.get("key_pem_env"):
            key = os.environ.get(str(auth["key_pem_env"]), "").encode()
        else:
            key = _read(entry, auth.get("key_file", ""), "auth.key_file")
    elif auth_type != "none":
        raise entry.error(f"unknown auth type {auth_type!r} (none, api_key, mtls)", "auth.type")
    tls: TLSConfig | bool | None = None
    if tls_section.get("enabled") or cert is not None or api_key is not None:
        tls = TLSConfig(
            server_root_ca_cert=(
                _read(entry, tls_section["ca_file"], "tls.ca_file")
                if tls_section.get("ca_file")
                else None
            ),
            domain=tls_section.get("server_name") or None,
            client_cert=cert,
            client_private_key=key,
        )
    ignored = tuple(
        name
        for name, present in (
            ("tls.insecure_skip_verify", bool(tls_section.get("insecure_skip_verify"))),
            ("health_check", "health_check" in entry.data),
        )
        if present
    )
    return ClientSettings(
        ignored=ignored,
        entry_id=str(entry.id),
        address=address,
        namespace=namespace,
        tq_prefix=tq_prefix,
        connect_timeout=_duration(entry, "connection_timeout", "10s"),
        keep_alive=keep_alive,
        tls=tls,
        api_key=api_key,
    )


async def connect(
    settings: ClientSettings, address: str, interceptors: Sequence[Interceptor] = ()
) -> Client:
    """Connect to `address` (the entry's, or the embedded server's) with the entry's settings."""
    return await Client.connect(
        address,
        interceptors=interceptors,
        namespace=settings.namespace,
        api_key=settings.api_key,
        tls=settings.tls if settings.tls is not None else False,
        keep_alive_config=settings.keep_alive,
        connect_timeout=settings.connect_timeout,
        data_converter=DATA_CONVERTER,
    )


async def register_search_attributes(
    client: Client, namespace: str, attributes: Mapping[str, str]
) -> None:
    """Add the app's search attributes that the (embedded) server does not know yet."""
    if not attributes:
        return
    service = client.operator_service
    listed = await service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    known = set(listed.custom_attributes) | set(listed.system_attributes)
    missing = {
        name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{_TYPE_ENUM[kind]}")
        for name, kind in attributes.items()
        if name not in known
    }
    if missing:
        await service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


_TYPE_ENUM = {
    "Keyword": "KEYWORD",
    "Text": "TEXT",
    "Int": "INT",
    "Double": "DOUBLE",
    "Bool": "BOOL",
    "Datetime": "DATETIME",
    "KeywordList": "KEYWORD_LIST",
}
