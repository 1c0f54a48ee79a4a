"""Measures what recording and drawing a Timeline costs (run with `make bench`).

1. Overhead: 1000 tasks x 50 `await asyncio.sleep(0)`, with and without a Timeline around
   them, alternating, best of several runs. Target: at most +40% wall time.
2. Accuracy: a recorded `await asyncio.sleep(0.1)` is drawn as 100 ms +- 2 ms.
3. Drawing: 10,000 spans to PNG in at most 0.5 s, 100,000 in at most 3 s.

Prints the figures and exits with status 1 if a target is missed.
"""

import asyncio
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "notebooks"))

from asynclab import Timeline  # noqa: E402
from asynclab.timeline import drawing  # noqa: E402

REPEATS = 9


async def yielder(steps):
    for _ in range(steps):
        await asyncio.sleep(0)


async def many_tasks(tasks, steps):
    await asyncio.gather(*(yielder(steps) for _ in range(tasks)))


async def timed_run(traced, tasks=1000, steps=50):
    began = time.perf_counter()
    if traced:
        async with Timeline(show=False) as tl:
            await many_tasks(tasks, steps)
    else:
        tl = None
        await many_tasks(tasks, steps)
    return time.perf_counter() - began, tl


async def overhead():
    await timed_run(False)  # warm up
    await timed_run(True)
    plain, traced = [], []
    for _ in range(REPEATS):
        plain.append((await timed_run(False))[0])
        traced.append((await timed_run(True))[0])
    return min(plain), min(traced)


async def sleep_accuracy(runs=10):
    """Drawn length of a 100 ms sleep, in a recorded task and in the block's own task."""
    in_task, in_block = [], []
    for _ in range(runs):
        async with Timeline(show=False) as tl:
            await asyncio.create_task(asyncio.sleep(0.1), name="sleeper")
            await asyncio.sleep(0.1)
        for span in tl.spans:
            if span.label == "sleep":
                (in_task if span.lane == "sleeper" else in_block).append(span.duration)
    return in_task, in_block


def draw_time(timeline, repeats=3):
    """Seconds to draw the timeline and encode it as PNG (best of a few)."""
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        figure = timeline.plot()
        drawing.png_bytes(figure)
        best = min(best, time.perf_counter() - began)
    return best


def main():
    failures = []

    plain, traced = asyncio.run(overhead())
    ratio = traced / plain
    print(f"overhead  1000 tasks x 50 sleep(0): untraced {plain * 1000:.1f} ms, "
          f"traced {traced * 1000:.1f} ms, ratio {ratio:.2f} (+{(ratio - 1) * 100:.0f}%, "
          f"target <= +40%)")
    if ratio > 1.40:
        failures.append("overhead")

    in_task, in_block = asyncio.run(sleep_accuracy())
    worst = max(abs(d - 0.1) for d in in_task)
    print(f"accuracy  sleep(0.1) in a task: mean {statistics.mean(in_task) * 1000:.2f} ms, "
          f"worst error {worst * 1000:.2f} ms (target <= 2 ms); in the block's own lane: "
          f"mean {statistics.mean(in_block) * 1000:.2f} ms")
    if worst > 0.002:
        failures.append("accuracy")

    for tasks, limit in ((100, 0.5), (1000, 3.0)):
        _, tl = asyncio.run(timed_run(True, tasks=tasks, steps=50))
        spans = len(tl.spans)
        seconds = draw_time(tl)
        print(f"drawing   {spans:,} spans to PNG: {seconds:.2f} s (target <= {limit} s)")
        if seconds > limit:
            failures.append(f"drawing {spans} spans")

    if failures:
        print("MISSED:", ", ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
