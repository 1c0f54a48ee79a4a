"""`make corpus`: the answer corpus (tests/test_answer_corpus.py), ROUNDS times in a row, on every Python.

A right answer must never fail and a wrong one never pass, however often the judges run: a
verdict that depends on timing shows up here before it shows up in a class. The Pythons are this
checkout's .venv and those of build/test-envs.json (`make test-envs`); they run side by side, since
the judges mostly wait. Each Python stops at its first failing round. Exits 1 if any round failed.

    python scripts/corpus_rounds.py [ROUNDS] [LABEL ...]    # e.g. 20 3.12 3.15
"""

import json
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "build" / "test-envs.json"
LOGS = ROOT / "build" / "corpus-rounds"


def interpreters(labels: list[str]) -> dict[str, dict]:
    found = {f"{platform.python_version()} (.venv)": {"prefix": [], "python": str(ROOT / ".venv" / "bin" / "python")}}
    if MANIFEST.exists():
        found |= {label: env for label, env in json.loads(MANIFEST.read_text()).items() if "skip" not in env}
    return {label: env for label, env in found.items() if not labels or label in labels}


def run_rounds(label: str, env: dict, rounds: int, results: dict) -> None:
    command = [*env["prefix"], env["python"], "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    command.append("tests/test_answer_corpus.py")
    seconds = []
    for round_number in range(1, rounds + 1):
        began = time.perf_counter()
        run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds.append(time.perf_counter() - began)
        (LOGS / f"{label}-round-{round_number}.log").write_text(run.stdout + run.stderr)
        if run.returncode != 0:
            results[label] = (round_number - 1, seconds, run.stdout.strip().splitlines()[-1:])
            return
    results[label] = (rounds, seconds, [])


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    LOGS.mkdir(parents=True, exist_ok=True)
    results: dict[str, tuple] = {}
    threads = [
        threading.Thread(target=run_rounds, args=(label, env, rounds, results))
        for label, env in interpreters(sys.argv[2:]).items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = False
    for label, (passed, seconds, last) in sorted(results.items()):
        print(
            f"Python {label}: {passed} of {rounds} rounds passed in a row; "
            f"a round took {min(seconds):.0f} to {max(seconds):.0f} s"
            + (f"; the failing round: {last[0]} (log in build/corpus-rounds/)" if last else "")
        )
        failed |= passed < rounds
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
