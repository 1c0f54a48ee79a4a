"""Notebook 05's "fix this code" exercises: the code the notebook hands out fails, each fix passes in
any reasonable style, and each typical half-fix gets a message about what its run did."""

import asyncio
import contextlib
import re
from contextlib import AsyncExitStack

import nbformat
import pytest
from asynclab.exercises.nb05 import q1, q2
from exercise_checks import assert_fails, assert_passes, check
from nbharness import NOTEBOOKS_DIR

pytestmark = pytest.mark.filterwarnings("error")


def given_code(name):
    """The buggy definition of ``name`` as the notebook hands it out, defined in a fresh namespace."""
    nb = nbformat.read(NOTEBOOKS_DIR / "05_cancellation_and_cleanup.ipynb", as_version=4)
    defines = re.compile(rf"(async def|class) {name}\b")
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and defines.match(c.source)]
    namespace = {"asyncio": asyncio}
    exec(compile(source, f"<05 exercise cell: {name}>", "exec"), namespace)
    return namespace[name]


# --- q1: fetch_with_retries -----------------------------------------------------------------------------


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


async def retries_reraising_cancel(fetch, url, attempts=3):
    for attempt in range(attempts):
        try:
            return await fetch(url)
        except asyncio.CancelledError:
            raise
        except ConnectionError:
            if attempt == attempts - 1:
                raise


async def retries_except_exception(fetch, url, attempts=3):
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except Exception:  # also retries a ValueError
            if attempt == attempts:
                raise


async def retries_bare_except(fetch, url, attempts=3):
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except:  # noqa: E722 -- the mistake under test
            if attempt == attempts:
                raise


async def retries_swallowing_cancel_and_stopping(fetch, url, attempts=3):
    for attempt in range(1, attempts + 1):
        try:
            return await fetch(url)
        except asyncio.CancelledError:
            return None  # gives up quietly: the caller never learns it was cancelled
        except ConnectionError:
            if attempt == attempts:
                raise


async def retries_one_too_few(fetch, url, attempts=3):
    for attempt in range(1, attempts):
        try:
            return await fetch(url)
        except ConnectionError:
            if attempt == attempts - 1:
                raise


@pytest.mark.parametrize(
    "answer", [q1.reference, retries_with_while, retries_keeping_last_error, retries_reraising_cancel]
)
def test_q1_fixes_pass(answer):
    assert_passes(check(q1, answer))


def test_q1_the_code_the_notebook_hands_out_fails_on_the_cancellation():
    result = check(q1, given_code("fetch_with_retries"))
    assert_fails(result, "cancelled while `fetch` was running", "1 more time(s) after the cancellation")
    yours, reference = result.timelines
    assert yours.duration > 1.2 * reference.duration  # the extra fetch after the cancel, on the diagram


def test_q1_a_bare_except_is_the_same_mistake():
    assert_fails(check(q1, retries_bare_except), "after the cancellation", "catch `ConnectionError` only")


def test_q1_catching_exception_retries_what_no_retry_can_fix():
    assert_fails(
        check(q1, retries_except_exception),
        "raised `ValueError`, which no retry can fix",
        "returned 'page of /page' after 2 call(s)",
    )


def test_q1_swallowing_the_cancel_without_retrying_is_named_as_such():
    assert_fails(
        check(q1, retries_swallowing_cancel_and_stopping),
        "made no further call",
        "returned None instead of ending cancelled",
    )


def test_q1_one_attempt_too_few():
    assert_fails(check(q1, retries_one_too_few), "after 2 call(s)", "the third")


# --- q2: TwoConnections -------------------------------------------------------------------------------


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


class TwoSwallowing(TwoWithTry):
    async def __aexit__(self, *exc_info):
        await super().__aexit__(*exc_info)
        return True


@pytest.mark.parametrize("answer", [q2.reference, TwoWithTry, TwoWithStackKept, two_connections_generator])
def test_q2_fixes_pass(answer):
    assert_passes(check(q2, answer))


def test_q2_the_code_the_notebook_hands_out_leaks_the_first_connection():
    result = check(q2, given_code("TwoConnections"))
    assert_fails(result, "Opening the second connection failed, and db-1 was left open")
    yours, reference = result.timelines
    assert [s.label for s in yours.spans if s.lane == "db-1"] == ["db-1: never closed"]
    assert [s.label for s in reference.spans if s.lane == "db-1"] == ["db-1 open"]


def test_q2_except_exception_still_leaks_on_cancellation():
    assert_fails(check(q2, TwoExceptException), "Opening the second connection was cancelled, and db-1 was left open")


def test_q2_returning_self_is_named():
    assert_fails(check(q2, TwoClosingOnlyInExit), "should return the two connections")


def test_q2_a_manager_that_swallows_the_error():
    assert_fails(check(q2, TwoSwallowing), "The block raised KeyError, but the caller saw None")
