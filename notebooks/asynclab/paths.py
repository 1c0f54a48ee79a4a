"""Where the collection's files live, found from this package so it works from any working directory.

An installed asynclab carries its own copy of the data (the wheel puts ``data/`` inside the
package); run from the repository, the package reads the checkout's ``data/`` beside ``notebooks/``.
"""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
NOTEBOOKS_DIR = PACKAGE_DIR.parent
ROOT_DIR = NOTEBOOKS_DIR.parent
PACKAGED_DATA_DIR = PACKAGE_DIR / "data"
DATA_DIR = PACKAGED_DATA_DIR if PACKAGED_DATA_DIR.is_dir() else ROOT_DIR / "data"
