"""Fitness of any sign (issue 11, part 7): a failure is marked by its error
and scored -inf by the engine, so it loses to every valid individual even
when every valid fitness is negative (the toy with ``shift = -10``)."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

import toy_domain  # registers the "toy" domain
from evoforge.cli import main
from evoforge.config import parse_config
from evoforge.evolution.backends import safe_evaluate
from evoforge.evolution.hurdles import Hurdle
from evoforge.evolution.run import Run
from evoforge.evolution.space import FAILED_FITNESS, Budget, Evaluation, Individual
from evoforge.evolution.store import RunStore
from evoforge.evolution.strategies.generational import softmax

# Genomes starting with "1" raise: about half of all candidates fail.
NEGATIVE = {"length": 16, "shift": -10.0, "fail_prefix": "1"}


def config(strategy="regularized_evolution", n=400, search=None):
    return parse_config(
        {
            "run": {"domain": "toy", "seed": 5, "max_individuals": n},
            "search": {"strategy": strategy, **(search or {})},
            # softmax_ga's children are crossovers
            "toy": {**NEGATIVE, "crossover": strategy == "softmax_ga"},
        }
    )


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute("SELECT id, parent_id, fitness, error FROM individuals").fetchall()


def test_failures_score_minus_infinity_and_lose_to_negative_fitness():
    ev = safe_evaluate(toy_domain.OneMax(16, shift=-10.0, fail_prefix="1"), "1" * 16, Budget())
    assert ev.fitness == FAILED_FITNESS == -math.inf and ev.error == "ValueError: toy failure"

    class NaN:
        def evaluate(self, genome, budget):
            return Evaluation(math.nan)

    nan = safe_evaluate(NaN(), 0, Budget())
    assert nan.fitness == -math.inf and "non-finite" in nan.error
    assert safe_evaluate(toy_domain.OneMax(16, shift=-10.0), "0" * 16, Budget()).fitness == -10.0


SEARCH = {
    "regularized_evolution": {"population_size": 20, "tournament_size": 5},
    "softmax_ga": {"population_size": 20, "elites": 4, "random_per_generation": 2},
    "mu_lambda": {"population_size": 20, "parents": 5, "elites": 2, "fec": {"enabled": False}},
}


@pytest.mark.parametrize("strategy", sorted(SEARCH))
def test_the_best_is_never_a_failure_and_failures_are_never_parents(tmp_path, strategy):
    result = Run.create(tmp_path / "r", config(strategy, search=SEARCH[strategy])).run()
    table = rows(tmp_path / "r")
    failed = {i for i, _, f, e in table if e is not None}
    assert failed and all(f == -math.inf for i, _, f, e in table if i in failed)
    valid = [f for _, _, f, e in table if e is None]
    assert valid and max(valid) < 0  # every valid fitness is negative
    assert result.best is not None and result.best.evaluation.error is None
    assert result.best.fitness == max(valid)
    # Selection compares fitness: a failure never wins against a valid individual.
    parents = {p for _, p, _, _ in table if p is not None}  # first parents
    assert parents and not parents & failed
    summary = RunStore.open(tmp_path / "r" / "run.sqlite").summary()
    assert summary["best_fitness"] == max(valid)


def test_hurdle_stays_finite_with_failures_in_the_population(tmp_path):
    search = {"population_size": 20, "tournament_size": 5, "hurdle": {"enabled": True}}
    run = Run.create(tmp_path / "r", config(search=search))
    hurdles = []
    update = run.hurdle.update

    def watch(joined, left):
        update(joined, left)
        hurdles.append(run.hurdle.value)

    run.hurdle.update = watch
    run.run()
    seen = [h for h in hurdles if h is not None]
    assert seen and all(math.isfinite(h) and h < 0 for h in seen)
    assert RunStore.open(tmp_path / "r" / "run.sqlite").summary()["early_stopped"] > 0


def test_hurdle_and_softmax_ignore_failures():
    h = Hurdle(25, min_population=4)
    assert h.threshold([-math.inf, -math.inf, 1.0, 2.0]) == 1.25
    h.update([-math.inf, -math.inf, -3.0, -2.0], [])
    assert h.value == -2.75
    h.update([-1.0], [-math.inf])
    assert h.value == pytest.approx(-2.5)
    h.update([], [-3.0, -2.0, -1.0, -math.inf])
    assert h.value is None
    assert h.threshold([-math.inf] * 4) is None
    assert softmax([-np.inf, -np.inf, -np.inf]).tolist() == [1 / 3] * 3
    assert softmax([-np.inf, -20.0]).tolist() == [0.0, 1.0]


def test_store_show_and_export_handle_minus_infinity(tmp_path, capsys):
    store = RunStore.create(tmp_path / "run.sqlite")
    store.add(Individual(1, "01", Evaluation(FAILED_FITNESS, error="boom")), "01")
    store.add(Individual(2, "00", Evaluation(-7.5)), "00")
    store.event("new_best", {"fitness": -math.inf})
    store.checkpoint(2, {"x": -math.inf})  # commits the rows and events
    back = store.individuals({1, 2})
    assert back[1][0].fitness == -math.inf and back[2][0].fitness == -7.5
    assert store.summary()["best_fitness"] == -7.5
    assert store.events("new_best")[0]["fitness"] == -math.inf
    assert store.latest_checkpoint() == (2, {"x": -math.inf})
    store.close()
    Run.create(tmp_path / "r", config(n=60)).run()
    capsys.readouterr()
    assert main(["show", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "best fitness" in out and "-inf" not in out.split("best fitness")[1].split("\n")[0]
