"""A hardened run directory: the writer's lock, the config fingerprint checked
on resume, a complete store, clear errors for damaged files and full or
read-only disks, and Ctrl-C/SIGTERM that never leave half a checkpoint."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import signal
import socket
import sqlite3
import tomllib

import pytest
import tomli_w

import toy_domain  # noqa: F401 - registers the "toy" domain
from evoforge.config import ConfigError, parse_config
from evoforge.errors import EvoforgeError, RunDirError
from evoforge.evolution.lock import LOCK_FILE, RunLock, RunLockedError
from evoforge.evolution.run import Run
from evoforge.evolution.rundir import ConfigChangedError
from evoforge.evolution.store import RunStore, StoreError

RESULT_COLUMNS = "id, parent_id, mutation, genome_text, fitness, per_task, cost, fec_hit"


def config(max_individuals=200, *, run=None, search=None, toy=None):
    data = {
        "run": {"domain": "toy", "seed": 3, "max_individuals": max_individuals, **(run or {})},
        "search": {"population_size": 20, "tournament_size": 4, **(search or {})},
        "toy": {"length": 24, **(toy or {})},
    }
    return parse_config(data)


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {RESULT_COLUMNS} FROM individuals ORDER BY id").fetchall()


def edit_config(run_dir, dotted, value):
    path = run_dir / "config.toml"
    data = tomllib.loads(path.read_text())
    *tables, key = dotted.split(".")
    table = data
    for name in tables:
        table = table[name]
    table[key] = value
    path.write_text(tomli_w.dumps(data))


def sql(run_dir, statement, *args):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute(statement, args)


# -- one exception base --------------------------------------------------------


def test_every_reported_error_derives_from_one_base():
    for cls in (ConfigError, RunDirError, StoreError, RunLockedError, ConfigChangedError):
        assert issubclass(cls, EvoforgeError), cls
    assert issubclass(ConfigError, ValueError)  # kept for compatibility


# -- the writer's lock ---------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder_and_readers_are_not(tmp_path):
    run = Run.create(tmp_path / "r", config(100))
    with pytest.raises(RunLockedError) as info:
        Run.resume(tmp_path / "r")
    message = str(info.value)
    assert f"pid {os.getpid()} on {socket.gethostname()}" in message and "since" in message
    assert info.value.holder["pid"] == os.getpid()
    # Readers go on while it is held.
    store = RunStore.open(tmp_path / "r" / "run.sqlite")
    assert store.latest_checkpoint()[0] == 0
    store.close()
    assert run.run().n_individuals == 100
    # Released when the run ends: resuming (a writer again) works.
    assert Run.resume(tmp_path / "r", max_individuals=120).run().n_individuals == 120
    assert rows(tmp_path / "r")[-1][0] == 120


def test_the_lock_file_describes_the_holder_and_close_releases_it(tmp_path):
    run = Run.create(tmp_path / "r", config(50))
    holder = json.loads((tmp_path / "r" / LOCK_FILE).read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    assert holder["command"] and isinstance(holder["since"], float)
    run.close()  # made but never run
    assert (tmp_path / "r" / LOCK_FILE).read_text() == ""
    assert Run.resume(tmp_path / "r").run().n_individuals == 50


def test_create_refuses_a_locked_directory_and_leaves_it_alone(tmp_path):
    (tmp_path / "r").mkdir()
    with (
        RunLock.acquire(tmp_path / "r", command="someone else"),
        pytest.raises(RunLockedError, match="someone else"),
    ):
        Run.create(tmp_path / "r", config(50))
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [LOCK_FILE]
    assert Run.create(tmp_path / "r", config(50)).run().n_individuals == 50


# -- the config fingerprint ----------------------------------------------------


def finished(tmp_path, n=100, **kwargs):
    run_dir = tmp_path / "r"
    Run.create(run_dir, config(n, **kwargs)).run()
    return run_dir


def test_resume_refuses_a_changed_config_naming_the_keys(tmp_path):
    run_dir = finished(tmp_path)
    edit_config(run_dir, "search.population_size", 30)
    edit_config(run_dir, "toy.length", 26)
    edit_config(run_dir, "run.max_individuals", 150)
    for accept in (False, True):  # unsafe changes are refused either way
        with pytest.raises(ConfigChangedError) as info:
            Run.resume(run_dir, accept_config_changes=accept)
        message = str(info.value)
        assert "search.population_size 20 -> 30" in message and "toy.length 24 -> 26" in message
        assert info.value.unsafe == ["search.population_size", "toy.length"]
        assert "run.max_individuals 100 -> 150" in message  # named as acceptable
    assert len(rows(run_dir)) == 100  # nothing written


def test_a_changed_strategy_is_named_not_a_keyerror(tmp_path):
    # Before: the regularized-evolution checkpoint was read by random search
    # and failed with KeyError: 'best'.
    run_dir = finished(tmp_path)
    edit_config(run_dir, "search.strategy", "random_search")
    with pytest.raises(ConfigChangedError, match=r'search\.strategy "regularized_evolution" -> '):
        Run.resume(run_dir, max_individuals=150)


def test_safe_changes_need_the_explicit_option_and_are_recorded(tmp_path):
    run_dir = finished(tmp_path)
    edit_config(run_dir, "run.max_individuals", 150)
    edit_config(run_dir, "run.stop_fitness", 2.0)
    with pytest.raises(ConfigChangedError, match="--accept-config-changes") as info:
        Run.resume(run_dir)
    assert "run.max_individuals 100 -> 150" in str(info.value)
    assert "run.stop_fitness (absent) -> 2.0" in str(info.value)
    assert Run.resume(run_dir, accept_config_changes=True).run().n_individuals == 150
    store = RunStore.open(run_dir / "run.sqlite")
    [event] = store.events("config_changed")
    assert event["changes"] == {"run.max_individuals": [100, 150], "run.stop_fitness": [None, 2.0]}
    assert store.meta()["config"]["run"]["max_individuals"] == 150
    store.close()
    # The accepted config is the run's config now: no option needed again.
    assert Run.resume(run_dir, max_individuals=160).run().n_individuals == 160
    assert Run.resume(run_dir).run().n_individuals == 160


def test_a_store_from_before_fingerprints_resumes_and_records_one(tmp_path):
    run_dir = finished(tmp_path)
    sql(run_dir, "DELETE FROM meta WHERE key IN ('config_fingerprint', 'config')")
    assert Run.resume(run_dir, max_individuals=120).run().n_individuals == 120
    store = RunStore.open(run_dir / "run.sqlite")
    assert store.meta()["config"]["run"]["max_individuals"] == 120
    store.close()


# -- a complete store ----------------------------------------------------------


def test_a_store_with_a_deleted_middle_row_is_refused(tmp_path):
    run_dir = finished(tmp_path)
    sql(run_dir, "DELETE FROM individuals WHERE id = 40")
    with pytest.raises(StoreError) as info:
        Run.resume(run_dir, max_individuals=150)
    message = str(info.value)
    assert "the first is 40" in message and "intact up to id 39" in message
    assert "checkpoint is at 100" in message
    assert len(rows(run_dir)) == 99


def test_rows_after_the_checkpoint_are_refused(tmp_path):
    run_dir = finished(tmp_path)
    sql(run_dir, "UPDATE checkpoints SET n_individuals = 90")
    with pytest.raises(StoreError, match=r"rows after the checkpoint \(ids 91 to 100\)"):
        Run.resume(run_dir, max_individuals=150)


# -- damaged checkpoints and stores --------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda s: "{not json", "not JSON"),
        (lambda s: json.dumps({k: v for k, v in s.items() if k != "counters"}), "no 'counters'"),
        (lambda s: json.dumps({**s, "counters": {**s["counters"], "cost": "x"}}), "'counters'"),
        (lambda s: json.dumps({**s, "rng": 5}), "'rng' is not"),
        (lambda s: json.dumps({**s, "pending": [{"genome": 7}]}), "'pending' is not"),
        (lambda s: json.dumps({**s, "rng": {"state": 1}}), "does not fit"),
        (lambda s: json.dumps({**s, "strategy": {"slots": "abc"}}), "does not fit"),
        (lambda s: json.dumps({**s, "best": 10**6}), "individuals .1000000. beyond the 100"),
        (lambda s: json.dumps([1, 2]), "not a count and a table"),
    ],
)
def test_a_tampered_checkpoint_is_reported_with_what_is_intact(tmp_path, tamper, message):
    run_dir = finished(tmp_path)
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (state,) = db.execute("SELECT state FROM checkpoints").fetchone()
        db.execute("UPDATE checkpoints SET state = ?", (tamper(json.loads(state)),))
    with pytest.raises(StoreError, match=message) as info:
        Run.resume(run_dir, max_individuals=150)
    assert "checkpoint" in str(info.value) and str(run_dir / "run.sqlite") in str(info.value)
    if "JSON" not in message and "count and a table" not in message:
        assert "intact up to id 100" in str(info.value)
    assert len(rows(run_dir)) == 100
    assert (run_dir / LOCK_FILE).read_text() == ""  # released again


def test_malformed_stores_are_reported(tmp_path):
    run_dir = finished(tmp_path, 3000)
    path = run_dir / "run.sqlite"
    good = path.read_bytes()
    # Truncated: reading finds pages missing further in.
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(StoreError, match="intact up to id") as info:
        Run.resume(run_dir, max_individuals=3100)
    assert str(path) in str(info.value)
    # Wrong schema: a table or a column missing.
    path.write_bytes(good)
    sql(run_dir, "ALTER TABLE individuals DROP COLUMN fitness")
    with pytest.raises(StoreError, match="no column 'fitness'"):
        Run.resume(run_dir)
    path.write_bytes(good)
    sql(run_dir, "DROP TABLE events")
    with pytest.raises(StoreError, match="no 'events' table"):
        Run.resume(run_dir)
    # Not a database at all.
    path.write_bytes(b"hello" * 1000)
    with pytest.raises(StoreError, match="not an evoforge run store"):
        Run.resume(run_dir)
    path.write_bytes(good)
    assert Run.resume(run_dir, max_individuals=3100).run().n_individuals == 3100


# -- full and read-only disks --------------------------------------------------


def test_a_full_disk_names_the_cause_and_loses_nothing(tmp_path):
    # Store level: SQLite's SQLITE_FULL used to be masked by "cannot rollback
    # - no transaction is active" from the ROLLBACK after it.
    store = RunStore.create(tmp_path / "s.sqlite")
    store.checkpoint(0, {})
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    run = Run.create(tmp_path / "ref", config(300))
    run.run()
    for ind_row in sqlite3.connect(tmp_path / "ref" / "run.sqlite").execute(
        "SELECT * FROM individuals"
    ):
        store.add_rows([ind_row])
    with pytest.raises(StoreError) as info:
        store.checkpoint(300, {"big": "x" * 100_000})
    message = str(info.value)
    assert "full" in message and "at 300 individuals" in message
    assert "nothing stored is lost" in message
    assert "rollback" not in message
    store._db.execute(f"PRAGMA max_page_count = {10**6}")
    store.checkpoint(300, {"ok": True})  # the buffered rows were kept
    assert store.max_id() == 300 and store.latest_checkpoint() == (300, {"ok": True})
    store.close()


def test_a_run_on_a_full_disk_stops_with_a_clear_error_then_resumes_exactly(tmp_path, monkeypatch):
    Run.create(tmp_path / "ref", config(2000)).run()
    run_dir = finished(tmp_path, 500)
    run = Run.resume(run_dir, max_individuals=2000)
    pages = run.store._db.execute("PRAGMA page_count").fetchone()[0]
    run.store._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
    with pytest.raises(StoreError, match="full"):
        run.run()
    got = rows(run_dir)
    assert len(got) == 500 and got == rows(tmp_path / "ref")[:500]
    assert (run_dir / LOCK_FILE).read_text() == ""  # unlocked: resume may go on
    assert Run.resume(run_dir).run().n_individuals == 2000
    assert rows(run_dir) == rows(tmp_path / "ref")


def test_an_unwritable_best_file_names_the_path_and_leaves_no_temp_file(tmp_path, monkeypatch):
    run_dir = finished(tmp_path)
    real = pathlib.Path.write_text

    def full(self, *args, **kwargs):
        if self.name == "best.txt.tmp":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    with pytest.raises(RunDirError, match=r"best\.txt: cannot write: No space left on device"):
        Run.resume(run_dir, max_individuals=150).run()
    assert not (run_dir / "best.txt.tmp").exists()
    monkeypatch.undo()
    assert Run.resume(run_dir, max_individuals=150).run().n_individuals == 150


def test_unusable_parent_directories_name_the_path_and_write_nothing(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match=r"run directory \(.*: Not a directory\)"):
        Run.create(tmp_path / "file" / "r", config(50))
    # Missing parents are made, and removed again if creating the run fails.
    real = RunStore.create

    def full(path):
        raise StoreError(f"{path}: cannot create the run store: database or disk is full")

    monkeypatch.setattr(RunStore, "create", full)
    with pytest.raises(StoreError, match="disk is full"):
        Run.create(tmp_path / "a" / "b" / "r", config(50))
    assert not (tmp_path / "a").exists()
    monkeypatch.setattr(RunStore, "create", real)
    # A read-only parent (simulated: the tests may run as root, whom chmod
    # does not stop).
    real_mkdir = pathlib.Path.mkdir

    def read_only(self, *args, **kwargs):
        if self.parent == tmp_path / "ro":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    with pytest.raises(RunDirError, match=r"ro/r: cannot create the run directory \(.*Permission"):
        Run.create(tmp_path / "ro" / "r", config(50))
    assert not (tmp_path / "ro").exists()


# -- signals -------------------------------------------------------------------


def test_a_second_signal_during_the_final_checkpoint_waits_for_it(tmp_path, monkeypatch):
    """A double Ctrl-C: the first stops the loop, the second lands while the
    final checkpoint is written. Before, it interrupted the write (the run
    raised KeyboardInterrupt and was marked failed)."""
    Run.create(tmp_path / "ref", config(400)).run()
    run = Run.create(tmp_path / "r", config(400))
    evaluate = run.evaluator.evaluate
    calls = 0

    def first_ctrl_c(genome, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 150:
            os.kill(os.getpid(), signal.SIGINT)
        return evaluate(genome, *args, **kwargs)

    checkpoint = RunStore.checkpoint

    def second_ctrl_c(store, n, state):
        if run._stop_reason == "interrupted":
            os.kill(os.getpid(), signal.SIGINT)  # handled before the next line runs
        checkpoint(store, n, state)

    monkeypatch.setattr(run.evaluator, "evaluate", first_ctrl_c)
    monkeypatch.setattr(RunStore, "checkpoint", second_ctrl_c)
    result = run.run()
    assert result.interrupted and result.signal == signal.SIGINT
    got = rows(tmp_path / "r")
    store = RunStore.open(tmp_path / "r" / "run.sqlite")
    assert store.latest_checkpoint()[0] == len(got) == result.n_individuals
    assert store.meta()["status"] == "interrupted"
    store.close()
    monkeypatch.undo()
    assert Run.resume(tmp_path / "r").run().n_individuals == 400
    assert rows(tmp_path / "r") == rows(tmp_path / "ref")


def test_sigterm_stops_like_ctrl_c(tmp_path, monkeypatch):
    Run.create(tmp_path / "ref", config(400)).run()
    run = Run.create(tmp_path / "r", config(400))
    evaluate = run.evaluator.evaluate
    calls = 0

    def terminate(genome, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 150:
            os.kill(os.getpid(), signal.SIGTERM)
        return evaluate(genome, *args, **kwargs)

    monkeypatch.setattr(run.evaluator, "evaluate", terminate)
    previous = signal.getsignal(signal.SIGTERM)
    result = run.run()
    assert signal.getsignal(signal.SIGTERM) is previous  # restored
    assert result.interrupted and result.signal == signal.SIGTERM
    assert 150 <= result.n_individuals < 400
    store = RunStore.open(tmp_path / "r" / "run.sqlite")
    assert store.meta()["status"] == "interrupted"
    assert store.latest_checkpoint()[0] == len(rows(tmp_path / "r")) == result.n_individuals
    store.close()
    monkeypatch.undo()
    assert Run.resume(tmp_path / "r").run().n_individuals == 400
    assert rows(tmp_path / "r") == rows(tmp_path / "ref")
