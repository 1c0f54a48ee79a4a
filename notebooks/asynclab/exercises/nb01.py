"""Exercises of notebook 01 (async for).

- ``q1``: ``all_items(session, url, per_page=50)``, an async generator paging through the local API.
- ``q2``: ``Countdown(start, delay)``, a class-based async iterator.
- ``q3``: ``first_n(source, n)``, stopping early and closing the generator (``contextlib.aclosing``).
- ``q4``: ``cursor_items(fetch_page)``, a transfer: an API whose pages are linked by cursor tokens.

In the notebook::

    from asynclab.exercises.nb01 import q1, q2, q3

    async def all_items(session, url, per_page=50):
        ...  # the learner's answer

    await q1.check()
"""

import asyncio
import contextlib
import inspect
import itertools
import json
import time
from urllib.parse import parse_qs, urlsplit

import aiohttp

from ..lessons.nb01 import counting_connections
from ..paths import DATA_DIR
from .core import Exercise
from .probes import WatchedAsyncGenerator

__all__ = ["q1", "q2", "q3", "q4"]


# --- q1: an async generator over a paginated API -------------------------------------------------


async def all_items(session, url, per_page=50):
    page, pages = 1, 1
    while page <= pages:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            resp.raise_for_status()
            data = await resp.json()
        pages = data["pages"]  # the first response says how many pages there are
        for item in data["results"]:
            yield item
        page += 1


q1 = Exercise(
    "all_items",
    expects="async generator",
    reference=all_items,
    hints=[
        'Keep a page counter, and for each page do `async with session.get(url, params={"page": page, '
        '"per_page": per_page}) as resp:` then `data = await resp.json()`.',
        'Yield items, not pages: `for item in data["results"]: yield item`, inside the loop over pages.',
        'Stop with `while page <= pages:`, where `pages` starts at 1 and becomes `data["pages"]` after '
        "the first response.",
    ],
    success="`all_items` streams the items page by page, over one connection, and stops at the last page.",
)


def _expected_items():
    return json.loads((DATA_DIR / "items.json").read_text(encoding="utf-8"))


class _RequestCount:
    """Counts the requests made through one ``aiohttp.ClientSession`` (via its trace config)."""

    def __init__(self):
        self.requests = 0

    def trace_config(self):
        async def on_request_start(session, context, params):
            self.requests += 1

        config = aiohttp.TraceConfig()
        config.on_request_start.append(on_request_start)
        return config


def _item_requests(svc, since):
    return [r for r in svc.requests if r.path == "/items" and r.start >= since]


def _asked(record, name, default):
    """A number a recorded request asked for (``page``, ``per_page``), its default when it did not say."""
    query = parse_qs(urlsplit(record.label.split(" ", 1)[-1]).query)
    try:
        return int(query.get(name, [str(default)])[0])
    except ValueError:
        return None


def _page_of(record):
    return _asked(record, "page", 1)


def _fetched_ahead(records):
    """The first (earlier, later) pair of page requests where the later one reached the server before
    the earlier one's reply was sent, or None: pages fetched together, or ahead of the items."""
    ordered = sorted(records, key=lambda r: r.start)
    for earlier, later in itertools.pairwise(ordered):
        if later.start < earlier.end:
            return earlier, later
    return None


# What the statement promises, each tried below: every item, one at a time, in order; every
# request through the `session` it was given; `page=1, 2, ...` with `per_page`, each page once;
# never a page after the last, also when the last page is full (237 items, 79 a page); a page's
# items yielded as soon as it arrived, before the next page is requested.
@q1.judge
async def judge_all_items(trial, all_items):
    from ..services import start_services

    svc = await start_services()  # the running services (started if the setup cell was skipped)
    url = f"{svc.base_url}/items"
    expected = _expected_items()
    given = _RequestCount()
    async with aiohttp.ClientSession(trace_configs=[given.trace_config()]) as session:
        for per_page in Q1_PAGE_SIZES:
            await _judge_pages(trial, all_items, svc, session, given, url, expected, per_page)

        # Lazy: the first items must come out before the later pages are fetched.
        since = time.perf_counter()
        first = await trial.collect(all_items, session, url, 50, limit=3, doing="`all_items(session, url, 50)`")
        requests = len(_item_requests(svc, since))
        trial.expect_equal(list(first), expected[:3], "The first 3 items of `all_items(session, url, 50)` were")
        trial.expect(
            requests == 1,
            f"To hand out the first 3 items, `all_items` fetched {requests} pages. Yield the items "
            f"of each page as soon as it has arrived, before fetching the next one.",
        )


# 237 items: 5 pages of 50 (the last one partial), and 3 full pages of 79 (the last one full, so a
# loop that stops at a short or empty page asks for a page after the last).
Q1_PAGE_SIZES = (50, 79)


async def _judge_pages(trial, all_items, svc, session, given, url, expected, per_page):
    doing = f"`all_items(session, url, {per_page})`"
    pages = -(-len(expected) // per_page)
    since = time.perf_counter()
    given.requests = 0
    with counting_connections() as connections:
        items = await trial.collect(all_items, session, url, per_page, max_items=2 * len(expected), doing=doing)
    records = _item_requests(svc, since)
    requests = len(records)
    asked = sorted({_page_of(r) for r in records}, key=lambda p: (p is None, p))
    _judge_items(trial, items, expected, per_page)
    trial.expect(
        given.requests == requests,
        f"{doing} made {requests} requests, {given.requests} "
        f"of them with the `session` it was given, and opened {connections.opened} "
        f"connection{'' if connections.opened == 1 else 's'}: "
        f"make every request with that session (`session.get(...)`) instead of creating a new "
        f"`ClientSession`.",
    )
    sizes = sorted({_asked(r, "per_page", 10) for r in records} - {per_page}, key=str)
    trial.expect(
        not sizes,
        f"{doing} made {requests} requests, but there are {pages} pages of {per_page}: it asked for "
        f"pages of {sizes[0] if sizes else per_page} items: pass `per_page` to the API "
        f'(`params={{"page": page, "per_page": per_page}}`).',
    )
    beyond = [p for p in asked if p is not None and p > pages]
    if beyond:
        full = (
            " The last page was full: a loop that stops only at a short or empty page asks for one page too many."
            if len(expected) % per_page == 0
            else ""
        )
        trial.fail(
            f"{doing} made {requests} requests for {pages} pages: it asked for page {beyond[0]}, "
            f"after the last one.{full} The first response says how many pages there are "
            f'(`data["pages"]`): stop after that page.'
        )
    trial.expect(
        requests == pages,
        f"{doing} made {requests} requests, but there are {pages} pages of {per_page}: pass "
        f'`per_page` to the API (`params={{"page": page, "per_page": per_page}}`) and ask for '
        f"each page once.",
    )
    ahead = _fetched_ahead(records)
    if ahead is not None:
        earlier, later = (_page_of(r) for r in ahead)
        trial.fail(
            f"{doing} gave the right items, but page {later} was requested before page "
            f"{earlier}'s reply had arrived: pages were fetched together, not one after another. "
            f"Request a page only after the previous page's items have been yielded (one "
            f"`session.get` at a time, inside the loop)."
        )
    trial.expect(
        connections.opened <= 1,
        f"{doing} made its {requests} requests one after another with the `session` it was given, "
        f"but opened {connections.opened} connections: read each response to the end (`await "
        f"resp.json()` inside `async with session.get(...)`), so the connection can be used again.",
    )


def _judge_items(trial, items, expected, per_page):
    doing = f"`all_items(session, url, {per_page})`"
    if items and all(isinstance(item, list) for item in items):
        trial.fail(
            f"{doing} yielded {len(items)} lists (whole pages). Yield the items one at a time: "
            f'`for item in data["results"]: yield item`.'
        )
    if items and all(isinstance(item, dict) and "results" in item for item in items):
        trial.fail(f'{doing} yielded whole responses. Yield the items in `data["results"]`, one at a time.')
    if len(items) != len(expected):
        trial.fail(
            f"{doing} yielded {len(items)} items; the API has {len(expected)}. Fetch every page, "
            f"from page 1 to the last one, and yield every item of each."
        )
    trial.expect_equal(list(items), expected, f"The items from {doing}")


# --- q2: a class-based async iterator --------------------------------------------------------------


class Countdown:
    def __init__(self, start, delay):
        self.current = start
        self.delay = delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        await asyncio.sleep(self.delay)
        self.current -= 1
        return self.current + 1


q2 = Exercise(
    "Countdown",
    expects="async iterable",
    reference=Countdown,
    hints=[
        "`__init__` stores where to start and the delay; `__aiter__` is a plain `def` that returns `self`.",
        "`async def __anext__(self)`: if nothing is left, `raise StopAsyncIteration`; otherwise "
        "`await asyncio.sleep(self.delay)`, count down, and return the number.",
        "Use `StopAsyncIteration`, not `StopIteration`, and `await asyncio.sleep`, not `time.sleep`.",
    ],
    success="`Countdown` follows the async iterator protocol by hand.",
)


# What the statement promises, each tried below: a class (not an async generator) whose
# `__aiter__` is a plain `def` and whose iterator has a hand-written `async def __anext__` (on the
# class itself, or on a separate iterator class); `start, ..., 1` then the end
# (`StopAsyncIteration`), nothing for `start = 0`; `delay` seconds before each number, for two
# delays far apart, without blocking the loop.
@q2.judge
async def judge_countdown(trial, Countdown):
    if not inspect.isclass(Countdown):
        trial.fail(
            "`Countdown` is a function. This exercise asks for a class with `def __aiter__(self)` "
            "and `async def __anext__(self)` (the async generator version is shorter, but write the "
            "protocol by hand once)."
        )
    if not hasattr(Countdown, "__anext__") and not await _iterator_by_hand(trial, Countdown):
        trial.fail(
            "`Countdown` has no `__anext__` method: write `async def __anext__(self)` returning the "
            "next number, and let `__aiter__` return `self`."
        )
    # Two delays far apart, each held to a ratio: a hard-coded sleep fits at most one of them.
    # The long one first: a blocking `time.sleep` stands out there.
    for start, delay in Q2_CASES:
        numbers = await trial.collect(Countdown, start, delay, max_items=20)
        doing = f"`async for` over `Countdown({start}, {delay})`"
        trial.expect_equal(list(numbers), list(range(start, 0, -1)), f"{doing} gave")
        _judge_countdown_timing(trial, numbers.arrival_times, start, delay)
    numbers = await trial.collect(Countdown, 0, 0.05, max_items=20)
    trial.expect_equal(list(numbers), [], "`async for` over `Countdown(0, 0.05)` gave")


async def _iterator_by_hand(trial, Countdown):
    """True when ``Countdown(1, 0).__aiter__()`` is an iterator written by hand (a class with
    ``__anext__``), not an async generator."""
    async with trial.step("`Countdown(1, 0).__aiter__()`"):
        iterator = Countdown(1, 0).__aiter__()
        if inspect.isasyncgen(iterator):
            await iterator.aclose()
            return False
        if inspect.isawaitable(iterator):  # an `async def __aiter__`: collect() explains it
            return True
    return inspect.iscoroutinefunction(getattr(type(iterator), "__anext__", None))


# (start, delay): 0.3 s and 0.05 s apart. A number may come late on a busy machine, never early:
# each gap must be at least 0.7 of the delay, and all of them together at most twice the delays
# plus 0.35 s. A hard-coded sleep long enough for the first (0.21 s) takes 1.05 s for the second,
# over its 0.85 s.
Q2_CASES = ((3, 0.3), (5, 0.05))


def _judge_countdown_timing(trial, times, start, delay):
    gaps = [later - earlier for earlier, later in zip([0.0, *times], times)]
    shown = ", ".join(f"{t:.2f}" for t in times)
    if min(gaps) < 0.7 * delay or times[-1] > 2 * start * delay + 0.35:
        typical = sorted(gaps)[len(gaps) // 2]
        trial.fail(
            f"With `Countdown({start}, {delay})` the numbers came at {shown} s, about {typical:.2f} s "
            f"apart instead of {delay} s: wait `self.delay` seconds before each number "
            f"(`await asyncio.sleep(self.delay)` in `__anext__`), whatever `delay` is."
        )


# --- q3: stop early, and close the generator -------------------------------------------------------


async def first_n(source, n):
    items = []
    async with contextlib.aclosing(source):  # closes source when the block ends, in this task, even for n = 0
        if n > 0:
            async for item in source:
                items.append(item)
                if len(items) == n:
                    break  # checked right after appending: no item is read that is not needed
    return items


q3 = Exercise(
    "first_n",
    expects="async function",
    reference=first_n,
    hints=[
        "Collect items in a list inside `async for`, and `break` as soon as you have `n` of them "
        "(check right after appending, so you never read one item too many).",
        "Wrap the loop in `async with contextlib.aclosing(source):` so the generator is closed when the "
        "block ends, even after a `break`.",
        "`n = 0` needs no item at all: skip the loop, but inside the `aclosing` block, so a source that has "
        "already started is still closed.",
    ],
    success="`first_n` stops as soon as it has enough, and the generator's cleanup has run when it returns.",
)


class _CountingSource(WatchedAsyncGenerator):
    """A watched async generator that also counts the items it handed out."""

    def __init__(self, items, delay=0.0):
        super().__init__(items, delay)
        self.handed_out = 0

    async def __anext__(self):
        item = await super().__anext__()
        self.handed_out += 1
        return item


# What the statement promises, each tried below: the first `n` items as a list; all of them when
# the source has fewer; the source closed (its cleanup run) by the time `first_n` returns; no item
# read beyond the `n`th; none at all for `n = 0`.
@q3.judge
async def judge_first_n(trial, first_n):
    source = _CountingSource(range(10), delay=0.02)
    items = await trial.call(first_n, source, 3, doing="`first_n(source, 3)`")
    trial.expect_equal(items, [0, 1, 2], "`first_n(source, 3)` on a source of 0, 1, ..., 9 returned")
    trial.expect(
        source.handed_out <= 3,
        f"`first_n(source, 3)` read {source.handed_out} items of `source` to return 3: `break` "
        f"out of the loop right after appending the item that makes `n`, not before reading "
        f"another one."
        if source.handed_out < 10
        else "`first_n(source, 3)` read all 10 items of `source` to return 3 of them: `break` out of "
        "the loop as soon as you have `n` items.",
    )
    trial.expect(
        source.closed,
        "`first_n(source, 3)` returned the right items, but `source` was left unfinished: its "
        "cleanup (`finally`) had not run when `first_n` returned, and would run later, in another "
        "task. Wrap the loop in `async with contextlib.aclosing(source):`.",
    )

    short = _CountingSource(["a", "b"], delay=0.02)
    items = await trial.call(first_n, short, 5, doing="`first_n(source, 5)`")
    trial.expect_equal(items, ["a", "b"], "`first_n(source, 5)` on a source of only 'a', 'b' returned")

    untouched = _CountingSource(range(10), delay=0.02)
    items = await trial.call(first_n, untouched, 0, doing="`first_n(source, 0)`")
    trial.expect_equal(items, [], "`first_n(source, 0)` returned")
    trial.expect(
        untouched.handed_out == 0,
        f"`first_n(source, 0)` read {untouched.handed_out} item(s) of `source`, and needed none: "
        f"return `[]` before the loop when `n` is 0.",
    )


# --- q4 (transfer): pages linked by a cursor token --------------------------------------------------


async def cursor_items(fetch_page):
    cursor = None
    while True:
        page = await fetch_page(cursor)
        for item in page["items"]:
            yield item
        cursor = page["next"]
        if cursor is None:  # the last page says so: ask for nothing after it
            return


q4 = Exercise(
    "cursor_items",
    expects="async generator",
    reference=cursor_items,
    hints=[
        "Keep the cursor in a local variable, starting at `None`, and loop: `page = await fetch_page(cursor)`, "
        "yield each item of `page['items']`, then take `page['next']` as the new cursor.",
        "Stop when `page['next']` is `None`, not when a page is empty: a page may be empty in the middle of "
        "the chain, and the last page may be full.",
        "Yield the items of a page before fetching the next one, so a consumer that stops early never "
        "causes a fetch it did not need.",
    ],
    success="`cursor_items` follows the cursor from page to page, one item at a time, fetches a page only "
    "when its items are wanted, and stops at the page whose `next` is `None`.",
)


class CursorAPI:
    """``await fetch_page(cursor)`` for the check: pages linked by opaque tokens, every call recorded."""

    def __init__(self, pages):
        # pages: a list of item lists; page i's token is made up, so only the returned tokens work
        self.tokens = [None] + [f"tok-{i}-{len(items)}{chr(97 + i)}" for i, items in enumerate(pages[1:], 1)]
        self.pages = dict(zip(self.tokens, pages))
        self.asked: list = []

    async def __call__(self, cursor=None):
        self.asked.append(cursor)
        await asyncio.sleep(0.01)
        if cursor not in self.pages:
            raise KeyError(f"no page has the cursor {cursor!r}: pass the `next` of the previous page")
        index = self.tokens.index(cursor)
        following = self.tokens[index + 1] if index + 1 < len(self.tokens) else None
        return {"items": list(self.pages[cursor]), "next": following}


@q4.judge
async def judge_cursor_items(trial, cursor_items):
    # Promises: (1) every item, in order, one at a time; (2) the first call with None, then each
    # `next` token; (3) a page is fetched only when its items are wanted; (4) stop at the page whose
    # `next` is None, also when it is full, and go on past an empty page in the middle.
    pages = [["a", "b", "c"], [], ["d", "e"], ["f", "g", "h"]]
    api = CursorAPI(pages)
    items = await trial.collect(cursor_items, api, doing="`cursor_items(fetch_page)`")
    if items and all(isinstance(item, list) for item in items):
        trial.fail(
            "`cursor_items(fetch_page)` yielded whole pages (lists): yield each item of "
            "`page['items']` on its own, with a `for` loop around the `yield`."
        )
    if items == ["a", "b", "c"] and api.asked[1:2] == [api.tokens[1]]:
        trial.fail(
            "`cursor_items` stopped at the first empty page and missed the items after it ('d' to 'h'): "
            "an empty page can sit in the middle of the chain; stop only when `page['next']` is `None`."
        )
    if None in api.asked[1:]:
        trial.fail(
            f"After the last page, whose `next` is `None`, `cursor_items` called `fetch_page(None)` again, "
            f"which starts over at the first page ({len(api.asked)} calls for {len(pages)} pages): stop when "
            f"`page['next']` is `None`."
        )
    trial.expect_equal(
        items, [item for page in pages for item in page], "`cursor_items(fetch_page)` over 4 pages (one empty) yielded"
    )
    trial.expect(
        api.asked[0] is None,
        f"The first call was `fetch_page({api.asked[0]!r})`; the first page has no cursor: `fetch_page(None)`.",
    )
    extra = len(api.asked) - len(pages)
    trial.expect(
        extra <= 0,
        f"`cursor_items` called `fetch_page` {len(api.asked)} times for {len(pages)} pages: the last page's "
        f"`next` is `None`, so stop there without asking again.",
    )

    api = CursorAPI([["a", "b"], ["c", "d"], ["e", "f"]])
    await trial.collect(cursor_items, api, limit=2, doing="`cursor_items(fetch_page)`, stopped after 2 items")
    trial.expect(
        len(api.asked) == 1,
        f"The consumer took only the 2 items of the first page, but `cursor_items` had already called "
        f"`fetch_page` {len(api.asked)} times: fetch the next page only after yielding every item of this one.",
    )
