"""The local services (asynclab.services) through real clients: aiohttp over 127.0.0.1 and aiosqlite.

No pytest-asyncio: each test runs its own asyncio.run(). Warnings are errors in this module, and any
warning or error that aiohttp or asyncio logs fails the test (see the autouse fixture).
"""

import asyncio
import csv
import gc
import json
import logging
import re
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp
import asynclab
import pytest
import yarl
from asynclab.paths import DATA_DIR, ROOT_DIR
from asynclab.services import lifecycle

pytestmark = pytest.mark.filterwarnings("error")

ITEMS = json.loads((DATA_DIR / "items.json").read_text(encoding="utf-8"))
with open(DATA_DIR / "users.csv", newline="", encoding="utf-8") as _file:
    USERS = list(csv.DictReader(_file))


# --- the reference text's patterns, unchanged but for the URL --------------------------------------


async def fetch_pages(url, max_pages=10):
    page = 1
    while page <= max_pages:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}?page={page}") as resp:
                data = await resp.json()
                if not data["results"]:
                    return
                yield data["results"]
                page += 1


async def read_messages(websocket, errors_seen=None):
    async for message in websocket:
        if message.type == aiohttp.WSMsgType.TEXT:
            yield message.data
        elif message.type == aiohttp.WSMsgType.ERROR:
            if errors_seen is not None:  # only so the test can tell this branch really ran
                errors_seen.append(message.data)
            break


async def stream_lines(url):
    async with aiohttp.ClientSession() as session:
        async with session.get(url) as response:
            async for line in response.content:
                yield line.decode()


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def nothing_logged_or_left_running(caplog):
    caplog.set_level(logging.WARNING)
    yield
    gc.collect()  # finalise anything left unclosed now, while warnings are errors
    records = caplog.get_records("setup") + caplog.get_records("call") + caplog.records  # .records: this phase only
    problems = [r for r in records if r.name.split(".")[0] in ("aiohttp", "asyncio")]
    assert not problems, [r.getMessage() for r in problems]
    assert lifecycle.running_services() is None, "a test left services running"


def with_services(scenario, **options):
    """Run `scenario(svc, session)` on fresh services (latency 0 unless given) and a client session."""
    options.setdefault("latency", 0)

    async def main():
        async with asynclab.start_services(**options) as svc:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
                return await scenario(svc, session)

    return asyncio.run(main())


async def get_json(session, url):
    async with session.get(url) as resp:
        return resp.status, await resp.json()


def port_of(url):
    return yarl.URL(url).port


async def refuses_connections(port):
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


# --- /items ----------------------------------------------------------------------------------------


def test_items_pages_have_the_documented_shape():
    async def scenario(svc, session):
        status, first = await get_json(session, f"{svc.base_url}/items?page=1")
        assert status == 200
        assert first == {"results": ITEMS[:10], "page": 1, "per_page": 10, "total": 237, "pages": 24}
        _, no_page = await get_json(session, f"{svc.base_url}/items")
        assert no_page == first  # page defaults to 1
        _, last = await get_json(session, f"{svc.base_url}/items?page=24")
        assert last["results"] == ITEMS[230:]  # a short last page
        _, past = await get_json(session, f"{svc.base_url}/items?page=25")
        assert past["results"] == [] and past["page"] == 25
        _, big = await get_json(session, f"{svc.base_url}/items?page=3&per_page=100")
        assert big["results"] == ITEMS[200:] and big["pages"] == 3

    with_services(scenario)


def test_reference_fetch_pages_reads_the_items_page_by_page():
    async def scenario(svc, session):
        url = f"{svc.base_url}/items"
        pages = [page async for page in fetch_pages(url)]
        assert len(pages) == 10  # max_pages=10 stops it first
        assert [item for page in pages for item in page] == ITEMS[:100]
        every_page = [page async for page in fetch_pages(url, max_pages=1000)]
        assert len(every_page) == 24  # the empty 25th page ends it
        assert [item for page in every_page for item in page] == ITEMS

    with_services(scenario)


# --- /slow, latency, /stats ------------------------------------------------------------------------


def test_every_request_waits_the_default_latency_unless_given_a_delay():
    async def scenario(svc, session):
        assert svc.latency == 0.1
        for path in ("/slow", "/items?page=2"):
            started = time.perf_counter()
            status, _ = await get_json(session, svc.base_url + path)
            assert status == 200 and time.perf_counter() - started >= 0.09
        started = time.perf_counter()
        status, body = await get_json(session, f"{svc.base_url}/slow?delay=0.3")
        assert status == 200 and body == {"delay": 0.3} and time.perf_counter() - started >= 0.29

    with_services(scenario, latency=0.1)


def test_200_concurrent_requests_are_all_served():
    async def scenario(svc, session):
        async def one(n):
            return await get_json(session, f"{svc.base_url}/items?page={n % 30 + 1}")

        answers = await asyncio.gather(*(one(n) for n in range(200)))
        assert [status for status, _ in answers] == [200] * 200
        assert svc.stats()["served"] == 200 and svc.stats()["in_flight"] == 0

    with_services(scenario, latency=0.05)


@pytest.mark.parametrize("limit, expected", [(3, 3), (None, 7)])
def test_max_in_flight_is_exact(limit, expected):
    async def scenario(svc, session):
        gate = asyncio.Semaphore(limit or 1000)

        async def one():
            async with gate:
                return await get_json(session, f"{svc.base_url}/slow?delay=0.5")

        answers = await asyncio.gather(*(one() for _ in range(7)))
        assert [status for status, _ in answers] == [200] * 7
        _, stats = await get_json(session, f"{svc.base_url}/stats")
        assert stats == {"in_flight": 0, "max_in_flight": expected, "served": 7}
        assert svc.stats() == stats

    with_services(scenario)


def test_stats_requests_are_not_counted_and_reset_sets_zero():
    async def scenario(svc, session):
        for _ in range(3):
            await get_json(session, f"{svc.base_url}/slow")
        for _ in range(2):  # looking at the counters does not change them
            assert await get_json(session, f"{svc.base_url}/stats") == (
                200,
                {"in_flight": 0, "max_in_flight": 1, "served": 3},
            )
        async with session.post(f"{svc.base_url}/stats/reset") as resp:
            assert resp.status == 200
            assert await resp.json() == {"in_flight": 0, "max_in_flight": 0, "served": 0}
        await get_json(session, f"{svc.base_url}/slow")
        svc.reset_stats()
        assert svc.stats() == {"in_flight": 0, "max_in_flight": 0, "served": 0}
        assert [r.path for r in svc.requests] == ["/slow"] * 4  # nor are they logged

    with_services(scenario)


def test_max_concurrency_answers_429_with_json_above_the_limit():
    async def scenario(svc, session):
        answers = await asyncio.gather(*(get_json(session, f"{svc.base_url}/slow?delay=0.5") for _ in range(5)))
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200, 200, 429, 429, 429]
        assert "max_concurrency=2" in next(body for status, body in answers if status == 429)["error"]
        assert svc.stats()["max_in_flight"] == 2
        assert sorted(r.status for r in svc.requests) == statuses
        svc.max_concurrency = None  # can be lifted while running
        answers = await asyncio.gather(*(get_json(session, f"{svc.base_url}/slow?delay=0.2") for _ in range(5)))
        assert [status for status, _ in answers] == [200] * 5

    with_services(scenario, max_concurrency=2)


# --- the request log -----------------------------------------------------------------------------


def test_request_log_has_labels_and_absolute_perf_counter_times():
    async def scenario(svc, session):
        before = time.perf_counter()
        await get_json(session, f"{svc.base_url}/items?page=2")
        await get_json(session, f"{svc.base_url}/items?page=abc")
        after = time.perf_counter()
        first, second = svc.requests
        assert (first.label, first.status, first.path) == ("GET /items?page=2", 200, "/items")
        assert (second.label, second.status) == ("GET /items?page=abc", 400)
        assert before <= first.start <= first.end <= second.start <= second.end <= after
        assert first.end - first.start >= 0.04  # the latency is inside the record
        svc.clear_requests()
        assert svc.requests == []

    with_services(scenario, latency=0.05)


# --- /stream ---------------------------------------------------------------------------------------


def test_reference_stream_lines_sees_lines_arrive_over_time():
    async def scenario(svc, session):
        arrivals, lines = [], []
        async for line in stream_lines(f"{svc.base_url}/stream?lines=5&interval=0.2"):
            arrivals.append(time.perf_counter())
            lines.append(line)
        assert lines == [f"line {n} of 5\n" for n in range(1, 6)]
        assert arrivals[-1] - arrivals[0] >= 0.4  # 0.8 s apart on an idle machine: lines came one by one
        assert [line async for line in stream_lines(f"{svc.base_url}/stream")] == [
            f"line {n} of 5\n" for n in range(1, 6)
        ]  # the defaults
        async with session.get(f"{svc.base_url}/stream?lines=0") as resp:
            assert resp.status == 200 and await resp.text() == ""

    with_services(scenario)


def test_stream_client_leaving_early_ends_the_handler_cleanly():
    async def scenario(svc, session):
        async with session.get(f"{svc.base_url}/stream?lines=50&interval=0.05") as resp:
            assert await resp.content.readline() == b"line 1 of 50\n"
        # Leaving the block mid-body closes the connection; the handler notices at its next write.
        await until(lambda: svc.stats()["in_flight"] == 0)
        assert svc.requests[-1].status == 200
        async for line in stream_lines(f"{svc.base_url}/stream?lines=30&interval=0.05"):
            break  # the reference pattern, abandoned after one line
        await until(lambda: svc.stats()["in_flight"] == 0)

    with_services(scenario)


@pytest.mark.parametrize("path", ["/stream", "/ws"])
def test_a_client_gone_before_the_answer_starts_is_no_error(path):
    """A stopped cell hangs up while the server still waits out the delay: logged as 499, quietly."""

    async def scenario(svc, session):
        url = f"{svc.base_url}{path}?delay=0.2"
        request = session.ws_connect(url) if path == "/ws" else session.get(url)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                async with request:
                    pass
        await until(lambda: svc.stats()["in_flight"] == 0)
        await asyncio.sleep(0.05)  # the server has nothing more to do, or to log
        assert svc.requests[-1].status == 499

    with_services(scenario)


# --- /ws -------------------------------------------------------------------------------------------


def test_reference_read_messages_ends_at_a_normal_close():
    async def scenario(svc, session):
        async with session.ws_connect(f"{svc.base_url}/ws?count=3&interval=0.05") as ws:
            errors = []
            assert [m async for m in read_messages(ws, errors)] == [
                "message 1 of 3",
                "message 2 of 3",
                "message 3 of 3",
            ]
            assert errors == [] and ws.close_code == 1000
        async with session.ws_connect(f"{svc.base_url}/ws") as ws:
            assert len([m async for m in read_messages(ws)]) == 5  # the default count

    with_services(scenario)


def test_end_error_makes_the_client_yield_a_ws_error_message():
    async def scenario(svc, session):
        async with session.ws_connect(f"{svc.base_url}/ws?count=2&interval=0.05&end=error") as ws:
            errors = []
            assert [m async for m in read_messages(ws, errors)] == ["message 1 of 2", "message 2 of 2"]
            assert len(errors) == 1 and "opcode=3" in str(errors[0])  # the ERROR branch really ran
            assert ws.close_code == 1002  # protocol error
        async with session.ws_connect(f"{svc.base_url}/ws?count=1&end=error") as ws:
            kinds = [message.type async for message in ws]  # without the break, iteration ends right after
            assert kinds == [aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.ERROR]
        await until(lambda: svc.stats()["in_flight"] == 0)

    with_services(scenario)


def test_ws_echoes_text_and_survives_the_client_leaving_early():
    async def scenario(svc, session):
        async with session.ws_connect(f"{svc.base_url}/ws?count=3&interval=0.2") as ws:
            await ws.send_str("hello")
            received = [m async for m in read_messages(ws)]
            assert "echo: hello" in received and received[-1] == "message 3 of 3"
        async with session.ws_connect(f"{svc.base_url}/ws?count=100&interval=0.05") as ws:
            assert (await ws.receive()).data == "message 1 of 100"
        await until(lambda: svc.stats()["in_flight"] == 0)
        status, body = await get_json(session, f"{svc.base_url}/ws")  # a plain GET, no handshake
        assert status == 400 and "ws_connect" in body["error"]

    with_services(scenario)


def test_stop_ends_open_streams_and_websockets():
    async def main():
        svc = await asynclab.start_services(latency=0)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{svc.base_url}/ws?count=1000&interval=0.05") as ws:
                async with session.get(f"{svc.base_url}/stream?lines=1000&interval=0.05") as stream:
                    assert (await ws.receive()).type == aiohttp.WSMsgType.TEXT
                    await stream.content.readline()
                    started = time.perf_counter()
                    await svc.stop()
                    assert time.perf_counter() - started < 10
                    await svc.stop()  # idempotent
                    message = await ws.receive()
                    while message.type == aiohttp.WSMsgType.TEXT:  # messages sent before the stop
                        message = await ws.receive()
                    assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1001)  # going away
                    with pytest.raises(aiohttp.ClientPayloadError):
                        await stream.read()

    asyncio.run(main())


# --- bad input -------------------------------------------------------------------------------------

BAD_REQUESTS = [
    ("/items?page=abc", 400, "page must be a whole number >= 1, got 'abc'"),
    ("/items?page=-1", 400, "page must be a whole number >= 1, got '-1'"),
    ("/items?page=0", 400, "page must be a whole number >= 1, got '0'"),
    ("/items?page=1.5", 400, "page must be a whole number"),
    ("/items?page=" + "9" * 5000, 400, "page must be a whole number"),
    (f"/items?per_page={10**8}", 400, "per_page must be a whole number from 1 to 100"),
    ("/items?per_page=0", 400, "per_page must be a whole number from 1 to 100"),
    ("/items?delay=1e9", 400, "delay must be a number of seconds from 0 to 5, got '1e9'"),
    ("/slow?delay=1e9", 400, "delay must be a number of seconds from 0 to 5"),
    ("/slow?delay=nan", 400, "got 'nan'"),
    ("/slow?delay=inf", 400, "got 'inf'"),
    ("/slow?delay=-1", 400, "got '-1'"),
    ("/slow?delay=5.01", 400, "got '5.01'"),
    ("/slow?delay=", 400, "got ''"),
    ("/stream?lines=-5", 400, "lines must be a whole number from 0 to 1000, got '-5'"),
    ("/stream?interval=-1", 400, "interval must be a number of seconds from 0 to 5, got '-1'"),
    ("/stream?interval=nan", 400, "interval must be a number of seconds"),
    ("/ws?count=abc", 400, "count must be a whole number from 0 to 1000, got 'abc'"),
    ("/ws?end=crash", 400, "end must be one of close, error, got 'crash'"),
    ("/ws?interval=inf", 400, "interval must be a number of seconds"),
    ("/nowhere", 404, "no such endpoint: /nowhere"),
    ("/items/1", 404, "no such endpoint: /items/1"),
    ("/data/users.csv", 404, "no such endpoint"),
    ("/stats/reset", 405, "GET is not allowed on /stats/reset, only POST"),
]


@pytest.mark.parametrize("path, status, message", BAD_REQUESTS, ids=[p[:40] for p, _, _ in BAD_REQUESTS])
def test_bad_input_gets_a_json_error_quickly(path, status, message):
    async def scenario(svc, session):
        started = time.perf_counter()
        async with session.get(svc.base_url + path) as resp:
            assert resp.status == status
            assert resp.content_type == "application/json"
            body = await resp.json()
        assert message in body["error"]
        assert time.perf_counter() - started < 2  # refused at once: neither a hang nor the latency
        if not path.startswith("/stats"):  # /stats paths are never logged
            assert svc.requests[-1].status == status

    with_services(scenario, latency=1.0)


@pytest.mark.parametrize(
    "target", ["/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/items/../../etc/passwd", "/..%2f..%2fetc%2fpasswd"]
)
def test_dot_dot_paths_are_a_json_404(target):
    """aiohttp's server does not resolve "..": the path reaches the router as sent and matches nothing.

    (aiohttp's client would resolve "/../etc/passwd" to "/etc/passwd" before sending, so the raw
    request line is written by hand here, and once more through the client with encoded=True.)
    """

    async def scenario(svc, session):
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(svc.base_url))
        writer.write(f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        head, _, body = (await reader.read()).partition(b"\r\n\r\n")
        writer.close()
        await writer.wait_closed()
        assert head.startswith(b"HTTP/1.1 404 ")
        assert b"application/json" in head
        assert json.loads(body)["error"].startswith("no such endpoint: ")
        async with session.get(yarl.URL(svc.base_url + target, encoded=True)) as resp:
            assert resp.status == 404 and "no such endpoint" in (await resp.json())["error"]

    with_services(scenario)


def test_options_are_checked_when_called():
    for bad in (
        {"latency": -1},
        {"latency": float("nan")},
        {"latency": 60},
        {"latency": "0.1"},
        {"max_concurrency": 0},
        {"max_concurrency": 2.5},
    ):
        with pytest.raises(ValueError):
            asynclab.start_services(**bad)
    with pytest.raises(TypeError):
        asynclab.start_services(0.1)  # keyword-only
    with pytest.raises(AttributeError, match=re.escape("svc = await asynclab.start_services()")):
        asynclab.start_services().base_url  # a forgotten await gets a hint, and nothing starts


# --- starting, re-starting, stopping ---------------------------------------------------------------


def test_start_again_on_the_same_loop_returns_the_running_services():
    async def main():
        first = await asynclab.start_services(latency=0)
        again = await asynclab.start_services(latency=0.2)
        assert again is first and first.latency == 0.2  # one server, with the latest options
        both = await asyncio.gather(asynclab.start_services(), asynclab.start_services())
        assert both[0] is both[1] is first
        old_port, old_db = port_of(first.base_url), first.db_path
        await first.stop()
        await first.stop()  # idempotent
        assert await refuses_connections(old_port)
        assert not old_db.exists() and not old_db.parent.exists()
        replacement = await asynclab.start_services()
        assert replacement is not first and replacement.running
        async with aiohttp.ClientSession() as session:
            assert (await get_json(session, f"{replacement.base_url}/items"))[0] == 200
        await replacement.stop()

    asyncio.run(main())


def test_services_left_on_a_finished_loop_are_replaced():
    async def start_and_leave():
        svc = await asynclab.start_services(latency=0)
        async with aiohttp.ClientSession() as session:  # used, so it had connections too
            assert (await get_json(session, f"{svc.base_url}/slow"))[0] == 200
        return svc

    old = asyncio.run(start_and_leave())  # asyncio.run closes that loop, with the server still open

    async def start_again():
        async with asynclab.start_services(latency=0) as svc:
            assert svc is not old and not old.running
            assert await refuses_connections(port_of(old.base_url))
            assert not old.db_path.exists()
            async with aiohttp.ClientSession() as session:
                assert (await get_json(session, f"{svc.base_url}/slow"))[0] == 200

    asyncio.run(start_again())


def test_restarting_across_loops_leaves_no_warning_even_at_exit():
    """In a fresh interpreter with every warning an error: two asyncio.run()s, neither stopping."""
    script = textwrap.dedent("""
        import asyncio, aiohttp, asynclab

        async def use_services():
            svc = await asynclab.start_services(latency=0)
            async with aiohttp.ClientSession() as session:
                async with session.get(svc.base_url + "/stream?lines=2&interval=0") as resp:
                    await resp.text()
            return svc

        first = asyncio.run(use_services())
        second = asyncio.run(use_services())
        assert first is not second and not first.running
        print("ok", second.db_path)
    """)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],  # every warning, ResourceWarning too, is an error
        cwd=ROOT_DIR / "notebooks",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("ok ")
    assert not Path(result.stdout.split()[1]).exists()  # the database went at exit


def test_exit_stops_services_left_on_an_open_loop():
    """Like a kernel shutting down: the loop is stopped but open, and a request is still streaming."""
    script = textwrap.dedent("""
        import asyncio, atexit, socket

        def report():  # registered before asynclab's exit handler, so it runs after it
            raw.close()
            print(svc.running, svc.stats()["in_flight"], svc.db_path.exists())
        atexit.register(report)

        import asynclab, yarl

        loop = asyncio.new_event_loop()
        svc = loop.run_until_complete(asynclab.start_services(latency=0))
        raw = socket.create_connection(("127.0.0.1", yarl.URL(svc.base_url).port))
        raw.sendall(b"GET /stream?lines=1000&interval=0.05 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        loop.run_until_complete(asyncio.sleep(0.3))
        assert svc.stats()["in_flight"] == 1
    """)
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],  # every warning, ResourceWarning too, is an error
        cwd=ROOT_DIR / "notebooks",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == ["False", "0", "False"]


# --- the database ----------------------------------------------------------------------------------


def test_database_holds_every_csv_row_and_lives_outside_the_repo():
    async def scenario(svc, session):
        assert svc.db_path.is_relative_to(tempfile.gettempdir()) and not svc.db_path.is_relative_to(ROOT_DIR)
        assert asynclab.services.database_path() == svc.db_path
        async with asynclab.connect() as db:
            async with db.execute("SELECT id, name, email, city, signup_date, plan FROM users ORDER BY id") as cur:
                rows = [row async for row in cur]
        assert len(rows) == len(USERS) == 1000
        assert isinstance(rows[0], tuple)  # plain tuples, as documented
        assert rows == [(int(u["id"]), u["name"], u["email"], u["city"], u["signup_date"], u["plan"]) for u in USERS]

    with_services(scenario)


async def transfer(db, source, target, amount):
    """The transaction lesson's transfer: credit first, so a failing debit has something to undo."""
    try:
        await db.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (amount, target))
        await db.execute("UPDATE accounts SET balance = balance - ? WHERE id = ?", (amount, source))
        await db.commit()
    except sqlite3.IntegrityError:
        await db.rollback()
        raise


def test_failed_transfer_rolls_back_and_a_good_one_commits():
    async def balances():
        async with asynclab.connect() as db:  # a separate connection sees only committed data
            return await db.execute_fetchall("SELECT id, owner, balance FROM accounts ORDER BY id")

    async def scenario(svc, session):
        before = await balances()
        assert before == [(1, "Alice", 100), (2, "Bob", 50), (3, "Carol", 0)]
        async with asynclab.connect() as db:
            with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
                await transfer(db, 2, 3, 500)  # Bob has 50
            assert await balances() == before
            assert await db.execute_fetchall("SELECT balance FROM accounts WHERE id = 3") == [(0,)]
            await transfer(db, 1, 3, 30)
        assert await balances() == [(1, "Alice", 70), (2, "Bob", 50), (3, "Carol", 30)]

    with_services(scenario)


def test_connect_without_services_uses_a_database_of_its_own():
    async def main():
        async with asynclab.connect() as db:
            db.row_factory = sqlite3.Row
            rows = await db.execute_fetchall("SELECT * FROM users WHERE id = 1")
            await db.execute("UPDATE accounts SET balance = 99 WHERE id = 3")
            await db.commit()
        assert dict(rows[0]) == {**USERS[0], "id": 1}
        async with asynclab.connect() as db:  # the same database on later calls
            assert await db.execute_fetchall("SELECT balance FROM accounts WHERE id = 3") == [(99,)]
        path = asynclab.services.database_path()
        assert path.is_relative_to(tempfile.gettempdir()) and path.exists()
        async with asynclab.start_services(latency=0) as svc:  # running services have their own
            assert svc.db_path != path and asynclab.services.database_path() == svc.db_path

    assert lifecycle.running_services() is None
    asyncio.run(main())


# --- the data files and a real kernel --------------------------------------------------------------


def test_data_files_are_what_make_data_writes(tmp_path):
    subprocess.run(
        [sys.executable, str(ROOT_DIR / "scripts" / "make_data.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    for name in ("items.json", "users.csv", "server-log.txt"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
    assert len(ITEMS) == 237 and len(USERS) == 1000
    assert len((DATA_DIR / "server-log.txt").read_text(encoding="utf-8").splitlines()) == 10_000


KERNEL_CELLS = [
    "import warnings; warnings.simplefilter('default')  # show ResourceWarning, normally hidden",
    "import asyncio, aiohttp, asynclab\nsvc = await asynclab.start_services()\nfirst = svc.base_url\nsvc",
    # the same cell run again: the same services
    "svc = await asynclab.start_services()\nassert svc.base_url == first\nsvc",
    """async with aiohttp.ClientSession() as session:
    async with session.get(f"{svc.base_url}/items?page=2") as resp:
        assert (await resp.json())["page"] == 2
    async with session.get(f"{svc.base_url}/stream?lines=2") as resp:
        print([line async for line in resp.content])
async with asynclab.connect() as db:
    print(await db.execute_fetchall("SELECT count(*) FROM users"))""",
    "await svc.stop()\nsvc = await asynclab.start_services()\nassert svc.base_url != first\nprint(svc.db_path)",
]


@pytest.mark.notebook
def test_kernel_reuses_services_and_shuts_down_silently():
    """Cells in a real ipykernel, then a normal kernel shutdown with the services still running."""
    import nbformat
    from nbharness import execute_notebook

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in KERNEL_CELLS])
    shutdown_output = execute_notebook(notebook, ROOT_DIR / "notebooks")  # raises if a cell fails
    outputs = [output for cell in notebook.cells for output in cell.outputs]
    assert not [o for o in outputs if o.get("name") == "stderr" or o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs)
    assert "[b'line 1 of 2\\n', b'line 2 of 2\\n']" in printed and "[(1000,)]" in printed
    # ipykernel's own start-up notice about unencrypted local TCP is the only line allowed.
    assert [line for line in shutdown_output.splitlines() if "running over TCP without encryption" not in line] == []
    db_path = Path(printed.strip().splitlines()[-1])
    assert db_path.name == "asynclab.sqlite3" and not db_path.exists()  # removed when the kernel exited
