"""The per-subscriber ledger: hits folded per subscriber, stored, merged, reported.

records.py   a hit -> the ledger's flow row (its identity and what it adds)
power.py     algorithm -> joules per hash (signatures/power.yaml)
config.py    classification thresholds (signatures/ledger.yaml)
fold.py      pure functions: merge two rows of one flow; flow rows -> subscriber records
store.py     the store interface and its SQLite backend (schema, migrations)
reports.py   show / diff as table, csv or json
"""
