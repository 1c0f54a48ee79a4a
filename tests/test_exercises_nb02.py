"""Notebook 02's exercises: each passes with its reference answer and gives the intended message for
the wrong answers a learner typically writes (sequential, unbounded, wrong order, wrong syntax...).

Learner answers are written below as they would be in a notebook cell. Checks run with
``asyncio.run`` (no pytest-asyncio); every warning is an error here.
"""

import asyncio
import select

import corpus.nb02 as answers
import pytest
from asynclab.exercises.nb02 import Q1_URLS, download, number_stream, q1, q2, q3, q4, url_stream
from exercise_checks import assert_fails, assert_passes, assert_requirement_map, check

pytestmark = pytest.mark.filterwarnings("error")


def test_the_helpers_work_on_their_own():
    async def main():
        page = await download("https://example.com/page/1?delay=0.01")
        numbers = [n async for n in number_stream([1, 2], 0)]
        urls = [u async for u in url_stream(["a", "b"], 0)]
        return page, numbers, urls

    assert asyncio.run(main()) == ("<page https://example.com/page/1?delay=0.01>", [1, 2], ["a", "b"])


# --- q1: fetch_in_order ----------------------------------------------------------------------------


async def fetch_in_order_stub(urls):
    """Download every URL at the same time; return the pages in the order of `urls`."""
    # YOUR CODE HERE


async def fetch_in_order_tasks_then_comprehension(urls):
    tasks = [asyncio.create_task(download(url)) for url in urls]  # all started here
    return [await task for task in tasks]


async def fetch_in_order_coroutines(urls):
    return [download(url) for url in urls]


def test_q1_reference_and_other_correct_answers_pass():
    assert check(q1, q1.reference).passed
    assert check(q1, answers.fetch_in_order_task_group).passed
    assert check(q1, fetch_in_order_tasks_then_comprehension).passed


def test_q1_stub_is_not_answered_yet():
    assert check(q1, fetch_in_order_stub).status == "not answered"


def test_q1_sequential_comprehension_is_called_sequential():
    result = check(q1, answers.fetch_in_order_sequential)
    assert_fails(result, "Correct result, but your downloads ran one after another", "asyncio.gather")
    yours, reference = result.timelines  # the learner sees their timeline beside the reference
    assert yours.duration > 1.5 * reference.duration  # 0.3 + 0.1 + 0.2 s in a row vs. the longest, 0.3 s


def test_q1_as_completed_gives_the_wrong_order():
    assert_fails(check(q1, answers.fetch_in_order_as_completed), "wrong order", "as_completed")


def test_q1_forgotten_awaits():
    assert_fails(check(q1, answers.fetch_in_order_forgotten_await), "unfinished Future", "await")
    assert_fails(check(q1, fetch_in_order_coroutines), "coroutine objects", "never ran")


# --- q2: even_items ------------------------------------------------------------------------------------


async def even_items_stub(stream):
    """Return a list of the even numbers `stream` hands out, with one async comprehension."""
    # YOUR CODE HERE


async def even_items_no_condition(stream):
    return [number async for number in stream]


async def even_items_every_other(stream):
    return [number async for i, number in _enumerate(stream) if i % 2 == 0]


async def _enumerate(stream):
    i = 0
    async for item in stream:
        yield i, item
        i += 1


def even_items_sync(stream):
    return [number for number in stream if number % 2 == 0]


def test_q2_reference_passes():
    assert check(q2, q2.reference).passed


def test_q2_stub_is_not_answered_yet():
    assert check(q2, even_items_stub).status == "not answered"


def test_q2_loop_is_correct_but_not_a_comprehension():
    assert_fails(check(q2, answers.even_items_loop), "Correct result, but written without an async comprehension")


def test_q2_plain_for_on_an_async_stream():
    assert_fails(check(q2, answers.even_items_plain_for), "TypeError", "async for")


def test_q2_parentheses_make_an_async_generator():
    assert_fails(check(q2, answers.even_items_parentheses), "returned an async generator", "square brackets")


def test_q2_wrong_values():
    assert_fails(
        check(q2, even_items_no_condition),
        "`even_items(number_stream([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]))` returned [0, 1, 2",
        "expected [0, 2, 4, 6, 8]",
    )
    assert_fails(check(q2, even_items_every_other), "returned [7, 9, 3]", "expected [4, 12, 10]")


def test_q2_plain_def():
    assert_fails(check(q2, even_items_sync), "async def")


# --- q3: download_stream --------------------------------------------------------------------------------


async def download_stream_stub(urls, limit):
    """Download each URL of the async stream `urls`, at most `limit` at a time; pages in stream order."""
    raise NotImplementedError  # YOUR CODE HERE


async def download_stream_workers(urls, limit):
    queue = asyncio.Queue(limit)
    pages = {}

    async def worker():
        while (job := await queue.get()) is not None:
            index, url = job
            pages[index] = await download(url)

    async with asyncio.TaskGroup() as tg:
        for _ in range(limit):
            tg.create_task(worker())
        count = 0
        async for url in urls:
            await queue.put((count, url))
            count += 1
        for _ in range(limit):
            await queue.put(None)
    return [pages[i] for i in range(count)]


def test_q3_reference_and_workers_pass():
    assert check(q3, q3.reference).passed
    assert check(q3, download_stream_workers).passed


def test_q3_stub_is_not_answered_yet():
    assert check(q3, download_stream_stub).status == "not answered"


def test_q3_sequential_is_called_sequential():
    result = check(q3, answers.download_stream_sequential)
    assert_fails(result, "Correct result, but your downloads with `limit=3` ran one after another", "Semaphore(3)")
    yours, reference = result.timelines
    assert yours.duration > 1.5 * reference.duration  # 0.75 s of downloads in a row vs. three at a time


def test_q3_unbounded_is_too_many_at_once():
    assert_fails(
        check(q3, answers.download_stream_unbounded),
        "8 of your downloads with `limit=3` ran at the same time; at most 3 should",
    )
    assert_fails(check(q3, answers.download_stream_semaphore_per_task), "at most 3 should", "one shared")


def test_q3_completion_order_is_the_wrong_order():
    assert_fails(check(q3, answers.download_stream_completion_order), "wrong order", "task.result()")


def test_q3_a_hardcoded_limit_fails_with_limit_two():
    assert_fails(
        check(q3, answers.download_stream_hardcoded_three),
        "3 of your downloads with `limit=2` ran at the same time",
        "at most 2 should",
    )


# --- answers that break one requirement each (see REQUIREMENTS at the end) -------------------------------


async def fetch_in_order_from_wait(urls):
    if not urls:
        return []
    done, _ = await asyncio.wait([asyncio.create_task(download(url)) for url in urls])
    returned = [task.result() for task in done]  # a set: no order at all
    fetch_in_order_from_wait.returned = returned
    return returned


async def fetch_in_order_reversed(urls):
    return list(reversed(await asyncio.gather(*(download(url) for url in urls))))


def test_q1_a_wrong_order_is_called_finishing_order_only_when_it_is():
    # A set's order depends on where its tasks sit in memory: right by chance now and then.
    result = check(q1, fetch_in_order_from_wait)
    finishing = [f"<page {url}>" for url in (Q1_URLS[1], Q1_URLS[2], Q1_URLS[0])]  # 0.1, 0.2, 0.3 s
    if fetch_in_order_from_wait.returned != [f"<page {url}>" for url in Q1_URLS]:
        assert_fails(result, "wrong order", "a set")
        claims = "in the order the downloads finished" in result.message
        assert claims == (fetch_in_order_from_wait.returned == finishing), result.message
    result = check(q1, fetch_in_order_reversed)  # neither the order of `urls` nor the finishing order
    assert_fails(result, "You returned the right pages in the wrong order:")
    assert "finished" not in result.message


def test_q2_one_comprehension_must_do_it_all():
    assert_fails(check(q2, answers.even_items_two_comprehensions), "with 2 comprehensions", "filters as it goes")
    assert_fails(check(q2, answers.even_items_filter_after), "the filtering happens outside the async comprehension")


async def download_stream_holds_the_slot(urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def download_one(url):
        async with semaphore:
            page = await download(url)
            await asyncio.sleep(0.05)  # keeps the slot after the download is over
            return page

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(download_one(url)) async for url in urls]
    return [task.result() for task in tasks]


async def download_stream_twice(urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def download_one(url):
        async with semaphore:
            await download(url)  # a first download, thrown away
            return await download(url)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(download_one(url)) async for url in urls]
    return [task.result() for task in tasks]


async def download_stream_acquire_then_start(urls, limit):  # correct: waits for a slot before reading on
    semaphore = asyncio.Semaphore(limit)

    async def download_one(url):
        try:
            return await download(url)
        finally:
            semaphore.release()

    async with asyncio.TaskGroup() as tg:
        tasks = []
        async for url in urls:
            await semaphore.acquire()
            tasks.append(tg.create_task(download_one(url)))
    return [task.result() for task in tasks]


def test_q3_acquiring_before_each_task_passes():
    assert check(q3, download_stream_acquire_then_start).passed


def test_q3_batches_leave_slots_idle():
    result = check(q3, answers.download_stream_batches)
    assert_fails(
        result, "never more than 3 at once", "ran in batches of 3", "idle slots", "one shared `asyncio.Semaphore(3)`"
    )
    yours, reference = result.timelines
    assert yours.duration > 1.1 * reference.duration  # each batch waits for its slowest download


def test_q3_reading_the_whole_stream_first():
    result = check(q3, answers.download_stream_read_all_first)
    assert_fails(result, "no download started until the stream had handed out every URL", "inside the `async for`")
    yours, reference = result.timelines
    assert yours.duration > 1.1 * reference.duration  # the 8 x 20 ms of the stream come first


def test_q3_a_slot_held_idle_is_not_called_a_batch():
    result = check(q3, download_stream_holds_the_slot)
    assert_fails(result, "slots stayed free while URLs were waiting", "at most")
    assert "batches" not in result.message


def test_q3_each_url_downloaded_once():
    assert_fails(check(q3, download_stream_twice), "exactly once per URL")


# Each requirement of a prompt or sentence of a success message -> the judge's words for a
# breach (in nb02.py or trial.py) -> the test whose answer breaks it and asserts those words.
# --- issue #25: causes named from what the answer did ---------------------------------------------------


def test_q3_a_semaphore_held_only_while_starting_tasks_is_named_so():
    result = check(q3, answers.download_stream_semaphore_around_create)
    assert_fails(result, "ran at the same time; at most 3 should", "was not holding it")
    assert "Guard each download with one shared" not in result.message


def test_q3_no_semaphore_and_a_window_one_too_wide_are_told_apart():
    assert_fails(check(q3, answers.download_stream_unbounded), "created no `asyncio.Semaphore`")
    assert_fails(check(q3, answers.download_stream_window_off_by_one), "one more than `limit`")


REQUIREMENTS = [
    (
        "q4",
        "the first n to arrive, in arrival order",
        "not the first 2 to *arrive*",
        "test_q4_pages_in_the_order_of_urls",
    ),
    ("q4", "cancel the downloads still running", "download(s) running", "test_q4_the_rest_left_running"),
    ("q4", "return as soon as it has them", "instead of waiting for the rest", "test_q4_waiting_for_every_download"),
    (
        "q1",
        "download every URL at the same time",
        "ran one after another",
        "test_q1_sequential_comprehension_is_called_sequential",
    ),
    ("q1", "return the pages in the order of `urls`", "wrong order", "test_q1_as_completed_gives_the_wrong_order"),
    (
        "q1",
        "no reason the judge did not see: a set has no order",
        "a set",
        "test_q1_a_wrong_order_is_called_finishing_order_only_when_it_is",
    ),
    ("q1", "an async function returning the pages (await)", "unfinished", "test_q1_forgotten_awaits"),
    ("q2", "the even numbers of the stream", "`even_items(number_stream(", "test_q2_wrong_values"),
    (
        "q2",
        "using an async comprehension",
        "without an async comprehension",
        "test_q2_loop_is_correct_but_not_a_comprehension",
    ),
    (
        "q2",
        "one comprehension that also filters",
        "the filtering happens outside the async comprehension",
        "test_q2_one_comprehension_must_do_it_all",
    ),
    ("q2", "return a list", "returned an async generator", "test_q2_parentheses_make_an_async_generator"),
    ("q3", "download each URL", "exactly once per URL", "test_q3_each_url_downloaded_once"),
    ("q3", "at most `limit` downloads at once", "same time; at most", "test_q3_unbounded_is_too_many_at_once"),
    (
        "q3",
        "at most `limit`, whatever `limit` is",
        "ran at the same time",
        "test_q3_a_hardcoded_limit_fails_with_limit_two",
    ),
    (
        "q3",
        "`limit` running whenever there is enough work: not one at a time",
        "ran one after another",
        "test_q3_sequential_is_called_sequential",
    ),
    (
        "q3",
        "`limit` running whenever there is enough work: no batches",
        "ran in batches of",
        "test_q3_batches_leave_slots_idle",
    ),
    (
        "q3",
        "`limit` running whenever there is enough work: no idle slot",
        "slots stayed free while",
        "test_q3_a_slot_held_idle_is_not_called_a_batch",
    ),
    (
        "q3",
        "each download starts as soon as its URL has arrived",
        "started until the stream had handed out every URL",
        "test_q3_reading_the_whole_stream_first",
    ),
    (
        "q3",
        "pages in the order the stream handed out the URLs",
        "wrong order",
        "test_q3_completion_order_is_the_wrong_order",
    ),
    (
        "q3",
        "at most `limit`: the semaphore held around each download",
        "was not holding it",
        "test_q3_a_semaphore_held_only_while_starting_tasks_is_named_so",
    ),
    (
        "q3",
        "at most `limit`: a hand-made limit one too wide",
        "one more than `limit`",
        "test_q3_no_semaphore_and_a_window_one_too_wide_are_told_apart",
    ),
]


def test_every_requirement_maps_to_a_judge_check_and_a_breaking_test():
    assert_requirement_map(REQUIREMENTS, globals(), "nb02")


# --- q4 (transfer): first_pages(urls, n) -----------------------------------------------------------------


@pytest.mark.parametrize("answer", [q4.reference, answers.first_pages_with_create_task, answers.first_pages_with_wait])
def test_q4_right_answers_pass(answer):
    assert_passes(check(q4, answer))


def loop_stalls_while(answer, at=0.03, seconds=0.09):
    """``answer``, run while the machine holds up the loop from ``at`` s for ``seconds`` (waiting, not
    computing, and in no ``time.sleep``): as when a busy machine runs no task for a moment."""

    async def stalled(urls, n):
        asyncio.get_running_loop().call_later(at, select.select, [], [], [], seconds)
        return await answer(urls, n)

    return stalled


@pytest.mark.parametrize("answer", [q4.reference, answers.first_pages_with_wait])
def test_q4_pages_that_finish_together_may_come_in_either_order(answer):
    # The stall covers the 0.05 s and 0.1 s downloads' ends: both finish in one turn of the loop,
    # and asyncio.wait() hands them over together (first_pages_with_wait sorts them by URL).
    assert_passes(check(q4, loop_stalls_while(answer)))


def test_q4_a_stall_does_not_excuse_pages_in_the_order_of_urls():
    assert_fails(check(q4, loop_stalls_while(answers.first_pages_in_input_order)), "not the first 2 to *arrive*")


def test_q4_pages_in_the_order_of_urls():
    assert_fails(check(q4, answers.first_pages_in_input_order), "not the first 2 to *arrive*")


def test_q4_the_rest_left_running():
    assert_fails(check(q4, answers.first_pages_leaving_the_rest_running), "left 3 download(s) running")


def test_q4_waiting_for_every_download():
    assert_fails(check(q4, answers.first_pages_waiting_for_all), "instead of waiting for the rest")
