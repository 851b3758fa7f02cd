"""`luaflow lint`: each hazard gives exactly its finding; the examples are clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from luaflow.lint import Finding, lint_paths
from tests.conftest import EXAMPLE, ROOT

INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: flow
    kind: workflow.lua
    source: file://flow.lua
    method: main
    modules: [time]
  - name: task
    kind: function.lua
    source: file://task.lua
    method: run
"""

FLOW = """\
local time = require("time")
local json = require("json")
counter = 0

local function main(input: {n: integer}): integer
    counter = counter + 1
    process.monitor(input.pid)
    total = 1  -- luaflow: ignore global-write
    return counter
end

return { main = main }
"""


def _app(tmp_path: Path, flow: str = FLOW, task: str = "return { run = function() end }") -> Path:
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "flow.lua").write_text(flow)
    (tmp_path / "task.lua").write_text(task)
    return tmp_path


def _rules(findings: list[Finding]) -> list[tuple[int, int, str]]:
    return [(f.line, f.col, f.rule) for f in findings]


def test_workflow_hazards_are_found(tmp_path: Path) -> None:
    app = _app(tmp_path)
    findings, checked = lint_paths([app])
    assert checked == 2
    assert _rules(findings) == [
        (2, 14, "undeclared-module"),
        (3, 1, "global-write"),
        (6, 5, "global-write"),
        (7, 5, "host-only"),
    ]
    assert "'counter' in workflow app:flow" in findings[1].message
    assert 'require("json"): "json" is not in the modules or imports of app:flow' in str(
        findings[0]
    )
    assert str(findings[3]).endswith(
        "process.monitor is not supported in workflow context (monitors are for host code); "
        "use process.spawn_monitored/spawn_linked or pid.exit events instead [host-only]"
    )


def test_globals_in_host_code_are_not_determinism_findings(tmp_path: Path) -> None:
    app = _app(tmp_path, flow="return { main = function() return 1 end }", task="x = 1")
    assert lint_paths([app])[0] == []


def test_syntax_error_in_typed_code_names_line_and_column(tmp_path: Path) -> None:
    app = _app(tmp_path, flow="local function main(x: )\nend\nreturn {main = main}\n")
    findings, _ = lint_paths([app])
    assert len(findings) == 1
    assert (findings[0].line, findings[0].col, findings[0].rule) == (1, 24, "syntax")
    assert findings[0].file.endswith("flow.lua")


def test_forbidden_module_and_registry_errors(tmp_path: Path) -> None:
    app = _app(tmp_path)
    (app / "_index.yaml").write_text(INDEX.replace("modules: [time]", "modules: [time, env]"))
    assert "forbidden-module" in {f.rule for f in lint_paths([app])[0]}
    (app / "_index.yaml").write_text(
        INDEX.replace("source: file://task.lua", "source: file://no.lua")
    )
    findings, checked = lint_paths([app])
    assert (len(findings), checked, findings[0].rule) == (1, 0, "registry")
    assert "_index.yaml" in findings[0].file


def test_plain_lua_files_are_syntax_checked(tmp_path: Path) -> None:
    (tmp_path / "a.lua").write_text("local x: number = 1\nreturn x\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.lua").write_text("local t = {\n")
    findings, checked = lint_paths([tmp_path])
    assert checked == 2
    assert _rules(findings) == [(2, 1, "syntax")]
    assert findings[0].file.endswith("b.lua")
    assert lint_paths([tmp_path / "a.lua"]) == ([], 1)


def _lint_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "luaflow", "lint", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def test_cli_exit_codes_and_summary(tmp_path: Path) -> None:
    bad = _lint_cli(str(_app(tmp_path)))
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[-1] == "4 problem(s) in 1 file(s), 2 Lua file(s) checked"
    assert 'flow.lua:2:14: require("json")' in lines[0]
    assert "Traceback" not in bad.stderr
    clean = _lint_cli(str(EXAMPLE), "tests/apps/typed")
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.startswith("no problems")
