"""Heavy libraries behind crypto and json.validate load on first use, not at CLI start."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: Imports the CLI, then uses AES, RS256 JWT and JSON Schema from Lua; prints what was loaded.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import luaflow.cli._main
    from luaflow.lua import LuaState, crypto_module, json_module
    from luaflow.lua._uuid import OS_RANDOM

    HEAVY = ("jsonschema", "referencing", "cryptography")

    def loaded():
        return sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))

    at_start = loaded()
    state = LuaState()
    state.install_require(
        {"crypto": lambda s: crypto_module(s, OS_RANDOM), "json": json_module}, "app:t"
    )
    code = '''
        local crypto, json = require('crypto'), require('json')
        local key = string.rep('k', 32)
        local plain = crypto.decrypt.aes(crypto.encrypt.aes('secret', key), key)
        local _, tampered = crypto.decrypt.chacha20(string.rep('x', 40), key)
        local _, rsa = crypto.jwt.encode({}, 'not a pem', 'RS256')
        local ok = json.validate({type='object', required={'name'}}, {name='n'})
        local _, missing = json.validate({type='object', required={'name'}}, {})
        local _, bad_schema = json.validate({type=5}, {})
        local _, bad_json = json.validate('{not json', {})
        return plain, tostring(tampered), tostring(rsa), ok, tostring(missing),
            tostring(bad_schema), tostring(bad_json)
    '''
    results = [state.from_lua(v) for v in state.call(state.load(code, "t.lua"))]
    state.close()
    print(json.dumps({"at_start": at_start, "results": results, "after_use": loaded()}))
    """
)


def test_cli_import_skips_heavy_libraries_until_lua_uses_them() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(proc.stdout)
    assert report["at_start"] == []
    assert report["results"] == [
        "secret",
        "decrypt: cipher: message authentication failed",
        "invalid RSA private key: failed to parse PEM block containing private key",
        True,
        "validation failed: 'name' is a required property",
        "compile schema: 5 is not valid under any of the given schemas",
        "compile schema: Expecting property name enclosed in double quotes: line 1 column 2 "
        "(char 1)",
    ]
    assert report["after_use"] == ["cryptography", "jsonschema", "referencing"]
