"""Answers to notebook 04's exercises: borrow (q1), session_pool (q2), borrow_healthy (q3),
process_all (q4)."""

import asyncio
import contextlib
from contextlib import asynccontextmanager

import aiohttp

from corpus import right, wrong

# --- q1: borrow(queue, timeout) ---------------------------------------------------------------------


@right("q1")
@asynccontextmanager
async def borrow_reference(queue, timeout):
    async with asyncio.timeout(timeout):
        resource = await queue.get()
    try:
        yield resource
    finally:
        queue.put_nowait(resource)


@right("q1")
@asynccontextmanager
async def borrow_wait_for(queue: asyncio.Queue, timeout: float):
    resource = await asyncio.wait_for(queue.get(), timeout)
    try:
        yield resource
    finally:
        queue.put_nowait(resource)


@right("q1")
class BorrowClass:
    def __init__(self, queue, timeout):
        self.queue, self.timeout = queue, timeout

    async def __aenter__(self):
        async with asyncio.timeout(self.timeout):
            self.resource = await self.queue.get()
        return self.resource

    async def __aexit__(self, *exc):
        self.queue.put_nowait(self.resource)


_MISSING = object()


@right("q1")
@asynccontextmanager
async def borrow_sentinel(queue, timeout):
    resource = _MISSING
    try:
        async with asyncio.timeout(timeout):
            resource = await queue.get()
        print("lent", resource)
        yield resource
    finally:
        if resource is not _MISSING:
            queue.put_nowait(resource)


@wrong("q1", "the queue held [None]", "never a placeholder")
@asynccontextmanager
async def borrow_none_placeholder(queue, timeout):
    resource = None
    try:
        async with asyncio.timeout(timeout):
            resource = await queue.get()
        yield resource
    finally:
        queue.put_nowait(resource)


@wrong("q1", "must bound only the wait")
@asynccontextmanager
async def borrow_timeout_around_yield(queue, timeout):
    async with asyncio.timeout(timeout):
        resource = await queue.get()
        try:
            yield resource
        finally:
            queue.put_nowait(resource)


@wrong("q1", "still waiting after 1.5 s")
@asynccontextmanager
async def borrow_no_timeout(queue, timeout):
    resource = await queue.get()
    try:
        yield resource
    finally:
        queue.put_nowait(resource)


@wrong("q1", "raised QueueEmpty")
@asynccontextmanager
async def borrow_get_nowait(queue, timeout):
    resource = queue.get_nowait()
    try:
        yield resource
    finally:
        queue.put_nowait(resource)


@wrong("q1", "After the block raised ValueError", "not back in the queue")
@asynccontextmanager
async def borrow_no_finally(queue, timeout):
    async with asyncio.timeout(timeout):
        resource = await queue.get()
    yield resource
    queue.put_nowait(resource)


@wrong("q1", "When the task holding the resource was cancelled", "not an `Exception`")
@asynccontextmanager
async def borrow_except_exception(queue, timeout):
    async with asyncio.timeout(timeout):
        resource = await queue.get()
    try:
        yield resource
    except Exception:
        queue.put_nowait(resource)
        raise
    queue.put_nowait(resource)


@wrong("q1", "lent it only after")
@asynccontextmanager
async def borrow_polling(queue, timeout):
    waited = 0.0
    while queue.empty():
        if waited >= timeout:
            raise TimeoutError
        await asyncio.sleep(0.5)
        waited += 0.5
    resource = queue.get_nowait()
    try:
        yield resource
    finally:
        queue.put_nowait(resource)


# --- q2: session_pool(size) -----------------------------------------------------------------------------


@right("q2")
@asynccontextmanager
async def session_pool_reference(size):
    sessions = [aiohttp.ClientSession() for _ in range(size)]
    queue = asyncio.Queue()
    for session in sessions:
        queue.put_nowait(session)
    try:
        yield queue
    finally:
        for session in sessions:
            await session.close()


@right("q2")
@asynccontextmanager
async def session_pool_exit_stack(size: int):
    async with contextlib.AsyncExitStack() as stack:
        queue: asyncio.Queue = asyncio.Queue()
        for _ in range(size):
            queue.put_nowait(await stack.enter_async_context(aiohttp.ClientSession()))
        yield queue


@right("q2")
class SessionPoolClass:
    def __init__(self, size):
        self.size = size
        self.sessions = []

    async def __aenter__(self):
        self.queue = asyncio.Queue()
        for _ in range(self.size):
            session = aiohttp.ClientSession()
            self.sessions.append(session)
            await self.queue.put(session)
        return self.queue

    async def __aexit__(self, exc_type, exc, tb):
        await asyncio.gather(*(s.close() for s in self.sessions))
        return False


@right("q2")
@asynccontextmanager
async def session_pool_gather_close(size):
    queue = asyncio.Queue(maxsize=size)
    opened = []
    try:
        for _ in range(size):
            opened.append(aiohttp.ClientSession())
            queue.put_nowait(opened[-1])
        print(f"pool of {size} sessions ready")
        yield queue
    finally:
        await asyncio.gather(*(session.close() for session in opened))


@wrong("q2", "When the block's task was cancelled", "not an `Exception`")
@asynccontextmanager
async def session_pool_except_exception(size):
    sessions = [aiohttp.ClientSession() for _ in range(size)]
    queue = asyncio.Queue()
    for session in sessions:
        queue.put_nowait(session)
    try:
        yield queue
    except Exception:
        for session in sessions:
            await session.close()
        raise
    for session in sessions:
        await session.close()


@wrong("q2", "lent out when the block ended")
@asynccontextmanager
async def session_pool_close_what_is_queued(size):
    queue = asyncio.Queue()
    for _ in range(size):
        queue.put_nowait(aiohttp.ClientSession())
    try:
        yield queue
    finally:
        while not queue.empty():
            await queue.get_nowait().close()


@wrong("q2", "the same session more than once")
@asynccontextmanager
async def session_pool_one_session(size):
    async with aiohttp.ClientSession() as session:
        queue = asyncio.Queue()
        for _ in range(size):
            queue.put_nowait(session)
        yield queue


@wrong("q2", "3 of the 3 sessions were still open")
@asynccontextmanager
async def session_pool_never_closed(size):
    queue = asyncio.Queue()
    for _ in range(size):
        queue.put_nowait(aiohttp.ClientSession())
    yield queue


@wrong("q2", "`yield` an `asyncio.Queue`")
@asynccontextmanager
async def session_pool_list(size):
    sessions = [aiohttp.ClientSession() for _ in range(size)]
    try:
        yield sessions
    finally:
        for session in sessions:
            await session.close()


# --- q3: borrow_healthy(queue, connect, is_healthy) ---------------------------------------------------------


@right("q3")
@asynccontextmanager
async def borrow_healthy_reference(queue, connect, is_healthy):
    conn = await queue.get()
    try:
        if not await is_healthy(conn):
            await conn.close()
            conn = await connect()
        yield conn
    finally:
        queue.put_nowait(conn)


@right("q3")
class BorrowHealthyClass:
    def __init__(self, queue, connect, is_healthy):
        self.queue, self.connect, self.is_healthy = queue, connect, is_healthy
        self.conn = None

    async def __aenter__(self):
        self.conn = await self.queue.get()
        try:
            if not await self.is_healthy(self.conn):
                await self.conn.close()
                self.conn = await self.connect()
        except BaseException:
            self.queue.put_nowait(self.conn)
            raise
        return self.conn

    async def __aexit__(self, *exc):
        self.queue.put_nowait(self.conn)
        return False


async def _replace_if_broken(conn, connect, is_healthy):
    if await is_healthy(conn):
        return conn
    print("replacing a broken connection")
    await conn.close()
    return await connect()


@right("q3")
@asynccontextmanager
async def borrow_healthy_helper(queue, connect, is_healthy):
    conn = await queue.get()
    try:
        conn = await _replace_if_broken(conn, connect, is_healthy)
        yield conn
    finally:
        queue.put_nowait(conn)


@right("q3")
@asynccontextmanager
async def borrow_healthy_lent_variable(queue, connect, is_healthy):
    taken = await queue.get()
    lent = taken
    try:
        healthy = await is_healthy(taken)
        if not healthy:
            await taken.close()
            lent = await connect()
        yield lent
    finally:
        queue.put_nowait(lent)


@wrong("q3", "lent the broken connection")
@asynccontextmanager
async def borrow_healthy_no_check(queue, connect, is_healthy):
    conn = await queue.get()
    try:
        yield conn
    finally:
        queue.put_nowait(conn)


@wrong("q3", "never closed")
@asynccontextmanager
async def borrow_healthy_not_closing(queue, connect, is_healthy):
    conn = await queue.get()
    try:
        if not await is_healthy(conn):
            conn = await connect()
        yield conn
    finally:
        queue.put_nowait(conn)


@wrong("q3", "went back into the queue")
@asynccontextmanager
async def borrow_healthy_gives_back_broken(queue, connect, is_healthy):
    taken = await queue.get()
    conn = taken
    try:
        if not await is_healthy(conn):
            await conn.close()
            conn = await connect()
        yield conn
    finally:
        queue.put_nowait(taken)


@wrong("q3", "await queue.put")
@asynccontextmanager
async def borrow_healthy_awaited_put(queue, connect, is_healthy):
    conn = await queue.get()
    try:
        if not await is_healthy(conn):
            await conn.close()
            conn = await connect()
        yield conn
    finally:
        await queue.put(conn)


@wrong("q3", "lent a new one")
@asynccontextmanager
async def borrow_healthy_always_new(queue, connect, is_healthy):
    old = await queue.get()
    await old.close()
    conn = await connect()
    try:
        yield conn
    finally:
        queue.put_nowait(conn)


@wrong("q3", "After the block raised ValueError", "not back in the queue")
@asynccontextmanager
async def borrow_healthy_no_finally(queue, connect, is_healthy):
    conn = await queue.get()
    if not await is_healthy(conn):
        await conn.close()
        conn = await connect()
    yield conn
    queue.put_nowait(conn)


# --- q4 (transfer): process_all(items, handle, workers) ---------------------------------------------------


@right("q4")
async def process_all_with_sentinels(items, handle, workers):
    queue: asyncio.Queue = asyncio.Queue()
    for pair in enumerate(items):
        queue.put_nowait(pair)
    for _ in range(workers):
        queue.put_nowait(None)  # one "no more work" per worker
    results = [None] * len(items)

    async def worker():
        while (pair := await queue.get()) is not None:
            index, item = pair
            results[index] = await handle(item)

    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
    return results


async def _work_through(queue: asyncio.Queue, handle, results: list) -> None:
    while True:
        try:
            index, item = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        results[index] = await handle(item)


@right("q4")
async def process_all_get_nowait_helper(items: list, handle, workers: int) -> list:
    queue: asyncio.Queue = asyncio.Queue()
    for index, item in enumerate(items):
        queue.put_nowait((index, item))
    results: list = [None] * len(items)
    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(_work_through(queue, handle, results))
    return results


@right("q4")
async def process_all_shared_iterator(items, handle, workers):
    todo = iter(enumerate(items))  # every worker takes the next pair from the same iterator
    results = {}

    async def worker(name):
        for index, item in todo:
            print(f"worker {name} handles item {index}")
            results[index] = await handle(item)

    async with asyncio.TaskGroup() as tg:
        for name in range(workers):
            tg.create_task(worker(name))
    return [results[index] for index in range(len(items))]


@right("q4")
async def process_all_with_a_semaphore(items, handle, workers):
    slots = asyncio.Semaphore(workers)

    async def handle_in_a_slot(item):
        async with slots:
            return await handle(item)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(handle_in_a_slot(item)) for item in items]
    return [task.result() for task in tasks]


@wrong("q4", "were still running (waiting for more")
async def process_all_leaving_workers(items, handle, workers):
    queue: asyncio.Queue = asyncio.Queue()
    for pair in enumerate(items):
        queue.put_nowait(pair)
    results = [None] * len(items)

    async def worker():
        while True:
            index, item = await queue.get()
            results[index] = await handle(item)
            queue.task_done()

    for _ in range(workers):
        asyncio.create_task(worker())  # noqa: RUF006 -- the mistake under test
    await queue.join()
    return results  # the workers still wait on the empty queue


@wrong("q4", "ran in batches of 3")
async def process_all_in_batches(items, handle, workers):
    results = []
    for start in range(0, len(items), workers):
        results += await asyncio.gather(*(handle(item) for item in items[start : start + workers]))
    return results


@wrong("q4", "ran at once with `workers=3`")
async def process_all_all_at_once(items, handle, workers):
    return await asyncio.gather(*(handle(item) for item in items))


@wrong("q4", "After `handle` failed, 1 of `process_all`'s tasks were still running")
async def process_all_with_gather(items, handle, workers):
    queue: asyncio.Queue = asyncio.Queue()
    for pair in enumerate(items):
        queue.put_nowait(pair)
    results = {}

    async def worker():
        while not queue.empty():
            index, item = queue.get_nowait()
            results[index] = await handle(item)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return [results[i] for i in range(len(items))]


@wrong("q4", "slots stayed free while items were waiting", "at most 1 of your `handle` calls ran")
async def process_all_one_at_a_time(items, handle, workers):
    return [await handle(item) for item in items]


@wrong("q4", "`process_all(items, handle, 3)` returned", "expected [0, 10, 20, 30, 40")
async def process_all_in_finishing_order(items, handle, workers):
    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    results = []

    async def worker():
        while not queue.empty():
            results.append(await handle(queue.get_nowait()))

    async with asyncio.TaskGroup() as tg:
        for _ in range(workers):
            tg.create_task(worker())
    return results
