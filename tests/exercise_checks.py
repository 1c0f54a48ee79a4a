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
