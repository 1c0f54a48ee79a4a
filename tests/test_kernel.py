"""The stop button's interrupt wakes an idle event loop at once once asynclab is imported."""

import subprocess
import sys
import textwrap

import pytest
from checkout import NOTEBOOKS_DIR

# A stand-in for ipykernel's stop button: a SIGINT handler that schedules the task's cancellation.
SCRIPT = textwrap.dedent("""
    import asyncio, os, signal, sys, threading, time
    sys.path.insert(0, {notebooks!r})
    from asynclab.kernel import wake_loop_on_signals

    async def main():
        loop = asyncio.get_running_loop()
        if {wake}:
            assert wake_loop_on_signals()
        cell = asyncio.create_task(asyncio.sleep({sleep}))
        signal.signal(signal.SIGINT, lambda *_: loop.call_soon(cell.cancel))
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        started = time.perf_counter()
        try:
            await cell
        except asyncio.CancelledError:
            pass
        print(f"{{time.perf_counter() - started:.3f}}")

    asyncio.run(main())
""")


def stopped_after(wake: bool, sleep: float) -> float:
    code = SCRIPT.format(notebooks=str(NOTEBOOKS_DIR), wake=wake, sleep=sleep)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return float(run.stdout)


def test_interrupt_wakes_the_loop_at_once():
    assert stopped_after(wake=True, sleep=30) < 2.0


def test_without_it_the_interrupt_waits_for_the_sleep():
    # The problem being fixed, shown on a short sleep: the cancellation waits for the timer.
    assert stopped_after(wake=False, sleep=3) > 2.5


def test_off_the_main_thread_it_does_nothing():
    import asyncio
    import threading

    from asynclab.kernel import wake_loop_on_signals

    results = []
    thread = threading.Thread(target=lambda: results.append(asyncio.run(_wake())))
    thread.start()
    thread.join()
    assert results == [False]
    assert wake_loop_on_signals() is False  # no running loop here


async def _wake():
    from asynclab.kernel import wake_loop_on_signals

    return wake_loop_on_signals()


class _LoopWithoutSelfPipe:  # uvloop's loops, for one, have no `_csock`
    pass


def test_a_loop_without_a_self_pipe_is_left_alone():
    import signal

    from asynclab.kernel import wake_loop_on_signals

    before = signal.set_wakeup_fd(-1)
    try:
        assert wake_loop_on_signals(_LoopWithoutSelfPipe()) is False
        assert signal.set_wakeup_fd(-1) == -1  # nothing was set
    finally:
        signal.set_wakeup_fd(before)


def test_a_descriptor_the_platform_refuses_is_not_an_error(monkeypatch):
    import asyncio
    import signal

    from asynclab.kernel import wake_loop_on_signals

    def refuse(fd, **kwargs):  # what Windows does with a descriptor that is not a socket
        raise ValueError("the fd is not a socket")

    loop = asyncio.new_event_loop()
    try:
        monkeypatch.setattr(signal, "set_wakeup_fd", refuse)
        assert wake_loop_on_signals(loop) is False
    finally:
        monkeypatch.undo()
        loop.close()


def run_after_import(tmp_path, source, asynclab):
    """Run ``source`` as the second cell of a fresh notebook whose first imports asynclab (or not)."""
    import nbformat
    from nbharness import run_fresh

    first = f"import sys\nsys.path.insert(0, {str(NOTEBOOKS_DIR)!r})\n" + ("import asynclab" if asynclab else "")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(first), nbformat.v4.new_code_cell(source)]
    path = tmp_path / "cell.ipynb"
    nbformat.write(nb, path)
    setup, cell = run_fresh(path).cells
    assert setup.errors == []
    return cell


# An exception that passes through an `except*` it does not match, as a stopped cell's CancelledError
# does in `try: ... except* ConnectionError:`: IPython's own traceback formatter fails on the frame
# it leaves behind, unless asynclab is imported.
THROUGH_EXCEPT_STAR = "try:\n    raise KeyError('not matched')\nexcept* ValueError:\n    pass"


# An exception raised while an exception group was being handled: IPython prints any exception with
# a group in its chain on stderr, unless asynclab is imported.
GROUP_IN_THE_CHAIN = (
    "try:\n    raise ExceptionGroup('two failed', [KeyError(1), ValueError(2)])\nexcept* KeyError:\n    pass"
)


# A stop that lands on an instruction with no line: on 3.11, the jump back at the end of a loop body
# whose last statement is inside an `if`. The interrupt is checked there and nowhere else in this
# loop (`itertools.repeat` is C), so a stop during `spin` lands on it every time. IPython's formatter
# fails an assertion on such a frame and prints its own crash on stderr, unless asynclab is imported.
STOP_ON_A_LINELESS_JUMP = """\
import _thread, itertools, threading

def spin(items):
    count = 0
    for item in items:
        if item:
            count += 1
    return count

threading.Timer(0.2, _thread.interrupt_main).start()
spin(itertools.repeat(1))
"""


# A stop that lands while the garbage collector runs a finaliser: Python drops the interrupt with
# "Exception ignored in ..." on stderr and the cell runs on, unless asynclab is imported.
STOP_IN_A_FINALISER = """\
import _thread, time

class Finalised:
    def __del__(self):
        _thread.interrupt_main()  # the stop arrives while this runs
        for _ in range(1000):
            pass

finalised = Finalised()
del finalised
time.sleep(0.5)
print("ran on")
"""


# What each cell above ends in, with asynclab imported, and without it: the problem worked around
# (if a "without" line fails, IPython or Python has fixed that problem).
EXPECTED = {
    "except* not matched": (
        THROUGH_EXCEPT_STAR,
        ["KeyError: 'not matched'"],
        ("stderr: Traceback", ""),
    ),
    "a group in the chain": (
        GROUP_IN_THE_CHAIN,
        ["ExceptionGroup: two failed (1 sub-exception)"],
        ("stderr: ", "ExceptionGroup"),
    ),
    # 3.12 and later give that jump the line of the loop's body: nothing to work around there.
    "a stop on a line-less jump": (
        STOP_ON_A_LINELESS_JUMP,
        ["KeyboardInterrupt: "],
        ("stderr: Traceback", "another exception occurred") if sys.version_info < (3, 12) else None,
    ),
    "a stop in a finaliser": (
        STOP_IN_A_FINALISER,
        ["KeyboardInterrupt: "],
        ("stderr: Exception ignored", "KeyboardInterrupt"),
    ),
}


@pytest.mark.notebook
@pytest.mark.parametrize("asynclab", [True, False], ids=["with asynclab", "without"])
@pytest.mark.parametrize("case", list(EXPECTED))
def test_a_cell_ends_in_its_own_error_not_on_stderr(tmp_path, case, asynclab):
    source, errors, without = EXPECTED[case]
    cell = run_after_import(tmp_path, source, asynclab)
    if asynclab or without is None:
        assert cell.errors == errors
        assert "ran on" not in cell.stdout  # a stopped cell stops
    else:
        prefix, text = without
        assert any(e.startswith(prefix) and text in e for e in cell.errors), cell.errors
