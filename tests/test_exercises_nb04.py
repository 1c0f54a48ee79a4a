"""Notebook 04's exercises: each passes with its reference answer (and a correct variant) and gives
the intended message for the typical wrong answers. Checks run with ``asyncio.run``; every
warning is an error here, so a session or database connection left open by a check fails the test."""

import asyncio
import contextlib

import aiohttp
import corpus.nb04 as answers
import pytest
from asynclab.exercises.nb04 import q1, q2, q3, q4
from exercise_checks import assert_fails, assert_passes, assert_requirement_map, check

pytestmark = pytest.mark.filterwarnings("error")


# --- q1: borrow(queue, timeout) --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def borrow_stub(queue, timeout):
    """Lend a resource from `queue`, waiting at most `timeout` seconds for one; always give it back."""
    # YOUR CODE HERE
    yield


@contextlib.asynccontextmanager
async def borrow_polling(queue, timeout):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while queue.empty():  # looks again every `timeout` seconds
        if loop.time() >= deadline:
            raise TimeoutError
        await asyncio.sleep(timeout)
    resource = queue.get_nowait()
    try:
        yield resource
    finally:
        queue.put_nowait(resource)


@contextlib.asynccontextmanager
async def borrow_not_taken(queue, timeout):
    yield queue._queue[0]


def test_q1_stub_is_not_answered():
    assert check(q1, borrow_stub).status == "not answered"


@pytest.mark.parametrize("answer", [q1.reference, answers.borrow_wait_for, answers.BorrowClass])
def test_q1_correct_answers_pass(answer):
    assert_passes(check(q1, answer))


def test_q1_without_a_timeout_waits_forever():
    assert_fails(check(q1, answers.borrow_no_timeout), "still waiting after 1.5 s", "asyncio.timeout(timeout)")


def test_q1_timeout_around_the_yield_cuts_the_work_short():
    assert_fails(
        check(q1, answers.borrow_timeout_around_yield), "raised TimeoutError in a block", "not around the `yield`"
    )


def test_q1_get_nowait_does_not_wait():
    assert_fails(check(q1, answers.borrow_get_nowait), "raised QueueEmpty", "`get_nowait()` does not wait")


def test_q1_polling_lends_late():
    assert_fails(check(q1, borrow_polling), "came back after 0.1 s", "instead of sleeping first")


def test_q1_without_finally_loses_the_resource_on_an_error():
    assert_fails(check(q1, answers.borrow_no_finally), "After the block raised ValueError", "in `finally:`")


def test_q1_except_exception_loses_the_resource_on_cancellation():
    assert_fails(check(q1, answers.borrow_except_exception), "was cancelled", "not in `except Exception:`")


def test_q1_resource_must_leave_the_queue_while_lent():
    assert_fails(check(q1, borrow_not_taken), "still in the queue")


# --- q2: session_pool(size) -----------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def session_pool_stub(size):
    """An asyncio.Queue of `size` open ClientSessions; every one of them closed at the end."""
    # YOUR CODE HERE
    yield


@contextlib.asynccontextmanager
async def session_pool_without_finally(size):
    sessions = [aiohttp.ClientSession() for _ in range(size)]
    queue = asyncio.Queue()
    for session in sessions:
        queue.put_nowait(session)
    yield queue
    for session in sessions:
        await session.close()


@contextlib.asynccontextmanager
async def session_pool_one_session(size):
    session = aiohttp.ClientSession()
    queue = asyncio.Queue()
    for _ in range(size):
        queue.put_nowait(session)
    try:
        yield queue
    finally:
        await session.close()


def test_q2_stub_is_not_answered():
    assert check(q2, session_pool_stub).status == "not answered"


@pytest.mark.parametrize("answer", [q2.reference, answers.session_pool_exit_stack])
def test_q2_correct_answers_pass(answer):
    assert_passes(check(q2, answer))


def test_q2_sessions_never_closed():
    assert_fails(
        check(q2, answers.session_pool_never_closed),
        "After the `async with session_pool(3)` block",
        "3 of the 3 sessions were still open",
    )


def test_q2_without_finally_leaks_on_an_error():
    assert_fails(check(q2, session_pool_without_finally), "When the block raised ValueError", "in `finally:`")


def test_q2_closing_only_the_queue_misses_a_lent_session():
    assert_fails(
        check(q2, answers.session_pool_close_what_is_queued),
        "lent out when the block ended",
        "Keep a list of every session",
    )


def test_q2_one_session_repeated():
    assert_fails(check(q2, session_pool_one_session), "the same session more than once")


def test_q2_a_list_instead_of_a_queue():
    assert_fails(check(q2, answers.session_pool_list), "`yield` an `asyncio.Queue`")


# --- q3: borrow_healthy(queue, connect, is_healthy) ------------------------------------------------------


@contextlib.asynccontextmanager
async def borrow_healthy_stub(queue, connect, is_healthy):
    """Lend a connection from `queue`, replacing a broken one with `await connect()`."""
    # YOUR CODE HERE
    yield


@contextlib.asynccontextmanager
async def borrow_healthy_no_await_on_connect(queue, connect, is_healthy):
    conn = await queue.get()
    try:
        if not await is_healthy(conn):
            await conn.close()
            conn = connect()
        yield conn
    finally:
        queue.put_nowait(conn)


def test_q3_stub_is_not_answered():
    assert check(q3, borrow_healthy_stub).status == "not answered"


def test_q3_reference_passes():
    assert_passes(check(q3, q3.reference))


def test_q3_unchecked_lends_the_broken_connection():
    assert_fails(check(q3, answers.borrow_healthy_no_check), "lent the broken connection", "await is_healthy(conn)")


def test_q3_replacing_without_closing():
    assert_fails(check(q3, answers.borrow_healthy_not_closing), "never closed", "await conn.close()")


def test_q3_giving_back_the_broken_connection():
    assert_fails(check(q3, answers.borrow_healthy_gives_back_broken), "The broken connection went back into the queue")


def test_q3_replacing_a_healthy_connection():
    assert_fails(check(q3, answers.borrow_healthy_always_new), "lent a new one")


def test_q3_forgotten_await_on_connect():
    assert_fails(check(q3, borrow_healthy_no_await_on_connect), "await connect()")


def test_q3_without_finally_loses_the_connection_on_an_error():
    assert_fails(check(q3, answers.borrow_healthy_no_finally), "After the block raised ValueError", "in `finally:`")


# --- answers that break one requirement each (see REQUIREMENTS at the end) -------------------------------


@contextlib.asynccontextmanager
async def borrow_swallowing_cancellation(queue, timeout):
    async with asyncio.timeout(timeout):
        resource = await queue.get()
    try:
        yield resource
    except asyncio.CancelledError:
        pass  # the task goes on as if it had not been cancelled
    finally:
        queue.put_nowait(resource)


def test_q1_swallowing_cancellation():
    assert_fails(
        check(q1, borrow_swallowing_cancellation),
        "When the task holding the resource was cancelled",
        "swallowed the `CancelledError`",
    )


def test_q3_giving_back_with_an_await():
    assert_fails(check(q3, answers.borrow_healthy_awaited_put), "`await queue.put(...)`", "put_nowait(conn)")


# Each requirement of a prompt or sentence of a success message -> the judge's words for a
# breach (in nb04.py or the shared trial.py) -> the test whose answer breaks it and asserts those words.
# --- issue #25: what the pool holds after every path, and cancellation ---------------------------------


def test_borrow_leaves_an_empty_queue_empty_after_a_timeout():
    assert_fails(check(q1, answers.borrow_none_placeholder), "the queue held [None]", "never a placeholder")
    assert_passes(check(q1, answers.borrow_sentinel))


def test_session_pool_closes_every_session_when_cancelled():
    assert_fails(
        check(q2, answers.session_pool_except_exception),
        "When the block's task was cancelled",
        "2 of the 2 sessions were still open",
    )


REQUIREMENTS = [
    (
        "q4",
        "a failing handle leaves no worker",
        "`process_all`'s tasks were still running",
        "test_q4_gather_leaves_the_other_workers_running_after_a_failure",
    ),
    ("q4", "no worker left running", "were still running (waiting for more", "test_q4_workers_left_waiting"),
    ("q4", "`workers` calls whenever items wait", "ran in batches of", "test_q4_batches_leave_slots_idle"),
    ("q4", "never more than `workers` at once", "ran at once with `workers=3`", "test_q4_everything_at_once"),
    ("q1", "lends a resource from the queue", "still in the queue", "test_q1_resource_must_leave_the_queue_while_lent"),
    (
        "q1",
        "waits at most `timeout` s, then TimeoutError",
        "asyncio.timeout(timeout)",
        "test_q1_without_a_timeout_waits_forever",
    ),
    ("q1", "... really waits for one", "raised QueueEmpty", "test_q1_get_nowait_does_not_wait"),
    ("q1", "... and lends one as soon as it comes back", "instead of sleeping first", "test_q1_polling_lends_late"),
    (
        "q1",
        "the timeout covers only the wait, not the block",
        "not around the `yield`",
        "test_q1_timeout_around_the_yield_cuts_the_work_short",
    ),
    (
        "q1",
        "gives the resource back when the block raises",
        "in `finally:`",
        "test_q1_without_finally_loses_the_resource_on_an_error",
    ),
    (
        "q1",
        "... or the task is cancelled",
        "not in `except Exception:`",
        "test_q1_except_exception_loses_the_resource_on_cancellation",
    ),
    ("q1", "the cancellation goes on", "swallowed the `CancelledError`", "test_q1_swallowing_cancellation"),
    ("q2", "`size` separate sessions", "the same session more than once", "test_q2_one_session_repeated"),
    ("q2", "in an `asyncio.Queue`", "`yield` an `asyncio.Queue`", "test_q2_a_list_instead_of_a_queue"),
    ("q2", "every session closed when the block ends", "were still open", "test_q2_sessions_never_closed"),
    (
        "q2",
        "... also when the block raises",
        "When the block raised ValueError",
        "test_q2_without_finally_leaks_on_an_error",
    ),
    (
        "q2",
        "... also a session taken out and not put back",
        "lent out when the block ended",
        "test_q2_closing_only_the_queue_misses_a_lent_session",
    ),
    ("q3", "a healthy connection is lent as it is", "lent a new one", "test_q3_replacing_a_healthy_connection"),
    (
        "q3",
        "a broken connection is not lent",
        "lent the broken connection",
        "test_q3_unchecked_lends_the_broken_connection",
    ),
    ("q3", "... it is closed", "never closed", "test_q3_replacing_without_closing"),
    ("q3", "... and replaced by `await connect()`", "await connect()", "test_q3_forgotten_await_on_connect"),
    (
        "q3",
        "whatever was lent goes back",
        "The broken connection went back into the queue",
        "test_q3_giving_back_the_broken_connection",
    ),
    (
        "q3",
        "... also after an error",
        "After the block raised ValueError",
        "test_q3_without_finally_loses_the_connection_on_an_error",
    ),
    ("q3", "... without an `await`", "`await queue.put(...)`", "test_q3_giving_back_with_an_await"),
    (
        "q1",
        "gives back only what it took (a timeout leaves the queue as it was)",
        "never a placeholder",
        "test_borrow_leaves_an_empty_queue_empty_after_a_timeout",
    ),
    (
        "q2",
        "every session closed however the block ends: cancelled",
        "When the block's task was cancelled",
        "test_session_pool_closes_every_session_when_cancelled",
    ),
]


def test_every_requirement_maps_to_a_judge_check_and_a_breaking_test():
    assert_requirement_map(REQUIREMENTS, globals(), "nb04")


# --- q4 (transfer): process_all(items, handle, workers) ---------------------------------------------------


@pytest.mark.parametrize("answer", [q4.reference, answers.process_all_with_sentinels], ids=lambda f: f.__name__)
def test_q4_right_answers_pass(answer):
    assert_passes(check(q4, answer))


def test_q4_workers_left_waiting():
    assert_fails(check(q4, answers.process_all_leaving_workers), "were still running (waiting for more")


def test_q4_batches_leave_slots_idle():
    assert_fails(check(q4, answers.process_all_in_batches), "ran in batches of 3")


def test_q4_everything_at_once():
    assert_fails(check(q4, answers.process_all_all_at_once), "ran at once with `workers=3`")


def test_q4_gather_leaves_the_other_workers_running_after_a_failure():
    assert_fails(
        check(q4, answers.process_all_with_gather),
        "After `handle` failed, 1 of `process_all`'s tasks were still running",
    )
