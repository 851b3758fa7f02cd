"""What travels in Temporal headers: the sender's PID on signals (B5) and the context of
`with_context` (B6) to workflows, their activities, children and signals."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.converter import default as default_converter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    Interceptor,
    SignalExternalWorkflowInput,
    StartActivityInput,
    StartChildWorkflowInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

SENDER_HEADER = "luaflow-from"
CONTEXT_HEADER = "luaflow-context"

#: The context of the activity running in this thread (read by the dynamic activity).
_activity_context: ContextVar[dict[str, Any]] = ContextVar("luaflow_activity_context")


def activity_context() -> dict[str, Any]:
    return _activity_context.get({})


def _decode(headers: Mapping[str, Payload], name: str) -> Any:
    header = headers.get(name)
    return default_converter().payload_converter.from_payload(header) if header else None


def _encode(value: Any) -> Payload:
    return default_converter().payload_converter.to_payload(value)


class HeaderInterceptor(Interceptor):
    """Reads and writes luaflow's headers on every workflow and activity of a worker."""

    def __init__(self, pid: Callable[[], str]) -> None:
        self._pid = pid

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        pid = self._pid

        class Inbound(_WorkflowInbound):
            def init(self, outbound: WorkflowOutboundInterceptor) -> None:
                super().init(_WorkflowOutbound(outbound, pid))

        return Inbound


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        context = _decode(input.headers, CONTEXT_HEADER)
        _activity_context.set(context if isinstance(context, dict) else {})
        return await super().execute_activity(input)


class _WorkflowInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        context = _decode(input.headers, CONTEXT_HEADER)
        workflow.instance().context = context if isinstance(context, dict) else {}
        return await super().execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        instance = workflow.instance()
        sender = _decode(input.headers, SENDER_HEADER)
        instance.signal_sender = sender if isinstance(sender, str) else ""
        try:
            await super().handle_signal(input)
        finally:
            instance.signal_sender = ""


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, pid: Callable[[], str]) -> None:
        super().__init__(next)
        self._pid = pid

    @staticmethod
    def _context(headers: Mapping[str, Payload]) -> dict[str, Payload]:
        instance = workflow.instance()
        context = instance.outgoing_context
        if context is None:
            context = instance.context
        return {**headers, CONTEXT_HEADER: _encode(context)} if context else dict(headers)

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = self._context(input.headers)
        return super().start_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        input.headers = self._context(input.headers)
        return await super().start_child_workflow(input)

    async def signal_external_workflow(self, input: SignalExternalWorkflowInput) -> None:
        input.headers = {**self._context(input.headers), SENDER_HEADER: _encode(self._pid())}
        await super().signal_external_workflow(input)
