#!/usr/bin/env bash
# `make bench`: run benchmarks/bench_timeline.py on every Python whose env this checkout has.
#
# The envs are the ones `make test` creates: .venv (the project's own Python), .venv-3.11.2
# (Debian's /usr/bin/python3), .venv-3.12, .venv-3.13, and .venv-3.14 / .venv-3.15, which live
# in the Debian sid chroot and run through scripts/sid_pythons.sh. A missing env is skipped
# with a line saying so. Exits 1 if any interpreter misses a target (or its run fails).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bench=$here/benchmarks/bench_timeline.py
status=0
ran=0

run_one() {  # run_one ENV [PREFIX...]: the bench with ENV's Python, through PREFIX if given
  local env=$1; shift
  echo "== $env"
  "$@" "$here/$env/bin/python" "$bench" || status=1
  ran=$((ran + 1))
  echo
}

for env in .venv .venv-3.11.2 .venv-3.12 .venv-3.13; do
  if [ -x "$env/bin/python" ]; then
    run_one "$env"
  else
    echo "== $env: skipped (no such env here; make test creates it)"; echo
  fi
done

for env in .venv-3.14 .venv-3.15; do
  if [ ! -L "$env/bin/python" ] && [ ! -e "$env/bin/python" ]; then  # -L: it links into the chroot
    echo "== $env: skipped (no such env here; make test creates it in the sid chroot)"; echo
  elif ! scripts/sid_pythons.sh run true 2>/dev/null; then
    echo "== $env: skipped (the sid chroot cannot be entered here: scripts/sid_pythons.sh run true fails)"; echo
  else
    run_one "$env" scripts/sid_pythons.sh run
  fi
done

[ "$ran" -gt 0 ] || { echo "no env to benchmark: run make test first"; exit 1; }
exit $status
