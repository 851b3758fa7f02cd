"""`luaflow test`: run the app's Lua tests and report them (rich progress on a terminal only)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from luaflow.app import App, TestCase, TestResult, TestRunner, find_tests, write_junit


@dataclass(frozen=True)
class TestOptions:
    __test__ = False  # not a pytest class

    filters: tuple[str, ...]
    suites: tuple[str, ...]
    args: list[Any]
    timeout: float
    time_skipping: bool
    junit_xml: Path | None
    save_histories: Path | None


async def run_tests(app: App, options: TestOptions) -> int:
    """Run the selected tests on a fresh test server; exit code 1 if any failed or the filters
    matched none."""
    cases = find_tests(app.registry, options.filters, options.suites, options.timeout)
    if not cases:
        filtered = bool(options.filters or options.suites)
        click.echo("no test matches the filters" if filtered else "no tests in the app", err=True)
        if options.junit_xml is not None:
            write_junit(options.junit_xml, [], 0.0)
        return 1 if filtered else 0
    app.use_test_server(time_skipping=options.time_skipping)
    runner = TestRunner(app, options.save_histories)
    began = time.monotonic()
    await app.start()
    results: list[TestResult] = []
    with _Display(len(cases)) as display:
        for case in cases:
            display.started(case)
            result = await runner.run(case, options.args)
            results.append(result)
            display.finished(result)
        seconds = time.monotonic() - began
        display.summary(results, seconds)
    if options.junit_xml is not None:
        write_junit(options.junit_xml, results, seconds)
    return 0 if all(r.passed for r in results) else 1


def _duration(seconds: float) -> str:
    return f"{seconds:.2f}s"


def _failure_lines(result: TestResult) -> list[str]:
    """The reason, indented under the FAIL line, and where it happened unless it says so."""
    lines = result.reason.splitlines()[1:]
    if result.location and result.location not in result.reason.splitlines()[0]:
        lines.append(f"at {result.location}")
    return [f"  {line}" for line in lines]


class _Display:
    """Plain `PASS`/`FAIL` lines; on a terminal, a progress bar above them. User text (ids,
    descriptions, messages) goes out as plain text, never as rich markup."""

    def __init__(self, total: int) -> None:
        self.console = Console(highlight=False)
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        if self.console.is_terminal:
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self.task = self.progress.add_task("", total=total)

    def __enter__(self) -> _Display:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def started(self, case: TestCase) -> None:
        if self.progress is not None and self.task is not None:
            label = case.id + (f" - {case.description}" if case.description else "")
            self.progress.update(self.task, description=label)

    def finished(self, result: TestResult) -> None:
        head = f"{result.case.id} ({_duration(result.seconds)})"
        if not result.passed:
            head += f": {result.reason.splitlines()[0] if result.reason else ''}"
        rest = [] if result.passed else _failure_lines(result)
        if self.progress is None or self.task is None:
            click.echo(("PASS " if result.passed else "FAIL ") + head)
            for line in rest:
                click.echo(line)
            return
        status = ("PASS", "bold green") if result.passed else ("FAIL", "bold red")
        self.progress.console.print(Text.assemble(status, " ", head))
        for line in rest:
            self.progress.console.print(Text(line, style="dim"))
        self.progress.advance(self.task)

    def summary(self, results: Sequence[TestResult], seconds: float) -> None:
        passed = sum(1 for r in results if r.passed)
        line = f"{passed} passed, {len(results) - passed} failed in {_duration(seconds)}"
        if self.progress is None:
            click.echo(line)
        else:
            style = "bold green" if passed == len(results) else "bold red"
            self.progress.console.print(Text(line, style=style))
