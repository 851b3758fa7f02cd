"""Wippy's typed Lua on Lua 5.4: a lexer and a recursive-descent parser of the whole dialect.

Type syntax is erased in place (every erased character except line breaks becomes a space, so
Lua's line numbers are the source's), casts and `!` on a call or `...` keep their one-value
truncation by parenthesising the operand, and `type`/`interface` statements become calls of the
run-time type library (`__wippy_types()`, WIPPY-LUA.md §4.3). Plain Lua 5.4 comes back unchanged.
The same pass records the free names a chunk reads and assigns, for linting.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from luaflow.lua._runtime import LuaRuntimeError

#: (name, line, column), both 1-based, in the original source.
Position = tuple[str, int, int]
_T = TypeVar("_T")


class LuaSyntaxError(LuaRuntimeError):
    """Source that is neither Lua 5.4 nor Wippy's dialect: `chunk:line:col: what went wrong`."""


@dataclass(frozen=True)
class Analysis:
    """Free (global) names a chunk reads and assigns, and the modules it requires by literal."""

    global_writes: list[Position]
    global_reads: list[Position]
    requires: list[Position]
    #: Field paths read from a global, `process.monitor` for `process.monitor(pid)`.
    global_fields: list[Position]
    #: The `requires` made when the chunk itself runs (not inside a function body).
    top_level_requires: list[Position]


def translate(source: str, chunkname: str) -> str:
    """Lua 5.4 text for `source`; raises LuaSyntaxError naming `chunkname:line:col`."""
    return _parse(source, chunkname).text


def analyze(source: str, chunkname: str) -> Analysis:
    """Global reads/writes and literal `require`s of `source` (the parse is shared with
    `translate`)."""
    return _parse(source, chunkname).analysis()


@functools.lru_cache(maxsize=512)
def _parse(source: str, chunkname: str) -> _Result:
    """One parse per source: a worker loads the same entry for every run."""
    parser = _Parser(source, chunkname)
    try:
        return parser.chunk()
    except RecursionError:
        raise parser.error("chunk has too many syntax levels", parser.i) from None


# -- lexer ---------------------------------------------------------------------------------------

#: Whitespace and comments (group 1), then one token (group 3): a name, an operator (the
#: frequent one-character ones first: `re` tries alternatives in order), a label (Wippy's rule
#: S3: `::name::` on one line is one token), a string, a number as Lua's lexer reads it
#: (validated afterwards), a long string, the start of an unfinished long string or comment,
#: the end of the text, or any other character (an error). `findall` keeps the loop in C.
_TOKEN_RE = re.compile(
    r"""
    ((?:[ \t\f\v\r\n]+ | --\[(=*)\[.*?\]\2\] | --(?!\[=*\[)[^\r\n]*)*+)
    ( [A-Za-z_][A-Za-z0-9_]*
    | [(){},;+*%^#&|\]!@]
    | =[=]? | \.\.\.? | ::[ \t]*[A-Za-z_][A-Za-z0-9_]*[ \t]*:: | ::?
    | "(?:[^"\\\r\n]++|\\z\s*+|\\\r\n|\\\n\r|\\[\s\S])*+"
    | '(?:[^'\\\r\n]++|\\z\s*+|\\\r\n|\\\n\r|\\[\s\S])*+'
    | (?:0[xX](?:[pP][+-]?|[0-9a-fA-F.])*+|(?:[0-9]|\.[0-9])(?:[eE][+-]?|[0-9a-fA-F.])*+)
      [A-Za-z0-9_]?
    | \.
    | \[(=*)\[.*?\]\4\] | \[=*\[?
    | --\[=*\[ | ->?
    | ~=? | <[=<]? | >[=>]? | //? | \?:?
    | \Z | .
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_OPERATORS = frozenset(
    {*"+-*/%^#&~|<>=(){}[];:,.!?@", "...", "..", "==", "~=", "<=", ">=", "<<", ">>", "//", "->"}
    | {"?:", "::"}
)
_LEX_ERRORS = frozenset(
    {"unfinished string", "unfinished long string", "unfinished long comment"}
    | {"malformed number", "unexpected symbol"}
)
_NUMBER_RE = re.compile(
    r"0[xX](?:[0-9a-fA-F]+(?:\.[0-9a-fA-F]*)?|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
)
_LINE_BREAK_RE = re.compile(r"\r\n|\n\r|\n|\r")
_KEYWORDS = frozenset(
    {
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    }
)
_EOF = "<eof>"


def _lex(src: str) -> tuple[list[str], list[str], list[int], list[int], int]:
    """Token kinds (keyword or operator text, `name`, `number`, `string`, `label`, `<eof>`, or
    the message of a lexical error), texts, start and end offsets; then the index of the
    erroneous token, or -1."""
    kinds: list[str] = []
    vals: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    keywords, operators, name_start = _KEYWORDS, _OPERATORS, _NAME_START
    add_kind, add_val, add_start, add_end = kinds.append, vals.append, starts.append, ends.append
    pos = 0
    bad = -1
    for skipped, _, text, _ in _TOKEN_RE.findall(src):
        start = pos + len(skipped)
        pos = start + len(text)
        first = text[:1]
        if first in name_start:
            kind = text if text in keywords else "name"
        elif text in operators:
            kind = text
        elif first == '"' or first == "'":
            kind = "string"
            if len(text) == 1:  # show what the string would have been
                kind = "unfinished string"
                text = _LINE_BREAK_RE.split(src[start:], maxsplit=1)[0]
        elif first == "[":
            kind = "string" if text[-1] == "]" else "unfinished long string"
        elif first == ":":
            kind = "label"
        elif not text:
            break
        elif first in "0123456789.":
            kind = "number" if _NUMBER_RE.fullmatch(text) else "malformed number"
        elif first == "-":
            kind = "unfinished long comment"
        else:
            kind = "unexpected symbol"
        add_kind(kind)
        add_val(text)
        add_start(start)
        add_end(pos)
        if kind in _LEX_ERRORS:
            bad = len(kinds) - 1
            break
    n = len(src)
    for _ in range(3):  # lookahead of up to two tokens never runs off the end
        kinds.append(_EOF)
        vals.append(_EOF)
        starts.append(n)
        ends.append(n)
    return kinds, vals, starts, ends, bad


# -- translation tables ----------------------------------------------------------------------------

#: Binary operators: (left, right) priority, as in Lua 5.4's lparser.c.
_BINARY = {
    "or": (1, 1),
    "and": (2, 2),
    "<": (3, 3),
    ">": (3, 3),
    "<=": (3, 3),
    ">=": (3, 3),
    "~=": (3, 3),
    "==": (3, 3),
    "|": (4, 4),
    "~": (5, 5),
    "&": (6, 6),
    "<<": (7, 7),
    ">>": (7, 7),
    "..": (9, 8),
    "+": (10, 10),
    "-": (10, 10),
    "*": (11, 11),
    "/": (11, 11),
    "//": (11, 11),
    "%": (11, 11),
    "^": (14, 13),
}
_UNARY = frozenset({"not", "-", "#", "~"})
_UNARY_PRIORITY = 12
_BLOCK_END = frozenset({"end", "else", "elseif", "until", _EOF})
_TYPE_START = frozenset({"name", "nil", "true", "false", "string", "number", "{", "("})
_PRIMITIVES = {
    name: f"__wt.{name}"
    for name in ("boolean", "number", "integer", "string", "any", "unknown", "never", "table")
}
#: Free names whose use needs the primitive cast globals that `__wippy_types()` installs.
_TYPE_GLOBALS = frozenset({"integer", "number", "boolean", "any", "unknown", "never"})
_ANY = "__wt.any"
_PREFIX = "local __wt = __wippy_types(); "

#: Kinds of expressions, for assignment targets and the one-value truncation of casts.
_CALL, _VARARG, _GLOBAL, _LOCAL, _INDEX, _OTHER = range(6)


def _ref(name: str) -> str:
    return f'__wt.ref("{name}", function() return {name} end)'


_NOT_BREAK_RE = re.compile(r"[^\r\n]")


def _blank(text: str) -> str:
    if "\n" in text or "\r" in text:
        return _NOT_BREAK_RE.sub(" ", text)
    return " " * len(text)


_ESCAPE_RE = re.compile(
    r"\\(?:([abfnrtv\\\"'])|(\r\n|\n\r|\n|\r)|x([0-9a-fA-F]{2})|z\s*|([0-9]{1,3})|u\{([0-9a-fA-F]+)\})"
)
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape(m: re.Match[str]) -> str:
    simple, newline, hexa, decimal, code = m.groups()
    if simple is not None:
        return _ESCAPES.get(simple, simple)
    if newline is not None:
        return "\n"
    if hexa is not None:
        return chr(int(hexa, 16))
    if decimal is not None:
        return chr(int(decimal))
    if code is not None:
        return chr(int(code, 16))
    return ""  # \z


def _long_string_body(token: str) -> str:
    open_len = token.index("[", 1) + 1
    body = token[open_len : len(token) - open_len]
    return _LINE_BREAK_RE.sub("", body, count=1) if body[:1] in ("\r", "\n") else body


def _string_value(token: str) -> str:
    """The value of a Lua string token (the module name of a `require`)."""
    if token[0] == "[":
        return _long_string_body(token)
    return _ESCAPE_RE.sub(_unescape, token[1:-1])


#: Escapes of a short string; those spanning a line break are rewritten by `_one_line`.
_LINE_ESCAPE_RE = re.compile(r"\\(?:(z\s*)|(\r\n|\n\r|\n|\r)|[\s\S])")


def _one_line(token: str) -> str:
    """A token's text for generated code, which must not add line breaks."""
    if "\n" not in token and "\r" not in token:
        return token
    if token[0] == "[":
        body = _long_string_body(token)
        return '"' + "".join(f"\\{ord(c):03d}" if c in '\\"\r\n' else c for c in body) + '"'
    return _LINE_ESCAPE_RE.sub(
        lambda m: "" if m.group(1) else "\\n" if m.group(2) else m.group(), token
    )


# -- parser --------------------------------------------------------------------------------------


class _Result:
    """A translated chunk and the raw material of its analysis (positions resolved on demand)."""

    __slots__ = ("_fields", "_reads", "_requires", "_src", "_top", "_writes", "text")

    def __init__(
        self,
        text: str,
        src: str,
        reads: list[tuple[str, int]],
        writes: list[tuple[str, int]],
        requires: list[tuple[str, int]],
        fields: list[tuple[str, int]],
        top: list[tuple[str, int]],
    ) -> None:
        self.text = text
        self._src = src
        self._reads = reads
        self._writes = writes
        self._requires = requires
        self._fields = fields
        self._top = top

    def analysis(self) -> Analysis:
        lines = _line_starts(self._src)

        def where(refs: list[tuple[str, int]]) -> list[Position]:
            return [(name, *_line_col(lines, offset)) for name, offset in refs]

        return Analysis(
            where(self._writes),
            where(self._reads),
            where(self._requires),
            where(self._fields),
            where(self._top),
        )


def _line_starts(src: str) -> list[int]:
    """Offsets where lines start, counting line breaks the way Lua does (`\\r\\n`, `\\n\\r`,
    `\\n`, `\\r` are one each)."""
    return [0, *(m.end() for m in _LINE_BREAK_RE.finditer(src))]


def _line_col(lines: list[int], offset: int) -> tuple[int, int]:
    line = bisect_right(lines, offset)
    return line, offset - lines[line - 1] + 1


class _Parser:
    """Recursive descent over a token list; edits are collected and applied at the end."""

    __slots__ = (
        "active",
        "depth",
        "edits",
        "ends",
        "fields",
        "i",
        "kinds",
        "name",
        "needs_types",
        "reads",
        "requires",
        "scopes",
        "src",
        "starts",
        "top_requires",
        "tparams",
        "type_names",
        "vals",
        "writes",
    )

    def __init__(self, src: str, chunkname: str) -> None:
        self.src = src
        self.name = chunkname
        self.kinds, self.vals, self.starts, self.ends, bad = _lex(src)
        self.i = 0
        if bad >= 0:
            raise self.error(self.kinds[bad], bad)
        self.edits: list[tuple[int, int, str]] = []
        #: Names declared by each open block; `active` maps a local name to the type
        #: constructors of its visible declarations (None: not annotated), innermost last.
        self.scopes: list[list[str]] = [[]]
        self.active: dict[str, list[str | None]] = {}
        self.depth = 0  # function nesting
        #: Type parameters in scope and what they translate to.
        self.tparams: dict[str, str] = {}
        self.type_names: dict[str, None] = {}
        self.needs_types = False
        self.reads: list[tuple[str, int]] = []
        self.fields: list[tuple[str, int]] = []
        self.top_requires: list[tuple[str, int]] = []
        self.writes: list[tuple[str, int]] = []
        self.requires: list[tuple[str, int]] = []

    # -- helpers -----------------------------------------------------------------------------------

    def error(self, message: str, index: int) -> LuaSyntaxError:
        line, col = _line_col(_line_starts(self.src), self.starts[index])
        if self.kinds[index] == _EOF:
            near = "<eof>"
        else:
            text = self.vals[index]
            near = "'" + (text if len(text) <= 40 else text[:37] + "...") + "'"
        return LuaSyntaxError(f"{self.name}:{line}:{col}: {message} near {near}")

    def expect(self, kind: str, what: str = "") -> None:
        if self.kinds[self.i] != kind:
            raise self.error(f"expected '{kind}'{what}", self.i)
        self.i += 1

    def close(self, kind: str, opener: str, open_index: int) -> None:
        """Expect the token closing `opener` (Lua's "'end' expected (to close ...)")."""
        if self.kinds[self.i] == kind:
            self.i += 1
            return
        lines = _line_starts(self.src)
        here = _line_col(lines, self.starts[self.i])[0]
        there = _line_col(lines, self.starts[open_index])[0]
        if here == there:
            raise self.error(f"expected '{kind}'", self.i)
        raise self.error(f"expected '{kind}' (to close '{opener}' at line {there})", self.i)

    def take_name(self) -> str:
        if self.kinds[self.i] != "name":
            raise self.error("expected a name", self.i)
        self.i += 1
        return self.vals[self.i - 1]

    def close_angle(self) -> None:
        """Expect `>`; `>>` closes two generic lists (S7), `>=` never splits."""
        i = self.i
        kind = self.kinds[i]
        if kind == ">":
            self.i += 1
        elif kind == ">>":
            self.kinds[i] = self.vals[i] = ">"
            self.starts[i] += 1
        else:
            raise self.error("expected '>'", i)

    def erase(self, start: int, end: int) -> None:
        self.edits.append((start, end, _blank(self.src[start:end])))

    def open_scope(self) -> None:
        self.scopes.append([])

    def close_scope(self) -> None:
        active = self.active
        for name in self.scopes.pop():
            stack = active[name]
            stack.pop()
            if not stack:
                del active[name]

    def declare(self, name: str, ctor: str | None) -> None:
        self.scopes[-1].append(name)
        stack = self.active.get(name)
        if stack is None:
            self.active[name] = [ctor]
        else:
            stack.append(ctor)

    # -- chunk and blocks --------------------------------------------------------------------------

    def chunk(self) -> _Result:
        self.block()
        if self.kinds[self.i] != _EOF:
            raise self.error("expected end of file", self.i)
        src = self.src
        text = src
        if self.edits:
            self.edits.sort(key=lambda edit: edit[0])
            pieces = []
            pos = 0
            for start, end, replacement in self.edits:
                pieces.append(src[pos:start])
                pieces.append(replacement)
                pos = end
            pieces.append(src[pos:])
            text = "".join(pieces)
        types = self.type_names
        if self.needs_types:
            names = f"local {', '.join(types)}; " if types else ""
            text = _PREFIX + names + text
        reads, writes = self.reads, self.writes
        if types:
            reads = [ref for ref in reads if ref[0] not in types]
            writes = [ref for ref in writes if ref[0] not in types]
        return _Result(text, src, reads, writes, self.requires, self.fields, self.top_requires)

    def block(self) -> None:
        kinds = self.kinds
        statements = _STATEMENTS
        while True:
            kind = kinds[self.i]
            if kind in _BLOCK_END:
                return
            if kind == "return":
                self.i += 1
                kind = kinds[self.i]
                if kind not in _BLOCK_END and kind != ";":
                    self.explist()
                if kinds[self.i] == ";":
                    self.i += 1
                if kinds[self.i] not in _BLOCK_END:
                    raise self.error("expected end of block after 'return'", self.i)
                return
            handler = statements.get(kind)
            if handler is None:
                raise self.error("unexpected symbol", self.i)
            handler(self)

    def scoped_block(self) -> None:
        self.open_scope()
        self.block()
        self.close_scope()

    # -- statements --------------------------------------------------------------------------------

    def name_stmt(self) -> None:
        i = self.i
        word = self.vals[i]
        if word == "type" and self.kinds[i + 1] == "name" and self.kinds[i + 2] in ("=", "<"):
            self.type_stmt()
        elif word == "interface" and self.kinds[i + 1] == "name":
            self.interface_stmt()
        else:
            self.exprstat()

    def exprstat(self) -> None:
        kind = self.suffixedexp()
        kinds = self.kinds
        if kinds[self.i] in ("=", ","):
            self.target(kind)
            while kinds[self.i] == ",":
                self.i += 1
                self.target(self.suffixedexp())
            self.expect("=")
            self.explist()
        elif kind != _CALL:
            raise self.error("syntax error", self.i)

    def target(self, kind: int) -> None:
        if kind == _GLOBAL:
            self.writes.append(self.reads.pop())
        elif kind != _LOCAL and kind != _INDEX:
            raise self.error("syntax error (cannot assign to this expression)", self.i)

    def token_stmt(self) -> None:
        """`;`, `break`, or a `::name::` label."""
        self.i += 1

    def colon_label_stmt(self) -> None:
        """`:: name ::` spread over lines: Lua 5.4 reads a label (a cast needs an operand)."""
        self.i += 1
        self.take_name()
        self.expect("::")

    def goto_stmt(self) -> None:
        self.i += 1
        self.take_name()

    def do_stmt(self) -> None:
        open_index = self.i
        self.i += 1
        self.scoped_block()
        self.close("end", "do", open_index)

    def while_stmt(self) -> None:
        open_index = self.i
        self.i += 1
        self.expr(0)
        self.expect("do")
        self.scoped_block()
        self.close("end", "while", open_index)

    def repeat_stmt(self) -> None:
        open_index = self.i
        self.i += 1
        self.open_scope()
        self.block()
        self.close("until", "repeat", open_index)
        self.expr(0)  # sees the block's locals
        self.close_scope()

    def if_stmt(self) -> None:
        open_index = self.i
        self.i += 1
        self.expr(0)
        self.expect("then")
        self.scoped_block()
        kinds = self.kinds
        while kinds[self.i] == "elseif":
            self.i += 1
            self.expr(0)
            self.expect("then")
            self.scoped_block()
        if kinds[self.i] == "else":
            self.i += 1
            self.scoped_block()
        self.close("end", "if", open_index)

    def for_stmt(self) -> None:
        open_index = self.i
        self.i += 1
        names = [self.take_name()]
        kinds = self.kinds
        if kinds[self.i] == "=":
            self.i += 1
            self.expr(0)
            self.expect(",")
            self.expr(0)
            if kinds[self.i] == ",":
                self.i += 1
                self.expr(0)
        elif kinds[self.i] in (",", "in"):
            while kinds[self.i] == ",":
                self.i += 1
                names.append(self.take_name())
            self.expect("in")
            self.explist()
        else:
            raise self.error("expected '=' or 'in'", self.i)
        self.expect("do")
        self.open_scope()
        for name in names:
            self.declare(name, None)
        self.block()
        self.close_scope()
        self.close("end", "for", open_index)

    def function_stmt(self) -> None:
        open_index = self.i
        self.i += 1
        offset = self.starts[self.i]
        name = self.take_name()
        kinds = self.kinds
        dotted = False
        while kinds[self.i] == ".":
            self.i += 1
            self.take_name()
            dotted = True
        method = kinds[self.i] == ":"
        if method:
            self.i += 1
            self.take_name()
        if name not in self.active:
            (self.reads if dotted or method else self.writes).append((name, offset))
        self.funcbody(method, open_index)

    def local_stmt(self) -> None:
        kinds = self.kinds
        self.i += 1
        if kinds[self.i] == "function":
            open_index = self.i
            self.i += 1
            self.declare(self.take_name(), None)
            self.funcbody(False, open_index)
            return
        names: list[tuple[str, str | None]] = []
        while True:
            name = self.take_name()
            ctor = self.annotation() if kinds[self.i] == ":" else None
            if kinds[self.i] == "<":  # Lua 5.4 attribute: <const>, <close>
                self.i += 1
                self.take_name()
                self.expect(">")
            names.append((name, ctor))
            if kinds[self.i] != ",":
                break
            self.i += 1
        if kinds[self.i] == "=":
            self.i += 1
            self.explist()
        for name, ctor in names:
            self.declare(name, ctor)

    def funcbody(self, method: bool, open_index: int) -> None:
        kinds = self.kinds
        saved = self.tparams
        if kinds[self.i] == "<":
            start = self.starts[self.i]
            params = self.typeparams()
            self.erase(start, self.ends[self.i - 1])
            self.tparams = {**saved, **{name: _ANY for name, _ in params}}
        self.expect("(")
        self.depth += 1
        self.open_scope()
        if method:
            self.declare("self", None)
        if kinds[self.i] != ")":
            while True:
                if kinds[self.i] == "...":
                    self.i += 1
                    if kinds[self.i] == ":":
                        self.annotation()
                    break
                name = self.take_name()
                self.declare(name, self.annotation() if kinds[self.i] == ":" else None)
                if kinds[self.i] != ",":
                    break
                self.i += 1
        self.expect(")")
        if kinds[self.i] == ":":
            self.erased_after_colon(lambda: self.returns(True))
        self.block()
        self.close("end", "function", open_index)
        self.close_scope()
        self.depth -= 1
        self.tparams = saved

    def annotation(self) -> str:
        """`: type` after a declared name: erased; its constructor is kept for `typeof`."""
        return self.erased_after_colon(self.type_)

    def erased_after_colon(self, read: Callable[[], _T]) -> _T:
        """`:` and the type syntax `read` consumes, erased (with any edit made inside)."""
        start = self.starts[self.i]
        self.i += 1
        if self.kinds[self.i] not in _TYPE_START:
            raise self.error("expected a type after ':'", self.i)
        mark = len(self.edits)
        result = read()
        del self.edits[mark:]
        self.erase(start, self.ends[self.i - 1])
        return result

    def type_stmt(self) -> None:
        saved, mark = self.tparams, len(self.edits)
        start, name, params = self.type_head()
        self.expect("=", " after the type name")
        body = self.type_()
        self.tparams = saved
        self.define_type(name, _generic(params, body), start, mark)

    def type_head(self) -> tuple[int, str, list[tuple[str, str | None]]]:
        """`type`/`interface` Name [<params>]: where the statement starts, the name, and the
        type parameters (put in scope)."""
        start = self.starts[self.i]
        self.i += 1
        name = self.take_name()
        params = self.typeparams() if self.kinds[self.i] == "<" else []
        self.tparams = {**self.tparams, **{param: param for param, _ in params}}
        return start, name, params

    def interface_stmt(self) -> None:
        open_index = self.i
        saved, mark = self.tparams, len(self.edits)
        start, name, params = self.type_head()
        kinds = self.kinds
        parts = []
        if kinds[self.i] == ":":
            self.i += 1
            parts.append(self.simple(True))
            while kinds[self.i] == ",":
                self.i += 1
                parts.append(self.simple(True))
        fields = []
        while kinds[self.i] != "end":
            if kinds[self.i] == "function":
                fields.append(self.interface_method())
            elif kinds[self.i] == "name":
                fields.append(self.field())
            else:
                raise self.error("expected a field or a method of the interface", self.i)
            if kinds[self.i] in (",", ";"):
                self.i += 1
        self.close("end", "interface", open_index)
        self.tparams = saved
        record = f"__wt.record({{{', '.join(fields)}}})"
        if parts:
            record = f"__wt.inter({{{', '.join([*parts, record])}}})"
        self.define_type(name, _generic(params, record), start, mark)

    def interface_method(self) -> str:
        self.i += 1
        name = self.take_name()
        kinds = self.kinds
        saved = self.tparams
        if kinds[self.i] == "<":
            self.tparams = {**saved, **{param: _ANY for param, _ in self.typeparams()}}
        open_index = self.i
        self.expect("(")
        params = []
        variadic = "nil"
        if kinds[self.i] != ")":
            while True:
                if kinds[self.i] == "...":
                    self.i += 1
                    variadic = self.colon_type()
                    break
                self.take_name()
                params.append(self.colon_type())
                if kinds[self.i] != ",":
                    break
                self.i += 1
        self.close(")", "(", open_index)
        results: list[str] = []
        if kinds[self.i] == ":":
            self.i += 1
            results = self.returns(True)
        self.tparams = saved
        return f'{{"{name}", {_func(params, results, variadic)}}}'

    def colon_type(self) -> str:
        """An optional `: type` of a method parameter (any when absent)."""
        if self.kinds[self.i] != ":":
            return _ANY
        self.i += 1
        return self.type_()

    def define_type(self, name: str, ctor: str, start: int, mark: int) -> None:
        """Replace the statement at `start..` (just parsed; its edits from `mark` on are
        dropped) by `Name = __wt.named(...)` on its first line; its other lines become blank."""
        del self.edits[mark:]
        self.needs_types = True
        value = f'__wt.named("{name}", {ctor})'
        if self.depth == 0:
            self.type_names[name] = None
            text = f"{name} = {value}"
        elif _ref(name) in ctor:  # recursive: the local must exist inside its own thunks
            text = f"local {name}; {name} = {value}"
        else:
            text = f"local {name} = {value}"
        if self.kinds[self.i] == "(":
            text += ";"  # `(` on the next line would continue the call
        end = self.ends[self.i - 1]
        region = self.src[start:end]
        first = _LINE_BREAK_RE.search(region)
        head = len(region) if first is None else first.start()
        padding = " " * max(0, head - len(text))
        self.edits.append((start, end, text + padding + _blank(region[head:])))
        if self.depth:
            self.declare(name, None)

    def typeparams(self) -> list[tuple[str, str | None]]:
        """`<T, U: C>`; constraints are read with the enclosing type parameters."""
        self.i += 1
        params: list[tuple[str, str | None]] = []
        kinds = self.kinds
        while True:
            name = self.take_name()
            constraint = None
            if kinds[self.i] == ":":
                self.i += 1
                constraint = self.type_()
            params.append((name, constraint))
            if kinds[self.i] != ",":
                break
            self.i += 1
        self.close_angle()
        return params

    # -- expressions -------------------------------------------------------------------------------

    def explist(self) -> None:
        self.expr(0)
        kinds = self.kinds
        while kinds[self.i] == ",":
            self.i += 1
            self.expr(0)

    def expr(self, limit: int) -> int:
        kinds = self.kinds
        if kinds[self.i] in _UNARY:
            self.i += 1
            self.expr(_UNARY_PRIORITY)
            kind = _OTHER
        else:
            kind = self.simpleexp()
        binary = _BINARY
        while True:
            priority = binary.get(kinds[self.i])
            if priority is None or priority[0] <= limit:
                return kind
            self.i += 1
            self.expr(priority[1])
            kind = _OTHER

    def simpleexp(self) -> int:
        kinds = self.kinds
        first = self.i
        kind = kinds[first]
        if kind in ("number", "string", "nil", "true", "false"):
            self.i += 1
            result = _OTHER
        elif kind == "...":
            self.i += 1
            result = _VARARG
        elif kind == "{":
            self.table()
            result = _OTHER
        elif kind == "function":
            self.i += 1
            self.funcbody(False, first)
            result = _OTHER
        else:
            result = self.suffixedexp()
        kind = kinds[self.i]
        if kind == "::" or kind == "!" or (kind == "name" and self.vals[self.i] == "as"):
            result = self.casts(first, result)
        return result

    def casts(self, first: int, kind: int) -> int:
        """Postfix `as T`, `:: T`, `!` (tightest binding): erased; a call or `...` operand is
        parenthesised so it still yields one value."""
        kinds = self.kinds
        starts, ends = self.starts, self.ends
        while True:
            i = self.i
            token = kinds[i]
            if token == "!":
                self.i += 1
                drop = 1
            elif token == "::" or (
                token == "name" and self.vals[i] == "as" and kinds[i + 1] in _TYPE_START
            ):
                self.i += 1
                if kinds[self.i] not in _TYPE_START:
                    raise self.error("expected a type after '::'", self.i)
                mark = len(self.edits)
                self.type_(union=False)
                del self.edits[mark:]
                drop = 2
            else:
                if token == "(":  # the expression ends at the cast: Lua must not call it
                    end = ends[i - 1]
                    self.edits.append((end, end, ";"))
                return kind
            start, end = starts[i], ends[self.i - 1]
            if kind in (_CALL, _VARARG):
                operand_start, operand_end = starts[first], ends[i - 1]
                self.edits.append((operand_start, operand_start, "("))
                blank = _blank(self.src[start + drop : end])
                if operand_end == start:
                    self.edits.append((start, end, ")" + blank))
                else:
                    self.edits.append((operand_end, operand_end, ")"))
                    self.edits.append((start, end, blank))
            else:
                self.erase(start, end)
            kind = _OTHER

    def suffixedexp(self) -> int:
        kinds = self.kinds
        i = self.i
        token = kinds[i]
        if token == "name":
            name = self.vals[i]
            self.i = i + 1
            if name in self.active:
                kind = _LOCAL
            else:
                kind = _GLOBAL
                self.global_read(name, i)
        elif token == "(":
            self.i = i + 1
            self.expr(0)
            self.close(")", "(", i)
            kind = _OTHER
        else:
            raise self.error("unexpected symbol", i)
        while True:
            token = kinds[self.i]
            if token == ".":
                self.i += 1
                self.take_name()
                kind = _INDEX
            elif token == "[":
                self.i += 1
                self.expr(0)
                self.expect("]")
                kind = _INDEX
            elif token == ":":
                self.i += 1
                self.take_name()
                self.args()
                kind = _CALL
            elif token == "(" or token == "string" or token == "{":
                self.args()
                kind = _CALL
            elif token == "::" and kinds[self.i + 1] == "<":  # explicit type arguments f::<T>()
                start = self.starts[self.i]
                self.i += 1
                self.type_args()
                self.erase(start, self.ends[self.i - 1])
                if kinds[self.i] not in ("(", "string", "{"):
                    raise self.error("expected arguments after type arguments", self.i)
            else:
                return kind

    def global_read(self, name: str, i: int) -> None:
        kinds = self.kinds
        self.reads.append((name, self.starts[i]))
        j = i + 1
        path = name
        while kinds[j] == "." and kinds[j + 1] == "name":
            path += "." + self.vals[j + 1]
            j += 2
        if j > i + 1:
            self.fields.append((path, self.starts[i]))
        if name in _TYPE_GLOBALS or (name == "string" and kinds[i + 1] in ("(", ":")):
            self.needs_types = True
        elif name == "typeof":
            raise self.error("'typeof' is only valid in a type", i)
        elif name == "require":
            if kinds[i + 1] == "string":
                literal = i + 1
            elif kinds[i + 1] == "(" and kinds[i + 2] == "string" and kinds[i + 3] == ")":
                literal = i + 2
            else:
                return
            required = (_string_value(self.vals[literal]), self.starts[i])
            self.requires.append(required)
            if self.depth == 0:
                self.top_requires.append(required)

    def args(self) -> None:
        kinds = self.kinds
        token = kinds[self.i]
        if token == "string":
            self.i += 1
        elif token == "{":
            self.table()
        elif token == "(":
            open_index = self.i
            self.i += 1
            if kinds[self.i] != ")":
                self.explist()
            self.close(")", "(", open_index)
        else:
            raise self.error("expected function arguments", self.i)

    def table(self) -> None:
        kinds = self.kinds
        open_index = self.i
        self.i += 1
        while kinds[self.i] != "}":
            token = kinds[self.i]
            if token == "[":
                self.i += 1
                self.expr(0)
                self.expect("]")
                self.expect("=")
                self.expr(0)
            elif token == "name" and kinds[self.i + 1] == "=":
                self.i += 2
                self.expr(0)
            else:
                self.expr(0)
            if kinds[self.i] not in (",", ";"):
                break
            self.i += 1
        self.close("}", "{", open_index)

    # -- types -------------------------------------------------------------------------------------

    def type_(self, union: bool = True, first: str | None = None) -> str:
        """A type expression and its constructor (`first`: its primary, already read). Casts
        pass union=False: `x as T | y` is a bitwise or."""
        result = self.simple(True) if first is None else self.postfix(first, True)
        kinds = self.kinds
        token = kinds[self.i]
        if token == "name" and self.vals[self.i] == "extends":  # conditional type
            self.i += 1
            self.simple(False)
            self.expect("?")
            self.type_()
            self.expect(":")
            self.type_()
            return _ANY
        if union and (token == "|" or token == "&"):
            op = token
            members = [result]
            while kinds[self.i] in ("|", "&"):
                token = kinds[self.i]
                self.i += 1
                member = self.simple(True)
                if token == op:
                    members.append(member)
                else:
                    members = [_combine(op, members), member]
                    op = token
            result = _combine(op, members)
        return result

    def returns(self, bare_list: bool) -> list[str]:
        """Result types: `T`, `()`, `(A, B, ...)`; after a parameter list also `A, B`."""
        kinds = self.kinds
        if kinds[self.i] == "(":
            group = self.paren_type()
            if isinstance(group, list):
                return group
            results = [self.type_(True, group)]
        else:
            results = [self.type_()]
        if bare_list:
            while kinds[self.i] == "," and not (
                kinds[self.i + 1] == "name" and kinds[self.i + 2] in (":", "?:")
            ):
                self.i += 1
                results.append(self.type_())
        return results

    def simple(self, optional: bool) -> str:
        if self.kinds[self.i] != "(":
            return self.postfix(self.primary(), optional)
        open_index = self.i
        group = self.paren_type()
        if isinstance(group, list):
            raise self.error("a list of types is only valid as function results", open_index)
        return self.postfix(group, optional)

    def postfix(self, result: str, optional: bool) -> str:
        """`T?`, `T @v(...)`, `T[]`, `T[K]` after a primary type."""
        kinds = self.kinds
        while True:
            token = kinds[self.i]
            if token == "?" and optional:
                self.i += 1
                result = f"__wt.opt({result})"
            elif token == "@":
                result = self.validators(result)
            elif token == "[":
                self.i += 1
                if kinds[self.i] == "]":
                    self.i += 1
                    result = f"__wt.array({result})"
                else:  # indexed access T[K]
                    self.type_()
                    self.expect("]")
                    result = _ANY
            else:
                return result

    def validators(self, inner: str) -> str:
        kinds = self.kinds
        items = []
        while kinds[self.i] == "@":
            self.i += 1
            parts = [f'"{self.take_name()}"']
            if kinds[self.i] == "(":
                open_index = self.i
                self.i += 1
                if kinds[self.i] != ")":
                    while True:
                        first = self.i
                        self.expr(0)
                        parts.append(self.source_text(first, self.i))
                        if kinds[self.i] != ",":
                            break
                        self.i += 1
                self.close(")", "(", open_index)
            items.append(f"{{{', '.join(parts)}}}")
        return f"__wt.ann({inner}, {{{', '.join(items)}}})"

    def source_text(self, first: int, stop: int) -> str:
        """Tokens first..stop-1 as one line of Lua."""
        text = self.src[self.starts[first] : self.ends[stop - 1]]
        if "\n" not in text and "\r" not in text:
            return text
        return " ".join(_one_line(self.vals[j]) for j in range(first, stop))

    def primary(self) -> str:
        kinds = self.kinds
        i = self.i
        token = kinds[i]
        if token == "name":
            word = self.vals[i]
            after = kinds[i + 1]
            if after == "(":
                if word == "fun":
                    return self.fun_type()
                if word == "typeof":
                    return self.typeof()
                if word == "keyof":
                    self.i += 1
                    self.paren_type()
                    return _ANY
            elif after == "{" and (word == "readonly" or word == "interface"):
                self.i += 1
                return self.table_type(word == "readonly")
            elif after == "name" and word == "asserts":
                self.i += 2
                if kinds[self.i] == "name" and self.vals[self.i] == "is":
                    self.i += 1
                    self.type_()
                return _ANY
            self.i = i + 1
            if kinds[self.i] == "." and kinds[self.i + 1] == "name":
                parts = [word]
                while kinds[self.i] == "." and kinds[self.i + 1] == "name":
                    parts.append(self.vals[self.i + 1])
                    self.i += 2
                result = _ref(".".join(parts))
            else:
                result = self.tparams.get(word) or _PRIMITIVES.get(word) or _ref(word)
            if kinds[self.i] == "<":
                result = f"__wt.inst({result}, {{{', '.join(self.type_args())}}})"
            return result
        if token == "string" or token == "number":
            self.i += 1
            return f"__wt.lit({_one_line(self.vals[i])})"
        if token == "true" or token == "false":
            self.i += 1
            return f"__wt.lit({token})"
        if token == "nil":
            self.i += 1
            return "__wt.nil_"
        if token == "{":
            return self.table_type(False)
        raise self.error("expected a type", i)

    def type_args(self) -> list[str]:
        self.i += 1  # '<'
        args = [self.type_()]
        while self.kinds[self.i] == ",":
            self.i += 1
            args.append(self.type_())
        self.close_angle()
        return args

    def table_type(self, readonly: bool) -> str:
        kinds = self.kinds
        open_index = self.i
        self.i += 1
        flag = ", true" if readonly else ""
        token = kinds[self.i]
        if token == "}":
            self.i += 1
            return f"__wt.record({{}}{flag})"
        if token == "[":
            self.i += 1
            key = self.type_()
            self.expect("]")
            self.expect(":")
            value = self.type_()
            self.close("}", "{", open_index)
            return f"__wt.map({key}, {value}{flag})"
        if token == "name" and kinds[self.i + 1] in (":", "?:"):
            fields = [self.field()]
            while kinds[self.i] in (",", ";") and kinds[self.i + 1] != "}":
                self.i += 1
                fields.append(self.field())
            if kinds[self.i] in (",", ";"):
                self.i += 1
            self.close("}", "{", open_index)
            return f"__wt.record({{{', '.join(fields)}}}{flag})"
        element = self.type_()
        self.close("}", "{", open_index)
        return f"__wt.array({element}{flag})"

    def field(self) -> str:
        name = self.take_name()
        token = self.kinds[self.i]
        if token == ":":
            self.i += 1
            return f'{{"{name}", {self.type_()}}}'
        if token == "?:":
            self.i += 1
            return f'{{"{name}", {self.type_()}, true}}'
        raise self.error("expected ':' or '?:' after the field name", self.i)

    def paren_type(self) -> str | list[str]:
        """`(P...) -> R`, `(T)`, or a list `()` / `(A, B, ...)` (valid as results only)."""
        open_index = self.i
        params, variadic, named = self.fparams()
        if self.kinds[self.i] == "->":
            self.i += 1
            return _func(params, self.returns(False), variadic)
        if named:
            raise self.error("expected '->' after the parameter types", self.i)
        if len(params) == 1:
            return params[0]
        if not params and self.kinds[self.i] in _TYPE_START:
            raise self.error("expected a type", open_index + 1)
        return params

    def fun_type(self) -> str:
        self.i += 1  # 'fun'
        params, variadic, _ = self.fparams()
        results: list[str] = []
        if self.kinds[self.i] == ":":
            self.i += 1
            results = self.returns(False)
        return _func(params, results, variadic)

    def fparams(self) -> tuple[list[str], str, bool]:
        """`(` [name ':'] type, ... [`...` type] `)` of a function type: the parameter types,
        the variadic type (`nil` when none) and whether it can only be a parameter list (a
        name or `...`)."""
        kinds = self.kinds
        open_index = self.i
        self.i += 1
        params = []
        variadic = "nil"
        named = False
        if kinds[self.i] != ")":
            while True:
                token = kinds[self.i]
                if token == "...":
                    self.i += 1
                    if kinds[self.i] == ":":
                        self.i += 1
                    variadic = self.type_() if kinds[self.i] in _TYPE_START else _ANY
                    break
                if token == "name" and kinds[self.i + 1] == ":":
                    self.i += 2
                    named = True
                params.append(self.type_())
                if kinds[self.i] != ",":
                    break
                self.i += 1
        self.close(")", "(", open_index)
        return params, variadic, named or variadic != "nil"

    def typeof(self) -> str:
        """`typeof(x)`: the annotation of the local `x` in scope, else any."""
        self.i += 1
        open_index = self.i
        self.i += 1
        kinds = self.kinds
        result = _ANY
        if kinds[self.i] == "name" and kinds[self.i + 1] == ")":
            stack = self.active.get(self.vals[self.i])
            if stack and stack[-1] is not None:
                result = stack[-1]
        self.expr(0)
        self.close(")", "(", open_index)
        return result


def _combine(op: str, members: list[str]) -> str:
    return f"__wt.{'union' if op == '|' else 'inter'}({{{', '.join(members)}}})"


def _func(params: list[str], results: list[str], variadic: str) -> str:
    return f"__wt.func({{{', '.join(params)}}}, {{{', '.join(results)}}}, {variadic})"


def _generic(params: list[tuple[str, str | None]], body: str) -> str:
    if not params:
        return body
    names = ", ".join(f'"{name}"' for name, _ in params)
    args = ", ".join(name for name, _ in params)
    constraints = ", ".join(f"{name} = {c}" for name, c in params if c is not None)
    extra = f", {{{constraints}}}" if constraints else ""
    return f"__wt.generic({{{names}}}, function({args}) return {body} end{extra})"


_STATEMENTS = {
    "name": _Parser.name_stmt,
    "(": _Parser.exprstat,
    "local": _Parser.local_stmt,
    "function": _Parser.function_stmt,
    "if": _Parser.if_stmt,
    "for": _Parser.for_stmt,
    "while": _Parser.while_stmt,
    "do": _Parser.do_stmt,
    "repeat": _Parser.repeat_stmt,
    ";": _Parser.token_stmt,
    "label": _Parser.token_stmt,
    "::": _Parser.colon_label_stmt,
    "break": _Parser.token_stmt,
    "goto": _Parser.goto_stmt,
}
