"""The `luaflow` command: run an app, start workflows, read results."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from luaflow.app import App
from luaflow.engine.temporal import DevServerError, from_failure, running_server
from luaflow.lua import LuaflowError
from luaflow.registry import RegistryError

console = Console(stderr=True, highlight=False)


def _report(message: str) -> None:
    console.print(f"[dim]luaflow:[/dim] {message}")


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/bold red] {message}", soft_wrap=True)


def _run(body: Callable[[App], Awaitable[int]], app_dir: str) -> None:
    """Load the app, run `body`, always shut clients/workers/server down, exit with its code."""

    async def main() -> int:
        app = App.load(app_dir, report=_report)
        try:
            return await body(app)
        finally:
            await app.stop()

    try:
        code = asyncio.run(main())
    except (RegistryError, LuaflowError, DevServerError) as exc:
        _fail(str(exc))
        code = 1
    except WorkflowFailureError as exc:
        err = from_failure(exc.cause) if exc.cause is not None else None
        _fail(f"workflow failed: {err.kind or 'Unknown'}: {err.text()}" if err else str(exc))
        code = 1
    except RPCError as exc:
        _fail(f"Temporal: {exc.message}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's native threads can crash the interpreter's own shutdown; everything is stopped
    # and flushed by now, so leave without it.
    os._exit(code)


def _parse_inputs(values: tuple[str, ...]) -> list[Any]:
    try:
        return [json.loads(v) for v in values]
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--input") from None


@click.group()
@click.version_option(package_name="luaflow")
def main() -> None:
    """Durable workflows written in Lua, run on Temporal."""


@main.command()
@click.argument("app_dir", default=".", type=click.Path(exists=True, file_okay=False))
def run(app_dir: str) -> None:
    """Run an app (clients, workers, embedded server) until Ctrl-C."""

    async def body(app: App) -> int:
        await app.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _report("running; press Ctrl-C to stop")
        waiter = asyncio.ensure_future(app.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if waiter.done():
            waiter.result()
            return 1
        waiter.cancel()
        _report("stopping")
        return 0

    _run(body, app_dir)


@main.command()
@click.argument("entry")
@click.option("--app", "app_dir", default=".", type=click.Path(exists=True, file_okay=False))
@click.option("--input", "inputs", multiple=True, help="JSON argument (repeat for several).")
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
@click.option("--app", "app_dir", default=".", type=click.Path(exists=True, file_okay=False))
def result(workflow_id: str, app_dir: str) -> None:
    """Wait for workflow WORKFLOW_ID to finish and print its result as JSON."""

    async def body(app: App) -> int:
        await app.start(workers=not _attached(app))
        client = await app.any_client()
        value = await client.get_workflow_handle(workflow_id).result()
        click.echo(json.dumps(value, ensure_ascii=False))
        return 0

    _run(body, app_dir)


def _attached(app: App) -> bool:
    """True when another luaflow process serves this app (its embedded server is running)."""
    return running_server(Path(app.state_dir)) is not None
