"""Build one test environment per supported Python found on this machine, and say which were skipped.

    python scripts/test_envs.py            build what is missing or stale, then write the manifest
    python scripts/test_envs.py --list     print the manifest only

Each environment is ``.venv-LABEL``: that interpreter's ``venv`` with the runtime and test pins,
installed by uv for speed (``make lab`` installs the same lock with pip, and test_repo runs it). Python 3.14 and 3.15 come from Debian sid in a chroot
(``scripts/sid_pythons.sh``) when this machine has no such interpreter of its own. The manifest,
``build/test-envs.json``, tells the tests how to run each interpreter, or why there is none.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import operator
import os
import shutil
import subprocess
import sys
from pathlib import Path

from checkout import ROOT  # this folder is on the path when the script runs

MANIFEST = ROOT / "build" / "test-envs.json"
LOCKS = [ROOT / "requirements.txt", ROOT / "requirements-test.txt"]
SID = ROOT / "scripts" / "sid_pythons.sh"
FIND_PYTHON = ROOT / "scripts" / "find_python.sh"
BINDER_PYTHON = (ROOT / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
UV = str(Path(sys.executable).with_name("uv"))  # pinned in requirements-test.txt
CANNOT = 3  # sid_pythons.sh's exit status for "cannot be made here"

# label -> where to look. The oldest supported patch release a learner meets is Debian 12's own 3.11.2.
MATRIX = {
    "3.11.2": "the interpreter of that exact version: Debian 12's /usr/bin/python3",
    BINDER_PYTHON: f"python{BINDER_PYTHON} on PATH or in pyenv (Binder's version)",
    "3.13": "python3.13 on PATH or in pyenv",
    "3.14": "python3.14 on PATH, else Debian sid's in a chroot",
    "3.15": "python3.15 on PATH, else Debian sid's in a chroot",
}


def version_of(command: list[str]) -> str | None:
    try:
        run = subprocess.run(
            [*command, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return run.stdout.strip() if run.returncode == 0 else None


def matches(version: str | None, label: str) -> bool:
    return version is not None and (version == label or version.startswith(label + "."))


def find(label: str) -> tuple[list[str], str] | str:
    """(prefix, interpreter) for LABEL, or the reason there is none."""
    if label.count(".") == 2:  # an exact patch release
        for path in ("/usr/bin/python3", f"/usr/bin/python{label.rsplit('.', 1)[0]}"):
            if matches(version_of([path]), label):
                return [], path
        return f"no Python {label} here ({MATRIX[label]})"
    found = subprocess.run([str(FIND_PYTHON), label], capture_output=True, text=True).stdout.strip()
    if found:
        return [], found
    if label in ("3.14", "3.15"):
        build = subprocess.run([str(SID), "build"], capture_output=True, text=True)
        if build.returncode == CANNOT:
            return f"no Python {label} here, and no sid chroot: {build.stderr.strip()}"
        if build.returncode != 0:
            raise SystemExit(f"the sid chroot failed to build:\n{build.stderr}")
        return [str(SID), "run"], f"python{label}"
    return f"no Python {label} here ({MATRIX[label]})"


def lock_digest() -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in LOCKS)).hexdigest()


def build(label: str) -> dict:
    located = find(label)
    if isinstance(located, str):
        return {"skip": located}
    prefix, interpreter = located
    venv = ROOT / f".venv-{label}"
    stamp = venv / ".test"
    python = str(venv / "bin" / "python")
    if not (stamp.exists() and stamp.read_text() == lock_digest()):
        shutil.rmtree(venv, ignore_errors=True)
        steps = [
            [interpreter, "-m", "venv", str(venv)],
            [
                UV,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",  # as pip does: where PYTHONDONTWRITEBYTECODE is set, every process would compile
                "--python",
                python,
                *functools.reduce(operator.iadd, (["-r", str(p)] for p in LOCKS), []),
            ],
        ]
        for step in steps:
            run = subprocess.run(prefix + step, cwd=ROOT, capture_output=True, text=True)
            if run.returncode != 0:
                raise SystemExit(
                    f"building {venv.name} failed: {' '.join(step)}\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
                )
        stamp.write_text(lock_digest())
    version = version_of([*prefix, python])
    return {"prefix": prefix, "python": python, "version": version}


def main() -> None:
    if "--list" not in sys.argv:
        # Two at a time: pip is mostly waiting on downloads and unpacking, and the machine has 2 cores.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            envs = dict(zip(MATRIX, pool.map(build, MATRIX)))
        MANIFEST.parent.mkdir(exist_ok=True)
        MANIFEST.write_text(json.dumps(envs, indent=1) + "\n")
    envs = json.loads(MANIFEST.read_text())
    for label, env in envs.items():
        print(
            f"  Python {label:7} "
            + (
                f"{env['version']}: {os.path.relpath(env['python'], ROOT)}"
                + (" (in the sid chroot)" if env["prefix"] else "")
                if "python" in env
                else f"skipped: {env['skip']}"
            )
        )


if __name__ == "__main__":
    main()
