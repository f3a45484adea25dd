"""Where the ledger lives: a small store interface and its SQLite backend.

The fold itself is pure (fold.py); a store only keeps flow rows, subscriber
details and snapshots. SQL stays portable (no SQLite-only upsert syntax, no
rowid tricks) so a PostgreSQL backend for a central ledger can implement
the same interface. Schema changes are numbered migrations, applied in
order when a ledger is opened; a ledger newer than this program is refused.
"""

import json
import sqlite3
from pathlib import Path

from ..errors import MinewatchError
from .fold import merge_rows
from .records import FLOW_COLUMNS

SCHEMA_VERSION = 2
CHUNK = 500           # keys per IN (...) query

_FLOW_TYPES = {c: "BIGINT" for c in ("client_port", "server_port", "first_ts_ns", "last_ts_ns",
                                      "shares_submitted", "shares_accepted", "shares_rejected",
                                      "window_shares", "window_first_ns", "window_last_ns")}
_FLOW_TYPES["window_hashes"] = "DOUBLE PRECISION"


def _flow_table_v1():
    cols = [c for c in FLOW_COLUMNS if c != "sensor"]
    body = ",\n  ".join(f"{c} {_FLOW_TYPES.get(c, 'TEXT')}" + (" PRIMARY KEY" if c == "flow_key"
                                                                 else "") for c in cols)
    return f"CREATE TABLE flows (\n  {body}\n)"


# version -> statements that bring a ledger from version-1 to version
MIGRATIONS = {
    1: [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        _flow_table_v1(),
        "CREATE INDEX flows_subscriber ON flows (subscriber)",
        "CREATE TABLE subscriber_info (subscriber TEXT PRIMARY KEY, fields TEXT NOT NULL)",
    ],
    2: [
        # which sensor saw the flow (many sensors feed one central ledger)
        "ALTER TABLE flows ADD COLUMN sensor TEXT NOT NULL DEFAULT ''",
        # dated snapshots for `ledger diff`; written once, never changed
        "CREATE TABLE snapshots (taken_on TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
        "CREATE TABLE snapshot_records (taken_on TEXT NOT NULL, subscriber TEXT NOT NULL, "
        "record TEXT NOT NULL, PRIMARY KEY (taken_on, subscriber))",
    ],
}
# SQLite-only guards that keep snapshots immutable (a PostgreSQL backend uses rules/grants)
SQLITE_GUARDS = [
    "CREATE TRIGGER IF NOT EXISTS snapshot_records_no_update BEFORE UPDATE ON snapshot_records "
    "BEGIN SELECT RAISE(ABORT, 'snapshots are never rewritten'); END",
    "CREATE TRIGGER IF NOT EXISTS snapshot_records_no_delete BEFORE DELETE ON snapshot_records "
    "BEGIN SELECT RAISE(ABORT, 'snapshots are never rewritten'); END",
    "CREATE TRIGGER IF NOT EXISTS snapshots_no_update BEFORE UPDATE ON snapshots "
    "BEGIN SELECT RAISE(ABORT, 'snapshots are never rewritten'); END",
    "CREATE TRIGGER IF NOT EXISTS snapshots_no_delete BEFORE DELETE ON snapshots "
    "BEGIN SELECT RAISE(ABORT, 'snapshots are never rewritten'); END",
]


class LedgerStore:
    """What the ledger needs from a database (SqliteLedger implements it)."""

    def fold_rows(self, rows) -> int:
        """Fold flow rows in (merge_rows per key); return how many rows changed."""
        raise NotImplementedError

    def flow_rows(self):
        raise NotImplementedError

    def put_info(self, info: dict):
        """Subscriber details (id -> free fields) from a subscriber map."""
        raise NotImplementedError

    def info(self) -> dict:
        raise NotImplementedError

    def add_snapshot(self, taken_on: str, created_at: str, records: list):
        raise NotImplementedError

    def snapshot_dates(self) -> list:
        raise NotImplementedError

    def snapshot(self, taken_on: str) -> list:
        raise NotImplementedError


class SqliteLedger(LedgerStore):
    def __init__(self, path, create=True):
        self.path = str(path)
        if not create and not Path(path).is_file():
            raise MinewatchError(f"{path}: no such ledger")
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=30000")   # another writer (a live sensor)
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise MinewatchError(f"{path}: not a Minewatch ledger ({e})") from None

    # ------------------------------------------------------------ schema

    def schema_version(self) -> int:
        has_meta = self.db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()[0]
        if not has_meta:
            if self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise MinewatchError(f"{self.path}: an SQLite database but not a Minewatch ledger")
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self):
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise MinewatchError(f"{self.path}: ledger schema version {version} is newer than "
                                 f"this minewatch understands ({SCHEMA_VERSION}); upgrade minewatch")
        with self._transaction():
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[v]:
                    self.db.execute(statement)
                self.db.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (str(v),))
            for statement in SQLITE_GUARDS:
                self.db.execute(statement)

    def _transaction(self):
        db = self.db

        class Tx:
            def __enter__(self):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_):
                db.execute("ROLLBACK" if exc_type else "COMMIT")
        return Tx()

    # ------------------------------------------------------------ flows

    def fold_rows(self, rows) -> int:
        incoming = {}
        for row in rows:
            key = row["flow_key"]
            incoming[key] = merge_rows(incoming[key], row) if key in incoming else row
        changed = 0
        cols = ", ".join(FLOW_COLUMNS)
        marks = ", ".join("?" for _ in FLOW_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in FLOW_COLUMNS if c != "flow_key")
        upsert = (f"INSERT INTO flows ({cols}) VALUES ({marks}) "
                  f"ON CONFLICT (flow_key) DO UPDATE SET {updates}")
        keys = sorted(incoming)
        with self._transaction():
            for i in range(0, len(keys), CHUNK):
                chunk = keys[i:i + CHUNK]
                existing = {r["flow_key"]: r for r in self._select(
                    f"SELECT {cols} FROM flows WHERE flow_key IN "
                    f"({', '.join('?' for _ in chunk)})", chunk)}
                for key in chunk:
                    old = existing.get(key)
                    new = incoming[key] if old is None else merge_rows(old, incoming[key])
                    if old is None or new is not old:
                        self.db.execute(upsert, [new[c] for c in FLOW_COLUMNS])
                        changed += 1
        return changed

    def _select(self, sql, params=()):
        cur = self.db.execute(sql, params)
        names = [d[0] for d in cur.description]
        for values in cur:
            yield dict(zip(names, values))

    def flow_rows(self):
        return self._select(f"SELECT {', '.join(FLOW_COLUMNS)} FROM flows ORDER BY flow_key")

    # ------------------------------------------------------------ subscribers

    def put_info(self, info: dict):
        with self._transaction():
            for sub, fields in sorted(info.items()):
                self.db.execute(
                    "INSERT INTO subscriber_info (subscriber, fields) VALUES (?, ?) "
                    "ON CONFLICT (subscriber) DO UPDATE SET fields = excluded.fields",
                    (sub, json.dumps(fields, sort_keys=True)))

    def info(self) -> dict:
        return {r["subscriber"]: json.loads(r["fields"])
                for r in self._select("SELECT subscriber, fields FROM subscriber_info")}

    # ------------------------------------------------------------ snapshots

    def add_snapshot(self, taken_on: str, created_at: str, records: list):
        if taken_on in self.snapshot_dates():
            raise MinewatchError(f"{self.path}: a snapshot for {taken_on} exists already "
                                 "(snapshots are never rewritten)")
        with self._transaction():
            self.db.execute("INSERT INTO snapshots (taken_on, created_at) VALUES (?, ?)",
                            (taken_on, created_at))
            for rec in records:
                self.db.execute("INSERT INTO snapshot_records (taken_on, subscriber, record) "
                                "VALUES (?, ?, ?)",
                                (taken_on, rec["subscriber"], json.dumps(rec, sort_keys=True)))

    def snapshot_dates(self) -> list:
        return [r["taken_on"] for r in self._select(
            "SELECT taken_on FROM snapshots ORDER BY taken_on")]

    def snapshot(self, taken_on: str) -> list:
        return [json.loads(r["record"]) for r in self._select(
            "SELECT record FROM snapshot_records WHERE taken_on = ? ORDER BY subscriber",
            (taken_on,))]

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


def open_ledger(path, create=True) -> LedgerStore:
    """The ledger at `path` (SQLite), migrated to the current schema."""
    return SqliteLedger(path, create=create)
