"""asynclab as an installed package: the wheel, an install into a fresh venv, notebooks opened alone.

The wheel and the virtual environments are built once per test run and shared by pytest-xdist's
workers (a file lock makes the second worker wait for the first). Each notebook then runs in a
hard-linked copy of a venv that lacks asynclab, from a folder of its own, so its first cell really
installs the package: from the freshly built wheel instead of the repository, as the only change.
"""

import email
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import navigation  # scripts/ is on the path (pytest.ini)
import pytest
from checkout import NOTEBOOKS_DIR, ROOT
from nbharness import JupyterServer, run_all_queued, run_fresh
from packaging.requirements import Requirement
from test_notebooks import NOTEBOOKS, assert_clean, by_name

# One test worker runs the whole module: its wheel and environments are built once (session fixtures).
pytestmark = [pytest.mark.package, pytest.mark.xdist_group("package")]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
COLAB_STACK = ROOT / "tests" / "stacks" / "colab-requirements.txt"
COLAB_PYTHON = "3.13"
INSTALL_FROM_REPOSITORY = f'"asynclab @ {navigation.INSTALL_URL}"'


# --- building once per run -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory):
    # Under xdist every worker has its own basetemp inside one folder of the run: share that one.
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(shared: Path, name: str, build) -> Path:
    """shared/name, made by build(path) for the first worker that asks; the others wait, then reuse it."""
    target = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".built").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            build(target)
            (target / ".built").touch()
    return target


def run(cmd, **kwargs):
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600, **kwargs)
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def make_venv(path: Path, python: str, *pip_args) -> Path:
    run([python, "-m", "venv", path])
    run([path / "bin" / "python", "-m", "pip", "install", "--quiet", *pip_args])
    return path / "bin" / "python"


@pytest.fixture(scope="session")
def wheel(shared_dir) -> Path:
    folder = built_once(
        shared_dir,
        "wheel",
        lambda d: run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "--quiet", "-w", d]),
    )
    (found,) = folder.glob("asynclab-*.whl")
    return found


@pytest.fixture(scope="session")
def installed_venv(shared_dir, wheel) -> Path:
    """A fresh venv with the wheel and ipykernel, the wheel's dependencies resolved by pip."""
    folder = built_once(
        shared_dir,
        "venv-installed",
        lambda d: make_venv(d, sys.executable, wheel, "ipykernel", "-c", ROOT / "requirements.txt"),
    )
    return folder / "bin" / "python"


@pytest.fixture(scope="session")
def bare_venv(shared_dir) -> Path:
    """A fresh venv with ipykernel and the package's dependencies, but not asynclab. Its packages
    are put in by uv, in seconds (installed_venv is the one that tests pip's resolution); the
    notebooks then install asynclab with the venv's own pip, as a learner's %pip does."""

    def build(d: Path) -> None:
        run([sys.executable, "-m", "venv", d])
        uv = Path(sys.executable).with_name("uv")  # pinned in requirements-test.txt
        requirements = ["ipykernel", *PYPROJECT["project"]["dependencies"], "-c", ROOT / "requirements.txt"]
        run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python", d / "bin" / "python", *requirements])

    return built_once(shared_dir, "venv-bare", build)


@pytest.fixture(scope="session")
def colab_venv() -> Path:
    """The Colab-like stack `make test` builds (.venv-colab, the %%timeline tests use it too)."""
    venv = ROOT / ".venv-colab"
    if not (venv / ".test").exists():
        pytest.skip(
            f"no Colab-like stack ({venv.name}): `make test` builds it from {COLAB_STACK.name} "
            f"when a Python {COLAB_PYTHON} is on PATH or in pyenv"
        )
    return venv


def copy_of_venv(venv: Path, path: Path) -> Path:
    """A venv of its own, hard-linked from venv in a moment: what pip installs there stays there."""
    shutil.copytree(venv, path, symlinks=True, copy_function=os.link)
    (path / ".built").unlink(missing_ok=True)
    return path / "bin" / "python"


def notebook_alone(path: Path, folder: Path, wheel: Path) -> Path:
    """The notebook copied into an empty folder, its install line pointing at the built wheel."""
    text = path.read_text()
    assert text.count(INSTALL_FROM_REPOSITORY.replace('"', '\\"')) == 1, f"{path.name}: no single install line"
    folder.mkdir()
    alone = folder / path.name
    alone.write_text(text.replace(navigation.INSTALL_URL, wheel.as_uri()))
    return alone


def asynclab_location(python: Path, cwd: Path) -> str | None:
    found = subprocess.run(
        [python, "-c", "import importlib.util as u; s = u.find_spec('asynclab'); print(s and s.origin)"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return None if found == "None" else found


# --- the wheel -----------------------------------------------------------------------------------


def test_the_wheel_carries_the_package_and_its_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert wheel.name.startswith(f"asynclab-{declared_version()}-py3-none-any")
    package = {p.relative_to(NOTEBOOKS_DIR).as_posix() for p in (NOTEBOOKS_DIR / "asynclab").rglob("*.py")}
    data = {f"asynclab/data/{p.name}" for p in (ROOT / "data").iterdir() if p.is_file()}
    assert package - names == set(), "modules missing from the wheel"
    assert data - names == set(), "data files missing from the wheel"
    strays = [n for n in names if "__pycache__" in n or n.endswith(".ipynb") or not n.startswith("asynclab")]
    assert not strays
    metadata = email.message_from_bytes(
        zipfile.ZipFile(wheel).read(f"asynclab-{declared_version()}.dist-info/METADATA")
    )
    requires = {Requirement(line).name for line in metadata.get_all("Requires-Dist")}
    assert requires == {
        "aiohttp",
        "aiofiles",
        "aiosqlite",
        "ipywidgets",
        "matplotlib",
        "nest-asyncio2",
        "platformdirs",
    }  # the lessons' libraries, the checkpoints' controls and the progress record's folder, not JupyterLab


def test_pip_builds_it_from_a_git_url(tmp_path):
    # The install line's form, "asynclab @ git+URL", on this repository's last commit: what a clone has.
    commit = run(["git", "rev-parse", "HEAD"], cwd=ROOT).stdout.strip()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            tmp_path,
            f"asynclab @ git+file://localhost{ROOT}@{commit}",
        ],
        cwd=tmp_path,
    )
    (from_git,) = tmp_path.glob("asynclab-*.whl")
    tracked = run(["git", "ls-files", "notebooks/asynclab", "data"], cwd=ROOT).stdout.split()
    expected = {"asynclab/" + n if n.startswith("data/") else n.removeprefix("notebooks/") for n in tracked}
    assert expected - set(zipfile.ZipFile(from_git).namelist()) == set()


SERVE_A_REQUEST = r"""
import asyncio, json
import aiohttp, asynclab
from asynclab import paths

async def main():
    async with asynclab.start_services() as svc:
        async with aiohttp.ClientSession() as http, http.get(svc.base_url + "/items?page=2&per_page=5") as resp:
            body = await resp.json()
    print(json.dumps({"version": asynclab.__version__, "file": asynclab.__file__,
                      "data": str(paths.DATA_DIR), "status": resp.status, "items": body["results"]}))

asyncio.run(main())
"""


def test_the_installed_wheel_serves_from_its_own_data(installed_venv, tmp_path):
    # -I: neither the working directory nor PYTHONPATH is on the path; only the venv's packages.
    done = run([installed_venv, "-I", "-c", SERVE_A_REQUEST], cwd=tmp_path)
    found = json.loads(done.stdout)
    venv = Path(installed_venv).parents[1]
    assert found["version"] == declared_version()
    assert Path(found["file"]).is_relative_to(venv) and Path(found["data"]).is_relative_to(venv), found
    assert found["status"] == 200
    items = json.loads((ROOT / "data" / "items.json").read_text())
    assert found["items"] == items[5:10]
    assert done.stderr == ""
    run([installed_venv, "-m", "pip", "check"])


RECORD_PROGRESS = r"""
import asyncio, asynclab
from asynclab.exercises.nb01 import q3
asyncio.run(q3.check(q3.reference, show=False))
q3.hint()
shown = asynclab.progress(show=False)
print(asynclab.__file__, shown.path, shown["nb01"].solved, shown["nb01"].hints)
"""


def test_the_installed_wheel_records_progress_in_the_users_data_folder(installed_venv, tmp_path):
    # platformdirs (a declared dependency) finds the data folder: on Linux, under XDG_DATA_HOME.
    env = {k: v for k, v in os.environ.items() if k != "ASYNCLAB_DATA_DIR"} | {"XDG_DATA_HOME": str(tmp_path)}
    done = run([installed_venv, "-I", "-c", RECORD_PROGRESS], cwd=tmp_path, env=env)
    assert done.stdout.startswith("Hint 1 of 3:")
    file, log, solved, hints = done.stdout.splitlines()[-1].split(maxsplit=3)
    assert Path(file).is_relative_to(Path(installed_venv).parents[1])
    assert log == str(tmp_path / "asynclab" / "progress.jsonl") and Path(log).is_file()
    assert (solved, hints) == ("['q3']", "1")
    assert done.stderr == ""


def declared_version():
    """The one version: written in __init__.py, read from there by the build (pyproject.toml)."""
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "notebooks/asynclab/__init__.py"
    assert "version" in PYPROJECT["project"]["dynamic"]
    import asynclab

    return asynclab.__version__


# --- notebooks opened alone ----------------------------------------------------------------------


def run_alone(path, venv: Path, wheel: Path, tmp_path: Path, run_notebook) -> list:
    """Run a copy of the notebook alone in a folder, on a copy of venv; check that it installed asynclab."""
    python = copy_of_venv(venv, tmp_path / venv.name)  # its name labels the run: venv-bare, venv-colab
    alone = notebook_alone(path, tmp_path / "alone", wheel)
    assert asynclab_location(python, alone.parent) is None, "asynclab is importable before the notebook installs it"
    reports = run_notebook(alone, str(python))
    installed = asynclab_location(python, alone.parent)
    assert installed and Path(installed).is_relative_to(python.parents[1]), (
        f"asynclab not installed in the venv: {installed}"
    )
    return reports


def fresh_kernel(notebook, python):
    return [run_fresh(notebook, python=python)]


def run_all_queued_twice(notebook, python):
    with JupyterServer(root=notebook.parent, python=python) as server:
        return run_all_queued(server, notebook, rounds=2)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=by_name)
def test_alone_in_a_folder_installs_asynclab_and_runs(path, wheel, bare_venv, tmp_path, notebook_reports):
    """Run All twice: the first round, in the fresh kernel the server starts, installs asynclab (as
    stepping through would: the Colab-like stack below does that); the second re-runs the install."""
    reports = run_alone(path, bare_venv, wheel, tmp_path, run_all_queued_twice)
    notebook_reports.extend(reports)
    for report in reports:
        assert_clean(report)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=by_name)
def test_alone_on_a_colab_like_stack(path, wheel, colab_venv, tmp_path, notebook_reports):
    (report,) = run_alone(path, colab_venv, wheel, tmp_path, fresh_kernel)
    notebook_reports.append(report)
    assert_clean(report)
    assert report.python.startswith(COLAB_PYTHON + "."), f"the kernel ran Python {report.python}"
