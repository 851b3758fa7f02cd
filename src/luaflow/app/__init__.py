"""Apps: a registry folder booted into clients and workers."""

from luaflow.app._app import App, validate
from luaflow.app._testing import TestCase, TestResult, TestRunner, find_tests, write_junit
from luaflow.engine import workflow_type

__all__ = [
    "App",
    "TestCase",
    "TestResult",
    "TestRunner",
    "find_tests",
    "validate",
    "workflow_type",
    "write_junit",
]
