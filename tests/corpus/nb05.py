"""Answers to notebook 05's "fix this code" exercises: fetch_with_retries (q1), TwoConnections (q2).

The first wrong answer of each is the code the notebook hands out, as it stands in the exercise cell.
"""

import asyncio
import contextlib
from contextlib import AsyncExitStack

from corpus import right, wrong

# --- q1: fetch_with_retries(fetch, url, attempts=3) ------------------------------------------------------


@wrong("q1", "cancelled while `fetch` was running", "1 more time(s) after the cancellation")
async def fetch_with_retries_as_handed_out(fetch, url, attempts=3):
    """Return `await fetch(url)`; after a ConnectionError, try again, at most `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except BaseException:  # a failed attempt: try again
            if attempt == attempts:
                raise
            await asyncio.sleep(0.01 * attempt)  # back off a little before the next try


@right("q1")
async def retries_with_while(fetch, url, attempts=3):
    tries = 0
    while True:
        tries += 1
        try:
            return await fetch(url)
        except ConnectionError:
            if tries >= attempts:
                raise
        await asyncio.sleep(0.01)


@right("q1")
async def retries_keeping_last_error(fetch, url, attempts: int = 3) -> str:
    last: ConnectionError | None = None
    for _ in range(attempts):
        try:
            return await fetch(url)
        except ConnectionError as exc:
            last = exc
            print("retrying after", exc)
    assert last is not None
    raise last


@right("q1")
async def retries_reraising_cancel(fetch, url, attempts=3):
    for attempt in range(attempts):
        try:
            return await fetch(url)
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            if attempt == attempts - 1:
                raise


async def _try_once(fetch, url):
    """One attempt: the page, or None after a ConnectionError."""
    try:
        return True, await fetch(url)
    except ConnectionError:
        return False, None


@right("q1")
async def retries_with_a_helper(fetch, url, attempts=3):
    for attempt in range(1, attempts):
        ok, page = await _try_once(fetch, url)
        if ok:
            return page
        await asyncio.sleep(0.01 * attempt)
    return await fetch(url)  # the last attempt: its ConnectionError goes on to the caller


@wrong("q1", "after the cancellation", "catch `ConnectionError` only")
async def retries_bare_except(fetch, url, attempts=3):
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except:  # noqa: E722 -- the mistake under test
            if attempt == attempts:
                raise


@wrong("q1", "raised `ValueError`, which no retry can fix", "returned 'page of /page' after 2 call(s)")
async def retries_except_exception(fetch, url, attempts=3):
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except Exception:  # also retries a ValueError
            if attempt == attempts:
                raise


@wrong("q1", "made no further call", "returned None instead of ending cancelled")
async def retries_swallowing_cancel_and_stopping(fetch, url, attempts=3):
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except asyncio.CancelledError:
            return None  # gives up quietly: the caller never learns it was cancelled
        except ConnectionError:
            if attempt == attempts:
                raise


@wrong("q1", "after 2 call(s)", "the third")
async def retries_one_too_few(fetch, url, attempts=3):
    for attempt in range(1, attempts):
        try:
            return await fetch(url)
        except ConnectionError:
            if attempt == attempts - 1:
                raise


@wrong("q1", "returned None after 2 call(s)", "then raise the `ConnectionError`")
async def retries_returning_none_after_the_last(fetch, url, attempts=3):
    for _ in range(attempts):
        try:
            return await fetch(url)
        except ConnectionError:
            pass  # after the last attempt, falls off the end: None instead of the error


# --- q2: TwoConnections(connect) --------------------------------------------------------------------------


@wrong("q2", "Opening the second connection failed, and db-1 was left open")
class TwoConnectionsAsHandedOut:
    """`async with TwoConnections(connect) as (first, second):` two connections, both closed at the end."""

    def __init__(self, connect):
        self.connect = connect

    async def __aenter__(self):
        self.first = await self.connect()
        self.second = await self.connect()
        return self.first, self.second

    async def __aexit__(self, *exc_info):
        await self.second.close()
        await self.first.close()


@right("q2")
class TwoWithTry:
    def __init__(self, connect):
        self.connect = connect

    async def __aenter__(self):
        self.first = await self.connect()
        try:
            self.second = await self.connect()
        except BaseException:
            await self.first.close()
            raise
        return self.first, self.second

    async def __aexit__(self, *exc_info):
        await self.second.close()
        await self.first.close()


@right("q2")
class TwoWithStackKept:
    """Keeps the stack for the exit too."""

    def __init__(self, connect):
        self.connect = connect

    async def __aenter__(self):
        async with AsyncExitStack() as stack:
            first = await self.connect()
            stack.push_async_callback(first.close)
            second = await self.connect()
            stack.push_async_callback(second.close)
            self.stack = stack.pop_all()
        return first, second

    async def __aexit__(self, *exc_info):
        await self.stack.aclose()


@right("q2")
@contextlib.asynccontextmanager
async def two_connections_generator(connect):
    first = await connect()
    try:
        second = await connect()
        try:
            yield first, second
        finally:
            await second.close()
    finally:
        await first.close()


@right("q2")
class TwoWithFinallyFlag:
    """Closes the first connection in a `finally` unless the second one opened."""

    def __init__(self, connect):
        self.connect = connect
        self.first = self.second = None

    async def __aenter__(self):
        self.first = await self.connect()
        opened = False
        try:
            self.second = await self.connect()
            opened = True
        finally:
            if not opened:
                print("second connection failed: closing the first")
                await self.first.close()
        return self.first, self.second

    async def __aexit__(self, exc_type, exc, tb):
        try:
            await self.second.close()
        finally:
            await self.first.close()
        return False


@wrong("q2", "Opening the second connection was cancelled, and db-1 was left open")
class TwoExceptException:
    def __init__(self, connect):
        self.connect = connect

    async def __aenter__(self):
        self.first = await self.connect()
        try:
            self.second = await self.connect()
        except Exception:  # misses the cancellation
            await self.first.close()
            raise
        return self.first, self.second

    async def __aexit__(self, *exc_info):
        await self.second.close()
        await self.first.close()


@wrong("q2", "should return the two connections")
class TwoClosingOnlyInExit:
    """Closes in __aexit__ only, and returns self instead of the pair."""

    def __init__(self, connect):
        self.connect = connect

    async def __aenter__(self):
        self.first = await self.connect()
        self.second = await self.connect()
        return self

    async def __aexit__(self, *exc_info):
        await self.second.close()
        await self.first.close()


@wrong("q2", "The block raised KeyError, but the caller saw None")
class TwoSwallowing(TwoWithTry):
    async def __aexit__(self, *exc_info):
        await super().__aexit__(*exc_info)
        return True


@wrong("q2", "Inside the block, the open connections were [], not both")
class TwoWithAStackClosedTooSoon:
    """Opens both inside `async with AsyncExitStack()` in `__aenter__`: both are closed before the block."""

    def __init__(self, connect):
        self.connect = connect

    async def __aenter__(self):
        async with AsyncExitStack() as stack:
            first = await self.connect()
            stack.push_async_callback(first.close)
            second = await self.connect()
            stack.push_async_callback(second.close)
        return first, second

    async def __aexit__(self, *exc_info):
        return False
