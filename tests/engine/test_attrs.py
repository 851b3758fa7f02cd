"""workflow.attrs: search attributes registered on the embedded server and found by queries;
memo visible in describe; history length growing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from luaflow.app import App
from luaflow.devserver import find_temporal_binary
from luaflow.engine._attrs import scan_search_attributes

ATTRS_LUA = """local workflow = require("workflow")
local time = require("time")

return function(order)
    local before = workflow.history_length()
    local ok = workflow.attrs({
        search = {
            status = "processing",
            customer_id = order.customer_id,
            order_total = order.total
        },
        memo = {
            notes = "Priority customer",
            source = "web"
        }
    })
    local _, err = workflow.attrs({})
    time.sleep("10ms")
    local info = workflow.info()
    return {ok = ok, err = err:kind(), before = before, after = workflow.history_length(),
            size = workflow.history_size(), info_len = info.history_length,
            id = info.workflow_id, type = info.workflow_type, attempt = info.attempt}
end
"""


def test_scan_finds_keys_and_guesses_types() -> None:
    found = scan_search_attributes(ATTRS_LUA)
    assert found == {"status": "Keyword", "customer_id": "Keyword", "order_total": "Keyword"}
    assert scan_search_attributes(
        "workflow.attrs{search = {n = 5, r = 1.5, b = true, nested = {x = 1}}}"
    ) == {"n": "Int", "r": "Double", "b": "Bool", "nested": "Keyword"}


@pytest.mark.server
async def test_attrs_on_embedded_server(order_app: Path) -> None:
    (order_app / "src" / "attrs.lua").write_text(ATTRS_LUA)
    index = order_app / "src" / "_index.yaml"
    index.write_text(
        index.read_text()
        + """
  - name: attrs
    kind: workflow.lua
    source: file://attrs.lua
    modules: [workflow, time]
    meta:
      temporal:
        workflow:
          worker: worker
        search_attributes:
          order_total: Double
"""
    )
    app = App.load(order_app, report=lambda _: None, environ={"TEMPORAL_ADDRESS": "embedded"})
    async with app:
        await app.start()
        assert app.server is not None
        handle = await app.start_workflow("app:attrs", [{"customer_id": "c-1", "total": 42.5}])
        result = await handle.result()
        assert result["ok"] is True and result["err"] == "Invalid"
        assert result["after"] > result["before"] >= 3 and result["size"] > 0
        assert result["id"] == handle.id and result["type"] == "app:attrs"
        assert result["attempt"] == 1
        temporal = str(find_temporal_binary())
        address = ["--address", app.server.address]
        listed = subprocess.run(
            [temporal, "workflow", "list", *address, "--query", 'customer_id="c-1"', "-o", "json"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert handle.id in listed.stdout
        by_total = subprocess.run(
            [temporal, "workflow", "list", *address, "--query", "order_total > 40", "-o", "json"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert handle.id in by_total.stdout
        described = subprocess.run(
            [temporal, "workflow", "describe", *address, "--workflow-id", handle.id, "-o", "json"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        text = json.dumps(json.loads(described.stdout))
        assert "Priority customer" in text or "UHJpb3JpdHkgY3VzdG9tZXI" in text
