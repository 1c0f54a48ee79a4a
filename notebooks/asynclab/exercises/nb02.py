"""Exercises of notebook 02 (async comprehensions).

- ``q1``: ``fetch_in_order(urls)``: download every URL at the same time, return the pages in order.
- ``q2``: ``even_items(stream)``: the even numbers of an async stream, with one async comprehension.
- ``q3``: ``download_stream(urls, limit)``: download what an async stream hands out, at most
  ``limit`` at a time and ``limit`` whenever enough URLs have arrived, pages in the stream's order.
  The check's stream hands out a URL every 20 ms on a clock (``_arriving_urls``), so a batched
  answer, or one that reads the whole stream first, is seen leaving slots idle.
- ``q4``: ``first_pages(urls, n)``, a transfer: the first ``n`` pages to arrive, the other downloads
  cancelled.

In the notebook::

    from asynclab.exercises.nb02 import q1, q2, q3, download, number_stream, url_stream

``download(url)`` stands in for a real HTTP request: it waits as many seconds as the URL's
``delay=`` asks (0.1 by default) and returns ``"<page URL>"``. Every download is drawn on the
check's timeline as a span of kind ``"download"``, which is how the checks see whether downloads
overlapped, and by how much.
"""

import ast
import asyncio
import contextlib
import contextvars
import functools
import inspect
import itertools
import textwrap
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

from ..timeline import span
from .core import Exercise
from .schedule import Job

__all__ = ["DEFAULT_DELAY", "download", "number_stream", "q1", "q2", "q3", "q4", "url_stream"]

DEFAULT_DELAY = 0.1


def _delay_of(url):
    try:
        return float(parse_qs(urlsplit(url).query)["delay"][0])
    except (KeyError, ValueError, IndexError):
        return DEFAULT_DELAY


def _label(url):
    """What a download of ``url`` is called on the timeline: "page 3"."""
    return urlsplit(url).path.strip("/").replace("/", " ") or url


async def download(url):
    """Pretend to download ``url``: wait its ``delay=`` seconds (0.1 by default), return the page."""
    if not isinstance(url, str):
        raise TypeError(f"download(url) takes a URL string, not {type(url).__name__}: {url!r}")
    watch = _semaphores.get()
    if watch is not None:  # a check is watching: note whether this download runs inside a semaphore
        watch.call_started()
    global _in_flight
    _in_flight += 1
    try:
        with span(_label(url), kind="download"):
            await asyncio.sleep(_delay_of(url))
    finally:
        _in_flight -= 1
    if _arrivals is not None:
        _arrivals[f"<page {url}>"] = asyncio.get_running_loop().time()
    return f"<page {url}>"


_in_flight = 0  # downloads running now, for the checks: what an answer left running when it returned
# While q4's check runs: page -> loop time its download finished. Downloads whose timers a busy
# loop ran in one go finish within a moment of each other: which "arrived first" is then moot.
_arrivals: dict[str, float] | None = None
ARRIVED_TOGETHER = 0.01  # seconds


async def number_stream(numbers, interval=0.02):
    """An async stream of ``numbers``, one every ``interval`` seconds."""
    for number in numbers:
        await asyncio.sleep(interval)
        yield number


async def url_stream(urls, interval=0.02):
    """An async stream of ``urls``, one every ``interval`` seconds (a crawler, a paginated API...)."""
    for url in urls:
        await asyncio.sleep(interval)
        yield url


# --- watching the semaphores an answer creates (shared with nb03's judge) ----------------------------

_semaphores: contextvars.ContextVar["_SemaphoreWatch | None"] = contextvars.ContextVar(
    "asynclab_semaphore_watch", default=None
)


class _SemaphoreWatch:
    """Notes every ``asyncio.Semaphore`` made by the code under check, and whether each watched call
    (``call_started``) ran in a task holding one of them: what a judge needs to say *why* too many
    calls ran at once (no semaphore at all, one per call, one released too early) from what it saw.

    ``Semaphore.__init__``, ``acquire`` and ``release`` are wrapped for the duration of the block only,
    and only semaphores created in the block's context (or its tasks') are recorded.
    """

    def __init__(self):
        self.created = []  # (semaphore, its initial value)
        self.calls = 0  # watched calls
        self.calls_held = 0  # ... made while their task held one of the watched semaphores
        self._holders: dict = {}  # task -> how many watched semaphores it holds now
        self._saved: dict = {}
        self._token: contextvars.Token | None = None

    def __enter__(self):
        cls = asyncio.Semaphore
        saved = self._saved = {name: cls.__dict__[name] for name in ("__init__", "acquire", "release")}
        watch, ours = self, set()

        @functools.wraps(saved["__init__"])
        def init(sem, value=1, *args, **kwargs):
            saved["__init__"](sem, value, *args, **kwargs)
            if _semaphores.get() is watch:
                ours.add(id(sem))
                watch.created.append((sem, value))

        @functools.wraps(saved["acquire"])
        async def acquire(sem):
            result = await saved["acquire"](sem)
            task = asyncio.current_task()
            if id(sem) in ours and task is not None:
                watch._holders[task] = watch._holders.get(task, 0) + 1
            return result

        @functools.wraps(saved["release"])
        def release(sem):
            task = asyncio.current_task() if _running_loop() else None
            if id(sem) in ours and watch._holders.get(task):
                watch._holders[task] -= 1
            return saved["release"](sem)

        for name, wrapper in (("__init__", init), ("acquire", acquire), ("release", release)):
            setattr(cls, name, wrapper)
        self._token = _semaphores.set(self)
        return self

    def __exit__(self, *exc):
        if self._token is not None:
            _semaphores.reset(self._token)
        for name, value in self._saved.items():
            setattr(asyncio.Semaphore, name, value)
        self._holders.clear()

    def call_started(self):
        self.calls += 1
        if self._holders.get(asyncio.current_task()):
            self.calls_held += 1

    def too_many_because(self, limit, in_flight, calls, call):
        """Why ``in_flight`` (more than ``limit``) of the ``calls`` ran at once, as far as the watch saw.

        ``calls``: "downloads", "calls"; ``call``: what one is made with, "`await download(url)`".
        """
        if not self.created:
            if in_flight == limit + 1:
                return (
                    f"Your code created no `asyncio.Semaphore`, and whatever held the {calls} back let "
                    f"one more than `limit` through: check the condition that lets a new one start. "
                    f"One shared `asyncio.Semaphore(limit)` around each {call} does it for you."
                )
            return (
                f"Your code created no `asyncio.Semaphore`. Guard each {call} with one "
                f"`asyncio.Semaphore(limit)` shared by all of them (`async with semaphore:`), created "
                f"before the {calls} start."
            )
        if len(self.created) > 1:
            return (
                f"Your code created {len(self.created)} semaphores, a new one for each of the {calls}: "
                f"a semaphore created inside each call limits nothing. Create one shared "
                f"`asyncio.Semaphore(limit)` before starting them."
            )
        value = self.created[0][1]
        if value != limit:
            return (
                f"Your code created `asyncio.Semaphore({value})`, but `limit` was {limit}: "
                f"create it with `asyncio.Semaphore(limit)`."
            )
        if self.calls and self.calls_held < self.calls:
            return (
                f"Your code created one shared `asyncio.Semaphore({limit})`, but {self.calls - self.calls_held} "
                f"of the {self.calls} {calls} ran in a task that was not holding it (it was held only "
                f"while starting the tasks, or released before the {call}). Hold it in the task that "
                f"makes the call, around the call itself: `async with semaphore: return {call[1:-1]}`."
            )
        return f"Your code created one shared `asyncio.Semaphore({limit})`: make every {call} inside `async with semaphore:`."


def _running_loop():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _urls(delays):
    return [f"https://example.com/page/{n}?delay={delay}" for n, delay in enumerate(delays, 1)]


def _pages(urls):
    return [f"<page {url}>" for url in urls]


# --- q1: concurrent downloads, results in order ------------------------------------------------------


async def fetch_in_order(urls):
    return await asyncio.gather(*(download(url) for url in urls))


q1 = Exercise(
    "fetch_in_order",
    expects="async function",
    reference=fetch_in_order,
    hints=[
        "`[await download(url) for url in urls]` gives the right pages, but waits for each download "
        "before starting the next one.",
        "Start all the downloads first, then wait for all of them: `asyncio.gather(...)` or an "
        "`asyncio.TaskGroup` does both.",
        "`asyncio.gather(*coroutines)` returns the results in the order of its arguments, whatever "
        "order they finish in; `asyncio.as_completed` does not.",
    ],
    success="The downloads overlapped, and the pages came back in the order of `urls`.",
)

Q1_URLS = _urls([0.3, 0.1, 0.2])


# What the statement promises, each tried below: every download at the same time (all three
# overlap); the pages in the order of `urls`, whatever order they finish in; `[]` for no URLs.
@q1.judge
async def judge_fetch_in_order(trial, fetch_in_order):
    urls = list(Q1_URLS)
    pages = await trial.call(fetch_in_order, urls, timeline=True, doing="`fetch_in_order(urls)`")
    if (
        isinstance(pages, (list, tuple))
        and sorted(map(str, pages)) == sorted(_pages(urls))
        and list(pages) != _pages(urls)
    ):
        trial.fail(
            f"You returned the right pages in the wrong order{_which_order(pages, trial.timeline)}: "
            f"return them in the order of `urls`. `asyncio.gather` keeps the order of its "
            f"arguments; `asyncio.as_completed` yields whichever finishes first, and a set (such "
            f"as the `done` set of `asyncio.wait`) has no order at all."
        )
    trial.expect_equal(
        list(pages) if isinstance(pages, tuple) else pages, _pages(urls), "`fetch_in_order(urls)` returned"
    )
    await trial.expect_concurrency(
        waits="download",
        at_least=len(urls),
        what="downloads",
        reference_args=(urls,),
        advice="Start them all before awaiting any: `await asyncio.gather(*(download(url) for url in urls))`.",
    )
    empty = await trial.call(fetch_in_order, [], doing="`fetch_in_order([])`")
    trial.expect_equal(list(empty) if isinstance(empty, tuple) else empty, [], "`fetch_in_order([])` returned")


# --- q2: an async comprehension with a condition -----------------------------------------------------


async def even_items(stream):
    return [number async for number in stream if number % 2 == 0]


q2 = Exercise(
    "even_items",
    expects="async function",
    reference=even_items,
    hints=[
        "An async comprehension is a list comprehension whose `for` is an `async for`: `[x async for x in stream]`.",
        "Add the condition at the end, as in a regular comprehension: `... if x % 2 == 0`.",
        "Use square brackets: with parentheses you get an async generator expression, which has not run yet.",
    ],
    success="One async comprehension both reads the stream and keeps the even numbers.",
)


def _comprehensions(fn):
    """The comprehensions in ``fn``'s source, as (is async, filters) pairs; None if the source is unknown."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    kinds = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    return [
        (any(g.is_async for g in node.generators), any(g.ifs for g in node.generators))
        for node in ast.walk(tree)
        if isinstance(node, kinds)
    ]


# What the statement promises, each tried below: a list of the even numbers the stream hands out,
# in order, for two streams; built by one async comprehension with the condition inside it.
@q2.judge
async def judge_even_items(trial, even_items):
    cases = [(list(range(10)), [0, 2, 4, 6, 8]), ([7, 4, 9, 12, 3, 10], [4, 12, 10])]
    for numbers, expected in cases:
        doing = f"`even_items(number_stream({numbers}))`"
        got = await trial.call(even_items, number_stream(numbers, 0.01), doing=doing)
        if inspect.isasyncgen(got):
            await got.aclose()
            trial.fail(
                f"{doing} returned an async generator, not a list: with parentheses, "
                f"`(x async for x in stream ...)` is an async generator expression, and "
                f"nothing in it has run yet. Use square brackets to build the list."
            )
        trial.expect_equal(got, expected, f"{doing} returned")
    found = _comprehensions(even_items)
    if found is None:  # no source to read: judged by its results only
        return
    one = "`[number async for number in stream if ...]`"
    if not any(is_async for is_async, _ in found):
        trial.fail(
            f"Correct result, but written without an async comprehension. Build the list in one expression: {one}."
        )
    if len(found) > 1:
        trial.fail(
            f"Correct result, but with {len(found)} comprehensions; the exercise asks for one that "
            f"reads the stream and filters as it goes: {one}."
        )
    if not found[0][1]:
        trial.fail(
            f"Correct result, but the filtering happens outside the async comprehension. Put the "
            f"condition inside it, so that one comprehension does it all: {one}."
        )


# --- q3: a stream, at most `limit` downloads at a time ---------------------------------------------


async def download_stream(urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def download_one(url):
        async with semaphore:  # at most `limit` downloads inside at once
            return await download(url)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(download_one(url)) async for url in urls]
    return [task.result() for task in tasks]


q3 = Exercise(
    "download_stream",
    expects="async function",
    reference=download_stream,
    hints=[
        "`[await download(url) async for url in urls]` is correct but sequential: one download at a "
        "time. `asyncio.gather` over all of them would start every download at once: too many.",
        "An `asyncio.Semaphore(limit)` lets at most `limit` tasks inside `async with semaphore:` at "
        "the same time; the others wait at the door.",
        "Start one task per URL while you read the stream (`tg.create_task(...)` inside an async "
        "comprehension or an `async for` loop, in an `asyncio.TaskGroup`), each task doing "
        "`async with semaphore: return await download(url)`. Keep the tasks in a list, in stream "
        "order, and collect `task.result()` at the end.",
    ],
    success="Never more than `limit` downloads at once; each download started as soon as its URL "
    "had arrived and a slot was free, and the pages came back in stream order.",
)

# Different lengths, so pages finish in another order than the stream handed the URLs out.
Q3_DELAYS = [0.15, 0.05, 0.1, 0.05, 0.15, 0.1, 0.05, 0.1]
STREAM_INTERVAL = 0.02


async def _arriving_urls(urls, interval=STREAM_INTERVAL):
    """Like ``url_stream``, but on a clock: URL i arrives ``i * interval`` s after the first ``anext``,
    however late it is asked for, as messages arriving on a socket would. Each wait for the next URL
    is drawn as a span of kind "stream", so the check sees when every URL arrived."""
    loop = asyncio.get_running_loop()
    first = loop.time()
    for n, url in enumerate(urls, 1):
        with span("next URL", kind="stream"):
            await asyncio.sleep(max(first + n * interval - loop.time(), 0))
        yield url


def _download_jobs(timeline, urls, interval=STREAM_INTERVAL):
    """One ``Job`` per URL: when it arrived, when its download started and ended; None if a URL
    was not downloaded exactly once."""
    arrivals = [s for s in timeline.spans if s.kind == "stream"]
    downloads: dict[str, list] = {}
    for s in timeline.spans:
        if s.kind == "download":
            downloads.setdefault(s.label, []).append(s)
    labels = [_label(url) for url in urls]
    if len(arrivals) != len(urls):
        raise RuntimeError(f"the check's stream recorded {len(arrivals)} arrivals for {len(urls)} URLs")
    if any(len(downloads.get(label, ())) != 1 for label in labels):
        return None
    first = arrivals[0].start
    jobs = []
    for n, (arrival, label) in enumerate(zip(arrivals, labels), 1):
        # A URL asked for early arrived when the wait ended; one asked for late was there on time.
        ready = arrival.end if arrival.duration > 0.001 else min(arrival.end, first + n * interval)
        jobs.append(Job(ready, downloads[label][0].start, downloads[label][0].end))
    return jobs


# What the statement promises, each tried below, with `limit=3` and `limit=2`: every URL downloaded
# once; the pages in stream order; never more than `limit` downloads at once (and when there were
# more, the message says what the answer did: no semaphore, one per download, or one not held
# around the download); `limit` of them whenever enough URLs have arrived (not one at a time, not
# in batches, not after reading the whole stream).
@q3.judge
async def judge_download_stream(trial, download_stream):
    urls = _urls(Q3_DELAYS)
    for limit in (3, 2):
        doing = f"`download_stream(stream, {limit})`"
        with _SemaphoreWatch() as watch:
            pages = await trial.call(download_stream, _arriving_urls(urls), limit, timeline=True, doing=doing)
        if (
            isinstance(pages, (list, tuple))
            and sorted(map(str, pages)) == sorted(_pages(urls))
            and list(pages) != _pages(urls)
        ):
            trial.fail(
                f"{doing} returned the right pages in the wrong order{_which_order(pages, trial.timeline)}: "
                f"return them in the order the stream handed out the URLs, e.g. keep the tasks in a "
                f"list and read `task.result()` from each."
            )
        trial.expect_equal(list(pages) if isinstance(pages, tuple) else pages, _pages(urls), f"{doing} returned")
        jobs = _download_jobs(trial.timeline, urls)
        trial.expect(
            jobs is not None,
            f"{doing} returned the right pages, but did not call `download` exactly once per URL: "
            f"download each URL once.",
        )
        reference_args = (_arriving_urls(urls), limit)
        in_flight = trial.timeline.max_concurrency("download")
        if in_flight > limit:
            reference = await trial.reference_timeline(*reference_args)
            trial.fail(
                f"{in_flight} of your downloads with `limit={limit}` ran at the same time; at most {limit} "
                f"should. {watch.too_many_because(limit, in_flight, 'downloads', '`await download(url)`')}",
                timelines=(trial.timeline, reference),
            )
        await trial.expect_concurrency(
            waits="download",
            at_least=limit,
            what=f"downloads with `limit={limit}`",
            reference_args=reference_args,
            advice=f"Start a task per URL as it arrives, so that {limit} can run at once, and let one "
            f"shared `asyncio.Semaphore({limit})` hold back the others.",
        )
        last_arrival = max(job.ready for job in jobs)
        first_start = min(job.start for job in jobs)
        if first_start >= last_arrival:
            await trial.fail_on_timing(
                f"Correct pages and never more than {limit} at once, but with `limit={limit}` no download "
                f"started until the stream had handed out every URL: the first URL arrived at "
                f"{min(job.ready for job in jobs):.2f} s, the last at {last_arrival:.2f} s, and the first "
                f"download started only at {first_start:.2f} s, although it could have started at once "
                f"({{timing}}). Start a task for each URL inside the `async for` (or async comprehension) "
                f"that reads the stream, and let the shared semaphore hold back the extra ones.",
                reference_args=reference_args,
            )
        await trial.expect_slots_busy(
            jobs,
            limit=limit,
            what=f"downloads with `limit={limit}`",
            waiting="URLs",
            reference_args=reference_args,
            advice=f"Start one task per URL as it arrives, each holding one shared "
            f"`asyncio.Semaphore({limit})` only for its download (`async with semaphore: return "
            f"await download(url)`): a new download then starts as soon as one finishes.",
        )


def _which_order(pages, timeline):
    """ " (in the order the downloads finished)" when the timeline shows exactly that, else "".

    Only what the timeline establishes is said: pages taken from a set (`asyncio.wait`'s `done`)
    come in no particular order at all."""
    finished = [s.label for s in sorted((s for s in timeline.spans if s.kind == "download"), key=lambda s: s.end)]
    got = [_label(str(page)[len("<page ") : -1]) for page in pages]
    return ", in the order the downloads finished" if got == finished else ""


# --- q4 (transfer): the first n to arrive, the rest cancelled ----------------------------------------


async def first_pages(urls, n):
    pages = []
    async with asyncio.TaskGroup() as tg:
        downloads = [tg.create_task(download(url)) for url in urls]
        for next_done in asyncio.as_completed(downloads):
            pages.append(await next_done)
            if len(pages) == n:
                break  # before asking as_completed for another: it would hand out an awaitable unused
        for task in downloads:
            task.cancel()  # the rest are no longer wanted: cancel them, don't wait them out
    return pages


q4 = Exercise(
    "first_pages",
    expects="async function",
    reference=first_pages,
    hints=[
        "Start every download at once, in tasks (a `TaskGroup`, or `asyncio.create_task`), so that the "
        "fastest can finish first.",
        "`for next_done in asyncio.as_completed(tasks): page = await next_done` hands out the pages in the "
        "order they arrive; stop after `n` of them.",
        "The downloads still running are no longer wanted: `task.cancel()` each task before returning. "
        "Inside a `TaskGroup`, cancel them before the `async with` block ends, or it waits for them.",
    ],
    success="`first_pages` started every download at once, returned the first `n` pages in the order they "
    "arrived, and cancelled the downloads still running.",
)

Q4_DELAYS = [0.4, 0.1, 0.3, 0.05, 0.25]


def _in_arrival_order(pages, n: int, arrivals: dict[str, float]) -> bool:
    """``pages`` are the first ``n`` to have arrived, in the order they arrived: by the times their
    downloads finished, where pages that finished together may come in either order."""
    if not isinstance(pages, (list, tuple)) or len(pages) != n:
        return False
    if not all(isinstance(page, str) and page in arrivals for page in pages):
        return False
    times = [arrivals[page] for page in pages]
    if any(later < earlier - ARRIVED_TOGETHER for earlier, later in itertools.pairwise(times)):
        return False
    last = max(times, default=float("-inf"))
    missed = [t for page, t in arrivals.items() if page not in pages]
    return not any(t < last - ARRIVED_TOGETHER for t in missed)


@contextlib.contextmanager
def _recording_arrivals() -> Iterator[dict[str, float]]:
    global _arrivals
    arrivals: dict[str, float] = {}
    _arrivals = arrivals
    try:
        yield arrivals
    finally:
        _arrivals = None


@q4.judge
async def judge_first_pages(trial, first_pages):
    # Promises: (1) all downloads start at once; (2) the first n pages to arrive, in arrival order;
    # (3) it returns as soon as it has them, and (4) the downloads still running are cancelled.
    # "In arrival order" is judged by when each download finished, not by its nominal delay: on a
    # busy machine two downloads can finish in the same turn of the loop.
    urls = _urls(Q4_DELAYS)
    by_speed = [url for _, url in sorted(zip(Q4_DELAYS, urls))]
    loop = asyncio.get_running_loop()
    # Judged inside the step, so that what the answer left running is named before the step's own
    # cleanup cancels it.
    async with trial.step("`first_pages(urls, 2)`", timeline=True):
        with _recording_arrivals() as arrivals:
            started = loop.time()
            pages = await first_pages(urls, 2)
            took = loop.time() - started
        if isinstance(pages, (list, tuple)) and list(pages) == _pages(urls[:2]):
            trial.fail(
                "`first_pages(urls, 2)` returned the first 2 pages of `urls`, not the first 2 to *arrive*: "
                "page 4 (0.05 s) and page 2 (0.1 s) arrive first. Take the pages in the order they finish, "
                "with `asyncio.as_completed`."
            )
        if not _in_arrival_order(pages, 2, arrivals):
            trial.expect_equal(
                list(pages) if isinstance(pages, tuple) else pages,
                _pages(by_speed[:2]),
                "`first_pages(urls, 2)` returned",
            )
        await asyncio.sleep(0)  # a task cancelled just before the return ends on the next turn of the loop
        trial.expect(
            not _in_flight,
            f"`first_pages(urls, 2)` returned the right pages, but left {_in_flight} download(s) running: "
            f"cancel the tasks you no longer need (`task.cancel()`) before returning.",
        )
    slowest_needed = sorted(Q4_DELAYS)[1]
    trial.expect(
        took < 2.5 * slowest_needed,
        f"`first_pages(urls, 2)` took {took:.2f} s, but the two fastest pages arrive after about "
        f"{slowest_needed:.2f} s: start every download at once, and return as soon as you have `n` pages "
        f"instead of waiting for the rest.",
    )
    await trial.expect_concurrency(
        waits="download",
        at_least=len(urls),
        what="downloads",
        reference_args=(urls, 2),
        advice="Start every download before awaiting any, in tasks.",
    )

    with _recording_arrivals() as arrivals:
        pages = await trial.call(first_pages, urls, len(urls), doing="`first_pages(urls, 5)`")
    if not _in_arrival_order(pages, len(urls), arrivals):
        trial.expect_equal(
            list(pages) if isinstance(pages, tuple) else pages, _pages(by_speed), "`first_pages(urls, 5)` returned"
        )
