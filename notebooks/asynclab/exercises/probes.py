"""Probes: instruments switched on only while the learner's code runs, each answering one question.

- ``LoopLagMonitor``: was the event loop blocked (``time.sleep``, a slow synchronous call)?
- ``BlockingSleepWatcher``: was ``time.sleep`` called on the loop's thread, and from which line?
- ``TaskTracker``: which tasks did the learner's code start, and are any still running?
- ``SessionTracker``: did it leave an ``aiohttp.ClientSession`` open?
- ``UnawaitedCoroutines``: was a coroutine created and dropped without ``await``?

``TrialWindow`` spans a whole check: it keeps what earlier cells and checks left behind out of
this check's verdict, and what this check leaves behind out of later cells' output.

Every probe restores what it touched when it stops, so nothing outlives a check. None of them
creates a task, so they never show up in a timeline or in the task count they measure.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import os
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable
from typing import Any

from . import diagnose

# A timer this late, with the loop thread mostly off the CPU meanwhile, means the machine did not
# run this process: nothing on the loop could start then, whatever the code.
STARVED_LAG = 0.01


def starved(lag: float, cpu: float, withheld: float) -> bool:
    """A timer ``lag`` seconds late, while the loop thread computed for ``cpu`` seconds and the
    machine kept it off a CPU for ``withheld`` seconds although it was ready: the machine's doing?

    - Computing for under a quarter of the lag: yes (an idle loop queued for a CPU to run its
      timer, or the process was stopped).
    - Computing for half of it or more: no, the code on the loop held it up.
    - In between: a computation on a busy machine queues for a CPU about as long as it computes,
      so it is the code's doing when it computed for at least half of the time not withheld.
      Where the system does not say what it withheld (0), the line is half the lag.
    """
    if lag <= STARVED_LAG or cpu >= lag / 2:
        return False
    return cpu < lag / 4 or cpu < (lag - withheld) / 2


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100  # /proc/stat's unit


def _open_or_none(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


class LoopLagMonitor:
    """Measures how late the event loop runs a timer: a late timer means the loop was held up.

    A timer callback (not a task) is re-armed every ``interval`` seconds; when it fires late,
    nothing else could run on the loop meanwhile. The clock alone cannot tell who is to blame,
    so each stretch between two timers also measures the loop thread's CPU time:

    - ``longest_lag``: the latest a timer fired, in seconds. Code that blocks (a computation,
      ``time.sleep``, a synchronous network call) makes it long, but so does a machine too busy
      to give this process the CPU.
    - ``most_cpu``: the most CPU seconds the loop thread used between two timers. Only code
      running on the loop uses CPU, and it costs the same however busy the machine is, so this
      one is not fooled by a busy machine. Garbage-collection pauses are subtracted: they are
      nobody's mistake.
    - ``longest_block``: ``longest_lag`` less the time the machine did not run the loop thread:
      ready to run but waiting for a CPU (``/proc/thread-self/schedstat``), or on a virtual
      machine whose CPUs the host had taken back ("steal" in ``/proc/stat``). What is left is
      the code on the loop computing or waiting on something (``time.sleep``, a synchronous
      call). Where the system does not say (not Linux), it is ``longest_lag``.
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.longest_lag = 0.0
        self.most_cpu = 0.0
        # (start, end) in time.perf_counter() seconds: stretches when a timer fired late while the
        # loop thread used almost no CPU, so the machine, not the code on the loop, held it up.
        self.starved: list[tuple[float, float]] = []
        self._loop: asyncio.AbstractEventLoop  # set by start()
        self._handle: asyncio.TimerHandle | None = None
        self._due = self._cpu_at_arm = self._gc_at_arm = 0.0
        self.longest_block = 0.0
        self._gc_seconds = 0.0  # total time spent in garbage collection while monitoring
        self._gc_started: float | None = None
        self._schedstat: int | None = None  # the loop thread's /proc/thread-self/schedstat, open
        self._stat: int | None = None  # /proc/stat, open
        self._not_run_at_arm = 0.0

    def start(self):
        self._loop = asyncio.get_running_loop()
        gc.callbacks.append(self._on_gc)
        # Opened on the loop's thread, so the first is that thread's for as long as it is open.
        # Not Linux (or no such statistics): nothing is taken off, and longest_block is longest_lag.
        self._schedstat = _open_or_none("/proc/thread-self/schedstat")
        self._stat = _open_or_none("/proc/stat")
        self._arm()
        return self

    def _not_run(self) -> float:
        """Seconds, so far, the machine did not run the loop thread although it was ready:
        queued for a CPU, plus the time the host took this virtual machine's CPUs (an upper
        bound: any of them). 0 where the system does not say."""
        seconds = 0.0
        try:
            if self._schedstat is not None:  # "<ns on a CPU> <ns waiting on a run queue> <slices>"
                seconds += int(os.pread(self._schedstat, 64, 0).split()[1]) / 1e9
            if self._stat is not None:  # "cpu  user nice system idle iowait irq softirq steal ..."
                seconds += int(os.pread(self._stat, 256, 0).split()[8]) / _CLOCK_TICKS
        except (OSError, ValueError, IndexError):
            pass
        return seconds

    def _on_gc(self, phase, info):
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            self._gc_seconds += time.perf_counter() - self._gc_started
            self._gc_started = None

    def _arm(self, not_run: float | None = None):
        # What the machine withheld is read before the clock: time taken from the thread in
        # between then counts as withheld, and not as the loop's lateness alone. A tick passes
        # on the reading it has just taken.
        self._not_run_at_arm = self._not_run() if not_run is None else not_run
        self._cpu_at_arm = time.thread_time()
        self._gc_at_arm = self._gc_seconds
        self._due = self._loop.time() + self.interval
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self):
        self._arm(self._record())

    def _record(self) -> float:
        """Note this stretch; return the reading of what the machine withheld, taken at its end."""
        lag = self._loop.time() - self._due
        self.longest_lag = max(self.longest_lag, lag)
        cpu = (time.thread_time() - self._cpu_at_arm) - (self._gc_seconds - self._gc_at_arm)
        self.most_cpu = max(self.most_cpu, cpu)
        withheld = self._not_run()
        not_run = min(max(withheld - self._not_run_at_arm, 0.0), max(lag, 0.0))
        self.longest_block = max(self.longest_block, lag - not_run)
        if starved(lag, cpu, not_run):
            now = time.perf_counter()
            self.starved.append((now - lag, now))
        return withheld

    def stop(self):
        if self._handle is not None:
            self._handle.cancel()
            self._record()  # a block right at the end counts too
            self._handle = None
            gc.callbacks.remove(self._on_gc)
            for fd in (self._schedstat, self._stat):
                if fd is not None:
                    os.close(fd)
            self._schedstat = self._stat = None


class BlockingSleepWatcher:
    """Notes calls to ``time.sleep`` made on the event loop's thread, to name the culprit line.

    ``time.sleep`` is wrapped for the duration only; other threads (the kernel's) pass straight through.
    """

    def __init__(self):
        self.calls: list[tuple[float, str]] = []  # (seconds, "line 4: `time.sleep(0.2)`" or "")
        self._original: Callable[..., None] | None = None

    def __enter__(self):
        original = self._original = time.sleep
        loop_thread = threading.get_ident()
        calls = self.calls

        @functools.wraps(original)
        def watched_sleep(seconds):
            if threading.get_ident() == loop_thread:
                caller = sys._getframe(1)
                where = (
                    diagnose.code_at(caller.f_code.co_filename, caller.f_lineno)
                    if diagnose.is_learner_file(caller.f_code.co_filename)
                    else ""
                )
                calls.append((seconds, where))
            return original(seconds)

        time.sleep = watched_sleep
        return self

    def __exit__(self, *exc):
        if self._original is not None:
            time.sleep = self._original

    @property
    def total(self) -> float:
        return sum(seconds for seconds, _ in self.calls)


# Set in the context of the code under check; tasks it creates inherit it, so their tasks do too.
_tracking: contextvars.ContextVar[TaskTracker | None] = contextvars.ContextVar("asynclab_task_tracker", default=None)


class TaskTracker:
    """Records every task created by the code under check (and by its tasks), via a task factory.

    Other code on the loop (the Jupyter kernel's own tasks) is not counted: a task is recorded
    only when created in a context that descends from the check's.
    """

    def __init__(self):
        self.created: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop  # set by __enter__
        self._previous: Any = None  # the loop's task factory before ours
        self._token: contextvars.Token[TaskTracker | None] | None = None

    def __enter__(self):
        self._loop = asyncio.get_running_loop()
        self._previous = self._loop.get_task_factory()
        self._loop.set_task_factory(self._factory)
        self._token = _tracking.set(self)
        return self

    def _factory(self, loop, coro, **kwargs):
        if self._previous is not None:
            task = self._previous(loop, coro, **kwargs)
        else:
            task = asyncio.tasks.Task(coro, loop=loop, **kwargs)  # looked up now: nest_asyncio2 may replace it
        if _tracking.get() is self:
            self.created.append(task)
        return task

    def __exit__(self, *exc):
        if self._token is not None:
            _tracking.reset(self._token)
        # Restore only if nobody stacked another factory on top of ours meanwhile.
        if self._loop.get_task_factory() == self._factory:
            self._loop.set_task_factory(self._previous)

    def still_running(self) -> list[asyncio.Task]:
        return [t for t in self.created if not t.done()]

    def failed_unnoticed(self) -> list[asyncio.Task]:
        """Finished tasks whose exception nobody retrieved (asyncio would log it when they are freed)."""
        return [t for t in self.created if t.done() and not t.cancelled() and getattr(t, "_log_traceback", False)]

    @staticmethod
    async def cancel(tasks: list[asyncio.Task]) -> None:
        for t in tasks:
            t.cancel()
        # Wait until they have really stopped; a task that refuses is left alone after a second.
        await asyncio.wait(tasks, timeout=1.0)
        for t in tasks:
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: no log line about it later


class SessionTracker:
    """Keeps every ``aiohttp.ClientSession`` created during the check, to find the ones left open.

    ``ClientSession.__init__`` is wrapped for the duration only. Sessions are held strongly so a
    forgotten one cannot be garbage-collected (and warn on stderr) before we close it. If aiohttp
    has not been imported, no session can have been created, and nothing is patched.
    """

    def __init__(self):
        self.sessions: list = []
        self._cls = self._original = None

    def __enter__(self):
        aiohttp = sys.modules.get("aiohttp")
        if aiohttp is None:
            return self
        cls = self._cls = aiohttp.ClientSession
        original = self._original = cls.__dict__["__init__"]
        sessions = self.sessions

        @functools.wraps(original)
        def tracking_init(session, *args, **kwargs):
            original(session, *args, **kwargs)
            sessions.append(session)

        cls.__init__ = tracking_init
        return self

    def __exit__(self, *exc):
        if self._cls is not None:
            self._cls.__init__ = self._original

    def left_open(self) -> list:
        return [s for s in self.sessions if not s.closed]

    async def close_all(self) -> None:
        for session in self.left_open():
            try:
                await session.close()
            except Exception:  # a session already half-broken by the learner's code: nothing more to do
                pass
        self.sessions.clear()


class UnawaitedCoroutines:
    """Catches "coroutine ... was never awaited" while the check runs and says where it was created.

    That warning is always recorded (even under ``-W error``) and becomes the verdict. Every other
    warning keeps its usual treatment: one that would be shown is recorded and re-issued when the
    probe stops. Coroutine origin tracking is switched on so each dropped coroutine knows the line
    that made it.
    """

    ORIGIN_DEPTH = 16

    def __init__(self):
        self.found: list[tuple[str, str]] = []  # (coroutine name, "line 4: `asyncio.sleep(1)`" or "")
        self._catcher: warnings.catch_warnings | None = None
        self._records: list[warnings.WarningMessage] = []
        self._depth = 0

    def __enter__(self):
        self._catcher = warnings.catch_warnings(record=True)
        records = self._catcher.__enter__()  # with record=True, the list the warnings go to
        assert records is not None
        self._records = records
        warnings.filterwarnings("always", message=r"coroutine .* was never awaited", category=RuntimeWarning)
        self._depth = sys.get_coroutine_origin_tracking_depth()
        sys.set_coroutine_origin_tracking_depth(max(self._depth, self.ORIGIN_DEPTH))
        return self

    def __exit__(self, *exc):
        sys.set_coroutine_origin_tracking_depth(self._depth)
        if self._catcher is not None:
            self._catcher.__exit__(*exc)
        for record in self._records:
            if issubclass(record.category, RuntimeWarning) and "was never awaited" in str(record.message):
                self.found.append(self._describe(record.source, str(record.message)))
            else:
                try:
                    warnings.warn_explicit(
                        record.message, record.category, record.filename, record.lineno, source=record.source
                    )
                except Warning:  # filters changed meanwhile to "error": it is not the check's to raise
                    pass
        self._records.clear()  # drop the references to the dead coroutines

    @staticmethod
    def _describe(coro, message: str) -> tuple[str, str]:
        name = getattr(coro, "__qualname__", None) or message.split("'")[1]
        where = ""
        for filename, lineno, _function in getattr(coro, "cr_origin", None) or ():  # innermost first
            if diagnose.is_learner_file(filename):
                where = diagnose.code_at(filename, lineno)
                break
        return name, where


def collect_garbage_quietly() -> None:
    """``gc.collect()``, with every warning the collected objects give while finalized dropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()


class TrialWindow:
    """Around a whole check: only what the check itself creates can be blamed on the answer.

    On the way in, the garbage that earlier cells and earlier checks left is collected. A
    coroutine that an earlier wrong answer dropped inside a reference cycle (e.g. held by the
    frames of the exception it raised) would otherwise be found by the garbage collector at any
    moment later, possibly during this check's steps, where ``UnawaitedCoroutines`` would blame
    this answer for it and quote the other answer's code. Its warning is dropped here: it is not
    this check's, and its own check has given its verdict. Then every coroutine still alive is held
    until the window closes, so none created before can be dropped (and warn) meanwhile: a "never
    awaited" warning inside the window is about a coroutine that the check's code created.

    On the way out, this check's own garbage is collected the same way, so nothing it made warns
    later in another cell's output, with the judges' files in the warning's traceback.
    """

    def __enter__(self):
        collect_garbage_quietly()
        self._alive = [obj for obj in gc.get_objects() if type(obj) is types.CoroutineType]
        return self

    def __exit__(self, *exc):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._alive.clear()  # a coroutine dropped meanwhile by code outside the check ends here
        collect_garbage_quietly()


class WatchedAsyncGenerator:
    """An async generator for a judge to hand to the learner's code, recording how it was left.

    ``started``: iterated at least once; ``exhausted``: ran to its end; ``closed``: its cleanup ran
    (by exhaustion, ``aclose()``, or ``contextlib.aclosing``). A consumer that ``break``s out of
    ``async for`` without closing it leaves ``closed`` False until the garbage collector steps in,
    which is exactly what exercises about ``aclosing`` need to see.
    """

    def __init__(self, items, delay: float = 0.0):
        self.started = self.exhausted = self.closed = False
        self._generator = self._produce(list(items), delay)

    async def _produce(self, items, delay):
        self.started = True
        try:
            for item in items:
                await asyncio.sleep(delay)
                yield item
            self.exhausted = True
        finally:
            self.closed = True

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self._generator.__anext__()

    async def asend(self, value):
        return await self._generator.asend(value)

    async def athrow(self, *args):
        return await self._generator.athrow(*args)

    async def aclose(self):
        await self._generator.aclose()
