"""Stop early, with a clear message, on an interpreter asynclab does not support.

Run by `make` with the interpreter it is about to use; kept to syntax that old Pythons can parse,
so that they get the message rather than a SyntaxError.
"""

import platform
import sys

OLDEST, NEWEST = (3, 11), (3, 15)  # the README's supported range, tested in `make test`

version = platform.python_version()
advice = "Install CPython 3.11 to 3.15 and run, for example: make PYTHON=python3.13 " + " ".join(sys.argv[1:])
if platform.python_implementation() != "CPython":
    sys.exit(
        "asynclab is tested on CPython only, but %s is %s %s. %s"
        % (sys.executable, platform.python_implementation(), version, advice)
    )
if sys.version_info[:2] < OLDEST:
    sys.exit("asynclab needs Python 3.11 or newer, but %s is Python %s. %s" % (sys.executable, version, advice))
if sys.version_info[:2] > NEWEST:
    sys.exit(
        "asynclab is tested on Python 3.11 to 3.15, and %s is Python %s, which is newer. %s"
        % (sys.executable, version, advice)
    )
try:
    import ensurepip  # noqa: F401  (Debian and Ubuntu ship it separately)
    import venv  # noqa: F401
except ImportError:
    short = "%d.%d" % sys.version_info[:2]
    sys.exit(
        "%s cannot create virtual environments: on Debian or Ubuntu, run `sudo apt install python%s-venv`, "
        "then try again." % (sys.executable, short)
    )
