"""Go-compatible regular expressions for Wippy's `@pattern` validator.

Go's `regexp` implements RE2 syntax, so patterns are compiled with RE2 itself rather than
Python's `re` (which differs on possessive quantifiers, backreferences and more).
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any


@cache
def _re2() -> tuple[Any, Any]:
    """RE2 and its options, imported on the first pattern: few runs validate with one, and the
    import is a sizeable part of every command's start-up."""
    import re2

    options = re2.Options()
    options.log_errors = False  # a bad pattern is reported to Lua, not printed to stderr
    return re2, options


@lru_cache(maxsize=256)
def _compile(pattern: bytes) -> Any:
    re2, options = _re2()
    try:
        return re2.compile(pattern, options=options)
    except re2.error:
        return None


def regex_search(pattern: bytes, subject: bytes) -> bool | None:
    """Whether `pattern` matches anywhere in `subject` (Go's MatchString); None if the pattern is
    not a valid regular expression."""
    compiled = _compile(pattern)
    if compiled is None:
        return None
    return compiled.search(subject) is not None
