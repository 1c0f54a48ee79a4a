"""Helpers for notebook 01 (async for): plumbing the lesson cells use but need not show.

- ``counting_connections()``: how many TCP connections the code inside a ``with`` block opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

__all__ = ["ConnectionCount", "counting_connections"]


class ConnectionCount:
    """What ``counting_connections()`` gives: ``opened`` is the number of connections opened so far."""

    def __init__(self) -> None:
        self.opened = 0

    def __repr__(self) -> str:
        return f"<ConnectionCount opened={self.opened}>"


@contextlib.contextmanager
def counting_connections() -> Iterator[ConnectionCount]:
    """Count the TCP connections opened on the running event loop while the block runs.

        with counting_connections() as connections:
            ...                      # e.g. requests with aiohttp
        print(connections.opened)

    Every client on the loop (aiohttp's connector included) opens its connections with
    ``loop.create_connection``; for the duration of the block that method is wrapped to count the
    calls. Use it inside a cell or a coroutine (it needs the running loop).
    """
    loop = asyncio.get_running_loop()
    count = ConnectionCount()
    original = loop.create_connection
    shadowed = loop.__dict__.get("create_connection")  # another counter's wrapper, if nested

    async def create_connection(*args: Any, **kwargs: Any) -> Any:
        count.opened += 1
        return await original(*args, **kwargs)

    # An instance attribute: shadows the method (mypy forbids assigning to a method; that is the point).
    loop.create_connection = create_connection  # type: ignore[method-assign]
    try:
        yield count
    finally:
        if loop.__dict__.get("create_connection") is create_connection:
            if shadowed is None:
                del loop.create_connection  # the loop's own method again
            else:
                loop.create_connection = shadowed  # type: ignore[method-assign]
