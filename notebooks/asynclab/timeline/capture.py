"""Recording tasks: a task factory that wraps each new coroutine in a step timer.

asyncio runs a task as a series of *steps*: the task calls ``coro.send(None)`` (or
``coro.throw(exc)``), the coroutine runs until it awaits something that is not ready, and
the future it is waiting for comes back out of ``send``. So a thin object standing in for the
coroutine sees exactly when each step starts and ends and what the task waits for next,
without touching asyncio's internals.

While a timeline is recording, the loop's task factory is a ``TaskFactoryHub``: it asks every
active timeline of the creating context whether it wants the new task, wraps the coroutine
once per interested timeline, then creates the task through the factory that was installed
before (or ``asyncio.Task``). The hub is removed again when the last timeline on the loop ends.

Recording has to be cheap (a timeline around 1000 tasks x 50 steps may add at most 30%), so
the wrapper is also the record of its task while the block runs, the Task reaches its timing
generator through C code only (an ``islice``), each step is one resumption of that generator,
and it logs floats into a list.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import weakref
from asyncio import tasks as _tasks
from collections.abc import Callable, Generator
from itertools import islice
from time import perf_counter as _clock
from typing import TYPE_CHECKING, Any

from . import waits
from .waits import coroutine_name, describe_wait, library_package

if TYPE_CHECKING:
    from types import FrameType

    from .recorder import Timeline


# The timelines whose blocks enclose the running code, outermost first. Tasks copy the
# context they were created in, so every task started inside a block inherits it: that is
# what makes recording transitive, and what leaves out tasks created elsewhere (ipykernel's
# own tasks, tasks that existed before the block).
ACTIVE_TIMELINES: contextvars.ContextVar[tuple[Timeline, ...]] = contextvars.ContextVar(
    "asynclab_active_timelines", default=()
)

BLOCK = -1  # the parent "index" of tasks created by the block's own task


def _tell_timelines_of_resource(obj: Any, coro: Any) -> None:
    """A task is about to wait on a Lock, Semaphore, Queue, ... (``waits``): the timelines
    recording it give the object a track (``resources``)."""
    for timeline in ACTIVE_TIMELINES.get():
        tracker = timeline._tracker
        if tracker is not None and timeline.recording:
            tracker.waited_on(obj, coro)


waits.resource_listener = _tell_timelines_of_resource


class _EndOfTiming(Exception):
    """Thrown into a task's timing generator when its timeline ends."""


def _timed_steps(
    coro: Any,
    steps: list[float | str],
    clock: Callable[[], float] = _clock,
    describe_wait: Callable[[Any, Any], str] = describe_wait,
) -> Generator[Any, Any, Any]:
    """The steps of one task: each resumption of this generator is one step of ``coro``.

    A generator rather than a method because resuming a suspended generator costs less than
    calling a Python function, and its locals replace attribute lookups: this is the hot
    path the overhead target measures. ``TracedCoroutine.__new__`` primes it (and passes in
    the record) so that it is suspended at a ``yield`` from the start; the timeline's end
    throws ``_EndOfTiming`` in there, and from then on it passes steps through untimed.
    """
    record = yield
    try:
        value = yield  # what the task sends: None from asyncio.Task, but pass on anything
        while True:
            steps.append(clock())
            try:
                awaited = coro.send(value)
            except StopIteration as stop:  # the coroutine returned: its last step
                steps.append(clock())
                record.outcome = "result"
                return stop.value
            except BaseException as exc:
                steps.append(clock())
                record._finish(exc)
                raise
            steps.append(clock())
            if awaited is not None:
                steps.append(describe_wait(coro, awaited))
            value = yield awaited
    except _EndOfTiming:
        record = None
    value = yield  # answers the throw; the task's next step resumes it
    while True:
        try:
            awaited = coro.send(value)
        except StopIteration as stop:
            return stop.value
        value = yield awaited


# The step timer's code: the blocked-loop watchdog finds a running step on the stack by it.
STEP_TIMER_CODE = _timed_steps.__code__


class TracedCoroutine(islice):
    """Stands in for a coroutine inside its Task and logs when each step ran.

    It is an ``islice`` over its ``_timed_steps`` generator, with no limit: asyncio's Task
    steps anything but a native coroutine through the C-level ``next()`` of the object it
    runs (``PyIter_Send``), so an islice hands each step straight to the generator, with no
    method lookup and no Python call of ours. ``send`` resumes that generator too, for a
    pure-Python Task (nest_asyncio2's) and other callers; ``throw`` is a method.

    ``steps`` is a flat log, cheap to append to (no tuple per step, nothing for the garbage
    collector to track): each step adds its start and end ``perf_counter()`` floats, then, if
    the task now waits on something, a string saying on what (see ``waits.py``); a step that
    yields nothing (``await asyncio.sleep(0)``) adds no string.

    The wrapper passes the coroutine's identity through (``__qualname__``, ``cr_frame``,
    ``cr_await``, ...) so task reprs, stack dumps and debuggers still show the real coroutine.
    """

    __slots__ = (
        "_coro",
        "_timer",
        "created",
        "error",
        "final_name",
        "index",
        "outcome",
        "owner",
        "parent",
        "steps",
        "task",
    )
    _coro: Any  # the coroutine, or another timeline's TracedCoroutine around it
    _timer: Generator[Any, Any, Any]
    created: float
    error: str | None
    final_name: str | None
    index: int
    outcome: str | None
    owner: Timeline
    parent: int | None
    steps: list[float | str]
    task: asyncio.Task[Any] | None

    def __new__(cls, coro: Any, owner: Timeline, index: int, parent: int | None) -> TracedCoroutine:
        steps: list[float | str] = []
        timer = _timed_steps(coro, steps)
        self = islice.__new__(cls, timer, None)
        next(timer)
        timer.send(self)
        self._coro = coro
        self._timer = timer
        self.steps = steps
        self.owner = owner  # the timeline keeping this record
        self.index = index  # position in owner's records
        self.parent = parent  # index of the parent's record, BLOCK, or None if unknown
        self.created = _clock()
        self.task = None  # set by the factory; dropped when the block ends
        self.outcome = None  # "result" / "exception" / "cancelled" after the last step
        self.error = None  # repr of the exception, when outcome == "exception"
        self.final_name = None  # the task's name when the block ended
        return self

    def send(self, value: Any) -> Any:
        # asyncio's C Task steps through the islice and never calls this; a pure-Python Task
        # (nest_asyncio2's) and a wrapper around this one (a nested timeline) do.
        return self._timer.send(value)

    def throw(self, *args: Any) -> Any:
        # asyncio uses throw() to deliver cancellation and a failed future's exception; it is
        # a step like any other, only rarer, so it stays a plain method.
        log = self.steps.append
        log(_clock())
        try:
            awaited = self._coro.throw(*args)
        except BaseException as exc:
            log(_clock())
            self._finish(exc)
            raise
        log(_clock())
        if awaited is not None:
            log(describe_wait(self._coro, awaited))
        return awaited

    def _finish(self, exc: BaseException) -> None:
        if type(exc) is StopIteration:
            self.outcome = "result"
        elif isinstance(exc, asyncio.CancelledError):
            self.outcome = "cancelled"
        else:
            self.outcome = "exception"
            self.error = repr(exc)

    def close(self) -> None:
        return self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not defined here: cr_await, cr_frame, cr_code,
        # cr_running, __name__, __qualname__, ...
        if name == "_coro":  # not set yet: do not recurse
            raise AttributeError(name)
        try:
            return getattr(self._coro, name)
        except AttributeError:
            if name in ("__name__", "__qualname__"):
                return coroutine_name(self._coro)
            raise

    def __repr__(self) -> str:
        return f"<traced {self._coro!r}>"

    # -- reading, while the block runs ------------------------------------------------------

    @property
    def coro_name(self) -> str:
        return coroutine_name(self._coro)

    @property
    def coro_library(self) -> str | None:
        return library_package(self._coro)

    def steps_in(self, frame: FrameType) -> bool:
        """True while this task's step timer runs in ``frame`` (the blocked-loop watchdog asks)."""
        timer: Any = self._timer  # a generator: typeshed's Generator has no gi_running
        return bool(timer.gi_running) and timer.gi_frame is frame

    def name(self) -> str:
        return self.task.get_name() if self.task is not None else (self.final_name or "Task")

    def stop_timing(self) -> TracedCoroutine | TaskRecord:
        """The block ended: return the record to keep about this task.

        After the block the timeline keeps no strong reference to a task, so it changes
        nothing about when tasks are garbage-collected (and, e.g., when asyncio logs "Task
        exception was never retrieved"). A finished task's wrapper is kept as its record (its
        coroutine is finished, so holds nothing); a running task gets a separate record and
        its wrapper becomes a plain pass-through.
        """
        task = self.task
        timer = self._timer
        if task is None:  # the factory failed before a task took the wrapper
            timer.close()
            return self
        self.task = None
        self.final_name = task.get_name()
        if task.done():
            # Closing the timing generator lets go of what the task last awaited, if it
            # ended by a throw() (one that returned is closed already).
            timer.close()
            if task.cancelled():  # also when a cancel() arrived as the coroutine returned
                self.outcome = "cancelled"
            return self
        # It is running only inside a loop nested in its own step. (typeshed's Generator lacks
        # gi_running, which every generator object has.)
        if not timer.gi_running:  # type: ignore[attr-defined]
            timer.throw(_EndOfTiming)  # no more steps are timed
        record = TaskRecord(self, task)
        self.__class__ = _PassThroughCoroutine  # same slots, so the class can be swapped
        return record


class _PassThroughCoroutine(TracedCoroutine):
    """A ``TracedCoroutine`` whose timeline has ended: forwards without timing."""

    __slots__ = ()

    def throw(self, *args: Any) -> Any:
        return self._coro.throw(*args)


class TaskRecord:
    """What a timeline keeps about a task still running when its block ended."""

    __slots__ = (
        "_task_ref",
        "coro_library",
        "coro_name",
        "created",
        "error",
        "final_name",
        "index",
        "outcome",
        "parent",
        "steps",
    )

    def __init__(self, traced: TracedCoroutine, task: asyncio.Task[Any]) -> None:
        self.steps = traced.steps  # no more steps are logged: the wrapper now passes through
        self.index = traced.index
        self.parent = traced.parent
        self.created = traced.created
        self.coro_name = traced.coro_name
        self.coro_library = traced.coro_library
        self.outcome: str | None = None
        self.error: str | None = None
        self.final_name = task.get_name()
        self._task_ref = weakref.ref(task)  # follow its name, without keeping it alive

    @property
    def task(self) -> asyncio.Task[Any] | None:
        return self._task_ref()

    def name(self) -> str:
        task = self._task_ref()
        return task.get_name() if task is not None else self.final_name


_new_traced = TracedCoroutine.__new__


def record_index(
    task: asyncio.Task[Any] | None, timeline: Timeline, block_task: asyncio.Task[Any] | None
) -> int | None:
    """Index of ``task``'s record in ``timeline`` (BLOCK for ``block_task``, the block's own), or None."""
    if task is None:
        return None
    if task is block_task:
        return BLOCK
    coro = task.get_coro()
    while isinstance(coro, TracedCoroutine):  # one wrapper per timeline recording the task
        if coro.owner is timeline:
            return coro.index
        coro = coro._coro
    return None


# CPython 3.13.0 to 3.13.2 call ``task.set_name(name)`` on whatever a task factory returns, even
# when create_task() was given no name, so every unnamed task would be called "None"
# (python/cpython#130033; 3.13.3 passes the name to the factory instead).
_CREATE_TASK_RENAMES = (3, 13, 0) <= sys.version_info[:3] < (3, 13, 3)


@functools.cache  # one subclass per Task class
def _keeping_its_name(task_type: type[asyncio.Task[Any]]) -> type[asyncio.Task[Any]]:
    """A subclass of ``task_type`` (asyncio's Task, or one nest_asyncio2 put in its place) whose
    ``set_name(None)`` keeps the name the task was given when it was created."""

    class Task(task_type):  # type: ignore[valid-type,misc]  # named so: a repr reads <Task ...>
        __slots__ = ()

        def set_name(self, value: object) -> None:
            if value is not None:
                super().set_name(value)

    Task.__qualname__ = "Task"  # type(task) reads asynclab.timeline.capture.Task
    return Task


class TaskFactoryHub:
    """The task factory installed on a loop while at least one timeline records on it."""

    def __init__(self, previous: Callable[..., Any] | None) -> None:
        self.previous = previous  # the factory to chain to and restore (None = asyncio.Task)
        # timeline -> (its list of records, its block's task), for each timeline recording here
        self.timelines: dict[Timeline, tuple[list[TracedCoroutine | TaskRecord], asyncio.Task[Any]]] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        context = kwargs.get("context") if kwargs else None
        stack = ACTIVE_TIMELINES.get() if context is None else context.get(ACTIVE_TIMELINES, ())
        wrapper: TracedCoroutine | None = None
        if stack:
            parent = asyncio.current_task(loop)
            timelines = self.timelines
            for timeline in stack:  # outermost first; each wraps the previous wrapper
                recording = timelines.get(timeline)
                if recording is not None:
                    records, block_task = recording
                    # record_index answers BLOCK too; asking first skips a call for most tasks
                    # (the block's children): about 590 of some 22,000 instructions per task.
                    parent_index = BLOCK if parent is block_task else record_index(parent, timeline, block_task)
                    # Calling __new__ itself skips type.__call__'s work: a task costs less.
                    coro = _new_traced(TracedCoroutine, coro, timeline, len(records), parent_index)
                    records.append(coro)
                    wrapper = coro
        # _tasks.Task is looked up at call time: nest_asyncio2 replaces asyncio.tasks.Task. Without
        # keywords it is called without ** (which would build a dict for every task).
        if self.previous is not None:
            task = self.previous(loop, coro, **kwargs)
        else:
            task_type = _tasks.Task if not _CREATE_TASK_RENAMES else _keeping_its_name(_tasks.Task)
            task = task_type(coro, loop=loop, **kwargs) if kwargs else task_type(coro, loop=loop)
        while wrapper is not None:
            wrapper.task = task
            wrapper = wrapper._coro if type(wrapper._coro) is TracedCoroutine else None
        return task


def install(
    loop: asyncio.AbstractEventLoop,
    timeline: Timeline,
    records: list[TracedCoroutine | TaskRecord],
    block_task: asyncio.Task[Any],
) -> TaskFactoryHub:
    """Make ``timeline`` record new tasks on ``loop`` into ``records``; returns the hub it joined.

    ``block_task`` is the task running the timeline's block: its children's parent is BLOCK.
    """
    factory = loop.get_task_factory()
    if isinstance(factory, TaskFactoryHub):
        hub = factory
    else:
        hub = TaskFactoryHub(previous=factory)
        loop.set_task_factory(hub)
    hub.timelines[timeline] = (records, block_task)
    return hub


def uninstall(loop: asyncio.AbstractEventLoop, hub: TaskFactoryHub, timeline: Timeline) -> None:
    """Stop ``timeline`` recording; restore the previous factory when no timeline is left.

    If something replaced the hub meanwhile, leave the loop's factory alone: the hub, with no
    timelines, then only passes calls through to the factory it chains to.
    """
    hub.timelines.pop(timeline, None)
    if not hub.timelines and loop.get_task_factory() is hub:
        loop.set_task_factory(hub.previous)
