"""The learning_rules domain end to end: evaluator, controller, run and resume."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
import torch

from evoforge.config import ConfigError, parse_config
from evoforge.domains import build_domain
from evoforge.evolution.run import Run
from evoforge.evolution.space import Evaluation, Individual
from evoforge.evolution.strategies import ElitePool
from evoforge.learning_rules import EquationSpace, parse
from evoforge.learning_rules.evaluator import RuleEvaluator

torch.set_num_threads(1)

TINY = {
    "n_train": 150,
    "n_val": 60,
    "model": {"name": "mlp", "hidden": [12, 12]},
    "train": {"epochs": 3, "batch_size": 25, "lr": 0.1},
}


def config(n, **search):
    return parse_config(
        {
            "run": {"domain": "learning_rules", "seed": 3, "max_individuals": n},
            "search": {"strategy": "elite_pool", "population_size": 4, "top_n": 2, **search},
            "learning_rules": TINY,
        }
    )


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        q = "SELECT id, parent_id, mutation, genome_text, fitness, error FROM individuals"
        q += " ORDER BY id"
        return db.execute(q).fetchall()


def test_evaluator_scores_and_degenerate_equations_fail_cleanly():
    ev = RuleEvaluator(TINY["model"], TINY["train"], n_train=150, n_val=60)
    bp = ev.evaluate(parse("mul(matmul(b1, W), dh)"))
    assert bp.error is None and 0.2 < bp.fitness <= 1.0 and bp.cost == 18
    nan = ev.evaluate(parse("left(inv(mul(g, scale[0.01](g))), g)"))  # 1/0 somewhere -> inf
    assert nan.fitness <= bp.fitness and (nan.early_stopped or nan.error)
    bad = ev.evaluate(parse("left(hp1, g)"))
    assert bad.fitness == 0.0 and "b_i^p needs" in bad.error
    assert ev.evaluate(parse("mul(matmul(b1, W), dh)")).fitness == bp.fitness  # seeded


def test_elite_pool_draws_parents_from_top_with_probability_p():
    space = EquationSpace()
    s = ElitePool(space, np.random.default_rng(0), population_size=10, top_n=2, p_top=0.7)
    init = s.ask(10)
    assert s.ask(1) == []  # children wait for the initial population
    s.tell([Individual(i + 1, c.genome, Evaluation(i / 10)) for i, c in enumerate(init)])
    children = s.ask(2000)
    from_top = np.mean([c.parent_id in (9, 10) for c in children])
    assert abs(from_top - 0.7) < 0.04
    assert all(c.mutation in ("operand", "unary", "binary") for c in children)
    two = ElitePool(space, np.random.default_rng(0), population_size=1, mutation_counts="0, 1")
    two.tell([Individual(1, two.ask(1)[0].genome, Evaluation(0.5))])
    assert two.ask(1)[0].mutation.count("+") == 1


def test_config_errors_name_the_field():
    bad = {"learning_rules": {**TINY, "unary": ["clip[2]"]}}
    with pytest.raises(ConfigError, match=r"learning_rules.unary\[0\]"):
        build_domain(parse_config({"run": {"domain": "learning_rules"}, **bad}))
    bad = {"learning_rules": {**TINY, "seeds": ["add(g)"]}}
    with pytest.raises(ConfigError, match=r"learning_rules.seeds\[0\]"):
        build_domain(parse_config({"run": {"domain": "learning_rules"}, **bad}))
    with pytest.raises(ConfigError, match="mutation_counts"):
        config(5, mutation_counts="x")


def test_tiny_search_resumes_after_interruption_exactly(tmp_path):
    Run.create(tmp_path / "ref", config(10)).run()
    first = Run.create(tmp_path / "r", config(6)).run()
    assert first.n_individuals == 6
    Run.resume(tmp_path / "r", max_individuals=10).run()
    got = rows(tmp_path / "r")
    assert got == rows(tmp_path / "ref") and len(got) == 10
    assert any(r[1] is not None for r in got)  # children of the initial population
    text = (tmp_path / "r" / "best.txt").read_text().strip().splitlines()[-1]
    assert parse(text)  # the best equation is readable and parses back
