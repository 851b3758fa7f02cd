"""The app's Lua tests (Wippy's convention): `function.lua` entries with `meta.type: test`.

A test runs as host code, like `luaflow call`, and passes when it returns without error and not
`false`. Tests run one after another in one process against one server; every workflow a test
started (through the app's clients) is terminated when the test ends, so none leaks into the next.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from luaflow.app._app import App
from luaflow.engine import chunk_name
from luaflow.lua import LuaflowError, option_duration
from luaflow.registry import Entry, Registry

__all__ = ["TestCase", "TestResult", "TestRunner", "find_tests", "write_junit"]

#: The failure kind of a test that returned `false`.
RETURNED_FALSE = "false"
#: Error kinds as Lua sees them (`errors.TIMEOUT`, `errors.INTERNAL`).
TIMEOUT, INTERNAL = "Timeout", "Internal"
#: How long a timed-out test gets to wind down once its workflows are terminated.
_GRACE_SECONDS = 5.0
#: `file.lua:12:` as Lua puts it in front of error messages.
_LOCATION = re.compile(r"([^\s:()\"']+\.lua):(\d+):")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TestCase:
    """One test entry: its suite (`meta.suite`, else its namespace), description and timeout."""

    __test__ = False  # not a pytest class

    entry: Entry
    suite: str
    description: str
    timeout: float
    #: The test's source file, relative to the app (where a failure without a line points).
    source: str

    @property
    def id(self) -> str:
        return str(self.entry.id)


@dataclass(frozen=True)
class TestResult:
    __test__ = False
    case: TestCase
    passed: bool
    seconds: float
    #: Why it failed: the error message (with its `file:line`), or "returned false".
    reason: str = ""
    #: `false`, `Timeout` or the error's kind.
    kind: str = ""
    #: `file:line` of the failure; the test's file when the error names no line.
    location: str = ""
    #: Ids of the workflows the test started.
    workflows: tuple[str, ...] = ()


def find_tests(
    registry: Registry,
    filters: Sequence[str] = (),
    suites: Sequence[str] = (),
    timeout: float = 120.0,
) -> list[TestCase]:
    """The test entries whose id contains one of `filters` and whose suite is one of `suites`
    (no filter: all), ordered by `meta.order` (default 0), then by id. `meta.timeout` (a
    duration) overrides `timeout` (seconds); 0 means no limit."""
    cases: list[tuple[float, TestCase]] = []
    for entry in registry.by_kind("function.lua"):
        meta = entry.meta
        if meta.get("type") != "test":
            continue
        suite = str(meta.get("suite") or entry.id.namespace)
        if filters and not any(f in str(entry.id) for f in filters):
            continue
        if suites and suite not in suites:
            continue
        order = meta.get("order", 0)
        if isinstance(order, bool) or not isinstance(order, int | float):
            raise entry.error("expected a number", "meta.order")
        case_timeout = timeout
        if "timeout" in meta:
            try:
                case_timeout = option_duration(meta["timeout"], "timeout").total_seconds()
            except LuaflowError as exc:
                raise entry.error(exc.message, "meta.timeout") from None
        description = str(meta.get("description") or meta.get("name") or "")
        source = chunk_name(registry, entry)
        cases.append((order, TestCase(entry, suite, description, case_timeout, source)))
    cases.sort(key=lambda pair: pair[0])  # stable: by id within one order value
    return [case for _, case in cases]


class _Tracker(Interceptor):
    """Remembers every workflow started through the app's clients (the current test's)."""

    def __init__(self) -> None:
        self.handles: list[WorkflowHandle[Any, Any]] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _TrackerOutbound(next, self)


class _TrackerOutbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, tracker: _Tracker) -> None:
        super().__init__(next)
        self.tracker = tracker

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        self.tracker.handles.append(handle)
        return handle


@dataclass
class TestRunner:
    """Runs test cases on a started app. Create it before `app.start()`: it tracks the
    workflows each test starts through the app's clients."""

    __test__ = False

    app: App
    #: Write the history of every workflow a test started (and their children) under
    #: `<dir>/<test id>/<workflow id>.json`, as `temporal workflow show -o json` would.
    save_histories: Path | None = None
    _tracker: _Tracker = field(default_factory=_Tracker)

    def __post_init__(self) -> None:
        self.app.interceptors.append(self._tracker)

    async def run(self, case: TestCase, args: Sequence[Any] = ()) -> TestResult:
        """Run one test to its end (or its timeout), then terminate the workflows it left."""
        self._tracker.handles.clear()
        began = time.monotonic()
        pid, done = self.app.spawn(case.id, args)
        outcome = asyncio.ensure_future(asyncio.wrap_future(done))
        finished, _ = await asyncio.wait([outcome], timeout=case.timeout or None)
        seconds = time.monotonic() - began
        handles = list(self._tracker.handles)
        if finished:
            result = self._judge(case, outcome, seconds)
            await self._terminate(handles)
        else:
            limit = f"{case.timeout:g}s"
            result = TestResult(
                case, False, seconds, f"timed out after {limit}", TIMEOUT, case.source
            )
            # Terminating its workflows frees a test blocked on one; the kill ends it at its
            # next wait.
            await self._terminate(handles)
            self.app.kill(pid, LuaflowError(f"test timed out after {limit}", TIMEOUT, False))
            await asyncio.wait([outcome], timeout=_GRACE_SECONDS)
        if not outcome.done():
            outcome.cancel()
        elif not outcome.cancelled():
            outcome.exception()  # retrieved: a late failure is already reported as the timeout
        if self.save_histories is not None:
            await self._save(self.save_histories / _UNSAFE_NAME.sub("_", case.id), handles)
        return dataclasses.replace(result, workflows=tuple(dict.fromkeys(h.id for h in handles)))

    @staticmethod
    def _judge(case: TestCase, outcome: asyncio.Future[Any], seconds: float) -> TestResult:
        error = outcome.exception()
        if error is None:
            if outcome.result() is False:
                return TestResult(
                    case, False, seconds, "returned false", RETURNED_FALSE, case.source
                )
            return TestResult(case, True, seconds)
        if isinstance(error, LuaflowError):
            kind, text = error.kind or INTERNAL, error.text()
        else:
            kind, text = INTERNAL, f"{type(error).__name__}: {error}"
        reason = text if kind == INTERNAL else f"{kind}: {text}"
        match = _LOCATION.search(text)
        location = f"{match.group(1)}:{match.group(2)}" if match else case.source
        return TestResult(case, False, seconds, reason, kind, location)

    async def _terminate(self, handles: Sequence[WorkflowHandle[Any, Any]]) -> None:
        """Terminate what is still running (children go with their parents)."""
        for handle in handles:
            try:
                await handle.terminate("the test ended")
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it had already closed
                    raise

    async def _save(self, folder: Path, handles: Sequence[WorkflowHandle[Any, Any]]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        client = await self.app.any_client()
        pending = [(h.id, h.result_run_id) for h in handles]
        seen: set[str] = set()
        while pending:
            workflow_id, run_id = pending.pop(0)
            if workflow_id in seen:
                continue
            seen.add(workflow_id)
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            (folder / f"{_UNSAFE_NAME.sub('_', workflow_id)}.json").write_text(
                history.to_json(), encoding="utf-8"
            )
            for event in history.events:
                if event.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
                    child = event.child_workflow_execution_started_event_attributes
                    pending.append((child.workflow_execution.workflow_id, None))


def write_junit(path: Path | str, results: Sequence[TestResult], seconds: float) -> None:
    """A JUnit XML report (what CI servers read): one testsuite per suite, one testcase per test."""
    import xml.etree.ElementTree as ET  # only --junit-xml needs it

    failures = sum(1 for r in results if not r.passed)
    root = ET.Element(
        "testsuites",
        name="luaflow test",
        tests=str(len(results)),
        failures=str(failures),
        errors="0",
        time=f"{seconds:.3f}",
    )
    suites: dict[str, list[TestResult]] = {}
    for result in results:
        suites.setdefault(result.case.suite, []).append(result)
    for name, members in suites.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=name,
            tests=str(len(members)),
            failures=str(sum(1 for r in members if not r.passed)),
            errors="0",
            skipped="0",
            time=f"{sum(r.seconds for r in members):.3f}",
        )
        for result in members:
            case = ET.SubElement(
                suite,
                "testcase",
                name=result.case.id,
                classname=name,
                file=result.case.source,
                time=f"{result.seconds:.3f}",
            )
            if result.case.description:
                properties = ET.SubElement(case, "properties")
                ET.SubElement(
                    properties, "property", name="description", value=result.case.description
                )
            if not result.passed:
                failure = ET.SubElement(
                    case, "failure", message=result.reason.splitlines()[0], type=result.kind
                )
                failure.text = f"{result.reason}\nat {result.location}"
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
