"""The learner's progress (asynclab/progress_log.py and progress_table.py), with real files, real kernels and real processes.

Each test points ``ASYNCLAB_DATA_DIR`` at a folder of its own; conftest.py already points the whole
run at a temporary folder, so nothing here or in the notebook tests writes the user's data folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asynclab
import nbformat
import pytest
from asynclab import progress_log, progress_table
from asynclab.exercises import nb01, nb03
from checkout import ROOT
from jupyter_client.manager import KernelManager
from nbharness import NOTEBOOKS_DIR, JupyterServer, run_all_queued, run_fresh

COLAB_PYTHON = ROOT / ".venv-colab" / "bin" / "python"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    monkeypatch.setenv("ASYNCLAB_DATA_DIR", str(folder))
    monkeypatch.delenv("ASYNCLAB_PROGRESS", raising=False)
    monkeypatch.setattr(progress_log, "_told", False)  # a fresh "kernel": the one notice not given yet
    return folder


def lines_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# --- a real kernel ---------------------------------------------------------------------------------


class Kernel:
    """A real IPython kernel (the notebooks' own, or another interpreter's), run from notebooks/."""

    def __init__(self, env: dict, python: Path | None = None):
        manager_class = KernelManager
        if python is not None:

            class OtherPython(KernelManager):
                def format_kernel_cmd(self, extra_arguments=None):
                    return [str(python), *super().format_kernel_cmd(extra_arguments)[1:]]

            manager_class = OtherPython
        self.km = manager_class(kernel_name="python3")
        self.km.start_kernel(cwd=str(NOTEBOOKS_DIR), env=dict(os.environ, **env))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> list[dict]:
        """Execute one cell; its outputs as {"stream": name, "text": ...} or {"data": {...}}."""
        messages = []
        reply = self.kc.execute_interactive(textwrap.dedent(code), output_hook=messages.append, timeout=timeout)
        outputs = []
        for msg in messages:
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                outputs.append({"stream": content["name"], "text": content["text"]})
            elif kind in ("display_data", "execute_result"):
                outputs.append({"data": content["data"]})
            elif kind == "error":
                outputs.append({"stream": "error", "text": f"{content['ename']}: {content['evalue']}"})
        assert reply["content"]["status"] == "ok", (code, outputs)
        assert not [o for o in outputs if o.get("stream") in ("stderr", "error")], (code, outputs)
        return outputs

    def restart(self):
        self.km.restart_kernel(now=True)
        self.kc.wait_for_ready(timeout=60)

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def text_of(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") + "\n" for o in outputs)


def pythons():
    colab = pytest.param(COLAB_PYTHON, id="colab-stack")
    if not COLAB_PYTHON.exists():
        colab = pytest.param(
            COLAB_PYTHON, id="colab-stack", marks=pytest.mark.skip(reason="no .venv-colab (make test builds it)")
        )
    return [pytest.param(None, id="this-venv"), colab]


SOLVE = """
import asynclab
from asynclab.exercises.nb01 import q3
from asynclab.exercises.nb03 import q2, q3 as nb03_q3, q4

first_n = q3.reference   # a right answer, under the learner's name
await q3.check()
"""
FAIL = """
async def fetch_all_limited(fetch, urls, limit):   # the common wrong answer: one call after another
    return [await fetch(url) for url in urls]

await q2.check()
"""
HINTS = "q2.hint()\nq2.hint()"
SOLUTION = "nb03_q3.solution()"
NOT_ANSWERED = "await q4.check()   # `Borrow` not written yet"
SHOW = "asynclab.progress()"
DATA = """
import json
p = asynclab.progress(show=False)
print(json.dumps({nb.notebook: [nb.solved, nb.tried, nb.not_started, nb.hints, nb.solutions] for nb in p.notebooks}))
"""


@pytest.mark.notebook
@pytest.mark.parametrize("python", pythons())
def test_a_learner_restarts_the_kernel_and_sees_the_same_table(python, data_dir):
    kernel = Kernel({"ASYNCLAB_DATA_DIR": str(data_dir)}, python)
    try:
        assert "✔ Correct!" in text_of(kernel.run(SOLVE))
        assert "✘ Not yet:" in text_of(kernel.run(FAIL))
        assert "Hint 2 of 3" in text_of(kernel.run(HINTS))
        assert "Solution for `atomic`" in text_of(kernel.run(SOLUTION))
        assert "Not answered yet" in text_of(kernel.run(NOT_ANSWERED))
        (before,) = kernel.run(SHOW)
        data_before = json.loads(text_of(kernel.run(DATA)))

        kernel.restart()
        assert kernel.run("import sys; print('asynclab.exercises.nb03' in sys.modules)")[0]["text"] == "False\n"
        (after,) = kernel.run("import asynclab\n" + SHOW)
        data_after = json.loads(text_of(kernel.run(DATA)))
    finally:
        kernel.close()

    assert after == before
    assert set(after["data"]) == {"text/plain", "text/html"}
    assert data_after == data_before
    assert data_after["nb01"] == [["q3"], [], ["q1", "q2", "q4"], 0, []]
    assert data_after["nb03"] == [[], ["q2"], ["q1", "q3", "q4", "q5"], 2, ["q3"]]
    assert data_after["nb02"] == [[], [], ["q1", "q2", "q3", "q4"], 0, []]
    table = after["data"]["text/plain"]
    assert "03 · async with" in table and "1 of 5 (q2)" in table and f"Kept in {data_dir / 'progress.jsonl'}" in table
    assert "<table>" in after["data"]["text/html"] and "1 of 4 (q3)" in after["data"]["text/html"]

    events = lines_of(data_dir / "progress.jsonl")
    assert [(e["exercise"], e["event"], e.get("outcome", e.get("hint"))) for e in events] == [
        ("nb01.q3", "check", "passed"),
        ("nb03.q2", "check", "failed"),
        ("nb03.q2", "hint", 1),
        ("nb03.q2", "hint", 2),
        ("nb03.q3", "solution", None),
        ("nb03.q4", "check", "not answered"),
    ]


WRITE_MANY = """
import time
from asynclab.exercises.nb03 import q1
from asynclab.progress_log import record

while time.time() < {start}:   # both kernels start writing at the same moment
    pass
written = sum(record(q1, "hint", hint=i, writer={writer!r}) for i in range({count}))
print(written)
"""


@pytest.mark.notebook
def test_two_kernels_writing_at_once_lose_nothing(data_dir):
    count = 400
    kernels = [Kernel({"ASYNCLAB_DATA_DIR": str(data_dir)}) for _ in range(2)]
    try:
        for kernel in kernels:
            kernel.run("import asynclab.progress_log, asynclab.exercises.nb03")  # imports done before the race
        start = time.time() + 1.0
        sent = [
            k.kc.execute(WRITE_MANY.format(start=start, writer=f"kernel {n}", count=count))
            for n, k in enumerate(kernels)
        ]
        for kernel, msg_id in zip(kernels, sent):
            reply = kernel.kc.get_shell_msg(timeout=60)
            assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok"
    finally:
        for kernel in kernels:
            kernel.close()
    assert_every_record_once(data_dir / "progress.jsonl", [f"kernel {n}" for n in range(2)], count)


def assert_every_record_once(path: Path, writers: list[str], count: int):
    events, skipped = progress_log.read_events(path)
    assert skipped == 0
    assert path.read_bytes().endswith(b"\n")
    seen = sorted((e["writer"], e["hint"]) for e in events)
    assert seen == sorted((w, i) for w in writers for i in range(count))
    # Each writer's own events stay in its order: appends are not reordered.
    for writer in writers:
        assert [e["hint"] for e in events if e["writer"] == writer] == list(range(count))


def test_four_processes_writing_at_once_lose_nothing(data_dir):
    count = 1500
    start = time.time() + 1.5
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITE_MANY.format(start=start, writer=f"process {n}", count=count)],
            cwd=NOTEBOOKS_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert (process.returncode, out.strip(), err) == (0, str(count), "")
    assert_every_record_once(data_dir / "progress.jsonl", [f"process {n}" for n in range(4)], count)


# --- a folder that cannot be written, a corrupted file, recording off -------------------------------


def under_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "asynclab"  # mkdir fails: NotADirectoryError, root or not


def file_is_a_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    (folder / progress_log.FILE_NAME).mkdir(parents=True)  # open fails: IsADirectoryError
    return folder


def sysfs(tmp_path: Path) -> Path:
    folder = Path("/sys")  # sysfs: a folder that not even root can create files in
    if not (folder / "kernel").is_dir():  # not mounted here (a chroot): /sys would be an ordinary folder
        pytest.skip("no sysfs mounted at /sys")
    try:
        (folder / progress_log.FILE_NAME).open("a").close()
    except OSError:
        return folder
    (folder / progress_log.FILE_NAME).unlink()
    pytest.skip("/sys is writable here")


@pytest.mark.parametrize("unwritable", [under_a_file, file_is_a_folder, sysfs], ids=lambda f: f.__name__)
def test_an_unwritable_folder_skips_the_record_with_one_line(unwritable, tmp_path, monkeypatch, capsys):
    folder = unwritable(tmp_path)
    monkeypatch.setenv("ASYNCLAB_DATA_DIR", str(folder))
    monkeypatch.setattr(progress_log, "_told", False)
    assert asyncio.run(nb01.q3.check(nb01.q3.reference)).passed
    nb01.q3.hint(1)
    assert not asyncio.run(nb01.q3.check(nb01.q2.reference)).passed
    captured = capsys.readouterr()
    notices = [line for line in captured.out.splitlines() if "progress was not saved" in line]
    assert len(notices) == 1, captured.out
    assert "ASYNCLAB_DATA_DIR" in notices[0] and "(" in notices[0]
    assert captured.out.index("✔ Correct!") < captured.out.index(notices[0])  # after the verdict
    assert "✘ Not yet" in captured.out and "Hint 1 of 3" in captured.out
    assert captured.err == ""
    shown = progress_table.progress(show=False)  # reading the same folder never raises either
    assert shown["nb01"].solved == []


@pytest.mark.notebook
def test_an_unwritable_folder_in_a_kernel_says_so_once_and_nothing_on_stderr(tmp_path):
    kernel = Kernel({"ASYNCLAB_DATA_DIR": str(under_a_file(tmp_path))})
    try:
        outputs = kernel.run(SOLVE) + kernel.run(FAIL) + kernel.run(HINTS) + kernel.run(SHOW)
    finally:
        kernel.close()
    text = text_of(outputs)  # Kernel.run has already asserted: no stderr, no error
    assert text.count("progress was not saved") == 1 and "Not a directory" in text
    assert "✔ Correct!" in text and "✘ Not yet:" in text and "Hint 2 of 3" in text
    assert "Your progress could not be read" in text or "0 of 3" in text


def test_a_corrupted_file_keeps_what_it_can_and_takes_new_records(data_dir):
    data_dir.mkdir()
    log = data_dir / progress_log.FILE_NAME
    good = {"v": 1, "time": "2026-01-02T03:04:05+00:00", "exercise": "nb03.q1", "event": "check", "outcome": "passed"}
    log.write_bytes(
        json.dumps(good).encode()
        + b"\n\x00\xff\xfe binary garbage\n"
        + b'{"exercise": 3, "event": "check"}\n'
        + b"[1, 2, 3]\n"
        + b'{"v": 1, "time": "2026-01-02T03:05:00+00:00", "exercise": "nb03.q2", "ev'  # torn: no newline
    )
    assert asyncio.run(nb01.q3.check(nb01.q3.reference, show=False)).passed

    lines = log.read_bytes().split(b"\n")
    assert lines[4].endswith(b'"ev') and json.loads(lines[5])["exercise"] == "nb01.q3"  # a line of its own
    events, skipped = progress_log.read_events(log)
    assert [e["exercise"] for e in events] == ["nb03.q1", "nb01.q3"] and skipped == 4
    shown = progress_table.progress(show=False)
    assert shown["nb03"].solved == ["q1"] and shown["nb01"].solved == ["q3"]
    assert shown.skipped_lines == 4 and "4 unreadable line(s)" in str(shown)


def test_a_file_of_random_bytes_breaks_nothing(data_dir):
    data_dir.mkdir()
    (data_dir / progress_log.FILE_NAME).write_bytes(bytes(range(256)) * 64)
    assert asyncio.run(nb01.q3.check(nb01.q3.reference, show=False)).passed
    shown = progress_table.progress(show=False)
    assert shown["nb01"].solved == ["q3"] and shown.skipped_lines > 0


def test_a_missing_folder_is_made(tmp_path, monkeypatch):
    folder = tmp_path / "not" / "there" / "yet"
    monkeypatch.setenv("ASYNCLAB_DATA_DIR", str(folder))
    nb03.q1.hint()
    assert [e["event"] for e in lines_of(folder / progress_log.FILE_NAME)] == ["hint"]


def test_recording_off_writes_nothing(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("ASYNCLAB_PROGRESS", "off")
    assert asyncio.run(nb01.q3.check(nb01.q3.reference, show=False)).passed
    nb01.q3.hint(2)
    nb01.q3.solution()
    assert not data_dir.exists()
    shown = progress_table.progress()
    assert "Recording is off (ASYNCLAB_PROGRESS=off)" in capsys.readouterr().out
    assert shown["nb01"].not_started == ["q1", "q2", "q3", "q4"]
    monkeypatch.setenv("ASYNCLAB_PROGRESS", "on")
    nb01.q3.hint(2)
    assert len(lines_of(data_dir / progress_log.FILE_NAME)) == 1


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is where platformdirs looks on Linux")
def test_by_default_the_record_is_in_the_users_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("ASYNCLAB_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    nb03.q1.solution()
    assert progress_log.log_path() == tmp_path / "asynclab" / "progress.jsonl"
    assert [e["exercise"] for e in lines_of(tmp_path / "asynclab" / "progress.jsonl")] == ["nb03.q1"]


# --- asynclab.progress() ---------------------------------------------------------------------------


def test_progress_counts_a_solved_exercise_once_even_after_a_later_failure(data_dir):
    for answer in (nb01.q3.reference, nb01.q2.reference, nb01.q3.reference, nb01.q2.reference):
        asyncio.run(nb01.q3.check(answer, show=False))
    nb01.q1.hint(1)
    nb01.q1.hint(1)
    nb01.q1.hint(3)
    shown = progress_table.progress(show=False)
    assert shown.exercises["nb01.q3"].status == "solved" and shown.exercises["nb01.q3"].checks == 4
    assert shown.exercises["nb01.q1"].hints == 2  # different hints, not calls
    assert shown["nb01"].hints == 2 and shown["nb01"].not_started == ["q1", "q2", "q4"]


def test_asynclab_progress_stays_the_function_after_the_exercises_record(tmp_path):
    script = """
    import asyncio, asynclab
    from asynclab.exercises.nb01 import q3
    asyncio.run(q3.check(q3.reference, show=False))   # imports asynclab.progress_log
    shown = asynclab.progress()
    print(type(shown).__name__, shown["nb01"].solved)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=NOTEBOOKS_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, ASYNCLAB_DATA_DIR=str(tmp_path)),
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("Your progress\nNotebook")  # plain text outside Jupyter
    assert done.stdout.endswith("Progress ['q3']\n")
    assert "progress" in asynclab.__all__


# --- the notebook tests' kernels record into the run's own folder, not the user's ---------------------

PROBE = """
import os, sys
sys.path.insert(0, {notebooks!r})
from asynclab.exercises.nb03 import q1
await q1.check()
print("DATA_DIR=" + os.environ.get("ASYNCLAB_DATA_DIR", ""))
"""


def probe_notebook(folder: Path) -> Path:
    folder.mkdir()
    path = folder / "probe.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(PROBE.format(notebooks=str(NOTEBOOKS_DIR)))]
    nbformat.write(nb, path)
    return path


@pytest.mark.notebook
def test_the_notebook_harness_passes_the_runs_data_folder_to_its_kernels(tmp_path):
    run_folder = Path(os.environ["ASYNCLAB_DATA_DIR"])  # set by conftest.py for the whole run
    assert run_folder.name.startswith("asynclab-progress-")
    log = run_folder / progress_log.FILE_NAME
    before = len(lines_of(log)) if log.exists() else 0

    report = run_fresh(
        probe_notebook(tmp_path / "fresh"),
        extra_report='import os\nprint("DATA_DIR=" + os.environ.get("ASYNCLAB_DATA_DIR", ""))\n',
    )
    assert report.failures == [] and f"DATA_DIR={run_folder}\n" in report.final_output, report.failures
    with JupyterServer(root=tmp_path / "fresh") as server:
        (queued,) = run_all_queued(server, tmp_path / "fresh" / "probe.ipynb", rounds=1)
    assert f"DATA_DIR={run_folder}\n" in queued.cells[0].stdout, queued.cells
    events = lines_of(log)[before:]
    assert [(e["exercise"], e["outcome"]) for e in events] == [("nb03.q1", "not answered")] * 2
