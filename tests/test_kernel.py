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


# An exception that passes through an `except*` it does not match, as a stopped cell's CancelledError
# does in `try: ... except* ConnectionError:`: IPython's own traceback formatter fails on the frame
# it leaves behind, unless asynclab is imported.
THROUGH_EXCEPT_STAR = "try:\n    raise KeyError('not matched')\nexcept* ValueError:\n    pass"


@pytest.mark.notebook
@pytest.mark.parametrize("asynclab", [True, False], ids=["with asynclab", "without"])
def test_a_traceback_through_except_star_is_shown_as_usual(tmp_path, asynclab):
    import nbformat
    from nbharness import run_fresh

    first = f"import sys\nsys.path.insert(0, {str(NOTEBOOKS_DIR)!r})\n" + ("import asynclab" if asynclab else "")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(first), nbformat.v4.new_code_cell(THROUGH_EXCEPT_STAR)]
    path = tmp_path / "except_star.ipynb"
    nbformat.write(nb, path)
    setup, cell = run_fresh(path).cells
    assert setup.errors == []
    if asynclab:
        assert cell.errors == ["KeyError: 'not matched'"]
    else:  # the IPython bug being worked around (if this fails, IPython has fixed it)
        assert any(e.startswith("stderr: Traceback") for e in cell.errors), cell.errors


# An exception raised while an exception group was being handled: IPython prints any exception with
# a group in its chain on stderr, unless asynclab is imported.
GROUP_IN_THE_CHAIN = (
    "try:\n    raise ExceptionGroup('two failed', [KeyError(1), ValueError(2)])\nexcept* KeyError:\n    pass"
)


@pytest.mark.notebook
@pytest.mark.parametrize("asynclab", [True, False], ids=["with asynclab", "without"])
def test_an_exception_group_is_shown_as_the_cells_error(tmp_path, asynclab):
    import nbformat
    from nbharness import run_fresh

    first = f"import sys\nsys.path.insert(0, {str(NOTEBOOKS_DIR)!r})\n" + ("import asynclab" if asynclab else "")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(first), nbformat.v4.new_code_cell(GROUP_IN_THE_CHAIN)]
    path = tmp_path / "group.ipynb"
    nbformat.write(nb, path)
    setup, cell = run_fresh(path).cells
    assert setup.errors == []
    if asynclab:
        assert cell.errors == ["ExceptionGroup: two failed (1 sub-exception)"]
    else:  # IPython's fallback being replaced (if this fails, IPython formats groups itself now)
        assert any(e.startswith("stderr: ") and "ExceptionGroup" in e for e in cell.errors), cell.errors


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


@pytest.mark.notebook
@pytest.mark.parametrize("asynclab", [True, False], ids=["with asynclab", "without"])
def test_a_stop_on_an_instruction_with_no_line_is_shown_as_usual(tmp_path, asynclab):
    import nbformat
    from nbharness import run_fresh

    first = f"import sys\nsys.path.insert(0, {str(NOTEBOOKS_DIR)!r})\n" + ("import asynclab" if asynclab else "")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(first), nbformat.v4.new_code_cell(STOP_ON_A_LINELESS_JUMP)]
    path = tmp_path / "lineless.ipynb"
    nbformat.write(nb, path)
    setup, cell = run_fresh(path).cells
    assert setup.errors == []
    if asynclab or sys.version_info >= (3, 12):  # 3.12 gives that jump the line of the loop's body
        assert cell.errors == ["KeyboardInterrupt: "]
    else:  # the failure being worked around (if this fails, IPython or Python has fixed it)
        assert any(e.startswith("stderr: Traceback") and "another exception occurred" in e for e in cell.errors), (
            cell.errors
        )


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


@pytest.mark.notebook
@pytest.mark.parametrize("asynclab", [True, False], ids=["with asynclab", "without"])
def test_a_stop_that_lands_in_a_finaliser_stops_the_cell(tmp_path, asynclab):
    import nbformat
    from nbharness import run_fresh

    first = f"import sys\nsys.path.insert(0, {str(NOTEBOOKS_DIR)!r})\n" + ("import asynclab" if asynclab else "")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(first), nbformat.v4.new_code_cell(STOP_IN_A_FINALISER)]
    path = tmp_path / "finaliser.ipynb"
    nbformat.write(nb, path)
    setup, cell = run_fresh(path).cells
    assert setup.errors == []
    if asynclab:
        assert cell.errors == ["KeyboardInterrupt: "]
        assert "ran on" not in cell.stdout
    else:  # Python's behaviour being worked around
        assert any(e.startswith("stderr: Exception ignored") and "KeyboardInterrupt" in e for e in cell.errors), (
            cell.errors
        )
