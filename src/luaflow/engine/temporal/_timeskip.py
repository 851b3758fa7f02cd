"""Per-workflow time skipping: durable timers of a workflow fire as soon as it is idle.

The dev server accepts it when started with `frontend.WorkflowTimeSkippingEnabled=true`
(`DevServer(time_skipping=True)`); every workflow started through a client carrying
`TimeSkippingInterceptor` gets it, and its child workflows inherit it. A server without the
feature rejects such a start; the interceptor then says so once and starts workflows in real time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio.api.common.v1 import TimeSkippingConfig
from temporalio.client import Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

__all__ = ["TimeSkippingInterceptor"]


class TimeSkippingInterceptor(Interceptor):
    """Stamps time skipping on every workflow a client starts (signal-with-start included)."""

    def __init__(self, on_unsupported: Callable[[str], None]) -> None:
        #: Called once, with the server's message, when the server refuses time skipping.
        self.on_unsupported = on_unsupported
        #: False once the server refused: later starts go out in real time.
        self.enabled = True

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self)


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, owner: TimeSkippingInterceptor) -> None:
        super().__init__(next)
        self.owner = owner

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        if not self.owner.enabled:
            return await super().start_workflow(input)
        input.time_skipping_config = TimeSkippingConfig(enabled=True)
        try:
            return await super().start_workflow(input)
        except RPCError as exc:
            if exc.status != RPCStatusCode.UNIMPLEMENTED or "time-skipping" not in str(exc).lower():
                raise
            refusal = exc.message
        if self.owner.enabled:  # several starts may have raced to this refusal
            self.owner.enabled = False
            self.owner.on_unsupported(refusal)
        input.time_skipping_config = None
        return await super().start_workflow(input)
