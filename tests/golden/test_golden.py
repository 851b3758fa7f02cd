"""Recorded histories of the example and test apps replay on the current code (`luaflow replay
--file`, offline): a change to the scheduler or the Lua modules that would break running
workflows fails here. Regenerate them with `python tests/golden/record.py`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from luaflow.app import workflow_type
from luaflow.engine.temporal import load_history_file
from luaflow.registry import load_registry
from tests.conftest import EXAMPLE, SIGNALS_APP

GOLDEN = Path(__file__).resolve().parent
APPS = {"orders": EXAMPLE, "signals": SIGNALS_APP}


def _replay(app: Path, files: list[Path]) -> subprocess.CompletedProcess[str]:
    args = [arg for file in files for arg in ("--file", str(file))]
    return subprocess.run(
        [sys.executable, "-m", "luaflow", "replay", "--app", str(app), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "TEMPORAL_ADDRESS"},
    )


@pytest.mark.parametrize("name", sorted(APPS))
def test_golden_histories_replay(name: str) -> None:
    files = sorted((GOLDEN / name).glob("*.json"))
    assert len(files) >= 5  # the recordings are there
    result = _replay(APPS[name], files)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sum(1 for line in lines if line.startswith("ok ")) == len(files)


def test_every_workflow_has_a_golden_history() -> None:
    """Each workflow entry of both apps appears in at least one recording."""
    for name, app in APPS.items():
        recorded = {
            load_history_file(f).events[0].workflow_execution_started_event_attributes
            .workflow_type.name
            for f in (GOLDEN / name).glob("*.json")
        }  # fmt: skip
        declared = {workflow_type(e) for e in load_registry(app).by_kind("workflow.lua")}
        assert declared <= recorded, f"{name}: no history of {sorted(declared - recorded)}"


def test_reordered_steps_fail_with_the_step_diff(tmp_path: Path) -> None:
    """The gate works: swapping the payment and shipping steps of the example's workflow makes
    its recorded history fail to replay, naming the step and both sides."""
    app = tmp_path / "orders"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".luaflow"))
    source = app / "src" / "order_workflow.lua"
    text = source.read_text()
    assert '"app:charge_payment"' in text and '"app:ship_order"' in text
    source.write_text(
        text.replace('"app:charge_payment"', '"app:TMP"')
        .replace('"app:ship_order"', '"app:charge_payment"')
        .replace('"app:TMP"', '"app:ship_order"')
    )
    result = _replay(app, [GOLDEN / "orders" / "order_completed.json"])
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "FAIL golden-order_completed"
    assert "step 1 (event 5, ActivityTaskScheduled) differs:" in out
    assert (
        "expected (history):  activity app:charge_payment, recorded at src/order_workflow.lua:"
        in out
    )
    assert "got (current code):  activity app:ship_order, called at src/order_workflow.lua:" in out
    assert "Traceback" not in result.stderr
