"""Turn what the learner's code is, or did, into one sentence in the learner's terms.

Pure functions, no event loop needed:

- ``shape_problem``: is the answer the right *kind* of thing (``async def``, async generator,
  async context manager, async iterable) before anything runs?
- ``is_stub``: is it still the stub the notebook shipped (``...``, ``pass``, ``raise NotImplementedError``)?
- ``awaitables_in`` / ``forgotten_await_message`` / ``discard``: coroutines or tasks handed back
  instead of results (a forgotten ``await``), described and then closed so no warning leaks.
- ``describe_exception``: one line for an exception raised by the learner's code: its type, its
  message, the line of *their* code it came from, and advice for the usual async mistakes.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import linecache
import re
import sysconfig
import textwrap
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent.parent  # notebooks/asynclab

# The kinds an exercise can declare with ``Exercise(expects=...)``.
ASYNC_FUNCTION = "async function"
ASYNC_GENERATOR = "async generator"
ASYNC_CONTEXT_MANAGER = "async context manager"
ASYNC_ITERABLE = "async iterable"
KINDS = (ASYNC_FUNCTION, ASYNC_GENERATOR, ASYNC_CONTEXT_MANAGER, ASYNC_ITERABLE)


# --- where code comes from ----------------------------------------------------------------------

_LIBRARY_DIRS = tuple(
    {
        str(Path(p).resolve())
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(key))
    }
)


def is_learner_file(filename: str) -> bool:
    """True for code the learner wrote: a notebook cell, a test file, a script; not asynclab, not a library."""
    if filename.startswith("<"):
        return filename.startswith("<ipython-input")  # terminal IPython; Jupyter cells are real files
    path = str(Path(filename).resolve())
    if path.startswith(str(PACKAGE_DIR)):
        return False
    return not any(path.startswith(d) for d in _LIBRARY_DIRS)


def code_at(filename: str, lineno: int) -> str:
    """``line 4: `x = 1 / 0` ``, or just ``line 4`` when the source is not available."""
    text = linecache.getline(filename, lineno).strip()
    return f"line {lineno}: `{text}`" if text else f"line {lineno}"


def learner_location(exc: BaseException) -> str:
    """The innermost line of the learner's own code in the exception's traceback, or ''."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_learner_file(f.filename)]
    return code_at(frames[-1].filename, frames[-1].lineno or 0) if frames else ""


# --- exceptions ---------------------------------------------------------------------------------

# Frequent async mistakes, recognised from the exception they cause: (type, pattern, advice).
# The advice may use {0}, {1}, ... for the pattern's groups.
KNOWN_ERRORS = [
    (NotImplementedError, r"", "the exercise stub is still there"),
    (
        TypeError,
        r"'async for' requires an object with __aiter__ method, got (\w+)",
        "`async for` only works on async iterables; a {0} is a regular iterable, so use a plain `for`",
    ),
    (
        TypeError,
        r"'async_generator' object is not iterable",
        "an async generator must be consumed with `async for`, not `for`",
    ),
    (TypeError, r"'coroutine' object", "a coroutine was used as if it were its result: is an `await` missing?"),
    (
        TypeError,
        r"object (\w+) can't be used in 'await' expression",
        "`await` only works on coroutines, tasks and futures, not on a {0}: "
        "is the function you awaited defined with plain `def`?",
    ),
    (
        TypeError,
        r"does not support the asynchronous context manager protocol",
        "`async with` needs an object with `async def __aenter__` and `async def __aexit__` "
        "(or a function decorated with `@contextlib.asynccontextmanager`)",
    ),
    (
        TypeError,
        r"does not support the context manager protocol",
        "this is an async context manager: use `async with`, not `with`",
    ),
    (
        AttributeError,
        r"'coroutine' object has no attribute",
        "a coroutine was used as if it were its result: is an `await` missing?",
    ),
    (
        RuntimeError,
        r"(async generator|coroutine) raised StopIteration",
        "to end an async iterator `raise StopAsyncIteration` (in an async generator, just `return`)",
    ),
    (
        RuntimeError,
        r"async generator ignored GeneratorExit",
        "when the consumer stops early the generator must stop too: do not `yield` again "
        "after catching GeneratorExit (do the cleanup in `finally` and let it end)",
    ),
    (
        RuntimeError,
        r"asynchronous generator is already running",
        "the same async generator was advanced by two consumers at once",
    ),
    (
        RuntimeError,
        r"Session is closed",
        "the ClientSession was used after its `async with` block ended: keep the requests "
        "(and the tasks running them) inside the block",
    ),
    (
        TypeError,
        r"\w+\(\) (takes|missing) .*argument",
        "check the parameters in its `def` line against the exercise's description",
    ),
    (NameError, r"name '(\w+)' is not defined", "did you run the cell that defines or imports `{0}`?"),
]


def advice_for(exc: BaseException) -> str:
    for kind, pattern, advice in KNOWN_ERRORS:
        if isinstance(exc, kind):
            match = re.search(pattern, str(exc))
            if match:
                return advice.format(*match.groups())
    return ""


def first_leaf(exc: BaseException) -> tuple[BaseException, int]:
    """The first real exception inside (nested) exception groups, and how many there are in all."""
    if not isinstance(exc, BaseExceptionGroup):
        return exc, 1
    leaves = []

    def walk(group):
        for e in group.exceptions:
            walk(e) if isinstance(e, BaseExceptionGroup) else leaves.append(e)

    walk(exc)
    return (leaves[0], len(leaves)) if leaves else (exc, 1)


def describe_exception(exc: BaseException, doing: str) -> str:
    """``"`f(1)` raised ValueError: bad value (line 3: `raise ValueError('bad value')`)."``"""
    leaf, count = first_leaf(exc)
    text = str(leaf).strip().splitlines()[0] if str(leaf).strip() else ""
    if len(text) > 160:
        text = text[:157] + "..."
    message = f"{doing} raised {type(leaf).__name__}" + (f": {text}" if text else "")
    if leaf is not exc:  # from a TaskGroup: the error happened in one of its tasks
        message += " in one of its tasks" + (f", and {count - 1} more failed too" if count > 1 else "")
    location = learner_location(leaf) or learner_location(exc)
    if location:
        message += f" ({location})"
    advice = advice_for(leaf)
    if not advice:
        return message + "."
    return f"{message}. Hint: {advice}" + ("" if advice.endswith("?") else ".")


# --- the kind of thing the answer is --------------------------------------------------------------


def _kind_of(obj) -> str:
    if inspect.isasyncgenfunction(obj):
        return "an async generator function"
    if inspect.iscoroutinefunction(obj):
        return "an `async def` function"
    if inspect.isgeneratorfunction(obj):
        return "a regular generator function"
    if inspect.isclass(obj):
        return "a class"
    if callable(obj):
        return "a regular function"
    return f"a {type(obj).__name__}"


def context_manager_class_problem(cls, name: str) -> str | None:
    has = {attr: hasattr(cls, attr) for attr in ("__aenter__", "__aexit__", "__enter__")}
    if not has["__aenter__"] and has["__enter__"]:
        return (
            f"`{name}` is a regular context manager (for `with`); an async one needs "
            f"`async def __aenter__` and `async def __aexit__`"
        )
    for method in ("__aenter__", "__aexit__"):
        if not has[method]:
            return f"`{name}` has no `{method}` method; `async with` needs `async def {method}(...)`"
        if not inspect.iscoroutinefunction(getattr(cls, method)):
            return f"`{name}.{method}` is a regular method; define it with `async def {method}(...)`"
    return None


def async_iterable_class_problem(cls, name: str) -> str | None:
    if not hasattr(cls, "__aiter__"):
        if hasattr(cls, "__iter__"):
            return (
                f"`{name}` is a regular iterable (it has `__iter__`); `async for` needs "
                f"`def __aiter__(self)` and `async def __anext__(self)`"
            )
        return f"`{name}` has no `__aiter__` method; `async for` needs `def __aiter__(self): return self`"
    if inspect.iscoroutinefunction(cls.__aiter__):
        return f"`{name}.__aiter__` must be a plain `def` that returns the iterator (usually `self`), not `async def`"
    if hasattr(cls, "__anext__") and not inspect.iscoroutinefunction(cls.__anext__):
        return f"`{name}.__anext__` is a regular method; define it with `async def __anext__(self)`"
    return None


def _is_class(answer, target) -> bool:
    return inspect.isclass(answer)


def _is_generator_function(answer, target) -> bool:
    return inspect.isgeneratorfunction(target)


# For each kind an exercise expects, how an answer can be the wrong kind: rows of (test, problem),
# tried in order; the first whose test holds decides. A test gets the answer and its target (the
# function under any decorators; a class is its own). A problem is a message (``{name}`` is the
# answer's name) or a function ``(answer, name) -> message, or None when it fits``.
_ShapeRow = tuple[Callable[[Any, Any], bool], str | Callable[[Any, str], str | None]]
_SHAPE_PROBLEMS: dict[str, list[_ShapeRow]] = {
    ASYNC_FUNCTION: [
        (
            lambda answer, target: inspect.isasyncgenfunction(target),
            "`{name}` is an async generator (it contains `yield`); it should `return` its result instead of "
            "yielding it",
        ),
        (
            _is_generator_function,
            "`{name}` is a regular generator function; define it with `async def` and `return` the result",
        ),
        (
            lambda answer, target: not inspect.iscoroutinefunction(answer) and not inspect.isclass(answer),
            "`{name}` is a regular function; define it with `async def`",
        ),
    ],
    ASYNC_GENERATOR: [
        (
            _is_generator_function,
            "`{name}` is a regular generator (`def` with `yield`); define it with `async def` so it can "
            "`await` and be used with `async for`",
        ),
        (
            lambda answer, target: (
                not (
                    inspect.iscoroutinefunction(answer) or inspect.isasyncgenfunction(answer) or inspect.isclass(answer)
                )
            ),
            "`{name}` is a regular function; define it with `async def` and `yield` each item so `async for` "
            "can use it",
        ),
    ],
    ASYNC_CONTEXT_MANAGER: [
        (_is_class, context_manager_class_problem),
        (
            lambda answer, target: inspect.isasyncgenfunction(target) and target is answer,
            "`{name}` is an async generator function; put `@contextlib.asynccontextmanager` above it so "
            "`async with` can use it",
        ),
        (
            _is_generator_function,
            "`{name}` is a regular generator function; write it as `async def` with "
            "`@contextlib.asynccontextmanager` above it",
        ),
        (
            lambda answer, target: inspect.iscoroutinefunction(answer),
            "`{name}()` returns a coroutine, but `async with` needs an async context manager: write an async "
            "generator with one `yield` and decorate it with `@contextlib.asynccontextmanager`, or a class "
            "with `async def __aenter__`/`__aexit__`",
        ),
        # A plain function may return a context manager: checked when it is called.
    ],
    ASYNC_ITERABLE: [
        (_is_class, async_iterable_class_problem),
        (
            _is_generator_function,
            "`{name}` is a regular generator; define it with `async def` so `async for` can use it",
        ),
    ],
}


def shape_problem(answer, expects: str | None, name: str) -> str | None:
    """What is wrong with the answer's kind for ``expects`` (one of ``KINDS``), or None if it fits.

    Only what can be seen without running anything. An ``async def`` without ``yield`` where an
    async generator is expected passes here: ``Trial.collect`` runs it and tells a returned list
    apart from a plain coroutine.
    """
    if expects is None:
        return None
    if inspect.iscoroutine(answer):
        answer.close()  # nobody will await it: closing keeps "never awaited" warnings away
        return (
            f"`{name}` is a coroutine object, not a function: define it with "
            f"`async def {name}(...)` and don't call it in the same cell"
        )
    if not callable(answer):
        return f"`{name}` should be a function or a class, but it is {_kind_of(answer)}"
    if expects not in _SHAPE_PROBLEMS:
        raise ValueError(f"unknown kind {expects!r}; use one of {KINDS}")
    target = inspect.unwrap(answer) if not inspect.isclass(answer) else answer
    for applies, problem in _SHAPE_PROBLEMS[expects]:
        if applies(answer, target):
            return problem.format(name=name) if isinstance(problem, str) else problem(answer, name)
    return None


def iterable_problem(obj, doing: str) -> str | None:
    """What keeps ``async for`` from iterating ``obj``, or None. Used on values at run time."""
    if hasattr(obj, "__aiter__"):
        return None
    if isinstance(obj, (list, tuple, set, dict)):
        return (
            f"{doing} returned a {type(obj).__name__} ({short_repr(obj)}) all at once; "
            f"`async for` needs items handed out one by one: `yield` each item instead"
        )
    if inspect.isgenerator(obj):
        return f"{doing} returned a regular generator; define it with `async def` so `async for` can use it"
    if hasattr(obj, "__iter__"):
        return f"{doing} returned a regular iterable ({type(obj).__name__}); `async for` needs an async iterable"
    return f"{doing} returned {short_repr(obj)}, which `async for` cannot iterate"


# --- stubs --------------------------------------------------------------------------------------


def _is_stub_statement(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr):  # a docstring, `...`, or the bare `yield` that makes a stub async generator
        return isinstance(node.value, ast.Constant) or (isinstance(node.value, ast.Yield) and node.value.value is None)
    if isinstance(node, ast.Return):
        return node.value is None or (isinstance(node.value, ast.Constant) and node.value.value in (None, ...))
    if isinstance(node, ast.Raise) and node.exc is not None:
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def _function_is_stub(fn) -> bool | None:
    """True/False for a function's body, or None when its source is not available."""
    try:
        source = textwrap.dedent(inspect.getsource(inspect.unwrap(fn)))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return None
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return bool(defs) and all(_is_stub_statement(s) for s in defs[0].body)


def is_stub(answer) -> bool:
    """True when the answer is still an unfilled stub (judged from its source, when available)."""
    if inspect.isclass(answer):
        # Judge a class by its own methods: inspect.getsource(cls) fails for classes defined in notebook cells.
        methods = [v for v in vars(answer).values() if inspect.isfunction(v)]
        return not methods or all(_function_is_stub(m) for m in methods)
    if inspect.isfunction(answer) or inspect.isfunction(inspect.unwrap(answer)):
        return bool(_function_is_stub(answer))
    return False


# --- forgotten awaits in values ----------------------------------------------------------------------


def awaitables_in(value) -> list:
    """Coroutines, tasks and futures in ``value`` (itself, or items of a list/tuple/set/dict values)."""

    def pending(v):
        return inspect.iscoroutine(v) or isinstance(v, asyncio.Future)

    if pending(value):
        return [value]
    if isinstance(value, (list, tuple, set)):
        return [v for v in value if pending(v)]
    if isinstance(value, dict):
        return [v for v in value.values() if pending(v)]
    return []


def forgotten_await_message(value, found: list, doing: str) -> str:
    first = found[0]
    if inspect.iscoroutine(first):
        what = f"`{first.__qualname__}(...)`"
        if first is value:
            return (
                f"{doing} gave back a coroutine object ({what}) instead of its result: "
                f"an `await` is missing (e.g. `return await {first.__qualname__}(...)`)"
            )
        return (
            f"{doing} returned a {type(value).__name__} of {len(found)} coroutine objects such as "
            f"{what}: they never ran. `await` them, e.g. `await asyncio.gather(*coroutines)`"
        )
    kind = "Task" if isinstance(first, asyncio.Task) else "Future"
    if first is value:
        return (
            f"{doing} gave back an unfinished {kind} instead of its result: `await` it before "
            f"returning (e.g. `return await asyncio.gather(...)`)"
        )
    return (
        f"{doing} returned a {type(value).__name__} of {len(found)} {kind}s instead of their results: "
        f"`await` them, e.g. `return await asyncio.gather(*tasks)`"
    )


def discard(awaitables: list) -> None:
    """Close coroutines and cancel futures nobody will await, so nothing warns about them later."""
    for a in awaitables:
        if inspect.iscoroutine(a):
            a.close()
        elif isinstance(a, asyncio.Future):
            # cancel() may not stop it (a gather whose tasks already failed finishes a moment
            # later anyway), so its outcome is also collected whenever it comes.
            a.cancel()
            a.add_done_callback(_retrieve_outcome)


def _retrieve_outcome(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved: no "exception was never retrieved" log


# --- small text helpers ---------------------------------------------------------------------------


def short_repr(value, limit: int = 80) -> str:
    try:
        text = repr(value)
    except Exception:  # a learner's __repr__ may itself be broken
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_call(name: str, args: tuple, kwargs: dict) -> str:
    """```async_range(3, 0.25)``` as the learner would write it (long arguments shortened)."""
    parts = [short_repr(a, 30) for a in args] + [f"{k}={short_repr(v, 30)}" for k, v in kwargs.items()]
    return f"`{name}({', '.join(parts)})`"
