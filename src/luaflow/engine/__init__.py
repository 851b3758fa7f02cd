"""Engines run the scheduler's commands durably; Temporal is the one engine today."""

from luaflow.engine._attrs import declared_search_attributes
from luaflow.engine._programs import (
    Programs,
    check_entry_modules,
    chunk_name,
    entry_function,
    meta_worker,
    task_queue_of,
    worker_for_queue,
    workflow_type,
)

__all__ = [
    "Programs",
    "check_entry_modules",
    "chunk_name",
    "declared_search_attributes",
    "entry_function",
    "meta_worker",
    "task_queue_of",
    "worker_for_queue",
    "workflow_type",
]
