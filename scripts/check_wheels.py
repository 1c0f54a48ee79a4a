"""Does the lock install from wheels alone, with exactly its own pins, on every supported target?

    python scripts/check_wheels.py          check every target below; exit 1 on any failure

For each target uv resolves the lock's pins as that interpreter and platform would see them
(``uv pip compile --python-version X --python-platform Y --only-binary :all:``), without that
interpreter. A pin with no wheel for the target, or a dependency the lock lacks there, fails.
"""

from __future__ import annotations

import concurrent.futures
import re
import shutil
import subprocess
import sys
from pathlib import Path

from checkout import ROOT  # this folder is on the path when the script runs
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

RUNTIME = [ROOT / "requirements.txt"]
TEST = [ROOT / "requirements.txt", ROOT / "requirements-test.txt"]
COURSE = [ROOT / "requirements.txt", ROOT / "requirements-course.txt"]
LOCKS = {"runtime": RUNTIME, "test": TEST, "course": COURSE}

# The oldest and the newest 3.11 differ: soupsieve 4 needs 3.11.5 (Ubuntu 22.04 ships 3.11.0).
PYTHONS = ["3.11.0", "3.11.14", "3.12", "3.13", "3.14", "3.15"]
# uv's platform names; manylinux_2_28 is the glibc of every Linux still supported (2.35 on Ubuntu 22.04).
PLATFORMS = {
    "linux-x86_64": "x86_64-manylinux_2_28",
    "linux-aarch64": "aarch64-manylinux_2_28",
    "windows-x86_64": "x86_64-pc-windows-msvc",
    "macos-arm64": "aarch64-apple-darwin",
}
MARKER_ENV = {
    "linux-x86_64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
    },
    "linux-aarch64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "aarch64",
    },
    "windows-x86_64": {
        "sys_platform": "win32",
        "platform_system": "Windows",
        "os_name": "nt",
        "platform_machine": "AMD64",
    },
    "macos-arm64": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "os_name": "posix",
        "platform_machine": "arm64",
    },
}
# What `make test` checks: the runtime lock everywhere, the test and course (nbgrader) locks on Linux.
TARGETS = [("runtime", py, plat) for py in PYTHONS for plat in PLATFORMS] + [
    (kind, py, "linux-x86_64") for kind in ("test", "course") for py in PYTHONS
]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise SystemExit("uv is not installed: it is in requirements-test.txt (make test installs it)")
    return found


def marker_environment(python: str, platform: str) -> dict:
    full = python if python.count(".") == 2 else python + ".0"
    return {
        "python_version": ".".join(full.split(".")[:2]),
        "python_full_version": full,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "implementation_version": full,
        "platform_release": "",
        "platform_version": "",
        **MARKER_ENV[platform],
    }


def pins_for(files: list[Path], python: str, platform: str) -> dict[str, str]:
    """The pins these lock files give this target, markers evaluated: {name: version}."""
    env = marker_environment(python, platform)
    pins = {}
    for path in files:
        for line in path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if not line or line.startswith("-"):
                continue
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(env):
                pins[canonicalize_name(requirement.name)] = str(requirement.specifier).removeprefix("==")
    return pins


def check(files: list[Path], python: str, platform: str) -> list[str]:
    """What is wrong with these lock files on this target; empty when they install from wheels as pinned."""
    run = subprocess.run(
        [
            uv(),
            "pip",
            "compile",
            *map(str, files),
            "--python-version",
            python,
            "--python-platform",
            PLATFORMS[platform],
            "--only-binary",
            ":all:",
            "--no-header",
            "--no-annotate",
            "--quiet",
            "--color",
            "never",
            "--no-python-downloads",
        ],  # else uv tries, in vain, to download that Python for every target
        capture_output=True,
        text=True,
        timeout=300,
    )
    if run.returncode != 0:
        return [line for line in run.stderr.splitlines() if line.strip()][:8]
    resolved = {}
    for line in run.stdout.splitlines():
        match = PIN.match(line.strip())
        if match:
            resolved[canonicalize_name(match[1])] = match[2]
    expected = pins_for(files, python, platform)
    problems = [
        f"{name}=={version} is not in the lock for this target"
        for name, version in resolved.items()
        if name not in expected
    ]
    problems += [
        f"{name}: resolved {resolved[name]}, the lock pins {version}"
        for name, version in expected.items()
        if name in resolved and resolved[name] != version
    ]
    return problems


def check_every_target() -> list[list[str]]:
    """check() for each of TARGETS, in order. Each resolution mostly waits on the index, so 8 at once."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda t: check(LOCKS[t[0]], t[1], t[2]), TARGETS))


def main() -> int:
    results = check_every_target()
    failed = 0
    for (kind, python, platform), problems in zip(TARGETS, results):
        print(f"{kind:8} Python {python:8} {platform:15} {'ok' if not problems else 'FAILS'}")
        for problem in problems:
            print(f"    {problem}")
        failed += bool(problems)
    if failed:
        print(
            f"\n{failed} of {len(TARGETS)} targets fail. A pin without a wheel for a target can usually move to a "
            'release that has one: make lock UPGRADE="NAME ..."'
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
