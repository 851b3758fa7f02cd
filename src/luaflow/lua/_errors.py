"""Structured errors shared by Lua, Python and Temporal (SPEC 2.8, B7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Error kinds exactly as Lua code sees them (`errors.NOT_FOUND` == "NotFound", ruling R20).
UNKNOWN = ""
INVALID = "Invalid"
NOT_FOUND = "NotFound"
ALREADY_EXISTS = "AlreadyExists"
PERMISSION_DENIED = "PermissionDenied"
TIMEOUT = "Timeout"
CANCELED = "Canceled"
UNAVAILABLE = "Unavailable"
INTERNAL = "Internal"
CONFLICT = "Conflict"
RATE_LIMITED = "RateLimited"


class LuaflowError(Exception):
    """An error with a kind, a retryable flag, details and an optional cause.

    It is the one shape errors take on every hop (Lua -> Python -> Temporal -> Lua), so that a
    kind set in an activity is still the kind a host process or an HTTP response sees.
    """

    def __init__(
        self,
        message: str,
        kind: str = UNKNOWN,
        retryable: bool | None = None,
        details: Any = None,
        cause: LuaflowError | None = None,
    ) -> None:
        self.message = message
        self.kind = kind
        self.retryable = retryable
        self.details = details
        self.cause = cause
        super().__init__(self.text())

    def text(self) -> str:
        """The full message, outermost context first (what `tostring(err)` gives in Lua)."""
        if self.cause is not None:
            return f"{self.message}: {self.cause.text()}" if self.message else self.cause.text()
        return self.message

    def chain(self) -> list[dict[str, Any]]:
        """The error chain as it travels in Temporal failure details (B7)."""
        out: list[dict[str, Any]] = []
        err: LuaflowError | None = self
        while err is not None:
            out.append(
                {
                    "msg": err.message,
                    "kind": err.kind,
                    "retry": err.retryable,
                    "details": err.details,
                }
            )
            err = err.cause
        return out

    @classmethod
    def from_chain(cls, chain: Sequence[Mapping[str, Any]]) -> LuaflowError | None:
        """Rebuild an error from `chain()` output; None when the data is not a chain."""
        err: LuaflowError | None = None
        for link in reversed(chain):
            if not isinstance(link, Mapping) or not isinstance(link.get("msg"), str):
                return None
            retry = link.get("retry")
            err = cls(
                link["msg"],
                str(link.get("kind") or ""),
                retry if isinstance(retry, bool) else None,
                link.get("details"),
                err,
            )
        return err

    def __repr__(self) -> str:
        return f"LuaflowError(kind={self.kind!r}, message={self.text()!r})"


class HostFailure(Exception):
    """Raised by a module function for the host rather than for Lua code: user `pcall` does not
    turn it into an error object (the workflow layer fails the engine task with it)."""
