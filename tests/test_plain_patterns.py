"""The pattern code a learner copies is plain: no instrumentation inside pattern definitions.

Every code cell of every notebook is parsed with ``ast`` (IPython's ``%`` and ``!`` lines are
blanked first). A definition is *pattern code* when it is one of:

- a class defining any of ``__aenter__``, ``__aexit__``, ``__aiter__``, ``__anext__``: an async
  context manager or an async iterator written by hand (``AsyncResource``, ``CountTo``, ``Pool``);
- a function decorated with ``asynccontextmanager`` (``contextlib.asynccontextmanager`` too):
  a manager written as a generator (``managed_resource``, ``transaction``, a pool's ``acquire``);
- an ``async def`` whose own body contains ``yield``: an async generator (``fetch_rows``,
  ``read_lines``). A ``yield`` inside a nested function or class belongs to that one.

These are what a lesson presents as the way to write the pattern, and what an exercise asks the
learner to write, so exercise stubs count as well as lesson cells. Inside them no call may reach
the timeline: ``span``, ``mark`` or ``add_spans`` (bare or as a method, ``tl.mark``), or any name
imported from ``asynclab.timeline`` or ``asynclab.lessons`` (plumbing such as ``traced``), or an
attribute of those modules. The diagrams name phases from the await chain instead
(``AsyncResource.__aenter__ › sleep``); code that drives a pattern may still annotate it from
outside. The list of pattern definitions found is printed (``pytest -s``) and must cover every
section notebook that has patterns, so the test cannot pass by finding none.

Pattern code in the notebooks today (exercise stubs marked *; the test checks this list):

- 01: AsyncCounter, async_range, fetch_pages_new_session_each, fetch_pages, fetch_rows,
  read_messages, read_lines, read_lines_in_chunks, numbers_with_cleanup, CountTo, Countdown*
- 02: async_range, url_generator, page_urls
- 03: AsyncResource, ShowExit, IgnoreErrors, managed_resource, leaky_resource, never_yields,
  yields_twice, AsyncDBConnection, transaction, transaction_catching_exception,
  transaction_committing_in_try, old_timeout, Service, timed*, atomic*, Borrow*, RateLimiter*
- 04: acquire (AsyncPool), acquire (CheckedPool), ClosablePool, acquire (RollbackPool), Pool,
  acquire (Pool), open_stream, stream_lines, borrow*, session_pool*, borrow_healthy*
- 05: ThreeConnections, ThreeConnectionsUndone, numbers_with_a_last_word, slow_numbers,
  ticks_within, TwoConnections*

Code that only *drives* a pattern is not pattern code, and may annotate it from outside: 03's
lock workers (``span("holding the lock")``) and 04's workers (``span(conn.name)``, the
connection a worker holds) do, and ``tl.mark``/``tl.add_spans`` after a block are fine.

The second half runs some of those definitions, taken from the notebooks' cells as they are,
under a ``Timeline`` and checks that the phase labels the lessons' prose names are recorded.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import sqlite3
from dataclasses import dataclass

import aiosqlite
import nbformat
import pytest
from asynclab import Timeline
from asynclab.timeline import Span
from checkout import NOTEBOOKS_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
PROTOCOL_METHODS = {"__aenter__", "__aexit__", "__aiter__", "__anext__"}
TIMELINE_CALLS = {"span", "mark", "add_spans"}
PLUMBING_MODULES = ("asynclab.timeline", "asynclab.lessons")
# Section notebooks that teach patterns; each must show up in the list (00 teaches none).
EXPECTED_NOTEBOOKS = {"01", "02", "03", "04", "05"}


@dataclass
class Pattern:
    notebook: str  # "03"
    cell: int  # index in the notebook's cells
    cell_id: str
    kind: str  # "class", "asynccontextmanager", "async generator"
    name: str
    node: ast.AST
    plumbing: frozenset[str]  # names the cell's module imported from the plumbing modules

    def __str__(self) -> str:
        return f"{self.notebook} cell {self.cell} ({self.cell_id}): {self.kind} {self.name}"


def parse_cell(source: str) -> ast.Module:
    # IPython syntax: blank `%magic` and `!shell` lines (keeping line numbers).
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def _decorator_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _own_body_yields(function: ast.AsyncFunctionDef) -> bool:
    """Whether ``function`` itself (not a function or class nested in it) yields."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return False


def pattern_kind(node: ast.AST) -> str | None:
    if isinstance(node, ast.ClassDef):
        methods = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        return "class" if methods & PROTOCOL_METHODS else None
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if any(_decorator_name(d) == "asynccontextmanager" for d in node.decorator_list):
            return "asynccontextmanager"
        if isinstance(node, ast.AsyncFunctionDef) and _own_body_yields(node):
            return "async generator"
    return None


def plumbing_names(tree: ast.Module) -> set[str]:
    """Names bound by ``from asynclab.timeline import ...``, ``import asynclab.lessons.nb03 as x``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PLUMBING_MODULES):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PLUMBING_MODULES) and alias.asname:
                    names.add(alias.asname)
    return names


def find_patterns() -> list[Pattern]:
    found = []
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        trees = [(n, c, parse_cell(c.source)) for n, c in enumerate(notebook.cells) if c.cell_type == "code"]
        # A name imported in one cell is visible in every later one.
        imported = frozenset().union(*(plumbing_names(tree) for _, _, tree in trees))
        for index, cell, tree in trees:
            for node in ast.walk(tree):
                kind = pattern_kind(node)
                if kind:
                    name = node.name  # type: ignore[attr-defined]
                    found.append(Pattern(path.stem[:2], index, cell.get("id", "?"), kind, name, node, imported))
    return found


def dotted(node: ast.expr) -> str:
    """``asynclab.timeline.span`` for that attribute chain; ``""`` when it is not one."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def instrumentation_in(pattern: Pattern) -> list[str]:
    """The calls and names in the definition that reach the timeline or the lessons' plumbing."""
    found = []
    for node in ast.walk(pattern.node):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in TIMELINE_CALLS:
                found.append(f"line {node.lineno}: {ast.unparse(func)}(...)")
        elif isinstance(node, ast.Name) and node.id in pattern.plumbing:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and dotted(node).startswith(PLUMBING_MODULES):
            found.append(f"line {node.lineno}: {dotted(node)}")
    return sorted(set(found))


PATTERNS = find_patterns()


def test_the_notebooks_pattern_code_is_found_in_every_section_notebook():
    print("\nPattern definitions (notebook, cell, name):")
    for pattern in PATTERNS:
        print(" ", pattern)
    assert len(PATTERNS) >= 40, f"only {len(PATTERNS)} pattern definitions found: is the parsing broken?"
    assert {p.notebook for p in PATTERNS} >= EXPECTED_NOTEBOOKS
    kinds = {p.kind for p in PATTERNS}
    assert kinds == {"class", "asynccontextmanager", "async generator"}, kinds


def test_the_docstring_lists_the_pattern_code_found():
    listed: dict[str, list[str]] = {}
    lines = (__doc__ or "").split("Pattern code in the notebooks today")[1].split("\n\n")[1]
    for item in re.split(r"\n- ", "\n" + lines.strip()):
        if item.strip():
            notebook, _, names = item.strip().lstrip("- ").partition(": ")
            listed[notebook] = [re.sub(r"\s*\(.*?\)|\*", "", n).strip() for n in " ".join(names.split()).split(", ")]
    found: dict[str, list[str]] = {}
    for pattern in PATTERNS:
        found.setdefault(pattern.notebook, []).append(pattern.name)
    assert listed == found


def test_no_pattern_definition_calls_the_timeline():
    offenders = {str(p): calls for p in PATTERNS if (calls := instrumentation_in(p))}
    assert not offenders, "instrumentation inside pattern code:\n" + "\n".join(
        f"{where}: {', '.join(calls)}" for where, calls in offenders.items()
    )


def test_the_check_finds_instrumentation_where_it_is():
    source = """
from asynclab.timeline import span
from asynclab.lessons.nb03 import traced
import asynclab.timeline

class Managed:
    async def __aenter__(self):
        async with span("setup"):
            return self
    async def __aexit__(self, *exc):
        tl.mark("exit")

@contextlib.asynccontextmanager
async def wrapped(manager):
    async with traced("m", manager) as value:
        yield value

async def rows():
    asynclab.timeline.mark("row")
    yield 1

async def plain_driver(tl):
    async with span("outside"):       # annotating from outside: not pattern code
        async def nested():
            yield 1                    # nested's yield, not plain_driver's
        tl.add_spans([], lane="server")

class Plain:
    def __aiter__(self):
        return self
    async def __anext__(self):
        raise StopAsyncIteration
"""
    tree = parse_cell(source)
    names = frozenset(plumbing_names(tree))
    patterns = [
        Pattern("xx", 0, "x", kind, node.name, node, names)  # type: ignore[attr-defined]
        for node in ast.walk(tree)
        if (kind := pattern_kind(node))
    ]
    found = {p.name: instrumentation_in(p) for p in patterns}
    assert set(found) == {"Managed", "wrapped", "rows", "nested", "Plain"}
    assert found["Managed"] == ["line 11: tl.mark(...)", "line 8: span", "line 8: span(...)"]
    assert found["wrapped"] == ["line 15: traced"]
    assert found["rows"] == [
        "line 19: asynclab.timeline",
        "line 19: asynclab.timeline.mark",
        "line 19: asynclab.timeline.mark(...)",
    ]
    assert found["nested"] == [] and found["Plain"] == []


# -- the phases the lessons' diagrams name, recorded from the notebooks' own definitions --------


def definition_source(notebook: str, name: str) -> str:
    """The notebook's code for the pattern ``name``, as the learner reads it."""
    for pattern in PATTERNS:
        if pattern.notebook == notebook and pattern.name == name:
            return ast.unparse(pattern.node)
    raise LookupError(f"no pattern {name!r} in notebook {notebook}")


def load(notebook: str, *names: str) -> dict:
    namespace: dict = {"asyncio": asyncio, "asynccontextmanager": contextlib.asynccontextmanager}
    for name in names:
        exec(definition_source(notebook, name), namespace)
    return namespace


def phase_bands(tl: Timeline) -> list[tuple[str, str]]:
    return [(s.kind, s.label) for s in sorted(tl.spans, key=lambda s: s.start) if s.kind in ("setup", "cleanup")]


def wait_labels(tl: Timeline) -> list[str]:
    return [s.label for s in tl.spans if s.kind == "waiting"]


def test_03_async_resource_and_managed_resource_draw_their_setup_and_cleanup():
    code = load("03", "AsyncResource", "managed_resource")

    async def main():
        async with Timeline(show=False) as by_class:
            async with code["AsyncResource"]("resource") as resource:
                await resource.do_work(0.02)
        async with Timeline(show=False) as by_generator:
            async with code["managed_resource"]("database"):
                await asyncio.sleep(0.02)
        return by_class, by_generator

    with contextlib.redirect_stdout(None):
        by_class, by_generator = asyncio.run(main())
    assert phase_bands(by_class) == [("setup", "AsyncResource.__aenter__"), ("cleanup", "AsyncResource.__aexit__")]
    assert {"AsyncResource.__aenter__ › sleep", "AsyncResource.__aexit__ › sleep", "sleep"} <= set(
        wait_labels(by_class)
    )
    assert phase_bands(by_generator) == [("setup", "managed_resource: setup"), ("cleanup", "managed_resource: cleanup")]


def test_03_transaction_draws_begin_as_setup_and_rollback_as_cleanup(tmp_path):
    code = load("03", "transaction")
    from asynclab.lessons.nb03 import statements_run

    async def main():
        async with aiosqlite.connect(tmp_path / "t.sqlite3", isolation_level=None) as db:
            await db.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER CHECK (balance >= 0))")
            await db.executemany("INSERT INTO accounts VALUES (?, ?)", [(1, 0), (2, 50)])

            async def transfer():
                async with code["transaction"](db):
                    await db.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (500, 1))
                    await db.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (500, 2))

            async with Timeline(show=False) as tl:
                with statements_run(db) as statements:
                    with pytest.raises(sqlite3.IntegrityError):
                        await tl.run(transfer(), name="transfer")
                tl.add_spans(statements, lane="database")
            async with db.execute("SELECT balance FROM accounts ORDER BY id") as cursor:
                balances = [b for (b,) in await cursor.fetchall()]
            return tl, balances

    tl, balances = asyncio.run(main())
    assert balances == [0, 50]  # rolled back
    assert phase_bands(tl) == [("setup", "transaction: setup"), ("cleanup", "transaction: cleanup")]
    assert [s.label.split()[0] for s in sorted(tl.spans, key=lambda s: s.start) if s.lane == "database"] == [
        "BEGIN",
        "UPDATE",
        "IntegrityError:",
        "ROLLBACK",
    ]
    transfer = next(t for t in tl.tasks if t.name == "transfer")
    assert transfer.outcome == "exception" and "IntegrityError" in (transfer.exception or "")


def test_01_fetch_rows_waits_are_labelled_with_the_generator(monkeypatch):
    import asynclab

    code = load("01", "fetch_rows")
    code["asynclab"] = asynclab

    async def main():
        async def count(batch_size):
            return sum([1 async for _ in code["fetch_rows"]("SELECT * FROM users", batch_size)])

        async with Timeline(show=False) as tl:
            rows = await tl.run(count(250), name="count")
        return tl, rows

    tl, rows = asyncio.run(main())
    assert rows == 1000
    fetches = [label for label in wait_labels(tl) if label == "anext(fetch_rows) › Cursor.fetchmany"]
    assert len(fetches) == 5, wait_labels(tl)  # four batches of 250, then an empty one
    assert any(isinstance(s, Span) and s.kind == "iteration" and s.label == "anext(fetch_rows)" for s in tl.spans)


def test_definitions_are_read_from_the_notebooks_not_copied():
    # The source the tests above run is the notebook's own: no span() left in it either.
    for notebook, name in [("03", "AsyncResource"), ("03", "managed_resource"), ("03", "transaction")]:
        assert not re.search(r"\b(span|mark)\(", definition_source(notebook, name))
