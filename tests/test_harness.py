"""The harness itself: a clean notebook passes, and each kind of broken notebook is reported."""

import nbformat
import pytest
from nbharness import NOTEBOOKS_DIR, JupyterServer, execute_notebook, run_all_queued, run_fresh, shutdown_problems

CLEAN = ["import asyncio", "await asyncio.sleep(0.01)\nprint('done')"]
UNCLOSED_SESSION = ["import aiohttp", "session = aiohttp.ClientSession()", "del session"]
NEVER_AWAITED = ["import asyncio", "async def work():\n    return 1", "work()\nNone"]
WRITES_STDERR = ["import sys", "print('oops', file=sys.stderr)"]
LEAKS_A_TASK = ["import asyncio", "forever = asyncio.create_task(asyncio.Event().wait())"]
FAILS = ["x = 1", "raise ValueError('broken on purpose')", "print('never runs')"]
# Outlasts the 3 s bound the test gives it; no longer, since closing its session waits for the cell.
HANGS = ["import asyncio", "await asyncio.sleep(10)"]
# Passes one cell at a time, but crashes the kernel when the next cells are already queued: the loop
# step running this cell predates the patch, and the nested run empties its ready queue under it.
# The first cell blocks for a second so that, even on a loaded machine, every request has reached the
# kernel before the second cell starts, as it has when a learner clicks Run All.
APPLY_AND_RUN_IN_ONE_CELL = [
    "import asyncio, time\ntime.sleep(1)\nasync def main():\n    await asyncio.sleep(0.1)\n    return 'ok'",
    "import nest_asyncio2\nnest_asyncio2.apply()\nprint(asyncio.run(main()))\nprint(await main())",
    "print('after')",
]


def scratch(tmp_path, name, sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def scratch_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("scratch")
    with JupyterServer(root=root) as server:
        yield server


def test_a_clean_notebook_passes_both_ways(tmp_path, scratch_server):
    path = scratch(scratch_server.root, "clean", CLEAN)
    assert run_fresh(path).failures == []
    reports = run_all_queued(scratch_server, path, rounds=2)
    assert [r.failures for r in reports] == [[], []]
    assert [c.status for c in reports[1].cells] == ["ok", "ok"]


@pytest.mark.parametrize(
    "sources, expected",
    [
        (UNCLOSED_SESSION, "Unclosed client session"),
        (NEVER_AWAITED, "was never awaited"),
        (WRITES_STDERR, "stderr: oops"),
        (LEAKS_A_TASK, "task left pending"),
        (FAILS, "ValueError: broken on purpose"),
    ],
    ids=["unclosed-session", "never-awaited", "stderr", "leaked-task", "error"],
)
def test_fresh_kernel_reports(tmp_path, sources, expected):
    failures = run_fresh(scratch(tmp_path, "broken", sources)).failures
    assert any(expected in f for f in failures), failures


def test_run_all_reports_an_unclosed_session(scratch_server):
    path = scratch(scratch_server.root, "unclosed", UNCLOSED_SESSION)
    failures = run_all_queued(scratch_server, path, rounds=1)[-1].failures
    assert any("Unclosed client session" in f for f in failures), failures


def test_run_all_reports_the_failing_cell_and_the_aborted_rest(scratch_server):
    path = scratch(scratch_server.root, "fails", FAILS)
    (report,) = run_all_queued(scratch_server, path, rounds=1)
    assert [c.status for c in report.cells] == ["ok", "error", "aborted"]
    assert any("broken on purpose" in f for f in report.failures)


def test_run_all_reports_a_cell_that_never_replies(scratch_server):
    path = scratch(scratch_server.root, "hangs", HANGS)
    (report,) = run_all_queued(scratch_server, path, rounds=1, bound=3)
    assert report.cells[1].status is None
    assert any("reply never came" in f for f in report.failures)


def test_a_notebook_that_only_breaks_under_queued_run_all(scratch_server):
    path = scratch(scratch_server.root, "queued_only", APPLY_AND_RUN_IN_ONE_CELL)
    assert run_fresh(path).failures == []
    (report,) = run_all_queued(scratch_server, path, rounds=1, bound=10)
    assert report.cells[0].status == "ok" and report.cells[1].status is None
    assert any("restart" in f for f in report.failures), report.failures


def kernel_traceback(first_frame: str, error: str) -> str:
    site = "/venv/lib/python3.13/site-packages"
    return "\n".join(
        [
            "Traceback (most recent call last):",
            first_frame,
            f'  File "{site}/tornado/platform/asyncio.py", line 208, in _handle_events',
            "    handler_func(fileobj, events)",
            f'  File "{site}/zmq/eventloop/zmqstream.py", line 604, in _handle_events',
            "    zmq_events = self.socket.EVENTS",
            "                 ^^^^^^^^^^^^^^^^^^",
            '  File "zmq/backend/cython/_zmq.py", line 190, in zmq.backend.cython._zmq._check_rc',
            error,
        ]
    )


ASYNCIO_FRAME = '  File "/usr/lib/python3.13/asyncio/events.py", line 89, in _run'
CELL_FRAME = '  File "/tmp/ipykernel_4242/1234.py", line 3, in <module>'
NOT_A_SOCKET = "zmq.error.ZMQError: Socket operation on non-socket"


def test_the_kernels_own_socket_teardown_race_is_not_reported():
    leak = "sys:1: ResourceWarning: unclosed <socket.socket fd=7>"
    stderr = "\n".join(["kernel shutting down", kernel_traceback(ASYNCIO_FRAME, NOT_A_SOCKET), leak])
    assert shutdown_problems(stderr) == [f"kernel stderr: {leak}"]


@pytest.mark.parametrize(
    "first_frame, error",
    [
        (CELL_FRAME, NOT_A_SOCKET),  # the notebook's code was on the stack
        (ASYNCIO_FRAME, "zmq.error.ZMQError: Operation cannot be accomplished in current state"),
    ],
    ids=["frame-from-a-cell", "another-error"],
)
def test_any_other_shutdown_traceback_is_reported(first_frame, error):
    problems = shutdown_problems(kernel_traceback(first_frame, error))
    assert "kernel stderr: Traceback (most recent call last):" in problems
    assert f"kernel stderr: {error}" in problems


@pytest.fixture
def first_port_taken(monkeypatch):
    """The first port jupyter_client chooses is one something else already listens on, as when
    another process takes it between jupyter_client choosing it and the kernel binding it.
    Yields the ports chosen, and that taken port."""
    import socket

    from jupyter_client.connect import LocalPortCache

    chosen = []
    choose = LocalPortCache.find_available_port
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        taken_port = taken.getsockname()[1]

        def first_choice_taken(self, ip):
            chosen.append(taken_port if not chosen else choose(self, ip))
            return chosen[-1]

        monkeypatch.setattr(LocalPortCache, "find_available_port", first_choice_taken)
        yield chosen, taken_port


def test_a_kernel_that_loses_the_port_race_is_started_again(tmp_path, first_port_taken):
    report = run_fresh(scratch(tmp_path, "clean", CLEAN))
    assert report.failures == []
    chosen, taken_port = first_port_taken
    assert chosen.count(taken_port) == 1 and len(chosen) == 10  # five ports for each of two kernels


def test_execute_notebook_starts_a_kernel_that_lost_the_port_race_again(first_port_taken):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
    kernel_stderr = execute_notebook(nb, NOTEBOOKS_DIR)
    assert [o.text for o in nb.cells[0].outputs] == ["42\n"]
    assert "Address already in use" not in kernel_stderr  # the second kernel's own stderr
    chosen, taken_port = first_port_taken
    assert chosen.count(taken_port) == 1 and len(chosen) == 10


def test_a_server_whose_port_is_taken_first_starts_again_on_another(tmp_path, monkeypatch):
    """Another process (a kernel's ZeroMQ socket) can take the port between choosing and binding
    it; until the server gives up, that socket even accepts connections. The server counts as up
    only once its own API answers."""
    import socket

    import checkout
    import nbharness

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        monkeypatch.setattr(nbharness, "free_port", lambda: next(ports, None) or checkout.free_port())
        with JupyterServer(root=tmp_path) as server:
            assert server.port != taken.getsockname()[1]
            assert "already in use" in server.read_log()
            path = scratch(tmp_path, "clean", CLEAN)
            assert [r.failures for r in run_all_queued(server, path, rounds=1)] == [[]]
