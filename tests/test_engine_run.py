"""The run driver on the toy domain: determinism, exact resume, stop
conditions, hurdles and errors (backends: test_engine_backends.py)."""

from __future__ import annotations

import math
import sqlite3
import tomllib

import pytest

import toy_domain  # registers the "toy" domain
from evoforge.config import parse_config
from evoforge.domains import DomainSetup
from evoforge.evolution.run import Run, RunDirError
from evoforge.evolution.store import RunStore, StoreError

# Everything that must match between an interrupted and an uninterrupted run
# (wall_time, created and worker are measurements, not results).
RESULT_COLUMNS = (
    "id, parent_id, mutation, genome_text, fitness, per_task, cost, fingerprint,"
    " fec_hit, early_stopped, error"
)


def config(max_individuals=600, *, run=None, search=None, toy=None):
    data = {
        "run": {"domain": "toy", "seed": 11, "max_individuals": max_individuals, **(run or {})},
        "search": {
            "population_size": 30,
            "tournament_size": 4,
            "mutation_prob": 0.8,
            **(search or {}),
        },
        "toy": {"length": 24, **(toy or {})},
    }
    return parse_config(data)


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {RESULT_COLUMNS} FROM individuals ORDER BY id").fetchall()


# Small FEC (so entries get evicted) and hurdles: both must be restored exactly.
HARD = {"fec": {"capacity": 25}, "hurdle": {"enabled": True, "percentile": 60.0}}


def test_serial_run_is_deterministic_and_complete(tmp_path):
    a = Run.create(tmp_path / "a", config(search=HARD)).run()
    Run.create(tmp_path / "b", config(search=HARD)).run()
    assert a.n_individuals == 600 and a.stop_reason == "max_individuals"
    got = rows(tmp_path / "a")
    assert got == rows(tmp_path / "b")
    assert [r[0] for r in got] == list(range(1, 601))
    assert all(r[1] is None or r[1] < r[0] for r in got)  # parents come first
    assert any(r[8] for r in got) and any(r[9] for r in got)  # FEC hits, early stops
    c = Run.create(tmp_path / "c", config(run={"seed": 12}, search=HARD)).run()
    assert rows(tmp_path / "c") != got and c.best is not None


def test_resume_after_reaching_max_individuals_equals_one_long_run(tmp_path):
    Run.create(tmp_path / "ref", config(900, search=HARD)).run()
    first = Run.create(tmp_path / "r", config(350, search=HARD)).run()
    assert first.n_individuals == 350
    second = Run.resume(tmp_path / "r", max_individuals=900).run()
    assert second.n_individuals == 900
    assert rows(tmp_path / "r") == rows(tmp_path / "ref")
    saved = tomllib.loads((tmp_path / "r" / "config.toml").read_text())
    assert saved["run"]["max_individuals"] == 900


def test_repeated_keyboard_interrupts_then_resume_equal_one_long_run(tmp_path):
    # The toy evaluator raises KeyboardInterrupt on its 97th call in each
    # session: the candidate being evaluated is checkpointed as pending.
    Run.create(tmp_path / "ref", config(search=HARD)).run()
    result = Run.create(tmp_path / "r", config(search=HARD, toy={"interrupt_after": 97})).run()
    sessions = 1
    while result.interrupted:
        assert result.stop_reason == "interrupted"
        result = Run.resume(tmp_path / "r").run()
        sessions += 1
    assert sessions > 2 and result.n_individuals == 600
    assert rows(tmp_path / "r") == rows(tmp_path / "ref")


def test_random_search_resumes_exactly(tmp_path):
    search = {"strategy": "random_search"}
    Run.create(tmp_path / "ref", config(300, search=search)).run()
    Run.create(tmp_path / "r", config(120, search=search)).run()
    Run.resume(tmp_path / "r", max_individuals=300).run()
    assert rows(tmp_path / "r") == rows(tmp_path / "ref")


def test_checkpoints_and_best_file(tmp_path):
    result = Run.create(tmp_path / "r", config(run={"checkpoint_every": 100})).run()
    with sqlite3.connect(tmp_path / "r" / "run.sqlite") as db:
        [(n,)] = db.execute("SELECT n_individuals FROM checkpoints").fetchall()  # latest only
        kinds = [k for (k,) in db.execute("SELECT kind FROM events")]
    assert n == 600 and kinds[0] == "start" and kinds[-1] == "stop" and "new_best" in kinds
    text = (tmp_path / "r" / "best.txt").read_text()
    header, genome = text.split("\n\n")
    assert f"# id: {result.best.id}" in header and "# individuals_evaluated: 600" in header
    assert f"# {result.best.genome.count('1')} ones" in header  # from describe()
    assert genome.strip() == result.best.genome


def test_stop_fitness_and_max_cost(tmp_path):
    r = Run.create(tmp_path / "a", config(5000, run={"stop_fitness": 0.9})).run()
    assert r.stop_reason == "stop_fitness" and r.best.fitness >= 0.9 and r.n_individuals < 5000
    assert rows(tmp_path / "a")[-1][0] == r.n_individuals
    r = Run.create(tmp_path / "b", config(5000, run={"max_cost": 2000})).run()
    assert r.stop_reason == "max_cost" and 2000 <= r.cost < 2000 + 24
    # Resuming a run whose stop condition still holds does nothing.
    again = Run.resume(tmp_path / "b").run()
    assert again.stop_reason == "max_cost" and again.n_individuals == r.n_individuals


def test_selector_logs_new_best_and_stops_on_select_fitness(tmp_path):
    r = Run.create(
        tmp_path / "r",
        config(5000, run={"stop_select_fitness": 0.99}, toy={"selector": True}),
    ).run()
    assert r.stop_reason == "stop_select_fitness" and r.best_select == 1.0
    store = RunStore.open(tmp_path / "r" / "run.sqlite")
    events = store.events("new_best")
    store.close()
    assert len(events) > 1
    fitness = [e["fitness"] for e in events]
    assert fitness == sorted(fitness) and len(set(fitness)) == len(fitness)
    assert set(events[-1]) == {
        "time",
        "kind",
        "id",
        "fitness",
        "select_fitness",
        "elapsed",
        "individuals",
    }
    assert events[-1]["select_fitness"] == 1.0 and events[-1]["individuals"] == events[-1]["id"]
    assert "# select_fitness: 1.0" in (tmp_path / "r" / "best.txt").read_text()


def test_evaluation_errors_do_not_stop_the_run(tmp_path):
    r = Run.create(tmp_path / "r", config(300, toy={"fail_prefix": "1"})).run()
    assert r.n_individuals == 300
    errors = [row for row in rows(tmp_path / "r") if row[10] is not None]
    assert errors and all(
        row[10] == "ValueError: toy failure" and row[4] == -math.inf for row in errors
    )


def test_fec_is_turned_off_for_evaluators_without_fingerprint(tmp_path):
    Run.create(tmp_path / "r", config(100, toy={"fingerprint": False})).run()
    saved = tomllib.loads((tmp_path / "r" / "config.toml").read_text())
    assert saved["search"]["fec"]["enabled"] is False
    assert all(row[7] is None and not row[8] for row in rows(tmp_path / "r"))


def test_run_directory_checks(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(RunDirError, match="not empty"):
        Run.create(tmp_path / "full", config())
    with pytest.raises(RunDirError, match="not a run directory"):
        Run.resume(tmp_path / "full")
    with pytest.raises(RunDirError, match="no such run directory"):
        Run.resume(tmp_path / "nope")
    Run.create(tmp_path / "r", config(50)).run()
    with sqlite3.connect(tmp_path / "r" / "run.sqlite") as db:
        db.execute("DELETE FROM individuals WHERE id > 40")
    with pytest.raises(StoreError, match="checkpoint covers 50 individuals"):
        Run.resume(tmp_path / "r")


def test_setup_can_be_injected(tmp_path):
    setup = toy_domain.build_toy({"length": 10}, "toy", 0)
    r = Run.create(tmp_path / "r", config(50), setup=DomainSetup(setup.space, setup.evaluator))
    assert r.run().n_individuals == 50


def test_cyclic_collector_is_off_while_searching_and_restored_after(tmp_path):
    import gc

    setup = toy_domain.build_toy({"length": 10}, "toy", 0)
    seen = []

    class Recording:
        def evaluate(self, genome, budget):
            seen.append(gc.isenabled())
            return setup.evaluator.evaluate(genome, budget)

    assert gc.isenabled()
    Run.create(tmp_path / "r", config(50), setup=DomainSetup(setup.space, Recording())).run()
    assert len(seen) == 50 and not any(seen)
    assert gc.isenabled()


def test_collection_pause_nests_and_collects_on_schedule():
    import gc

    from evoforge.evolution.collector import CollectionPause

    outer, inner = CollectionPause(every=0.0), CollectionPause(every=3600.0)
    with outer:
        with inner:
            assert not gc.isenabled()
            assert not inner.maybe_collect()  # not due for an hour
        assert not gc.isenabled()  # the outer pause still holds
        assert outer.maybe_collect()
    assert gc.isenabled()
