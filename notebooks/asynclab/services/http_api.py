"""The local HTTP API (aiohttp.web) the notebooks talk to as if it were a remote service.

Endpoints (all GET unless said otherwise; `delay` defaults to the server's latency, at most 5 s):

- ``/items?page=1&per_page=10&delay=``   one page of items: {"results", "page", "per_page", "total", "pages"}
- ``/slow?delay=``                       answers {"delay": ...} after the delay
- ``/stream?lines=5&interval=0.1&delay=`` chunked text, one line every `interval` seconds (see streaming.py)
- ``/ws?count=5&interval=0.1&end=close&delay=`` a WebSocket (see streaming.py)
- ``/stats``, ``POST /stats/reset``      requests in flight now, the most at once, how many were served

Every bad parameter or unknown path gets a JSON answer {"error": "..."} with status 400/404/405.
Nothing is served from the file system: the items are read once, when the app is made.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .params import BadParameter, seconds, whole_number
from .state import STATE, RequestRecord, ServerState
from .streaming import get_stream, get_ws

ENDPOINTS = ["GET /items", "GET /slow", "GET /stream", "GET /ws", "GET /stats", "POST /stats/reset"]
UNCOUNTED_PATHS = {"/stats", "/stats/reset"}  # looking at the counters must not change them
CLIENT_GONE = 499  # status logged for a request that was cancelled before it was answered (nginx's code)


def error_response(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def count_and_log_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep the in-flight counters and the request log; answer 429 above max_concurrency."""
    state = request.app[STATE]
    if request.path in UNCOUNTED_PATHS:
        return await handler(request)
    start, status = time.perf_counter(), CLIENT_GONE
    response: web.StreamResponse
    try:
        limit = state.max_concurrency
        if limit is not None and state.in_flight >= limit:
            status = 429
            response = error_response(
                429, f"too many requests: {state.in_flight} already in flight (max_concurrency={limit})"
            )
            response.headers["Retry-After"] = "1"
            return response
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            response = await handler(request)
            status = response.status
            return response
        except ConnectionResetError:
            # The client hung up before its answer started (a stopped cell): no one to answer, and
            # no error to log. aiohttp finds the connection gone when it sends this, and says nothing.
            return web.Response(status=CLIENT_GONE)
        finally:
            # Runs before the response is sent, so a client never sees its answer before the count drops.
            state.in_flight -= 1
    finally:
        state.served += 1
        label = f"{request.method} {request.path_qs}"
        state.request_log.append(RequestRecord(label, start, time.perf_counter(), status, request.path))


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every refusal into a JSON body, so a client can always call `await resp.json()`."""
    try:
        return await handler(request)
    except BadParameter as exc:
        return error_response(400, str(exc))
    except web.HTTPNotFound:
        return error_response(404, f"no such endpoint: {request.path}", endpoints=ENDPOINTS)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        response = error_response(405, f"{request.method} is not allowed on {request.path}, only {allowed}")
        response.headers["Allow"] = allowed
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason)


async def get_items(request: web.Request) -> web.Response:
    state = request.app[STATE]
    page = whole_number(request.query, "page", default=1, minimum=1)
    per_page = whole_number(request.query, "per_page", default=10, minimum=1, maximum=100)
    delay = seconds(request.query, "delay", default=state.latency)
    await asyncio.sleep(delay)
    first = (page - 1) * per_page
    total = len(state.items)
    return web.json_response(
        {
            "results": state.items[first : first + per_page],  # past the last page: an empty list
            "page": page,
            "per_page": per_page,
            "total": total,
            "pages": math.ceil(total / per_page),
        }
    )


async def get_slow(request: web.Request) -> web.Response:
    delay = seconds(request.query, "delay", default=request.app[STATE].latency)
    await asyncio.sleep(delay)
    return web.json_response({"delay": delay})


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].stats())


async def reset_stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.reset_stats()
    return web.json_response(state.stats())


async def close_open_websockets(app: web.Application) -> None:
    """On shutdown, end WebSocket conversations with a proper close frame instead of a dropped line."""
    for ws in list(app[STATE].open_websockets):
        await ws.close(code=1001, message=b"server shutting down")  # 1001 = going away


def make_app(*, items_file: Path, latency: float, max_concurrency: int | None) -> web.Application:
    items = json.loads(items_file.read_text(encoding="utf-8"))
    app = web.Application(middlewares=[count_and_log_requests, errors_as_json])
    app[STATE] = ServerState(items=items, latency=latency, max_concurrency=max_concurrency)
    app.router.add_get("/items", get_items)
    app.router.add_get("/slow", get_slow)
    app.router.add_get("/stream", get_stream)
    app.router.add_get("/ws", get_ws)
    app.router.add_get("/stats", get_stats)
    app.router.add_post("/stats/reset", reset_stats)
    app.on_shutdown.append(close_open_websockets)
    return app
