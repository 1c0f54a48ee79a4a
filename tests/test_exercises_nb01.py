"""The exercises of notebook 01 (async for): each passes with its reference answer, and typical
wrong answers get the intended message, without tracebacks, warnings or stderr.

Learner answers are written below as they would be in a notebook cell. Checks run with
``asyncio.run`` (no pytest-asyncio); every warning is an error in this module.
"""

import asyncio
import contextlib
import importlib.util
from pathlib import Path

import aiohttp
import corpus.nb01 as answers
import nbformat
import pytest
from asynclab.exercises.nb01 import q1, q2, q3, q4
from exercise_checks import assert_fails, assert_passes, assert_requirement_map
from exercise_checks import check as check_quietly


def check(exercise, answer, **options):
    """Run the check with the local services running (q1 needs them)."""
    return check_quietly(exercise, answer, services=True, **options)


pytestmark = pytest.mark.filterwarnings("error")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_async_for.ipynb"


# --- the stubs shipped in the notebook -------------------------------------------------------------


def notebook_stubs(tmp_path):
    """The notebook's exercise cells, imported from a file (as IPython does, so their source is known)."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    wanted = ("async def all_items(", "class Countdown:", "async def first_n(")
    sources = [cell.source for cell in nb.cells if cell.cell_type == "code" and cell.source.startswith(wanted)]
    assert len(sources) == 3, "each exercise has exactly one answer cell"
    path = tmp_path / "nb01_stubs.py"
    path.write_text("\n\n".join(sources) + "\n")
    spec = importlib.util.spec_from_file_location("nb01_stubs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_stubs_are_not_answered_yet(tmp_path):
    stubs = notebook_stubs(tmp_path)
    for exercise, answer in [(q1, stubs.all_items), (q2, stubs.Countdown), (q3, stubs.first_n)]:
        result = check(exercise, answer)
        assert result.status == "not answered", f"{exercise.name}: {result.status}: {result.message}"
        assert "still the stub" in result.message


def test_a_missing_answer_is_not_answered_yet():
    result = asyncio.run(q1.check(namespace={}, show=False))
    assert result.status == "not answered" and "not defined yet" in result.message


def test_hints_and_solutions_are_there(capsys):
    for exercise in (q1, q2, q3):
        assert len(exercise.hints) >= 3
        source = exercise.solution_source()
        assert f"{exercise.name}" in source
        compile(source, exercise.name, "exec")
    capsys.readouterr()


# --- q1: all_items, an async generator over the paginated API -----------------------------------------


def test_q1_reference_passes():
    assert_passes(check(q1, q1.reference))


async def all_items_ok_empty_page_guard(session, url, per_page=50):
    page = 1
    while True:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = await resp.json()
        for item in data["results"]:
            yield item
        if page >= data["pages"]:
            return
        page += 1


def test_q1_another_correct_answer_passes():
    assert_passes(check(q1, all_items_ok_empty_page_guard))


async def all_items_new_session_per_page(session, url, per_page=50):
    page, pages = 1, 1
    while page <= pages:
        async with aiohttp.ClientSession() as own_session:
            async with own_session.get(url, params={"page": page, "per_page": per_page}) as resp:
                data = await resp.json()
        pages = data["pages"]
        for item in data["results"]:
            yield item
        page += 1


def test_q1_a_new_session_per_page_fails():
    assert_fails(check(q1, all_items_new_session_per_page), "opened 5 connections", "with the `session` it was given")


def test_q1_asking_for_a_page_after_the_last_fails():
    assert_fails(
        check(q1, answers.all_items_stop_at_empty_page), "made 6 requests for 5 pages", "page 6", 'data["pages"]'
    )


def test_q1_fetching_every_page_before_yielding_fails():
    assert_fails(check(q1, answers.all_items_everything_first), "fetched 5 pages", "as soon as it has arrived")


def test_q1_yielding_whole_pages_fails():
    assert_fails(check(q1, answers.all_items_yield_pages), "yielded 5 lists", "one at a time")


def test_q1_ignoring_per_page_fails():
    assert_fails(
        check(q1, answers.all_items_ignore_per_page), "made 24 requests", "5 pages of 50", "pass `per_page` to the API"
    )


async def all_items_forgets_next_page(session, url, per_page=50):
    page, pages = 1, 1
    while page <= pages:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = await resp.json()
        pages = data["pages"]
        for item in data["results"]:
            yield item


def test_q1_never_moving_to_the_next_page_fails():
    assert_fails(check(q1, all_items_forgets_next_page), "yielded more than", "stop condition")


def all_items_plain_generator(session, url, per_page=50):
    yield from []


def test_q1_a_plain_generator_fails():
    assert_fails(check(q1, all_items_plain_generator), "regular generator", "async def")


async def all_items_forgets_await(session, url, per_page=50):
    page, pages = 1, 1
    while page <= pages:
        async with session.get(url, params={"page": page, "per_page": per_page}) as resp:
            data = resp.json()
        pages = data["pages"]
        for item in data["results"]:
            yield item
        page += 1


def test_q1_a_forgotten_await_fails():
    assert_fails(check(q1, all_items_forgets_await), "never awaited", "put `await` in front of it")


# --- q2: Countdown, a class-based async iterator ---------------------------------------------------------


def test_q2_reference_passes():
    assert_passes(check(q2, q2.reference))


class CountdownGeneratorMethod:  # a correct iterator written differently: passes too
    def __init__(self, start, delay):
        self.numbers = iter(range(start, 0, -1))
        self.delay = delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        number = next(self.numbers, None)
        if number is None:
            raise StopAsyncIteration
        await asyncio.sleep(self.delay)
        return number


def test_q2_another_correct_answer_passes():
    assert_passes(check(q2, CountdownGeneratorMethod))


def test_q2_an_async_generator_function_fails():
    assert_fails(check(q2, answers.CountdownGenerator), "is a function", "`async def __anext__(self)`")


def test_q2_raising_stop_iteration_fails():
    assert_fails(check(q2, answers.CountdownStopIteration), "RuntimeError", "raise StopAsyncIteration")


def test_q2_time_sleep_fails():
    assert_fails(check(q2, answers.CountdownTimeSleep), "event loop was blocked", "time.sleep")


def test_q2_an_async_aiter_fails():
    assert_fails(check(q2, answers.CountdownAsyncAiter), "`Countdown.__aiter__` must be a plain `def`")


def test_q2_off_by_one_fails():
    assert_fails(
        check(q2, answers.CountdownOffByOne), "`async for` over `Countdown(3, 0.3)` gave [2, 1, 0]; expected [3, 2, 1]"
    )


def test_q2_not_waiting_fails():
    assert_fails(check(q2, answers.CountdownNoWait), "instead of 0.3 s", "await asyncio.sleep(self.delay)")


class CountdownNeverStops:
    def __init__(self, start, delay):
        self.current, self.delay = start, delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        await asyncio.sleep(0)
        self.current -= 1
        return self.current + 1


def test_q2_never_stopping_fails():
    assert_fails(check(q2, CountdownNeverStops), "yielded more than 20 items", "stop condition")


# --- q3: first_n, stopping early and closing the generator ------------------------------------------------


def test_q3_reference_passes():
    assert_passes(check(q3, q3.reference))


async def first_n_closes_by_hand(source, n):
    items = []
    if n == 0:
        return items
    try:
        async for item in source:
            items.append(item)
            if len(items) == n:
                break
    finally:
        await source.aclose()
    return items


def test_q3_closing_by_hand_passes():
    assert_passes(check(q3, first_n_closes_by_hand))


async def first_n_break_only(source, n):
    items = []
    if n == 0:
        return items
    async for item in source:
        items.append(item)
        if len(items) == n:
            break
    return items


def test_q3_breaking_without_closing_fails():
    assert_fails(check(q3, first_n_break_only), "left unfinished", "contextlib.aclosing(source)")


async def first_n_reads_everything(source, n):
    async with contextlib.aclosing(source):
        items = []
        async for item in source:
            items.append(item)
    return items[:n]


def test_q3_reading_everything_fails():
    assert_fails(check(q3, first_n_reads_everything), "read all 10 items")


def test_q3_reading_one_item_too_many_fails():
    assert_fails(check(q3, answers.first_n_one_too_many), "read 4 items", "right after appending")


async def first_n_forgets_zero(source, n):
    items = []
    async with contextlib.aclosing(source):
        async for item in source:
            items.append(item)
            if len(items) == n:
                break
    return items


def test_q3_n_zero_fails():
    assert_fails(check(q3, first_n_forgets_zero), "`first_n(source, 0)` returned [0, 1, 2")


async def first_n_as_generator(source, n):
    async with contextlib.aclosing(source):
        async for item in source:
            yield item


def test_q3_an_async_generator_fails():
    assert_fails(check(q3, first_n_as_generator), "async generator", "`return`")


def test_q3_a_missing_return_fails():
    assert_fails(
        check(q3, answers.first_n_no_return),
        "`first_n(source, 3)` on a source of 0, 1, ..., 9 returned None. Is a `return`",
    )


# --- answers that break one requirement each (see REQUIREMENTS at the end) -------------------------------


def test_q1_a_session_of_its_own_fails():
    assert_fails(check(q1, answers.all_items_own_session), "made 5 requests, 0 of them with the `session` it was given")


def test_q2_a_class_around_an_async_generator_fails():
    assert_fails(check(q2, answers.CountdownAroundAGenerator), "has no `__anext__` method")


async def first_n_exactly_n(source, n):
    async with contextlib.aclosing(source):
        return [await anext(source) for _ in range(n)]  # StopAsyncIteration when the source is shorter


async def first_n_or_nothing(source, n):
    items = []
    async with contextlib.aclosing(source):
        async for item in source:
            items.append(item)
            if len(items) == n:
                return items
    return []  # fewer than n: gives up instead of returning what there was


def test_q3_a_shorter_source_must_give_all_its_items():
    assert_fails(check(q3, first_n_exactly_n), "`first_n(source, 5)` raised StopAsyncIteration", "await anext(source)")
    assert_fails(
        check(q3, first_n_or_nothing),
        "`first_n(source, 5)` on a source of only 'a', 'b' returned []; expected ['a', 'b']",
    )


# Each requirement of a prompt or sentence of a success message -> the judge's words for a
# breach (in nb01.py or the shared trial.py) -> the test whose answer breaks it and asserts those words.
# --- issue #25: the edges each promise has, and causes named from what the answer did ------------------


def test_q1_a_full_last_page_is_the_last_one():
    # 237 items, 79 a page: three full pages, and a loop that stops at a short page asks for page 4.
    assert_fails(check(q1, answers.all_items_stop_at_short_page), "asked for page 4", "The last page was full")


def test_q1_pages_fetched_together_are_named_so():
    result = check(q1, answers.all_items_gather_the_rest)
    assert_fails(result, "page 3 was requested before page 2's reply")
    assert "ClientSession" not in result.message  # it used the session it was given


def test_q2_a_hard_coded_sleep_fails_one_of_two_delays():
    assert_fails(check(q2, answers.CountdownHardCodedShortSleep), "instead of 0.3 s", "whatever `delay` is")
    assert_fails(check(q2, answers.CountdownHardCodedLongSleep), "instead of 0.05 s", "whatever `delay` is")


REQUIREMENTS = [
    ("q4", "an item at a time, not pages", "yielded whole pages (lists)", "test_q4_yielding_pages_instead_of_items"),
    (
        "q4",
        "go on past an empty page",
        "stopped at the first empty page",
        "test_q4_stopping_at_an_empty_page_misses_the_rest",
    ),
    ("q4", "stop at the page whose next is None", "which starts over", "test_q4_asking_past_the_last_page"),
    (
        "q4",
        "fetch a page only when its items are wanted",
        "had already called",
        "test_q4_fetching_every_page_before_yielding",
    ),
    ("q1", "an async generator", "regular generator", "test_q1_a_plain_generator_fails"),
    ("q1", "yields items one at a time, not pages", "one at a time", "test_q1_yielding_whole_pages_fails"),
    (
        "q1",
        "use the `session` it is given (over one connection)",
        "with the `session` it was given",
        "test_q1_a_new_session_per_page_fails",
    ),
    (
        "q1",
        "... for every request, no session of its own",
        "of them with the `session` it was given",
        "test_q1_a_session_of_its_own_fails",
    ),
    (
        "q1",
        "ask for page=1, 2, ... with `per_page` items",
        "pass `per_page` to the API",
        "test_q1_ignoring_per_page_fails",
    ),
    (
        "q1",
        "yield a page's items before fetching the next",
        "as soon as it has arrived",
        "test_q1_fetching_every_page_before_yielding_fails",
    ),
    ("q1", "stop after the last page", "requests for", "test_q1_asking_for_a_page_after_the_last_fails"),
    ("q1", "... and move on to the next page", "stop condition", "test_q1_never_moving_to_the_next_page_fails"),
    ("q2", "yields 3, 2, 1", "`async for` over `Countdown(", "test_q2_off_by_one_fails"),
    ("q2", "waits `delay` before each number", "await asyncio.sleep(self.delay)", "test_q2_not_waiting_fails"),
    ("q2", "... without blocking the loop", "event loop was blocked", "test_q2_time_sleep_fails"),
    ("q2", "by hand: a class", "is a function", "test_q2_an_async_generator_function_fails"),
    (
        "q2",
        "by hand: `__anext__`, not an async generator inside",
        "has no `__anext__` method",
        "test_q2_a_class_around_an_async_generator_fails",
    ),
    ("q2", "by hand: a plain `__aiter__`", "must be a plain `def`", "test_q2_an_async_aiter_fails"),
    ("q2", "ends (StopAsyncIteration)", "raise StopAsyncIteration", "test_q2_raising_stop_iteration_fails"),
    ("q3", "returns the first `n` items", "read all 10 items", "test_q3_reading_everything_fails"),
    (
        "q3",
        "... or all of them if it has fewer",
        "on a source of only 'a', 'b' returned",
        "test_q3_a_shorter_source_must_give_all_its_items",
    ),
    (
        "q3",
        "cleanup has run when it returns, in your task",
        "contextlib.aclosing(source)",
        "test_q3_breaking_without_closing_fails",
    ),
    ("q3", "don't read more items than you need", "right after appending", "test_q3_reading_one_item_too_many_fails"),
    ("q3", "... none at all for n = 0", "`first_n(source, 0)` returned", "test_q3_n_zero_fails"),
    (
        "q3",
        "an async function that returns a list",
        "on a source of 0, 1, ..., 9 returned",
        "test_q3_a_missing_return_fails",
    ),
    (
        "q1",
        "stop after the last page, also a full one",
        "The last page was full",
        "test_q1_a_full_last_page_is_the_last_one",
    ),
    (
        "q1",
        "a page's items before fetching the next: one page at a time",
        "was requested before page",
        "test_q1_pages_fetched_together_are_named_so",
    ),
    (
        "q2",
        "waits `delay`, whatever it is",
        "whatever `delay` is",
        "test_q2_a_hard_coded_sleep_fails_one_of_two_delays",
    ),
]


def test_every_requirement_maps_to_a_judge_check_and_a_breaking_test():
    assert_requirement_map(REQUIREMENTS, globals(), "nb01")


# --- q4 (transfer): cursor_items(fetch_page) -------------------------------------------------------------


@pytest.mark.parametrize("answer", [q4.reference, answers.cursor_items_with_while, answers.CursorItems])
def test_q4_right_answers_pass(answer):
    assert_passes(check(q4, answer))


def test_q4_stopping_at_an_empty_page_misses_the_rest():
    assert_fails(check(q4, answers.cursor_items_stopping_at_an_empty_page), "stopped at the first empty page")


def test_q4_asking_past_the_last_page():
    assert_fails(
        check(q4, answers.cursor_items_until_an_empty_page), "called `fetch_page(None)` again, which starts over"
    )


def test_q4_fetching_every_page_before_yielding():
    assert_fails(check(q4, answers.cursor_items_fetching_ahead), "had already called `fetch_page` 3 times")


def test_q4_yielding_pages_instead_of_items():
    assert_fails(check(q4, answers.cursor_items_page_at_a_time), "yielded whole pages (lists)")
