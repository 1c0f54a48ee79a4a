"""`make bench`: the timeline benchmark on this checkout's Python and on every other one `make test` set up.

The other interpreters are those of build/test-envs.json (scripts/test_envs.py): their environments,
and the prefix that runs 3.14 and 3.15 inside the sid chroot. Exits 1 if any run misses a target.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks" / "bench_timeline.py"
MANIFEST = ROOT / "build" / "test-envs.json"

runs = {"this checkout's .venv": {"prefix": [], "python": sys.executable}}
if MANIFEST.exists():
    runs |= {f"Python {label}": env for label, env in json.loads(MANIFEST.read_text()).items()}
else:
    print("(no build/test-envs.json: `make test-envs` sets up the other Pythons)\n")

failed = 0
for name, env in runs.items():
    if "skip" in env:
        print(f"== {name}: skipped ({env['skip']})\n")
        continue
    print(f"== {name}", flush=True)
    failed += subprocess.run([*env["prefix"], env["python"], str(BENCH)], cwd=ROOT).returncode != 0
    print()
sys.exit(1 if failed else 0)
