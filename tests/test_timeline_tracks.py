"""The task tree and resource tracks (issue 24, items 2, 3, 5, 6), and the plain four-worker
pattern drawing all of issue 24 at once.

The patterns are written the way production code is: no ``span()``, ``mark()`` or
``tl.track()`` unless a test is about them. Each test runs with asyncio.run(); timing checks
are generous, because the machine is shared.
"""

import asyncio
import itertools
import json
import time
from pathlib import Path

import diagram_checks
import pytest
from asynclab import Timeline
from asynclab.timeline import phases, resources
from matplotlib.text import Text
from test_timeline_phases import worker  # the pattern: AsyncResource, a semaphore, a lock, time.sleep

SEP = phases.SEPARATOR
BUILD = Path(__file__).resolve().parents[1] / "build"

# -- the plain four-worker pattern of the issue -----------------------------------------------


def four_workers():
    async def main():
        sem, lock = asyncio.Semaphore(2), asyncio.Lock()
        async with Timeline("four workers", show=False) as tl:
            async with asyncio.TaskGroup() as tg:
                for n in range(1, 5):
                    tg.create_task(worker(n, sem, lock), name=f"worker-{n}")
        # Every object has its own class back once the block has ended.
        assert type(sem) is asyncio.Semaphore and type(lock) is asyncio.Lock
        return tl

    return asyncio.run(main())


WORKERS = [f"worker-{n}" for n in range(1, 5)]


def track_named(snapshot, label):
    found = [t for t in snapshot.tracks if t.label == label]
    assert found, f"no track {label!r} in {[t.label for t in snapshot.tracks]}"
    return found[0]


def test_four_workers_record_phases_tree_tracks_and_a_blocked_loop():
    tl = four_workers()
    snapshot = tl.snapshot()
    lanes = snapshot.lane_names
    # Phases: each worker's AsyncResource setup and cleanup, read from the await chain.
    for name in WORKERS:
        labels = {s.label for s in snapshot.other if s.lane == name}
        assert {"AsyncResource.__aenter__", "AsyncResource.__aexit__"} <= labels
    # The tree: every worker was created by the block's task, which waited on all four.
    for name in WORKERS:
        assert snapshot.lanes[lanes.index(name)].parent == 0
        assert snapshot.lanes[lanes.index(name)].depth == 1
    (awaited,) = [a for a in snapshot.awaited if a[0] == 0]
    assert sorted(lanes[i] for i in awaited[3]) == WORKERS
    # The semaphore: named after the variable, two permits, each worker holding one once,
    # never more than two at a time.
    sem = track_named(snapshot, "sem: Semaphore(2)")
    assert sem.kind == "semaphore" and sem.capacity == 2 and sem.peak == 2
    assert sorted(lanes[lane] for lane, _, _ in sem.holders) == WORKERS
    assert max(sem.levels) == 2 and sem.levels[-1] == 0
    # The lock: each worker held it once, one after another.
    lock = track_named(snapshot, "lock: Lock")
    assert lock.peak == 1 and sorted(lanes[lane] for lane, _, _ in lock.holders) == WORKERS
    holds = sorted((start, end) for _, start, end in lock.holders)
    assert all(a_end <= b_start + 1e-6 for (_, a_end), (b_start, _) in itertools.pairwise(holds))
    # worker-2 held the lock through its blocking sleep, so for most of the 80 ms.
    held_by_2 = [end - start for lane, start, end in lock.holders if lanes[lane] == "worker-2"]
    assert held_by_2[0] > 0.08 * 0.8
    # The blocked band names the call.
    ((start, end, label),) = snapshot.blocked
    assert end - start > 0.08 * 0.8
    assert "worker-2" in label and "time.sleep" in label
    # describe() and summary() say the same in words.
    text = tl.describe()
    assert "created worker-1, worker-2, worker-3, worker-4; waited on them in TaskGroup.__aexit__" in text
    assert "sem: Semaphore(2), peak 2 of 2 permits in use" in text
    assert "lock: Lock, held" in text
    summary = tl.summary()
    assert [r["peak"] for r in summary.resources] == [2, 1]
    assert any("created worker-1" in line for line in str(summary).splitlines())


def _texts(figure):
    figure.canvas.draw()
    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text().strip()]


def test_four_workers_diagram_shows_them_in_its_labels():
    tl = four_workers()
    figure = tl.plot()
    texts = _texts(figure)
    words = [t.get_text() for t in texts]
    joined = "\n".join(words)
    # Lanes, tracks, phases, the parent's wait naming its children, holders, the blocked band.
    for name in WORKERS:
        assert name in words
    assert "sem: Semaphore(2)" in words and "lock: Lock" in words
    assert any(w in ("AsyncResource.__aenter__", "enter") for w in words)
    assert any(w in ("AsyncResource.__aexit__", "exit") for w in words)
    assert any(w.startswith("TaskGroup.__aexit__ \u2192 worker-1") for w in words), joined
    assert "loop blocked" in joined and "time.sleep" in joined
    # A track's holders are named in it: worker-2 held the lock for about 80 ms.
    lock_y = next(t for t in texts if t.get_text() == "lock: Lock")
    assert lock_y is not None
    assert sum(w == "worker-2" for w in words) >= 2  # its lane label and its hold of the lock
    # The tree: a connector to each of the four children, and one down from the parent.
    (tree,) = [line for line in figure.axes[0].lines if line.get_gid() == "task tree"]
    assert len(tree.get_xdata()) == 3 * (4 + 2)  # each segment and a break
    # Legible: nothing under 8 pt, no more than 800 px tall, nothing covered or cut off.
    assert min(t.get_fontsize() for t in texts) >= 8
    assert figure.get_size_inches()[1] * figure.dpi <= 800
    found = diagram_checks.problems(figure)
    assert not any(found[key] for key in found if key != "texts"), found
    BUILD.mkdir(exist_ok=True)
    figure.savefig(BUILD / "four_workers.png", dpi=figure.dpi, facecolor="white")


# -- the task tree -----------------------------------------------------------------------------


def tree_pattern(observe):
    """The block gathers two parents (one with a TaskGroup, one with gather) and an observer
    that calls ``observe(tl)`` while every child sleeps."""

    async def leaf():
        await asyncio.sleep(0.06)

    async def with_taskgroup():
        async with asyncio.TaskGroup() as tg:
            tg.create_task(leaf(), name="tg-1")
            tg.create_task(leaf(), name="tg-2")

    async def with_gather():
        await asyncio.gather(leaf(), leaf())

    async def main():
        seen = {}

        async def observer(tl):
            await asyncio.sleep(0.02)
            seen["at"] = time.perf_counter() - tl.started_at
            seen["graph"] = observe(tl)

        async with Timeline("tree", show=False) as tl:
            await asyncio.gather(
                asyncio.create_task(with_taskgroup(), name="taskgroup"),
                asyncio.create_task(with_gather(), name="gathering"),
                asyncio.create_task(observer(tl), name="observer"),
            )
        return tl, seen

    return asyncio.run(main())


def awaited_by(snapshot, when):
    """lane name -> the lane names waiting on it at ``when`` (seconds from the start)."""
    names = snapshot.lane_names
    relation = {}
    for parent, start, end, children in snapshot.awaited:
        if start <= when <= end:
            for child in children:
                relation.setdefault(names[child], set()).add(names[parent])
    return relation


def test_the_tree_orders_children_under_their_parent_and_names_what_a_parent_awaits():
    tl, seen = tree_pattern(lambda tl: None)
    snapshot = tl.snapshot()
    names = snapshot.lane_names
    by_name = {lane.name: lane for lane in snapshot.lanes}
    assert by_name["tg-1"].parent == names.index("taskgroup") and by_name["tg-1"].depth == 2
    gathered = [lane.name for lane in snapshot.lanes if lane.parent == names.index("gathering")]
    assert len(gathered) == 2
    # Drawn depth first: each parent's children right under it.
    from asynclab.timeline.layout import Layout

    order = [names[i] for i in Layout(snapshot, None).order]
    assert order.index("tg-1") == order.index("taskgroup") + 1
    assert order.index(gathered[0]) == order.index("gathering") + 1
    relation = awaited_by(snapshot, seen["at"])
    assert relation["tg-1"] == relation["tg-2"] == {"taskgroup"}
    assert relation[gathered[0]] == relation[gathered[1]] == {"gathering"}
    assert relation["taskgroup"] == relation["gathering"] == {names[0]}
    text = tl.describe()
    assert "taskgroup created tg-1, tg-2; waited on them in TaskGroup.__aexit__" in text
    assert "gathering created" in text and "waited on them in gather" in text
    trace = _trace(tl)
    flows = [e for e in trace["traceEvents"] if e["ph"] in ("s", "f")]
    assert len(flows) == 2 * (len(snapshot.lanes) - 1)
    created = [e for e in trace["traceEvents"] if e.get("name") == "created" and e["ph"] == "i"]
    assert {e["args"]["parent"] for e in created} == {names[0], "taskgroup", "gathering"}
    waits = [e for e in trace["traceEvents"] if e["ph"] == "X" and "awaits" in e.get("args", {})]
    assert any(e["args"]["awaits"] == ["tg-1", "tg-2"] for e in waits)


def test_await_task_names_the_awaited_lane():
    async def slow():
        await asyncio.sleep(0.02)

    async def main():
        async with Timeline(show=False) as tl:
            await asyncio.create_task(slow(), name="slow")
        return tl

    snapshot = asyncio.run(main()).snapshot()
    ((lane, _, _, awaited),) = snapshot.awaited
    assert lane == 0 and [snapshot.lane_names[i] for i in awaited] == ["slow"]


@pytest.mark.skipif(
    not hasattr(asyncio, "capture_call_graph"), reason="asyncio.capture_call_graph() arrived in Python 3.14"
)
def test_the_awaited_by_relation_agrees_with_capture_call_graph():
    def observe(tl):
        """Each task's awaiters as Python 3.14 sees them: task name -> names of its awaiters."""
        me = asyncio.current_task()
        return {
            task.get_name(): {entry.future.get_name() for entry in asyncio.capture_call_graph(task).awaited_by}
            for task in asyncio.all_tasks()
            if task is not me
        }

    tl, seen = tree_pattern(observe)
    snapshot = tl.snapshot()
    relation = awaited_by(snapshot, seen["at"])
    expected = {name: parents for name, parents in seen["graph"].items() if name in snapshot.lane_names}
    assert {"tg-1", "tg-2", "taskgroup", "gathering"} <= set(expected)
    for name, parents in expected.items():
        assert relation.get(name, set()) == parents, (name, relation, expected)


# -- resource tracks ---------------------------------------------------------------------------


def test_queue_event_condition_and_explicit_tracks():
    async def main():
        jobs = asyncio.Queue()
        ready = asyncio.Event()
        cond = asyncio.Condition()
        urgent = asyncio.PriorityQueue()

        async def producer():
            for n in range(3):
                await jobs.put(n)
            await asyncio.sleep(0.01)
            ready.set()
            async with cond:
                cond.notify_all()

        async def consumer():
            await ready.wait()
            while not jobs.empty():
                await jobs.get()
                await asyncio.sleep(0.002)

        async def listener():
            async with cond:
                await cond.wait()

        async with Timeline(show=False) as tl:
            assert tl.track(urgent, "urgent") is urgent
            urgent.put_nowait((1, "x"))
            await asyncio.gather(
                asyncio.create_task(listener(), name="listener"),
                asyncio.create_task(consumer(), name="consumer"),
                asyncio.create_task(producer(), name="producer"),
            )
        return tl

    snapshot = asyncio.run(main()).snapshot()
    jobs = track_named(snapshot, "jobs: Queue")
    assert jobs.peak == 3 and jobs.levels[-1] == 0
    ready = track_named(snapshot, "ready: Event")
    assert ready.levels[0] == 0 and ready.levels[-1] == 1
    track_named(snapshot, "cond: Condition")
    urgent = track_named(snapshot, "urgent: PriorityQueue")
    assert urgent.peak == 1
    text = asyncio.run(_describe_queue())
    assert "items: Queue, peak 2 items" in text


async def _describe_queue():
    items = asyncio.Queue()  # made before the block: found in its namespace
    async with Timeline(show=False) as tl:
        items.put_nowait(1)
        items.put_nowait(2)
        await asyncio.sleep(0)
        items.get_nowait()
    return tl.describe()


def test_an_object_made_inside_the_block_is_found_when_waited_on_and_named_from_the_chain():
    async def holder(gate):
        async with gate:
            await asyncio.sleep(0.02)

    async def main():
        async with Timeline(show=False) as tl:
            shared = asyncio.Lock()  # made inside the block, passed to tasks as "gate"
            await asyncio.gather(holder(shared), holder(shared))
        return tl, shared

    tl, shared = asyncio.run(main())
    assert type(shared) is asyncio.Lock
    (track,) = tl.snapshot().tracks
    assert track.label in ("gate: Lock", "shared: Lock") and track.peak == 1
    assert len(track.holders) >= 1


def test_without_the_private_attributes_a_track_reads_the_public_state(monkeypatch):
    monkeypatch.setattr(resources, "_can_note", lambda obj, kind: False)

    async def main():
        lock = asyncio.Lock()

        async def holder():
            async with lock:
                await asyncio.sleep(0.02)

        async with Timeline(show=False) as tl:
            await asyncio.gather(holder(), holder())
        assert type(lock) is asyncio.Lock and "_asynclab_tracks" not in vars(lock)
        return tl

    (track,) = asyncio.run(main()).snapshot().tracks
    assert track.label == "lock: Lock" and track.peak == 1


@pytest.mark.parametrize("ending", ["exception", "cancelled"])
def test_every_object_is_restored_however_the_block_ends(ending):
    async def main():
        lock, sem, queue, event = asyncio.Lock(), asyncio.BoundedSemaphore(2), asyncio.Queue(), asyncio.Event()
        originals = {id(o): type(o) for o in (lock, sem, queue, event)}
        timeline = Timeline(show=False)

        async def body():
            async with timeline as tl:
                tl.track(queue, "queue")
                async with lock, sem:
                    assert type(lock) is not asyncio.Lock  # noted, for the block only
                    queue.put_nowait(1)
                    event.set()
                    if ending == "exception":
                        raise ValueError("boom")
                    await asyncio.sleep(10)

        task = asyncio.create_task(body())
        await asyncio.sleep(0.02)
        if ending == "cancelled":
            task.cancel()
        with pytest.raises(ValueError if ending == "exception" else asyncio.CancelledError):
            await task
        for obj in (lock, sem, queue, event):
            assert type(obj) is originals[id(obj)]
            assert "_asynclab_tracks" not in vars(obj)
        # Changes after the block are not recorded.
        before = [list(t.levels) for t in timeline.snapshot().tracks]
        async with lock:
            queue.put_nowait(2)
        assert [list(t.levels) for t in timeline.snapshot().tracks] == before
        return timeline

    snapshot = asyncio.run(main()).snapshot()
    labels = {t.label for t in snapshot.tracks}
    assert {"lock: Lock", "sem: BoundedSemaphore(2)", "queue: Queue", "event: Event"} <= labels


def test_tracks_go_to_the_chrome_trace_as_counters():
    tl = four_workers()
    trace = _trace(tl)
    counters = [e for e in trace["traceEvents"] if e["ph"] == "C"]
    assert {e["name"] for e in counters} == {"sem: Semaphore(2)", "lock: Lock"}
    assert max(e["args"]["permits in use"] for e in counters if e["name"] == "sem: Semaphore(2)") == 2
    assert all(e["ts"] >= 0 and "pid" in e for e in counters)
    assert perfetto_reading(trace)[0] == []


def perfetto_reading(trace):
    """Reads a JSON trace by the rules of Perfetto's importer (src/trace_processor/importers/json
    and slice_tracker.cc): times become whole nanoseconds (llround of µs x 1000); events are taken
    in time order, complete slices first at a given time (the longest first), then file order; on
    each thread a slice closes the finished ones above it, and one that starts inside a slice
    but ends after it is moved off the thread (older Perfetto dropped it); a flow's end binds to
    the newest slice on its thread; thread 0 is rewritten to the process's own.

    Returns (problems, what each flow end bound to: (flow id, phase) -> slice name).
    """
    events = trace["traceEvents"]

    def ns(us):
        return round(us * 1000)

    def order(item):
        n, e = item
        if e["ph"] == "X":
            return (ns(e["ts"]), 0, -ns(e["dur"]), n)
        return (ns(e.get("ts", 0)), 1, 0, n)

    problems, bound = [], {}
    stacks = {}  # tid -> [(end_ns, name)]
    for n, e in sorted(enumerate(events), key=order):
        if e.get("tid") == 0:
            problems.append(f"thread 0 is the process's own: {e['name']!r}")
        if e["ph"] == "M" or e["ph"] == "C":
            continue
        if e["ts"] < 0:
            problems.append(f"negative time: {e['name']!r}")
        stack = stacks.setdefault(e["tid"], [])
        start = ns(e["ts"])
        if e["ph"] in ("X", "i"):
            end = start + (ns(e["dur"]) if e["ph"] == "X" else 0)
            while stack and stack[-1][0] <= start:
                stack.pop()
            if stack and end > stack[-1][0]:
                problems.append(f"{e['name']!r} overlaps {stack[-1][1]!r} on thread {e['tid']}")
                continue
            stack.append((end, e["name"]))
        elif e["ph"] in ("s", "f"):
            if not stack:
                problems.append(f"flow {e['id']} ({e['ph']}) has no slice to bind to on thread {e['tid']}")
            else:
                bound[(e["id"], e["ph"])] = stack[-1][1]
    return problems, bound


def test_perfetto_reads_the_chrome_trace_without_losing_a_slice_or_an_arrow():
    async def hold(lock, seconds):
        async with lock:
            await asyncio.sleep(seconds)

    async def locker(n):
        lock = asyncio.Lock()  # one `lock` per call: three tracks, three names
        await asyncio.gather(hold(lock, 0.002 * n), hold(lock, 0.002))

    async def main():
        async with Timeline(show=False) as tl:
            tl.mark("just before the children")  # an arrow must not start from here
            async with asyncio.TaskGroup() as tg:
                for n in range(1, 4):
                    tg.create_task(locker(n), name=f"locker-{n}")
            time.sleep(0.07)  # blocks the loop
            now = time.perf_counter()
            # Requests a server handled side by side: spans that overlap partly, on one lane.
            requests = [(0.06, 0.03), (0.05, 0.02), (0.04, 0.01), (0.035, 0.032)]
            tl.add_spans(
                [{"label": f"GET /{n}", "start": now - a, "end": now - b} for n, (a, b) in enumerate(requests)],
                "server",
            )
        return tl

    tl = asyncio.run(main())
    trace = _trace(tl)
    events = trace["traceEvents"]
    problems, bound = perfetto_reading(trace)
    assert problems == []
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == len(tl.spans) + len(tl.snapshot().blocked) >= 20
    flows = sorted({flow for flow, _ in bound})
    assert len(flows) == 9  # the block's task created 3 tasks, and each of them 2
    children = {e["args"]["child"] for e in events if e["name"].startswith("created ") and e["ph"] == "i"}
    assert {"locker-1", "locker-2", "locker-3"} < children
    for flow in flows:
        assert bound[(flow, "s")].startswith("created ") and bound[(flow, "f")] == "created"
    # The server's four requests need three threads, so that none of them is lost.
    threads = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    server = {threads[e["tid"]] for e in complete if e["cat"] == "server"}
    assert server == {"server", "server (2)", "server (3)"}
    assert "loop blocked" in threads.values()
    counters = {e["name"] for e in events if e["ph"] == "C"}
    assert counters == {"lock: Lock", "lock: Lock (2)", "lock: Lock (3)"}


def test_the_perfetto_reading_finds_what_would_be_lost():
    """The rules above catch each problem they are there for."""
    thread = {"ph": "M", "pid": 1, "tid": 2, "name": "thread_name", "args": {"name": "t"}}
    overlapping = [
        {"ph": "X", "pid": 1, "tid": 2, "name": "a", "ts": 0.0, "dur": 10.0},
        {"ph": "X", "pid": 1, "tid": 2, "name": "b", "ts": 5.0, "dur": 10.0},
    ]
    # A slice from 0.0006 to 1.0014 µs with its length rounded, not its end, ends at 1.002: 1 ns
    # after the next one, from 1.0014, starts.
    start, end = 0.0006, 1.0014
    rounded_apart = [
        {"ph": "X", "pid": 1, "tid": 2, "name": "a", "ts": round(start, 3), "dur": round(end - start, 3)},
        {"ph": "X", "pid": 1, "tid": 2, "name": "b", "ts": round(end, 3), "dur": 1.0},
    ]
    unbound = [{"ph": "s", "pid": 1, "tid": 2, "name": "created", "cat": "tree", "id": 1, "ts": 3.0}]
    on_thread_0 = [{"ph": "X", "pid": 1, "tid": 0, "name": "a", "ts": 0.0, "dur": 1.0}]
    for events in (overlapping, rounded_apart, unbound, on_thread_0):
        problems, _ = perfetto_reading({"traceEvents": [thread, *events]})
        assert len(problems) == 1, events
    touching = [
        {"ph": "X", "pid": 1, "tid": 2, "name": "a", "ts": 0.0, "dur": 1.5},
        {"ph": "X", "pid": 1, "tid": 2, "name": "b", "ts": 1.5, "dur": 1.0},
    ]
    assert perfetto_reading({"traceEvents": [thread, *touching]}) == ([], {})


def test_blocks_with_no_such_objects_have_no_tracks():
    async def main():
        async with Timeline(show=False) as tl:
            await asyncio.gather(asyncio.sleep(0.01), asyncio.sleep(0.01))
        return tl

    tl = asyncio.run(main())
    assert tl.snapshot().tracks == [] and "Track " not in tl.describe()
    assert tl.summary().resources == []


def test_track_rejects_other_objects():
    async def main():
        async with Timeline(show=False) as tl:
            with pytest.raises(TypeError, match="Lock, Semaphore, Queue"):
                tl.track(object(), "x")

    asyncio.run(main())


def _trace(tl):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        tl.to_chrome_trace(path)
        return json.loads(path.read_text())
