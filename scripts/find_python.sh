#!/usr/bin/env bash
# Print the path of a Python interpreter of version X.Y (e.g. 3.12), or nothing.
# Looks on PATH first, then in pyenv, whose shims only answer with PYENV_VERSION set.
set -u
want=${1:?usage: find_python.sh X.Y}
check() { "$@" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$want'.split('.'))))" 2>/dev/null; }
if command -v "python$want" >/dev/null 2>&1 && check "python$want"; then
  "python$want" -c 'import sys; print(sys.executable)'; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  version=$(pyenv versions --bare 2>/dev/null | grep -E "^$want(\.[0-9]+)?$" | sort -V | tail -n 1)
  if [ -n "$version" ] && check env PYENV_VERSION="$version" "python$want"; then
    PYENV_VERSION="$version" "python$want" -c 'import sys; print(sys.executable)'; exit 0
  fi
fi
exit 0
