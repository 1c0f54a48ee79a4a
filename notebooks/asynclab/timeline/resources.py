"""Resource tracks: how a Lock, Semaphore, Queue, Event or Condition was used over time.

A track is found three ways: the block's own namespace is scanned when the block starts (a
``sem = asyncio.Semaphore(2)`` written before ``async with Timeline()``), a task waiting on one
(``Lock.acquire``, ``Queue.get``, ... on the await chain, see ``waits.describe_wait``) adds it,
and ``tl.track(obj, "name")`` adds one explicitly.

To see every change, not only the waits, a tracked object's class is swapped, for the block
only, for a subclass that notes each change of its state: ``Lock._locked``,
``Semaphore._value`` and ``Event._value`` become properties, ``Queue._put``/``_get`` (the hooks
asyncio's own queue subclasses override) note the length. The subclass adds no frame to the
await chain, so wait labels stay as they were. These private attributes are checked before
use; where one is missing (or the class cannot be swapped), the track falls back to reading the
public state (``locked()``, ``qsize()``, ``is_set()``) whenever a task waits on it. Every
object gets its own class back when the block ends, however it ends. Nothing else is patched,
so blocks without such objects pay nothing per step.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from time import perf_counter as _clock
from typing import Any

TRACKED_TYPES = (asyncio.Lock, asyncio.Semaphore, asyncio.Queue, asyncio.Event, asyncio.Condition)
_current_task = asyncio.current_task
_HELD = frozenset({"lock", "condition", "semaphore"})  # kinds whose holders are drawn
_NOTE = "_asynclab_tracks"  # instance attribute: the tracks to tell of a change
_CLASSES: dict[tuple[type, str], type] = {}  # (original class, kind) -> its noting subclass


def kind_of(obj: object) -> str | None:
    """The kind of resource: "lock", "semaphore", "queue", "event" or "condition" (None: not one)."""
    if isinstance(obj, asyncio.Condition):
        return "condition"
    if isinstance(obj, asyncio.Lock):
        return "lock"
    if isinstance(obj, asyncio.Semaphore):
        return "semaphore"
    if isinstance(obj, asyncio.Queue):
        return "queue"
    if isinstance(obj, asyncio.Event):
        return "event"
    return None


class Track:
    """What one timeline recorded about one object.

    ``times``, ``readings`` and ``tasks`` are parallel lists, one item per change (flat lists:
    a long block makes many, and tuples would each be one more object for the garbage collector
    to track): a reading is the object's state right after a change (Lock, Condition: locked;
    Semaphore: free permits; Queue: length; Event: set), and the task the one that made it
    (None outside a task; its lane key once the block has ended). ``initial`` is the reading
    when tracking began, at ``since``.
    """

    __slots__ = (
        "capacity",
        "explicit",
        "initial",
        "kind",
        "name",
        "readings",
        "since",
        "tasks",
        "times",
        "type_name",
        "waited",
    )

    def __init__(self, obj: Any, kind: str, name: str | None, explicit: bool) -> None:
        self.kind = kind
        self.name = name
        self.explicit = explicit
        self.waited = False
        self.type_name = type(obj).__name__
        self.since = _clock()
        self.initial = public_reading(obj, kind)
        self.times: list[float] = []
        self.readings: list[Any] = []
        self.tasks: list[Any] = []
        self.capacity: int | None = _declared_capacity(obj, kind)

    def note(self, reading: Any) -> None:
        self.times.append(_clock())
        self.readings.append(reading)
        if self.kind in _HELD:  # who holds it; a queue's or an event's changes need no task
            try:
                self.tasks.append(_current_task())
            except RuntimeError:  # no loop in this thread
                self.tasks.append(None)
        else:
            self.tasks.append(None)

    @property
    def label(self) -> str:
        """``sem: Semaphore(2)``, ``lock: Lock``, ``jobs: Queue(maxsize=5)``, ``done: Event``."""
        what = self.type_name
        if self.kind == "semaphore" and self.capacity is not None:
            what += f"({self.capacity})"
        elif self.kind == "queue" and self.capacity:
            what += f"(maxsize={self.capacity})"
        return f"{self.name}: {what}" if self.name else what


def public_reading(obj: Any, kind: str) -> Any:
    """The object's state from its public methods (and a Semaphore's value, if it has one)."""
    if kind in ("lock", "condition"):
        return bool(obj.locked())
    if kind == "semaphore":
        value = getattr(obj, "_value", None)
        return value if type(value) is int else (0 if obj.locked() else None)
    if kind == "queue":
        return obj.qsize()
    return bool(obj.is_set())


def _declared_capacity(obj: Any, kind: str) -> int | None:
    if kind == "semaphore":
        bound = getattr(obj, "_bound_value", None)  # BoundedSemaphore
        return bound if type(bound) is int else None
    if kind == "queue":
        return obj.maxsize or None
    return 1 if kind in ("lock", "condition") else None


def _noted_property(attribute: str, reading: Any) -> property:
    """A property standing in for an instance attribute: stores as before, then tells the
    tracks. ``reading`` turns the stored value into the track's reading."""

    def get(self: Any) -> Any:
        return self.__dict__[attribute]

    def set_(self: Any, value: Any) -> None:
        state = self.__dict__
        state[attribute] = value
        for track in state.get(_NOTE, ()):
            track.note(reading(value))

    return property(get, set_)


def _noting_class(base: type, kind: str) -> type:
    """The subclass of ``base`` whose instances tell their tracks of each change (cached)."""
    cls = _CLASSES.get((base, kind))
    if cls is not None:
        return cls
    namespace: dict[str, Any] = {"__slots__": (), "__module__": base.__module__, "__qualname__": base.__qualname__}
    if kind == "lock":
        namespace["_locked"] = _noted_property("_locked", bool)
    elif kind in ("semaphore", "event"):
        namespace["_value"] = _noted_property("_value", lambda value: value)
    elif kind == "queue":
        base_put, base_get = base._put, base._get  # type: ignore[attr-defined]

        def _put(self: Any, item: Any) -> None:
            base_put(self, item)
            for track in self.__dict__.get(_NOTE, ()):
                track.note(self.qsize())

        def _get(self: Any) -> Any:
            item = base_get(self)
            for track in self.__dict__.get(_NOTE, ()):
                track.note(self.qsize())
            return item

        namespace["_put"], namespace["_get"] = _put, _get
    cls = _CLASSES[(base, kind)] = types.new_class(base.__name__, (base,), {}, lambda ns: ns.update(namespace))
    return cls


def _can_note(obj: Any, kind: str) -> bool:
    """Feature test: does the object keep its state where the noting class expects it?"""
    state = getattr(obj, "__dict__", None)
    if state is None:
        return False
    if kind == "lock":
        return type(state.get("_locked")) is bool
    if kind == "semaphore":
        return type(state.get("_value")) is int
    if kind == "event":
        return type(state.get("_value")) is bool
    if kind == "queue":
        return "_queue" in state and callable(getattr(type(obj), "_put", None))
    return False


class Tracker:
    """The tracks of one timeline's block: finds, names and records objects, and restores them."""

    def __init__(self, namespaces: list[dict[str, Any]], name_on_chain: Callable[[Any, Any], str | None]) -> None:
        self._namespaces = namespaces  # the block's locals and globals, searched for names
        self._name_on_chain = name_on_chain  # (object, coroutine) -> a variable's name, or None
        self._tracks: dict[int, tuple[Any, Track]] = {}  # id(object) -> (object, track)
        self._swapped: list[tuple[Any, type]] = []  # (object, its own class)
        self._polled: list[tuple[Any, Track]] = []  # tracks that read public state (fallback)
        self.tracks: list[Track] = []
        self._scanned_ids: set[int] = set()

    def scan(self) -> None:
        """Track the objects bound to names in the block's namespaces (not yet tracked)."""
        for namespace in self._namespaces:
            try:
                items = list(namespace.items())
            except Exception:  # a namespace changing under us, or an odd mapping
                continue
            for name, value in items:
                if isinstance(value, TRACKED_TYPES) and not name.startswith("_") and id(value) not in self._tracks:
                    self.add(value, name, explicit=False)

    def add(self, obj: Any, name: str | None, explicit: bool) -> Track:
        known = self._tracks.get(id(obj))
        if known is not None:
            track = known[1]
            if name and (explicit or not track.name):
                track.name = name
            track.explicit = track.explicit or explicit
            return track
        kind = kind_of(obj)
        if kind is None:
            raise TypeError(
                f"tl.track() takes an asyncio Lock, Semaphore, Queue, Event or Condition, not {type(obj).__name__}"
            )
        track = Track(obj, kind, name, explicit)
        self._tracks[id(obj)] = (obj, track)
        self.tracks.append(track)
        target = obj._lock if kind == "condition" and isinstance(getattr(obj, "_lock", None), asyncio.Lock) else obj
        target_kind = "lock" if target is not obj else kind
        if not self._start_noting(target, target_kind, track):
            self._polled.append((obj, track))
        return track

    def _start_noting(self, obj: Any, kind: str, track: Track) -> bool:
        if not _can_note(obj, kind):
            return False
        state = obj.__dict__
        tracks = state.get(_NOTE)
        if tracks is not None:  # another timeline notes it already: whoever ends last restores it
            tracks.append(track)
            self._swapped.append((obj, type(obj).__bases__[0]))
            return True
        original = type(obj)
        try:
            obj.__class__ = _noting_class(original, kind)
        except TypeError:  # a subclass whose layout differs (e.g. with __slots__)
            return False
        state[_NOTE] = [track]
        self._swapped.append((obj, original))
        return True

    def waited_on(self, obj: Any, coro: Any) -> None:
        """A task running ``coro`` is about to wait on ``obj``: track it, named after a
        variable of the learner's code on the task's await chain or of the block."""
        known = self._tracks.get(id(obj))
        if known is None:
            if kind_of(obj) is None:  # e.g. a Barrier: not drawn as a track
                return
            name = self._name_on_chain(obj, coro) or self._name_in_namespaces(obj)
            known = (obj, self.add(obj, name, explicit=False))
            self.scan()  # objects made inside the block since it started, by name
        known[1].waited = True
        for polled, track in self._polled:
            track.note(public_reading(polled, track.kind))

    def _name_in_namespaces(self, obj: Any) -> str | None:
        for namespace in self._namespaces:
            try:
                for name, value in list(namespace.items()):
                    if value is obj and not name.startswith("_"):
                        return str(name)
            except Exception:
                continue
        return None

    def stop(self, task_key: Callable[[Any], Any]) -> None:
        """The block ended: note the last state, give every object its own class back, and
        keep no object or task alive (``task_key`` turns each task noted into its lane key)."""
        for obj, track in self._polled:
            track.note(public_reading(obj, track.kind))
        for obj, track in self._tracks.values():
            reading = public_reading(obj, track.kind)
            if track.kind == "semaphore" and track.capacity is None:
                readings = [track.initial, reading, *track.readings]
                track.capacity = max((r for r in readings if type(r) is int), default=None)
        mine = [track for _, track in self._tracks.values()]
        for obj, original in reversed(self._swapped):
            tracks = obj.__dict__.get(_NOTE, [])
            tracks[:] = [t for t in tracks if not any(t is m for m in mine)]
            if not tracks:  # no other timeline still notes it
                obj.__dict__.pop(_NOTE, None)
                obj.__class__ = original
        self._swapped.clear()
        for track in self.tracks:
            keys: dict[int, Any] = {}  # id(task) -> its lane key, worked out once per task
            for task in track.tasks:
                if task is not None and id(task) not in keys:
                    keys[id(task)] = task_key(task)
            track.tasks = [None if task is None else keys[id(task)] for task in track.tasks]
        self._polled = [(None, track) for _, track in self._polled]
        self._tracks = {key: (None, track) for key, (_, track) in self._tracks.items()}
        self._namespaces = []

    def shown(self) -> list[Track]:
        """The tracks worth a row: waited on, changed inside the block, or asked for."""
        return [t for t in self.tracks if t.explicit or t.waited or t.times]
