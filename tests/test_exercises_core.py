"""The exercise framework: every demo exercise passes with its reference answer and gives the
intended, specific message for typical wrong answers, without tracebacks, warnings or stderr.

Learner answers are written below as they would be in a notebook cell. Checks run with
``asyncio.run`` (no pytest-asyncio); every warning is an error in this module, so a coroutine left
un-awaited or a session left open by a check would fail the test that caused it.
"""

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import aiohttp
import pytest
from asynclab.exercises import Exercise, WatchedAsyncGenerator
from asynclab.exercises.demo import fake_fetch, q1, q2, q3
from asynclab.exercises.probes import LoopLagMonitor, starved
from asynclab.exercises.schedule import Job, batches, idle_capacity, ran_in_batches
from exercise_checks import assert_fails, assert_passes, check

pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


# --- q1: async_range, an async generator ----------------------------------------------------------


async def async_range_ok(n, delay):
    for i in range(n):
        await asyncio.sleep(delay)
        yield i


async def async_range_stub(n, delay):
    """Yield 0, 1, ..., n-1, waiting `delay` seconds before each."""
    # YOUR CODE HERE
    raise NotImplementedError


def async_range_sync_generator(n, delay):
    for i in range(n):
        time.sleep(delay)
        yield i


def async_range_sync_list(n, delay):
    return list(range(n))


async def async_range_returns_list(n, delay):
    numbers = []
    for i in range(n):
        await asyncio.sleep(delay)
        numbers.append(i)
    return numbers


async def async_range_prints(n, delay):
    for i in range(n):
        await asyncio.sleep(delay)
        print(i, end=" ")


async def async_range_time_sleep(n, delay):
    for i in range(n):
        time.sleep(delay)
        yield i


async def async_range_busy_wait(n, delay):
    for i in range(n):
        until = time.perf_counter() + delay
        while time.perf_counter() < until:
            pass
        yield i


async def async_range_forgot_await(n, delay):
    for i in range(n):
        asyncio.sleep(delay)
        yield i


async def async_range_never_stops(n, delay):
    i = 0
    while i < n:
        await asyncio.sleep(delay)
        yield i


async def async_range_async_for_range(n, delay):
    async for i in range(n):
        await asyncio.sleep(delay)
        yield i


async def async_range_all_at_the_end(n, delay):
    numbers = []
    for i in range(n):
        await asyncio.sleep(delay)
        numbers.append(i)
    for number in numbers:
        yield number


async def async_range_never_waits(n, delay):
    i = 0
    while True:
        yield i
        i += 1


async def async_range_one_parameter(n):
    for i in range(n):
        yield i


async def async_range_half_done(n, delay):
    for i in range(n):
        await asyncio.sleep(delay)
    raise NotImplementedError("yield the numbers")


def test_async_range_reference_passes():
    assert_passes(check(q1, q1.reference))


def test_async_range_stub_is_not_answered_yet():
    result = check(q1, async_range_stub)
    assert result.status == "not answered" and not result
    assert "still the stub" in result.message and "run this cell again" in result.message


def test_async_range_raising_not_implemented_midway_is_not_answered_yet():
    result = check(q1, async_range_half_done)
    assert result.status == "not answered"
    assert "NotImplementedError" in result.message and "run this cell again" in result.message


def test_async_range_sync_generator():
    assert_fails(check(q1, async_range_sync_generator), "regular generator", "async def")


def test_async_range_sync_function():
    assert_fails(check(q1, async_range_sync_list), "`async_range` is a regular function", "async def")


def test_async_range_returning_a_list():
    assert_fails(check(q1, async_range_returns_list), "returned a list ([0, 1, 2]) all at once", "`yield` each item")


def test_async_range_coroutine_without_yield():
    assert_fails(
        check(q1, async_range_prints), "`async_range` returns a coroutine", "use `yield` inside it", "async generator"
    )


def test_async_range_time_sleep_blocks_the_loop():
    result = check(q1, async_range_time_sleep)
    assert_fails(result, "event loop was blocked for", "`time.sleep`", "time.sleep(delay)", "await asyncio.sleep")


def test_async_range_busy_waiting_blocks_the_loop():
    assert_fails(check(q1, async_range_busy_wait), "event loop was blocked for", "blocking call")


def test_async_range_forgotten_await_is_named_without_a_warning():
    # filterwarnings("error") on this module: a leaked "never awaited" warning would fail the test
    assert_fails(
        check(q1, async_range_forgot_await),
        "`sleep(...)` was created but never awaited",
        "asyncio.sleep(delay)",
        "put `await` in front",
    )


def test_async_range_exception_is_one_line_with_the_learners_line():
    result = check(q1, async_range_async_for_range)
    assert_fails(result, "raised TypeError", "async for i in range(n):", "use a plain `for`")
    assert "Traceback" not in result.message and "asynclab" not in result.message


def test_async_range_all_items_at_the_end():
    assert_fails(check(q1, async_range_all_at_the_end), "arrived together at the end")


def test_async_range_hang_hits_the_time_bound():
    started = time.perf_counter()
    result = check(q1, async_range_never_stops, time_limit=1.0)
    assert time.perf_counter() - started < 4
    assert_fails(result, "still running after 1 s", "stop condition", "`break`")


def test_async_range_endless_without_waiting_is_stopped_by_count():
    assert_fails(check(q1, async_range_never_waits), "yielded more than 1000 items", "stop condition")


def test_async_range_wrong_parameters():
    assert_fails(
        check(q1, async_range_one_parameter),
        "raised TypeError",
        "takes 1 positional argument",
        "parameters in its `def` line",
    )


# --- q2: fetch_all, concurrent requests sharing one session -------------------------------------------


async def fetch_all_ok_taskgroup(urls):
    async with aiohttp.ClientSession() as session:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(fake_fetch(session, url)) for url in urls]
    return [task.result() for task in tasks]


async def fetch_all_sequential(urls):
    pages = []
    async with aiohttp.ClientSession() as session:
        for url in urls:
            pages.append(await fake_fetch(session, url))
    return pages


async def fetch_all_leaks_session(urls):
    session = aiohttp.ClientSession()
    return await asyncio.gather(*(fake_fetch(session, url) for url in urls))


async def fetch_all_returns_coroutines(urls):
    async with aiohttp.ClientSession() as session:
        return [fake_fetch(session, url) for url in urls]


async def fetch_all_returns_one_coroutine(urls):
    async with aiohttp.ClientSession() as session:
        return asyncio.gather(*(fake_fetch(session, url) for url in urls))


def fetch_all_sync(urls):
    return [f"<page {url}>" for url in urls]


async def fetch_all_stub(urls): ...


async def fetch_all_session_closed_too_early(urls):
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fake_fetch(session, url)) for url in urls]
    return await asyncio.gather(*tasks)


async def fetch_all_task_group_after_the_session(urls):
    async with aiohttp.ClientSession() as session:
        pass
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(fake_fetch(session, url)) for url in urls]
    return [task.result() for task in tasks]


async def fetch_all_leaves_tasks_running(urls):
    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(fake_fetch(session, url)) for url in urls]
        await asyncio.sleep(0.01)
        return [f"<page {url}>" for url in urls]


async def fetch_all_uses_a_coroutine_as_its_result(urls):
    async with aiohttp.ClientSession() as session:
        pages = []
        for url in urls:
            page = fake_fetch(session, url)
            pages.append(page.strip())
        return pages


async def fetch_all_forgets_return(urls):
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(fake_fetch(session, url) for url in urls))


def test_fetch_all_reference_passes():
    assert_passes(check(q2, q2.reference))


def test_fetch_all_with_a_task_group_passes():
    assert_passes(check(q2, fetch_all_ok_taskgroup))


def test_fetch_all_sequential_is_judged_by_its_timeline():
    result = check(q2, fetch_all_sequential)
    assert_fails(
        result, "Correct result, but your requests ran one after another", "instead of about", "asyncio.gather"
    )
    yours, reference = result.timelines
    assert yours.duration > 2 * reference.duration  # 5 x 0.1 s in a row vs. all at once


def test_fetch_all_sequential_figure_compares_both_timelines():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = check(q2, fetch_all_sequential)
    assert_fails(result, "ran one after another")
    figure = result.figure()
    assert isinstance(figure, matplotlib.figure.Figure)
    plt.close(figure)


def test_fetch_all_leaked_session_is_closed_and_reported():
    result = check(q2, fetch_all_leaks_session)
    assert_fails(
        result,
        "left an `aiohttp.ClientSession` open",
        "closed it for you",
        "async with aiohttp.ClientSession() as session",
    )


def test_fetch_all_list_of_coroutines_is_a_forgotten_await():
    assert_fails(
        check(q2, fetch_all_returns_coroutines),
        "list of 5 coroutine objects",
        "`fake_fetch(...)`",
        "never ran",
        "asyncio.gather",
    )


def test_fetch_all_using_a_coroutine_as_its_result_points_at_the_missing_await():
    assert_fails(
        check(q2, fetch_all_uses_a_coroutine_as_its_result),
        "`fake_fetch(...)` was created but never awaited",
        "page = fake_fetch(session, url)",
    )


def test_fetch_all_unawaited_gather_is_a_forgotten_await():
    assert_fails(check(q2, fetch_all_returns_one_coroutine), "unfinished Future", "`await` it")


def test_fetch_all_sync_function():
    assert_fails(check(q2, fetch_all_sync), "`fetch_all` is a regular function; define it with `async def`")


def test_fetch_all_stub_is_not_answered_yet():
    result = check(q2, fetch_all_stub)
    assert result.status == "not answered" and "still the stub" in result.message


def test_fetch_all_exception_names_type_message_and_line():
    result = check(q2, fetch_all_session_closed_too_early)
    assert_fails(
        result, "`fetch_all(urls)` raised RuntimeError: Session is closed", "used after its `async with` block ended"
    )
    assert "Traceback" not in result.message


def test_fetch_all_error_in_a_task_group_is_unwrapped():
    result = check(q2, fetch_all_task_group_after_the_session)
    assert_fails(
        result,
        "raised RuntimeError: Session is closed in one of its tasks, and 4 more failed too",
        "async with asyncio.TaskGroup() as group:",
    )
    assert "ExceptionGroup" not in result.message


def test_fetch_all_tasks_left_running():
    assert_fails(check(q2, fetch_all_leaves_tasks_running), "left 5 task(s) running", "`fake_fetch`")


def test_fetch_all_missing_return():
    assert_fails(check(q2, fetch_all_forgets_return), "`fetch_all(urls)` returned None. Is a `return` missing?")


# --- q3: stopwatch, an async context manager ---------------------------------------------------------------


class StopwatchClass:
    async def __aenter__(self):
        self.start = time.perf_counter()
        return self

    async def __aexit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start


class StopwatchSync:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start


@contextlib.contextmanager
def stopwatch_sync_decorated():
    yield None


async def stopwatch_missing_decorator():
    yield None


@contextlib.asynccontextmanager
async def stopwatch_without_finally():
    watch = type("Watch", (), {"elapsed": None})()
    start = time.perf_counter()
    yield watch
    watch.elapsed = time.perf_counter() - start


class StopwatchSwallows(StopwatchClass):
    async def __aexit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start
        return True


class StopwatchStub:
    async def __aenter__(self): ...

    async def __aexit__(self, *exc): ...


class StopwatchTypo(StopwatchClass):
    async def __aexit__(self, *exc):
        self.elapsed = time.perf_counter() - self.begin


def test_stopwatch_reference_passes():
    assert_passes(check(q3, q3.reference))


def test_stopwatch_class_passes():
    assert_passes(check(q3, StopwatchClass))


def test_stopwatch_sync_context_manager():
    assert_fails(check(q3, StopwatchSync), "regular context manager", "async def __aenter__")


def test_stopwatch_sync_contextmanager_decorator():
    assert_fails(check(q3, stopwatch_sync_decorated), "regular generator function", "@contextlib.asynccontextmanager")


def test_stopwatch_missing_decorator():
    assert_fails(
        check(q3, stopwatch_missing_decorator), "async generator function", "`@contextlib.asynccontextmanager`"
    )


def test_stopwatch_not_set_when_the_block_raises():
    assert_fails(check(q3, stopwatch_without_finally), "`sw.elapsed` was not set", "finally")


def test_stopwatch_swallowing_the_exception():
    assert_fails(check(q3, StopwatchSwallows), "swallowed the ValueError")


def test_stopwatch_stub_class_is_not_answered_yet():
    assert check(q3, StopwatchStub).status == "not answered"


def test_stopwatch_exception_in_aexit_names_the_learners_line():
    result = check(q3, StopwatchTypo)
    assert_fails(
        result,
        "raised AttributeError",
        "'StopwatchTypo' object has no attribute 'begin'",
        "self.elapsed = time.perf_counter() - self.begin",
    )


# --- looking the answer up by name; hints; solution ------------------------------------------------------------


def test_check_finds_the_answer_by_name():
    assert_passes(asyncio.run(q1.check(namespace={"async_range": async_range_ok}, show=False)))


def test_check_finds_the_answer_in_main(monkeypatch):
    monkeypatch.setattr(sys.modules["__main__"], "async_range", async_range_ok, raising=False)
    assert_passes(asyncio.run(q1.check(show=False)))


def test_check_with_nothing_defined_is_not_answered_yet():
    result = asyncio.run(q1.check(namespace={}, show=False))
    assert result.status == "not answered"
    assert "`async_range` is not defined yet" in result.message


def test_check_prints_a_verdict_on_stdout_and_nothing_on_stderr(capsys):
    result = asyncio.run(q2.check(fetch_all_returns_coroutines))
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("✘ Not yet:") and "coroutine objects" in out
    assert str(result) == out.strip()


def test_hints_are_revealed_one_at_a_time_then_run_out(capsys):
    exercise = Exercise("f", hints=["first", "second"])
    assert exercise.hint() == "first"
    assert exercise.hint() == "second"
    assert "No more hints" in exercise.hint()
    assert "No more hints" in exercise.hint()
    assert exercise.hint(1) == "first"
    out = capsys.readouterr().out
    assert "Hint 1 of 2: first" in out and "Hint 2 of 2: second" in out


def test_demo_hints_end_with_a_pointer_to_the_solution(capsys):
    exercise = Exercise("f", hints=list(q2.hints))
    total = len(q2.hints)
    assert total >= 2
    assert [exercise.hint() for _ in range(total)] == q2.hints  # each one once, in order
    shown = capsys.readouterr().out.splitlines()
    assert shown == [
        f"Hint {n} of {total}: {hint}" + (" (`.hint()` on this exercise again for the next one)" if n < total else "")
        for n, hint in enumerate(q2.hints, 1)
    ]
    assert exercise.hint() == (
        f"No more hints: you have seen all {total}. `.solution()` on this exercise shows a full answer."
    )
    assert capsys.readouterr().out.startswith("No more hints")


def test_solution_shows_the_reference_source(capsys):
    source = q1.solution()
    assert source.startswith("async def async_range(n, delay):") and "yield i" in source
    out = capsys.readouterr().out
    assert "Solution for `async_range`" in out and "await asyncio.sleep(delay)" in out
    assert q3.solution().startswith("@contextlib.asynccontextmanager\nasync def stopwatch():")


# --- the framework itself -----------------------------------------------------------------------------------------


def test_a_bug_in_a_judge_is_reported_not_raised():
    exercise = Exercise("f", expects="async function")

    @exercise.judge
    async def judge(trial, f):
        await trial.call(f)
        {}["missing"]

    async def f():
        return 1

    result = check(exercise, f)
    assert result.status == "error" and isinstance(result.error, KeyError)
    assert "not in your answer" in result.message


def test_the_lag_monitor_tells_a_computing_loop_from_a_waiting_one():
    import select

    def compute():
        until = time.thread_time() + 0.3
        while time.thread_time() < until:  # 0.3 s of CPU, however busy the machine is
            pass

    def wait():
        select.select([], [], [], 0.3)  # 0.3 s without computing, like a process that gets no CPU

    async def monitored(block):
        monitor = LoopLagMonitor().start()
        await asyncio.sleep(0.03)
        block()
        await asyncio.sleep(0.03)
        monitor.stop()
        return monitor

    computing = asyncio.run(monitored(compute))
    assert computing.most_cpu > 0.25 and computing.longest_lag > 0.25
    waiting = asyncio.run(monitored(wait))
    assert waiting.most_cpu < 0.1 and waiting.longest_lag > 0.25
    # Only the stretch the loop thread spent off the CPU is the machine's doing ("starved").
    assert not [s for s in computing.starved if s[1] - s[0] > 0.2]
    assert [s for s in waiting.starved if s[1] - s[0] > 0.25]
    # Waiting in a call is blocking, however busy the machine: only the moment the thread, woken,
    # queues for a CPU is taken off (under a full test run, up to a tenth of a second and more).
    # (A computation's block is its CPU time, most_cpu, whatever its queueing made of its lag.)
    assert waiting.longest_block > 0.15


def test_a_late_timer_is_the_machines_doing_only_when_the_loop_hardly_computed():
    """The rule behind LoopLagMonitor.starved, in the numbers a busy machine gives it."""
    assert starved(lag=0.2, cpu=0.001, withheld=0.199)  # an idle loop queued for a CPU
    assert starved(lag=0.3, cpu=0.0, withheld=0.0)  # stopped, or blocked in a call
    assert not starved(lag=0.005, cpu=0.0, withheld=0.005)  # too little to excuse anything
    assert not starved(lag=0.3, cpu=0.3, withheld=0.0)  # computing, on an idle machine
    # Computing 0.3 s while other processes take 55% of the CPU: the code's doing, though it
    # computed for under half the lag (as the test above can find under a full test run).
    assert not starved(lag=0.66, cpu=0.3, withheld=0.36)
    assert starved(lag=0.66, cpu=0.3, withheld=0.0)  # where the system does not say: half the lag
    assert starved(lag=1.5, cpu=0.3, withheld=1.2)  # a fifth of the lag: the machine's


STARVED_LOOP = """
import asyncio, os, sys, time
from asynclab.exercises.probes import LoopLagMonitor

os.sched_setaffinity(0, {CPU})

async def main():
    for _ in range(20):  # first, what a cold start pages in (code read from disk is not starvation)
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    sys.stdin.readline()  # the busy competitor is running on this CPU
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # it comes first
    monitor = LoopLagMonitor().start()
    began = time.perf_counter()
    while time.perf_counter() - began < 1.0:
        await asyncio.sleep(0.01)  # nothing on this loop blocks
    monitor.stop()
    print(monitor.longest_lag, monitor.longest_block, flush=True)

asyncio.run(main())
"""


@pytest.mark.skipif(
    not (os.path.exists("/proc/thread-self/schedstat") and hasattr(os, "sched_setaffinity")),
    reason="the time a thread waits for a CPU is read from Linux's /proc/thread-self/schedstat",
)
def test_the_lag_monitor_takes_off_the_time_the_machine_gave_the_loop_no_cpu():
    """A loop that blocks nothing, sharing one CPU with a busy process at a lower priority: its
    timers run late, and that lateness is the machine's, not a block.

    The competitor spins only while the loop is measured: at the lowest priority, the loop's own
    start-up (imports) would take a minute of a CPU kept busy for nothing."""
    cpu = min(os.sched_getaffinity(0))
    loop = subprocess.Popen(
        [sys.executable, "-c", STARVED_LOOP.replace("{CPU}", f"{{{cpu}}}")],
        cwd=NOTEBOOKS,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, loop.kill)  # a hung loop fails the test rather than hanging it
    watchdog.start()
    competitor = None
    try:
        assert loop.stdout.readline().strip() == "ready", loop.stderr.read()
        spin = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
        competitor = subprocess.Popen([sys.executable, "-c", spin])
        time.sleep(0.2)  # spinning by now
        loop.stdin.write("go\n")
        loop.stdin.flush()
        measured = loop.stdout.readline()
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
        watchdog.cancel()
        errors = loop.communicate()[1]
    assert loop.returncode == 0, errors
    longest_lag, longest_block = map(float, measured.split())
    assert longest_lag > 0.03, "the competitor never held up the loop: nothing was measured"
    assert longest_block < longest_lag / 2


def test_probes_restore_everything_they_patch():
    import warnings

    def snapshot():
        return (
            time.sleep,
            aiohttp.ClientSession.__init__,
            sys.get_coroutine_origin_tracking_depth(),
            list(warnings.filters),
            asyncio.get_running_loop().get_task_factory(),
            asyncio.all_tasks(),
        )

    async def main():
        before = snapshot()
        for exercise, answer in [
            (q1, async_range_time_sleep),
            (q2, fetch_all_leaks_session),
            (q2, fetch_all_leaves_tasks_running),
            (q3, StopwatchTypo),
        ]:
            assert not await exercise.check(answer, show=False)
        assert snapshot() == before

    asyncio.run(main())


def test_a_step_interrupted_while_starting_its_probes_restores_them():
    """A kernel interrupt that lands while the last probe starts: what was started is undone."""
    import warnings

    from asynclab.exercises.probes import BlockingSleepWatcher
    from asynclab.exercises.trial import Trial
    from asynclab.timeline.recorder import ACTIVE_TIMELINES

    def snapshot():
        return (
            time.sleep,
            aiohttp.ClientSession.__init__,
            sys.get_coroutine_origin_tracking_depth(),
            list(warnings.filters),
            asyncio.get_running_loop().get_task_factory(),
        )

    def interrupt_the_sleep_watcher(frame, event, arg):
        if event == "call" and frame.f_code is BlockingSleepWatcher.__enter__.__code__:
            raise KeyboardInterrupt  # as Ctrl-C (a kernel interrupt) landing right there would
        return None

    async def main():
        before = snapshot()
        trial = Trial(q1, async_range_ok, {})
        sys.settrace(interrupt_the_sleep_watcher)
        try:
            with pytest.raises(KeyboardInterrupt):
                async with trial.step("`async_range(3, 0.01)`", timeline=True):
                    pass
        finally:
            sys.settrace(None)
        assert snapshot() == before
        assert ACTIVE_TIMELINES.get() == ()  # the timeline it had started has stopped too
        assert await q1.check(async_range_ok, show=False)  # and the next check runs as usual

    asyncio.run(main())


def test_the_verdicts_live_in_a_leaf_module_that_core_and_trial_share():
    import ast

    from asynclab.exercises import Failure, NotAnswered, core, exceptions, trial

    package = NOTEBOOKS / "asynclab" / "exercises"

    def imports(module):
        tree = ast.parse((package / f"{module}.py").read_text())
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}

    assert imports("exceptions") == set()
    assert "core" not in imports("trial")
    assert core.Failure is trial.Failure is exceptions.Failure is Failure
    assert core.NotAnswered is NotAnswered and issubclass(Failure, core.Verdict)
    assert (Failure.status, NotAnswered.status) == (core.FAILED, core.NOT_ANSWERED)
    with pytest.raises(TypeError):
        core.Verdict("a verdict says which one it is")


async def _coroutine_function():
    pass


async def _async_generator_function():
    yield


def _generator_function():
    yield


def _plain_function():
    pass


@contextlib.contextmanager
def _context_manager_function():
    yield


class _Empty:
    pass


@pytest.mark.parametrize(
    "expects, answer, words",
    [
        ("async function", _async_generator_function, "is an async generator (it contains `yield`)"),
        ("async function", _generator_function, "is a regular generator function; define it with `async def`"),
        ("async function", _plain_function, "is a regular function; define it with `async def`"),
        ("async function", _coroutine_function, None),
        ("async function", _Empty, None),
        ("async generator", _generator_function, "is a regular generator (`def` with `yield`)"),
        ("async generator", _plain_function, "`yield` each item so `async for` can use it"),
        ("async generator", _coroutine_function, None),
        ("async generator", _async_generator_function, None),
        ("async context manager", _Empty, "has no `__aenter__` method"),
        ("async context manager", _async_generator_function, "put `@contextlib.asynccontextmanager` above it"),
        ("async context manager", _context_manager_function, "is a regular generator function; write it as"),
        ("async context manager", _coroutine_function, "`answer()` returns a coroutine, but `async with`"),
        ("async context manager", _plain_function, None),
        ("async iterable", _Empty, "has no `__aiter__` method"),
        ("async iterable", _generator_function, "is a regular generator; define it with `async def`"),
        ("async iterable", _plain_function, None),
        ("async iterable", 3, "should be a function or a class, but it is a int"),
    ],
)
def test_every_row_of_the_shape_table_says_its_problem(expects, answer, words):
    from asynclab.exercises.diagnose import shape_problem

    problem = shape_problem(answer, expects, "answer")
    assert problem == words if words is None else words in problem


def test_checks_run_together_take_turns():
    async def main():
        return await asyncio.gather(
            q1.check(async_range_ok, show=False),
            q2.check(fetch_all_sequential, show=False),
            q3.check(StopwatchClass, show=False),
        )

    passed, sequential, stopwatch = asyncio.run(main())
    assert_passes(passed)
    assert_passes(stopwatch)
    assert_fails(sequential, "ran one after another")


async def first_even_ok(numbers):
    async with contextlib.aclosing(numbers):
        async for n in numbers:
            if n % 2 == 0:
                return n


async def first_even_no_aclosing(numbers):
    async for n in numbers:
        if n % 2 == 0:
            return n


def test_an_exercise_can_judge_that_a_generator_was_closed():
    exercise = Exercise("first_even", expects="async function", reference=first_even_ok)

    @exercise.judge
    async def judge(trial, first_even):
        source = WatchedAsyncGenerator([1, 3, 4, 5, 6], delay=0.01)
        found = await trial.call(first_even, source)
        trial.expect_equal(found, 4, "`first_even(numbers)` returned")
        trial.expect(
            source.closed and not source.exhausted,
            "`first_even` stopped early but left the generator open: use `contextlib.aclosing`.",
        )

    assert_passes(check(exercise, first_even_ok))
    assert_fails(check(exercise, first_even_no_aclosing), "left the generator open")


class Countdown:
    def __init__(self, start):
        self.current = start

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        await asyncio.sleep(0.01)
        self.current -= 1
        return self.current + 1


class CountdownSync:
    def __init__(self, start):
        self.start = start

    def __iter__(self):
        return iter(range(self.start, 0, -1))


class CountdownAsyncAiter(Countdown):
    async def __aiter__(self):
        return self


class CountdownStopIteration(Countdown):
    async def __anext__(self):
        if self.current <= 0:
            raise StopIteration
        self.current -= 1
        return self.current + 1


def test_an_async_iterable_class_exercise():
    exercise = Exercise("Countdown", expects="async iterable", reference=Countdown)

    @exercise.judge
    async def judge(trial, Countdown):
        items = await trial.collect(Countdown, 3)
        trial.expect_equal(items, [3, 2, 1], "`Countdown(3)` gave")

    assert_passes(check(exercise, Countdown))
    assert_fails(check(exercise, CountdownSync), "regular iterable", "async def __anext__")
    assert_fails(check(exercise, CountdownAsyncAiter), "`Countdown.__aiter__` must be a plain `def`")
    assert_fails(check(exercise, CountdownStopIteration), "raise StopAsyncIteration")


# --- no warning or stderr output, even much later: a separate interpreter under -W error ------------------------

LEFTOVERS_SCRIPT = textwrap.dedent("""
    import asyncio, gc
    import aiohttp
    from asynclab.exercises.demo import q1, q2, fake_fetch

    async def fetch_all(urls):   # a leaked session
        session = aiohttp.ClientSession()
        return await asyncio.gather(*(fake_fetch(session, url) for url in urls))

    async def fetch_all_coroutines(urls):   # a forgotten await: coroutines come back
        async with aiohttp.ClientSession() as session:
            return [fake_fetch(session, url) for url in urls]

    async def async_range(n, delay):   # a forgotten await: a dropped coroutine
        for i in range(n):
            asyncio.sleep(delay)
            yield i

    async def main():
        results = [await q2.check(fetch_all, show=False),
                   await q2.check(fetch_all_coroutines, show=False),
                   await q1.check(async_range, show=False)]
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0.05)
        print([r.status for r in results])

    asyncio.run(main())
    gc.collect()
""")


def test_no_warning_leaks_from_forgotten_awaits_or_sessions():
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", LEFTOVERS_SCRIPT],
        cwd=NOTEBOOKS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['failed', 'failed', 'failed']"
    assert run.stderr == ""


# --- in a real kernel: a stub's check is a verdict, not an error ---------------------------------------------------

# The last cell: collect garbage so anything left unclosed warns now (into the cell's stderr), then
# list the pending tasks that are not the kernel's own (those run library code: ipykernel, IPython).
KERNEL_LEFTOVERS = """
import asyncio, gc
for _ in range(3):
    gc.collect()
    await asyncio.sleep(0.05)

def _runs_library_code(task):
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "site-packages" in code.co_filename

print("pending:", [t for t in asyncio.all_tasks() if not t.done() and not _runs_library_code(t)])
"""


@pytest.mark.notebook
def test_check_in_a_notebook_kernel_with_a_stub(tmp_path):
    import nbformat
    from nbharness import execute_notebook

    cells = [
        "import asyncio",
        "from asynclab.exercises.demo import q1",
        "async def async_range(n, delay):\n    # YOUR CODE HERE\n    raise NotImplementedError",
        "await q1.check()",
        "async def async_range(n, delay):\n    for i in range(n):\n        asyncio.sleep(delay)\n        yield i",
        "result = await q1.check()\nresult",
        "q1.hint()",
        "q1.solution()",
        "import aiohttp\nfrom asynclab.exercises.demo import q2, fake_fetch\n"
        "async def fetch_all(urls):\n    session = aiohttp.ClientSession()\n"
        "    return [await fake_fetch(session, url) for url in urls]\n"
        "await q2.check()",
        "async def fetch_all(urls):\n    async with aiohttp.ClientSession() as session:\n"
        "        return [await fake_fetch(session, url) for url in urls]\n"
        "await q2.check()",
        KERNEL_LEFTOVERS,
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, tmp_path / "scratch.ipynb")
    execute_notebook(nb, NOTEBOOKS, allow_errors=True)

    def text(cell):
        return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)

    errors = [
        o
        for cell in nb.cells
        for o in cell.outputs
        if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
    ]
    assert errors == [], "no cell errors and nothing on stderr"
    verdict = text(nb.cells[3])
    assert "… Not answered yet:" in verdict and "still the stub" in verdict
    assert any("text/markdown" in o.get("data", {}) for o in nb.cells[3].outputs), "Jupyter gets Markdown too"
    assert "never awaited" in text(nb.cells[5])
    assert text(nb.cells[5]).count("Not yet") == 1, "shown once, although it is also the cell's value"
    assert "Hint 1 of 3" in text(nb.cells[6])
    assert any("text/html" in o.get("data", {}) for o in nb.cells[7].outputs), "the solution is highlighted"
    assert "left an `aiohttp.ClientSession` open" in text(nb.cells[8])
    assert "ran one after another" in text(nb.cells[9])
    figures = [o for o in nb.cells[9].outputs if "image/png" in o.get("data", {})]
    assert len(figures) == 1, "the timing verdict shows your timeline beside the reference, once"
    assert text(nb.cells[-1]).strip() == "pending: []"


# --- schedule.py: idle slots while work waited ----------------------------------------------------------


def test_a_sliding_schedule_leaves_no_slot_idle():
    # Two slots, four jobs ready at 0: each starts the moment a slot frees up.
    jobs = [Job(0, 0, 3), Job(0, 0, 1), Job(0, 1, 2), Job(0, 2, 4)]
    assert idle_capacity(jobs, 2) == (0.0, None)
    assert not ran_in_batches(jobs, 2)


def test_batches_leave_slots_idle_while_work_waits():
    # Two slots, batches of two: slot 2 is free from 1 to 3 while jobs 3 and 4 wait.
    jobs = [Job(0, 0, 3), Job(0, 0, 1), Job(0, 3, 4), Job(0, 3, 5)]
    idle, stretch = idle_capacity(jobs, 2)
    assert idle == 2.0
    assert (stretch.start, stretch.end, stretch.running, stretch.waiting) == (1, 3, 1, 2)
    assert [len(group) for group in batches(jobs)] == [2, 2] and ran_in_batches(jobs, 2)


def test_free_slots_count_only_while_something_is_ready():
    # Job 2 is ready only at 2: the free slot from 1 to 2 waited for nothing; from 2 to 3 it did.
    jobs = [Job(0, 0, 1), Job(2, 3, 4)]
    assert idle_capacity(jobs, 2)[0] == 1.0
    assert idle_capacity(jobs, 1)[0] == 1.0  # one slot, free from 2 to 3 while job 2 waited


def test_no_slot_counts_as_idle_while_the_machine_ran_nothing():
    # The batches above, but the process got no CPU from 1.5 to 2.5: half of that idle is excused.
    jobs = [Job(0, 0, 3), Job(0, 0, 1), Job(0, 3, 4), Job(0, 3, 5)]
    assert idle_capacity(jobs, 2, excused=[(1.5, 2.5)])[0] == 1.0
    assert idle_capacity(jobs, 2, excused=[(0.0, 5.0)])[0] == 0.0
    assert idle_capacity(jobs, 2, excused=[(3.0, 5.0)])[0] == 2.0  # no slot was idle then anyway


@pytest.mark.parametrize("stopped_in", ["the wait before the cancel", "the wait after it"])
def test_a_check_stopped_in_cancel_during_leaves_no_task_behind(stopped_in):
    """The stop button cancels a check wherever it is; a task the judge started must end with it."""
    from asynclab.exercises.trial import cancel_during

    async def main():
        started = asyncio.Event()

        async def body():
            started.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if stopped_in == "the wait after it":
                    await asyncio.sleep(10)  # slow to finish: the judge is still waiting when stopped
                raise

        judge = asyncio.create_task(cancel_during(body, after=0.2 if stopped_in == "the wait before the cancel" else 0))
        await started.wait()
        await asyncio.sleep(0.05)
        judge.cancel()
        with pytest.raises(asyncio.CancelledError):
            await judge
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    assert asyncio.run(main()) == set()
