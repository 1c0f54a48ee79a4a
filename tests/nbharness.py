"""Run notebooks the ways a learner does, and report everything that went wrong.

Two runners share one set of checks:

- ``run_fresh``: top to bottom in a fresh kernel, one cell at a time (nbclient).
- ``run_all_queued``: JupyterLab's *Run All*: a real Jupyter server, a kernel opened through its REST
  API, and every cell's ``execute_request`` sent at once over the kernel websocket. Repeating the
  notebook in the same kernel checks that cells are safe to re-run.

Before the notebook's cells a guard is installed in the kernel: asyncio's exception handler,
``sys.unraisablehook`` and ``warnings.showwarning`` record every problem (``pytest -W`` cannot reach
the kernel), and after the last cell the guard is read back. Any error output, any text on stderr,
any recorded problem, any task left pending, or any warning the kernel prints while shutting down
makes the run fail.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from checkout import NOTEBOOKS_DIR, free_port
from checkout import output_problems as problems_in_output

GUARD_MARK = "__asynclab_guard__"

# Installed in the kernel before the first cell. Chains to the original hooks so the learner still
# sees everything; only records. ResourceWarning is ignored by default, so it is switched on.
GUARD_INSTALL = r"""
def _asynclab_install_guard():
    import asyncio, sys, warnings
    from asyncio import base_events
    if hasattr(sys, "_asynclab_guard"):
        return
    problems = sys._asynclab_guard = []
    before = sys._asynclab_tasks_before = set()
    try:
        before.update(asyncio.all_tasks())
    except RuntimeError:
        pass

    default_handler = base_events.BaseEventLoop.default_exception_handler
    def recording_handler(self, context):
        exc = context.get("exception")
        problems.append("asyncio: " + str(context.get("message")) + (f" ({exc!r})" if exc else ""))
        return default_handler(self, context)
    base_events.BaseEventLoop.default_exception_handler = recording_handler

    unraisable = sys.unraisablehook
    def recording_unraisablehook(info):
        problems.append(f"unraisable: {info.err_msg or 'Exception ignored in'}: {info.object!r}: "
                        f"{getattr(info.exc_type, '__name__', info.exc_type)}: {info.exc_value}")
        return unraisable(info)
    sys.unraisablehook = recording_unraisablehook

    showwarning = warnings.showwarning
    def recording_showwarning(message, category, filename, lineno, file=None, line=None):
        problems.append(f"warning: {category.__name__}: {message} ({filename}:{lineno})")
        return showwarning(message, category, filename, lineno, file, line)
    warnings.showwarning = recording_showwarning
    warnings.simplefilter("default", ResourceWarning)
_asynclab_install_guard()
del _asynclab_install_guard
"""

# Read back after the last cell: collect garbage so unclosed sessions and pending tasks are finalised
# now (their warnings land in the guard), then report tasks still pending that the notebook started.
GUARD_REPORT = r"""
async def _asynclab_guard_report():
    import asyncio, gc, json, sys
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0.05)
    def kernel_owns(task):  # ipykernel runs each cell in tasks of its own
        code = getattr(task.get_coro(), "cr_code", None)
        return code is not None and any(part in code.co_filename for part in
                                        ("/ipykernel/", "/IPython/", "/jupyter_client/", "/tornado/", "/zmq/"))
    pending = [t for t in asyncio.all_tasks()
               if not t.done() and t not in sys._asynclab_tasks_before and not kernel_owns(t)]
    problems = list(sys._asynclab_guard) + [f"task left pending: {t!r}"[:300] for t in pending]
    version = ".".join(map(str, sys.version_info[:3]))
    print("__asynclab_guard__" + json.dumps({"python": version, "problems": problems}))
await _asynclab_guard_report()
del _asynclab_guard_report
"""

# Lines a kernel may print to its own stderr while shutting down that mean something was left behind.
SHUTDOWN_PROBLEM = re.compile(
    r"Traceback|Error|Warning|Unclosed|was destroyed|never awaited|never retrieved|Exception ignored",
)


@dataclass
class CellResult:
    index: int  # position among the notebook's code cells
    source: str
    seconds: float | None = None
    status: str | None = None  # "ok", "error", "aborted", or None when no reply came
    errors: list[str] = field(default_factory=list)
    stdout: str = ""


@dataclass
class RunReport:
    notebook: str
    mode: str
    seconds: float = 0.0
    cells: list[CellResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    python: str = ""  # the kernel's Python version, as the kernel itself reported it
    final_output: str = ""  # what run_fresh's extra_report, or run_all_queued's after_first_round, printed

    @property
    def failures(self) -> list[str]:
        found = list(self.problems)
        for cell in self.cells:
            where = f"cell {cell.index} ({first_line(cell.source)})"
            if cell.status != "ok":
                found.append(f"{where}: reply {cell.status or 'never came'}")
            found += [f"{where}: {e}" for e in cell.errors]
        return found

    @property
    def slowest(self) -> CellResult | None:
        timed = [c for c in self.cells if c.seconds is not None]
        return max(timed, key=lambda c: c.seconds) if timed else None

    def describe(self) -> str:
        slow = self.slowest
        tail = f", slowest cell {slow.seconds:.2f} s (cell {slow.index})" if slow else ""
        return f"{self.notebook} [{self.mode}]: {self.seconds:.1f} s{tail}"


def first_line(source: str) -> str:
    line = source.strip().splitlines()[0] if source.strip() else ""
    return line[:60]


def code_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def guard_result(text: str) -> dict | None:
    for line in text.splitlines():
        if line.startswith(GUARD_MARK):
            return json.loads(line[len(GUARD_MARK) :])
    return None


def shutdown_problems(stderr_text: str) -> list[str]:
    text = without_kernel_teardown_races(stderr_text)
    return [f"kernel stderr: {line}" for line in text.splitlines() if SHUTDOWN_PROBLEM.search(line)]


# ipykernel 7 closes some of its own zmq sockets from one thread while another thread's event loop
# still watches them, so a kernel being shut down now and then prints a traceback ending in this
# error (7.4.0 silenced the iopub case, not the others). It is the kernel's teardown, not anything a
# notebook did, so it is dropped, but only when every frame is in the kernel's own machinery: a frame
# from anywhere else, or any other error, is still reported.
TEARDOWN_RACE = "zmq.error.ZMQError: Socket operation on non-socket"
KERNEL_MACHINERY = re.compile(
    r'^\s*File "(?:(?:.*[/\\])?(?:zmq|tornado|ipykernel|asyncio)[/\\][^"]*'
    r'|[^"]*[/\\]threading\.py)"'
)


def without_kernel_teardown_races(text: str) -> str:
    lines = text.splitlines()
    kept, i = [], 0
    while i < len(lines):
        if lines[i].startswith("Traceback (most recent call last):"):
            end = i + 1
            while end < len(lines) and lines[end][:1].isspace():  # frames and their source lines
                end += 1
            frames = [line for line in lines[i + 1 : end] if line.lstrip().startswith("File ")]
            if (
                end < len(lines)
                and lines[end] == TEARDOWN_RACE
                and frames
                and all(KERNEL_MACHINERY.match(line) for line in frames)
            ):
                i = end + 1
                continue
        kept.append(lines[i])
        i += 1
    return "\n".join(kept)


# --- top to bottom in a fresh kernel -------------------------------------------------------------


def run_fresh(
    path: Path, *, cell_timeout: float = 60, python: str | None = None, extra_setup: str = "", extra_report: str = ""
) -> RunReport:
    """Execute every cell in order in a new kernel (like nbclient / "Restart and Run All" step by step).

    ``extra_setup`` runs after the guard is installed, before the first cell (e.g. another check to
    install in the kernel); ``extra_report`` runs after the last cell, and what it prints is in
    ``RunReport.final_output``. A kernel that loses the port race at start (see ``lost_port_race``)
    is started again, up to ``KERNEL_START_ATTEMPTS`` times in all.
    """
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        report, kernel_stderr = _run_fresh_once(path, cell_timeout, python, extra_setup, extra_report)
        if not lost_port_race(kernel_stderr) or attempt == KERNEL_START_ATTEMPTS:
            return report
    raise AssertionError("unreachable")


# jupyter_client chooses a kernel's ports by binding port 0 and letting go; the kernel binds them a
# moment later. Another process can take one in between (a lesson's service on port 0, the other
# test worker's kernel), and the kernel then dies at start with "Address already in use": Jupyter's
# known race (jupyter/jupyter_client#154). A server's restarter starts such a kernel again on new
# ports; the harness's own kernels do the same.
KERNEL_START_ATTEMPTS = 3


def lost_port_race(kernel_stderr: str) -> bool:
    """Did the kernel die at start because a port chosen for it was taken (and only that)?"""
    return "zmq.error.ZMQError: Address already in use" in kernel_stderr


def execute_notebook(
    nb: nbformat.NotebookNode,
    directory: Path,
    *,
    timeout: float = 60,
    allow_errors: bool = False,
    python: str | None = None,
) -> str:
    """Execute ``nb`` in place in a new kernel (nbclient), as a notebook in ``directory``; return what
    the kernel process printed on stderr. Raises as nbclient does (a failing cell, unless
    ``allow_errors``). A kernel that loses the port race at start is started again, on new ports."""
    from nbclient import NotebookClient

    pristine = [copy.deepcopy(cell) for cell in nb.cells]
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=allow_errors,
            resources={"metadata": {"path": str(directory)}},
        )
        if python:
            client.kernel_manager_class = kernel_manager_for(python)
        with tempfile.TemporaryFile(mode="w+") as kernel_stderr:
            try:
                client.execute(stderr=kernel_stderr)
            except Exception:
                atexit.unregister(client._cleanup_kernel)  # see _run_fresh_once
                kernel_stderr.seek(0)
                if attempt < KERNEL_START_ATTEMPTS and lost_port_race(kernel_stderr.read()):
                    nb.cells = [copy.deepcopy(cell) for cell in pristine]
                    continue
                raise
            kernel_stderr.seek(0)
            return kernel_stderr.read()
    raise AssertionError("unreachable")


def _run_fresh_once(path, cell_timeout, python, extra_setup, extra_report) -> tuple[RunReport, str]:
    from nbclient import NotebookClient

    sources = code_cells(path)
    nb = nbformat.v4.new_notebook()
    nb.cells = (
        [nbformat.v4.new_code_cell(GUARD_INSTALL + extra_setup)]
        + [nbformat.v4.new_code_cell(s) for s in sources]
        + [nbformat.v4.new_code_cell(extra_report + GUARD_REPORT)]
    )
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    if python:  # a kernel on another interpreter (Binder's Python)
        client.kernel_manager_class = kernel_manager_for(python)
    report = RunReport(path.name, "fresh kernel" + (f", {Path(python).parent.parent.name}" if python else ""))
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as kernel_stderr:
        try:
            client.execute(stderr=kernel_stderr)
        except Exception as exc:  # a timeout or a dead kernel: report it with what ran so far
            report.problems.append(f"run stopped: {type(exc).__name__}: {exc}"[:1000])
            # nbclient leaves its exit-time cleanup registered when the kernel dies at start, and
            # that cleanup then fails at exit (its kernel manager is gone already).
            atexit.unregister(client._cleanup_kernel)
        kernel_stderr.seek(0)
        stderr_text = kernel_stderr.read()
        report.problems += shutdown_problems(stderr_text)
    report.seconds = time.perf_counter() - started
    if report.problems and lost_port_race(stderr_text):
        return report, stderr_text

    for i, cell in enumerate(nb.cells[1:-1]):
        result = CellResult(i, cell.source)
        timing = cell.metadata.get("execution", {})
        if "shell.execute_reply" in timing and "iopub.execute_input" in timing:
            result.seconds = _seconds_between(timing["iopub.execute_input"], timing["shell.execute_reply"])
        result.status = "ok" if "shell.execute_reply" in timing else None
        for output in cell.get("outputs", []):
            result.errors += problems_in_output(output)
        if result.errors and any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            result.status = "error"
        report.cells.append(result)
    report.final_output = "".join(o.get("text", "") for o in nb.cells[-1].get("outputs", []))
    _read_guard(report, report.final_output)
    for output in nb.cells[0].get("outputs", []) + nb.cells[-1].get("outputs", []):
        report.problems += problems_in_output(output)
    return report, ""


def _seconds_between(a: str, b: str) -> float:
    from datetime import datetime

    def parse(s):
        return datetime.fromisoformat(s.replace("Z", "+00:00"))

    return (parse(b) - parse(a)).total_seconds()


def kernel_manager_for(python: str):
    """A kernel manager class that starts its kernels with the interpreter ``python``."""
    from jupyter_client.manager import AsyncKernelManager

    class OtherPythonKernelManager(AsyncKernelManager):
        def format_kernel_cmd(self, extra_arguments=None):
            cmd = super().format_kernel_cmd(extra_arguments)
            return [python, *cmd[1:]]

    return OtherPythonKernelManager


def _read_guard(report: RunReport, text: str) -> None:
    found = guard_result(text)
    if found is None:
        report.problems.append("the guard's report never came back (the last cell did not run)")
    else:
        report.python = found["python"]
        report.problems += found["problems"]


# --- Run All through a real Jupyter server -------------------------------------------------------


SERVER_START_ATTEMPTS = 3


class JupyterServer:
    """A headless Jupyter server on 127.0.0.1 with a random token, rooted at notebooks/.

    With ``python``, its ``python3`` kernels run on that interpreter (another virtual environment).
    """

    def __init__(self, root: Path = NOTEBOOKS_DIR, python: str | None = None):
        self.root = root
        self.python = python
        self.token = secrets.token_hex(16)
        self.port = 0
        self.url = ""
        self.log = tempfile.NamedTemporaryFile(mode="w+", prefix="jupyter-server-", suffix=".log")  # noqa: SIM115 -- open for the server's life
        self.runtime = tempfile.TemporaryDirectory(prefix="jupyter-runtime-")
        self.proc: subprocess.Popen | None = None

    def __enter__(self):
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=self.runtime.name, JUPYTER_CONFIG_DIR=self.runtime.name)
        if self.python:  # a kernel spec of that name found first on JUPYTER_PATH wins over the built-in one
            spec = Path(self.runtime.name, "data", "kernels", "python3")
            spec.mkdir(parents=True)
            (spec / "kernel.json").write_text(
                json.dumps(
                    {
                        "argv": [self.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                        "display_name": "Python 3",
                        "language": "python",
                    }
                )
            )
            env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(spec.parents[1]), os.environ.get("JUPYTER_PATH")]))
        # The port is free when chosen, but another process (the other test workers' kernels) can
        # bind it before the server does. The server then exits; and until it does, what answers
        # on the port may not be a Jupyter server at all (a kernel's ZeroMQ socket). So the server
        # counts as up only once it answers its own API, and it is started again on a new port
        # if it lost the port.
        for _ in range(SERVER_START_ATTEMPTS):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            log_start = len(self.read_log())
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "jupyter_server",
                    "--no-browser",
                    "--allow-root",
                    "--ip=127.0.0.1",
                    f"--port={self.port}",
                    "--port-retries=0",
                    f"--IdentityProvider.token={self.token}",
                    f"--ServerApp.root_dir={self.root}",
                ],
                stdout=self.log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if self._answers():
                    return self
                time.sleep(0.2)
            else:
                raise RuntimeError(f"jupyter server did not start in 60 s:\n{self.read_log()}")
            log = self.read_log()[log_start:]
            if not re.search(r"already in use|no available port", log):
                raise RuntimeError(f"jupyter server exited early:\n{log}")
        raise RuntimeError(f"jupyter server lost its port {SERVER_START_ATTEMPTS} times:\n{self.read_log()}")

    def _answers(self) -> bool:
        """Does this server's API answer, with this server's token?"""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", "/api/status", headers=self.headers)
            response = connection.getresponse()
            return response.status == 200 and "started" in json.loads(response.read() or b"{}")
        except (OSError, http.client.HTTPException, ValueError):
            return False
        finally:
            connection.close()

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.runtime.cleanup()
        self.log.close()

    def read_log(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    @property
    def headers(self):
        return {"Authorization": f"token {self.token}"}


def run_all_queued(
    server: JupyterServer,
    path: Path,
    *,
    rounds: int = 2,
    bound: float = 120,
    extra_setup: str = "",
    after_first_round: str = "",
) -> list[RunReport]:
    """Queue every cell at once, as JupyterLab's Run All does, ``rounds`` times in one kernel.

    The first round runs in the kernel the server has just started: a fresh kernel. ``extra_setup``
    runs with the guard, before it; ``after_first_round`` runs right after it, and what it prints is
    in the first report's ``final_output`` (as ``run_fresh``'s ``extra_report``).
    """
    return asyncio.run(_run_all_queued(server, path, rounds, bound, extra_setup, after_first_round))


async def _run_all_queued(server, path, rounds, bound, extra_setup, after_first_round):
    import aiohttp

    relative = path.resolve().relative_to(server.root.resolve()).as_posix()
    sources = code_cells(path)
    reports = []
    log_start = len(server.read_log())
    async with aiohttp.ClientSession(server.url, headers=server.headers) as http:
        async with http.post(
            "/api/sessions",
            json={
                "path": relative,
                "type": "notebook",
                "name": path.name,
                "kernel": {"name": "python3"},
            },
        ) as resp:
            resp.raise_for_status()
            session = await resp.json()
        kernel_id = session["kernel"]["id"]
        try:
            async with http.ws_connect(
                f"/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}", max_msg_size=0
            ) as ws:
                guard = await _execute_queued(ws, [GUARD_INSTALL + extra_setup], bound=60)
                for round_no in range(1, rounds + 1):
                    report = RunReport(path.name, f"Run All queued, round {round_no}")
                    started = time.perf_counter()
                    report.cells = await _execute_queued(ws, sources, bound=bound)
                    report.seconds = time.perf_counter() - started
                    reports.append(report)
                    if round_no == 1 and after_first_round:
                        (after,) = await _execute_queued(ws, [after_first_round], bound=60)
                        report.final_output = after.stdout
                        report.problems += [f"after the first round: {e}" for e in after.errors]
                        if after.status != "ok":
                            report.problems.append(f"after the first round: reply {after.status or 'never came'}")
                (final,) = await _execute_queued(ws, [GUARD_REPORT], bound=60)
                reports[-1].problems += [f"guard setup: {e}" for e in guard[0].errors]
                _read_guard(reports[-1], final.stdout)
                reports[-1].problems += final.errors
        finally:
            async with http.delete(f"/api/sessions/{session['id']}"):
                pass
    # The kernel's own stderr (warnings while shutting down) goes to the server's log.
    await asyncio.sleep(1.0)
    log = server.read_log()[log_start:]
    reports[-1].problems += shutdown_problems(_kernel_lines(log))
    reports[-1].problems += [f"server: {line.strip()}" for line in log.splitlines() if KERNEL_DIED.search(line)]
    return reports


KERNEL_DIED = re.compile(r"restarting kernel|kernel \S+ restarted|died|KernelRestarter", re.IGNORECASE)


def _kernel_lines(log: str) -> str:
    # The server's own lines start with "[I 2026-..."; the kernel's with "[IPKernelApp]" (its start-up
    # notice about TCP). Anything else came from a kernel's stderr.
    return "\n".join(
        line
        for line in log.splitlines()
        if not re.match(
            r"^(\[[DIWEC] \d|\[IPKernelApp\] WARNING \| Kernel is running over TCP|\s+Setting websocket)", line
        )
    )


async def _execute_queued(ws, sources: list[str], *, bound: float) -> list[CellResult]:
    session = uuid.uuid4().hex
    cells = {}
    for i, source in enumerate(sources):
        msg_id = uuid.uuid4().hex
        cells[msg_id] = CellResult(i, source)
        await ws.send_json(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "session": session,
                    "username": "asynclab-tests",
                    "version": "5.3",
                    "date": "",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "buffers": [],
                "content": {
                    "code": source,
                    "silent": False,
                    "store_history": True,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            }
        )
    started = {}
    waiting = set(cells)
    # A cell is over at its reply (shell) *and* its "idle" status (iopub): the two channels are not
    # ordered, and output can still come on iopub after the reply.
    replied: set[str] = set()
    idle: set[str] = set()
    deadline = time.monotonic() + bound
    while waiting:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            msg = await asyncio.wait_for(ws.receive_json(), timeout=remaining)
        except TimeoutError:
            break
        parent = msg.get("parent_header", {}).get("msg_id")
        if parent not in cells:
            continue
        cell, kind, content = cells[parent], msg["header"]["msg_type"], msg.get("content", {})
        if kind == "execute_input":
            started[parent] = time.perf_counter()
        elif kind == "execute_reply":
            cell.status = content.get("status")
            if parent in started:
                cell.seconds = time.perf_counter() - started[parent]
            if cell.status == "error":
                cell.errors.append(f"{content.get('ename')}: {content.get('evalue')}")
            replied.add(parent)
        elif kind == "status" and content.get("execution_state") == "idle":
            idle.add(parent)
        elif kind in ("stream", "error"):
            cell.errors += problems_in_output({**content, "msg_type": kind})
            if kind == "stream" and content.get("name") == "stdout":
                cell.stdout += content.get("text", "")
        if parent in replied and parent in idle:
            waiting.discard(parent)
    # An error reply also arrives as an error output: keep one line for it.
    for cell in cells.values():
        cell.errors = list(dict.fromkeys(cell.errors))
    return list(cells.values())
