"""Tests for asynclab.timeline: what gets recorded, how waits are named, drawing and export.

No pytest-asyncio: each test runs its scenario with asyncio.run(). Timing checks are generous
ratios, because the machine is shared.
"""

import asyncio
import base64
import gc
import json
import subprocess
import sys
import textwrap
import time
import warnings
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest
from asynclab import Timeline
from asynclab.paths import NOTEBOOKS_DIR
from asynclab.timeline import Span, TaskInfo, drawing, span

# -- helpers ------------------------------------------------------------------------------


def record(body, **timeline_options):
    """Run ``body(tl)`` inside ``async with Timeline(show=False)``; return the timeline."""
    timeline_options.setdefault("show", False)

    async def main():
        async with Timeline(**timeline_options) as tl:
            await body(tl)
        return tl

    return asyncio.run(main())


def spans_of(tl, lane, kind=None, label=None):
    return [
        s
        for s in tl.spans
        if s.lane == lane and (kind is None or s.kind == kind) and (label is None or s.label == label)
    ]


def total(spans):
    return sum(s.duration for s in spans)


def task_info(tl, name):
    (info,) = [t for t in tl.tasks if t.name == name]
    return info


# -- what gets recorded -------------------------------------------------------------------


def test_records_nested_tasks_with_their_parents_in_creation_order():
    async def grandchild():
        await asyncio.sleep(0.01)

    async def child():
        await asyncio.create_task(grandchild(), name="grandchild")

    async def body(tl):
        await asyncio.create_task(child(), name="child")

    tl = record(body)
    block = tl.tasks[0]
    assert block.block and tl.lanes[0] == block.name
    assert tl.lanes[1:] == ["child", "grandchild"]
    assert task_info(tl, "child").parent == block.name
    assert task_info(tl, "grandchild").parent == "child"
    assert task_info(tl, "grandchild").coro == "grandchild"
    for info in tl.tasks[1:]:
        assert info.outcome == "result" and 0 <= info.created <= info.done <= tl.duration


def test_taskgroup_names_are_read_after_creation():
    async def body(tl):
        async with asyncio.TaskGroup() as tg:
            for i in range(3):
                tg.create_task(asyncio.sleep(0.01), name=f"worker-{i}")

    tl = record(body)
    assert tl.lanes[1:] == ["worker-0", "worker-1", "worker-2"]
    assert spans_of(tl, tl.lanes[0], "waiting", "TaskGroup.__aexit__")


def test_gather_runs_sleeps_concurrently():
    async def body(tl):
        await asyncio.gather(*(asyncio.sleep(0.05) for _ in range(4)))

    tl = record(body)
    assert len(tl.lanes) == 5
    assert tl.max_concurrency("sleep") == 4
    assert tl.max_concurrency() == 4  # tasks alive at once
    assert spans_of(tl, tl.lanes[0], "waiting", "gather")
    # Overlapped, not one after another: each sleep lasted about the whole block.
    assert tl.duration < 0.5 * total(s for s in tl.spans if s.label == "sleep")


def test_duplicate_task_names_get_distinct_lanes():
    async def body(tl):
        await asyncio.gather(*(asyncio.create_task(asyncio.sleep(0), name="same") for _ in range(2)))

    assert record(body).lanes[1:] == ["same", "same (2)"]


def test_outcomes_of_failed_and_cancelled_tasks():
    async def fails():
        await asyncio.sleep(0)
        raise ValueError("boom")

    async def body(tl):
        sleeper = asyncio.create_task(asyncio.sleep(10), name="cancelled")
        failing = asyncio.create_task(fails(), name="failed")
        fine = asyncio.create_task(asyncio.sleep(0), name="fine")
        await asyncio.sleep(0.01)
        sleeper.cancel()
        await asyncio.gather(sleeper, failing, fine, return_exceptions=True)

    tl = record(body)
    assert task_info(tl, "cancelled").outcome == "cancelled"
    assert task_info(tl, "failed").outcome == "exception"
    assert task_info(tl, "failed").exception == "ValueError('boom')"
    assert task_info(tl, "fine").outcome == "result"


def test_task_still_running_at_the_end_is_clipped_and_pending():
    async def body(tl):
        body.task = asyncio.create_task(asyncio.sleep(0.2), name="background")
        await asyncio.sleep(0.02)

    async def main():
        async with Timeline(show=False) as tl:
            await body(tl)
        await body.task  # finishes after the block: not part of the timeline
        return tl

    tl = asyncio.run(main())
    info = task_info(tl, "background")
    assert info.done is None and info.outcome is None
    assert all(s.end <= tl.duration + 1e-9 for s in tl.spans)


def test_tasks_created_before_the_block_are_not_recorded():
    async def busy(name):
        for _ in range(5):
            await asyncio.sleep(0.005)
        # a task created later by an old task is not the block's either
        await asyncio.create_task(asyncio.sleep(0), name=f"{name}-child")

    async def main():
        old = asyncio.create_task(busy("old"), name="old")
        await asyncio.sleep(0)
        async with Timeline(show=False) as tl:
            await asyncio.create_task(busy("new"), name="new")
            await old
        return tl

    tl = asyncio.run(main())
    assert tl.lanes[1:] == ["new", "new-child"]


def test_nested_timelines_both_record_the_inner_tasks():
    async def main():
        async with Timeline(show=False) as outer:
            await asyncio.create_task(asyncio.sleep(0), name="before")
            async with Timeline(show=False) as inner:
                assert Timeline.current() is inner
                await asyncio.create_task(asyncio.sleep(0), name="inside")
            assert Timeline.current() is outer
            await asyncio.create_task(asyncio.sleep(0), name="after")
        assert Timeline.current() is None
        return outer, inner

    outer, inner = asyncio.run(main())
    assert outer.lanes[1:] == ["before", "inside", "after"]
    assert inner.lanes[1:] == ["inside"]
    assert spans_of(inner, "inside", "running") and spans_of(outer, "inside", "running")


@pytest.mark.parametrize("first_to_end", ["inner", "outer"])
def test_a_task_that_outlives_its_blocks_is_no_longer_timed(first_to_end):
    # A ticker recorded by two nested timelines outlives both blocks: from each block's end
    # on, that timeline's record of it stops growing, and the ticker runs on as usual.
    async def ticker():
        for _ in range(30):
            await asyncio.sleep(0.001)
        return "done"

    async def inner_block(started, release):
        async with Timeline(show=False) as inner:
            task = asyncio.create_task(ticker(), name="ticker")
            started.set_result(task)
            await release
        return inner

    def ticker_spans(tl):
        return len(spans_of(tl, "ticker"))

    async def main():
        loop = asyncio.get_running_loop()
        started, release = loop.create_future(), loop.create_future()
        at_end = {}
        async with Timeline(show=False) as outer:
            holder = asyncio.create_task(inner_block(started, release))
            task = await started
            await asyncio.sleep(0.003)
            if first_to_end == "inner":
                release.set_result(None)
                inner = await holder
                at_end["inner"] = ticker_spans(inner)
                await asyncio.sleep(0.003)
        at_end["outer"] = ticker_spans(outer)
        if first_to_end == "outer":
            await asyncio.sleep(0.003)
            release.set_result(None)
            inner = await holder
            at_end["inner"] = ticker_spans(inner)
        assert await task == "done"
        return outer, inner, at_end

    outer, inner, at_end = asyncio.run(main())
    assert 0 < at_end[first_to_end] < at_end["outer" if first_to_end == "inner" else "inner"]
    assert ticker_spans(outer) == at_end["outer"]
    assert ticker_spans(inner) == at_end["inner"]
    assert task_info(inner, "ticker").outcome is None  # still running when the block ended


def test_a_task_that_first_runs_after_its_block_runs_untimed():
    async def work():
        await asyncio.sleep(0)
        return "done"

    async def main():
        try:
            async with Timeline(show=False) as tl:
                task = asyncio.create_task(work(), name="late")
                raise asyncio.CancelledError  # ends the block with no loop turn: "late" never ran
        except asyncio.CancelledError:
            pass
        assert not task.done()
        return tl, await task, tl.tasks

    tl, result, tasks_after = asyncio.run(main())
    assert result == "done"
    # Created and waiting to be scheduled when the block ended; none of its steps is recorded.
    assert [(s.kind, s.label) for s in spans_of(tl, "late")] == [("waiting", "scheduled")]
    assert next(t for t in tasks_after if t.name == "late").outcome is None


def test_after_the_block_the_timeline_keeps_no_task_or_what_it_awaited_alive():
    # A cancellation arrives by throw(): the step timer had last seen the future the task
    # waited on. The timeline keeps its record, but not the task, its coroutine or that future.
    async def waits_on(future):
        await future

    async def main():
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        async with Timeline(show=False) as tl:
            task = asyncio.create_task(waits_on(future), name="waiter")
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return tl, weakref.ref(task), weakref.ref(future)

    tl, *refs = asyncio.run(main())
    gc.collect()
    assert [ref() for ref in refs] == [None, None]
    assert task_info(tl, "waiter").outcome == "cancelled"


def test_concurrent_timelines_in_sibling_tasks_restore_the_factory():
    async def recorded(name, delay):
        async with Timeline(show=False) as tl:
            await asyncio.create_task(asyncio.sleep(delay), name=name)
        return tl

    async def main():
        a, b = await asyncio.gather(recorded("a", 0.02), recorded("b", 0.01))
        return a, b, asyncio.get_running_loop().get_task_factory()

    a, b, factory = asyncio.run(main())
    assert a.lanes[1:] == ["a"] and b.lanes[1:] == ["b"]
    assert factory is None


# -- the task factory is chained and restored ---------------------------------------------


class CountingFactory:
    def __init__(self):
        self.calls = 0

    def __call__(self, loop, coro, **kwargs):
        self.calls += 1
        return asyncio.Task(coro, loop=loop, **kwargs)


@pytest.mark.parametrize("ending", ["normal", "exception", "cancelled"])
def test_factory_is_chained_and_restored(ending):
    factory = CountingFactory()

    async def block():
        async with Timeline(show=False) as tl:
            block.tl = tl
            await asyncio.create_task(asyncio.sleep(0), name="child")
            if ending == "exception":
                raise KeyError("stop")
            if ending == "cancelled":
                await asyncio.sleep(10)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(factory)
        task = asyncio.create_task(block())
        await asyncio.sleep(0.02)
        if ending == "cancelled":
            task.cancel()
        result = await asyncio.gather(task, return_exceptions=True)
        return result[0], loop.get_task_factory()

    outcome, restored = asyncio.run(main())
    assert restored is factory
    assert factory.calls >= 2  # the block's task and the child both went through it
    assert block.tl.lanes[1:] == ["child"]
    expected = {"normal": "result", "exception": "exception", "cancelled": "cancelled"}[ending]
    assert block.tl.tasks[0].outcome == expected
    if ending == "exception":
        assert isinstance(outcome, KeyError)
    elif ending == "cancelled":
        assert isinstance(outcome, asyncio.CancelledError)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks arrived in Python 3.12")
def test_eager_task_factory_is_chained():
    async def main():
        loop = asyncio.get_running_loop()
        loop.set_task_factory(asyncio.eager_task_factory)
        async with Timeline(show=False) as tl:
            await asyncio.create_task(asyncio.sleep(0.01), name="eager")
        return tl, loop.get_task_factory()

    tl, factory = asyncio.run(main())
    assert factory is asyncio.eager_task_factory
    assert spans_of(tl, "eager", "waiting", "sleep")


# -- naming what a task waits on ----------------------------------------------------------


def test_lock_waits_are_distinct_from_holding_time():
    hold = 0.03

    async def worker(lock):
        async with lock:
            await asyncio.sleep(hold)

    async def body(tl):
        lock = asyncio.Lock()
        await asyncio.gather(*(asyncio.create_task(worker(lock), name=f"w{i}") for i in range(3)))

    tl = record(body)
    waits = [total(spans_of(tl, f"w{i}", "waiting", "Lock.acquire")) for i in range(3)]
    holds = [total(spans_of(tl, f"w{i}", "waiting", "sleep")) for i in range(3)]
    assert waits[0] == 0
    assert all(h >= hold * 0.9 for h in holds)  # a sleep never ends early
    # w1 waited while w0 held the lock, w2 while w0 and then w1 did (ratios: the machine is shared).
    assert 0.7 * holds[0] < waits[1] < 2 * holds[0]
    assert 0.7 * (holds[0] + holds[1]) < waits[2] < 2 * (holds[0] + holds[1])
    assert tl.max_concurrency("sleep") == 1  # only the holder sleeps
    assert tl.max_concurrency("Lock.acquire") == 2


def test_semaphore_queue_and_event_waits_are_named():
    async def limited(sem):
        async with sem:
            await asyncio.sleep(0.01)

    async def consumer(queue):
        return await queue.get()

    async def waiter(event):
        await event.wait()

    async def body(tl):
        sem, queue, event = asyncio.Semaphore(1), asyncio.Queue(), asyncio.Event()
        tasks = [asyncio.create_task(limited(sem), name=f"s{i}") for i in range(2)]
        tasks.append(asyncio.create_task(consumer(queue), name="consumer"))
        tasks.append(asyncio.create_task(waiter(event), name="waiter"))
        await asyncio.sleep(0.02)
        queue.put_nowait("item")
        event.set()
        await asyncio.gather(*tasks)

    tl = record(body)
    assert spans_of(tl, "s1", "waiting", "Semaphore.acquire")
    assert spans_of(tl, "consumer", "waiting", "Queue.get")
    assert spans_of(tl, "waiter", "waiting", "Event.wait")


def test_async_generator_and_iterator_waits_are_named():
    async def ticker():
        for i in range(3):
            await asyncio.sleep(0.005)
            yield i

    class Countdown:
        def __init__(self):
            self.left = 2

        def __aiter__(self):
            return self

        async def __anext__(self):
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            await asyncio.sleep(0.005)
            return self.left

    async def consume():
        return [x async for x in ticker()] + [x async for x in Countdown()]

    async def body(tl):
        await asyncio.create_task(consume(), name="consumer")
        async for _ in ticker():  # in the block's own task too
            pass

    tl = record(body)
    labels = {s.label for s in spans_of(tl, "consumer", "waiting")}
    # The phase (which generator or iterator) and what it awaited inside.
    assert {"anext(ticker) › sleep", "anext(Countdown) › sleep"} <= labels
    block_labels = {s.label for s in spans_of(tl, tl.lanes[0], "waiting")}
    assert any(label.startswith("anext(") for label in block_labels)


def test_awaiting_a_task_names_it():
    async def body(tl):
        await asyncio.create_task(asyncio.sleep(0.01), name="slow")

    tl = record(body)
    assert spans_of(tl, tl.lanes[0], "waiting", "await slow")


def test_late_finalised_async_generator_gets_its_own_lane():
    async def ticker():
        try:
            while True:
                yield
                await asyncio.sleep(0.001)
        finally:
            ticker.closed = True

    async def body(tl):
        async for _ in ticker():
            break  # abandoned: the loop closes it in a new task, after this step

    tl = record(body)
    assert ticker.closed
    closers = [t for t in tl.tasks if t.coro.startswith("aclose(")]
    assert len(closers) == 1 and closers[0].outcome == "result"
    assert closers[0].coro == "aclose(ticker)"
    assert spans_of(tl, closers[0].name, "running")


def test_settle_waits_for_cleanup_that_awaits():
    async def ticker():
        try:
            while True:
                yield
        finally:
            await asyncio.sleep(0.03)  # slow clean-up
            ticker.closed = True

    async def body(tl):
        async for _ in ticker():
            break
        assert await tl.settle(timeout=2)

    tl = record(body)
    assert ticker.closed
    (closer,) = [t for t in tl.tasks if t.coro.startswith("aclose(")]
    assert closer.outcome == "result"
    assert total(spans_of(tl, closer.name, "waiting", "sleep")) > 0.02


# -- the block's own lane -----------------------------------------------------------------


def test_a_block_task_that_hides_what_it_waits_on_is_one_step():
    # The block's lane reads asyncio's private Task._fut_waiter; a task class without it (another
    # event loop's, a future asyncio's) gets the whole block as one step, and nothing scheduled.
    from asynclab.timeline.block_task import BlockRecord

    task = SimpleNamespace(get_coro=lambda: None, get_name=lambda: "cell")
    record = BlockRecord(Timeline(show=False), task, loop=SimpleNamespace(), start=1.0)
    record.stop(3.0, "result")
    assert record.steps([], [], now=3.0, running_now=False) == [1.0, 3.0]


def test_block_lane_shows_its_waits_and_its_blocking_work():
    async def body(tl):
        await asyncio.sleep(0.05)
        time.sleep(0.05)  # blocks the loop: the block's task is running
        await asyncio.sleep(0.05)

    tl = record(body)
    lane = tl.lanes[0]
    sleeps = spans_of(tl, lane, "waiting", "sleep")
    assert len(sleeps) == 2
    longest_step = max(s.duration for s in spans_of(tl, lane, "running"))
    # Three parts of at least 50 ms each (to the lane's millisecond), together the whole block.
    assert all(part > 0.045 for part in (*[s.duration for s in sleeps], longest_step))
    assert all(part < 0.6 * tl.duration for part in (*[s.duration for s in sleeps], longest_step))
    assert sum(s.duration for s in sleeps) + longest_step > 0.8 * tl.duration
    assert sleeps[0].end <= sleeps[1].start


def test_a_traced_sleep_is_drawn_at_its_length():
    measured = []

    async def body(tl):
        began = time.perf_counter()
        await asyncio.create_task(asyncio.sleep(0.1), name="sleeper")
        measured.append(time.perf_counter() - began)

    (sleep,) = spans_of(record(body), "sleeper", "waiting", "sleep")
    # At least the sleep, and most of what the awaiting cell measured: a busy machine makes the
    # timer fire late, and the drawn span must show that delay, not hide it.
    assert 0.095 < sleep.duration <= measured[0]
    assert sleep.duration > 0.8 * measured[0]


# -- phases, marks, external spans --------------------------------------------------------


def work_in_a_thread():
    with span("in a thread"):
        time.sleep(0.001)


def test_span_and_mark_record_phases_on_the_current_lane():
    async def child(tl):
        async with tl.span("child phase"):
            await asyncio.sleep(0.01)

    async def body(tl):
        with tl.span("sync phase"):
            await asyncio.sleep(0.01)
        async with span("module-level", kind="step"):
            await asyncio.create_task(child(tl), name="child")
        tl.mark("done")
        await asyncio.to_thread(work_in_a_thread)

    tl = record(body)
    block = tl.lanes[0]
    (sync_phase,) = [s for s in tl.spans if s.label == "sync phase"]
    assert sync_phase.lane == block and sync_phase.kind == "phase"
    (sleep, *_) = spans_of(tl, block, "waiting", "sleep")
    assert sync_phase.duration > 0.008 and sync_phase.start <= sleep.start and sleep.end <= sync_phase.end
    assert [s.kind for s in tl.spans if s.label == "module-level"] == ["step"]
    assert [s.lane for s in tl.spans if s.label == "child phase"] == ["child"]
    assert any(s.lane.startswith("thread ") for s in tl.spans if s.label == "in a thread")
    assert tl.max_concurrency("phase") == 1


def test_module_level_span_and_mark_record_only_inside_a_block():
    from asynclab.timeline import mark

    with span("nothing"):
        mark("nothing")

    async def outsider(started, go):
        started.set()
        await go.wait()
        async with span("outside"):  # a task from before the block: not recorded
            mark("outside")

    async def main():
        started, go = asyncio.Event(), asyncio.Event()
        other = asyncio.create_task(outsider(started, go))
        await started.wait()
        async with Timeline(show=False) as tl:
            go.set()
            await other
            async with span("inside"):
                mark("inside")
        async with span("after"):
            mark("after")
        return tl

    tl = asyncio.run(main())
    assert [(s.label, s.kind) for s in tl.spans if s.kind not in ("running", "waiting")] == [("inside", "phase")]
    assert [label for _, _, label in tl.snapshot().marks] == ["inside"]


def test_span_outside_the_block_raises_a_clear_error():
    tl = Timeline(show=False)
    with pytest.raises(RuntimeError, match=r"(?s)has not started.*async with Timeline"):
        tl.span("too early")
    done = record(lambda tl: asyncio.sleep(0))
    with pytest.raises(RuntimeError, match="has already ended"):
        done.span("too late")
    with pytest.raises(RuntimeError, match="already ended"):
        done.mark("too late")


def test_add_spans_clips_and_skips_outside_records():
    async def body(tl):
        await asyncio.sleep(0.02)

    tl = record(body)
    start = time.perf_counter() - 10  # long before the timeline: skipped
    t0 = tl.started_at
    added = tl.add_spans(
        [
            SimpleNamespace(label="GET /a", start=t0 + 0.001, end=t0 + 0.005),
            {"label": "GET /b", "start": t0 - 1, "end": t0 + 0.002},  # clipped at the start
            SimpleNamespace(label="GET /old", start=start, end=start + 1),
        ],
        lane="server",
    )
    assert added == 2
    server = spans_of(tl, "server")
    assert [s.label for s in sorted(server, key=lambda s: s.label)] == ["GET /a", "GET /b"]
    assert all(s.kind == "server" and s.start >= 0 for s in server)
    assert tl.lanes[-1] == "server"
    with pytest.raises(TypeError, match="label, start and end"):
        tl.add_spans([object()], lane="server")


# -- bad input ----------------------------------------------------------------------------


def test_run_helper_runs_coroutines_and_async_functions_as_tasks():
    async def answer():
        await asyncio.sleep(0)
        return 42

    async def body(tl):
        assert await tl.run(answer(), name="coroutine") == 42
        assert await tl.run(answer, name="function") == 42

    assert record(body).lanes[1:] == ["coroutine", "function"]


@pytest.mark.parametrize("bad, words", [(42, "got 42 (int)"), (print, "print"), (lambda: 7, "returned 7 (int)")])
def test_run_helper_rejects_what_cannot_be_awaited(bad, words):
    async def body(tl):
        with pytest.raises(TypeError) as error:
            await tl.run(bad)
        assert words in str(error.value)

    record(body)


def test_timeline_records_one_block_only():
    async def main():
        tl = Timeline(show=False)
        async with tl:
            pass
        with pytest.raises(RuntimeError, match="new Timeline"):
            async with tl:
                pass

    asyncio.run(main())


def test_bad_arguments_give_clear_errors():
    with pytest.raises(TypeError, match="show"):
        Timeline(show="yes")
    tl = record(lambda tl: asyncio.sleep(0))
    with pytest.raises(TypeError, match="label or kind"):
        tl.max_concurrency(3)
    with pytest.raises(TypeError, match="group"):
        tl.plot(group=5)
    with pytest.raises(TypeError, match="another Timeline"):
        tl.compare("not a timeline")


# -- reading and drawing ------------------------------------------------------------------


def lane_demo():
    async def worker(lock):
        async with lock:
            await asyncio.sleep(0.01)

    async def body(tl):
        lock = asyncio.Lock()
        with tl.span("work"):
            await asyncio.gather(*(worker(lock) for _ in range(3)))
        tl.mark("end")

    return record(body, title="demo")


def test_spans_and_tasks_are_dataclasses_with_the_documented_fields():
    tl = lane_demo()
    assert all(isinstance(s, Span) for s in tl.spans)
    assert {s.kind for s in tl.spans} == {"running", "waiting", "phase"}
    assert all(0 <= s.start <= s.end <= tl.duration + 1e-9 for s in tl.spans)
    assert all(isinstance(t, TaskInfo) for t in tl.tasks)
    assert [t.lane for t in tl.tasks] == tl.lanes
    assert tl.duration > 0.03


def test_summary_tells_each_lane_s_running_and_waiting_time():
    async def worker():
        await asyncio.sleep(0.06)
        time.sleep(0.03)  # running, holding up the loop

    async def body(tl):
        await asyncio.create_task(worker(), name="worker")
        t0 = tl.started_at
        requests = [(0.0, 0.02), (0.01, 0.03), (0.05, 0.06)]  # the first two overlap
        tl.add_spans([{"label": "GET", "start": t0 + a, "end": t0 + b} for a, b in requests], lane="server")

    tl = record(body)
    rows = tl.summary()
    # The block's own lane is named as in the diagram and describe() ("cell (block)").
    assert rows[0]["lane"].endswith(" (block)") and f"- {rows[0]['lane']}: " in tl.describe()
    assert [row["lane"] for row in rows[1:]] == tl.lanes[1:]
    for each in rows:
        assert set(each) == {"lane", "busy", "waiting", "total", "count", "blocked", "phases"}
    by_lane = {row["lane"]: row for row in rows}
    row = by_lane["worker"]
    assert row["count"] == 2  # one step before the sleep, one after it
    assert row["waiting"] > 0.06 * 0.9 and row["busy"] > 0.03 * 0.9
    assert row["busy"] < 0.6 * row["total"]  # its waiting, not its steps, took most of its time
    # A lane of spans counts the time covered by any of them once: 30 ms of overlapping requests, then 10 ms.
    assert by_lane["server"]["busy"] == pytest.approx(0.04) and by_lane["server"]["count"] == 3
    assert rows[0]["total"] == pytest.approx(tl.duration, rel=0.05)  # the block's lane spans the block
    text = str(rows)
    # The blocked column shows only when a step held up the loop: none here, unless a busy machine
    # stretched the 30 ms time.sleep past the 50 ms threshold.
    blocked = ["blocked"] if any(row["blocked"] for row in rows) else []
    assert text.splitlines()[0].split() == ["lane", "busy", "waiting", "total", "count", *blocked]
    assert "<table>" in rows._repr_html_()


def test_chrome_trace_has_one_complete_event_per_span(tmp_path):
    tl = lane_demo()
    path = tl.to_chrome_trace(tmp_path / "trace.json")
    trace = json.loads(Path(path).read_text())
    complete = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(complete) == len(tl.spans)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 and "pid" in e and "tid" in e for e in complete)
    names = {e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"}
    assert len(names) >= len(tl.lanes)
    assert any(e["ph"] == "i" and e["name"] == "end" for e in trace["traceEvents"])


def test_plot_returns_a_figure_with_one_label_per_lane():
    from matplotlib.figure import Figure

    tl = lane_demo()
    figure = tl.plot()
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    names = [text.get_text() for text in ax.texts if text.get_gid() == drawing.LANE_LABEL]
    assert len(names) == len(tl.lanes)
    assert names[0].endswith("(block)")
    assert figure.get_facecolor()[3] == 1.0  # opaque
    assert tl._repr_png_().startswith(b"\x89PNG")


def png_size(png):
    """(width, height) in pixels, from a PNG's header."""
    assert png.startswith(b"\x89PNG")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_a_diagram_displays_as_a_2x_png_at_its_1x_size_with_its_description():
    from asynclab.timeline.drawing import diagram_bundle

    tl = lane_demo()
    for figure in (tl.plot(), tl.compare(lane_demo(), titles=("one", "two"))):
        data, metadata = diagram_bundle(figure)
        width, height = metadata["image/png"]["width"], metadata["image/png"]["height"]
        assert (width, height) == tuple(round(v * 100) for v in figure.get_size_inches())
        assert png_size(base64.b64decode(data["image/png"])) == (2 * width, 2 * height)
        assert data["text/plain"] == figure.description
    assert data["text/plain"].startswith("one: ") and "\n\ntwo: " in data["text/plain"]
    assert tl.plot().description == tl.describe()


def test_describe_tells_each_lane_its_waits_the_overlap_and_the_total():
    async def body(tl):
        async def brew(seconds):
            await asyncio.sleep(seconds)

        async with asyncio.TaskGroup() as tg:
            for name, seconds in [("tea", 0.06), ("coffee", 0.04)]:
                tg.create_task(brew(seconds), name=name)
        tl.add_spans([{"label": "GET /", "start": tl.started_at, "end": tl.started_at + 0.01}], lane="server")

    began = time.perf_counter()
    tl = record(body, title="drinks")
    wall_ms = (time.perf_counter() - began) * 1000
    text = tl.describe()
    lines = text.splitlines()
    assert isinstance(text, str)
    assert lines[0].startswith("drinks: ") and "4 lanes (2 tasks created in the block)" in lines[0]
    tea = next(line for line in lines if line.startswith("- tea:"))
    waited = float(tea.split("waited ")[1].split(" ms")[0])
    total_ms = float(lines[-1].removeprefix("Total: ").removesuffix(" ms."))
    assert 60 * 0.9 < waited < total_ms < wall_ms and "sleep" in tea and "done at" in tea
    assert any(line.startswith("- server: 1 span (GET /)") for line in lines)
    assert "up to 2 tasks" in text
    assert total_ms == pytest.approx(tl.duration * 1000, abs=0.05)
    assert Timeline(show=False).describe() == "Timeline: nothing recorded."


def test_a_library_s_own_tasks_are_labelled_with_its_name():
    import aiofiles.os
    from asynclab.timeline.waits import library_package

    async def body(tl):
        await asyncio.create_task(aiofiles.os.stat("."))  # a task running aiofiles' own code
        await asyncio.create_task(asyncio.sleep(0))  # the standard library's: no label

    coro = aiofiles.os.stat(".")
    assert library_package(coro) == "aiofiles"
    coro.close()
    tl = record(body)
    labels = [lane.axis_label for lane in tl.snapshot().lanes]
    assert labels[1].startswith("aiofiles: ") and "Task-" not in labels[1], labels
    assert labels[2].startswith("Task-"), labels
    assert tl.tasks[1].library == "aiofiles" and tl.tasks[2].library is None


def test_tasks_keep_the_names_asyncio_gives_them_while_recorded():
    # CPython 3.13.0 to 3.13.2 rename a task made by a task factory after the fact, "None" when
    # create_task() got no name: the timeline's factory must not let that through.
    seen = {}

    async def note_name(key):
        seen[key] = asyncio.current_task().get_name()

    async def body(tl):
        unnamed = asyncio.create_task(note_name("unnamed"))
        named = asyncio.create_task(note_name("named"), name="fetcher")
        await asyncio.gather(unnamed, named)
        async with asyncio.TaskGroup() as group:
            from_group = group.create_task(note_name("group"))
        seen["after"] = (unnamed.get_name(), from_group.get_name())
        assert repr(unnamed).startswith("<Task ") and isinstance(unnamed, asyncio.Task)

    tl = record(body)
    assert seen["named"] == "fetcher"
    for key in ("unnamed", "group"):
        assert seen[key].startswith("Task-"), seen
    assert seen["after"] == (seen["unnamed"], seen["group"])
    assert [t.name for t in tl.tasks[1:]] == [seen["unnamed"], "fetcher", seen["group"]]


def test_plot_groups_lanes():
    tl = lane_demo()
    groups = {lane: ("block" if i == 0 else "workers") for i, lane in enumerate(tl.lanes)}
    figure = tl.plot(group=groups)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "workers" in texts and "block" in texts
    tl.plot(group=lambda lane: None)  # no group at all is fine too


def test_plot_of_an_empty_timeline_says_nothing_was_recorded():
    figure = Timeline(show=False).plot()
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any("Nothing recorded" in text for text in texts)


def test_compare_stacks_two_timelines_on_one_time_axis():
    first, second = lane_demo(), lane_demo()
    figure = first.compare(second, titles=("before", "after"))
    assert len(figure.axes) == 2
    titles = [ax.get_title(loc="left") for ax in figure.axes]
    assert titles[0].startswith("before") and titles[1].startswith("after")
    assert figure.axes[0].get_xlim() == figure.axes[1].get_xlim()
    Timeline(show=False).compare(second)  # an empty side is drawn as such


def test_plot_on_given_axes_and_many_figures_without_pyplot():
    from matplotlib.figure import Figure

    tl = lane_demo()
    ax = Figure().add_subplot()
    assert tl.plot(ax=ax) is ax.figure
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(25):  # pyplot would warn about more than 20 open figures
            tl.plot()
    assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()


def test_many_spans_are_drawn_quickly():
    async def yielder():
        for _ in range(50):
            await asyncio.sleep(0)

    async def body(tl):
        await asyncio.gather(*(yielder() for _ in range(100)))

    from asynclab.timeline.drawing import png_bytes

    tl = record(body)
    assert len(tl.spans) > 10_000
    began = time.perf_counter()
    png_bytes(tl.plot())
    assert time.perf_counter() - began < 5  # 0.5 s in the benchmark; generous here


# -- leaving no trace ---------------------------------------------------------------------


def test_no_warnings_and_no_loop_errors():
    errors = []

    async def fails():
        raise RuntimeError("handled below")

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
        async with Timeline(show=False) as tl:
            task = asyncio.create_task(fails())
            with pytest.raises(RuntimeError):
                await task
            await asyncio.gather(asyncio.sleep(0.01), asyncio.sleep(0))
        return tl

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tl = asyncio.run(main())
        tl.plot()
        del tl
        gc.collect()
    assert errors == []


def fake_ipython(monkeypatch, *, kernel):
    """An IPython that runs this code (a terminal one, or a kernel's); returns what it displays."""
    shown = []
    shell = SimpleNamespace(kernel=object()) if kernel else SimpleNamespace()
    display = SimpleNamespace(display=lambda *args, **kwargs: shown.append((args, kwargs)))
    # version_info: matplotlib asks a running IPython's version when it makes a canvas.
    ipython = SimpleNamespace(get_ipython=lambda: shell, display=display, version_info=(9, 0))
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    return shown


def test_show_is_off_outside_a_notebook(monkeypatch):
    shown = fake_ipython(monkeypatch, kernel=False)
    record(lambda tl: asyncio.sleep(0), show=None)
    assert shown == []  # a terminal IPython: nowhere to draw by default
    record(lambda tl: asyncio.sleep(0), show=True)
    ((data,), options) = shown[0]
    assert len(shown) == 1 and options["raw"] and data["text/plain"].startswith("Timeline: ")
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")


def test_nested_asyncio_run_with_nest_asyncio2():
    # In a subprocess, so that nest_asyncio2's patching of asyncio stays there.
    script = textwrap.dedent("""
        import asyncio, json, sys
        sys.path.insert(0, sys.argv[1])
        import nest_asyncio2
        from asynclab import Timeline

        nest_asyncio2.apply()

        async def inner():
            async with Timeline(show=False) as tl:
                await asyncio.gather(asyncio.sleep(0.02), asyncio.sleep(0.01))
            return tl

        async def outer():
            async with Timeline(show=False) as tl:
                await asyncio.sleep(0.01)
                inner_tl = asyncio.run(inner())  # blocks this task, runs the loop again
                await asyncio.create_task(asyncio.sleep(0.01), name="after")
            return tl, inner_tl, asyncio.get_running_loop().get_task_factory()

        outer_tl, inner_tl, factory = asyncio.run(outer())
        block_steps = [s for s in outer_tl.spans
                       if s.lane == outer_tl.lanes[0] and s.kind == "running"]
        print(json.dumps({"outer": outer_tl.lanes, "inner": inner_tl.lanes,
                          "inner_sleeps": inner_tl.max_concurrency("sleep"),
                          "inner_duration": inner_tl.duration,
                          "longest_block_step": max(s.duration for s in block_steps),
                          "block_steps": len(block_steps),
                          "factory": repr(factory)}))
    """)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(NOTEBOOKS_DIR)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert data["inner_sleeps"] == 2
    assert len(data["inner"]) == 3
    assert data["outer"][-1] == "after"
    assert set(data["inner"][1:]) <= set(data["outer"])  # the outer one saw them too
    assert data["factory"] == "None"
    # The outer block's task was busy (blocked in asyncio.run) while the inner one ran.
    assert data["longest_block_step"] > 0.8 * data["inner_duration"]
    assert data["block_steps"] < 20


def kernel_notebook(*cells: str):
    """A notebook whose cells import Timeline from this checkout, then run ``cells``."""
    nbformat = pytest.importorskip("nbformat")
    setup = f"import sys, asyncio\nsys.path.insert(0, {str(NOTEBOOKS_DIR)!r})\nfrom asynclab import Timeline"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in (setup, *cells)]
    return notebook


@pytest.mark.notebook
def test_in_a_jupyter_kernel_it_displays_and_refreshes_live():
    nbclient = pytest.importorskip("nbclient")
    notebook = kernel_notebook(
        "async with Timeline('live') as tl:\n"
        "    await asyncio.gather(*(asyncio.sleep(0.4) for _ in range(3)))\n"
        "    await asyncio.sleep(1.6)",
        "print(len(tl.lanes), [s.label for s in tl.spans if s.lane == 'live diagram'][:1])",
    )
    updates = []

    class Client(nbclient.NotebookClient):
        def process_message(self, msg, cell, cell_index):
            if msg["msg_type"] == "update_display_data":
                updates.append(cell_index)
            return super().process_message(msg, cell, cell_index)

    Client(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[1].outputs
    assert not [o for o in outputs if o.output_type in ("stream", "error")], outputs
    (shown,) = outputs  # one picture, refreshed in place
    assert shown.output_type == "display_data" and "image/png" in shown.data
    assert updates.count(1) >= 2  # at least one live frame, then the final figure
    # The final figure: a 2x PNG shown at its 1x size, and its text account as text/plain.
    assert shown.data["text/plain"].startswith("live: ")
    size = shown.metadata["image/png"]
    assert png_size(base64.b64decode(shown.data["image/png"])) == (2 * size["width"], 2 * size["height"])
    # The live frames drawn after the first second are on a lane of their own.
    assert notebook.cells[2].outputs[0].text.strip() == "5 ['drawing']"


@pytest.mark.notebook
def test_a_stop_that_lands_as_the_block_ends_still_ends_the_live_refresher():
    # The stop button cancels the cell's task. Here the cancellation is scheduled so that it
    # lands in the loop turns the block takes on its way out, after its last line has run.
    nbclient = pytest.importorskip("nbclient")
    notebook = kernel_notebook(
        "cell_task = asyncio.current_task()\n"
        "try:\n"
        "    async with Timeline('stopped on its way out') as tl:\n"
        "        await asyncio.sleep(0.05)\n"
        "        asyncio.get_running_loop().call_soon(cell_task.cancel)\n"
        "except asyncio.CancelledError:\n"
        "    cell_task.uncancel()\n"
        "    print('stopped as it ended')",
        "await asyncio.sleep(1.5)  # past the refresher's first frame, had it been left running\n"
        "print(tl.tasks[0].outcome, sorted(t.get_coro().__qualname__ for t in asyncio.all_tasks()\n"
        "                         if 'refresh' in t.get_coro().__qualname__))",
    )
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[1].outputs
    assert [o.text for o in outputs if o.output_type == "stream"] == ["stopped as it ended\n"], outputs
    (shown,) = [o for o in outputs if o.output_type == "display_data"]  # the final figure, in place
    assert shown.data["text/plain"].startswith("stopped on its way out: ")
    assert notebook.cells[2].outputs[0].text.strip() == "cancelled []"
