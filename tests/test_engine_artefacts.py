"""Artefacts: files an individual owns, inherited by its children through
mutation, resume, worker processes and crashes, and deleted once nobody can
inherit them (the Lamarckian toy: a counter file, parent's plus one)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toy_domain  # noqa: F401 - registers the "toy" domain
from evoforge.config import ConfigError, parse_config
from evoforge.evolution.artefacts import KEEP_BEST
from evoforge.evolution.run import Run

TESTS = Path(__file__).parent
POPULATION = 20


def config(max_individuals, backend="serial", workers=1, **search):
    return parse_config(
        {
            "run": {
                "domain": "toy",
                "seed": 3,
                "max_individuals": max_individuals,
                "backend": backend,
                "workers": workers,
                "checkpoint_every": 50,
            },
            "search": {"population_size": POPULATION, "tournament_size": 4, **search},
            "toy": {"length": 24, "lamarckian": True},
        }
    )


def lineage(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        rows = db.execute("SELECT id, parent_id, error FROM individuals ORDER BY id").fetchall()
    return {i: (parent, error) for i, parent, error in rows}


def check_inheritance(run_dir, n):
    """Every individual evaluated cleanly (no parent lacked files), ids are
    1..n, and each surviving counter equals the lineage depth plus one."""
    rows = lineage(run_dir)
    assert sorted(rows) == list(range(1, n + 1))
    assert [e for _, e in rows.values() if e is not None] == []
    artefacts = run_dir / "artefacts"
    owners = sorted(int(p.name) for p in artefacts.iterdir() if p.name.isdigit())
    assert owners, "no artefacts kept"
    for i in owners:
        depth, parent = 0, rows[i][0]
        while parent is not None:
            depth, parent = depth + 1, rows[parent][0]
        assert int((artefacts / str(i) / "count.txt").read_text()) == depth + 1, i
    return owners


def test_children_inherit_through_mutation_and_old_files_are_deleted(tmp_path):
    result = Run.create(tmp_path / "r", config(600)).run()
    owners = check_inheritance(tmp_path / "r", 600)
    # Only the population, the fittest few and the best can still be parents.
    assert len(owners) <= POPULATION + KEEP_BEST + 1
    assert result.best.id in owners
    assert max(owners) > 500  # the deep end of the lineage is there
    assert not (tmp_path / "r" / "artefacts" / ".staging").exists() or not any(
        (tmp_path / "r" / "artefacts" / ".staging").iterdir()
    )


def test_inheritance_survives_resume_and_equals_one_long_run(tmp_path):
    Run.create(tmp_path / "long", config(500)).run()
    Run.create(tmp_path / "short", config(170)).run()
    for n in (260, 333, 500):
        Run.resume(tmp_path / "short", max_individuals=n).run()
    check_inheritance(tmp_path / "short", 500)
    assert lineage(tmp_path / "short") == lineage(tmp_path / "long")
    counts = {
        p.name: p.joinpath("count.txt").read_text()
        for p in (tmp_path / "long" / "artefacts").iterdir()
        if p.name.isdigit()
    }
    for name, text in counts.items():
        resumed = tmp_path / "short" / "artefacts" / name / "count.txt"
        if resumed.exists():
            assert resumed.read_text() == text


def test_inheritance_on_worker_processes(tmp_path):
    Run.create(tmp_path / "p", config(400, backend="processes", workers=2)).run()
    check_inheritance(tmp_path / "p", 400)


def test_crossover_children_see_both_parents(tmp_path):
    cfg = parse_config(
        {
            "run": {"domain": "toy", "seed": 5, "max_individuals": 200},
            "search": {"strategy": "mu_lambda", "population_size": 20, "crossover_prob": 1.0},
            "toy": {"length": 24, "lamarckian": True, "crossover": True},
        }
    )
    Run.create(tmp_path / "x", cfg).run()
    check_inheritance(tmp_path / "x", 200)


def test_kill_9_then_resume_keeps_inheritance(tmp_path):
    run_dir = tmp_path / "k"
    toml = tmp_path / "k.toml"
    toml.write_text(
        '[run]\ndomain = "toy"\nseed = 3\nmax_individuals = 3000\nplugins = ["toy_domain"]\n'
        "checkpoint_seconds = 0.05\n"
        "[search]\npopulation_size = 20\ntournament_size = 4\n"
        "[toy]\nlength = 24\nlamarckian = true\nsleep = 0.001\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
    command = [sys.executable, "-m", "evoforge", "run", str(toml), "--out", str(run_dir)]
    for _ in range(3):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(1.5)
        process.send_signal(signal.SIGKILL)
        process.wait()
        command = [sys.executable, "-m", "evoforge", "resume", str(run_dir)]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=300)
    check_inheritance(run_dir, 3000)


def test_islands_refuse_an_evaluator_with_artefacts(tmp_path):
    cfg = parse_config(
        {
            "run": {"domain": "toy", "max_individuals": 100},
            "search": {"population_size": 10, "islands": {"count": 2}},
            "toy": {"lamarckian": True},
        }
    )
    with pytest.raises(ConfigError, match="artefacts"):
        Run.create(tmp_path / "i", cfg)
    assert not (tmp_path / "i").exists()


def test_collect_keeps_parents_of_candidates_in_flight_and_the_fittest(tmp_path):
    from evoforge.evolution.artefacts import ArtefactStore, Inheritance
    from evoforge.evolution.strategies import Candidate

    keeper = Inheritance(ArtefactStore(tmp_path), keep_best=2)
    for i in range(1, 9):
        job = keeper.job(i, Candidate("0", None, None))
        (job.output / "w").write_text(str(i))
        keeper.stored(i, individual_id=i, fitness=float(i % 5))  # fittest: 4 and 8 (4.0, 3.0)
    in_flight = [Candidate("1", 2, "flip_bit", parent2_id=6)]
    assert keeper.collect(referenced=[1], pending=in_flight) == 3
    assert keeper.store.ids() == [1, 2, 4, 6, 8]


def test_a_new_session_drops_files_of_rows_a_crash_lost(tmp_path):
    from evoforge.evolution.artefacts import ArtefactStore, Inheritance
    from evoforge.evolution.strategies import Candidate

    keeper = Inheritance(ArtefactStore(tmp_path), keep_best=1)
    for i in (1, 2, 3):
        (keeper.job(i, Candidate("0", None, None)).output / "w").write_text("x")
        keeper.stored(i, individual_id=i, fitness=float(i))
    (keeper.job(9, Candidate("0", None, None)).output / "w").write_text("staged")
    keeper.restart(stored=2, best=[(1.0, 1), (2.0, 2)])
    assert keeper.store.ids() == [1, 2]
    assert not (tmp_path / ".staging").exists()
    assert keeper.collect(referenced=[], pending=[]) == 1  # 2 is the fittest: kept
    assert keeper.store.ids() == [2]
