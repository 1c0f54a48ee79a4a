"""Answers to notebook 01's exercises: all_items (q1), Countdown (q2), first_n (q3),
cursor_items (q4)."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp

from corpus import right, wrong

# --- q1: all_items(session, url, per_page=50) ----------------------------------------------------


@right("q1")
async def all_items_page_counter(session, url, per_page=50):
    page, pages = 1, 1
    while page <= pages:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = await resp.json()
        pages = data["pages"]
        for item in data["results"]:
            yield item
        page += 1


@right("q1")
async def all_items_while_true(session: aiohttp.ClientSession, url: str, per_page: int = 50):
    page = 1
    while True:
        async with session.get(url, params={"page": page, "per_page": per_page}) as response:
            response.raise_for_status()
            data = await response.json()
        for item in data["results"]:
            yield item
        if page >= data["pages"]:
            break
        page += 1


async def _fetch_page(session, url, page, per_page):
    print(f"fetching page {page}")
    async with session.get(f"{url}?page={page}&per_page={per_page}") as resp:
        return await resp.json()


@right("q1")
async def all_items_helper_and_range(session, url, per_page=50):
    first = await _fetch_page(session, url, 1, per_page)
    for item in first["results"]:
        yield item
    for page in range(2, first["pages"] + 1):
        data = await _fetch_page(session, url, page, per_page)
        for item in data["results"]:
            yield item


@right("q1")
async def all_items_total_from_count(session, url, per_page=50):
    page = 1
    last_page = None
    while last_page is None or page <= last_page:
        resp = await session.get(url, params={"page": str(page), "per_page": str(per_page)})
        data = await resp.json()
        resp.release()
        last_page = -(-data["total"] // data["per_page"])
        for item in data["results"]:
            yield item
        page += 1


@wrong("q1", "asked for page 4", "The last page was full")
async def all_items_stop_at_short_page(session, url, per_page=50):
    page = 1
    while True:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = await resp.json()
        for item in data["results"]:
            yield item
        if len(data["results"]) < per_page:
            break
        page += 1


@wrong("q1", "made 6 requests for 5 pages", "page 6", 'data["pages"]')
async def all_items_stop_at_empty_page(session, url, per_page=50):
    page = 1
    while True:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = await resp.json()
        if not data["results"]:
            return
        for item in data["results"]:
            yield item
        page += 1


@wrong("q1", "0 of them with the `session` it was given")
async def all_items_own_session(session, url, per_page=50):
    async with aiohttp.ClientSession() as own:
        page, pages = 1, 1
        while page <= pages:
            async with own.get(url, params={"page": page, "per_page": per_page}) as resp:
                data = await resp.json()
            pages = data["pages"]
            for item in data["results"]:
                yield item
            page += 1


@wrong("q1", "page 3 was requested before page 2's reply", "fetched together", absent=("ClientSession",))
async def all_items_gather_the_rest(session, url, per_page=50):
    async def get(page):
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            return await resp.json()

    first = await get(1)
    for item in first["results"]:
        yield item
    for data in await asyncio.gather(*(get(p) for p in range(2, first["pages"] + 1))):
        for item in data["results"]:
            yield item


@wrong("q1", "lists (whole pages)")
async def all_items_yield_pages(session, url, per_page=50):
    page, pages = 1, 1
    while page <= pages:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = await resp.json()
        pages = data["pages"]
        yield data["results"]
        page += 1


@wrong("q1", "pages of 10 items", "pass `per_page` to the API")
async def all_items_ignore_per_page(session, url, per_page=50):
    page, pages = 1, 1
    while page <= pages:
        async with session.get(url, params={"page": page}) as resp:
            data = await resp.json()
        pages = data["pages"]
        for item in data["results"]:
            yield item
        page += 1


@wrong("q1", "fetched 5 pages", "as soon as it has arrived")
async def all_items_everything_first(session, url, per_page=50):
    items, page, pages = [], 1, 1
    while page <= pages:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = await resp.json()
        pages = data["pages"]
        items.extend(data["results"])
        page += 1
    for item in items:
        yield item


@wrong("q1", "task(s) running")
async def all_items_prefetch_next(session, url, per_page=50):
    async def get(page):
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            return await resp.json()

    data = await get(1)
    page = 1
    while True:
        upcoming = asyncio.create_task(get(page + 1)) if page < data["pages"] else None
        for item in data["results"]:
            yield item
        if upcoming is None:
            return
        data = await upcoming
        page += 1


# --- q2: Countdown(start, delay) -------------------------------------------------------------------


@right("q2")
class CountdownReference:
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


@right("q2")
class CountdownOverRange:
    def __init__(self, start: int, delay: float) -> None:
        self._numbers = iter(range(start, 0, -1))
        self._delay = delay

    def __aiter__(self) -> "CountdownOverRange":
        return self

    async def __anext__(self) -> int:
        number = next(self._numbers, None)
        if number is None:
            raise StopAsyncIteration
        await asyncio.sleep(self._delay)
        return number


@right("q2")
@dataclass
class CountdownDataclass:
    start: int
    delay: float
    given: int = field(default=0)

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.given >= self.start:
            raise StopAsyncIteration
        await asyncio.sleep(self.delay)
        self.given += 1
        print("tick", self.start - self.given + 1)
        return self.start - self.given + 1


@right("q2")
class CountdownSleepAfterCheck:
    def __init__(self, start, delay):
        self.n, self.delay = start, delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        n = self.n
        if n == 0:
            raise StopAsyncIteration()
        self.n = n - 1
        await asyncio.sleep(self.delay)
        return n


@wrong("q2", "instead of 0.3 s", "await asyncio.sleep(self.delay)")
class CountdownHardCodedShortSleep:
    def __init__(self, start, delay):
        self.current, self.delay = start, delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        await asyncio.sleep(0.1)
        self.current -= 1
        return self.current + 1


@wrong("q2", "instead of 0.05 s")
class CountdownHardCodedLongSleep(CountdownHardCodedShortSleep):
    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        await asyncio.sleep(0.25)
        self.current -= 1
        return self.current + 1


@wrong("q2", "[2, 1, 0]", "expected")
class CountdownOffByOne(CountdownHardCodedShortSleep):
    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        await asyncio.sleep(self.delay)
        self.current -= 1
        return self.current


@wrong("q2", "event loop was blocked", "time.sleep")
class CountdownTimeSleep(CountdownHardCodedShortSleep):
    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        time.sleep(self.delay)
        self.current -= 1
        return self.current + 1


@wrong("q2", "StopAsyncIteration")
class CountdownStopIteration(CountdownHardCodedShortSleep):
    async def __anext__(self):
        if self.current <= 0:
            raise StopIteration
        await asyncio.sleep(self.delay)
        self.current -= 1
        return self.current + 1


@wrong("q2", "instead of 0.3 s")
class CountdownNoWait(CountdownHardCodedShortSleep):
    async def __anext__(self):
        if self.current <= 0:
            raise StopAsyncIteration
        self.current -= 1
        return self.current + 1


@wrong("q2", "is a function")
async def CountdownGenerator(start, delay):
    for n in range(start, 0, -1):
        await asyncio.sleep(delay)
        yield n


@wrong("q2", "must be a plain `def`")
class CountdownAsyncAiter(CountdownReference):
    async def __aiter__(self):
        return self


# --- q3: first_n(source, n) ------------------------------------------------------------------------


@right("q3")
async def first_n_aclosing(source, n):
    items = []
    if n <= 0:
        return items
    async with contextlib.aclosing(source):
        async for item in source:
            items.append(item)
            if len(items) == n:
                break
    return items


@right("q3")
async def first_n_try_finally(source, n: int) -> list:
    result: list = []
    try:
        if n > 0:
            async for item in source:
                result.append(item)
                if len(result) >= n:
                    break
    finally:
        await source.aclose()
    return result


@right("q3")
async def first_n_anext(source, n):
    items = []
    async with contextlib.aclosing(source) as stream:
        while len(items) < n:
            try:
                items.append(await anext(stream))
            except StopAsyncIteration:
                break
    return items


@right("q3")
async def first_n_enumerate_return(source, n):
    if n == 0:
        await source.aclose()
        return []
    out = []
    async with contextlib.aclosing(source) as items:
        async for item in items:
            out.append(item)
            if len(out) == n:
                return out
    return out


@wrong("q3", "contextlib.aclosing(source)")
async def first_n_break_without_closing(source, n):
    items = []
    if n <= 0:
        return items
    async for item in source:
        items.append(item)
        if len(items) == n:
            break
    return items


@wrong("q3", "read 4 items", "right after appending")
async def first_n_one_too_many(source, n):
    items = []
    async with contextlib.aclosing(source):
        async for item in source:
            if len(items) == n:
                break
            items.append(item)
    return items


@wrong("q3", "read all 10 items")
async def first_n_read_everything(source, n):
    items = [item async for item in source]
    return items[:n]


@wrong("q3", "`first_n(source, 0)`")
async def first_n_zero_reads_one(source, n):
    items = []
    async with contextlib.aclosing(source):
        async for item in source:
            items.append(item)
            if len(items) >= n:
                break
    return items


@wrong("q3", "Is a `return` missing?")
async def first_n_no_return(source, n):
    items = []
    async with contextlib.aclosing(source):
        async for item in source:
            items.append(item)
            if len(items) == n:
                break


@wrong("q3", "never awaited", "aclose")
async def first_n_aclose_not_awaited(source, n):
    items = []
    if n > 0:
        async for item in source:
            items.append(item)
            if len(items) == n:
                break
    source.aclose()
    return items


class _CountdownIterator:
    def __init__(self, start, delay):
        self.left, self.delay = start, delay

    async def __anext__(self):
        if self.left == 0:
            raise StopAsyncIteration
        await asyncio.sleep(self.delay)
        self.left -= 1
        return self.left + 1


@right("q2")
class CountdownSeparateIterator:
    """An iterable whose `__aiter__` returns a separate, hand-written iterator."""

    def __init__(self, start, delay):
        self.start, self.delay = start, delay

    def __aiter__(self):
        return _CountdownIterator(self.start, self.delay)


@wrong("q2", "has no `__anext__` method")
class CountdownAroundAGenerator:
    def __init__(self, start, delay):
        self.start, self.delay = start, delay

    def __aiter__(self):
        return self._numbers()

    async def _numbers(self):
        for number in range(self.start, 0, -1):
            await asyncio.sleep(self.delay)
            yield number


# --- q4 (transfer): cursor_items(fetch_page) -------------------------------------------------------------


@right("q4")
async def cursor_items_with_while(fetch_page):
    page = await fetch_page(None)
    while True:
        for item in page["items"]:
            yield item
        if page["next"] is None:
            break
        page = await fetch_page(page["next"])


@right("q4")
class CursorItems:
    """A class-based answer: an async iterator that keeps the page it is reading."""

    def __init__(self, fetch_page):
        self.fetch_page = fetch_page
        self.buffer: list = []
        self.cursor = None
        self.started = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        while not self.buffer:
            if self.started and self.cursor is None:
                raise StopAsyncIteration
            page = await self.fetch_page(self.cursor)
            self.started = True
            self.buffer, self.cursor = list(page["items"]), page["next"]
        return self.buffer.pop(0)


async def _read_page(fetch_page, cursor):
    page = await fetch_page(cursor)
    return page["items"], page["next"]


@right("q4")
async def cursor_items_with_a_helper(fetch_page):
    items, cursor = await _read_page(fetch_page, None)
    for item in items:
        yield item
    while cursor is not None:
        items, cursor = await _read_page(fetch_page, cursor)
        for item in items:
            yield item


_START = object()


@right("q4")
async def cursor_items_start_marker(fetch_page):
    cursor = _START
    while cursor is not None:
        page = await fetch_page(None if cursor is _START else cursor)
        for item in page["items"]:
            yield item
        cursor = page["next"]


@right("q4")
async def cursor_items_typed_with_a_flag(fetch_page) -> AsyncIterator[object]:
    cursor: str | None = None
    first = True
    while first or cursor is not None:
        first = False
        page = await fetch_page(cursor)
        print(f"got {len(page['items'])} items, next: {page['next']}")
        for item in page["items"]:
            yield item
        cursor = page["next"]


@wrong("q4", "stopped at the first empty page")
async def cursor_items_stopping_at_an_empty_page(fetch_page):
    cursor = None
    while True:
        page = await fetch_page(cursor)
        if not page["items"]:
            return
        for item in page["items"]:
            yield item
        cursor = page["next"]
        if cursor is None:
            return


@wrong("q4", "called `fetch_page(None)` again, which starts over")
async def cursor_items_until_an_empty_page(fetch_page):
    cursor, pages = None, 0
    while True:
        page = await fetch_page(cursor)
        pages += 1
        if not page["items"] and pages > 1 and cursor is None:
            return  # "an empty page means the end"
        for item in page["items"]:
            yield item
        cursor = page["next"]
        if pages > 8:
            return


@wrong("q4", "had already called `fetch_page` 3 times")
async def cursor_items_fetching_ahead(fetch_page):
    pages, cursor = [], None
    while True:
        page = await fetch_page(cursor)
        pages.append(page)
        cursor = page["next"]
        if cursor is None:
            break
    for page in pages:
        for item in page["items"]:
            yield item


@wrong("q4", "yielded whole pages (lists)")
async def cursor_items_page_at_a_time(fetch_page):
    cursor = None
    while True:
        page = await fetch_page(cursor)
        yield page["items"]
        cursor = page["next"]
        if cursor is None:
            return


@wrong("q4", "returned a list", "`yield` each item")
async def cursor_items_returning_a_list(fetch_page):
    items, cursor = [], None
    while True:
        page = await fetch_page(cursor)
        items.extend(page["items"])
        cursor = page["next"]
        if cursor is None:
            return items


async def _cursor_pages(fetch_page):
    cursor = None
    while True:
        page = await fetch_page(cursor)
        yield page
        cursor = page["next"]
        if cursor is None:
            return


@wrong("q4", "left an async generator unfinished", "contextlib.aclosing")
async def cursor_items_over_a_page_helper(fetch_page):
    # When the reader stops early, the inner generator is dropped while paused, never closed.
    async for page in _cursor_pages(fetch_page):
        for item in page["items"]:
            yield item
