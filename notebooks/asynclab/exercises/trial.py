"""``Trial``: the toolbox a judge gets for running the learner's code and deciding if it is right.

Every piece of the learner's code runs inside a *step* (``call``, ``collect``, ``context_manager``
are steps, and ``async with trial.step(...)`` makes one by hand). A step watches the code with the
probes (blocked loop, leaked tasks and sessions, coroutines never awaited), can record it on a
``Timeline``, and turns anything that went wrong into a ``Failure`` whose message names the
problem in the learner's terms. The ``expect*`` methods then judge the values and the timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import traceback
from typing import TYPE_CHECKING, NoReturn

from . import diagnose, schedule
from .exceptions import Failure, NotAnswered, Verdict
from .probes import BlockingSleepWatcher, LoopLagMonitor, SessionTracker, TaskTracker, UnawaitedCoroutines

if TYPE_CHECKING:
    from ..timeline import Timeline

# A late loop whose thread neither computed nor called time.sleep may be blocked in some other
# call (a synchronous request), or may only be on a machine too busy to give it the CPU. The time
# it waited for a CPU is taken off where the system says (LoopLagMonitor.longest_block), and only a
# long delay counts as blocking, so a correct answer never fails on a loaded machine.
UNEXPLAINED_BLOCK = 0.5

# A schedule fails when the slot-seconds left free while work was waiting reach this share of the
# work itself. Downloading in batches, or reading every input before starting, leaves about 40%;
# a correct schedule leaves next to nothing, also on a machine with every CPU busy.
IDLE_SHARE = 0.15


async def wait_for_tasks(tasks, timeout=None):
    """``asyncio.wait(tasks, timeout=timeout)`` for a judge's own tasks.

    When the check is stopped while it waits (the stop button cancels it), the tasks are cancelled
    too, and waited for, before the cancellation goes on: none outlives the check that made it.
    """
    try:
        return await asyncio.wait(tasks, timeout=timeout)
    except asyncio.CancelledError:
        await stop_tasks(tasks)
        raise


async def stop_tasks(tasks) -> None:
    """Cancel the tasks and wait for them; whatever they end with answers nobody, so it is taken."""
    for task in tasks:
        task.cancel()
        task.add_done_callback(take_outcome)
    with contextlib.suppress(asyncio.CancelledError):  # a second stop: they are cancelled already
        await asyncio.wait(tasks)


def take_outcome(task: asyncio.Future) -> None:
    """A done callback: retrieve the task's outcome, which answers nobody, so it is never reported."""
    if not task.cancelled():
        task.exception()


async def cancel_during(body, after=0.05):
    """Run ``body()`` in a task, cancel it after ``after`` seconds, wait until it has finished.

    Judges use it to check that cleanup survives cancellation. Returns the task; an exception
    other than the cancellation (e.g. from a broken cleanup) is raised.
    """
    task = asyncio.create_task(body())
    try:
        await asyncio.sleep(after)
        task.cancel()
        await asyncio.wait([task])
    except asyncio.CancelledError:  # the check itself was stopped: the task must not outlive it
        await stop_tasks([task])
        raise
    error = None if task.cancelled() else task.exception()
    if error is not None:
        raise error
    return task


class Collected(list):
    """The items an ``async for`` produced, with when each arrived (seconds after the step began)."""

    def __init__(self):
        super().__init__()
        self.arrival_times: list[float] = []


class Trial:
    """One run of a judge against one answer. ``trial.answer`` is the learner's object."""

    def __init__(self, exercise, answer, namespace):
        self.exercise = exercise
        self.answer = answer
        self.name = exercise.name
        self.doing = f"`{exercise.name}`"  # the learner's code running now, for the time-limit message
        self.timeline: Timeline | None = None  # the Timeline of the latest step run with timeline=True
        self._lag: LoopLagMonitor | None = None  # that step's loop-lag monitor
        self._namespace = namespace

    def lookup(self, name: str, default=None):
        """Another name from the learner's namespace (for exercises that need more than one definition)."""
        return self._namespace.get(name, default)

    def step(self, doing: str, *, timeline: bool = False) -> Step:
        """``async with trial.step("`async with stopwatch()`"):`` runs learner code under watch."""
        return Step(self, doing, timeline)

    # --- running the learner's code ----------------------------------------------------------------

    def _name_of(self, fn) -> str:
        return self.name if fn is self.answer else getattr(fn, "__name__", self.name)

    async def call(self, fn, *args, timeline: bool = False, doing: str | None = None, **kwargs):
        """Call ``fn(*args, **kwargs)``, await it if it is a coroutine, and return its result.

        A coroutine, task or list of them coming back (a forgotten ``await``) is a failure;
        so is the stub's ``...``. ``doing`` names the call in messages (default: ```fn(1, 2)```).
        """
        doing = doing or diagnose.describe_call(self._name_of(fn), args, kwargs)
        async with self.step(doing, timeline=timeline):
            value = fn(*args, **kwargs)
            if inspect.iscoroutine(value):
                value = await value
            self._refuse_unawaited(value, doing)
        return value

    async def collect(
        self,
        source,
        *args,
        limit: int | None = None,
        timeline: bool = False,
        max_items: int = 1000,
        doing: str | None = None,
        **kwargs,
    ) -> Collected:
        """Iterate with ``async for`` and return the items (a ``Collected`` list with arrival times).

        source: an async iterable, or a callable (the learner's async generator function, a class)
                called with ``*args, **kwargs`` to make one.
        limit:  stop after this many items and close the iterator, as ``break`` + ``aclosing`` would.
        An ``async def`` without ``yield`` is diagnosed here: a returned list vs. a plain coroutine.
        """
        make = inspect.isclass(source) or (callable(source) and not hasattr(source, "__aiter__"))
        doing = doing or (
            diagnose.describe_call(self._name_of(source), args, kwargs)
            if make
            else f"`async for` over {diagnose.short_repr(source, 40)}"
        )
        items = Collected()
        async with self.step(doing, timeline=timeline):
            iterable = source(*args, **kwargs) if make else source
            if inspect.iscoroutine(iterable):
                await self._refuse_coroutine_iterable(iterable, doing)
            problem = diagnose.iterable_problem(iterable, doing)
            if problem:
                raise Failure(problem + ".")
            iterator = iterable.__aiter__()
            if inspect.isawaitable(iterator):
                diagnose.discard([iterator])
                raise Failure(
                    f"`__aiter__` of {doing} is `async def`; it must be a plain `def` "
                    f"that returns the iterator (usually `return self`)."
                )
            await self._drain(iterator, items, limit, max_items, doing)
        return items

    async def _drain(self, iterator, items: Collected, limit, max_items, doing) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        finished = False
        try:
            while limit is None or len(items) < limit:
                try:
                    item = await iterator.__anext__()
                except StopAsyncIteration:
                    finished = True
                    break
                items.append(item)
                items.arrival_times.append(loop.time() - started)
                if len(items) > max_items:
                    raise Failure(
                        f"{doing} yielded more than {max_items} items, so the check stopped "
                        f"it. Is a stop condition missing (a `break`, or a counter that never "
                        f"reaches the end)?"
                    )
                if len(items) % 50 == 0:  # an iterator that never waits must still let a time limit in
                    await asyncio.sleep(0)
        finally:
            # Stopping early: close it, as `async with contextlib.aclosing(...)` would, so its cleanup runs now.
            if not finished and hasattr(iterator, "aclose"):
                await iterator.aclose()

    async def _refuse_coroutine_iterable(self, coroutine, doing) -> None:
        """An ``async def`` with no ``yield``: run it to tell "returned a list" from "returned nothing"."""
        value = await coroutine
        self._refuse_unawaited(value, doing)
        if isinstance(value, (list, tuple, set)):
            raise Failure(
                f"{doing} returned a {type(value).__name__} ({diagnose.short_repr(value, 40)}) "
                f"all at once. An async generator hands items out one by one: `yield` each "
                f"item instead of collecting them in a list."
            )
        raise Failure(
            f"`{self.name}` returns a coroutine (it is an `async def` with no `yield`), "
            f"so `async for` cannot use it: use `yield` inside it so it becomes an async "
            f"generator."
        )

    async def context_manager(self, fn, *args, doing: str | None = None, **kwargs):
        """Call ``fn(*args, **kwargs)`` and check the result can be used with ``async with``; return it."""
        doing = doing or diagnose.describe_call(self._name_of(fn), args, kwargs)
        async with self.step(doing):
            manager = fn(*args, **kwargs)
            if inspect.iscoroutine(manager):
                manager.close()
                raise Failure(
                    f"{doing} returns a coroutine, but `async with` needs an async context "
                    f"manager: decorate an async generator with `@contextlib.asynccontextmanager`, "
                    f"or write a class with `async def __aenter__` and `async def __aexit__`."
                )
            if inspect.isasyncgen(manager):
                raise Failure(
                    f"{doing} returned an async generator: put `@contextlib.asynccontextmanager` "
                    f"above `async def {self.name}` so `async with` can use it."
                )
            if not (hasattr(manager, "__aenter__") and hasattr(manager, "__aexit__")):
                if hasattr(manager, "__enter__"):
                    raise Failure(
                        f"{doing} returned a regular context manager (for `with`); an async one "
                        f"needs `async def __aenter__`/`__aexit__`, or "
                        f"`@contextlib.asynccontextmanager` on an `async def`."
                    )
                raise Failure(f"{doing} returned {diagnose.short_repr(manager, 40)}, which `async with` cannot use.")
        return manager

    def _refuse_unawaited(self, value, doing) -> None:
        if value is Ellipsis:
            raise NotAnswered(
                f"{doing} returned `...`: fill in `{self.name}`, run that cell, then run this cell again."
            )
        found = diagnose.awaitables_in(value)
        if found:
            message = diagnose.forgotten_await_message(value, found, doing)
            diagnose.discard(found)
            raise Failure(message + ".")

    # --- judging ----------------------------------------------------------------------------------

    def fail(self, message: str, *, timelines=None) -> NoReturn:
        """End the check: the answer is wrong, and ``message`` says why (in the learner's terms)."""
        raise Failure(message, timelines=timelines)

    def expect(self, condition, message: str) -> None:
        if not condition:
            self.fail(message)

    def expect_equal(self, got, expected, what: str) -> None:
        """Fail with "{what} {got!r}; expected {expected!r}." unless ``got == expected``.

        ``what`` reads as the start of the sentence: "`async_range(3, 0.1)` yielded".
        """
        if got == expected:
            return
        if got is None:
            self.fail(f"{what} None. Is a `return` missing?")
        self.fail(f"{what} {diagnose.short_repr(got)}; expected {diagnose.short_repr(expected)}.")

    def expect_cancelled(self, task: asyncio.Task, when: str) -> None:
        """Fail unless ``task`` (from ``cancel_during``) ended cancelled: the answer let ``CancelledError`` go on."""
        self.expect(
            task.cancelled(),
            f"{when}, the task ended as if nothing had happened: `{self.name}` "
            f"swallowed the `CancelledError`. Let it go on to the caller: don't catch it, or "
            f"`raise` it again after cleaning up (an `__aexit__` must not return True for it).",
        )

    def expect_raises(self, exception_type, message: str) -> ExpectRaises:
        """``with trial.expect_raises(ValueError, "..."):`` fails with ``message`` if nothing is raised."""
        return ExpectRaises(self, exception_type, message)

    # --- timing against the reference -----------------------------------------------------------------

    async def reference_timeline(self, *args, **kwargs):
        """Run the exercise's reference with these arguments under a Timeline and return the timeline.

        For comparing with the learner's. Async generators and iterables are iterated to the end;
        coroutines are awaited.
        """
        from ..timeline import Timeline

        async with Timeline(show=False) as timeline:
            result = self.exercise.reference(*args, **kwargs)
            if inspect.iscoroutine(result):
                result = await result
            if hasattr(result, "__aiter__"):
                async for _ in result:
                    pass
        return timeline

    async def expect_concurrency(
        self,
        *,
        waits="sleep",
        at_least: int | None = None,
        at_most: int | None = None,
        what: str = "waits",
        reference_args: tuple = (),
        advice: str = "",
    ) -> None:
        """Judge how many of the learner's waits overlapped, from the latest step's timeline.

        waits:    which spans to count: a label (``"sleep"``, ``"Semaphore.acquire"``, ...) or kind, or
                  a function ``span -> bool``, as ``Timeline.max_concurrency`` takes
        at_least: this many must have been in progress at once (e.g. all the requests)
        at_most:  never more than this many at once (e.g. a semaphore's limit)
        what:     what the waits are, for the message: "requests"
        reference_args: arguments for the reference, run to draw the comparison diagram on failure
        """
        if self.timeline is None:
            raise RuntimeError("expect_concurrency needs a step run with timeline=True first")
        mine = self.timeline
        overlap = mine.max_concurrency(waits)
        if at_least is not None and overlap < at_least:
            reference, timing = await self._against_reference(reference_args)
            if overlap <= 1:
                message = f"Correct result, but your {what} ran one after another: {timing}."
            else:
                message = (
                    f"Correct result, but only {overlap} of your {what} ran at the same time "
                    f"(at least {at_least} should): {timing}."
                )
            self.fail(f"{message} {advice}".strip(), timelines=(mine, reference))
        if at_most is not None and overlap > at_most:
            reference = await self.reference_timeline(*reference_args)
            self.fail(
                f"{overlap} of your {what} ran at the same time; at most {at_most} should. {advice}".strip(),
                timelines=(mine, reference),
            )

    async def _against_reference(self, reference_args):
        """The reference's timeline, and "X s instead of about Y s" for a message."""
        if self.timeline is None:
            raise RuntimeError("a comparison of timings needs a step run with timeline=True first")
        reference = await self.reference_timeline(*reference_args)
        return reference, f"{self.timeline.duration:.2f} s instead of about {reference.duration:.2f} s"

    async def fail_on_timing(self, message: str, *, reference_args: tuple = ()) -> None:
        """Fail with ``message`` about the latest timeline, adding both durations and both diagrams."""
        reference, timing = await self._against_reference(reference_args)
        self.fail(message.replace("{timing}", timing), timelines=(self.timeline, reference))

    def _starved_in_timeline(self) -> list[tuple[float, float]]:
        """When the machine held up the latest timed step's loop, in that timeline's seconds."""
        t0 = self.timeline.started_at if self.timeline is not None else None
        if t0 is None or self._lag is None:
            return []
        return [(start - t0, end - t0) for start, end in self._lag.starved]

    async def expect_slots_busy(
        self, jobs, *, limit: int, what: str, waiting: str, reference_args: tuple = (), advice: str = ""
    ) -> None:
        """Judge that ``limit`` jobs ran whenever that many were ready (see schedule.py).

        jobs:    ``schedule.Job``s read from the latest step's timeline
        what:    the jobs, for the message: "downloads"
        waiting: what waits, for the message: "URLs"
        Fails, with both diagrams, when the capacity left idle while work waited reaches
        ``IDLE_SHARE`` of the work; says "in batches" only when the jobs did run as batches.
        """
        idle, stretch = schedule.idle_capacity(jobs, limit, self._starved_in_timeline())
        work = sum(job.end - job.start for job in jobs)
        if not jobs or stretch is None or idle < IDLE_SHARE * work:
            return
        if schedule.ran_in_batches(jobs, limit):
            reason = (
                f"your {what} ran in batches of {limit}: each batch started only when the whole "
                f"previous batch had finished, so while a batch waited for its slowest one, the "
                f"free slots stayed idle with {waiting} waiting"
            )
        else:
            reason = (
                f"slots stayed free while {waiting} were waiting: from {stretch.start:.2f} s to "
                f"{stretch.end:.2f} s at most {stretch.running} of your {what} ran while "
                f"{stretch.waiting} or more {waiting} waited"
            )
        await self.fail_on_timing(
            f"Correct result and never more than {limit} at once, but {reason} ({idle:.2f} s of idle "
            f"slots in all; {{timing}}). {advice}".strip(),
            reference_args=reference_args,
        )


class ExpectRaises:
    """Context manager behind ``trial.expect_raises``: the expected exception is swallowed, others pass."""

    def __init__(self, trial, exception_type, message):
        self.trial, self.exception_type, self.message = trial, exception_type, message
        self.raised = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and issubclass(exc_type, self.exception_type):
            self.raised = exc
            return True
        if exc_type is None:
            self.trial.fail(self.message)
        return False


class Step:
    """Runs a stretch of the learner's code with every probe on, then reports the worst problem.

    On the way out, in order of what a learner should fix first: the stub still raising
    NotImplementedError; a coroutine never awaited; an exception from their code; a blocked event
    loop; an aiohttp session left open; tasks left running; a task that failed unnoticed. Sessions
    and tasks left behind are always cleaned up, reported or not, so nothing leaks into the notebook.
    """

    def __init__(self, trial: Trial, doing: str, timeline: bool):
        self.trial, self.doing, self.use_timeline = trial, doing, timeline
        self.timeline: Timeline | None = None

    async def __aenter__(self):
        self.trial.doing = self.doing
        self._problem: Verdict | None = None
        self._leftovers: dict[str, list] = {"sessions": [], "running": [], "unnoticed": []}
        # Everything the step switches on is entered on one stack, so it is switched off in the
        # reverse order, and a failure (or an interrupt) while entering undoes what was entered.
        # Read from the bottom up, this is the order of the way out.
        async with contextlib.AsyncExitStack() as stack:
            self.tasks = stack.enter_context(TaskTracker())  # last: tasks started by cleanups count too
            self.unawaited = stack.enter_context(UnawaitedCoroutines())  # after the cleanup: dropped coroutines warned
            stack.push_async_callback(self._stop_tasks_left)
            self.sessions = stack.enter_context(SessionTracker())
            stack.push_async_callback(self._close_sessions_left)
            stack.push_async_callback(asyncio.sleep, 0)  # cancelled tasks and closed generators clean up
            stack.push(self._judge_exit)
            if self.use_timeline:
                from ..timeline import Timeline  # only exercises about timing pay for importing it

                timeline = Timeline(show=False)
                await stack.enter_async_context(timeline)
                self.timeline = self.trial.timeline = timeline
            self.sleeps = stack.enter_context(BlockingSleepWatcher())
            # Started last and stopped first, so the probes' and the timeline's own bookkeeping
            # never counts as blocking.
            self.lag = LoopLagMonitor().start()
            if self.use_timeline:
                self.trial._lag = self.lag  # the timeline's loop lag, for judging its schedule
            stack.callback(self.lag.stop)
            self._exits = stack.pop_all()
        return self.timeline

    async def __aexit__(self, exc_type, exc, tb):
        await self._exits.__aexit__(exc_type, exc, tb)  # every probe off, leftovers cleaned up
        if exc_type is not None and not issubclass(exc_type, Exception):
            return False  # cancelled (the time limit) or interrupted: let it through, nothing to judge
        problem = self._worst_problem(self._problem, self._leftovers)
        if problem is None:
            return False  # no exception came in (or an expected one): nothing to add
        raise problem from None

    def _judge_exit(self, exc_type, exc, tb) -> bool:
        """On the way out, once the clocks have stopped: what the exception from the learner's code means."""
        if exc_type is not None and issubclass(exc_type, Exception):
            self._problem = self._judge_exception(exc)
        return False

    def _judge_exception(self, exc: Exception) -> Verdict:
        leaf, _ = diagnose.first_leaf(exc)
        verdict: Verdict
        if isinstance(leaf, NotImplementedError):
            verdict = NotAnswered(
                f"{self.doing} still raises NotImplementedError. Fill in "
                f"`{self.trial.name}`, run that cell, then run this cell again."
            )
        elif isinstance(exc, Verdict):
            verdict = exc
        else:
            verdict = Failure(diagnose.describe_exception(exc, self.doing))
        if not isinstance(exc, Verdict):
            _clear_learner_frames(exc.__traceback__)
            if isinstance(leaf, AttributeError):
                leaf.obj = None  # it may be the coroutine someone forgot to await: let it go now too
        return verdict

    async def _close_sessions_left(self) -> None:
        self._leftovers["sessions"] = self.sessions.left_open()
        await self.sessions.close_all()

    async def _stop_tasks_left(self) -> None:
        running = self.tasks.still_running()
        if running:
            await TaskTracker.cancel(running)
        unnoticed = self.tasks.failed_unnoticed()
        for task in unnoticed:
            task.exception()  # mark it retrieved: the verdict reports it instead of asyncio's log
        self._leftovers.update(running=running, unnoticed=unnoticed)

    def _worst_problem(self, problem: Verdict | None, leftovers: dict) -> Verdict | None:
        if isinstance(problem, NotAnswered):
            return problem
        if self.unawaited.found:
            name, where = self.unawaited.found[0]
            where = f" ({where})" if where else ""
            return Failure(
                f"A coroutine `{name}(...)` was created but never awaited{where} while running "
                f"{self.doing}: put `await` in front of it."
            )
        if problem is not None:
            return problem
        blocked = self._blocking_problem()
        if blocked:
            return blocked
        if leftovers["sessions"]:
            return Failure(
                f"{self.doing} left an `aiohttp.ClientSession` open (the check closed it for you "
                f"this time). Create it with `async with aiohttp.ClientSession() as session:` "
                f"so it is closed even when something fails."
            )
        if leftovers["running"] and all(_closes_a_generator(t) for t in leftovers["running"]):
            # asyncio closes an async generator dropped while paused in a task of its own.
            return Failure(
                f"{self.doing} left an async generator unfinished: it was dropped while paused, so "
                f"asyncio closes it later, in a task of its own. Close it where you stop reading, with "
                f"`async with contextlib.aclosing(generator):` around the `async for`."
            )
        if leftovers["running"]:
            names = sorted({_coroutine_name(t) for t in leftovers["running"]})
            return Failure(
                f"{self.doing} finished but left {len(leftovers['running'])} task(s) running "
                f"(running `{names[0]}`): await every task you start, e.g. with "
                f"`asyncio.gather` or an `asyncio.TaskGroup`."
            )
        if leftovers["unnoticed"]:
            task = leftovers["unnoticed"][0]
            failure = diagnose.describe_exception(task.exception(), f"a task running `{_coroutine_name(task)}`")
            return Failure(
                f"{failure} Nobody awaited that task, so the error went unnoticed: await every task you start."
            )
        return None

    def _blocking_problem(self) -> Failure | None:
        threshold = self.trial.exercise.blocking_threshold
        slept = max((seconds for seconds, _ in self.sleeps.calls), default=0.0)
        blocked = (
            slept >= threshold
            or self.lag.most_cpu >= threshold
            or self.lag.longest_block >= max(threshold, UNEXPLAINED_BLOCK)
        )
        if not blocked:
            return None
        longest = max(slept, self.lag.longest_block, self.lag.most_cpu)
        culprits = [where for seconds, where in self.sleeps.calls if where]
        if slept >= threshold and culprits:
            return Failure(
                f"The event loop was blocked for {longest:.2f} s in one step while running "
                f"{self.doing}: `time.sleep` ({culprits[0]}) stops every task. "
                f"Use `await asyncio.sleep(...)` instead."
            )
        return Failure(
            f"The event loop was blocked for {longest:.2f} s in one step while running "
            f"{self.doing}: is there a `time.sleep` or other blocking call? "
            f"Use `await asyncio.sleep(...)` (or the async version of that call) instead."
        )


def _clear_learner_frames(tb) -> None:
    """Drop the local variables of the learner's frames in a traceback.

    A coroutine the learner forgot to await may sit in one of them; freed now, its "never awaited"
    warning comes while the probe still listens (and becomes the verdict), not later on stderr.
    """
    for frame, _ in traceback.walk_tb(tb):
        if diagnose.is_learner_file(frame.f_code.co_filename):
            try:
                frame.clear()
            except RuntimeError:  # still executing: nothing to free
                pass


def _closes_a_generator(task: asyncio.Task) -> bool:
    """The task asyncio starts to ``aclose()`` an async generator that was dropped while paused."""
    return type(task.get_coro()).__name__ == "async_generator_athrow"


def _coroutine_name(task: asyncio.Task) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or task.get_name()
