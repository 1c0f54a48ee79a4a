"""Judging a schedule: while work was waiting, were all the allowed slots busy?

A judge turns what its timeline recorded into ``Job``s (when each piece of work could have
started, when it started, when it ended) and asks how much capacity sat idle while work was
waiting. Both ends of every span are recorded when the code actually runs, so a machine too busy
to run the loop on time delays a job's end and the next job's start alike: a correct schedule
stays near zero however loaded the machine is, and a batched or read-everything-first one does not.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Job:
    """One piece of work: ``ready`` is when it could have started. Seconds on the timeline's clock."""

    ready: float
    start: float
    end: float


@dataclass(frozen=True)
class IdleStretch:
    """A stretch in which at most ``running`` jobs ran while at least ``waiting`` were ready to start."""

    start: float
    end: float
    running: int
    waiting: int


def idle_capacity(
    jobs: list[Job], limit: int, excused: Sequence[tuple[float, float]] = ()
) -> tuple[float, IdleStretch | None]:
    """Slot-seconds left free while jobs were ready but not started, and the longest stretch of it.

    Time inside an ``excused`` stretch (when the machine did not run the loop at all) counts as
    no idle time: no schedule could have started a job then.
    """
    times = sorted({t for job in jobs for t in (job.ready, job.start, job.end)})
    total, current, longest = 0.0, None, None
    for begin, finish in itertools.pairwise(times):
        running = sum(job.start <= begin < job.end for job in jobs)
        waiting = sum(job.ready <= begin < job.start for job in jobs)
        free = min(waiting, max(limit - running, 0))
        if not free:
            current = None
            continue
        excused_here = sum(max(0.0, min(finish, end) - max(begin, start)) for start, end in excused)
        total += max(0.0, finish - begin - excused_here) * free
        if current is None:
            current = IdleStretch(begin, finish, running, waiting)
        else:  # the stretch goes on
            current = IdleStretch(current.start, finish, max(current.running, running), min(current.waiting, waiting))
        if longest is None or current.end - current.start > longest.end - longest.start:
            longest = current
    return total, longest


def batches(jobs: list[Job]) -> list[list[Job]]:
    """The jobs in start order, split where a job starts only after every earlier job has ended."""
    groups: list[list[Job]] = []
    ended = float("-inf")
    for job in sorted(jobs, key=lambda j: j.start):
        if not groups or job.start >= ended:
            groups.append([])
        groups[-1].append(job)
        ended = max(ended, job.end)
    return groups


def ran_in_batches(jobs: list[Job], limit: int) -> bool:
    """True when the jobs ran as full batches of ``limit``, each started after the previous one ended."""
    groups = batches(jobs)
    return len(groups) >= 2 and limit > 1 and all(len(group) == limit for group in groups[:-1])
