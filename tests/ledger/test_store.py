"""SQLite ledger: idempotent folds, order-free merges, migrations, immutable snapshots."""

import itertools
import sqlite3

import pytest

from detector.errors import MinewatchError
from detector.ledger.config import load_ledger_config
from detector.ledger.fold import summarize
from detector.ledger.records import FLOW_COLUMNS
from detector.ledger.store import MIGRATIONS, SCHEMA_VERSION, open_ledger
from tests.ledger.rows import row

CONFIG = load_ledger_config()


def contents(path):
    with open_ledger(path, create=False) as store:
        return list(store.flow_rows()), store.info()


def test_folding_the_same_rows_twice_changes_nothing(tmp_path):
    rows = [row(client_port=40000 + i, shares=10 + i, rate_hps=100.0) for i in range(5)]
    with open_ledger(tmp_path / "l.db") as store:
        assert store.fold_rows(rows) == 5
        assert store.fold_rows(rows) == 0
        assert store.fold_rows(reversed(rows)) == 0
        stored = list(store.flow_rows())
    assert sorted(stored, key=lambda r: r["flow_key"]) == sorted(rows, key=lambda r: r["flow_key"])


def test_a_longer_record_of_the_same_flow_replaces_the_earlier_one(tmp_path):
    early = row(end_s=300, shares=5, rate_hps=100.0)
    late = dict(row(end_s=900, shares=20, rate_hps=100.0), flow_key=early["flow_key"])
    with open_ledger(tmp_path / "l.db") as store:
        store.fold_rows([late])
        assert store.fold_rows([early]) == 0           # an older record never wins back
        assert list(store.flow_rows()) == [late]


def test_merge_result_does_not_depend_on_order(tmp_path):
    shared = row(client_ip="10.0.0.1", shares=30, rate_hps=900.0)
    parts = [
        [shared, row(client_ip="10.0.0.2", client_port=41000, sensor="s1")],
        [dict(shared, last_ts_ns=shared["last_ts_ns"] + 10**9, shares_submitted=31,
              shares_accepted=31), row(client_ip="10.0.0.3", sensor="s2")],
        [shared, row(client_ip="10.0.0.2", client_port=41001, sensor="s3")],
    ]
    infos = [{"10.0.0.1": {"name": "A"}}, {"10.0.0.3": {"name": "C"}}, {}]
    results = []
    for order in itertools.permutations(range(3)):
        path = tmp_path / ("m" + "".join(map(str, order)) + ".db")
        with open_ledger(path) as out:
            for i in order:
                out.put_info(infos[i])
                out.fold_rows(parts[i])
        results.append(contents(path))
    assert all(r == results[0] for r in results)
    flows, info = results[0]
    assert len(flows) == 4 and info == {"10.0.0.1": {"name": "A"}, "10.0.0.3": {"name": "C"}}
    assert summarize(flows, CONFIG)[0]["shares"] == 31


def test_migration_from_schema_1_keeps_every_row(tmp_path):
    path = tmp_path / "v1.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        db.execute(statement)
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old = row(shares=7, rate_hps=50.0)
    cols = [c for c in FLOW_COLUMNS if c != "sensor"]
    db.execute(f"INSERT INTO flows ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
               [old[c] for c in cols])
    db.commit()
    db.close()
    with open_ledger(path, create=False) as store:
        assert store.schema_version() == SCHEMA_VERSION == 2
        assert list(store.flow_rows()) == [dict(old, sensor="")]
        store.add_snapshot("2026-01-05", "2026-01-05T00:00:00+00:00", [{"subscriber": "x"}])
        assert store.snapshot_dates() == ["2026-01-05"]


def test_wal_mode_and_refusals(tmp_path):
    with open_ledger(tmp_path / "l.db") as store:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(MinewatchError, match="newer than this minewatch understands"):
        open_ledger(tmp_path / "l.db")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(MinewatchError, match="not a Minewatch ledger"):
        open_ledger(other)
    (tmp_path / "text.db").write_text("hello, not a database\n" * 100)
    with pytest.raises(MinewatchError, match="not a Minewatch ledger"):
        open_ledger(tmp_path / "text.db")
    with pytest.raises(MinewatchError, match="no such ledger"):
        open_ledger(tmp_path / "missing.db", create=False)


def test_snapshots_are_never_rewritten(tmp_path):
    with open_ledger(tmp_path / "l.db") as store:
        store.add_snapshot("2026-02-01", "t", [{"subscriber": "a", "devices": 1}])
        with pytest.raises(MinewatchError, match="exists already"):
            store.add_snapshot("2026-02-01", "t", [{"subscriber": "a", "devices": 2}])
        for sql in ("UPDATE snapshot_records SET record = '{}'", "DELETE FROM snapshot_records",
                    "DELETE FROM snapshots", "UPDATE snapshots SET taken_on = 'x'"):
            with pytest.raises(sqlite3.IntegrityError, match="never rewritten"):
                store.db.execute(sql)
        assert store.snapshot("2026-02-01") == [{"subscriber": "a", "devices": 1}]
