"""The architecture strategies (pairwise tournament, (1+1) with niching) and a
tiny end-to-end run: resume after interruption with weights intact, export."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import sys

import numpy as np
import torch

from evoforge.architectures.domain import build_architectures
from evoforge.architectures.inheritance import WEIGHTS_FILE, load_weights
from evoforge.config import parse_config
from evoforge.evolution.run import Run
from evoforge.evolution.space import DomainSetup, Evaluation, Individual
from evoforge.evolution.strategies import OnePlusOneNiching, PairwiseTournament

torch.set_num_threads(1)


class Count:
    def initial(self, rng):
        return 0

    def mutate(self, g, rng):
        return g + int(rng.integers(1, 4)), "add"

    def to_text(self, g):
        return str(g)


def test_pairwise_kill_loop_keeps_the_population_size():
    s = PairwiseTournament(Count(), np.random.default_rng(0), population_size=10)
    init = s.ask(20)
    assert len(init) == 10 and s.ask(1) == []
    s.tell([Individual(i + 1, c.genome, Evaluation(i / 10)) for i, c in enumerate(init)])
    next_id, killed = 11, []
    for _ in range(30):
        batch = s.ask(3)  # three workers in flight
        assert len(s.population) == 7
        delta = s.tell(
            [
                Individual(next_id + i, c.genome, Evaluation(float(c.genome) / 100), c.parent_id)
                for i, c in enumerate(batch)
            ]
        )
        killed += delta.left
        next_id += len(batch)
        assert len(s.population) == 10
        # a parent may be killed by a later draw while its child is in flight (as in §3.1)
        assert all(c.parent_id < next_id - len(batch) + 1 for c in batch)
    assert len(killed) == 90


def test_pairwise_selection_kills_the_worse_and_control_is_random():
    wins = {True: 0, False: 0}
    for selection in (True, False):
        for seed in range(200):
            s = PairwiseTournament(Count(), np.random.default_rng(seed), 2, selection)
            init = s.ask(2)
            s.tell([Individual(1, 0, Evaluation(0.1)), Individual(2, 0, Evaluation(0.9))])
            del init
            [child] = s.ask(1)
            wins[selection] += child.parent_id == 2
    assert wins[True] == 200 and 70 < wins[False] < 130


def test_one_plus_one_niching_novelty_and_state():
    s = OnePlusOneNiching(Count(), np.random.default_rng(1), niche_prob=1.0, niche_steps=2)
    [c] = s.ask(1)
    s.tell([Individual(1, c.genome, Evaluation(0.5))])
    [c] = s.ask(1)
    s.tell([Individual(2, c.genome, Evaluation(0.1), 1, "add")])  # worse: a niche starts
    assert [i.id for i in s.population] == [1, 2]
    [c] = s.ask(1)
    assert c.parent_id == 2  # the niche mutates its own parent
    s.tell([Individual(3, c.genome, Evaluation(0.7), 2, "add")])
    [c] = s.ask(1)
    assert c.parent_id == 3
    state = json.loads(json.dumps(s.state_dict()))
    s.tell([Individual(4, c.genome, Evaluation(0.2), 3, "add")])  # niche ends, 0.7 > 0.5
    assert [i.id for i in s.population] == [3]
    assert len(set(state["history"])) == len(state["history"]) == 4  # 4 asked, all distinct
    fresh = OnePlusOneNiching(Count(), np.random.default_rng(1), niche_prob=1.0, niche_steps=2)
    inds = {i: Individual(i, 0, Evaluation(f)) for i, f in ((1, 0.5), (2, 0.1), (3, 0.7))}
    fresh.load_state_dict(state, inds)
    assert fresh.ask(1) == []  # individual 4 is still in flight after a resume
    s2 = OnePlusOneNiching(Count(), np.random.default_rng(2), niche_prob=0.0)
    [c] = s2.ask(1)
    s2.tell([Individual(1, c.genome, Evaluation(0.5))])
    seen = set()
    for i in range(2, 40):
        [c] = s2.ask(1)
        assert c.genome not in seen
        seen.add(c.genome)
        s2.tell([Individual(i, c.genome, Evaluation(0.1), c.parent_id, "add")])


def config(tmp, space="dna", max_individuals=14, **extra):
    domain = {"space": space, "dataset": "digits", "n_train": 300, "n_val": 100, "n_test": 50}
    if space == "dna":
        domain["steps"] = 20
        search = {"strategy": "pairwise_tournament", "population_size": 4}
    else:
        domain.update(epochs=1, batch_size=64)
        search = {"strategy": "one_plus_one"}
    return parse_config(
        {
            "run": {
                "domain": "architectures",
                "seed": 1,
                "max_individuals": max_individuals,
                "checkpoint_every": 3,
                **extra,
            },
            "search": search,
            "architectures": domain,
        }
    )


class _InterruptAt:
    """Raises KeyboardInterrupt on the ``at``-th evaluation (Ctrl-C mid-run)."""

    def __init__(self, evaluator, at: int) -> None:
        self.evaluator, self.at, self.calls = evaluator, at, 0

    def evaluate(self, genome, budget=None):
        return self.evaluator.evaluate(genome)

    def evaluate_job(self, job, budget=None):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.evaluator.evaluate_job(job)


def rows(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(
            "SELECT id, parent_id, mutation, genome_text, fitness, per_task, cost, error"
            " FROM individuals ORDER BY id"
        ).fetchall()


def weights(run_dir):
    root = run_dir / "artefacts"
    return {p.name: load_weights(p / WEIGHTS_FILE) for p in root.iterdir() if p.name.isdigit()}


def test_interrupted_run_resumes_with_weights_intact_and_export_reproduces_outputs(tmp_path):
    cfg = config(tmp_path, backend="serial")
    reference = Run.create(tmp_path / "ref", cfg).run()
    setup = build_architectures(dict(cfg.domain), "architectures", cfg.run.seed)
    setup = DomainSetup(
        setup.space, _InterruptAt(setup.evaluator, 9), describe=setup.describe,
        resolved_config=setup.resolved_config, fitness_range=setup.fitness_range,
    )  # fmt: skip
    first = Run.create(tmp_path / "r", cfg, setup=setup).run()
    assert first.interrupted and first.n_individuals == 8
    result = Run.resume(tmp_path / "r").run()
    assert result.n_individuals == 14 and not result.interrupted
    # The resumed children trained from the weights their parents left before
    # the interruption: every row and every kept tensor equals the reference's.
    assert rows(tmp_path / "r") == rows(tmp_path / "ref")
    got, want = weights(tmp_path / "r"), weights(tmp_path / "ref")
    assert sorted(got) == sorted(want) and len(got) >= 4  # at least the population
    assert all(torch.equal(got[i][k], want[i][k]) for i in want for k in want[i])
    from evoforge.architectures.export import export_run
    from evoforge.architectures.model import DNANet

    files = export_run(tmp_path / "r", tmp_path / "x", dict(cfg.domain))
    assert [f.name for f in files] == ["model.py", WEIGHTS_FILE, "architecture.png"]
    spec = importlib.util.spec_from_file_location("exported_net", files[0])
    module = importlib.util.module_from_spec(spec)
    sys.modules["exported_net"] = module
    spec.loader.exec_module(module)
    exported = module.load(files[1])
    assert result.best is not None and reference.best.id == result.best.id
    native = DNANet(result.best.genome, (1, 8, 8), 10)
    native.load_state_dict(load_weights(files[1]))
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(exported(x), native.eval()(x), atol=1e-6)


def test_lamarckian_run_counts_epochs_and_exports(tmp_path):
    result = Run.create(tmp_path / "l", config(tmp_path, "blocks", 100, max_cost=4)).run()
    assert result.best is not None and result.best.evaluation.cost == 1
    from evoforge.architectures.export import export_run

    files = export_run(tmp_path / "l", tmp_path / "x", dict(config(tmp_path, "blocks").domain))
    spec = importlib.util.spec_from_file_location("exported_blocks", files[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.load(files[1])(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_flops_bound_fails_large_blocks_and_failed_children_start_no_niche():
    from evoforge.architectures.data import DataSpec
    from evoforge.architectures.lamarckian.evaluator import BlockEvaluator
    from evoforge.architectures.lamarckian.genome import Block, BlockGenome

    ev = BlockEvaluator(DataSpec("digits", n_train=100, n_val=50, n_test=0), 1, max_flops=10**5)
    small = ev.evaluate(BlockGenome((Block(0, 16, 3, 1),), 1))
    large = ev.evaluate(BlockGenome((Block(0, 16, 3, 1), Block(1, 256, 5, 1)), 2))
    assert small.error is None and small.cost == 1
    assert "> max_flops 100,000" in large.error and large.cost == 0
    s = OnePlusOneNiching(Count(), np.random.default_rng(0), niche_prob=1.0)
    [c] = s.ask(1)
    s.tell([Individual(1, c.genome, Evaluation(0.5))])
    [c] = s.ask(1)
    s.tell([Individual(2, c.genome, large, 1, "add")])
    assert [i.id for i in s.population] == [1]
    [c] = s.ask(1)
    s.tell([Individual(3, c.genome, Evaluation(0.1), 1, "add")])
    assert [i.id for i in s.population] == [1, 3]  # a worse trained child does
