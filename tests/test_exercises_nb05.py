"""Notebook 05's "fix this code" exercises: the code the notebook hands out fails, each fix passes in
any reasonable style, and each typical half-fix gets a message about what its run did."""

import asyncio
import inspect
import re

import corpus.nb05 as answers
import nbformat
import pytest
from asynclab.exercises.nb05 import q1, q2
from exercise_checks import assert_fails, assert_passes, check
from nbharness import NOTEBOOKS_DIR

pytestmark = pytest.mark.filterwarnings("error")


def given_source(name):
    """The source of the exercise cell that defines ``name``, as the notebook hands it out."""
    nb = nbformat.read(NOTEBOOKS_DIR / "05_cancellation_and_cleanup.ipynb", as_version=4)
    defines = re.compile(rf"(async def|class) {name}\b")
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and defines.match(c.source)]
    return source


def given_code(name):
    """The buggy definition of ``name`` as the notebook hands it out, defined in a fresh namespace."""
    source = given_source(name)
    namespace = {"asyncio": asyncio}
    exec(compile(source, f"<05 exercise cell: {name}>", "exec"), namespace)
    return namespace[name]


def test_the_corpus_holds_the_code_the_notebook_hands_out():
    for name, copy in [
        ("fetch_with_retries", answers.fetch_with_retries_as_handed_out),
        ("TwoConnections", answers.TwoConnectionsAsHandedOut),
    ]:
        lines = inspect.getsource(copy).splitlines()
        assert lines[0].startswith("@wrong(")
        copied = "\n".join(lines[1:]).replace(copy.__name__, name, 1)
        assert copied == given_source(name).strip(), (
            f"tests/corpus/nb05.py's copy of {name} differs from the notebook's"
        )


# --- q1: fetch_with_retries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [q1.reference, answers.retries_with_while, answers.retries_keeping_last_error, answers.retries_reraising_cancel],
)
def test_q1_fixes_pass(answer):
    assert_passes(check(q1, answer))


def test_q1_the_code_the_notebook_hands_out_fails_on_the_cancellation():
    result = check(q1, given_code("fetch_with_retries"))
    assert_fails(result, "cancelled while `fetch` was running", "1 more time(s) after the cancellation")
    yours, reference = result.timelines
    assert yours.duration > 1.2 * reference.duration  # the extra fetch after the cancel, on the diagram


def test_q1_a_bare_except_is_the_same_mistake():
    assert_fails(check(q1, answers.retries_bare_except), "after the cancellation", "catch `ConnectionError` only")


def test_q1_catching_exception_retries_what_no_retry_can_fix():
    assert_fails(
        check(q1, answers.retries_except_exception),
        "raised `ValueError`, which no retry can fix",
        "returned 'page of /page' after 2 call(s)",
    )


def test_q1_swallowing_the_cancel_without_retrying_is_named_as_such():
    assert_fails(
        check(q1, answers.retries_swallowing_cancel_and_stopping),
        "made no further call",
        "returned None instead of ending cancelled",
    )


def test_q1_one_attempt_too_few():
    assert_fails(check(q1, answers.retries_one_too_few), "after 2 call(s)", "the third")


# --- q2: TwoConnections -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", [q2.reference, answers.TwoWithTry, answers.TwoWithStackKept, answers.two_connections_generator]
)
def test_q2_fixes_pass(answer):
    assert_passes(check(q2, answer))


def test_q2_the_code_the_notebook_hands_out_leaks_the_first_connection():
    result = check(q2, given_code("TwoConnections"))
    assert_fails(result, "Opening the second connection failed, and db-1 was left open")
    yours, reference = result.timelines
    assert [s.label for s in yours.spans if s.lane == "db-1"] == ["db-1: never closed"]
    assert [s.label for s in reference.spans if s.lane == "db-1"] == ["db-1 open"]


def test_q2_except_exception_still_leaks_on_cancellation():
    assert_fails(
        check(q2, answers.TwoExceptException), "Opening the second connection was cancelled, and db-1 was left open"
    )


def test_q2_returning_self_is_named():
    assert_fails(check(q2, answers.TwoClosingOnlyInExit), "should return the two connections")


def test_q2_a_manager_that_swallows_the_error():
    assert_fails(check(q2, answers.TwoSwallowing), "The block raised KeyError, but the caller saw None")
