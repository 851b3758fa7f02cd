"""The `luaflow` command: run an app, start workflows, read results."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

# Only light modules at the top: `_run` launches the embedded server first and loads the SDK
# and the Lua runtime while it boots; the commands import what they need.
from luaflow.devserver import STATE_DIR, DevServer, DevServerError, is_embedded, running_server
from luaflow.registry import Registry, RegistryError, load_registry

if TYPE_CHECKING:
    from luaflow.app import App

console = Console(stderr=True, highlight=False)


def _report(message: str) -> None:
    """A status line. Messages carry user text (entry ids, Lua errors): never rich markup."""
    console.print(Text.assemble(("luaflow:", "dim"), " ", message))


def _fail(message: str) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)


def _run(body: Callable[[App], Awaitable[int]], app_dir: str, *, server: bool = True) -> None:
    """Load the app, run `body`, always shut clients/workers/server down, exit with its code.
    `server`: the command talks to the app's clients, so an embedded one is launched at once."""

    async def main() -> int:
        registry = load_registry(app_dir)
        launched = await _launch_embedded(registry) if server else None
        # Loading the SDK and the Lua runtime makes some 100,000 objects that live as long as
        # the process: collecting while they load only costs time (a fifth of a second), and
        # once frozen no later collection walks them.
        gc.disable()
        try:
            from luaflow.app import App

            app = App.of(registry, report=_report, server=launched)
        except BaseException:
            if launched is not None:
                await launched.stop()
            raise
        finally:
            gc.freeze()
            gc.enable()
        try:
            return await body(app)
        finally:
            await app.stop()

    try:
        code = asyncio.run(main())
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # anything is one line, never a traceback
        _fail(_explain(exc))
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's native threads can crash the interpreter's own shutdown; everything is stopped
    # and flushed by now, so leave without it.
    os._exit(code)


async def _launch_embedded(registry: Registry) -> DevServer | None:
    """The app's embedded server, launched before the rest of luaflow loads, when its first
    client in start order uses one and no other luaflow process runs it. The app checks the
    client's settings and finishes the start (or stops it if they differ)."""
    clients = [e for e in registry.start_order() if e.kind == "temporal.client"]
    if not clients:
        return None
    namespace = clients[0].data.get("namespace", "default")
    state_dir = registry.root / STATE_DIR
    if not is_embedded(clients[0].data.get("address", "")) or not isinstance(namespace, str):
        return None
    if running_server(state_dir) is not None:
        return None
    server = DevServer(state_dir, namespace=namespace)
    await server.launch()
    return server


def _explain(exc: Exception) -> str:
    """The line a failed command prints for `exc`."""
    if isinstance(exc, (RegistryError, DevServerError)):
        return str(exc)
    from temporalio.client import WorkflowFailureError
    from temporalio.service import RPCError

    from luaflow.engine.temporal import from_failure
    from luaflow.lua import LuaflowError

    if isinstance(exc, LuaflowError):
        return f"{exc.kind or 'Unknown'}: {exc.text()}"
    if isinstance(exc, WorkflowFailureError):
        err = from_failure(exc.cause) if exc.cause is not None else None
        return f"workflow failed: {err.kind or 'Unknown'}: {err.text()}" if err else str(exc)
    if isinstance(exc, RPCError):
        return f"Temporal: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _parse_inputs(values: tuple[str, ...], hint: str = "--input") -> list[Any]:
    """JSON arguments, refusing what the Lua code could not hold (one line, exit code 2)."""
    from luaflow.http import UntrustedJSONError, load_untrusted_json

    try:
        return [load_untrusted_json(v) for v in values]
    except UntrustedJSONError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=hint) from None


#: Options several commands share.
app_option = click.option(
    "--app", "app_dir", default=".", type=click.Path(exists=True, file_okay=False),
    help="The app folder (default: the current one).",
)  # fmt: skip
input_option = click.option(
    "--input", "inputs", multiple=True, help="JSON argument (repeat for several)."
)


@click.group()
@click.version_option(package_name="luaflow")
def main() -> None:
    """Durable workflows written in Lua, run on Temporal."""
    _show_lua_logs()


def _show_lua_logs() -> None:
    """Lines of host code's `logger` (Python loggers `luaflow.<entry id>`) on stderr, from the
    level in LUAFLOW_LOG_LEVEL (default info); luaflow's own loggers keep Python's defaults."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # Entry ids are namespace:name; luaflow's own loggers show warnings, as Python's default does.
    handler.addFilter(lambda r: ":" in r.name or r.levelno >= logging.WARNING)
    level = os.environ.get("LUAFLOW_LOG_LEVEL", "info").upper()
    level = {"WARN": "WARNING"}.get(level, level)
    logger = logging.getLogger("luaflow")
    logger.addHandler(handler)
    logger.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")


@main.command()
@click.argument("app_dir", default=".", type=click.Path(exists=True, file_okay=False))
def run(app_dir: str) -> None:
    """Run an app (clients, workers, embedded server) until Ctrl-C."""

    async def body(app: App) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def unless_stopped(step: Awaitable[None]) -> bool:
            """Run `step` unless Ctrl-C comes first (also while the app starts: its workers may
            poll already); whether it finished."""
            task, stopper = asyncio.ensure_future(step), asyncio.ensure_future(stop.wait())
            await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return False
            task.result()
            return True

        if await unless_stopped(app.start(http=True, services=True)):
            _report("running; press Ctrl-C to stop")
            if await unless_stopped(app.wait()):
                return 1  # a worker stopped on its own
        _report("stopping")
        return 0

    _run(body, app_dir)


@main.command()
@click.argument("entry")
@app_option
@input_option
@click.option("--id", "workflow_id", default=None, help="Workflow id (default: generated).")
@click.option("--wait", is_flag=True, help="Wait for the result and print it as JSON.")
def start(
    entry: str, app_dir: str, inputs: tuple[str, ...], workflow_id: str | None, wait: bool
) -> None:
    """Start workflow ENTRY (e.g. app:order_workflow) and print its id.

    With --wait, unless another luaflow process already runs this app, the app's workers run
    in this process until the result is in.
    """
    args = _parse_inputs(inputs)
    if workflow_id is not None and not workflow_id.strip():
        raise click.BadParameter("must not be empty", param_hint="--id")

    async def body(app: App) -> int:
        await app.start(workers=wait and not _attached(app))
        handle = await app.start_workflow(entry, args, workflow_id)
        click.echo(handle.id)
        if wait:
            result = await handle.result()
            click.echo(json.dumps(result, ensure_ascii=False))
        return 0

    _run(body, app_dir)


@main.command()
@click.argument("workflow_id")
@app_option
def result(workflow_id: str, app_dir: str) -> None:
    """Wait for workflow WORKFLOW_ID to finish and print its result as JSON."""

    async def body(app: App) -> int:
        await app.start(workers=not _attached(app))
        client = await app.any_client()
        value = await client.get_workflow_handle(workflow_id).result()
        click.echo(json.dumps(value, ensure_ascii=False))
        return 0

    _run(body, app_dir)


@main.command()
@click.argument("target")
@click.argument("topic")
@click.argument("payloads", nargs=-1)
@app_option
def send(target: str, topic: str, payloads: tuple[str, ...], app_dir: str) -> None:
    """Send message TOPIC with JSON PAYLOADS to a workflow (its id or PID), as a signal."""
    if not topic or topic.startswith("@"):
        raise click.BadParameter("must be non-empty and not start with @", param_hint="TOPIC")
    args = _parse_inputs(payloads, "PAYLOADS")

    async def body(app: App) -> int:
        from luaflow.workflow import workflow_id_of

        await app.start(workers=False)
        client = await app.any_client()
        await client.get_workflow_handle(workflow_id_of(target)).signal(topic, args=args)
        return 0

    _run(body, app_dir)


@main.command()
@click.argument("entry")
@app_option
@input_option
def call(entry: str, app_dir: str, inputs: tuple[str, ...]) -> None:
    """Run function ENTRY as host code (it may start and message workflows); print its result
    as JSON. Exits 1 with the error's kind and message when it fails."""
    args = _parse_inputs(inputs)

    async def body(app: App) -> int:
        await app.start(workers=not _attached(app))
        click.echo(json.dumps(await app.call(entry, args), ensure_ascii=False))
        return 0

    _run(body, app_dir)


@main.command(name="test")
@click.argument("filters", nargs=-1)
@app_option
@input_option
@click.option("--suite", "suites", multiple=True, help="Only tests of this meta.suite (repeat).")
@click.option(
    "--timeout",
    default="2m",
    show_default=True,
    help="Per-test timeout, a duration; 0 for none (a test's meta.timeout overrides it).",
)
@click.option("--no-time-skip", is_flag=True, help="Run workflows in real time.")
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the results to this file as JUnit XML.",
)
@click.option(
    "--save-histories",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the history of every workflow a test starts to DIR/<test>/<workflow id>.json.",
)
def test_command(
    filters: tuple[str, ...],
    app_dir: str,
    inputs: tuple[str, ...],
    suites: tuple[str, ...],
    timeout: str,
    no_time_skip: bool,
    junit_xml: Path | None,
    save_histories: Path | None,
) -> None:
    """Run the app's Lua tests: function.lua entries with meta.type: test whose ids contain one
    of FILTERS. A test passes when it returns without error and not false.

    Tests run one by one on a fresh in-memory Temporal server with time skipping: a workflow's
    durable timers fire as soon as it is idle, and its time.now() reads its virtual clock. Waits
    in the test code itself (host code) stay on the wall clock. --input arguments go to every test.
    """
    import logging

    from luaflow.cli._test import TestOptions, run_tests
    from luaflow.lua import LuaflowError, option_duration

    # A test's failing activity is reported with the test; the SDK's warning about it is noise.
    logging.getLogger("temporalio").setLevel(logging.ERROR)
    try:
        seconds = option_duration(timeout, "--timeout").total_seconds()
    except LuaflowError as exc:
        raise click.BadParameter(exc.message, param_hint="--timeout") from None
    options = TestOptions(
        filters=filters,
        suites=suites,
        args=_parse_inputs(inputs),
        timeout=seconds,
        time_skipping=not no_time_skip,
        junit_xml=junit_xml,
        save_histories=save_histories,
    )
    # Tests run on a server of their own, never the app's.
    _run(lambda app: run_tests(app, options), app_dir, server=False)


def _attached(app: App) -> bool:
    """True when another luaflow process serves this app (its embedded server is running)."""
    return running_server(Path(app.state_dir)) is not None


@main.command()
@app_option
@click.option("--id", "workflow_ids", multiple=True, help="Replay this workflow's history.")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Replay a history exported as JSON (`temporal workflow show -o json`).",
)
@click.option(
    "--type", "type_name", default=None, help="Replay recent runs of this workflow type or entry."
)
@click.option(
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many runs --type replays.",
)
def replay(
    app_dir: str,
    workflow_ids: tuple[str, ...],
    files: tuple[str, ...],
    type_name: str | None,
    limit: int,
) -> None:
    """Replay recorded histories against the app's current Lua code (a determinism check).

    Prints `ok ID` or `FAIL ID` with what differs for each history; exits 1 if any fails.
    Nothing runs on the server: histories are only read from it (--id, --type) or from files.
    """
    import logging
    import textwrap

    from luaflow.engine.temporal import (
        ReplaySourceError,
        fetch_histories_of_type,
        fetch_history,
        load_history_file,
        replay_histories,
        resolve_workflow_type,
    )

    if not (workflow_ids or files or type_name):
        raise click.UsageError("nothing to replay: give --id, --file or --type")
    # A failed replay task is explained per history; the SDK's traceback of it is noise here.
    logging.getLogger("temporalio").setLevel(logging.ERROR)

    async def body(app: App) -> int:
        try:
            from_files = [load_history_file(path) for path in files]
            histories = []
            if workflow_ids or type_name:
                await app.start(workers=False)
                client = await app.any_client()
                histories += [await fetch_history(client, wid) for wid in workflow_ids]
                histories += from_files
                if type_name:
                    resolved = resolve_workflow_type(app, type_name)
                    recent = await fetch_histories_of_type(client, resolved, limit)
                    if not recent:
                        _report(f"no runs of workflow type {resolved} found")
                    histories += recent
            else:
                histories = from_files
        except ReplaySourceError as exc:
            _fail(str(exc))
            return 1
        seen: set[tuple[str, str]] = set()
        unique = []
        for history in histories:
            key = (history.workflow_id, history.run_id if history.events else "")
            if key not in seen:
                seen.add(key)
                unique.append(history)
        results = await replay_histories(app, unique)
        for result in results:
            click.echo(f"{'ok' if result.ok else 'FAIL'} {result.workflow_id}")
            if not result.ok:
                click.echo(textwrap.indent(result.explanation, "  "))
        failed = sum(1 for result in results if not result.ok)
        _report(f"{len(results)} history(ies) replayed, {failed} failed")
        return 1 if failed else 0

    _run(body, app_dir, server=bool(workflow_ids or type_name))


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def lint(paths: tuple[Path, ...]) -> None:
    """Check an app (default: the current folder) or Lua files without running anything."""
    from luaflow.lint import lint_paths

    findings, checked = lint_paths(list(paths) or [Path(".")])
    for finding in findings:
        click.echo(str(finding))
    files = len({f.file for f in findings})
    if findings:
        click.echo(f"{len(findings)} problem(s) in {files} file(s), {checked} Lua file(s) checked")
        sys.exit(1)
    click.echo(f"no problems, {checked} Lua file(s) checked")
