"""Real local services for the examples: an aiohttp server on 127.0.0.1 and an SQLite database.

    svc = await asynclab.start_services()       # or: async with asynclab.start_services() as svc:
    svc.base_url                                # "http://127.0.0.1:<port>", a port the OS picked
    async with asynclab.connect() as db: ...    # aiosqlite connection, rows are tuples
    await svc.stop()                            # also done for you when the kernel exits

start_services(*, latency=0.1, max_concurrency=None)
    Starts everything on the running loop, or returns the services already running on it (a re-run
    cell never makes a second server). `latency` is the wait every request gets unless it passes
    `delay`; above `max_concurrency` requests in flight the server answers 429.

The Services object:
    base_url, db_path (pathlib.Path, in a temporary folder), data_dir (the repository's data/)
    requests          list of RequestRecord(label, start, end, status, path); start and end are absolute
                      time.perf_counter() seconds, label is e.g. "GET /items?page=2"; last 10,000 kept.
                      /stats and /stats/reset are neither logged nor counted.
    clear_requests()  empties that log
    stats()           {"in_flight", "max_in_flight", "served"}, as GET /stats; reset_stats() as POST /stats/reset
    latency, max_concurrency   the options, which can be changed while running
    await stop()      stops the server and deletes the database; idempotent. Open WebSockets get a
                      close frame (1001, going away); unfinished requests get 1 s, then are cancelled.

Endpoints (details in http_api.py and streaming.py):
    GET /items?page=1&per_page=10   GET /slow?delay=   GET /stream?lines=5&interval=0.1
    GET /ws?count=5&interval=0.1&end=close|error      GET /stats   POST /stats/reset
    Every data endpoint accepts delay=<seconds, 0 to 5>; bad input gets a 400/404 JSON {"error": ...}.
"""

from .lifecycle import DEFAULT_LATENCY, ServicesStarter, connect, database_path, start_services
from .runner import Services
from .state import RequestRecord

__all__ = [
    "DEFAULT_LATENCY",
    "RequestRecord",
    "Services",
    "ServicesStarter",
    "connect",
    "database_path",
    "start_services",
]
