"""uuid (SPEC 2.10) and crypto.random (SPEC 2.11): formats, replay-safe determinism, errors."""

from __future__ import annotations

import hashlib
import re
import uuid as std_uuid
from collections.abc import Callable
from typing import Any

import pytest

from luaflow.lua import LuaState
from luaflow.lua._crypto import DEFAULT_CHARSET, crypto_module, random_indexes
from luaflow.lua._uuid import OS_RANDOM, RandomSource, uuid_module

# 2024-05-06T07:08:09.123456789Z
NOW_NS = 1_714_979_289_123_456_789
STANDARD = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class FakeRandom:
    """A deterministic random source: SHA-256 in counter mode over a seed."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.counter = 0
        self.requests: list[int] = []

    def random_bytes(self, n: int) -> bytes:
        self.requests.append(n)
        out = b""
        while len(out) < n:
            block = f"{self.seed}:{self.counter}".encode()
            out += hashlib.sha256(block).digest()
            self.counter += 1
        return out[:n]


class FixedRandom:
    """Returns the same bytes pattern every time (cycled to length)."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern = pattern

    def random_bytes(self, n: int) -> bytes:
        return (self.pattern * (n // len(self.pattern) + 1))[:n]


class StreamRandom:
    """Hands out the bytes of one fixed stream in order."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream

    def random_bytes(self, n: int) -> bytes:
        out, self.stream = self.stream[:n], self.stream[n:]
        assert len(out) == n, "stream exhausted"
        return out


def make_state(rng: RandomSource, now: Callable[[], int] = lambda: NOW_NS) -> LuaState:
    state = LuaState()
    state.install_require(
        {
            "uuid": lambda s: uuid_module(s, rng, now),
            "crypto": lambda s: crypto_module(s, rng),
        },
        "app:x",
    )
    return state


def run(code: str, rng: RandomSource | None = None, state: LuaState | None = None) -> list[Any]:
    state = state or make_state(rng or FakeRandom(1))
    return [state.from_lua(v) for v in state.call(state.load(code, "t.lua"))]


def error_of(code: str) -> dict[str, Any]:
    """Run code returning `value, err` and describe the error."""
    value, kind, message = run(
        f"local v, err = {code} return v, err and err:kind(), err and err:message()"
    )
    return {"value": value, "kind": kind, "message": message}


# -- generation ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 4, 7])
def test_generated_uuids_have_format_version_and_variant(version: int) -> None:
    text, err = run(f"return require('uuid').v{version}()")
    assert err is None
    assert STANDARD.fullmatch(text)
    parsed = std_uuid.UUID(text)
    assert parsed.version == version
    assert parsed.variant == std_uuid.RFC_4122


def test_v1_encodes_the_injected_time_and_a_multicast_node() -> None:
    (text,) = run("return (require('uuid').v1())")
    parsed = std_uuid.UUID(text)
    assert parsed.time == NOW_NS // 100 + 0x01B21DD213814000
    assert parsed.node & (1 << 40)  # multicast bit: never a real MAC address


def test_v7_encodes_unix_millis_and_stays_ordered_while_time_stands_still() -> None:
    (ids,) = run(
        "local u = require('uuid') local t = {} for i = 1, 50 do t[i] = u.v7() end return t"
    )
    assert all(int(i[:8] + i[9:13], 16) == NOW_NS // 1_000_000 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == 50


def test_v4_uses_only_the_random_source() -> None:
    (text,) = run("return (require('uuid').v4())", FixedRandom(b"\x00"))
    assert text == "00000000-0000-4000-8000-000000000000"
    (text,) = run("return (require('uuid').v4())", FixedRandom(b"\xff"))
    assert text == "ffffffff-ffff-4fff-bfff-ffffffffffff"


GENERATE_ALL = """
local uuid, crypto = require('uuid'), require('crypto')
return {
    uuid.v1(), uuid.v4(), uuid.v7(), uuid.v4(), uuid.v7(), uuid.v1(),
    crypto.random.uuid(), crypto.random.string(16), crypto.random.bytes(8),
}
"""


def test_same_seed_and_time_give_the_same_values() -> None:
    first = run(GENERATE_ALL, FakeRandom(42))
    second = run(GENERATE_ALL, FakeRandom(42))
    assert first == second
    other = run(GENERATE_ALL, FakeRandom(43))
    values, other_values = first[0], other[0]
    assert all(a != b for a, b in zip(values, other_values, strict=True))


def test_different_time_gives_different_time_based_uuids() -> None:
    code = "local u = require('uuid') return u.v1(), u.v7(), u.v4()"
    first = run(code, state=make_state(FakeRandom(1), lambda: NOW_NS))
    later = run(code, state=make_state(FakeRandom(1), lambda: NOW_NS + 10**9))
    assert first[0] != later[0]
    assert first[1] != later[1]
    assert first[2] == later[2]  # v4 does not depend on time


def test_os_random_gives_distinct_uuids() -> None:
    (a, b) = run("local u = require('uuid') return (u.v4()), (u.v4())", OS_RANDOM)
    assert a != b


# -- name-based ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["example.com", "", "h\u00e9llo w\u00f6rld", "a" * 1000])
@pytest.mark.parametrize(
    ("constant", "namespace"),
    [
        ("NAMESPACE_DNS", std_uuid.NAMESPACE_DNS),
        ("NAMESPACE_URL", std_uuid.NAMESPACE_URL),
        ("NAMESPACE_OID", std_uuid.NAMESPACE_OID),
        ("NAMESPACE_X500", std_uuid.NAMESPACE_X500),
    ],
)
def test_v3_v5_match_python(constant: str, namespace: std_uuid.UUID, name: str) -> None:
    state = make_state(FakeRandom(1))
    fn = state.load(
        f"local u = require('uuid') local name = ... "
        f"return u.{constant}, u.v3(u.{constant}, name), u.v5(u.{constant}, name), "
        f"u.v5('{str(namespace).upper()}', name), (u.v3('{namespace.hex}', name))",
        "t.lua",
    )
    text, v3, v5, v5_upper, v3_simple = (state.from_lua(v) for v in state.call(fn, name.encode()))
    assert text == str(namespace)
    assert v3 == v3_simple == str(std_uuid.uuid3(namespace, name))
    assert v5 == v5_upper == str(std_uuid.uuid5(namespace, name))


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("require('uuid').v5('not-a-uuid', 'x')", "invalid namespace UUID"),
        ("require('uuid').v3(42, 'x')", "namespace and name must be strings"),
        (
            "require('uuid').v5(require('uuid').NAMESPACE_DNS, nil)",
            "namespace and name must be strings",
        ),
        ("require('uuid').v3()", "namespace and name must be strings"),
    ],
)
def test_name_based_rejects_bad_input(code: str, message: str) -> None:
    assert error_of(code) == {"value": None, "kind": "Invalid", "message": message}


# -- inspection ------------------------------------------------------------------------------

V1 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
V4 = "550e8400-e29b-41d4-a716-446655440000"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (V4, True),
        (V4.upper(), True),
        ("{" + V4 + "}", True),
        ("urn:uuid:" + V4, True),
        (V4.replace("-", ""), True),
        ("00000000-0000-0000-0000-000000000000", True),
        ("not-a-uuid", False),
        ("", False),
        (V4 + "0", False),
        (V4[:-1] + "g", False),
        (V4.replace("-", "_"), False),
        (" " + V4, False),
        ("{" + V4, False),
    ],
)
def test_validate(value: str, valid: bool) -> None:
    state = make_state(FakeRandom(1))
    fn = state.load("return require('uuid').validate(...)", "t.lua")
    assert state.call(fn, value.encode()) == [valid, None]


def test_validate_is_false_for_non_strings() -> None:
    for arg in ("42", "nil", "{}"):
        assert error_of(f"require('uuid').validate({arg})") == {
            "value": False,
            "kind": None,
            "message": None,
        }


@pytest.mark.parametrize(
    ("value", "version", "variant"),
    [
        (V1, 1, "RFC4122"),
        (V4, 4, "RFC4122"),
        (str(std_uuid.uuid3(std_uuid.NAMESPACE_DNS, "x")), 3, "RFC4122"),
        (str(std_uuid.uuid5(std_uuid.NAMESPACE_DNS, "x")), 5, "RFC4122"),
        ("017f22e2-79b0-7cc3-98c4-dc0c0c07398f", 7, "RFC4122"),
        ("00000000-0000-0000-0000-000000000000", 0, "Reserved"),
        ("00000000-0000-4000-7000-000000000000", 4, "Reserved"),
        ("00000000-0000-4000-c000-000000000000", 4, "Microsoft"),
        ("00000000-0000-4000-d000-000000000000", 4, "Microsoft"),
        ("00000000-0000-4000-e000-000000000000", 4, "Future"),
        ("ffffffff-ffff-ffff-ffff-ffffffffffff", 15, "Future"),
    ],
)
def test_version_and_variant(value: str, version: int, variant: str) -> None:
    state = make_state(FakeRandom(1))
    fn = state.load("local u = require('uuid') return u.version(...), (u.variant(...))", "t.lua")
    assert state.call(fn, value.encode()) == [version, variant.encode()]


@pytest.mark.parametrize("fn", ["version", "variant", "parse"])
@pytest.mark.parametrize(
    ("arg", "message"),
    [
        ("'nope'", "invalid UUID format"),
        ("12", "input must be a string"),
        ("", "input must be a string"),
    ],
)
def test_inspection_rejects_invalid_input(fn: str, arg: str, message: str) -> None:
    result = error_of(f"require('uuid').{fn}({arg})")
    assert result == {"value": None, "kind": "Invalid", "message": message}


def test_parse_v1_gives_unix_time_and_node() -> None:
    (info, err) = run(f"return require('uuid').parse('{V1}')")
    assert err is None
    expected = (std_uuid.UUID(V1).time - 0x01B21DD213814000) // 10**7
    assert info == {
        "version": 1,
        "variant": "RFC4122",
        "timestamp": expected,
        "node": bytes.fromhex("00c04fd430c8"),  # the raw 6 bytes
    }


def test_parse_round_trips_generated_time_based_uuids() -> None:
    (v1, v7, v4) = run(
        "local u = require('uuid') return u.parse((u.v1())), u.parse((u.v7())), (u.parse((u.v4())))"
    )
    assert v1["timestamp"] == NOW_NS // 10**9
    assert isinstance(v1["node"], bytes) and len(v1["node"]) == 6
    assert v7 == {"version": 7, "variant": "RFC4122", "timestamp": NOW_NS // 10**9}
    assert v4 == {"version": 4, "variant": "RFC4122"}


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("'standard'", V1),
        ("nil", V1),
        ("'simple'", V1.replace("-", "")),
        ("'urn'", "urn:uuid:" + V1),
    ],
)
def test_format(form: str, expected: str) -> None:
    for source in (V1, V1.upper(), "{" + V1 + "}", "urn:uuid:" + V1, V1.replace("-", "")):
        assert run(f"return require('uuid').format('{source}', {form})") == [expected, None]


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (f"require('uuid').format('{V1}', 'braces')", "unsupported format"),
        ("require('uuid').format('xyz', 'simple')", "invalid UUID format"),
        ("require('uuid').format(nil, 'simple')", "input must be a string"),
    ],
)
def test_format_rejects_bad_input(code: str, message: str) -> None:
    result = error_of(code)
    assert result["value"] is None
    assert result["kind"] == "Invalid"
    assert result["message"].startswith(message)


def test_errors_compare_with_errors_constants() -> None:
    assert run(
        "local _, err = require('uuid').parse('x') return errors.is(err, errors.INVALID)"
    ) == [True]


# -- crypto.random ---------------------------------------------------------------------------


def test_random_bytes_are_raw_bytes_of_the_asked_length() -> None:
    state = make_state(FixedRandom(b"\xff\xfe\x00\x80"))
    (data, err, length) = run(
        "local b, err = require('crypto').random.bytes(6) return b, err, #b", state=state
    )
    assert err is None
    assert length == 6
    assert data == b"\xff\xfe\x00\x80\xff\xfe"  # not UTF-8: comes back as bytes


@pytest.mark.parametrize("n", [1, 32, 1_048_576])
def test_random_bytes_lengths(n: int) -> None:
    assert run(f"return #require('crypto').random.bytes({n})", OS_RANDOM) == [n]


@pytest.mark.parametrize(
    "call",
    [
        "bytes(0)",
        "bytes(-1)",
        "bytes(1048577)",
        "bytes(0.5)",
        "string(0)",
        "string(1048577)",
        "string(4, '')",
    ],
)
def test_random_rejects_bad_arguments(call: str) -> None:
    result = error_of(f"require('crypto').random.{call}")
    assert result["value"] is None
    assert result["kind"] == "Invalid"


def test_random_string_default_charset_is_alphanumeric() -> None:
    (text,) = run("return (require('crypto').random.string(500))", FakeRandom(3))
    assert len(text) == 500
    assert set(text) <= set(DEFAULT_CHARSET.decode())
    assert len(set(text)) > 40


@pytest.mark.parametrize(
    "charset",
    ["01", "abc", "x", "".join(chr(c) for c in range(32, 127))],
)
def test_random_string_honours_charset(charset: str) -> None:
    state = make_state(FakeRandom(5))
    fn = state.load("return require('crypto').random.string(...)", "t.lua")
    text, err = (state.from_lua(v) for v in state.call(fn, 200, charset.encode()))
    assert err is None
    assert len(text) == 200
    assert set(text) <= set(charset)
    if len(charset) <= 4:
        assert set(text) == set(charset)


def test_random_string_with_a_non_utf8_charset_picks_bytes() -> None:
    state = make_state(FakeRandom(5))
    fn = state.load("return require('crypto').random.string(...)", "t.lua")
    data, err = state.call(fn, 64, b"\xff\xfe")
    assert err is None
    assert isinstance(data, bytes)
    assert len(data) == 64
    assert set(data) == {0xFF, 0xFE}


def test_random_indexes_reject_the_biased_range() -> None:
    # k = 100: bytes >= 200 would bias 0..55, so they are dropped and drawn again
    rng = StreamRandom(bytes([250, 201, 199, 0, 99, 100]))
    assert random_indexes(rng, 4, 100) == [99, 0, 99, 0]
    assert random_indexes(FakeRandom(1), 1000, 300) == random_indexes(FakeRandom(1), 1000, 300)
    assert all(0 <= i < 300 for i in random_indexes(FakeRandom(2), 1000, 300))


def test_random_string_is_roughly_uniform() -> None:
    counts = dict.fromkeys("abc", 0)
    (text,) = run("return (require('crypto').random.string(30000, 'abc'))", FakeRandom(9))
    for ch in text:
        counts[ch] += 1
    assert all(9000 < c < 11000 for c in counts.values())


def test_random_uuid_is_v4() -> None:
    (text, err) = run("return require('crypto').random.uuid()")
    assert err is None
    assert std_uuid.UUID(text).version == 4
