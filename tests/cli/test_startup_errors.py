"""Bad apps, bad environments and hostile arguments given to the real `luaflow` command: each is
one line on stderr naming the file, entry and field, a non-zero exit, promptly (no traceback,
no hang). Usage errors keep click's exit code 2; everything else exits 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from luaflow.devserver import DevServer
from luaflow.http import MAX_JSON_DEPTH

LUAFLOW = [sys.executable, "-m", "luaflow"]


def _luaflow(*args: str, **env: str) -> tuple[int, str, float]:
    """Run the command (a hang fails the test on the timeout); exit code, stderr, seconds."""
    started = time.monotonic()
    done = subprocess.run(
        [*LUAFLOW, *args], capture_output=True, text=True, timeout=90, env={**os.environ, **env}
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stderr, time.monotonic() - started


def _error_line(stderr: str) -> str:
    """The one error line (status lines before it start with `luaflow:`)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_workflow_module_that_raises_at_load(order_app: Path) -> None:
    _edit(order_app / "src/order_workflow.lua", 'local funcs = require("funcs")',
          'error("cannot start")\nlocal funcs = require("funcs")')  # fmt: skip
    code, stderr, _ = _luaflow("start", "app:order_workflow", "--app", str(order_app))
    assert code == 1
    assert _error_line(stderr) == (
        f"error: {order_app / 'src/_index.yaml'}: entry app:order_workflow: field source: "
        "the module fails to load: src/order_workflow.lua:1: cannot start"
    )


def test_method_missing_from_the_module(order_app: Path) -> None:
    _edit(order_app / "src/_index.yaml", "file://order_workflow.lua\n    method: main",
          "file://order_workflow.lua\n    method: nope")  # fmt: skip
    code, stderr, _ = _luaflow("run", str(order_app), TEMPORAL_ADDRESS="127.0.0.1:1")
    assert code == 1
    assert _error_line(stderr) == (
        f"error: {order_app / 'src/_index.yaml'}: entry app:order_workflow: field method: "
        "no function 'nope' in the table the module returns"
    )


def test_garbage_client_address(order_app: Path) -> None:
    code, stderr, _ = _luaflow(
        "start", "app:order_workflow", "--app", str(order_app), TEMPORAL_ADDRESS="no address!"
    )
    assert code == 1
    assert _error_line(stderr) == (
        f"error: {order_app / 'src/_index.yaml'}: entry app:temporal_client: field address: "
        "expected host:port (port 1-65535) or embedded, got 'no address!'"
    )


def test_http_port_out_of_range(order_app: Path, dev_server: DevServer) -> None:
    code, stderr, _ = _luaflow(
        "run", str(order_app), TEMPORAL_ADDRESS=dev_server.address, HTTP_ADDR="127.0.0.1:70000"
    )
    assert code == 1
    assert _error_line(stderr) == (
        f"error: {order_app / 'src/_index.yaml'}: entry app:gateway: field addr: "
        "invalid port '70000' in '127.0.0.1:70000' (0-65535)"
    )


def test_http_port_in_use(order_app: Path, dev_server: DevServer) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        code, stderr, seconds = _luaflow(
            "run", str(order_app), TEMPORAL_ADDRESS=dev_server.address,
            HTTP_ADDR=f"127.0.0.1:{port}",
        )  # fmt: skip
    assert code == 1
    assert seconds < 30
    assert _error_line(stderr) == (
        f"error: {order_app / 'src/_index.yaml'}: entry app:gateway: field addr: "
        f"cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_deep_and_unholdable_json_input_is_a_usage_error(order_app: Path) -> None:
    for value, problem in [
        ("[" * 20_000 + "]" * 20_000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ('{"n": 123456789012345678901234567890}', "integer out of the 64-bit range"),
        ('"\\ud800"', "string with a lone surrogate"),
    ]:
        code, stderr, _ = _luaflow(
            "start", "app:order_workflow", "--app", str(order_app), "--input", value
        )
        assert code == 2
        assert f"Error: Invalid value for --input: {problem}" in stderr
    code, stderr, _ = _luaflow("start", "app:order_workflow", "--app", str(order_app), "--id", "")
    assert code == 2 and "Invalid value for --id: must not be empty" in stderr
    code, stderr, _ = _luaflow("send", "wf", "topic", "[1, 2", "--app", str(order_app))
    assert code == 2 and "Invalid value for PAYLOADS: not valid JSON" in stderr


def test_user_text_is_not_console_markup(order_app: Path) -> None:
    """Entry ids and messages are printed as they are: no markup crash, no emoji codes."""
    index = order_app / "src/_index.yaml"
    good = index.read_text()
    _edit(index, "worker: app:worker", "worker: app:wo[/]rk[bold]er")
    code, stderr, _ = _luaflow("start", "app:order_workflow", "--app", str(order_app))
    assert code == 1
    assert "field meta.temporal.workflow.worker: unknown entry app:wo[/]rk[bold]er" in stderr
    index.write_text(good)
    code, stderr, _ = _luaflow("start", "a:smile:b", "--app", str(order_app))
    assert code == 1
    assert _error_line(stderr) == "error: invalid entry id 'a:smile:b': more than one ':'"
