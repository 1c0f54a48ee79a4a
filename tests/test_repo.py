"""The repository itself: pinned environment, Binder configuration, clean notebooks."""

import io
import re
import shutil
import subprocess
import sys
import tokenize
import tomllib
from urllib.parse import parse_qs, urlsplit

import check_wheels
import nbformat
import pytest
from checkout import NOTEBOOKS_DIR, ROOT

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def test_the_scripts_and_the_package_find_the_same_checkout():
    # scripts/checkout.py is where the tests and scripts find the checkout; the package finds its
    # own files from asynclab/paths.py. Run from the repository, both name the same folders.
    import asynclab.paths
    import checkout

    assert asynclab.paths.ROOT_DIR == checkout.ROOT
    assert asynclab.paths.NOTEBOOKS_DIR == checkout.NOTEBOOKS_DIR
    assert asynclab.paths.PACKAGE_DIR == checkout.PACKAGE_DIR


def pins(path):
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: not pinned with ==: {line!r}"
        found[match[1].lower().replace("_", "-")] = match[2]
    return found


def test_the_lock_keeps_within_the_package_s_bounds():
    """pyproject.toml's bounds (aiosqlite's upper one: see asynclab/lessons/nb04.py) hold for the lock."""
    from packaging.requirements import Requirement

    pinned = pins(ROOT / "requirements.txt")
    for dependency in map(Requirement, tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]):
        pin = pinned[dependency.name.lower()]
        assert dependency.specifier.contains(pin), f"requirements.txt pins {dependency.name}=={pin}: {dependency}"


def loose_names(path):
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.append(re.split(r"[<>=!~\[; ]", line)[0].lower().replace("_", "-"))
    return names


def test_every_direct_dependency_is_pinned():
    runtime = pins(ROOT / "requirements.txt")
    for name in loose_names(ROOT / "requirements.in"):
        assert name in runtime, f"{name} is in requirements.in but not pinned in requirements.txt"
    test = pins(ROOT / "requirements-test.txt")
    for name in loose_names(ROOT / "requirements-test.in"):
        assert name in test, f"{name} is in requirements-test.in but not pinned in requirements-test.txt"


@pytest.mark.parametrize("python", check_wheels.PYTHONS)
def test_test_pins_agree_with_runtime_pins(python):
    # The lock is one file for every Python, with markers: compare what each target installs.
    for platform in check_wheels.PLATFORMS:
        runtime = check_wheels.pins_for(check_wheels.RUNTIME, python, platform)
        test = check_wheels.pins_for([ROOT / "requirements-test.txt"], python, platform)
        clashes = {n: (runtime[n], v) for n, v in test.items() if n in runtime and runtime[n] != v}
        assert not clashes, f"Python {python} on {platform}: {clashes}"


def test_site_pins_agree_with_runtime_and_test_pins():
    # The site tools install into the same venv as the lessons and the tests: no pin may move.
    site = pins(ROOT / "requirements-site.txt")
    for name in loose_names(ROOT / "requirements-site.in"):
        assert name in site, f"{name} is in requirements-site.in but not pinned in requirements-site.txt"
    for other in ("requirements.txt", "requirements-test.txt"):
        shared = pins(ROOT / other)
        clashes = {n: (shared[n], v) for n, v in site.items() if n in shared and shared[n] != v}
        assert not clashes, f"requirements-site.txt moves pins of {other}: {clashes}"


def test_course_pins_agree_with_runtime_and_test_pins():
    # nbgrader installs into the same venv as the lessons and the tests: no pin may move.
    course = pins(ROOT / "requirements-course.txt")
    for name in loose_names(ROOT / "requirements-course.in"):
        assert name in course, f"{name} is in requirements-course.in but not pinned in requirements-course.txt"
    assert course["nbgrader"] == "0.9.6"
    for other in ("requirements.txt", "requirements-test.txt"):
        shared = pins(ROOT / other)
        clashes = {n: (shared[n], v) for n, v in course.items() if n in shared and shared[n] != v}
        assert not clashes, f"requirements-course.txt moves pins of {other}: {clashes}"


def test_binder_installs_exactly_the_runtime_pins():
    assert (ROOT / "binder" / "requirements.txt").read_text() == (ROOT / "requirements.txt").read_text(), (
        "binder/requirements.txt drifted from requirements.txt: run `make lock`"
    )


def test_binder_pins_python_312():
    # Binder's default (3.10) lacks asyncio.timeout and TaskGroup; runtime.txt takes x.y only.
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.12"


def test_nest_asyncio2_not_the_archived_nest_asyncio():
    runtime = pins(ROOT / "requirements.txt")
    assert "nest-asyncio2" in runtime
    assert "nest-asyncio" not in runtime, "nest_asyncio 1.6.0 wedges JupyterLab's Run All on ipykernel >= 7.1"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_is_valid_and_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {i} is stored with outputs"


def revealing_calls(source):
    """The ``.hint(`` / ``.solution(`` calls in a cell's code, leaving out comments and strings."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(source).readline)
        if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE)
    ]
    return [
        f"line {name.start[0]}: {source.splitlines()[name.start[0] - 1].strip()}"
        for dot, name, paren in zip(tokens, tokens[1:], tokens[2:])
        if dot.string == "." and name.string in ("hint", "solution") and paren.string == "("
    ]


def test_revealing_calls_are_found_only_outside_comments():
    assert revealing_calls("q1.hint()\n") and revealing_calls("x = 1\nq2.solution( )\n")
    assert not revealing_calls("# q1.hint()\n# q1.solution()   # a full answer\n")
    assert not revealing_calls("print('q1.hint()')\n")


@pytest.mark.parametrize("path", sorted(NOTEBOOKS_DIR.glob("*.ipynb")), ids=lambda p: p.stem)
def test_run_all_reveals_no_hint_or_solution(path):
    # Run All must not print the answers under the exercises: the calls ship commented out.
    nb = nbformat.read(path, as_version=4)
    found = [
        f"cell {i} {call}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for call in revealing_calls(cell.source)
    ]
    assert not found, f"{path.name} calls a hint or solution outside a comment: {found}"


def test_repo2docker_accepts_the_binder_configuration(tmp_path):
    repo2docker = shutil.which("repo2docker", path=str(ROOT / ".venv" / "bin")) or shutil.which("repo2docker")
    if repo2docker is None:
        pytest.skip("repo2docker is not installed (it is in requirements-test.txt)")
    # Only what git would commit, as Binder sees it (not .venv).
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    run = subprocess.run(
        [repo2docker, "--no-build", "--no-run", "--debug", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert "python=3.12" in out
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in out
    assert "binder/postBuild" in out  # installs the lab settings overrides (no news prompt)


def test_make_refuses_an_old_python():
    old = subprocess.run(
        [str(ROOT / "scripts" / "find_python.sh"), "3.10"], capture_output=True, text=True
    ).stdout.strip()
    if not old:
        pytest.skip("no Python 3.10 on this machine to try")
    run = subprocess.run(["make", "-C", str(ROOT), "check-python", f"PYTHON={old}"], capture_output=True, text=True)
    assert run.returncode != 0
    assert "needs Python 3.11 or newer" in run.stdout + run.stderr


def test_navigation_and_index_are_up_to_date():
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "navigation.py"), "--check"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("path", sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_notebook_points_at_the_one_repository(path):
    import navigation  # scripts/ is on the path (pytest.ini)

    nb = nbformat.read(path, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == navigation.INSTALL_CELL, "the first code cell is not the install cell"
    (install_line,) = [line for line in first_code.source.splitlines() if "%pip install" in line]
    assert f"git+https://github.com/{navigation.REPOSITORY}" in install_line
    badges = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("<!--BADGES-->")]
    assert len(badges) == 1
    assert f"colab.research.google.com/github/{navigation.REPOSITORY}/blob/main/notebooks/{path.name}" in badges[0]
    assert f"mybinder.org/v2/gh/{navigation.REPOSITORY}/HEAD?urlpath=lab%2Ftree%2Fnotebooks%2F{path.name}" in badges[0]


def test_readme_and_pyproject_point_at_the_one_repository():
    import navigation  # scripts/ is on the path (pytest.ini)

    readme = (ROOT / "README.md").read_text()
    assert navigation.badges(NOTEBOOKS_DIR / "00_start_here.ipynb") in readme.splitlines()
    assert f'pip install "asynclab @ git+https://github.com/{navigation.REPOSITORY}"' in readme
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["urls"]["Homepage"] == f"https://github.com/{navigation.REPOSITORY}"


def test_a_fork_moves_the_readmes_badges_and_hub_link(monkeypatch):
    import navigation  # scripts/ is on the path (pytest.ini)

    # What a fork's edited REPOSITORY line gives when the script next runs (INSTALL_URL follows it).
    monkeypatch.setattr(navigation, "REPOSITORY", "a-teacher/async-course")
    monkeypatch.setattr(navigation, "INSTALL_URL", "git+https://github.com/a-teacher/async-course")
    readme = navigation.readme_with_badges((ROOT / "README.md").read_text())
    assert "asynclab/asynclab" not in readme
    # The install section's pip and %pip lines, and the course's.
    assert readme.count('"asynclab @ git+https://github.com/a-teacher/async-course"') == 3
    hub = next(line.strip(" `") for line in readme.splitlines() if "hub/user-redirect/git-pull?" in line)
    query = parse_qs(urlsplit(hub).query)
    assert query == {
        "repo": ["https://github.com/a-teacher/async-course"],
        "branch": ["main"],
        "urlpath": ["lab/tree/async-course/notebooks/00_start_here.ipynb"],
    }


@pytest.mark.parametrize("label", [None, "3.11.2", "3.15"], ids=["main", "debian-3.11.2", "python-3.15"])
def test_make_lab_serves_the_start_notebook(tmp_path, label):
    """`make lab` itself, with this checkout's interpreter, Debian 12's own Python 3.11.2 and 3.15."""
    import json
    import os
    import signal
    import time
    import urllib.request

    from checkout import free_port
    from test_pythons import environment

    prefix, make_vars = [], []
    if label is not None:  # the environment `make test` built for it, used as make lab's own
        env = environment(label)
        prefix, make_vars = env["prefix"], [f"VENV=.venv-{label}", f"PYTHON={env['python']}"]
        (ROOT / f".venv-{label}" / ".runtime").unlink(missing_ok=True)  # so make lab runs its pip install
    port, token = free_port(), "asynclab-test"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --port-retries=0 --IdentityProvider.token={token}"
    log = (tmp_path / "lab.log").open("w+")
    lab = subprocess.Popen(
        [*prefix, "make", "-s", "-C", str(ROOT), "lab", *make_vars, f"LAB_ARGS={args}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/?token={token}", timeout=5) as resp:
                    landing = resp.url  # after the redirect to the start notebook
                break
            except OSError:
                assert lab.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "make lab did not answer within 90 s"
                time.sleep(0.5)
        assert landing.startswith(f"{base}/lab/tree/notebooks/00_start_here.ipynb")
        with urllib.request.urlopen(f"{base}/api/contents/notebooks/00_start_here.ipynb?token={token}") as resp:
            model = json.load(resp)
        assert model["type"] == "notebook" and model["content"]["cells"]
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(30)
        log.close()


def test_the_site_launches_the_one_repository():
    import navigation  # scripts/ is on the path (pytest.ini)

    config = (ROOT / "site" / "_config.yml").read_text()
    assert re.search(rf"^\s*url:\s*https://github\.com/{re.escape(navigation.REPOSITORY)}\s*$", config, re.M), (
        "site/_config.yml's repository.url differs from scripts/navigation.py's REPOSITORY"
    )
