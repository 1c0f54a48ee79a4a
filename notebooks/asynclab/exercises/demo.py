"""Three demo exercises: the framework end to end, and a model for the notebooks' ``nbXX`` modules.

- ``q1``: ``async_range(n, delay)``, an async generator.
- ``q2``: ``fetch_all(urls)``, concurrent requests sharing one ``aiohttp.ClientSession``.
- ``q3``: ``stopwatch()``, an async context manager that times its block.

In a notebook::

    from asynclab.exercises.demo import q1, q2, q3, fake_fetch

    async def async_range(n, delay):
        ...  # the learner's answer

    await q1.check()

The reference answers below carry the names the learner must use, so ``solution()`` shows exactly
what the learner would write. ``__all__`` keeps them out of ``from ... import *``.
"""

import asyncio
import contextlib
import itertools
import time
import types

import aiohttp

from .core import Exercise
from .trial import Trial

__all__ = ["FETCH_SECONDS", "fake_fetch", "q1", "q2", "q3"]


# --- q1: an async generator ------------------------------------------------------------------------


async def async_range(n, delay):
    for i in range(n):
        await asyncio.sleep(delay)
        yield i


q1 = Exercise(
    "async_range",
    expects="async generator",
    reference=async_range,
    hints=[
        "An async generator is an `async def` that contains `yield`.",
        "Loop over `range(n)`; in each round, `await asyncio.sleep(delay)` and then `yield` the number.",
        "Use `await asyncio.sleep(...)`, not `time.sleep(...)`: the latter stops the whole event loop.",
    ],
    success="`async_range` hands out one number every `delay` seconds, and other tasks can run meanwhile.",
)


@q1.judge
async def judge_async_range(trial, async_range):
    n, delay = 3, 0.25  # long enough for a blocking time.sleep to stand out from scheduling noise
    items = await trial.collect(async_range, n, delay)
    trial.expect_equal(items, list(range(n)), f"`async_range({n}, {delay})` yielded")

    # Behaviour, not just values: each number should come out as soon as it is ready.
    times = items.arrival_times
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    if any(gap < delay / 2 for gap in gaps):
        shown = ", ".join(f"{t:.2f}" for t in times)
        if times[0] >= n * delay / 2:
            trial.fail(
                f"All {n} numbers arrived together at the end (at {shown} s): `yield` each number "
                f"as soon as it is ready, inside the loop, instead of collecting them first."
            )
        trial.fail(
            f"The numbers did not arrive `delay` seconds apart (they came at {shown} s): "
            f"`await asyncio.sleep(delay)` before each `yield`."
        )

    empty = await trial.collect(async_range, 0, delay)
    trial.expect_equal(empty, [], f"`async_range(0, {delay})` yielded")

    # A consumer may stop early (`break`): the generator must close cleanly when asked to.
    first_two = await trial.collect(async_range, 100, 0.01, limit=2)
    trial.expect_equal(first_two, [0, 1], "The first two items of `async_range(100, 0.01)` were")


# --- q2: concurrent requests with one session --------------------------------------------------------

FETCH_SECONDS = 0.1


async def fake_fetch(session, url):
    """Pretend to download ``url`` with ``session``: wait ``FETCH_SECONDS``, then return the page."""
    if not isinstance(session, aiohttp.ClientSession):
        raise TypeError(
            f"fake_fetch(session, url) needs an aiohttp.ClientSession as its first "
            f"argument, not {type(session).__name__}"
        )
    if session.closed:
        raise RuntimeError("Session is closed")  # what aiohttp says, too
    await asyncio.sleep(FETCH_SECONDS)
    return f"<page {url}>"


async def fetch_all(urls):
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(*(fake_fetch(session, url) for url in urls))


q2 = Exercise(
    "fetch_all",
    expects="async function",
    reference=fetch_all,
    hints=[
        "Open one session for all the requests: `async with aiohttp.ClientSession() as session:`.",
        "Calling `fake_fetch(session, url)` only creates a coroutine; nothing runs until it is awaited.",
        "`asyncio.gather(*coroutines)` runs them all at once and returns their results in order.",
    ],
    success="All the pages were fetched at the same time, and the session was closed.",
)

URLS = [f"https://example.com/items?page={n}" for n in range(1, 6)]


@q2.judge
async def judge_fetch_all(trial, fetch_all):
    pages = await trial.call(fetch_all, URLS, timeline=True, doing="`fetch_all(urls)`")
    trial.expect_equal(pages, [f"<page {url}>" for url in URLS], "`fetch_all(urls)` returned")
    await trial.expect_concurrency(
        waits="sleep",
        at_least=len(URLS),
        what="requests",
        reference_args=(URLS,),
        advice="Start them all before awaiting any: "
        "`await asyncio.gather(*(fake_fetch(session, url) for url in urls))`.",
    )


# --- q3: an async context manager ----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def stopwatch():
    watch = types.SimpleNamespace(elapsed=None)
    start = time.perf_counter()
    try:
        yield watch
    finally:  # also when the block raises
        watch.elapsed = time.perf_counter() - start


q3 = Exercise(
    "stopwatch",
    expects="async context manager",
    reference=stopwatch,
    hints=[
        "Either decorate an `async def` containing one `yield` with `@contextlib.asynccontextmanager`, "
        "or write a class with `async def __aenter__(self)` and `async def __aexit__(self, *exc)`.",
        "Whatever you `yield` (or return from `__aenter__`) becomes `sw` in `async with stopwatch() as sw`.",
        "The block may raise: record the time in `finally:` (or in `__aexit__`), and don't catch the exception.",
    ],
    success="`stopwatch` times its block, even one that raises, and lets exceptions through.",
)


@q3.judge
async def judge_stopwatch(trial: Trial, stopwatch):
    manager = await trial.context_manager(stopwatch)
    async with trial.step("`async with stopwatch() as sw: await asyncio.sleep(0.2)`"):
        async with manager as sw:
            await asyncio.sleep(0.2)
    trial.expect(
        sw is not None,
        "`async with stopwatch() as sw` gave `sw = None`: return the object that "
        "will hold `elapsed` from `__aenter__` (or `yield` it).",
    )
    elapsed = getattr(sw, "elapsed", None)
    if not isinstance(elapsed, (int, float)):
        trial.fail(f"After the block, `sw.elapsed` is {elapsed!r}; it should be the seconds the block took.")
    trial.expect(
        0.15 <= elapsed <= 1.5,
        f"The block took 0.2 s, but `sw.elapsed` is {elapsed:.3f}. "
        f"Measure in seconds: `time.perf_counter()` at the start and at the end.",
    )

    manager = await trial.context_manager(stopwatch)
    async with trial.step("`async with stopwatch() as sw:` around a block that raises ValueError"):
        with trial.expect_raises(
            ValueError,
            "`stopwatch` swallowed the ValueError raised inside its block: "
            "let exceptions through (don't catch it around the `yield`; "
            "`__aexit__` must not return True).",
        ):
            async with manager as sw:
                await asyncio.sleep(0.05)
                raise ValueError("raised inside the block")
    elapsed = getattr(sw, "elapsed", None)
    trial.expect(
        isinstance(elapsed, (int, float)) and elapsed > 0,
        "When the block raised, `sw.elapsed` was not set: record the time in `finally:` "
        "(or in `__aexit__`) so it happens either way.",
    )
