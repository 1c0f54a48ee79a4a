"""Exercises of notebook 02 (async comprehensions).

- ``q1``: ``fetch_in_order(urls)``: download every URL at the same time, return the pages in order.
- ``q2``: ``even_items(stream)``: the even numbers of an async stream, with one async comprehension.
- ``q3``: ``download_stream(urls, limit)``: download what an async stream hands out, at most
  ``limit`` at a time, pages in the stream's order.

In the notebook::

    from asynclab.exercises.nb02 import q1, q2, q3, download, number_stream, url_stream

``download(url)`` stands in for a real HTTP request: it waits as many seconds as the URL's
``delay=`` asks (0.1 by default) and returns ``"<page URL>"``. Every download is drawn on the
check's timeline as a span of kind ``"download"``, which is how the checks see whether downloads
overlapped, and by how much.
"""

import ast
import asyncio
import inspect
import textwrap
from urllib.parse import parse_qs, urlsplit

from ..timeline import span
from .core import Exercise

__all__ = ["q1", "q2", "q3", "download", "number_stream", "url_stream", "DEFAULT_DELAY"]

DEFAULT_DELAY = 0.1


def _delay_of(url):
    try:
        return float(parse_qs(urlsplit(url).query)["delay"][0])
    except (KeyError, ValueError, IndexError):
        return DEFAULT_DELAY


async def download(url):
    """Pretend to download ``url``: wait its ``delay=`` seconds (0.1 by default), return the page."""
    if not isinstance(url, str):
        raise TypeError(f"download(url) takes a URL string, not {type(url).__name__}: {url!r}")
    with span(urlsplit(url).path.strip("/").replace("/", " ") or url, kind="download"):
        await asyncio.sleep(_delay_of(url))
    return f"<page {url}>"


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


@q1.judge
async def judge_fetch_in_order(trial, fetch_in_order):
    urls = list(Q1_URLS)
    pages = await trial.call(fetch_in_order, urls, timeline=True, doing="`fetch_in_order(urls)`")
    if isinstance(pages, (list, tuple)) and sorted(map(str, pages)) == sorted(_pages(urls)) \
            and list(pages) != _pages(urls):
        trial.fail("You returned the right pages in the wrong order: in the order the downloads "
                   "finished, not the order of `urls`. `asyncio.gather` keeps the order of its "
                   "arguments; `asyncio.as_completed` yields whichever finishes first.")
    trial.expect_equal(list(pages) if isinstance(pages, tuple) else pages, _pages(urls),
                       "`fetch_in_order(urls)` returned")
    await trial.expect_concurrency(
        waits="download", at_least=len(urls), what="downloads", reference_args=(urls,),
        advice="Start them all before awaiting any: "
               "`await asyncio.gather(*(download(url) for url in urls))`.",
    )
    empty = await trial.call(fetch_in_order, [], doing="`fetch_in_order([])`")
    trial.expect_equal(list(empty) if isinstance(empty, tuple) else empty, [],
                       "`fetch_in_order([])` returned")


# --- q2: an async comprehension with a condition -----------------------------------------------------

async def even_items(stream):
    return [number async for number in stream if number % 2 == 0]


q2 = Exercise(
    "even_items",
    expects="async function",
    reference=even_items,
    hints=[
        "An async comprehension is a list comprehension whose `for` is an `async for`: "
        "`[x async for x in stream]`.",
        "Add the condition at the end, as in a regular comprehension: `... if x % 2 == 0`.",
        "Use square brackets: with parentheses you get an async generator expression, which has "
        "not run yet.",
    ],
    success="One line: `[number async for number in stream if number % 2 == 0]`.",
)


def _has_async_comprehension(fn):
    """True/False whether ``fn``'s source has an ``async for`` inside a comprehension; None if unknown."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    comprehensions = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
    return any(isinstance(node, comprehensions) and any(g.is_async for g in node.generators)
               for node in ast.walk(tree))


@q2.judge
async def judge_even_items(trial, even_items):
    cases = [(list(range(10)), [0, 2, 4, 6, 8]), ([7, 4, 9, 12, 3, 10], [4, 12, 10])]
    for numbers, expected in cases:
        doing = f"`even_items(number_stream({numbers}))`"
        got = await trial.call(even_items, number_stream(numbers, 0.01), doing=doing)
        if inspect.isasyncgen(got):
            await got.aclose()
            trial.fail(f"{doing} returned an async generator, not a list: with parentheses, "
                       f"`(x async for x in stream ...)` is an async generator expression, and "
                       f"nothing in it has run yet. Use square brackets to build the list.")
        trial.expect_equal(got, expected, f"{doing} returned")
    if _has_async_comprehension(even_items) is False:
        trial.fail("Correct result, but written without an async comprehension. Build the list in "
                   "one expression: `[number async for number in stream if ...]`.")


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
    success="Never more than `limit` downloads at once, and always `limit` busy while there was work.",
)

# Different lengths, so pages finish in another order than the stream handed the URLs out.
Q3_DELAYS = [0.15, 0.05, 0.1, 0.05, 0.15, 0.1, 0.05, 0.1]


@q3.judge
async def judge_download_stream(trial, download_stream):
    urls = _urls(Q3_DELAYS)
    for limit in (3, 2):
        doing = f"`download_stream(url_stream(urls), {limit})`"
        pages = await trial.call(download_stream, url_stream(urls), limit, timeline=True, doing=doing)
        if isinstance(pages, (list, tuple)) and sorted(map(str, pages)) == sorted(_pages(urls)) \
                and list(pages) != _pages(urls):
            trial.fail(f"{doing} returned the right pages in the wrong order (the order they "
                       f"finished?): return them in the order the stream handed out the URLs, "
                       f"e.g. keep the tasks in a list and read `task.result()` from each.")
        trial.expect_equal(list(pages) if isinstance(pages, tuple) else pages, _pages(urls),
                           f"{doing} returned")
        await trial.expect_concurrency(
            waits="download", at_least=limit, at_most=limit, what=f"downloads with `limit={limit}`",
            reference_args=(url_stream(urls), limit),
            advice=f"Guard each download with one shared `asyncio.Semaphore({limit})` "
                   f"(`async with semaphore:`), and start a task per URL so that {limit} "
                   f"can run at once.",
        )
