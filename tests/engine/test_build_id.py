"""The build id luaflow's workers report: the app's Lua code, not the Python modules loaded."""

from __future__ import annotations

from pathlib import Path

from luaflow import __version__
from luaflow.engine.temporal import code_build_id
from luaflow.registry import load_registry

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: flow, kind: workflow.lua, source: "file://flow.lua", method: main}
  - {name: client, kind: temporal.client, address: "localhost:7233"}
"""


def _build_id(folder: Path, code: str) -> str:
    folder.mkdir()
    (folder / "_index.yaml").write_text(INDEX)
    (folder / "flow.lua").write_text(code)
    return code_build_id(load_registry(folder, {}))


def test_build_id_follows_the_lua_code(tmp_path: Path) -> None:
    first = _build_id(tmp_path / "a", "return function() return 1 end")
    same = _build_id(tmp_path / "b", "return function() return 1 end")
    changed = _build_id(tmp_path / "c", "return function() return 2 end")
    assert first == same != changed
    assert first.startswith(f"luaflow-{__version__}-")
