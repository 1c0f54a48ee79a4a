"""Naming what a suspended task is waiting for ("sleep", "Lock.acquire", "anext(ticker)", ...).

When a coroutine awaits another, the outer one's ``cr_await`` points at the inner one, down to
the future that asyncio is actually waiting on. The deepest frame of *your* code (a notebook
cell, a lesson module) shows where you awaited; the library frames below it say what you
awaited. We name the wait after the innermost library function with a public name:
``Lock.acquire`` (not ``Lock.__aenter__``), ``Queue.get``, ``sleep``; network waits get plain
names ("connect", "socket read"); an ``async for`` waits on ``anext(<generator>)``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import site
import sysconfig
import types
from collections.abc import Callable
from typing import Any

from . import phases


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key)}
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:  # some virtualenv builds lack it
        pass
    dirs.update({os.path.realpath(d) for d in list(dirs)})
    return tuple(d.rstrip(os.sep) + os.sep for d in dirs)


def _third_party_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("purelib", "platlib") if paths.get(key)}
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:
        pass
    dirs.update({os.path.realpath(d) for d in list(dirs)})
    return tuple(d.rstrip(os.sep) + os.sep for d in dirs)


_LIBRARY_DIRS = _library_dirs()
_THIRD_PARTY_DIRS = _third_party_dirs()
# Objects whose references are not a coroutine they are running (a Future's references are
# its callbacks, which may be methods of anything).
_OPAQUE = (str, bytes, int, float, tuple, list, dict, type(None))
_code_cache: dict[types.CodeType, _Frame] = {}  # code object -> _Frame
# asyncio's own futures (C and pure Python), where every await chain ends; the iterator of a C
# future's __await__ joins them when first met (making one needs an event loop).
_FUTURE_TYPES = {
    asyncio.Future,
    asyncio.Task,
    getattr(asyncio.futures, "_PyFuture", asyncio.Future),
    getattr(asyncio.tasks, "_PyTask", asyncio.Task),
}


# Methods of asyncio's locks and queues that a task waits in: the object is a resource track.
_RESOURCE_MODULES = (
    os.path.join("asyncio", "locks.py"),
    os.path.join("asyncio", "queues.py"),
)
_RESOURCE_METHODS = frozenset({"acquire", "wait", "wait_for", "get", "put", "join"})


class _Frame:
    __slots__ = ("code", "is_library", "is_plumbing", "is_public", "is_resource", "phase", "qualname")

    def __init__(self, code: types.CodeType) -> None:
        self.code = code
        self.qualname = short_name(getattr(code, "co_qualname", code.co_name))
        filename = code.co_filename
        self.is_library = filename.startswith((*_LIBRARY_DIRS, "<frozen"))
        parts = [p for p in self.qualname.split(".") if p != "<locals>"]
        self.is_public = not any(p.startswith("_") and not p.startswith("__") for p in parts)
        # Frames that only pass the future through (pure-Python Future.__await__).
        self.is_plumbing = code.co_name in ("__await__", "__iter__")
        # Lock.acquire, Queue.get, Event.wait, ...: its ``self`` gets a resource track.
        self.is_resource = (
            self.is_library and code.co_name in _RESOURCE_METHODS and filename.endswith(_RESOURCE_MODULES)
        )
        # Where in the learner's code a wait happens (see phases.py): worked out once per code.
        self.phase = phases.phase_of_code(code, self.qualname, self.is_library)


def _frame(code: types.CodeType) -> _Frame:
    frame = _code_cache.get(code)
    if frame is None:
        frame = _code_cache[code] = _Frame(code)
    return frame


def async_generator_of(awaitable: object) -> types.AsyncGeneratorType[Any, Any] | None:
    """The async generator behind an ``asend``/``athrow`` awaitable (they expose no attribute)."""
    for ref in gc.get_referents(awaitable):
        if isinstance(ref, types.AsyncGeneratorType):
            return ref
    return None


def short_name(qualname: str) -> str:
    """``outer.<locals>.ticker`` -> ``ticker``: where a function was defined is noise here."""
    return qualname.rpartition("<locals>.")[2]


def _generator_step_label(awaitable: object, agen: Any = None) -> str:
    if agen is None:
        agen = async_generator_of(awaitable)
    name = short_name(agen.__qualname__) if agen is not None else "async generator"
    verb = "anext" if type(awaitable).__name__ == "async_generator_asend" else "aclose"
    return f"{verb}({name})"


def library_package(coro: object) -> str | None:
    """The installed package a coroutine's code comes from ("aiohttp"), or None for code of
    the standard library, the lessons or a notebook."""
    code = getattr(coro, "cr_code", None)
    filename = getattr(code, "co_filename", "")
    for folder in _THIRD_PARTY_DIRS:
        if filename.startswith(folder):
            return filename[len(folder) :].split(os.sep, 1)[0].removesuffix(".py")
    return None


def coroutine_name(coro: object) -> str:
    """A readable name for what a task runs: ``worker``, ``aclose(ticker)``, ..."""
    name = getattr(coro, "__qualname__", None)
    if isinstance(name, str) and name:
        return short_name(name)
    if type(coro).__name__ in ("async_generator_asend", "async_generator_athrow"):
        return _generator_step_label(coro)
    inner = wrapped_coroutine(coro)  # e.g. aiohttp's session.get(...) object
    if inner is not None:
        return short_name(inner.__qualname__)
    return type(coro).__name__


def _await_chain(coro: object, coroutines: list[Any]) -> list[types.CodeType | str]:
    """Code objects of the coroutines awaiting one another (outermost first); an async
    generator step (which hides its frames) ends the chain as a ready-made label.

    ``coroutines`` gets each item's coroutine, in step (None for other items).
    """
    chain: list[types.CodeType | str] = []
    obj: Any = coro
    for _ in range(200):  # a cycle is impossible, but a bound is cheap insurance
        if obj is None or type(obj) in _FUTURE_TYPES:  # the future at the bottom: nothing below
            break
        code = getattr(obj, "cr_code", None)
        if code is not None:
            chain.append(code)
            coroutines.append(obj)
            obj = obj.cr_await
            continue
        code = getattr(obj, "gi_code", None)  # generator-based coroutines
        if code is not None:
            chain.append(code)
            coroutines.append(None)  # never a Lock's or a Queue's method
            obj = obj.gi_yieldfrom
            continue
        code = getattr(obj, "ag_code", None)  # inside an async generator
        if code is not None:
            chain.append(code)
            coroutines.append(None)
            obj = obj.ag_await
            continue
        if type(obj).__name__ in ("async_generator_asend", "async_generator_athrow"):
            if chain and not _drives_context_manager(chain[-1]):
                # someone waits for the next item: name that, then look inside the generator
                agen = async_generator_of(obj)
                chain.append(_generator_step_label(obj, agen))
                coroutines.append(None)
                obj = agen
                continue
            else:  # the task *is* that step (e.g. aclose() run by the loop), or it is the
                # body of an @asynccontextmanager being entered or left: look inside
                obj = async_generator_of(obj)
                continue
            break
        if type(obj).__name__ == "FutureIter" and type(obj).__module__ == "_asyncio":
            _FUTURE_TYPES.add(type(obj))  # `await future`: the future is all there is below
            break
        # An awaitable object wrapping a coroutine (coroutine.__await__(), aiohttp's
        # request context manager, ...): follow the coroutine it holds, if any.
        obj = wrapped_coroutine(obj)
    return chain


def _drives_context_manager(code: types.CodeType | str) -> bool:
    """``@asynccontextmanager``'s ``__aenter__``/``__aexit__``: what the generator awaits
    (``Queue.get``, ``Lock.acquire``) says more than ``anext(acquire)``."""
    return getattr(code, "co_qualname", "").startswith("_AsyncGeneratorContextManager.")


def wrapped_coroutine(obj: object) -> types.CoroutineType[Any, Any, Any] | types.GeneratorType[Any, Any, Any] | None:
    if isinstance(obj, _OPAQUE) or asyncio.isfuture(obj):
        return None
    for ref in gc.get_referents(obj):
        if isinstance(ref, (types.CoroutineType, types.GeneratorType)):
            return ref
    return None


def describe_wait(coro: object, awaited: Any) -> str:
    """Label what ``coro`` waits on, right after a step in which it yielded ``awaited``.

    A wait inside a context manager's ``__aenter__``/``__aexit__``, an
    ``@asynccontextmanager``'s setup or cleanup, an async generator's next item or a pool's
    ``acquire`` is labelled with that phase too: ``"AsyncResource.__aenter__ › sleep"``.
    """
    if hasattr(awaited, "get_coro"):  # awaiting another task
        return "await " + awaited.get_name()
    if type(awaited).__name__ == "_GatheringFuture":
        return "gather"
    coroutines: list[Any] = []
    chain = _await_chain(coro, coroutines)
    # The label depends only on the chain's code objects and the awaited type: a task waiting
    # at the same place again (every step of a loop, say) reuses it.
    key = (type(awaited), *chain)
    known = _labels.get(key)
    if known is None:
        if len(_labels) >= _LABELS_KEPT:
            _labels.clear()
        known = _labels[key] = _label_of(chain, type(awaited).__name__)
    label, resource_at = known
    if resource_at is not None:  # a Lock, Semaphore, Queue, ...: only then pay for more
        listener = resource_listener
        frame = getattr(coroutines[resource_at], "cr_frame", None)
        if listener is not None and frame is not None:
            obj = frame.f_locals.get("self")
            if obj is not None:
                listener(obj, coro)
    return label


_labels: dict[tuple[Any, ...], tuple[str, int | None]] = {}  # see describe_wait
_LABELS_KEPT = 4096  # a bound: a program that generates code could make chains without end


def _label_of(chain: list[types.CodeType | str], awaited_type: str) -> tuple[str, int | None]:
    """A wait's label from its await chain, and the position on the chain of the Lock's,
    Semaphore's, Queue's, ... method it waits in (the outermost such), if it waits in one."""
    below_user: list[_Frame] = []  # library frames since the deepest frame of the user's code
    phase: str | None = None  # the innermost phase of the user's code on the chain
    previous: Any = None
    for item in chain:
        if isinstance(item, str):  # an async generator step: anext(gen), then its frames
            phase = item
            below_user = []
            previous = None
            continue
        frame = _frame(item)
        if not frame.is_library:
            if frame.phase is not None:
                phase = phases.phase_here(frame.phase, previous, phase)
            below_user = []
        elif not frame.is_plumbing:
            below_user.append(frame)
        previous = frame
    what = None
    resource_at = None
    for frame in reversed(below_user):
        if frame.is_public:
            what = _friendly(frame.qualname)
            if frame.is_resource:
                # The outermost method of a resource (Queue.join, not the Event.wait it uses).
                codes = {f.code for f in below_user if f.is_resource}
                resource_at = next(n for n, item in enumerate(chain) if item in codes)
            break
    if what is None:
        if below_user:
            what = _friendly(below_user[0].qualname)
        elif phase is not None and phase.startswith(("anext(", "aclose(")):
            return phase, None  # the generator itself is the wait
        else:
            what = awaited_type
    return (what if phase is None else phase + phases.SEPARATOR + what), resource_at


# Network waits deep inside asyncio or aiohttp, in the words a lesson uses.
_SOCKET_READERS = {"StreamReader", "DataQueue", "FlowControlDataQueue", "HttpPayloadParser"}
_FRIENDLY = {
    "BaseEventLoop.create_connection": "connect",
    "BaseSelectorEventLoop.sock_connect": "connect",
    "BaseEventLoop.sock_connect": "connect",
    "BaseSelectorEventLoop.sock_recv": "socket read",
    "BaseSelectorEventLoop.sock_recv_into": "socket read",
    "BaseSelectorEventLoop.sock_sendall": "socket write",
    "StreamWriter.drain": "socket write",
}


def _friendly(qualname: str) -> str:
    owner, _, method = qualname.rpartition(".")
    if owner in _SOCKET_READERS and method.startswith("read"):
        return "socket read"
    return _FRIENDLY.get(qualname, qualname)


# Told (object, coroutine) when a task is about to wait on a Lock, Semaphore, Queue, Event or
# Condition; capture.py sets it to tell the timelines recording that task.
resource_listener: Callable[[Any, Any], None] | None = None


def local_name_on_chain(obj: object, coro: object) -> str | None:
    """The name of a local variable bound to ``obj`` in a frame of the learner's code on the
    task's await chain (``sem`` in ``worker(n, sem, lock)``), innermost first."""
    frames = []
    current: Any = coro
    for _ in range(200):
        frame = getattr(current, "cr_frame", None) or getattr(current, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        current = getattr(current, "cr_await", None) or getattr(current, "gi_yieldfrom", None)
    for frame in reversed(frames):
        if _frame(frame.f_code).is_library:
            continue
        for name, value in frame.f_locals.items():
            if value is obj and not name.startswith("_"):
                return str(name)
    return None
