"""Go-compatible regular expressions for Wippy's `@pattern` validator.

Go's `regexp` implements RE2 syntax, so patterns are compiled with RE2 itself rather than
Python's `re` (which differs on possessive quantifiers, backreferences and more).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a bad pattern is reported to Lua, not printed to stderr


@lru_cache(maxsize=256)
def _compile(pattern: bytes) -> Any:
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error:
        return None


def regex_search(pattern: bytes, subject: bytes) -> bool | None:
    """Whether `pattern` matches anywhere in `subject` (Go's MatchString); None if the pattern is
    not a valid regular expression."""
    compiled = _compile(pattern)
    if compiled is None:
        return None
    return compiled.search(subject) is not None
