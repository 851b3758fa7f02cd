"""The pure core modules (CORE-MODULES 6-15): payload, json, uuid, crypto, hash, base64, logger,
env and os.platform, run as Lua in host states; known-answer vectors from the reference runtime
and from the RFCs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from luaflow.lua import LuaflowError, LuaState
from luaflow.lua._crypto import crypto_module
from luaflow.lua._env import Environment, env_module
from luaflow.lua._logger import LogLine, logger_module
from luaflow.workflow import HostEnv, new_host_state, new_workflow_state
from tests.lua.test_uuid_crypto import FixedRandom
from tests.workflow.test_scheduler import FakeEnv

PRELUDE = (
    'local json, crypto, uuid, hash, base64 = require("json"), require("crypto"), '
    'require("uuid"), require("hash"), require("base64") '
    'local function K(v, e) if e ~= nil then return "ERR " .. e:kind() end return v end '
    "local function fromhex(h) return (h:gsub('..', function(x) "
    "return string.char(tonumber(x, 16)) end)) end "
    "local function hex(s) return (s:gsub('.', function(c) "
    "return string.format('%02x', c:byte()) end)) end "
    'local ID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"\n'
)

Loaders = dict[str, Callable[[LuaState], Any]]


class Lua:
    """A host state with every module of host code (plus overrides) and a snippet runner."""

    def __init__(self, overrides: Loaders | None = None) -> None:
        self.modules, loaders = new_host_state(HostEnv(pid_value="{pid}"), entry_id="app:t")
        self.state = self.modules.state
        self.state.install_require({**loaders, **(overrides or {})}, "app:t")

    def run(self, code: str) -> list[Any]:
        fn = self.state.load(PRELUDE + code, "t.lua")
        return [self.state.from_lua(v) for v in self.state.call(fn)]

    def close(self) -> None:
        self.modules.scheduler.close()


@pytest.fixture
def lua() -> Iterator[Lua]:
    runner = Lua()
    yield runner
    runner.close()


def check(lua: Lua, code: str, expected: list[Any]) -> None:
    assert lua.run(code) == expected


# -- payload (P1-P8) ------------------------------------------------------------------------------

PAYLOAD = [
    (
        "return payload.new('hello'):get_format(), payload.new(123):get_format(), "
        "payload.new(nil):get_format()",
        ["lua/any"] * 3,
    ),
    ("return payload.new({test=true}):get_format() == payload.format.LUA", [True]),
    (
        "return payload.format.BYTES, payload.format.GOLANG, payload.format.ERROR",
        ["application/octet-stream", "golang/any", "golang/error"],
    ),
    ("return payload.new(errors.new('test error')):get_format()", ["golang/error"]),
    ("return tostring(payload.new('hello'))", ["payload{format=lua/any}"]),
    (
        "local p = payload.new({key='value', num=42}) return p:data().num, p:unmarshal().key",
        [42, "value"],
    ),
    (
        "local tb = {} return payload.new(tb):data() == tb, select('#', payload.new(1):data())",
        [True, 1],
    ),
    ("return payload.new({a=1}):transcode(payload.format.JSON):get_format()", ["json/plain"]),
    # transcoding converts: JSON keeps data (functions become null), strings stay strings
    (
        "local p = payload.new({a=1, f=print}):transcode(payload.format.JSON) "
        "return p:data().a, p:data().f, payload.new('s'):transcode(payload.format.BYTES):data()",
        [1, None, "s"],
    ),
    (
        "local p, e = payload.new({[1]=1, [3]=3}):transcode(payload.format.JSON) "
        "local q, e2 = payload.new({}):transcode('x/y') "
        "local r, e3 = payload.new(5):transcode(payload.format.STRING) "
        "return p, e:kind(), q, tostring(e2), r, e3:kind()",
        [None, "Internal", None, 'transcode failed: unsupported format "x/y"', None, "Internal"],
    ),
    (
        "local p = payload.new(errors.new('x')):transcode(payload.format.ERROR) "
        "return p:get_format(), tostring(p:data())",
        ["golang/error", "x"],
    ),
]


@pytest.mark.parametrize(("code", "expected"), PAYLOAD)
def test_payload(lua: Lua, code: str, expected: list[Any]) -> None:
    check(lua, code, expected)


def test_payload_transcode_checks_its_argument(lua: Lua) -> None:
    ok, message = lua.run("return pcall(payload.new(1).transcode, payload.new(1), 5)")
    assert (ok, message) == (False, "bad argument #2 to transcode (string expected, got number)")


# -- json (J1-J23 and Go's encoding rules) -------------------------------------------------------

JSON = [
    (
        "return json.encode(nil), json.encode(true), json.encode(42), json.encode(3.14), "
        "json.encode('')",
        ["null", "true", "42", "3.14", '""', None],
    ),
    ("return (json.encode({1, 2, 3})), (json.encode({}))", ["[1,2,3]", "[]"]),
    (
        "local _, e = json.encode({[1]='a', [3]='c'}) return e:kind(), e:retryable(), tostring(e)",
        [
            "Internal",
            False,
            "encode failed: cannot encode sparse array: non-contiguous numeric keys found",
        ],
    ),
    (
        "local _, e = json.encode({1, a=2}) return K(json.encode({1, a=2})), tostring(e)",
        [
            "ERR Internal",
            "encode failed: cannot encode mixed-key table: table has both numeric and "
            "non-numeric keys",
        ],
    ),
    (
        "return (json.encode({[0]='a'})), (json.encode({[true]='a', [-1]='b', [1.5]='c'}))",
        ['{"0":"a"}', '{"-1":"b","1.5":"c","true":"a"}'],
    ),
    ("return (json.encode('\\255'))", ['"\\ufffd"']),
    (
        "return (json.encode('<')), (json.encode({s='a&b'})), (json.encode('\\u{2028}>'))",
        ['"\\u003c"', '{"s":"a\\u0026b"}', '"\\u2028\\u003e"'],
    ),
    ("return (json.encode({e=errors.wrap(errors.new('in'), 'ctx')}))", ['{"e":"ctx: in"}']),
    (
        "return (json.encode({f=print})), (json.encode(0/0)), (json.encode({1/0}))",
        ['{"f":null}', "null", "[null]"],
    ),
    (
        "return (json.encode(1e21)), (json.encode({1e21, 1.5, 1e-7, 2.0})), (json.encode(1e-7)), "
        "(json.encode(3.0)), (json.encode('\\n\\t\\1\"\\\\'))",
        [
            "1e+21",
            "[1000000000000000000000,1.5,0.0000001,2]",
            "1e-7",
            "3",
            '"\\n\\t\\u0001\\"\\\\"',
        ],
    ),
    (
        "return json.decode('null'), json.decode('\"\"'), json.decode('3.14'), json.decode('42')",
        [None, "", 3.14, 42, None],
    ),
    (
        'local v = json.decode(\'{"items":[1,2],"meta":{"ok":true}}\') '
        "return v.items[1], v.meta.ok",
        [1, True],
    ),
    (
        "local _, e = json.decode('') local _, e2 = json.decode('not json') "
        "return e:kind(), e:retryable(), tostring(e), e2:kind()",
        ["Invalid", False, "empty string is not valid JSON", "Internal"],
    ),
    ("return K(json.decode(nil)), K(json.decode(42))", ["ERR Invalid", "ERR Invalid"]),
    ("return (json.decode('1 2')), (json.decode('[1] trailing'))[1]", [1, 1]),
    (
        "return math.type(json.decode('42')), math.type(json.decode('1e2')), "
        "math.type(json.decode('123456789012345678901234'))",
        ["integer", "float", "float"],
    ),
    ("return json.decode(json.encode({text='hello\\nworld'})).text", ["hello\nworld"]),
    (
        "local v = json.decode('[1,null,3]') return v[1], v[2], v[3], "
        "(json.decode('\"\\\\ud800x\"')), (json.decode('[1e400]'))[1]",
        [1, None, 3, "\ufffdx", "1e400"],
    ),
    (
        "local _, e = json.decode('NaN') local _, e2 = json.decode(string.rep('[', 200)) "
        "local _, e3 = json.decode(string.rep('[', 5000) .. string.rep(']', 5000)) "
        "return e:kind(), tostring(e2):find('decode failed', 1, true) ~= nil, tostring(e3)",
        ["Internal", True, "decode failed: json: maximum nesting depth exceeded"],
    ),
    (
        "local t = {} t.t = t local deep = {} local d = deep for i = 1, 200 do d.x = {} d = "
        "d.x end "
        "local _, e = json.encode(t) local _, e2 = json.encode(deep) return tostring(e), "
        "tostring(e2)",
        [
            "encode failed: cannot encode recursively nested tables to JSON",
            "encode failed: exceeded maximum nesting depth for JSON encoding",
        ],
    ),
    (
        "return json.validate({type='object', properties={name={type='string'}, "
        "age={type='number'}}, required={'name'}}, {name='John', age=30})",
        [True],
    ),
    (
        "local ok, e = json.validate({type='object', required={'name'}}, {age=30}) "
        "return ok, e:kind(), e:retryable(), tostring(e)",
        [False, "Invalid", False, "validation failed: 'name' is a required property"],
    ),
    (
        'return json.validate(\'{"type":"object","properties":{"name":{"type":"string"}}}\', '
        "{name='test'})",
        [True],
    ),
    (
        "local ok, e = json.validate({type='object'}, nil) "
        "return ok, e:kind(), string.find(tostring(e), 'data is required', 1, true) ~= nil",
        [False, "Invalid", True],
    ),
    (
        "local ok, e = json.validate_string({type='object', required={'name'}}, '{\"age\":25}') "
        "return ok, e:kind()",
        [False, "Invalid"],
    ),
    # an empty table is an object to the validator (Go's ToGoAny)
    (
        "return json.validate({type='object'}, {}), json.validate_string({type='array'}, '[]')",
        [True, True],
    ),
    (
        "local _, a = json.validate(nil, {}) local _, b = json.validate(5, {}) "
        "local _, c = json.validate({type=5}, {}) local _, d = json.validate_string({}, 5) "
        "local _, e = json.validate('{not json', {}) "
        "return tostring(a), tostring(b), tostring(c):sub(1, 15), tostring(d), "
        "tostring(e):sub(1, 15)",
        [
            "schema is required",
            "schema error: schema must be a string or table",
            "compile schema:",
            "data must be a JSON string",
            "compile schema:",
        ],
    ),
    (
        "local ok, e = json.validate({type='object', properties={n={type='integer'}}, "
        "required={'id'}}, {n='x'}) return tostring(e)",
        ["validation failed: 'id' is a required property; /n: 'x' is not of type 'integer'"],
    ),
]


@pytest.mark.parametrize(("code", "expected"), JSON)
def test_json(lua: Lua, code: str, expected: list[Any]) -> None:
    check(lua, code, expected)


def test_json_errors_never_carry_python_exception_text(lua: Lua) -> None:
    messages = lua.run(
        "local out = {} for _, s in ipairs({'\\255', '{\"a\":', '[1,]', '\\0'}) do "
        "local _, e = json.decode(s) out[#out + 1] = tostring(e) end return table.concat(out, '|')"
    )[0]
    assert messages.count("decode failed: ") == 4
    assert not re.search(r"Error|Traceback|bytes", messages)


# -- uuid (U1-U12) -------------------------------------------------------------------------------

UUID = [
    ("return #uuid.v4(), uuid.validate(uuid.v4()), #uuid.v1(), #uuid.v7()", [36, True, 36, 36]),
    (
        "return (uuid.v3(ID, 'test')), (uuid.v5(ID, 'test'))",
        ["45a113ac-c7f2-30b0-90a5-a399ab912716", "4be0643f-1d98-573b-97cd-ca98a65347dd"],
    ),
    (
        "local r, e = uuid.v3('invalid', 'test') return r, e:kind(), e:retryable()",
        [None, "Invalid", False],
    ),
    (
        "local a, ea = uuid.validate(123) local b, eb = uuid.validate(nil) "
        "local c, ec = uuid.validate({}) return a, ea, b, eb, c, ec",
        [False, None, False, None, False, None],
    ),
    (
        "return (uuid.validate('not-a-uuid')), (uuid.validate('')), (uuid.validate(ID .. "
        "'-extra'))",
        [False, False, False],
    ),
    (
        "return (uuid.validate('{' .. ID .. '}')), "
        "(uuid.validate('6ba7b8109dad11d180b400c04fd430c8')), (uuid.validate('urn:uuid:' .. ID))",
        [True, True, True],
    ),
    (
        "return (uuid.format(ID, 'simple')), (uuid.format(ID, 'urn')), (uuid.format(ID))",
        [
            "6ba7b8109dad11d180b400c04fd430c8",
            "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        ],
    ),
    (
        "local _, e = uuid.format(ID, 'unknown') return K(uuid.format(ID, 'unknown')), "
        "tostring(e), (uuid.format(ID, 5))",
        ["ERR Invalid", "unsupported format", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"],
    ),
    (
        "local i = uuid.parse(ID) return i.version, i.variant, i.timestamp ~= nil, #i.node, "
        "hex(i.node)",
        [1, "RFC4122", True, 6, "00c04fd430c8"],
    ),
    (
        "return (uuid.variant('00000000-0000-0000-0000-000000000000')), "
        "(uuid.variant('00000000-0000-0000-e000-000000000000'))",
        ["Reserved", "Future"],
    ),
    (
        "return K(uuid.version(123)), K(uuid.version('invalid')), "
        "(uuid.version('00000000-0000-0000-0000-000000000000'))",
        ["ERR Invalid", "ERR Invalid", 0],
    ),
    (
        "local _, a = uuid.v3(1, 'x') local _, b = uuid.v5(ID, nil) return tostring(a), "
        "tostring(b)",
        ["namespace and name must be strings"] * 2,
    ),
]


@pytest.mark.parametrize(("code", "expected"), UUID)
def test_uuid(lua: Lua, code: str, expected: list[Any]) -> None:
    check(lua, code, expected)


# -- crypto (X1-X19, RFC 4231, NIST GCM, RFC 8439, RFC 7914) -------------------------------------

CRYPTO = [
    (
        "return #crypto.random.bytes(16), K(crypto.random.bytes(0)), K(crypto.random.bytes(-1))",
        [16, "ERR Invalid", "ERR Invalid"],
    ),
    (
        "local _, a = crypto.random.bytes(0) local _, b = crypto.random.bytes(2^21) "
        "return tostring(a), tostring(b)",
        ["length must be a positive integer", "length exceeds maximum allowed size (1MB)"],
    ),
    (
        "return #crypto.random.string(32), #crypto.random.string(16, '0123456789abcdef'), "
        "K(crypto.random.string(10, '')), #crypto.random.string(3, 'é'), "
        "#crypto.random.string(5, 7), #crypto.random.bytes(2.9), #crypto.random.bytes('8')",
        [32, 16, "ERR Invalid", 3, 5, 2, 8],
    ),
    ("return #crypto.random.uuid(), (uuid.version(crypto.random.uuid()))", [36, 4]),
    (
        "return (crypto.hmac.sha256('secret', 'data'))",
        ["1b2c16b75bd2a870c114153ccda5bcfca63314bc722fa160d690de133ccbb9db"],
    ),
    (
        "return #crypto.hmac.sha512('secret', 'data'), K(crypto.hmac.sha256('', 'data')), "
        "#crypto.hmac.sha256('secret', '')",
        [128, "ERR Invalid", 64],
    ),
    # RFC 4231 test case 2
    (
        "return (crypto.hmac.sha256('Jefe', 'what do ya want for nothing?')), "
        "(crypto.hmac.sha512('Jefe', 'what do ya want for nothing?'))",
        [
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f"
            "65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ],
    ),
    (
        "return (crypto.decrypt.aes(fromhex('000000000000000000000000dd71dcdd87911caf1e599149bac9"
        "09f9c724a7397f1805d823e3f8e3fb'), string.rep('a', 32))), "
        "(crypto.decrypt.chacha20(fromhex('0000000000000000000000003ec6cf0acd1f4f48be6e9afbb32ec0"
        "a045d1c8184264cde70223ffa0aa'), string.rep('a', 32)))",
        ["Hello, World!", "Hello, World!"],
    ),
    # GCM spec test cases 2 and 4 (the second with AAD)
    (
        "return hex(crypto.decrypt.aes(fromhex('000000000000000000000000' .. "
        "'0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf'), "
        "string.rep('\\0', 16))), "
        "hex(crypto.decrypt.aes(fromhex('cafebabefacedbaddecaf888' .. "
        "'42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5a"
        "ac84aa051ba30b396a0aac973d58e091' .. '5bc94fbc3221a5db94fae95ae7121a47'), "
        "fromhex('feffe9928665731c6d6a8f9467308308'), "
        "fromhex('feedfacedeadbeeffeedfacedeadbeefabaddad2')))",
        [
            "00" * 16,
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e"
            "2449a6b525b16aedf5aa0de657ba637b39",
        ],
    ),
    # RFC 8439 2.8.2
    (
        "local key = '' for i = 0x80, 0x9f do key = key .. string.char(i) end "
        "return (crypto.decrypt.chacha20(fromhex('070000004041424344454647' .. "
        "'d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69"
        "da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad6759455"
        "85808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116' .. "
        "'1ae10b594f09e26a7e902ecbd0600691'), "
        "key, fromhex('50515253c0c1c2c3c4c5c6c7')))",
        [
            "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
            "future, sunscreen would be it."
        ],
    ),
    (
        "local k = string.rep('a', 32) local c = crypto.encrypt.aes('Hello, World!', k) "
        "local d = crypto.encrypt.chacha20('Hello, World!', k) "
        "return #c, (crypto.decrypt.aes(c, k)), #d, (crypto.decrypt.chacha20(d, k))",
        [41, "Hello, World!", 41, "Hello, World!"],
    ),
    (
        "local k = string.rep('a', 32) local c = crypto.encrypt.aes('p', k, 'aad') "
        "local _, e = crypto.decrypt.aes(c, k, 'wrong aad') "
        "return K(crypto.decrypt.aes(c, k, 'wrong aad')), "
        "K(crypto.decrypt.aes(c, string.rep('x', 32), 'aad')), tostring(e), "
        "(crypto.decrypt.aes(c, k, 'aad'))",
        ["ERR Internal", "ERR Internal", "decrypt: cipher: message authentication failed", "p"],
    ),
    (
        "local _, a = crypto.encrypt.aes('t', 'short') local _, b = "
        "crypto.encrypt.chacha20('t', 'short') "
        "local _, c = crypto.decrypt.aes('short', string.rep('a', 16)) "
        "return a:kind(), tostring(a), b:kind(), tostring(b), c:kind(), tostring(c)",
        [
            "Invalid",
            "key must be 16, 24, or 32 bytes",
            "Invalid",
            "key must be 32 bytes",
            "Invalid",
            "encrypted data too short",
        ],
    ),
    (
        "return (crypto.jwt.encode({sub='user123', exp=1700000000}, 'secret'))",
        [
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDAwMDAsInN1YiI6InVzZXIxMjMifQ."
            "Hv9p3mUpVV9c_-WgR81bbjeFP2G4bztMyF3z5YftgY4"
        ],
    ),
    (
        "local t = crypto.jwt.encode({sub='user123', exp=1700000000}, 'secret') "
        "local v, e = crypto.jwt.verify(t, 'secret') return K(v, e), tostring(e)",
        ["ERR Internal", "verify token: token has invalid claims: token is expired"],
    ),
    (
        "local tk = crypto.jwt.encode({sub='u', exp=os.time()+3600}, 'secret', 'HS384') "
        "local _, e = crypto.jwt.verify(tk, 'secret', 'HS256') "
        "return crypto.jwt.verify(tk, 'secret', 'HS384').sub, e:kind(), tostring(e)",
        [
            "u",
            "Internal",
            "verify token: token signature is invalid: signing method HS384 is invalid",
        ],
    ),
    (
        "local tk = crypto.jwt.encode({sub='u'}, 'secret') local _, e = crypto.jwt.verify(tk, "
        "'secret') "
        "return tostring(e), crypto.jwt.verify(tk, 'secret', 'HS256', false).sub",
        [
            "verify token: token has invalid claims: token is missing required claim: exp claim "
            "is required",
            "u",
        ],
    ),
    (
        "local tk = crypto.jwt.encode({sub='u', exp=os.time()+60, _header={kid='k1'}}, 'secret') "
        "local claims = crypto.jwt.verify(tk, 'secret') "
        "return claims.sub, claims._header, tk:match('^[^.]+')",
        ["u", None, "eyJhbGciOiJIUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0"],  # alg, kid, typ
    ),
    (
        "local tk = crypto.jwt.encode({sub='u', exp=os.time()+60}, 'secret', 'XX999') "
        "local _, bad = crypto.jwt.verify(tk, 'wrong') local _, short = "
        "crypto.jwt.verify('a.b', 'k') "
        "return crypto.jwt.verify(tk, 'secret').sub, tostring(bad), tostring(short)",
        [
            "u",  # an unknown alg signs HS256
            "verify token: token signature is invalid: signature is invalid",
            "verify token: token is malformed: token contains an invalid number of segments",
        ],
    ),
    (
        "local k = crypto.pbkdf2('password', 'salt', 1000, 32) return #k, hex(k)",
        [32, "632c2812e46d4604102ba7618e9d6d7d2f8128f6266b4a03264d2a0460b7dcb3"],
    ),
    # RFC 7914 section 11 (PBKDF2-HMAC-SHA256)
    (
        "return hex(crypto.pbkdf2('passwd', 'salt', 1, 64))",
        [
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b6459916"
            "64b39d77ef317c71b845b1e30bd509112041d3a19783"
        ],
    ),
    (
        "return #crypto.pbkdf2('password', 'salt', 1000, 64, 'sha512'), "
        "K(crypto.pbkdf2('password', 'salt', 1000, 32, 'md5')), K(crypto.pbkdf2('', 'salt', "
        "1000, 32)), "
        "K(crypto.pbkdf2('p', 's', 0, 32)), K(crypto.pbkdf2('p', 's', 1, 0))",
        [64, "ERR Invalid", "ERR Invalid", "ERR Invalid", "ERR Invalid"],
    ),
    (
        "local m = {} for _, c in ipairs({{'password', 'salt', 1000, 32, 'md5'}, {'', 's', 1, 1}, "
        "{'p', '', 1, 1}, {'p', 's', 0, 1}, {'p', 's', 10000001, 1}, {'p', 's', 1, -1}}) do "
        "local _, e = crypto.pbkdf2(table.unpack(c)) m[#m + 1] = tostring(e) end "
        "return table.concat(m, '|')",
        [
            "unsupported hash function: md5|password cannot be empty|salt cannot be empty|"
            "iterations must be positive|iterations exceeds maximum (10000000)|"
            "key length must be positive"
        ],
    ),
    (
        "return crypto.constant_time_compare('hello', 'hello'), "
        "crypto.constant_time_compare('hello', 'hell')",
        [True, False],
    ),
]


@pytest.mark.parametrize(("code", "expected"), CRYPTO)
def test_crypto(lua: Lua, code: str, expected: list[Any]) -> None:
    check(lua, code, expected)


def test_encryption_nonces_come_from_the_random_source() -> None:
    """In workflows the source is the run's replay-safe randomness: same bytes on replay."""
    lua = Lua({"crypto": lambda s: crypto_module(s, FixedRandom(b"\x07"))})
    try:
        first, second, plain = lua.run(
            "local k = string.rep('k', 32) local a = crypto.encrypt.aes('x', k) "
            "return hex(a), hex(crypto.encrypt.aes('x', k)), (crypto.decrypt.aes(a, k))"
        )
    finally:
        lua.close()
    assert first == second and first.startswith("07" * 12)
    assert plain == "x"


def test_jwt_expiry_reads_the_injected_clock() -> None:
    lua = Lua(
        {"crypto": lambda s: crypto_module(s, FixedRandom(b"\x01"), lambda: 1_699_999_999 * 10**9)}
    )
    try:
        sub, message = lua.run(
            "local t = crypto.jwt.encode({sub='s', exp=1700000000, nbf=1699999000}, 'k') "
            "local late = crypto.jwt.encode({sub='s', exp=1800000000, nbf=1700000001}, 'k') "
            "return crypto.jwt.verify(t, 'k').sub, select(2, crypto.jwt.verify(late, "
            "'k')):message()"
        )
    finally:
        lua.close()
    assert sub == "s"
    assert message == "verify token: token has invalid claims: token is not valid yet"


def test_jwt_rs256_round_trip_and_key_errors(lua: Lua) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fn = lua.state.load(
        "local crypto = require('crypto') local private, public = ... "
        "local tk = crypto.jwt.encode({sub='r', exp=os.time() + 60}, private, 'RS256') "
        "local _, bad_key = crypto.jwt.encode({}, 'not a pem', 'RS256') "
        "local _, wrong = crypto.jwt.verify(tk, 'secret') "
        "return tk:sub(1, 36), crypto.jwt.verify(tk, public, 'RS256').sub, bad_key:kind(), "
        "tostring(bad_key), tostring(wrong)",
        "t.lua",
    )
    values = [lua.state.from_lua(v) for v in lua.state.call(fn, private, public)]
    assert values == [
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",  # {"alg":"RS256","typ":"JWT"}
        "r",
        "Invalid",
        "invalid RSA private key: failed to parse PEM block containing private key",
        "verify token: token signature is invalid: signing method RS256 is invalid",
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("crypto.hmac.sha256(nil, 'x')", "bad argument #1 to sha256 (string expected, got nil)"),
        ("crypto.hmac.sha512('k', {})", "bad argument #2 to sha512 (string expected, got table)"),
        ("crypto.random.bytes()", "bad argument #1 to bytes (number expected, got nil)"),
        ("crypto.random.string('x')", "bad argument #1 to string (number expected, got string)"),
        ("crypto.encrypt.aes(true, 'k')", "bad argument #1 to aes (string expected, got boolean)"),
        (
            "crypto.jwt.encode('claims', 'k')",
            "bad argument #1 to encode (table expected, got string)",
        ),
        (
            "crypto.jwt.encode({}, 'k', 256)",
            "bad argument #3 to encode (string expected, got number)",
        ),
        (
            "crypto.jwt.verify('t', 'k', 'HS256', 1)",
            "bad argument #4 to verify (boolean expected, got number)",
        ),
        (
            "crypto.pbkdf2('p', 's', 'many', 1)",
            "bad argument #3 to pbkdf2 (number expected, got string)",
        ),
        (
            "crypto.constant_time_compare('a')",
            "bad argument #2 to constant_time_compare (string expected, got nil)",
        ),
    ],
)
def test_wrong_argument_types_raise_at_the_callers_line(lua: Lua, call: str, message: str) -> None:
    with pytest.raises(LuaflowError) as caught:
        lua.run(call)
    assert caught.value.message == f"t.lua:2: {message}"
    assert lua.run(f"return pcall(function() {call} end)") == [False, f"t.lua:2: {message}"]


def test_numbers_and_errors_pass_as_strings(lua: Lua) -> None:
    assert lua.run(
        "return crypto.hmac.sha256(123, 4.5) == crypto.hmac.sha256('123', '4.5'), "
        "crypto.hmac.sha256(errors.new('k'), 'd') == crypto.hmac.sha256('k', 'd')"
    ) == [True, True]


# -- hash and base64 (H1-H4, B1-B2, RFC 4648, FNV) -----------------------------------------------

ENCODING = [
    (
        "return (hash.sha256('abc'))",
        ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ),
    (
        "return (hash.md5('abc')), (hash.sha1('abc')), #hash.sha256('abc', true), "
        "#hash.sha512('abc'), #hash.md5('abc', 0)",
        [
            "900150983cd24fb0d6963f7d28e17f72",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            32,
            128,
            16,
        ],
    ),
    (
        "return (hash.hmac_sha256('message', 'secret')), #hash.hmac_sha512('m', '', true), "
        "(hash.hmac_md5('m', '')) ~= nil",
        ["8b5f48702995c1598c573db1e21866a9b825d4a794d169d7060a03605796360b", 64, True],
    ),
    (
        "local _, e = hash.hmac_sha1('d', 5) local _, e2 = hash.sha1(5) "
        "return (hash.fnv32('hello')), K(hash.sha256(123)), tostring(e), tostring(e2)",
        [3069866343, "ERR Invalid", "secret must be a string", "data must be a string"],
    ),
    (
        "return (hash.fnv32('')), (hash.fnv32('a')), (hash.fnv64('a')) == 12638153115695167422, "
        "math.type((hash.fnv64('a')))",
        [0x811C9DC5, 0x050C5D7E, True, "float"],
    ),
    (
        # PBKDF2 (the X17 vector, computed with Python's pbkdf2_hmac), as crypto.pbkdf2 derives
        # it; a wrong argument type is a returned Invalid error here, not a raised one.
        "return hex(hash.pbkdf2('password', 'salt', 1000, 32)), "
        "#hash.pbkdf2('password', 'salt', 1000, 64, 'sha512'), "
        "hash.pbkdf2('pw', 'salt', 10, 16) == crypto.pbkdf2('pw', 'salt', 10, 16), "
        "K(hash.pbkdf2('password', 'salt', 1000, 32, 'md5')), K(hash.pbkdf2(5, 'salt', 1, 1)), "
        "K(hash.pbkdf2('p', 's', '10', 1)), K(hash.pbkdf2('p', 's', 0, 32)), "
        "K(hash.pbkdf2('', 's', 1, 32))",
        [
            "632c2812e46d4604102ba7618e9d6d7d2f8128f6266b4a03264d2a0460b7dcb3",
            64,
            True,
            "ERR Invalid",
            "ERR Invalid",
            "ERR Invalid",
            "ERR Invalid",
            "ERR Invalid",
        ],
    ),
    (
        "return base64.encode('Hello, World!'), base64.decode('SGVsbG8sIFdvcmxkIQ=='), "
        "base64.decode('SGVs\\r\\nbG8=')",
        ["SGVsbG8sIFdvcmxkIQ==", "Hello, World!", "Hello"],
    ),
    (
        "local _, e = base64.decode('SGVsbG8') "
        "return base64.encode(''), base64.decode(''), K(base64.decode('SGVsbG8')), "
        "K(base64.encode(5)), e:kind(), tostring(e), K(base64.decode('S*==')), "
        "select('#', base64.encode('x'))",
        [
            "",
            "",
            "ERR Invalid",
            "ERR Invalid",
            "Invalid",
            "illegal base64 data at input byte 4",
            "ERR Invalid",
            1,
        ],
    ),
    (
        # Go's CorruptInputError offsets; the message is Go's, "decode failed" its context.
        "local out = {} for _, s in ipairs({'!!!invalid!!!', 'YW=J', 'YQ==YQ==', 'YQ=', "
        "'SGVs\\r\\nbG8', 'Y==='}) do local _, e = base64.decode(s) "
        "out[#out + 1] = tostring(e):match('byte (%d+)$') end "
        "local _, e = base64.decode('!!!') return table.concat(out, ','), e:retryable()",
        ["0,2,4,3,6,1", False],
    ),
    (
        "local out = {} for _, s in ipairs({'', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar'}) do "
        "local e = base64.encode(s) assert(base64.decode(e) == s) out[#out + 1] = e end "
        "return table.concat(out, ',')",
        [",Zg==,Zm8=,Zm9v,Zm9vYg==,Zm9vYmE=,Zm9vYmFy"],
    ),
]


@pytest.mark.parametrize(("code", "expected"), ENCODING)
def test_hash_and_base64(lua: Lua, code: str, expected: list[Any]) -> None:
    check(lua, code, expected)


def test_os_platform(lua: Lua) -> None:
    assert lua.run("return os.platform") == ["wippy"]


# -- logger --------------------------------------------------------------------------------------


def test_logger_levels_fields_with_and_named() -> None:
    lines: list[LogLine] = []
    lua = Lua({"logger": lambda s: logger_module(s, lines.append, "app:t", lambda: "{pid}")})
    try:
        lua.run(
            "local log = require('logger')\n"
            "log:info('hello', {n = 1, s = 'x', ok = true, e = errors.new('boom'), t = {1, 2},"
            " [5] = 'dropped'})\n"
            "local child = log:with({req = 'r1'}):named('auth')\n"
            "child:warn('careful')\n"
            "local f = {error = 'disk full', op = 'write'}\n"
            "log:error('failed', f)\n"
            "log:debug(42)\n"
            "return f.error"
        )
    finally:
        lua.close()
    assert [(line.level, line.logger, line.message) for line in lines] == [
        (logging.INFO, "luaflow.app:t", "hello"),
        (logging.WARNING, "luaflow.app:t.auth", "careful"),
        (logging.ERROR, "luaflow.app:t", "failed"),
        (logging.DEBUG, "luaflow.app:t", "42"),
    ]
    assert lines[0].fields == {
        "n": 1, "s": "x", "ok": True, "e": "boom", "t": [1, 2], "pid": "{pid}",
        "location": "t.lua:3",
    }  # fmt: skip
    assert lines[1].fields == {"req": "r1", "pid": "{pid}", "location": "t.lua:5"}
    assert lines[2].fields["error"] == "disk full" and lines[2].fields["op"] == "write"
    assert lines[0].text().startswith('hello {"e":"boom","location":"t.lua:3",')


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("log.info('x')", "bad argument #1 to info (logger expected, got string)"),
        ("log:info({})", "bad argument #2 to info (string expected, got table)"),
        ("log:warn('x', 'fields')", "bad argument #3 to warn (table expected, got string)"),
        ("log:named('')", "bad argument #2 to named (name cannot be empty)"),
        ("log:with(nil)", "bad argument #2 to with (table expected, got nil)"),
    ],
)
def test_logger_argument_errors_raise(call: str, message: str) -> None:
    lua = Lua({"logger": lambda s: logger_module(s, lambda _: None, "app:t", lambda: "")})
    try:
        assert lua.run(f"local log = require('logger') return pcall(function() {call} end)") == [
            False,
            f"t.lua:2: {message}",
        ]
    finally:
        lua.close()


def test_host_logger_goes_to_python_logging(lua: Lua, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="luaflow.app:t"):
        lua.run("require('logger'):named('db'):info('query', {ms = 5})")
    [record] = [r for r in caplog.records if r.name == "luaflow.app:t.db"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == 'query {"location":"t.lua:2","ms":5,"pid":"{pid}"}'
    assert record.lua_fields["ms"] == 5


def test_workflow_logger_prints_through_the_run() -> None:
    env = FakeEnv()
    state, scheduler, loaders = new_workflow_state(env, entry_id="app:wf")
    try:
        state.install_require(loaders, "app:wf")
        state.call(state.load("require('logger'):warn('slow', {step = 2})", "wf.lua"))
        assert "env" not in loaders  # host code only
    finally:
        scheduler.close()
    assert env.printed == [
        'WARNING luaflow.app:wf: slow {"location":"wf.lua:1","pid":"{app:client@app:worker|wf-1}",'
        '"step":2}'
    ]


# -- env -----------------------------------------------------------------------------------------


def test_env_reads_an_overlay_over_the_environment() -> None:
    environment = Environment({"HOME_DIR": "/home/x"})
    lua = Lua({"env": lambda s: env_module(s, environment)})
    try:
        values = lua.run(
            "local env = require('env') "
            "local _, missing = env.get('NOPE') local _, empty = env.get('') "
            "local ok = env.set('MODE', 'prod') local all = env.get_all() "
            "return env.get('HOME_DIR'), missing:kind(), tostring(missing), empty:kind(), ok, "
            "env.get('MODE'), all.MODE, all.HOME_DIR, pcall(env.get)"
        )
    finally:
        lua.close()
    assert values == [
        "/home/x",
        "NotFound",
        "get environment variable failed: environment variable not found",
        "Invalid",
        True,
        "prod",
        "prod",
        "/home/x",
        False,
        "bad argument #1 to get (string expected, got nil)",
    ]
    assert environment.get("MODE") == "prod"
