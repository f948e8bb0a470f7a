"""The SQLite run store: buffered writes, atomic checkpoints, FEC warm-up."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.evolution import store as store_module
from evoforge.evolution.fec import FECache
from evoforge.evolution.space import Evaluation, Individual
from evoforge.evolution.store import RunStore, StoreError


def ind(i, fitness=0.5, **ev):
    return Individual(
        i,
        f"g{i}",
        Evaluation(fitness, **ev),
        parent_id=i - 1 or None,
        mutation="m",
        worker=3,
        created=123.0,
    )


def test_rows_are_written_only_with_a_checkpoint(tmp_path):
    path = tmp_path / "run.sqlite"
    store = RunStore.create(path)
    for i in range(1, 4):
        store.add(
            ind(i, per_task=(0.25, float("nan")), cost=7, fingerprint=i, fec_hit=i == 2), f"g{i}"
        )
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM individuals").fetchone() == (0,)
    store.event("new_best", {"id": 1})
    store.checkpoint(3, {"x": [1, 2]})
    assert other.execute("SELECT COUNT(*) FROM individuals").fetchone() == (3,)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert other.execute("PRAGMA page_size").fetchone() == (16384,)
    store.add(ind(4), "g4")
    store.close()  # unflushed row 4 belongs to no checkpoint: dropped

    store = RunStore.open(path)
    assert store.latest_checkpoint() == (3, {"x": [1, 2]}) and store.max_id() == 3
    [(one, text)] = [store.individuals([2])[2]]
    assert text == "g2" and one.evaluation.fec_hit and one.evaluation.per_task[0] == 0.25
    assert one.parent_id == 1 and one.mutation == "m" and one.worker == 3
    assert store.summary() == {
        "individuals": 3,
        "fec_hits": 1,
        "early_stopped": 0,
        "errors": 0,
        "cost": 21,
        "best_fitness": 0.5,
    }
    assert [e["id"] for e in store.events("new_best")] == [1]
    with pytest.raises(StoreError, match="missing"):
        store.individuals([9])
    store.close()


def test_numpy_scalars_and_bools_are_stored_as_plain_values(tmp_path):
    np = pytest.importorskip("numpy")
    store = RunStore.create(tmp_path / "run.sqlite")
    store.add(
        Individual(
            1,
            "g",
            Evaluation(
                np.float32(0.5), cost=np.int64(3), fingerprint=np.int64(9), early_stopped=True
            ),
        ),
        "g",
    )
    store.checkpoint(1, {})
    row = next(store.rows("fitness, cost, fingerprint, early_stopped"))
    assert row == (0.5, 3, 9, 1)
    store.close()


def test_open_rejects_what_is_not_a_store(tmp_path):
    with pytest.raises(StoreError, match="no run store"):
        RunStore.open(tmp_path / "missing.sqlite")
    (tmp_path / "junk.sqlite").write_text("not a database" * 100)
    with pytest.raises(StoreError, match="not an evoforge run store"):
        RunStore.open(tmp_path / "junk.sqlite")
    sqlite3.connect(tmp_path / "other.sqlite").execute("CREATE TABLE meta (key, value)")
    with pytest.raises(StoreError, match="not an evoforge run store"):
        RunStore.open(tmp_path / "other.sqlite")
    RunStore.create(tmp_path / "run.sqlite").close()
    with pytest.raises(StoreError, match="already exists"):
        RunStore.create(tmp_path / "run.sqlite")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 15), min_size=1, max_size=80), st.integers(1, 6))
def test_fec_entries_rebuild_the_live_cache(tmp_path_factory, fingerprints, capacity):
    """Replaying the store gives exactly the cache an uninterrupted run holds."""
    store = RunStore.create(tmp_path_factory.mktemp("s") / "run.sqlite")
    live = FECache(capacity)
    for i, fp in enumerate(fingerprints, start=1):
        cached = live.get(fp)
        if cached is None:
            cached = Evaluation(float(i), per_task=(float(i),), fingerprint=fp)
            live.put(fp, cached)
            row = cached
        else:
            row = Evaluation(cached.fitness, cached.per_task, fingerprint=fp, fec_hit=True)
        store.add(Individual(i, None, row), "")
    store.checkpoint(len(fingerprints), {})
    rebuilt = FECache(capacity)
    rebuilt.warm(store.fec_entries(capacity))
    assert list(rebuilt._entries) == list(live._entries)
    assert [e.fitness for e in rebuilt._entries.values()] == [
        e.fitness for e in live._entries.values()
    ]
    store.close()


def test_a_checkpoint_waits_for_a_reader_instead_of_failing(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "_BUSY_SECONDS", 10.0)  # a failure must not hang
    path = tmp_path / "run.sqlite"
    store = RunStore.create(path)
    store.add(ind(1), "g1")
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    # The reader now holds a read lock until it commits.
    assert reader.execute("SELECT COUNT(*) FROM individuals").fetchone() == (0,)
    released = threading.Timer(0.5, lambda: reader.execute("COMMIT"))
    released.start()
    started = time.monotonic()
    store.checkpoint(1, {})
    assert time.monotonic() - started >= 0.4  # waited for the reader
    released.join()
    assert reader.execute("SELECT COUNT(*) FROM individuals").fetchone() == (1,)
    store.close()


def test_a_store_in_wal_mode_is_opened_and_switched_to_the_rollback_journal(tmp_path):
    path = tmp_path / "run.sqlite"
    store = RunStore.create(path)
    store.add(ind(1), "g1")
    store.checkpoint(1, {"x": 1})
    store.close()
    with sqlite3.connect(path) as db:  # as earlier versions left it
        assert db.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    store = RunStore.open(path)
    assert store.latest_checkpoint() == (1, {"x": 1})
    store.add(ind(2), "g2")
    store.checkpoint(2, {"x": 2})
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert db.execute("SELECT COUNT(*) FROM individuals").fetchone() == (2,)


def test_a_store_written_before_compact_rows_opens_and_reads(tmp_path):
    # issue 21: the old 15-column table gains genome_blob; its text rows read as before.
    import json as _json
    import sqlite3 as _sqlite3

    from evoforge.evolution.store import FORMAT, RunStore

    path = tmp_path / "old.sqlite"
    db = _sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE individuals (id INTEGER PRIMARY KEY, parent_id INTEGER, mutation TEXT,"
        " genome_text TEXT, fitness REAL, per_task TEXT, cost INTEGER, fingerprint INTEGER,"
        " fec_hit INTEGER, early_stopped INTEGER, error TEXT, wall_time REAL, created REAL,"
        " worker INTEGER, parent2_id INTEGER);"
        "CREATE TABLE events (id INTEGER PRIMARY KEY, time REAL, kind TEXT, payload TEXT);"
        "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, n_individuals INTEGER, state TEXT);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
    )
    db.execute("INSERT INTO meta VALUES ('format', ?)", (_json.dumps(FORMAT),))
    db.execute(
        "INSERT INTO individuals VALUES (1, NULL, NULL, 'g', 0.5, '[0.5]', 3, 9, 0, 0,"
        " NULL, 0.1, 0.0, 0, NULL)"
    )
    db.execute("INSERT INTO checkpoints (n_individuals, state) VALUES (1, '{}')")
    db.commit()
    db.close()
    store = RunStore.open(path)
    try:
        ((ind, text),) = store.individuals([1]).values()
        assert text == "g" and ind.evaluation.per_task == (0.5,)
        assert store.rows("genome_text, per_task").fetchall() == [("g", "[0.5]")]
        assert store.fec_entries(10)[0][0] == 9
    finally:
        store.close()
