"""workflow.version (R10) over patch markers, with a fake marker store."""

from __future__ import annotations

import pytest

from luaflow.lua import LuaflowError
from luaflow.workflow import WorkflowTaskError, resolve_version
from tests.workflow.test_channels import start, value


class Markers:
    """Temporal's patched(): a new run records the first id asked; a replay answers from its
    recorded markers."""

    def __init__(self, recorded: set[str] | None = None) -> None:
        self.replaying = recorded is not None
        self.recorded = set(recorded or ())
        self.asked: list[str] = []

    def __call__(self, patch_id: str) -> bool:
        self.asked.append(patch_id)
        if self.replaying:
            return patch_id in self.recorded
        self.recorded.add(patch_id)
        return True


def test_new_runs_get_max() -> None:
    markers = Markers()
    assert resolve_version("pay", 1, 3, markers) == 3
    assert markers.recorded == {"pay@v3"}


def test_recorded_runs_keep_their_version() -> None:
    assert resolve_version("pay", 1, 3, Markers({"pay@v2"})) == 2


def test_histories_before_the_change_get_minus_one() -> None:
    assert resolve_version("pay", -1, 2, Markers(set())) == -1
    with pytest.raises(WorkflowTaskError, match="below the minimum supported 1"):
        resolve_version("pay", 1, 2, Markers(set()))


def test_min_above_max_is_invalid() -> None:
    with pytest.raises(LuaflowError) as info:
        resolve_version("pay", 3, 1, Markers())
    assert info.value.kind == "Invalid"


def test_lua_surface_caches_per_change() -> None:
    scheduler, _ = start(
        """local workflow = require("workflow")
        return function()
            local a = workflow.version("payment-v2", 1, 2)
            local b = workflow.version("payment-v2", 1, 2)
            local ok, err = pcall(workflow.version, "x", 2, 1)
            return {a, b, ok, err:kind()}
        end"""
    )
    assert value(scheduler) == [2, 2, False, "Invalid"]


def test_workflow_call_is_workflow_exec() -> None:
    """The seed-era name is the same function (regression: it once held a lupa read artefact
    that corrupted memory when collected)."""
    scheduler, _ = start(
        'local workflow = require("workflow") '
        "return function() return {workflow.call == workflow.exec, type(workflow.call)} end"
    )
    assert value(scheduler) == [True, "function"]
