"""``Timeline``: record what every task of a block did and when, then draw it."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from time import perf_counter as _clock
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from .._ipython import in_ipython, in_jupyter_kernel
from . import analysis, blocked, export, resources, waits
from .block_task import BlockRecord
from .capture import (
    ACTIVE_TIMELINES,
    BLOCK,
    TaskFactoryHub,
    TaskRecord,
    TracedCoroutine,
    install,
    record_index,
    uninstall,
)
from .model import LaneKey, Snapshot, Span, TaskInfo, UserMark, UserSpan

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from .analysis import Summary
    from .drawing import TimelineFigure
    from .layout import Grouping
    from .notebook import NotebookDisplay


# Loop turns granted at the end of a block so that async generators the block abandoned
# (``break`` out of ``async for``) get their ``aclose()`` task created and started while the
# timeline still records. The loop's finaliser hook schedules that task with call_soon.
_FINALIZER_GRACE_TURNS = 2


class Timeline:
    """Records the block's own task and every task created inside it, and draws them.

        async with Timeline("two sleeps") as tl:
            await asyncio.gather(asyncio.sleep(0.1), asyncio.sleep(0.2))
        tl.duration                  # seconds, about 0.2
        tl.max_concurrency("sleep")  # 2: both tasks slept at the same time
        tl.plot()                    # matplotlib Figure: one lane per task

    Arguments:
      title: shown above the diagram.
      show: None (default) displays the diagram at the end of the block when running in a
        Jupyter kernel, and never elsewhere; False never displays (use it in exercises and
        tests); True displays whenever IPython is running (in a plain script there is
        nowhere to display: use ``tl.plot().savefig(...)``).
      blocked_ms: a step of one task that runs this long (default 50 ms) stops every other
        task: the diagram draws it as a red band across all lanes, naming the call that
        blocked (found by a watchdog thread that looks at the loop's stack only while a step
        overruns). None turns this off.
      live: None (default) redraws the diagram a few times a second while the block runs
        whenever it is displayed in a Jupyter kernel; False only shows the final diagram.
        Drawing briefly holds up the event loop, so live mode keeps itself to about a tenth
        of the time; use live=False when the timings themselves are the lesson.

    Only tasks created inside the block (directly or by its tasks) are recorded; tasks that
    existed before, and the kernel's own tasks, are not. Times are ``time.perf_counter()``
    seconds, reported relative to the start of the block.

    The block's own task existed before the block, so it is timed from outside, to about a
    millisecond (see ``block_task.py``); tasks created inside are timed exactly.
    ``await tl.run(main())`` runs a coroutine as a recorded task of its own.

    Async generators abandoned inside the block are closed by the event loop in a new task
    shortly after; the end of the block waits two loop turns so that task is recorded. If
    its clean-up awaits something, call ``await tl.settle()`` at the end of the block.
    """

    def __init__(
        self,
        title: str | None = None,
        *,
        show: bool | None = None,
        live: bool | None = None,
        blocked_ms: float | None = blocked.DEFAULT_BLOCKED_MS,
    ) -> None:
        for name, value in (("show", show), ("live", live)):
            if value not in (None, True, False):
                raise TypeError(f"Timeline({name}=...) takes True, False or None, not {value!r}")
        self.blocked_ms = _blocked_threshold(blocked_ms)
        self._watchdog: blocked.Watchdog | None = None
        self.title = title
        self._show = show
        self._live = live
        self._started_at: float | None = None  # perf_counter() when the block started
        self._ended_at: float | None = None
        self._recording = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hub: TaskFactoryHub | None = None
        self._block: BlockRecord | None = None  # BlockRecord of the block's own task
        # One record per task created inside, in creation order: the TracedCoroutine
        # while the block runs, a TaskRecord after.
        self._records: list[TracedCoroutine | TaskRecord] = []
        self._user_spans: list[UserSpan] = []  # [lane key, kind, label, start, end or None while open]
        self._user_marks: list[UserMark] = []  # (lane key, label, time)
        self._token: contextvars.Token[tuple[Timeline, ...]] | None = None
        self._display: NotebookDisplay | None = None
        self._tracker: resources.Tracker | None = None  # Lock, Semaphore, Queue, ... tracks

    # -- recording --------------------------------------------------------------------

    async def __aenter__(self) -> Timeline:
        if self._started_at is not None:
            raise RuntimeError(
                "This Timeline has already recorded a block: create a new Timeline() for each `async with`."
            )
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError(
                "`async with Timeline()` must run inside an asyncio task "
                "(a notebook cell, or a coroutine given to asyncio.run())."
            )
        # The frame running `async with Timeline()`: its variables name the resource tracks.
        caller = sys._getframe(1) if hasattr(sys, "_getframe") else None
        namespaces: list[Any] = []
        if caller is not None:
            if caller.f_locals is not caller.f_globals:
                namespaces.append(caller.f_locals)
            namespaces.append(caller.f_globals)
        del caller
        display = self._make_display()
        if display is not None:
            display.open()  # before the clock starts: importing matplotlib takes a while
            self._display = display
        self._loop = loop
        self._started_at = started_at = _clock()
        self._block = BlockRecord(self, task, loop, started_at)
        self._recording = True
        self._token = ACTIVE_TIMELINES.set((*ACTIVE_TIMELINES.get(), self))
        self._hub = install(loop, self, self._records, task)
        self._tracker = resources.Tracker(namespaces, waits.local_name_on_chain)
        self._tracker.scan()
        if self.blocked_ms is not None:
            self._watchdog = blocked.Watchdog(task, self._records, self.blocked_ms / 1000)
            self._watchdog.start()
        if display is not None and display.live:
            display.start_live(loop)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        outcome, error = _outcome_of(exc_type, exc)
        late: BaseException | None = None  # a stop that lands while the block ends
        try:
            # Only for a normal end or an ordinary exception: a cancelled or interrupted
            # block must not be held up.
            if exc_type is None or issubclass(exc_type, Exception):
                for _ in range(_FINALIZER_GRACE_TURNS):
                    await asyncio.sleep(0)
        except BaseException as stopped:  # e.g. cancelled during those loop turns
            outcome, error = _outcome_of(type(stopped), stopped)
            late = stopped
        self._stop_recording(outcome, error)
        try:
            # Even after a late stop: closing the display also ends its live refresher, which
            # would otherwise redraw this block's picture for as long as the kernel lives.
            if self._display is not None:
                try:
                    await self._display.close()
                except Exception:
                    if exc_type is None and late is None:
                        raise
                    # The block's own exception (or the stop) is the one worth seeing.
            if late is not None:
                raise late
        finally:
            late = None  # the exception's traceback holds this frame
        return False

    def _stop_recording(self, outcome: str, error: str | None) -> None:
        assert self._block is not None and self._loop is not None and self._hub is not None and self._token is not None
        self._recording = False
        self._ended_at = ended_at = _clock()
        if self._tracker is not None:
            self._tracker.stop(self._task_key)  # every tracked object gets its own class back
        if self._watchdog is not None:
            self._watchdog.stop()
        self._block.stop(ended_at, outcome, error)
        uninstall(self._loop, self._hub, self)
        # While the block runs, every record is the task's TracedCoroutine. (Called through
        # the class: its __getattr__ makes each bound-method lookup cost more.)
        stop_timing = TracedCoroutine.stop_timing
        self._records = [stop_timing(traced) for traced in cast("list[TracedCoroutine]", self._records)]
        try:
            ACTIVE_TIMELINES.reset(self._token)
        except (ValueError, RuntimeError):  # ended in another context than it started in
            ACTIVE_TIMELINES.set(tuple(t for t in ACTIVE_TIMELINES.get() if t is not self))

    def _make_display(self) -> NotebookDisplay | None:
        from . import notebook

        show = in_jupyter_kernel() if self._show is None else self._show
        if not show or not in_ipython():
            return None
        live = self._live is not False and in_jupyter_kernel()
        return notebook.NotebookDisplay(self, live=live)

    def _require_recording(self, what: str) -> None:
        if not self._recording:
            state = "has not started" if self._started_at is None else "has already ended"
            raise RuntimeError(
                f"tl.{what}() records into a running timeline, but this one {state}. "
                f"Use it inside the block:\n"
                f"    async with Timeline() as tl:\n"
                f"        with tl.span('download'):\n"
                f"            ...\n"
                f"In library code, asynclab.timeline.span(...) records only when a timeline "
                f"is running."
            )

    def _lane_key(self, lane: str | asyncio.Task[Any] | None) -> LaneKey:
        block_task = self._block.task if self._block is not None else None
        if lane is None:
            try:
                task = asyncio.current_task()
            except RuntimeError:  # no loop in this thread (a worker thread)
                task = None
            if task is None:
                thread = threading.current_thread()
                return BLOCK if thread is threading.main_thread() else f"thread {thread.name}"
            return _first_known(record_index(task, self, block_task), task.get_name())
        if isinstance(lane, str):
            return lane
        if isinstance(lane, asyncio.Future) and hasattr(lane, "get_name"):
            lane_task = cast("asyncio.Task[Any]", lane)  # a task, or what a task factory made
            return _first_known(record_index(lane_task, self, block_task), lane_task.get_name())
        raise TypeError(f"lane= takes a lane name (str) or a task, not {lane!r}")

    def _task_key(self, task: asyncio.Task[Any] | None) -> LaneKey | None:
        """The lane key of a task recorded by this timeline (None if it is not recorded)."""
        block_task = self._block.task if self._block is not None else None
        return record_index(task, self, block_task)

    def track(self, obj: Any, name: str | None = None) -> Any:
        """Draw ``obj`` (an asyncio Lock, Semaphore, BoundedSemaphore, Queue, Event or
        Condition) as a thin track under the lanes: holders, permits in use, queue length or
        set/clear over time, named ``name`` (``tl.track(pool_sem, "pool")``). Returns ``obj``.

        Those a task waits on inside the block are tracked without asking, named after the
        variable that holds them where one is found.
        """
        self._require_recording("track")
        if resources.kind_of(obj) is None:
            raise TypeError(
                f"tl.track() takes an asyncio Lock, Semaphore, Queue, Event or Condition, not {_describe(obj)}"
            )
        assert self._tracker is not None
        self._tracker.add(obj, None if name is None else str(name), explicit=True)
        return obj

    def span(self, label: object, lane: str | asyncio.Task[Any] | None = None, kind: object = "phase") -> _SpanRecorder:
        """A named phase, for ``with`` or ``async with``: records when it was entered and left.

        ``lane`` defaults to the current task's lane; ``kind`` groups phases by colour.
        Raises RuntimeError outside the timeline's block.
        """
        self._require_recording("span")
        return _SpanRecorder(self._user_spans, self._lane_key(lane), str(kind), str(label))

    def mark(self, label: object, lane: str | asyncio.Task[Any] | None = None) -> None:
        """Record an instant (drawn as a small triangle with its label)."""
        self._require_recording("mark")
        self._user_marks.append((self._lane_key(lane), str(label), _clock()))

    async def run(self, work: Awaitable[Any] | Callable[[], Awaitable[Any]], *, name: str | None = None) -> Any:
        """Run ``work`` as a task of its own inside this timeline and return its result.

        ``work`` is a coroutine (``main()``) or an async function (``main``). Unlike the
        block's own task, such a task is timed exactly, step by step.
        """
        self._require_recording("run")
        awaitable: Any = work
        if callable(work) and not inspect.isawaitable(work):
            awaitable = work()
            if not inspect.isawaitable(awaitable):
                raise TypeError(
                    f"tl.run() needs an async function; {_describe(work)} "
                    f"returned {_describe(awaitable)}, which cannot be awaited."
                )
        elif not inspect.isawaitable(work):
            raise TypeError(
                f"tl.run() needs a coroutine such as main() or an async function such as main; got {_describe(work)}."
            )
        if not asyncio.iscoroutine(awaitable):
            awaitable = _await(awaitable)
        return await asyncio.get_running_loop().create_task(awaitable, name=name)

    async def settle(self, timeout: float = 1.0) -> bool:
        """Wait until the tasks recorded so far have finished, without cancelling them.

        Gives up after ``timeout`` seconds. Returns True if everything finished. Use it at the
        end of the block to see late work such as an async generator's clean-up.
        """
        self._require_recording("settle")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        me = asyncio.current_task()
        while True:
            await asyncio.sleep(0)  # lets pending aclose() tasks be created
            pending = [
                task
                for task in (r.task for r in self._records)
                if task is not None and task is not me and not task.done()
            ]
            remaining = deadline - loop.time()
            if not pending:
                return True
            if remaining <= 0:
                return False
            await asyncio.wait(pending, timeout=remaining)

    @staticmethod
    def current() -> Timeline | None:
        """The innermost timeline recording around the running code, or None."""
        for timeline in reversed(ACTIVE_TIMELINES.get()):
            if timeline._recording:
                return timeline
        return None

    def add_spans(self, records: Iterable[Any], lane: str, kind: object = "server") -> int:
        """Add spans measured elsewhere, e.g. the requests the local server handled.

        Each record has ``label``, ``start`` and ``end`` (attributes or keys) in absolute
        ``time.perf_counter()`` seconds. Parts outside the timeline are clipped; records
        entirely outside are skipped. Returns how many spans were added.
        """
        if self._started_at is None:
            raise RuntimeError(
                "add_spans() needs a timeline that has recorded a block: "
                "call it inside or after `async with Timeline() as tl:`."
            )
        if not isinstance(lane, str):
            raise TypeError(f"add_spans(records, lane): lane is a name (str), not {lane!r}")
        started_at = self._started_at
        end = self._ended_at if self._ended_at is not None else _clock()
        added = 0
        for record in records:
            label, start, stop = _read_external(record)
            if stop < started_at or start > end or stop < start:
                continue
            self._user_spans.append([lane, str(kind), str(label), max(start, started_at), min(stop, end)])
            added += 1
        return added

    # -- reading ----------------------------------------------------------------------

    @property
    def started_at(self) -> float | None:
        """``time.perf_counter()`` when the block started, or None before it started.

        The clock of ``add_spans()``'s records: ``tl.started_at + 0.01`` is 10 ms into the block.
        """
        return self._started_at

    @property
    def ended_at(self) -> float | None:
        """``time.perf_counter()`` when the block ended, or None while it runs (or before)."""
        return self._ended_at

    @property
    def recording(self) -> bool:
        """True while the block runs (from entering ``async with`` to leaving it)."""
        return self._recording

    def snapshot(self) -> Snapshot:
        """Everything recorded so far, read once (a ``model.Snapshot``: lanes, spans, tasks)."""
        return Snapshot(
            self.title,
            self._started_at,
            self._ended_at,
            self._block,
            self._records,
            self._user_spans,
            self._user_marks,
            blocked_after=None if self.blocked_ms is None else self.blocked_ms / 1000,
            blocked_samples=self._watchdog.samples if self._watchdog is not None else (),
            tracks=self._tracker.shown() if self._tracker is not None else (),
            task_key=self._task_key,
        )

    @property
    def watchdog(self) -> blocked.Watchdog | None:
        """The thread that names the call blocking the loop (its ``looks`` and ``samples``), or
        None when ``blocked_ms`` is None."""
        return self._watchdog

    @property
    def spans(self) -> list[Span]:
        """Every span (``Span``: lane, kind, label, start, end), in order of start."""
        return self.snapshot().spans()

    @property
    def tasks(self) -> list[TaskInfo]:
        """``TaskInfo`` of each lane's task (name, parent, created, done, outcome, exception)."""
        return self.snapshot().tasks

    @property
    def lanes(self) -> list[str]:
        """Lane names in drawing order: the block's own task, tasks by creation, other lanes."""
        return self.snapshot().lane_names

    @property
    def duration(self) -> float:
        """Seconds from the start of the block to its end (or to now, while it runs)."""
        if self._started_at is None:
            return 0.0
        end = self._ended_at if self._ended_at is not None else _clock()
        return end - self._started_at

    def max_concurrency(self, label_or_kind: str | Callable[[Span], bool] | None = None) -> int:
        """How many lanes were inside a matching span at the same moment, at most.

        ``label_or_kind`` matches a span's label or kind (``"sleep"``, ``"Lock.acquire"``,
        ``"phase"``, ``"running"``; ``"sleep"`` also matches ``"AsyncResource.__aenter__ › sleep"``),
        or is a function ``span -> bool``. Without it: how many
        of the tasks created in the block were alive (created, not yet done) at once.
        Several overlapping matches on one lane count once; spans that only touch do not
        overlap. E.g. ``tl.max_concurrency("sleep") == 3``: three tasks slept at once.
        """
        return analysis.max_concurrency(self.snapshot(), label_or_kind)

    def summary(self) -> Summary:
        """Per-lane totals in seconds (a list of dicts that prints as a table)."""
        return analysis.summarize(self.snapshot())

    def to_chrome_trace(self, path: str | os.PathLike[str]) -> str | os.PathLike[str]:
        """Write the timeline as JSON that https://ui.perfetto.dev and chrome://tracing open."""
        return export.write_chrome_trace(self.snapshot(), path)

    @overload
    def plot(self, ax: None = None, group: Grouping | None = None) -> TimelineFigure: ...
    @overload
    def plot(self, ax: Axes, group: Grouping | None = None) -> Figure | SubFigure: ...
    def plot(self, ax: Axes | None = None, group: Grouping | None = None) -> Figure | SubFigure:
        """Draw the timeline; returns the matplotlib Figure.

        ``group`` maps a lane name to a group name (a dict, or a function) to draw lanes of the
        same group together, e.g. by worker or by resource. An empty timeline gives a figure
        that says so (no exception, so "Run All" keeps going).
        """
        from . import drawing

        return drawing.plot(self.snapshot(), ax=ax, group=group)

    def compare(self, other: Timeline, titles: tuple[str, str] | None = None) -> TimelineFigure:
        """Draw this timeline above ``other`` on one shared time axis; returns the Figure."""
        from . import drawing

        if not isinstance(other, Timeline):
            raise TypeError(f"compare() takes another Timeline, not {_describe(other)}")
        return drawing.compare(self.snapshot(), other.snapshot(), titles=titles)

    def describe(self) -> str:
        """A short text account of the diagram (a str): each lane, what it waited on and for
        how long, what overlapped, and the total. ``print(tl.describe())`` shows it."""
        return analysis.describe(self.snapshot())

    def _repr_png_(self) -> bytes:
        from . import drawing

        return drawing.png_bytes(self.plot(), dpi=drawing.DPI * drawing.HIDPI_SCALE)

    def _ipython_display_(self) -> None:
        from .notebook import show_diagram

        show_diagram(self.plot())

    def __repr__(self) -> str:
        if self._started_at is None:
            state = "not started"
        else:
            state = f"{len(self._records) + 1} tasks, {self.duration * 1000:.1f} ms"
            if self._recording:
                state += ", recording"
        title = f" {self.title!r}" if self.title else ""
        return f"<Timeline{title}: {state}>"


class _SpanRecorder:
    """What ``tl.span()`` returns: works with ``with`` and ``async with``."""

    __slots__ = ("_entry", "_kind", "_label", "_lane", "_spans")

    def __init__(self, spans: list[UserSpan], lane: LaneKey, kind: str, label: str) -> None:
        self._spans, self._lane, self._kind, self._label = spans, lane, kind, label
        self._entry: UserSpan = []

    def __enter__(self) -> _SpanRecorder:
        self._entry = [self._lane, self._kind, self._label, _clock(), None]
        self._spans.append(self._entry)  # drawn while still open, up to "now"
        return self

    def __exit__(self, *exc_info: object) -> Literal[False]:
        self._entry[4] = _clock()
        return False

    async def __aenter__(self) -> _SpanRecorder:
        return self.__enter__()

    async def __aexit__(self, *exc_info: object) -> Literal[False]:
        return self.__exit__(*exc_info)


def span(
    label: object, lane: str | asyncio.Task[Any] | None = None, kind: object = "phase"
) -> _SpanRecorder | contextlib.nullcontext[None]:
    """Record a phase on the running timeline, if there is one; otherwise do nothing.

    For library and lesson code that should show up in a diagram only when someone is
    recording: ``with span("connect"): ...`` or ``async with span("connect"): ...``.
    """
    timeline = Timeline.current()
    if timeline is None:
        return contextlib.nullcontext()
    return timeline.span(label, lane=lane, kind=kind)


def mark(label: object, lane: str | asyncio.Task[Any] | None = None) -> None:
    """Record an instant on the running timeline, if there is one."""
    timeline = Timeline.current()
    if timeline is not None:
        timeline.mark(label, lane=lane)


def _blocked_threshold(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise TypeError(f"Timeline(blocked_ms=...) takes a number of milliseconds above 0, or None; not {value!r}")
    return float(value)


def _first_known(index: int | None, name: str) -> LaneKey:
    return name if index is None else index


def _outcome_of(exc_type: type[BaseException] | None, exc: BaseException | None) -> tuple[str, str | None]:
    if exc_type is None:
        return "result", None
    if issubclass(exc_type, asyncio.CancelledError):
        return "cancelled", None
    return "exception", repr(exc)


def _read_external(record: Any) -> tuple[Any, float, float]:
    try:
        if isinstance(record, dict):
            return record["label"], float(record["start"]), float(record["end"])
        return record.label, float(record.start), float(record.end)
    except (AttributeError, KeyError, TypeError, ValueError):
        raise TypeError(
            f"add_spans() needs records with label, start and end (perf_counter seconds); got {record!r}"
        ) from None


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
