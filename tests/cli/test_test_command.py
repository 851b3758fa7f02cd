"""`luaflow test` as a user runs it: time skipping on its own dev server, real time with
--no-time-skip, failures with file:line, timeouts, filters, JUnit XML, a progress display on a
terminal only."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from luaflow.app import TestCase, TestResult, find_tests, write_junit
from luaflow.devserver import DevServer
from luaflow.engine.temporal import load_history_file
from luaflow.lua import LuaflowError, LuaState
from luaflow.registry import RegistryError, load_registry
from tests.conftest import ROOT

TIMESKIP_APP = ROOT / "tests" / "apps" / "timeskip"
SHORT = json.dumps({"sleep": "1s", "wait": "2s"})


def _luaflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "TASK_QUEUE")}
    return subprocess.run(
        [sys.executable, "-m", "luaflow", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**environ, **(env or {})},
    )


@pytest.fixture
def timeskip_app(tmp_path: Path) -> Path:
    app = tmp_path / "timeskip"
    shutil.copytree(TIMESKIP_APP, app)
    return app


def _histories(folder: Path) -> dict[str, WorkflowHistory]:
    """Saved histories by workflow type (one workflow per type in these tests)."""
    out = {}
    for file in folder.glob("*.json"):
        history = load_history_file(file)
        started = history.events[0].workflow_execution_started_event_attributes
        out[started.workflow_type.name] = history
    return out


def _timers(history: WorkflowHistory) -> list[tuple[timedelta, timedelta]]:
    """(duration asked, virtual time until it fired) of each fired timer, in order."""
    started: dict[str, HistoryEvent] = {}
    fired = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            started[event.timer_started_event_attributes.timer_id] = event
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            start = started[event.timer_fired_event_attributes.timer_id]
            asked = start.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            took = event.event_time.ToDatetime() - start.event_time.ToDatetime()
            fired.append((asked, took))
    return fired


def _last_event(history: WorkflowHistory) -> str:
    return EventType.Name(history.events[-1].event_type)  # type: ignore[arg-type]


@pytest.mark.server
def test_a_day_and_a_week_pass_in_seconds(timeskip_app: Path, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    saved = tmp_path / "histories"
    began = time.monotonic()
    result = _luaflow(
        "test", "--app", str(timeskip_app), "--junit-xml", str(report),
        "--save-histories", str(saved),
    )  # fmt: skip
    wall = time.monotonic() - began
    assert result.returncode == 0, result.stdout + result.stderr
    assert "with time skipping" in " ".join(result.stderr.split())
    lines = result.stdout.splitlines()
    assert {line.split(" (")[0] for line in lines[:-1]} == {
        "PASS app:trip_expires",
        "PASS app:trip_approved",
        "PASS app:trip_child",
    }
    assert lines[-1].startswith("3 passed, 0 failed in ")
    assert wall < 60  # 8 days of workflow time, including the server's start

    # The history shows each durable timer firing at its virtual time.
    trip = _histories(saved / "app_trip_expires")["app:trip"]
    assert _last_event(trip) == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    timers = _timers(trip)
    assert [asked for asked, _ in timers] == [timedelta(hours=24), timedelta(days=7)]
    for asked, took in timers:
        assert asked <= took < asked + timedelta(seconds=30)
    scheduled = [e for e in trip.events if e.HasField("activity_task_scheduled_event_attributes")]
    assert [e.activity_task_scheduled_event_attributes.activity_type.name for e in scheduled] == [
        "app:book"
    ]
    approved = _histories(saved / "app_trip_approved")["app:trip"]
    assert [asked for asked, _ in _timers(approved)] == [timedelta(hours=24)]
    child = _histories(saved / "app_trip_child")["app:trip"]  # saved with its parent
    assert [asked for asked, _ in _timers(child)] == [timedelta(hours=24), timedelta(days=7)]
    for asked, took in _timers(child):
        assert asked <= took < asked + timedelta(seconds=30)

    # One JUnit case per test, in the suite the entries declare.
    root = ET.parse(report).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "0"
    cases = root.findall("./testsuite/testcase")
    assert sorted(c.get("name") or "" for c in cases) == [
        "app:trip_approved", "app:trip_child", "app:trip_expires",
    ]  # fmt: skip
    assert {c.get("classname") for c in cases} == {"trip"}
    assert all(float(c.get("time") or -1) >= 0 for c in cases)

    # Histories recorded under time skipping replay on the current code.
    files = sorted(saved.glob("*/*.json"))
    args = [arg for file in files for arg in ("--file", str(file))]
    replayed = _luaflow("replay", "--app", str(timeskip_app), *args)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.count("ok ") == len(files) == 4


@pytest.mark.server
def test_no_time_skip_runs_in_real_time(timeskip_app: Path, tmp_path: Path) -> None:
    saved = tmp_path / "histories"
    result = _luaflow(
        "test", "trip_expires", "--app", str(timeskip_app), "--no-time-skip", "--input", SHORT,
        "--save-histories", str(saved),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in real time" in " ".join(result.stderr.split())
    assert result.stdout.splitlines()[-1].startswith("1 passed, 0 failed in ")
    timers = _timers(_histories(saved / "app_trip_expires")["app:trip"])
    assert [asked for asked, _ in timers] == [timedelta(seconds=1), timedelta(seconds=2)]
    for asked, took in timers:
        assert asked <= took < asked + timedelta(seconds=10)


@pytest.mark.server
def test_on_a_server_without_time_skipping(timeskip_app: Path, dev_server: DevServer) -> None:
    """A client with a real address: the tests run there, in real time, and say why."""
    env = {"TEMPORAL_ADDRESS": dev_server.address, "TASK_QUEUE": f"q-{uuid.uuid4().hex}"}
    result = _luaflow("test", "--app", str(timeskip_app), "--input", SHORT, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    said = " ".join(result.stderr.split())  # the console may wrap long lines
    assert f"tests run on its server at {dev_server.address}" in said
    assert "refused time skipping" in said and "tests run in real time" in said
    assert result.stdout.splitlines()[-1].startswith("3 passed, 0 failed in ")


FAILING_INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: client
    kind: temporal.client
    lifecycle: { auto_start: true }
  - name: worker
    kind: temporal.worker
    client: client
    task_queue: failing
    lifecycle: { auto_start: true }
  - name: waiter
    kind: workflow.lua
    source: file://cases.lua
    method: waiter
    meta: { temporal: { workflow: { worker: worker } } }
  - name: passes
    kind: function.lua
    source: file://cases.lua
    method: passes
    meta: { type: test, suite: good, description: "[red]not markup[/red]" }
  - name: returns_false
    kind: function.lua
    source: file://cases.lua
    method: returns_false
    meta: { type: test, suite: bad }
  - name: asserts
    kind: function.lua
    source: file://cases.lua
    method: asserts
    meta: { type: test, suite: bad }
  - name: returns_error
    kind: function.lua
    source: file://cases.lua
    method: returns_error
    meta: { type: test, suite: bad }
  - name: stuck_on_workflow
    kind: function.lua
    source: file://cases.lua
    method: stuck_on_workflow
    meta: { type: test, suite: slow, timeout: 3s }
  - name: stuck_on_host
    kind: function.lua
    source: file://cases.lua
    modules: [time]
    method: stuck_on_host
    meta: { type: test, suite: slow }
  - name: not_a_test
    kind: function.lua
    source: file://cases.lua
    method: passes
"""

FAILING_LUA = """\
local function waiter()
    return process.inbox():receive()  -- no timer: nothing to skip to
end
local function passes() return true end
local function returns_false() return false end
local function asserts()
    local answer = 41
    assert(answer == 42, "[bold]answer[/bold] is " .. answer)
    return true
end
local function returns_error()
    return nil, errors.new({kind = errors.NOT_FOUND, message = "no such order"})
end
local function stuck_on_workflow()
    return process.exec("app:waiter", "app:worker")
end
local function stuck_on_host()
    require("time").sleep("1h")
end
return { waiter = waiter, passes = passes, returns_false = returns_false, asserts = asserts,
         returns_error = returns_error, stuck_on_workflow = stuck_on_workflow,
         stuck_on_host = stuck_on_host }
"""


@pytest.fixture
def failing_app(tmp_path: Path) -> Path:
    app = tmp_path / "failing"
    app.mkdir()
    (app / "_index.yaml").write_text(FAILING_INDEX)
    (app / "cases.lua").write_text(FAILING_LUA)
    return app


@pytest.mark.server
def test_failures_say_what_and_where(failing_app: Path, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    saved = tmp_path / "histories"
    result = _luaflow(
        "test", "--app", str(failing_app), "--timeout", "2s", "--junit-xml", str(report),
        "--save-histories", str(saved),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    lines = out.splitlines()
    heads = {line.split(" (")[0]: line for line in lines if line.startswith(("PASS", "FAIL"))}
    assert sorted(heads) == [
        "FAIL app:asserts", "FAIL app:returns_error", "FAIL app:returns_false",
        "FAIL app:stuck_on_host", "FAIL app:stuck_on_workflow", "PASS app:passes",
    ]  # fmt: skip
    assert heads["FAIL app:returns_false"].endswith("): returned false")
    # The assertion's own message, with the file and line it failed on; user text stays text.
    assert heads["FAIL app:asserts"].endswith("): cases.lua:8: [bold]answer[/bold] is 41")
    assert heads["FAIL app:returns_error"].endswith("): NotFound: no such order")
    assert heads["FAIL app:stuck_on_workflow"].endswith("): timed out after 3s")  # meta.timeout
    assert heads["FAIL app:stuck_on_host"].endswith("): timed out after 2s")  # --timeout
    assert lines[-1].startswith("1 passed, 5 failed in ")
    # The timed-out test's workflow was terminated when the test ended.
    waiter = _histories(saved / "app_stuck_on_workflow")["app:waiter"]
    assert _last_event(waiter) == "EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED"

    root = ET.parse(report).getroot()
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["bad", "good", "slow"]
    assert suites["bad"].get("failures") == "3" and suites["good"].get("failures") == "0"
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert len(cases) == 6 and "app:not_a_test" not in cases
    failure = cases["app:asserts"].find("failure")
    assert failure is not None and failure.get("message") == (
        "cases.lua:8: [bold]answer[/bold] is 41"
    )
    timeout = cases["app:stuck_on_host"].find("failure")
    assert timeout is not None and timeout.get("type") == "Timeout"
    assert cases["app:passes"].find("failure") is None


@pytest.mark.server
def test_filters_by_id_and_suite(failing_app: Path) -> None:
    by_suite = _luaflow("test", "--app", str(failing_app), "--suite", "good", "--suite", "bad")
    assert by_suite.returncode == 1 and by_suite.stdout, by_suite.stderr
    assert by_suite.stdout.splitlines()[-1].startswith("1 passed, 3 failed in ")
    by_id = _luaflow("test", "passes", "--app", str(failing_app))
    assert by_id.returncode == 0, by_id.stdout + by_id.stderr
    assert by_id.stdout.splitlines()[0].startswith("PASS app:passes (")
    assert by_id.stdout.splitlines()[-1].startswith("1 passed, 0 failed in ")
    none = _luaflow("test", "nothing-like-this", "--app", str(failing_app))
    assert none.returncode == 1 and "no test matches" in none.stderr


@pytest.mark.server
def test_progress_display_on_a_terminal(failing_app: Path) -> None:
    """On a terminal the results are coloured, and user text is still printed as it is."""
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "TASK_QUEUE")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "luaflow", "test", "asserts", "passes", "--app", str(failing_app)],
        stdout=follower, stderr=subprocess.DEVNULL, env={**environ, "COLUMNS": "200"},
    )  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=120) == 1
    text = b"".join(chunks).decode(errors="replace")
    assert "\x1b[" in text  # styled output
    assert "[bold]answer[/bold] is 41" in text
    assert "1 passed, 1 failed in " in text


# -- without a server --------------------------------------------------------------------------


def test_find_tests_order_filters_and_timeouts(failing_app: Path) -> None:
    index = failing_app / "_index.yaml"
    index.write_text(
        index.read_text().replace(
            "meta: { type: test, suite: bad }\n  - name: asserts",
            "meta: { type: test, suite: bad, order: -1 }\n  - name: asserts",
        )
    )
    registry = load_registry(failing_app)
    cases = find_tests(registry, timeout=9)
    assert [c.id for c in cases][:3] == ["app:returns_false", "app:asserts", "app:passes"]
    assert len(cases) == 6
    timeouts = {c.id: c.timeout for c in cases}
    assert timeouts["app:stuck_on_workflow"] == 3 and timeouts["app:passes"] == 9
    assert [c.id for c in find_tests(registry, ["stuck"])] == [
        "app:stuck_on_host", "app:stuck_on_workflow",
    ]  # fmt: skip
    assert {c.suite for c in find_tests(registry, suites=["slow", "good"])} == {"slow", "good"}
    index.write_text(index.read_text().replace("timeout: 3s", "timeout: soon"))
    with pytest.raises(RegistryError) as info:
        find_tests(load_registry(failing_app))
    message = str(info.value)
    assert "app:stuck_on_workflow" in message and "meta.timeout" in message


def test_junit_xml_escapes_user_text(failing_app: Path, tmp_path: Path) -> None:
    registry = load_registry(failing_app)
    case = TestCase(registry.get("app:asserts"), 'a "suite" <&>', "d", 1.0, "cases.lua")
    results = [
        TestResult(case, False, 0.5, 'cases.lua:8: <tag> & "quotes"\nmore', "Internal", "x:1"),
        TestResult(case, True, 0.25),
    ]
    path = tmp_path / "report.xml"
    write_junit(path, results, 1.0)
    root = ET.parse(path).getroot()
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == 'a "suite" <&>' and suite.get("tests") == "2"
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'cases.lua:8: <tag> & "quotes"'
    assert failure.text == 'cases.lua:8: <tag> & "quotes"\nmore\nat x:1'


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ('assert(1 == 2, "values differ")', "t.lua:1: values differ"),
        ("local x = nil\nassert(x)", "t.lua:2: assertion failed!"),
        ("assert(false, 42)", "t.lua:1: 42"),
        ('assert(false, errors.new("kept as it is"))', "kept as it is"),
    ],
)
def test_assert_names_the_line(source: str, message: str) -> None:
    """A failed `assert` says where it failed, as Wippy's does (what a failing test prints)."""
    state = LuaState()
    try:
        with pytest.raises(LuaflowError) as info:
            state.call(state.load(source, "t.lua"))
        assert info.value.text() == message
        assert state.call(state.load("return assert(1, 2, 3)", "t.lua")) == [1, 2, 3]
    finally:
        state.close()
