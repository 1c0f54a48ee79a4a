"""Stop pressed anywhere, and the cell run again, leaves nothing broken.

Every notebook runs top to bottom in a fresh kernel (jupyter_client, with nbharness's guard
installed first). Each code cell runs once to completion, which times it; a cell slower than
``SLOW_CELL`` is then run again ``STOPS_PER_CELL`` times and stopped part-way, at pseudo-random
points within its duration, with a real kernel interrupt (``KernelManager.interrupt_kernel()``
sends SIGINT, as the stop button does); after each stop the cell is run again to completion before
the notebook goes on.

What counts as a failure:

- anything on stderr, from any cell, at any time (a ``stream`` output named stderr);
- a stopped run that ends in anything but an ordinary interrupted cell: an error reply other than
  ``KeyboardInterrupt`` or ``CancelledError``, or an error output of another kind;
- a run to completion that does not succeed (the first run, and every re-run after a stop);
- anything the guard recorded by the end (exception-handler calls, unraisable exceptions, warnings
  such as "Unclosed client session", tasks left pending), and anything the kernel process printed
  on its own stderr.

The stop points are reproducible: ``random.Random(f"{seed}:{notebook}:{cell}")`` draws the
fractions of the cell's duration, and ``ASYNCLAB_STOP_SEED`` sets the seed (failures name it).
"""

from __future__ import annotations

import os
import queue
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from nbharness import (
    GUARD_INSTALL,
    GUARD_REPORT,
    KERNEL_START_ATTEMPTS,
    NOTEBOOKS_DIR,
    code_cells,
    first_line,
    guard_result,
    lost_port_race,
    problems_in_output,
    without_kernel_teardown_races,
)

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
SLOW_CELL = 0.25  # seconds: a cell at least this slow is stopped part-way
STOPS_PER_CELL = 3  # one in each third of the window, so that both ends of a cell get one
STOP_WINDOW = (0.05, 0.95)  # the stops land within these fractions of the cell's measured duration
SEED = int(os.environ.get("ASYNCLAB_STOP_SEED", "2026"))
INTERRUPTED = {"KeyboardInterrupt", "CancelledError"}  # how a stopped cell may end
CELL_TIMEOUT = 60.0
FINISHED_FIRST = "the cell finished before the stop took effect"
# Stops whose harm is known and not fixed yet: (notebook, cell index, text in the failure) -> why.
# A run whose only failures are these is reported as an expected failure (xfail, with the
# failures), not as a pass; any other failure still fails the test.
KNOWN = {
    ("03_async_with.ipynb", 43, "ResourceWarning: unclosed file"): (
        "aiofiles.open() opens the file in a worker thread; a stop that lands while it does cancels "
        "the await, not the thread, and the opened file is dropped unclosed (aiofiles' open is not "
        "cancellation-safe; #26 item 1's lesson, in a library)"
    ),
}
# Run after each stop and re-run, so that what the stop left unclosed or unobserved (a session, a
# task's exception) is finalised, and reported on stderr, next to the stop that caused it.
COLLECT = """
async def _asynclab_collect():
    import asyncio, gc
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0.02)
await _asynclab_collect()
del _asynclab_collect
"""
# The kernel's start-up notice on its own stderr; anything else there is reported.
KERNEL_NOTICE = re.compile(r"^\[IPKernelApp\] WARNING \| Kernel is running over TCP|^\s+Setting websocket|^\s*$")
# A stop that arrives after the cell's code has finished, while ipykernel builds its reply, raises
# KeyboardInterrupt in ipykernel itself: it logs this line and sends no reply (the kernel goes idle,
# and the next cell runs as usual). That is the kernel's race, not the notebook's: such a stop is
# reported in the log, and this line is allowed once for each.
REPLY_DROPPED = "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel."


@dataclass
class Execution:
    status: str | None = None  # the reply's status; None when none came
    ename: str = ""
    evalue: str = ""
    seconds: float | None = None  # from execute_input to the reply
    stopped_after: float | None = None  # when the interrupt was sent, after execute_input
    reply_dropped: bool = False  # idle after a stop, with no reply (see REPLY_DROPPED)
    errors: list[str] = field(default_factory=list)  # error outputs: "ename: evalue"
    stderr: list[str] = field(default_factory=list)  # from any cell while this one ran
    stdout: str = ""


class Kernel:
    """A fresh python3 kernel in ``cwd``; its process stderr goes to a temporary file."""

    def __init__(self, cwd: Path):
        from jupyter_client import KernelManager

        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            self.stderr_file = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 -- open for the kernel's life
            self.manager = KernelManager(kernel_name="python3")
            self.manager.start_kernel(cwd=str(cwd), stderr=self.stderr_file)
            self.client = self.manager.client()
            self.client.start_channels()
            try:
                self.client.wait_for_ready(timeout=60)
                return
            except RuntimeError:  # it died at start
                stderr = self.shutdown()
                if not lost_port_race(stderr) or attempt == KERNEL_START_ATTEMPTS:
                    raise RuntimeError(f"the kernel died at start:\n{stderr}") from None

    def execute(
        self, source: str, *, stop_after: float | None = None, silent: bool = False, timeout: float = CELL_TIMEOUT
    ) -> Execution:
        """Run ``source``; with ``stop_after``, interrupt the kernel that long after the cell started.

        ``silent`` runs it as a client's own request (no execute_input, no history): not as a cell.
        """
        run = Execution()
        msg_id = self.client.execute(source, silent=silent, store_history=not silent, allow_stdin=False)
        now = time.monotonic
        deadline = now() + timeout
        started = stop_at = None
        idle = False
        while not idle:
            if stop_at is not None and run.stopped_after is None and now() >= stop_at:
                self.manager.interrupt_kernel()
                run.stopped_after = now() - started
            wait = deadline - now()
            if stop_at is not None and run.stopped_after is None:
                wait = min(wait, stop_at - now())
            if wait <= 0 and now() >= deadline:
                run.errors.append(f"no reply in {timeout:.0f} s")
                return run
            try:
                msg = self.client.get_iopub_msg(timeout=max(wait, 0))
            except queue.Empty:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stderr":  # whichever cell it came from
                run.stderr += problems_in_output({**content, "msg_type": kind})
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if kind == "execute_input":
                started = now()
                if stop_after is not None:
                    stop_at = started + stop_after
            elif kind == "error":
                run.errors.append(f"{content.get('ename')}: {content.get('evalue')}")
            elif kind == "stream" and content.get("name") == "stdout":
                run.stdout += content.get("text", "")
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
                if started is not None:
                    run.seconds = now() - started
        while True:  # the reply, if any, came before the idle status
            try:
                reply = self.client.get_shell_msg(timeout=5)
            except queue.Empty:
                if run.stopped_after is not None:
                    run.reply_dropped = True
                else:
                    run.errors.append("idle, but no reply came")
                return run
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        run.status = reply["content"].get("status")
        run.ename = reply["content"].get("ename", "")
        run.evalue = reply["content"].get("evalue", "")
        return run

    def shutdown(self) -> str:
        """Stop the kernel; return what its process printed on stderr."""
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)
        self.stderr_file.seek(0)
        text = self.stderr_file.read()
        self.stderr_file.close()
        return text


def stop_points(notebook: str, cell: int, seed: int = SEED) -> list[float]:
    """Fractions of the cell's duration: one drawn from each of STOPS_PER_CELL equal parts of the window."""
    rng = random.Random(f"{seed}:{notebook}:{cell}")
    low, high = STOP_WINDOW
    width = (high - low) / STOPS_PER_CELL
    return [rng.uniform(low + i * width, low + (i + 1) * width) for i in range(STOPS_PER_CELL)]


def stop_anywhere(path: Path, seed: int = SEED) -> tuple[list[str], list[str]]:
    """Run the notebook, stopping every slow cell part-way; return (failures, one line per stop)."""
    failures, log = [], []
    dropped = 0
    kernel = Kernel(path.parent)
    try:
        guard = kernel.execute(GUARD_INSTALL)
        failures += [f"guard setup: {e}" for e in guard.errors + guard.stderr]
        for index, source in enumerate(code_cells(path)):
            where = f"cell {index} ({first_line(source)})"
            first = kernel.execute(source)
            failures += [f"{where}, first run: {e}" for e in first.stderr]
            if first.status != "ok":
                failures.append(f"{where}, first run: {first.status or 'no reply'} {first.errors}")
                if first.status is None:
                    return failures, log
                continue
            if first.seconds is None or first.seconds < SLOW_CELL:
                continue
            for fraction in stop_points(path.name, index, seed):
                at = f"{where}, stop at {fraction:.2f} of {first.seconds:.2f} s (seed {seed})"
                stopped = kernel.execute(source, stop_after=fraction * first.seconds)
                failures += [f"{at}: {e}" for e in stopped.stderr]
                if stopped.reply_dropped:
                    log.append(f"{at}: {FINISHED_FIRST}, and ipykernel dropped its reply")
                    dropped += 1
                    continue
                landed = stopped.status != "ok"
                log.append(f"{at}: " + (stopped.ename if landed else FINISHED_FIRST))
                if stopped.status is None:
                    failures.append(f"{at}: {stopped.errors}")
                    return failures, log
                if landed and stopped.ename not in INTERRUPTED:
                    failures.append(f"{at}: ended in {stopped.ename}: {stopped.evalue}")
                failures += [f"{at}: error output {e}" for e in stopped.errors if e.split(":")[0] not in INTERRUPTED]
                if not landed:  # it ran to completion: that was the re-run
                    continue
                again = kernel.execute(source)
                failures += [f"{at}, then run again: {e}" for e in again.stderr]
                if again.status != "ok":
                    failures.append(f"{at}, then run again: {again.status or 'no reply'} {again.errors}")
                    if again.status is None:
                        return failures, log
                collected = kernel.execute(COLLECT, silent=True)
                failures += [f"{at}, then collecting garbage: {e}" for e in collected.stderr + collected.errors]
        final = kernel.execute(GUARD_REPORT)
        failures += [f"guard report: {e}" for e in final.errors + final.stderr]
        found = guard_result(final.stdout)
        if found is None:
            failures.append("the guard's report never came back")
        else:
            failures += found["problems"]
    finally:
        kernel_stderr = kernel.shutdown()
    for line in without_kernel_teardown_races(kernel_stderr).splitlines():
        if line.strip() == REPLY_DROPPED and dropped:
            dropped -= 1
        elif not KERNEL_NOTICE.match(line):
            failures.append(f"kernel stderr: {line}")
    return failures, log


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stop_anywhere_then_run_again(path, request):
    started = time.perf_counter()
    failures, log = stop_anywhere(path)
    seconds = time.perf_counter() - started
    landed = sum(1 for line in log if FINISHED_FIRST not in line)
    summary = (
        f"{path.name} [stop anywhere, seed {SEED}]: {seconds:.1f} s, {landed} of {len(log)} stops stopped the cell"
    )
    request.node.user_properties.append(("notebook_run", summary))
    known = {}
    for (notebook, cell, text), why in KNOWN.items():
        if notebook == path.name and any(f.startswith(f"cell {cell} ") and text in f for f in failures):
            # ...and the guard's own line for the same warning, which names no cell
            known.update(
                {f: why for f in failures if text in f and (f.startswith(f"cell {cell} ") or not f.startswith("cell "))}
            )
    unknown = [f for f in failures if f not in known]
    assert not unknown, f"{path.name}, seed {SEED}:\n" + "\n".join(failures)
    if known:
        pytest.xfail(
            f"{path.name}, seed {SEED}, known and not fixed yet:\n"
            + "\n".join(f"{failure}\n  why: {why}" for failure, why in known.items())
        )
