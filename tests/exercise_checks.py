"""What every exercise test does: run a check quietly, then assert on its verdict."""

import asyncio
import gc

import asynclab


def check(exercise, answer, *, services=False, **options):
    """Run ``exercise.check(answer)`` without display; ``services=True`` starts the local services."""

    async def run():
        if not services:
            return await exercise.check(answer, show=False, **options)
        async with asynclab.start_services():
            return await exercise.check(answer, show=False, **options)

    result = asyncio.run(run())
    gc.collect()  # anything the check left unclosed warns now, inside the test
    return result


def assert_passes(result):
    assert result.passed and result and result.status == "passed", f"{result.status}: {result.message} {result.error!r}"


def assert_fails(result, *phrases):
    assert result.status == "failed", f"expected a failure, got {result.status}: {result.message}"
    assert not result and not result.passed
    for phrase in phrases:
        assert phrase in result.message, f"{phrase!r} not in: {result.message}"


def assert_requirement_map(requirements, test_module_globals, exercise_module):
    """Check a requirement map: ``(exercise, requirement, words, test name)`` rows.

    For each row, ``words`` (what the judge says when the requirement is broken) must be in the
    judge's source (``asynclab/exercises/<exercise_module>.py`` or the shared core, diagnose and
    trial modules), and the
    named test must exist in the test module and assert those words. Every exercise of the
    module must have at least one row.
    """
    import importlib
    import inspect

    judge = importlib.import_module(f"asynclab.exercises.{exercise_module}")
    from asynclab.exercises import core, diagnose, trial

    judge_source = "".join(inspect.getsource(m) for m in (judge, core, diagnose, trial))
    problems = []
    for label, requirement, words, test_name in requirements:
        test = test_module_globals.get(test_name)
        if not callable(test):
            problems.append(f"{label} ({requirement}): no test {test_name}")
            continue
        if words not in judge_source:
            problems.append(f"{label} ({requirement}): the judge never says {words!r}")
        if words not in inspect.getsource(test):
            problems.append(f"{label} ({requirement}): {test_name} does not assert {words!r}")
    exercises = {
        name
        for name, value in vars(judge).items()
        if name in getattr(judge, "__all__", ()) and type(value).__name__ == "Exercise"
    }
    missing = exercises - {label for label, *_ in requirements}
    if missing:
        problems.append(f"exercises without a row: {sorted(missing)}")
    assert not problems, "\n".join(problems)
