"""Reading query parameters strictly: every bad value becomes a clear 400 message, never a 500 or a hang."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping

MAX_DELAY = 5.0  # seconds: the longest any request may be asked to wait (delay, interval)

_WHOLE_NUMBER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]{1,9}(\.[0-9]{0,9})?|\.[0-9]{1,9}")  # no sign, exponent, nan or inf


class BadParameter(ValueError):
    """A query parameter the server refuses; the message is sent back as the 400 error."""


def whole_number(query: Mapping[str, str], name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    """The parameter as an int between minimum and maximum (inclusive), or `default` when absent."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else None
    except ValueError:  # more digits than int() accepts (thousands): not a page anyone has
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        expected = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise BadParameter(f"{name} must be a whole number {expected}, got {raw!r}")
    return value


def seconds(query: Mapping[str, str], name: str, *, default: float, maximum: float = MAX_DELAY) -> float:
    """The parameter as a float number of seconds from 0 to maximum, or `default` when absent."""
    raw = query.get(name)
    if raw is None:
        return default
    value = float(raw) if _DECIMAL.fullmatch(raw) else math.nan
    if not 0 <= value <= maximum:  # also false for nan
        raise BadParameter(f"{name} must be a number of seconds from 0 to {maximum:g}, got {raw!r}")
    return value


def one_of(query: Mapping[str, str], name: str, *, default: str, choices: Collection[str]) -> str:
    """The parameter as one of a few fixed words, or `default` when absent."""
    raw = query.get(name, default)
    if raw not in choices:
        raise BadParameter(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw
