"""The `uuid` module (SPEC 2.10) over an injectable random source and clock.

Random and time-based UUIDs (v1, v4, v7) are built only from `rng` and `now_ns`, so inside a
workflow (replay-safe randomness, workflow time) they come out the same on every replay.
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid as std_uuid
from collections.abc import Callable
from typing import Any, Protocol

from luaflow.lua._errors import INTERNAL, INVALID, LuaflowError
from luaflow.lua._modules import lua_result, lua_table
from luaflow.lua._runtime import LuaState


class RandomSource(Protocol):
    """Where random bytes come from: the OS for host code, replay-safe randomness in workflows."""

    def random_bytes(self, n: int) -> bytes: ...


class _OsRandom:
    def random_bytes(self, n: int) -> bytes:
        return os.urandom(n)


#: os.urandom-based randomness, for host code (functions, processes, HTTP handlers).
OS_RANDOM: RandomSource = _OsRandom()

NAMESPACE_DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
NAMESPACE_URL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
NAMESPACE_OID = "6ba7b812-9dad-11d1-80b4-00c04fd430c8"
NAMESPACE_X500 = "6ba7b814-9dad-11d1-80b4-00c04fd430c8"

#: 100-ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
_GREGORIAN_OFFSET = 0x01B21DD213814000

_HEX = rb"[0-9a-fA-F]"
_DASHED = rb"(%s{8})-(%s{4})-(%s{4})-(%s{4})-(%s{12})" % ((_HEX,) * 5)
_FORMS = (
    re.compile(_DASHED),
    re.compile(rb"\{" + _DASHED + rb"\}"),
    re.compile(rb"(?i:urn:uuid:)" + _DASHED),
    re.compile(rb"(%s{32})" % _HEX),
)

FORMATS = ("standard", "simple", "urn")


def _invalid(message: str) -> LuaflowError:
    return LuaflowError(message, INVALID, False)


def parse_uuid(value: bytes) -> bytes | None:
    """The 16 bytes of a UUID in standard, braced, URN or simple (32 hex digits) form."""
    for form in _FORMS:
        match = form.fullmatch(value)
        if match is not None:
            return bytes.fromhex(b"".join(match.groups()).decode("ascii"))
    return None


def _require_uuid(value: Any, what: str = "input") -> bytes:
    if not isinstance(value, bytes):
        raise _invalid(f"{what} must be a string")
    raw = parse_uuid(value)
    if raw is None:
        raise _invalid("invalid UUID format" if what == "input" else f"invalid {what} UUID")
    return raw


def _standard(raw: bytes) -> str:
    return str(std_uuid.UUID(bytes=raw))


def _stamp(raw: bytes, version: int) -> str:
    """Set the version nibble and the RFC 4122 variant bits."""
    out = bytearray(raw)
    out[6] = (out[6] & 0x0F) | (version << 4)
    out[8] = (out[8] & 0x3F) | 0x80
    return _standard(bytes(out))


def variant_name(raw: bytes) -> str:
    """The variant as google/uuid names it: Reserved (0xxx, the NCS range), RFC4122 (10xx),
    Microsoft (110x) or Future (111x)."""
    octet = raw[8]
    if octet & 0x80 == 0:
        return "Reserved"
    if octet & 0xC0 == 0x80:
        return "RFC4122"
    if octet & 0xE0 == 0xC0:
        return "Microsoft"
    return "Future"


def uuid_info(raw: bytes) -> dict[str, Any]:
    """What `uuid.parse` returns: version, variant, and for v1/v7 the Unix time (and the v1
    node, as its 6 raw bytes)."""
    version = raw[6] >> 4
    info: dict[str, Any] = {"version": version, "variant": variant_name(raw)}
    if version == 1:
        parsed = std_uuid.UUID(bytes=raw)
        info["timestamp"] = (parsed.time - _GREGORIAN_OFFSET) // 10_000_000
        info["node"] = raw[10:]
    elif version == 7:
        info["timestamp"] = int.from_bytes(raw[:6], "big") // 1000
    return info


def name_based(namespace: bytes, name: bytes, version: int) -> str:
    """A v3 (MD5) or v5 (SHA-1) UUID, as Python's uuid.uuid3/uuid5."""
    if version == 3:
        digest = hashlib.md5(namespace + name, usedforsecurity=False).digest()
    else:
        digest = hashlib.sha1(namespace + name, usedforsecurity=False).digest()
    return _stamp(digest[:16], version)


class UuidGenerator:
    """v1/v4/v7 UUIDs from a random source and a clock.

    v7 uses the sub-millisecond fraction as `rand_a` and never goes backwards within one
    generator (RFC 9562 method 3), so ids made in one workflow task, where time stands still,
    still sort in creation order.
    """

    def __init__(self, rng: RandomSource, now_ns: Callable[[], int]) -> None:
        self.rng = rng
        self.now_ns = now_ns
        self._last_v7 = -1

    def _random(self, n: int) -> bytes:
        data = self.rng.random_bytes(n)
        if len(data) != n:
            raise LuaflowError(
                f"random source returned {len(data)} bytes, not {n}", INTERNAL, False
            )
        return data

    def v4(self) -> str:
        return _stamp(self._random(16), 4)

    def v1(self) -> str:
        ticks = int(self.now_ns()) // 100 + _GREGORIAN_OFFSET
        if not 0 <= ticks < 1 << 60:
            raise LuaflowError("time out of range for a version 1 UUID", INTERNAL, False)
        rand = self._random(8)
        clock_seq = int.from_bytes(rand[:2], "big") & 0x3FFF
        node = int.from_bytes(rand[2:], "big") | (1 << 40)  # multicast bit: not a MAC address
        fields = (
            (ticks & 0xFFFFFFFF).to_bytes(4, "big")
            + ((ticks >> 32) & 0xFFFF).to_bytes(2, "big")
            + ((ticks >> 48) & 0x0FFF).to_bytes(2, "big")
            + clock_seq.to_bytes(2, "big")
            + node.to_bytes(6, "big")
        )
        return _stamp(fields, 1)

    def v7(self) -> str:
        now = int(self.now_ns())
        if now < 0:
            raise LuaflowError("time out of range for a version 7 UUID", INTERNAL, False)
        millis, sub = divmod(now, 1_000_000)
        stamp = (millis << 12) | (sub * 4096 // 1_000_000)
        if stamp <= self._last_v7:
            stamp = self._last_v7 + 1
        if stamp >= 1 << 60:
            raise LuaflowError("time out of range for a version 7 UUID", INTERNAL, False)
        self._last_v7 = stamp
        head = ((stamp >> 12) << 16 | (stamp & 0x0FFF)).to_bytes(8, "big")
        return _stamp(head + self._random(8), 7)


def uuid_module(state: LuaState, rng: RandomSource, now_ns: Callable[[], int]) -> Any:
    """The Lua table `uuid` (SPEC 2.10); v1/v4/v7 draw only on `rng` and `now_ns`."""
    gen = UuidGenerator(rng, now_ns)

    def generator(make: Callable[[], str]) -> Callable[..., tuple[Any, Any]]:
        return lambda *_: lua_result(state, make)

    def named(version: int) -> Callable[..., tuple[Any, Any]]:
        def call(namespace: Any = None, name: Any = None, *_: Any) -> tuple[Any, Any]:
            def run() -> str:
                if not isinstance(namespace, bytes) or not isinstance(name, bytes):
                    raise _invalid("namespace and name must be strings")
                return name_based(_require_uuid(namespace, "namespace"), name, version)

            return lua_result(state, run)

        return call

    def validate(value: Any = None, *_: Any) -> tuple[bool, None]:
        return isinstance(value, bytes) and parse_uuid(value) is not None, None

    def version(value: Any = None, *_: Any) -> tuple[Any, Any]:
        return lua_result(state, lambda: _require_uuid(value)[6] >> 4)

    def variant(value: Any = None, *_: Any) -> tuple[Any, Any]:
        return lua_result(state, lambda: variant_name(_require_uuid(value)))

    def parse(value: Any = None, *_: Any) -> tuple[Any, Any]:
        return lua_result(state, lambda: uuid_info(_require_uuid(value)))

    def format_(value: Any = None, form: Any = None, *_: Any) -> tuple[Any, Any]:
        def run() -> str:
            raw = _require_uuid(value)
            name = form if isinstance(form, bytes) else b"standard"  # other types: ignored
            text = _standard(raw)
            if name == b"standard":
                return text
            if name == b"simple":
                return raw.hex()
            if name == b"urn":
                return "urn:uuid:" + text
            raise _invalid("unsupported format")

        return lua_result(state, run)

    table = lua_table(
        state,
        {
            "v1": generator(gen.v1),
            "v3": named(3),
            "v4": generator(gen.v4),
            "v5": named(5),
            "v7": generator(gen.v7),
            "validate": validate,
            "version": version,
            "variant": variant,
            "parse": parse,
            "format": format_,
        },
    )
    for key, value in (
        ("NAMESPACE_DNS", NAMESPACE_DNS),
        ("NAMESPACE_URL", NAMESPACE_URL),
        ("NAMESPACE_OID", NAMESPACE_OID),
        ("NAMESPACE_X500", NAMESPACE_X500),
    ):
        table[key.encode()] = value.encode()
    return table


__all__ = [
    "FORMATS",
    "NAMESPACE_DNS",
    "NAMESPACE_OID",
    "NAMESPACE_URL",
    "NAMESPACE_X500",
    "OS_RANDOM",
    "RandomSource",
    "UuidGenerator",
    "name_based",
    "parse_uuid",
    "uuid_info",
    "uuid_module",
    "variant_name",
]
