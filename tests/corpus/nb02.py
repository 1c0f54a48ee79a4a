"""Answers to notebook 02's exercises: fetch_in_order (q1), even_items (q2), download_stream (q3),
first_pages (q4)."""

import asyncio

from asynclab.exercises.nb02 import download

from corpus import right, wrong

# --- q1: fetch_in_order(urls) ----------------------------------------------------------------------


@right("q1")
async def fetch_in_order_gather(urls):
    return await asyncio.gather(*(download(url) for url in urls))


@right("q1")
async def fetch_in_order_task_group(urls: list[str]) -> list[str]:
    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(download(url)) for url in urls]
    return [task.result() for task in tasks]


@right("q1")
async def fetch_in_order_tasks_then_await(urls):
    tasks = [asyncio.create_task(download(url)) for url in urls]
    pages = []
    for task in tasks:
        pages.append(await task)
    print(f"downloaded {len(pages)} pages")
    return pages


@right("q1")
async def fetch_in_order_as_completed_indexed(urls):
    pages = [None] * len(urls)

    async def one(i, url):
        return i, await download(url)

    for next_done in asyncio.as_completed([one(i, url) for i, url in enumerate(urls)]):
        i, page = await next_done
        pages[i] = page
    return pages


@right("q1")
async def fetch_in_order_wait(urls):
    if not urls:
        return []
    tasks = [asyncio.create_task(download(url)) for url in urls]
    await asyncio.wait(tasks)
    return [task.result() for task in tasks]


@wrong("q1", "ran one after another")
async def fetch_in_order_sequential(urls):
    return [await download(url) for url in urls]


@wrong("q1", "wrong order", "as_completed")
async def fetch_in_order_as_completed(urls):
    return [await page for page in asyncio.as_completed([download(url) for url in urls])]


@wrong("q1", "only 2 of your downloads ran at the same time")
async def fetch_in_order_two_by_two(urls):
    pages = []
    for i in range(0, len(urls), 2):
        pages += await asyncio.gather(*(download(url) for url in urls[i : i + 2]))
    return pages


@wrong("q1", "await")
async def fetch_in_order_forgotten_await(urls):
    return asyncio.gather(*(download(url) for url in urls))


@wrong("q1", "wrong order")
async def fetch_in_order_append_when_done(urls):
    pages = []

    async def one(url):
        pages.append(await download(url))

    await asyncio.gather(*(one(url) for url in urls))
    return pages


# --- q2: even_items(stream) ------------------------------------------------------------------------


@right("q2")
async def even_items_reference(stream):
    return [number async for number in stream if number % 2 == 0]


@right("q2")
async def even_items_not_modulo(stream):
    return [n async for n in stream if not n % 2]


def is_even(number: int) -> bool:
    return number % 2 == 0


@right("q2")
async def even_items_helper(stream) -> list[int]:
    evens = [x async for x in stream if is_even(x)]
    return evens


@right("q2")
async def even_items_bitwise(stream):
    result = [value async for value in stream if value & 1 == 0]
    print("even:", result)
    return result


@wrong("q2", "without an async comprehension")
async def even_items_loop(stream):
    evens = []
    async for number in stream:
        if number % 2 == 0:
            evens.append(number)
    return evens


@wrong("q2", "with 2 comprehensions")
async def even_items_two_comprehensions(stream):
    numbers = [number async for number in stream]
    return [number for number in numbers if number % 2 == 0]


@wrong("q2", "filtering happens outside")
async def even_items_filter_after(stream):
    numbers = [number async for number in stream]
    return list(filter(is_even, numbers))


@wrong("q2", "async generator, not a list")
async def even_items_parentheses(stream):
    return (number async for number in stream if number % 2 == 0)


@wrong("q2", "expected [0, 2, 4, 6, 8]")
async def even_items_odd(stream):
    return [number async for number in stream if number % 2]


@wrong("q2", "async for")
async def even_items_plain_for(stream):
    return [number for number in stream if number % 2 == 0]


# --- q3: download_stream(urls, limit) ----------------------------------------------------------------


@right("q3")
async def download_stream_reference(urls, limit):
    semaphore = asyncio.Semaphore(limit)

    async def download_one(url):
        async with semaphore:
            return await download(url)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(download_one(url)) async for url in urls]
    return [task.result() for task in tasks]


@right("q3")
async def download_stream_gather(urls, limit: int) -> list[str]:
    semaphore = asyncio.Semaphore(limit)
    tasks = []

    async def guarded(url: str) -> str:
        async with semaphore:
            return await download(url)

    async for url in urls:
        print("got", url)
        tasks.append(asyncio.create_task(guarded(url)))
    return await asyncio.gather(*tasks)


@right("q3")
async def download_stream_workers(urls, limit):
    queue = asyncio.Queue()
    pages = {}
    order = []

    async def worker():
        while True:
            index, url = await queue.get()
            try:
                pages[index] = await download(url)
            finally:
                queue.task_done()

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    async for url in urls:
        order.append(len(order))
        queue.put_nowait((len(order) - 1, url))
    await queue.join()
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return [pages[i] for i in order]


@right("q3")
async def download_stream_window(urls, limit):
    tasks, running = [], set()
    async for url in urls:
        while len(running) >= limit:
            _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(download(url))
        tasks.append(task)
        running.add(task)
    await asyncio.gather(*tasks)
    return [task.result() for task in tasks]


@right("q3")
async def download_stream_bounded_semaphore(urls, limit):
    gate = asyncio.BoundedSemaphore(limit)

    async def one(url):
        await gate.acquire()
        try:
            return await download(url)
        finally:
            gate.release()

    async with asyncio.TaskGroup() as group:
        tasks = []
        async for url in urls:
            tasks.append(group.create_task(one(url)))
    return [t.result() for t in tasks]


@wrong("q3", "ran one after another")
async def download_stream_sequential(urls, limit):
    return [await download(url) async for url in urls]


@wrong("q3", "8 of your downloads with `limit=3` ran at the same time", "created no `asyncio.Semaphore`")
async def download_stream_unbounded(urls, limit):
    return await asyncio.gather(*[download(url) async for url in urls])


@wrong("q3", "limits nothing", "one shared")
async def download_stream_semaphore_per_task(urls, limit):
    async def one(url):
        async with asyncio.Semaphore(limit):
            return await download(url)

    return await asyncio.gather(*[one(url) async for url in urls])


@wrong(
    "q3",
    "ran at the same time; at most 3 should",
    "was not holding it",
    absent=("Guard each download with one shared",),
)
async def download_stream_semaphore_around_create(urls, limit):
    semaphore = asyncio.Semaphore(limit)
    async with asyncio.TaskGroup() as tg:
        tasks = []
        async for url in urls:
            async with semaphore:
                tasks.append(tg.create_task(download(url)))
    return [task.result() for task in tasks]


@wrong("q3", "ran in batches of 3")
async def download_stream_batches(urls, limit):
    pages, batch = [], []
    async for url in urls:
        batch.append(url)
        if len(batch) == limit:
            pages += await asyncio.gather(*(download(u) for u in batch))
            batch = []
    pages += await asyncio.gather(*(download(u) for u in batch))
    return pages


@wrong("q3", "no download started until the stream had handed out every URL")
async def download_stream_read_all_first(urls, limit):
    all_urls = [url async for url in urls]
    semaphore = asyncio.Semaphore(limit)

    async def one(url):
        async with semaphore:
            return await download(url)

    return await asyncio.gather(*(one(url) for url in all_urls))


@wrong("q3", "`asyncio.Semaphore(3)`, but `limit` was 2")
async def download_stream_hardcoded_three(urls, limit):
    semaphore = asyncio.Semaphore(3)

    async def one(url):
        async with semaphore:
            return await download(url)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(url)) async for url in urls]
    return [task.result() for task in tasks]


@wrong("q3", "wrong order", "task.result()")
async def download_stream_completion_order(urls, limit):
    semaphore = asyncio.Semaphore(limit)
    pages = []

    async def one(url):
        async with semaphore:
            pages.append(await download(url))

    async with asyncio.TaskGroup() as tg:
        async for url in urls:
            tg.create_task(one(url))
    return pages


@wrong("q3", "4 of your downloads with `limit=3`", "one more than `limit`")
async def download_stream_window_off_by_one(urls, limit):
    tasks, running = [], set()
    async for url in urls:
        while len(running) > limit:
            _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(download(url))
        tasks.append(task)
        running.add(task)
    return list(await asyncio.gather(*tasks))


# --- q4 (transfer): first_pages(urls, n) -----------------------------------------------------------------


@right("q4")
async def first_pages_with_create_task(urls, n):
    tasks = [asyncio.create_task(download(url)) for url in urls]
    pages = []
    for next_done in asyncio.as_completed(tasks):
        pages.append(await next_done)
        if len(pages) == n:
            break
    for task in tasks:
        task.cancel()
    return pages


@right("q4")
async def first_pages_with_wait(urls, n):
    pending = {asyncio.create_task(download(url)) for url in urls}
    pages: list[str] = []
    try:
        while pending and len(pages) < n:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pages.extend(sorted(task.result() for task in done))
        return pages[:n]
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


@right("q4")
async def first_pages_typed_with_finally(urls: list[str], n: int) -> list[str]:
    tasks = [asyncio.create_task(download(url)) for url in urls]
    pages: list[str] = []
    try:
        for next_done in asyncio.as_completed(tasks):
            page = await next_done
            print("arrived:", page)
            pages.append(page)
            if len(pages) >= n:
                break
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return pages


@right("q4")
async def first_pages_through_a_queue(urls, n):
    arrived: asyncio.Queue = asyncio.Queue()

    async def download_into_queue(url):
        await arrived.put(await download(url))

    tasks = [asyncio.create_task(download_into_queue(url)) for url in urls]
    try:
        return [await arrived.get() for _ in range(min(n, len(urls)))]
    finally:
        for task in tasks:
            task.cancel()


@wrong("q4", "not the first 2 to *arrive*")
async def first_pages_in_input_order(urls, n):
    pages = await asyncio.gather(*(download(url) for url in urls))
    return pages[:n]


@wrong("q4", "left 3 download(s) running")
async def first_pages_leaving_the_rest_running(urls, n):
    tasks = [asyncio.create_task(download(url)) for url in urls]
    pages = []
    for next_done in asyncio.as_completed(tasks):
        pages.append(await next_done)
        if len(pages) == n:
            return pages
    return pages


@wrong("q4", "instead of waiting for the rest")
async def first_pages_waiting_for_all(urls, n):
    pages = []
    async with asyncio.TaskGroup() as tg:
        for url in urls:
            task = tg.create_task(download(url))
            task.add_done_callback(lambda t: pages.append(t.result()))
    return pages[:n]


@wrong("q4", "returned the first 2 pages of `urls`", "not the first 2 to *arrive*")
async def first_pages_only_the_first_urls(urls, n):
    return await asyncio.gather(*(download(url) for url in urls[:n]))


@wrong("q4", "not the first 2 to *arrive*", "asyncio.as_completed")
async def first_pages_one_by_one(urls, n):
    pages = []
    for url in urls:
        pages.append(await download(url))
        if len(pages) == n:
            break
    return pages


@wrong("q4", "download(s) running")
async def first_pages_as_completed_on_coroutines(urls, n):
    pages = []
    for next_done in asyncio.as_completed([download(url) for url in urls]):
        pages.append(await next_done)
        if len(pages) == n:
            break  # as_completed made tasks of the coroutines: they go on downloading
    return pages
