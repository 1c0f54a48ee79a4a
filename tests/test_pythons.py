"""The notebooks and the helper package on every supported Python this machine has.

`make test` builds one environment per interpreter (scripts/test_envs.py) and records in
build/test-envs.json how to run each, or why it could not. Each test here runs pytest inside that
environment, so the kernel, the Jupyter server and the lessons' libraries are all that Python's own.
Python 3.14 and 3.15 run in a Debian sid chroot with this checkout mounted at the same path.
"""

import json
import os
import re
import shutil
import subprocess

import pytest
import test_envs
from checkout import ROOT
from test_notebooks import NOTEBOOKS

MANIFEST = ROOT / "build" / "test-envs.json"
LABELS = list(test_envs.MATRIX)  # every supported Python, one environment each
# The helper package's tests, on Binder's and the newest Python (the notebooks run on all of them;
# the main environment runs these tests on 3.11).
UNIT_TEST_LABELS = [test_envs.BINDER_PYTHON, LABELS[-1]]
# Every file of unit tests; the others run notebooks or check the repository, once, from the main environment.
NOT_UNIT_TESTS = {
    "test_notebooks.py",
    "test_harness.py",
    "test_repo.py",
    "test_lock.py",
    "test_pythons.py",
    "test_package.py",
    "test_diagrams.py",
    "test_course.py",
    "test_stop_anywhere.py",  # a notebook test: the notebooks run on every Python in test_notebooks_on_python
    "test_answer_corpus.py",  # minutes per Python; the judges it runs are tested on each Python by test_exercises_*
}
UNIT_TESTS = sorted(p.name for p in (ROOT / "tests").glob("test_*.py") if p.name not in NOT_UNIT_TESTS)
# The timeline's own tests on the other Pythons too: recording hooks into asyncio's task creation,
# which changes even between patch releases (3.13.0 to 3.13.2 rename every task a factory makes).
TIMELINE_TESTS = ["test_timeline.py", "test_timeline_phases.py", "test_timeline_tracks.py"]
TIMELINE_TEST_LABELS = [label for label in LABELS if label not in UNIT_TEST_LABELS]


def environment(label: str) -> dict:
    if not MANIFEST.exists():
        pytest.skip("no build/test-envs.json: `make test` (or `make test-envs`) builds the other Pythons' environments")
    env = json.loads(MANIFEST.read_text()).get(label)
    if env is None:
        pytest.skip(f"build/test-envs.json has no Python {label}: run `make test-envs`")
    if "skip" in env:
        pytest.skip(env["skip"])
    return env


def run_pytest(env: dict, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*env["prefix"], env["python"], "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_manifest_covers_the_matrix():
    if not MANIFEST.exists():
        pytest.skip("no build/test-envs.json yet")
    assert list(json.loads(MANIFEST.read_text())) == LABELS


def test_two_builds_at_once_make_one_chroot(tmp_path):
    """test_envs.py sets up 3.14 and 3.15 side by side, and each asks sid_pythons.sh for the chroot.
    On a fresh machine the second must wait for the first, not run debootstrap into the same
    directory (it did, and 3.15 was skipped). debootstrap itself takes minutes, so a stand-in
    on PATH records each run and makes the directory slowly."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("flock"):
        pytest.skip("building the chroot needs root, unshare and flock")
    bin_dir, runs = tmp_path / "bin", tmp_path / "debootstrap-runs"
    bin_dir.mkdir()
    stand_in = bin_dir / "debootstrap"
    stand_in.write_text(
        "#!/bin/sh\n"  # debootstrap --variant=... --include=... sid DIR MIRROR
        f'echo "$4" >> {runs}\n'
        'mkdir -p "$4/etc" && sleep 1 && touch "$4/etc/debian_version"\n'
    )
    stand_in.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ASYNCLAB_SID_ROOT": str(tmp_path / "sid")}
    builds = [
        subprocess.Popen(
            [str(ROOT / "scripts" / "sid_pythons.sh"), "build"], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    errors = [build.communicate(timeout=60)[1] for build in builds]
    assert [build.returncode for build in builds] == [0, 0], errors
    assert runs.read_text().splitlines() == [f"{tmp_path}/sid.partial"], errors
    assert (tmp_path / "sid" / "etc" / "debian_version").exists()
    assert (tmp_path / "sid" / ".complete").exists()


@pytest.mark.notebook
@pytest.mark.timeout(1800)  # six notebooks, twice each: five minutes alone, more on a busy machine
@pytest.mark.parametrize("label", LABELS)
def test_notebooks_on_python(label, request):
    """Every notebook three ways, with zero warnings and every diagram readable: Run All queued
    through a Jupyter server in a fresh kernel, then again in the same kernel.

    The main environment also steps through each notebook one cell at a time (nbclient). How the
    cells are sent does not depend on the Python, and on the others the queued first round already
    is the fresh kernel, so that run is not repeated here. One pytest run per Python: its Jupyter
    server, and the start-up of pytest itself, serve all six notebooks."""
    env = environment(label)
    run = run_pytest(env, "tests/test_notebooks.py", "-q", "-rfE", "-k", "run_all_queued", timeout=1700)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    assert re.search(rf"\b{len(NOTEBOOKS)} passed\b", output), output[-3000:]  # every notebook ran, none skipped
    assert env["version"].startswith(label), f"the environment runs Python {env['version']}"
    # The inner run's notebook times, for the summary at the end of this run.
    times = output.split("notebook run times", 1)[-1].split("\n=", 1)[0].strip("= \n")
    request.node.user_properties.append(("notebook_run", f"Python {env['version']}:\n" + times))


@pytest.mark.timeout(2400)  # ten minutes alone; more on a busy machine
@pytest.mark.parametrize("label", UNIT_TEST_LABELS)
def test_helper_package_tests_pass_on_python(label):
    """Every unit test file in one pytest run: the start-up of pytest and of what its conftest
    imports (nbformat's schema checks alone take seconds) is paid once, not once per file."""
    env = environment(label)
    run = run_pytest(env, "-q", "-rfE", *(f"tests/{name}" for name in UNIT_TESTS), timeout=2300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", run.stdout), run.stdout[-3000:]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("label", TIMELINE_TEST_LABELS)
def test_timeline_tests_pass_on_python(label):
    env = environment(label)
    run = run_pytest(env, "-q", *(f"tests/{name}" for name in TIMELINE_TESTS), timeout=900)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", run.stdout), run.stdout[-3000:]
