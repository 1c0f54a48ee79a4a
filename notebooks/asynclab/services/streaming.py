"""The two long-lived endpoints: a chunked text stream and a WebSocket.

GET /stream?lines=5&interval=0.1&delay=<latency>
    After `delay`, a text/plain response in chunked encoding: "line 1 of 5\\n", then one more line every
    `interval` seconds. `async for line in response.content` sees each line as it arrives.
    A client that hangs up early just ends the stream (nothing is logged as an error).

GET /ws?count=5&interval=0.1&end=close&delay=<latency>
    After `delay`, the handshake; then `count` text messages "message 1 of 5", ... `interval` seconds
    apart. Any text the client sends meanwhile is answered at once with "echo: <text>". Then:

    end=close  a normal close (code 1000): the aiohttp client's `async for msg in ws` just stops,
               and `ws.close_code == 1000`.
    end=error  the server sends a frame with a reserved opcode (3), which the WebSocket protocol
               forbids. The aiohttp client's `async for msg in ws` then yields one message with
               `msg.type == WSMsgType.ERROR` (`msg.data` is the WebSocketError "Unexpected opcode=3"),
               the client closes with code 1002 (protocol error), and the next iteration stops.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import WSMsgType, web

from .params import BadParameter, one_of, seconds, whole_number
from .state import STATE

MAX_LINES = 1000
MAX_MESSAGES = 1000
# FIN bit + opcode 3, payload length 0. Opcodes 3-7 are reserved, so every client must reject this frame.
FRAME_WITH_RESERVED_OPCODE = bytes([0x80 | 0x3, 0x00])
CLIENT_REACTION_TIMEOUT = 5.0  # how long end=error waits for the client to close after the bad frame


async def get_stream(request: web.Request) -> web.StreamResponse:
    query = request.query
    lines = whole_number(query, "lines", default=5, minimum=0, maximum=MAX_LINES)
    interval = seconds(query, "interval", default=0.1)
    delay = seconds(query, "delay", default=request.app[STATE].latency)
    await asyncio.sleep(delay)

    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.enable_chunked_encoding()  # the length isn't known up front: send it piece by piece
    await response.prepare(request)
    try:
        for number in range(1, lines + 1):
            if number > 1:
                await asyncio.sleep(interval)
            await response.write(f"line {number} of {lines}\n".encode())
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client stopped reading and hung up: there is no one left to send to, and no error
    return response


async def get_ws(request: web.Request) -> web.WebSocketResponse:
    query = request.query
    count = whole_number(query, "count", default=5, minimum=0, maximum=MAX_MESSAGES)
    interval = seconds(query, "interval", default=0.1)
    end = one_of(query, "end", default="close", choices=("close", "error"))
    delay = seconds(query, "delay", default=request.app[STATE].latency)

    # compress=False keeps every frame byte-for-byte as written, including the deliberately bad one.
    ws = web.WebSocketResponse(compress=False, timeout=2.0)
    if not ws.can_prepare(request).ok:
        raise BadParameter("/ws is a WebSocket endpoint: connect with session.ws_connect(url)")
    await asyncio.sleep(delay)
    await ws.prepare(request)

    open_websockets = request.app[STATE].open_websockets
    open_websockets.add(ws)
    echoing = asyncio.create_task(echo_text_messages(ws))
    try:
        await send_messages(ws, count, interval)
        if end == "error" and not ws.closed and request.transport is not None:
            request.transport.write(FRAME_WITH_RESERVED_OPCODE)  # straight to the socket, unframed
            # The client answers the bad frame by closing; wait for that instead of racing it.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(echoing), CLIENT_REACTION_TIMEOUT)
        await ws.close()
    finally:
        open_websockets.discard(ws)
        await stop_task(echoing)
    return ws


async def send_messages(ws: web.WebSocketResponse, count: int, interval: float) -> None:
    for number in range(1, count + 1):
        if number > 1:
            await asyncio.sleep(interval)
        if ws.closed:  # the client left (or the server is shutting down)
            return
        with contextlib.suppress(ConnectionResetError):
            await ws.send_str(f"message {number} of {count}")


async def echo_text_messages(ws: web.WebSocketResponse) -> None:
    """Runs beside send_messages: answers each text message; ends when the connection closes."""
    async for message in ws:
        if message.type == WSMsgType.TEXT and not ws.closed:
            with contextlib.suppress(ConnectionResetError):
                await ws.send_str(f"echo: {message.data}")


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel a helper task and wait for it (asyncio.wait, unlike await, never mistakes its
    cancellation for our own)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.result()  # a real error in the helper surfaces here instead of being lost
