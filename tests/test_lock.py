"""The lock installs from wheels alone, with exactly its own pins, on every supported Python and platform."""

import tomllib

import check_wheels
import pytest
import test_envs
from checkout import ROOT


def minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def test_the_matrix_is_every_supported_target():
    # The Pythons whose wheels are checked are those the tests run on (test_envs.MATRIX), from the
    # oldest release that pyproject.toml's requires-python admits.
    assert {minor(py) for py in check_wheels.PYTHONS} == {minor(label) for label in test_envs.MATRIX}
    oldest = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"].removeprefix(">=")
    assert f"{oldest}.0" in check_wheels.PYTHONS
    assert set(check_wheels.PLATFORMS) == set(check_wheels.MARKER_ENV)  # each platform says how to read markers
    runtime = [(py, plat) for kind, py, plat in check_wheels.TARGETS if kind == "runtime"]
    assert sorted(runtime) == sorted((py, plat) for py in check_wheels.PYTHONS for plat in check_wheels.PLATFORMS)
    assert {py for kind, py, plat in check_wheels.TARGETS if kind == "test"} == set(check_wheels.PYTHONS)
    assert {py for kind, py, plat in check_wheels.TARGETS if kind == "course"} == set(check_wheels.PYTHONS)


def test_the_lock_installs_from_wheels_on_every_target():
    results = check_wheels.check_every_target()
    failures = [
        f"{kind} lock, Python {py} on {plat}:\n    " + "\n    ".join(problems)
        for (kind, py, plat), problems in zip(check_wheels.TARGETS, results)
        if problems
    ]
    assert not failures, "\n".join(failures) + '\nRe-pin with: make lock UPGRADE="NAME ..."'


@pytest.mark.parametrize(
    "pins, python, culprit",
    [
        ("soupsieve==4.1.3\n", "3.11.0", "soupsieve"),  # needs Python 3.11.5 (Debian 12 ships 3.11.2)
        ("contourpy==1.3.3\nnumpy==2.4.6\n", "3.15", "contourpy"),  # no 3.15 wheel: pip would compile it
    ],
    ids=["python-too-old", "no-wheel"],
)
def test_the_check_fails_on_the_pins_it_replaced(tmp_path, pins, python, culprit):
    lock = tmp_path / "requirements.txt"
    lock.write_text(pins)
    problems = check_wheels.check([lock], python, "linux-x86_64")
    assert problems and culprit in "\n".join(problems)


def test_the_check_fails_when_the_lock_lacks_a_dependency(tmp_path):
    lock = tmp_path / "requirements.txt"
    lock.write_text("aiosignal==1.4.0\n")  # needs frozenlist, which this lock does not pin
    problems = check_wheels.check([lock], "3.12", "linux-x86_64")
    assert any(p.startswith("frozenlist==") and "not in the lock" in p for p in problems), problems


def test_markers_are_read_per_target():
    runtime = check_wheels.RUNTIME
    assert check_wheels.pins_for(runtime, "3.11.0", "linux-x86_64")["soupsieve"].startswith("2.")
    assert (
        check_wheels.pins_for(runtime, "3.15", "linux-x86_64")["numpy"]
        != check_wheels.pins_for(runtime, "3.11.14", "linux-x86_64")["numpy"]
    )
    assert "pywinpty" in check_wheels.pins_for(runtime, "3.13", "windows-x86_64")
    assert "pywinpty" not in check_wheels.pins_for(runtime, "3.13", "linux-x86_64")
    assert (ROOT / "requirements.txt") in runtime
