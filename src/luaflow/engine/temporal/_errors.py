"""Errors crossing Temporal both ways (SPEC B7): the kind survives every hop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    FailureError,
    TerminatedError,
    TimeoutError,
    TimeoutType,
)

from luaflow.lua import CANCELED, INTERNAL, NOT_FOUND, TIMEOUT, LuaflowError

_TIMEOUT_TYPES = {
    TimeoutType.START_TO_CLOSE: "start_to_close",
    TimeoutType.SCHEDULE_TO_START: "schedule_to_start",
    TimeoutType.SCHEDULE_TO_CLOSE: "schedule_to_close",
    TimeoutType.HEARTBEAT: "heartbeat",
}


def to_application_error(err: LuaflowError) -> ApplicationError:
    """Leaving Lua: type = kind (default Internal), details = the chain, retryable unless false."""
    return ApplicationError(
        err.text(),
        err.chain(),
        type=err.kind or INTERNAL,
        non_retryable=err.retryable is False,
    )


def _from_application(exc: ApplicationError) -> LuaflowError:
    if exc.type == "ExternalWorkflowExecutionNotFound":
        return LuaflowError(f"workflow not found: {exc.message}", NOT_FOUND, False)
    details: Sequence[Any] = exc.details
    if details and isinstance(details[0], list):
        rebuilt = LuaflowError.from_chain(details[0])
        if rebuilt is not None:
            return rebuilt
    return LuaflowError(
        exc.message, exc.type or INTERNAL, not exc.non_retryable, list(details) or None
    )


def from_failure(exc: BaseException) -> LuaflowError:
    """Entering Lua: rebuild the chain, or map a foreign Temporal failure by its type."""
    if isinstance(exc, ActivityError | ChildWorkflowError):
        inner = exc.cause
        err = from_failure(inner) if inner is not None else LuaflowError(str(exc), INTERNAL)
        extra = (
            {"_activity_id": exc.activity_id, "_activity_type": exc.activity_type}
            if isinstance(exc, ActivityError)
            else {"_workflow_id": exc.workflow_id, "_workflow_type": exc.workflow_type}
        )
        if err.details is None:
            err.details = extra
        elif isinstance(err.details, dict):
            err.details = {**err.details, **extra}
        return err
    if isinstance(exc, ApplicationError):
        return _from_application(exc)
    if isinstance(exc, TimeoutError):
        kind = _TIMEOUT_TYPES.get(exc.type) if exc.type is not None else None
        return LuaflowError(
            f"timeout: {kind or 'unknown'}", TIMEOUT, False, {"timeout_type": kind or "unknown"}
        )
    if isinstance(exc, TerminatedError):
        return LuaflowError("workflow terminated", CANCELED, False)
    if isinstance(exc, CancelledError | asyncio.CancelledError):
        if isinstance(exc, asyncio.CancelledError):
            return LuaflowError("canceled", CANCELED)
        return LuaflowError(f"canceled: {exc.message}" if exc.message else "canceled", CANCELED)
    if isinstance(exc, FailureError):
        return LuaflowError(exc.message, INTERNAL, False)
    return LuaflowError(f"{type(exc).__name__}: {exc}", INTERNAL, False)
