"""Phases read from the await chain, and a blocked loop drawn in red (issue 24, items 1, 4-7).

The patterns here are written the way production code is: no ``span()`` or ``mark()`` inside a
manager, a generator or a pool. Each test runs with asyncio.run(); timing checks are generous,
because the machine is shared.
"""

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path

import diagram_checks
import pytest
from asynclab import Timeline
from asynclab.timeline import blocked, drawing, model, phases
from matplotlib.colors import to_rgb

SEP = phases.SEPARATOR

# -- the plain pattern of the issue ---------------------------------------------------------


class AsyncResource:
    async def __aenter__(self):
        await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc_info):
        await asyncio.sleep(0.01)

    async def do_work(self):
        await asyncio.sleep(0.02)


async def worker(n, sem, lock):
    async with sem:
        async with AsyncResource() as r:
            await r.do_work()
    async with lock:
        if n == 2:
            time.sleep(0.08)  # blocks the loop: the line the blocked band names
        await asyncio.sleep(0.005)


BLOCKING_LINE = next(
    n for n, line in enumerate(Path(__file__).read_text().splitlines(), 1) if "time.sleep(0.08)" in line
)


def four_workers(**options):
    async def main():
        sem, lock = asyncio.Semaphore(2), asyncio.Lock()
        async with Timeline("four workers", show=False, **options) as tl:
            async with asyncio.TaskGroup() as tg:
                for n in range(1, 5):
                    tg.create_task(worker(n, sem, lock), name=f"worker-{n}")
        return tl

    return asyncio.run(main())


@pytest.fixture(scope="module")
def workers():
    return four_workers()


def labels_of(tl, lane, kind="waiting"):
    return [s.label for s in tl.spans if s.lane == lane and s.kind == kind]


def test_the_four_workers_record_phases_and_a_blocked_loop(workers):
    tl = workers
    for n in range(1, 5):
        lane = f"worker-{n}"
        waits = labels_of(tl, lane)
        assert f"AsyncResource.__aenter__{SEP}sleep" in waits
        assert f"AsyncResource.__aexit__{SEP}sleep" in waits
        assert "sleep" in waits  # do_work: the body, no phase
        # one band per phase: setup before cleanup
        setup, cleanup = labels_of(tl, lane, "setup"), labels_of(tl, lane, "cleanup")
        assert setup == ["AsyncResource.__aenter__"] and cleanup == ["AsyncResource.__aexit__"]
        (enter,) = [s for s in tl.spans if s.lane == lane and s.kind == "setup"]
        (leave,) = [s for s in tl.spans if s.lane == lane and s.kind == "cleanup"]
        assert enter.end <= leave.start and enter.duration >= 0.008
    assert any(label == "Semaphore.acquire" for n in (3, 4) for label in labels_of(tl, f"worker-{n}"))
    snapshot = tl.snapshot()
    (band,) = snapshot.blocked
    start, end, label = band
    assert 0.075 <= end - start <= 0.3
    assert label.startswith(f"loop blocked {(end - start) * 1000:.0f} ms: worker-2 at time.sleep, ")
    assert label.endswith(f"test_timeline_phases.py line {BLOCKING_LINE}")
    # the blocked span is worker-2's step, exactly
    (step,) = [s for s in tl.spans if s.lane == "worker-2" and s.kind == "running" and s.duration >= 0.05]
    assert (step.start, step.end) == (start, end)


def test_the_four_workers_diagram_shows_phases_and_the_blocked_band(workers):
    figure = workers.plot()
    found = diagram_checks.problems(figure)
    assert not diagram_checks.unreadable(found), found
    written = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any(text.startswith("loop blocked") and "worker-2 at time.sleep" in text for text in written), written
    assert any(text in ("AsyncResource.__aenter__", "enter") for text in written), written
    assert any(text in ("AsyncResource.__aexit__", "exit") for text in written), written
    assert "Semaphore.acquire" in written
    assert diagram_checks.smallest_font(figure) >= 8
    assert figure.get_size_inches()[1] * 100 <= 800
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert {"running", "waiting", "setup", "cleanup", "loop blocked"} <= set(legend), legend
    # the red band covers every lane: one span of the axes' full height
    ax = figure.axes[0]
    red = [p for p in ax.patches if p.get_facecolor()[:3] == pytest.approx(to_rgb(drawing.BLOCKED_COLOR))]
    assert len(red) == 1


def test_the_four_workers_in_words(workers):
    text = workers.describe()
    assert "phases: AsyncResource.__aenter__ " in text and "AsyncResource.__aexit__ " in text
    assert "The loop was blocked from " in text and "worker-2 at time.sleep" in text
    rows = {row["lane"]: row for row in workers.summary()}
    assert rows["worker-2"]["blocked"] >= 0.075 and rows["worker-1"]["blocked"] == 0
    assert rows["worker-1"]["phases"].startswith("AsyncResource.__aenter__ ")
    assert "blocked" in str(workers.summary()).splitlines()[0]


def test_the_chrome_trace_carries_blocked_spans_and_phases(workers, tmp_path):
    trace = json.loads(Path(workers.to_chrome_trace(tmp_path / "t.json")).read_text())
    events = trace["traceEvents"]
    assert all({"ph", "pid", "name"} <= set(e) for e in events)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in events if e["ph"] == "X")
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    blocked_slices = [e for e in events if e.get("cat") == "blocked"]
    assert len(blocked_slices) == 1 and names[blocked_slices[0]["tid"]] == "loop blocked"
    assert "time.sleep" in blocked_slices[0]["name"]
    waits = [e for e in events if e.get("cat") == "waiting" and e["args"].get("phase")]
    assert {e["args"]["phase"] for e in waits} == {"AsyncResource.__aenter__", "AsyncResource.__aexit__"}
    assert {e["args"]["awaited"] for e in waits} == {"sleep"}
    assert {e["args"]["phase"] for e in events if e.get("cat") == "setup"} == {"AsyncResource.__aenter__"}


# -- each phase on its own ----------------------------------------------------------------


def record(body, **options):
    options.setdefault("show", False)

    async def main():
        async with Timeline(**options) as tl:
            await asyncio.create_task(body(), name="task")
        return tl

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def managed_resource():
    await asyncio.sleep(0.005)
    try:
        yield "resource"
    finally:
        await asyncio.sleep(0.005)


def test_a_generator_manager_is_setup_before_its_yield_and_cleanup_after():
    async def body():
        async with managed_resource():
            await asyncio.sleep(0.005)

    tl = record(body)
    assert labels_of(tl, "task") == [
        "scheduled",
        f"managed_resource: setup{SEP}sleep",
        "sleep",
        f"managed_resource: cleanup{SEP}sleep",
    ]
    assert labels_of(tl, "task", "setup") == ["managed_resource: setup"]
    assert labels_of(tl, "task", "cleanup") == ["managed_resource: cleanup"]


def test_a_generator_manager_left_by_an_exception_is_cleanup_too():
    async def body():
        with contextlib.suppress(KeyError):
            async with managed_resource():
                raise KeyError("x")

    tl = record(body)
    assert f"managed_resource: cleanup{SEP}sleep" in labels_of(tl, "task")


def test_an_async_generator_names_the_item_it_is_producing():
    async def fetch_pages():
        for page in range(3):
            await asyncio.sleep(0.005)
            yield page

    async def body():
        return [page async for page in fetch_pages()]

    tl = record(body)
    waits = labels_of(tl, "task")
    assert waits.count(f"anext(fetch_pages){SEP}sleep") == 3
    # three waits in a row of one phase: one band
    assert labels_of(tl, "task", "iteration") == ["anext(fetch_pages)"]


def test_the_innermost_manager_names_the_phase():
    class Inner:
        async def __aenter__(self):
            await asyncio.sleep(0.005)

        async def __aexit__(self, *exc_info):
            pass

    @contextlib.asynccontextmanager
    async def outer():
        await asyncio.sleep(0.005)
        async with Inner():
            yield

    async def body():
        async with outer():
            pass

    tl = record(body)
    assert labels_of(tl, "task")[1:] == [f"outer: setup{SEP}sleep", f"Inner.__aenter__{SEP}sleep"]
    assert labels_of(tl, "task", "setup") == ["outer: setup", "Inner.__aenter__"]


def test_a_pool_s_acquire_is_a_phase_whether_a_method_or_a_manager():
    class Pool:
        def __init__(self):
            self.free = asyncio.Queue()
            self.free.put_nowait("conn")

        async def acquire(self):
            return await self.free.get()

        @contextlib.asynccontextmanager
        async def connection(self):
            conn = await self.acquire()
            try:
                yield conn
            finally:
                await self.free.put(conn)

    pool = Pool()

    async def holder():
        async with pool.connection():
            await asyncio.sleep(0.02)

    async def body():
        first = asyncio.create_task(holder(), name="first")
        await asyncio.sleep(0.005)
        await holder()  # waits for the only connection
        await first

    tl = record(body)
    assert f"Pool.acquire{SEP}Queue.get" in labels_of(tl, "task")

    class AsyncPool:  # notebook 04's shape: acquire() is an @asynccontextmanager
        def __init__(self):
            self.pool = asyncio.Queue()
            self.pool.put_nowait("conn")

        @contextlib.asynccontextmanager
        async def acquire(self):
            conn = await self.pool.get()
            try:
                yield conn
            finally:
                await self.pool.put(conn)

    pool = AsyncPool()

    async def user():
        async with pool.acquire():
            await asyncio.sleep(0.02)

    async def users():
        first = asyncio.create_task(user(), name="first")
        await asyncio.sleep(0.005)
        await user()
        await first

    tl = record(users)
    assert f"AsyncPool.acquire: setup{SEP}Queue.get" in labels_of(tl, "task")
    assert labels_of(tl, "task", "setup") == ["AsyncPool.acquire: setup"]


def test_a_class_iterator_names_its_anext():
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

    async def body():
        return [n async for n in Countdown()]

    tl = record(body)
    assert labels_of(tl, "task").count(f"anext(Countdown){SEP}sleep") == 2


def test_plain_code_has_no_phase():
    async def body():
        await asyncio.sleep(0.005)
        await asyncio.Event().wait() if False else None

    tl = record(body)
    assert labels_of(tl, "task") == ["scheduled", "sleep"]
    assert not [s for s in tl.spans if s.kind in phases.PHASE_KINDS]


def test_phase_bands_join_consecutive_waits_of_one_phase_only():
    waiting = (
        [0, 0, 0, 0, 1],
        [0.0, 1.0, 2.0, 3.0, 0.0],
        [0.5, 1.5, 2.5, 3.5, 1.0],
        [f"A.__aenter__{SEP}sleep", f"A.__aenter__{SEP}Lock.acquire", "sleep", f"A.__aenter__{SEP}sleep", "x"],
    )
    bands = model.phase_bands(["one", "two"], waiting)
    assert [(b.lane, b.kind, b.label, b.start, b.end) for b in bands] == [
        ("one", "setup", "A.__aenter__", 0.0, 1.5),
        ("one", "setup", "A.__aenter__", 3.0, 3.5),
    ]


# -- the blocked loop ---------------------------------------------------------------------


def blocking(seconds, **options):
    async def body():
        await asyncio.sleep(0.002)
        time.sleep(seconds)
        await asyncio.sleep(0.002)

    return record(body, **options)


def test_a_step_blocks_the_loop_only_from_the_threshold_on():
    assert not blocking(0.03).snapshot().blocked  # 30 ms < 50 ms
    (band,) = blocking(0.03, blocked_ms=15).snapshot().blocked
    assert "task at time.sleep, test_timeline_phases.py line" in band[2]
    tl = blocking(0.06, blocked_ms=None)
    assert not any(t.name == "asynclab-timeline-watchdog" for t in threading.enumerate())
    assert not tl.snapshot().blocked


def test_blocked_ms_is_checked():
    for bad in (0, -5, "50", True):
        with pytest.raises(TypeError, match="blocked_ms"):
            Timeline(blocked_ms=bad)
    assert Timeline().blocked_ms == 50.0 and Timeline(blocked_ms=20).blocked_ms == 20.0


def crunch(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def test_a_long_loop_of_python_code_is_named_by_its_function():
    async def body():
        await asyncio.sleep(0.002)
        started = time.perf_counter()
        while time.perf_counter() - started < 0.08:
            crunch(20_000)

    (band,) = record(body).snapshot().blocked
    assert " at crunch, test_timeline_phases.py line " in band[2] or " at time.perf_counter" in band[2], band[2]


def test_the_block_s_own_task_blocking_is_named_too():
    async def main():
        async with Timeline(show=False) as tl:
            await asyncio.sleep(0.002)
            time.sleep(0.1)
            await asyncio.sleep(0.002)
        return tl

    tl = asyncio.run(main())
    bands = tl.snapshot().blocked
    assert len(bands) == 1 and "at time.sleep, test_timeline_phases.py line" in bands[0][2], bands


def test_the_watchdog_costs_nothing_while_no_step_overruns():
    async def body():
        for _ in range(3000):  # many short steps: the watchdog is not told about any of them
            await asyncio.sleep(0)
        await asyncio.sleep(0.1)

    threads_before = threading.active_count()
    tl = record(body)
    watchdog = tl.watchdog
    assert watchdog.sampled == 0 and watchdog.samples == []
    # it only wakes on its own clock (a third of the threshold), never per step
    assert watchdog.looks <= tl.duration / (tl.blocked_ms / 1000 / blocked._CHECKS_PER_THRESHOLD) + 2
    assert not watchdog.alive and threading.active_count() == threads_before
    assert not tl.snapshot().blocked


def test_where_says_cell_for_notebook_code():
    assert blocked.where("/tmp/ipykernel_4242/1234567.py") == "cell"
    assert blocked.where("<ipython-input-3-abcdef>") == "cell"
    assert blocked.where("/work/lesson.py") == "lesson.py"


# -- legible at a glance ------------------------------------------------------------------


def test_twenty_lanes_of_phases_fit_under_800_px_in_8_pt():
    async def request(sem, n):
        async with sem:
            async with AsyncResource():
                await asyncio.sleep(0.005)

    async def main():
        sem = asyncio.Semaphore(4)
        async with Timeline("20 requests, at most 4 in flight", show=False) as tl:
            async with asyncio.TaskGroup() as tg:
                for n in range(20):
                    tg.create_task(request(sem, n), name=f"request {n}")
            tl.add_spans(
                [
                    {"label": f"GET /slow {n}", "start": tl.started_at + 0.002 * n, "end": tl.started_at + 0.03}
                    for n in range(4)
                ],
                lane="server",
            )
        return tl

    tl = asyncio.run(main())
    for figure in (tl.plot(), tl.compare(tl)):
        found = diagram_checks.problems(figure)
        assert not diagram_checks.unreadable(found), found
        assert figure.get_size_inches()[1] * 100 <= 800
        assert diagram_checks.smallest_font(figure) >= 8


def test_failed_and_cancelled_markers_differ_in_shape_colour_and_are_big_enough():
    async def fails():
        raise ValueError("no")

    async def main():
        async with Timeline(show=False) as tl:
            bad = asyncio.create_task(fails(), name="fails")
            slow = asyncio.create_task(asyncio.sleep(1), name="slow")
            await asyncio.sleep(0.01)
            slow.cancel()
            await asyncio.gather(bad, slow, return_exceptions=True)
        return tl

    figure = asyncio.run(main()).plot()
    styles = {}
    for collection in figure.axes[0].collections:
        sizes = collection.get_sizes()
        if len(sizes) and collection.get_offsets().shape[0] == 1:
            styles[tuple(collection.get_edgecolor()[0][:3])] = (collection, sizes[0])
    failed = drawing.OUTCOME_STYLE["exception"]
    cancelled = drawing.OUTCOME_STYLE["cancelled"]
    assert failed[0] != cancelled[0] and failed[1] != cancelled[1]
    big = [size for _, size in styles.values() if size >= 60]  # points^2: about 11 px across at 1x
    assert len(big) >= 2, styles
    assert not diagram_checks.unreadable(diagram_checks.problems(figure))


def test_a_task_created_at_once_shows_its_created_tick_clear_of_the_axis():
    figure = blocking(0.001).plot()
    left, right = figure.axes[0].get_xlim()
    assert left < 0 and -left >= right * 0.01


def test_colour_means_one_thing():
    from matplotlib.colors import to_rgb

    meaning = [drawing.RUNNING_COLOR, drawing.BLOCKED_COLOR, *drawing.KIND_COLORS.values()]
    assert len({to_rgb(c) for c in meaning}) == len(meaning)
    assert drawing.BLOCKED_COLOR not in drawing.EXTRA_KIND_COLORS
    # Every lane's steps are drawn in one colour, whatever the task: the bars of the running steps.
    figure = blocking(0.001).plot()
    steps = [c for ax in figure.axes for c in ax.collections if len(c.get_facecolors())]
    assert steps and len({tuple(face[:3]) for c in steps[:1] for face in c.get_facecolors()}) == 1


def test_checker_finds_small_text_unbacked_text_on_hatching_and_a_tall_figure():
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 9))
    ax = figure.add_axes([0.1, 0.1, 0.8, 0.8])
    bars = PolyCollection([[(0, 0), (1, 0), (1, 1), (0, 1)]], hatch="////")
    ax.add_collection(bars)
    ax.text(0.5, 0.5, "bare", fontsize=8)
    ax.text(0.2, 0.2, "backed", fontsize=8, bbox=drawing.LABEL_BACKING)
    figure.text(0.01, 0.01, "tiny", fontsize=6)
    found = diagram_checks.problems(figure)
    assert found["unbacked"] == ["bare"]
    assert found["small"] == [["tiny", 6.0]]
    assert found["too_tall"] == [900]


def test_many_bars_of_one_colour_draw_as_one_path_and_the_checker_still_sees_each():
    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 2))
    ax = figure.add_axes([0.1, 0.1, 0.8, 0.8])
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 2)
    bars = drawing._bars(np.array([0.0, 6.0]), np.array([4.0, 10.0]), np.array([0.0, 1.2]), np.array([0.8, 2.0]), "k")
    bars.set_hatch("////")
    ax.add_collection(bars)
    assert len(bars.get_paths()) == 1
    ax.text(1, 0.4, "on a bar", fontsize=8)
    ax.text(5, 1.0, "between the bars", fontsize=8, ha="center", va="center")  # inside their joint extent
    assert diagram_checks.problems(figure)["unbacked"] == ["on a bar"]


def test_max_concurrency_of_what_is_awaited_counts_waits_in_phases_too(workers):
    in_sleep = workers.max_concurrency(lambda s: s.kind == "waiting" and phases.split(s.label)[1] == "sleep")
    assert workers.max_concurrency("sleep") == in_sleep >= 2
    assert workers.max_concurrency(f"AsyncResource.__aenter__{SEP}sleep") == 2
    assert workers.max_concurrency("setup") == 2


def test_a_long_step_in_which_other_steps_ran_did_not_block_the_loop():
    # lane 0's long step runs a loop nested in it (nest_asyncio2): lane 1's steps ran inside
    running = ([0, 1, 1, 2], [0.0, 0.01, 0.03, 0.2], [0.1, 0.02, 0.04, 0.3])
    assert blocked.blocked_spans(running, 0.05) == [(2, 0.2, 0.3)]
