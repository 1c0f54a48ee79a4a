"""The SQLite database behind the examples: a fresh file in a temporary folder, never in the repository.

Tables:

- ``users(id, name, email, city, signup_date, plan)``: every row of data/users.csv (1,000 users).
- ``accounts(id, owner, balance)``: three accounts for the transaction lesson. ``CHECK (balance >= 0)``
  makes a transfer that would overdraw an account fail with sqlite3.IntegrityError, so the lesson
  can show a rollback leaving both balances as they were.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import tempfile
import weakref
from contextlib import closing
from pathlib import Path

SCHEMA = """
CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT NOT NULL UNIQUE,
    city        TEXT NOT NULL,
    signup_date TEXT NOT NULL,  -- ISO date, e.g. '2023-02-20'
    plan        TEXT NOT NULL   -- 'free', 'pro' or 'team'
);
CREATE TABLE accounts (
    id      INTEGER PRIMARY KEY,
    owner   TEXT NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0)
);
"""
USER_COLUMNS = ["id", "name", "email", "city", "signup_date", "plan"]
ACCOUNTS = [(1, "Alice", 100), (2, "Bob", 50), (3, "Carol", 0)]


class TemporaryDatabase:
    """A database file filled with the example data, in its own temporary folder.

    The folder is deleted by remove(), or when this object is garbage collected, or at interpreter
    exit, whichever comes first (weakref.finalize, which, unlike TemporaryDirectory, never warns).
    """

    def __init__(self, users_csv: str | os.PathLike[str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="asynclab-db-"))
        self.path = self.folder / "asynclab.sqlite3"
        self._remove_folder = weakref.finalize(self, shutil.rmtree, self.folder, ignore_errors=True)
        try:
            fill_database(self.path, users_csv)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        self._remove_folder()  # runs at most once

    @property
    def removed(self) -> bool:
        return not self._remove_folder.alive


def fill_database(path: str | os.PathLike[str], users_csv: str | os.PathLike[str]) -> None:
    """Create the tables and load the data (plain sqlite3: it takes a few milliseconds)."""
    with open(users_csv, newline="", encoding="utf-8") as file:
        users = [tuple(row[column] for column in USER_COLUMNS) for row in csv.DictReader(file)]
    with closing(sqlite3.connect(path)) as db:
        # WAL lets readers keep reading while another connection writes, as async examples often do.
        db.execute("PRAGMA journal_mode = WAL")
        db.executescript(SCHEMA)
        db.executemany(f"INSERT INTO users VALUES ({', '.join('?' * len(USER_COLUMNS))})", users)
        db.executemany("INSERT INTO accounts VALUES (?, ?, ?)", ACCOUNTS)
        db.commit()
