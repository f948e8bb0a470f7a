"""Activation-function search through the engine: evaluator, strategies (quality
gate, CAFE's softmax GA, exhaustive, random walk), the ``activations`` domain,
its configs, and exact resume of tiny PANGAEA and CAFE runs."""

from __future__ import annotations

import copy
import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from evoforge.activations.domain import build
from evoforge.activations.evaluator import LOSS_CEILING, ActivationEvaluator, param_fingerprint
from evoforge.activations.formula import parse
from evoforge.cli import main
from evoforge.config import ConfigError, parse_config
from evoforge.domains import DomainSetup
from evoforge.evolution.run import Run
from evoforge.evolution.space import Evaluation, Individual
from evoforge.evolution.strategies import (
    Exhaustive,
    RandomWalk,
    RegularizedEvolution,
    SoftmaxGA,
)

torch.set_num_threads(1)

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "activations"
TINY_MODEL = {"name": "mlp", "hidden": [16]}
TINY_TRAIN = {"epochs": 1, "batch_size": 50, "lr": 0.05}
TINY = {"model": TINY_MODEL, "train": TINY_TRAIN, "n_train": 200, "n_val": 100}
RESULT_COLUMNS = (
    "id, parent_id, mutation, genome_text, fitness, per_task, cost, fingerprint,"
    " fec_hit, early_stopped, error"
)


def rows(run_dir: Path) -> list[tuple]:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {RESULT_COLUMNS} FROM individuals ORDER BY id").fetchall()


# -- the evaluator -----------------------------------------------------------------


def test_evaluator_prefers_relu_to_an_always_zero_activation():
    ev = ActivationEvaluator(
        {"name": "mlp", "hidden": [32]},
        {"epochs": 3, "batch_size": 50, "lr": 0.05},
        n_train=300,
        n_val=150,
    )
    relu, zero = ev.evaluate(parse("relu(x)")), ev.evaluate(parse("zero(x)"))
    assert relu.fitness > zero.fitness + 0.3
    assert relu.per_task[0] == relu.fitness and relu.cost == 3 * 6 and relu.error is None
    assert ev.evaluate(parse("relu(x)")) == relu  # seeded: the same genome, the same result
    # Loss fitness: the shifted negative loss orders them the same way.
    loss_ev = ActivationEvaluator(
        {"name": "mlp", "hidden": [32]},
        {"epochs": 3, "batch_size": 50, "lr": 0.05},
        n_train=300,
        n_val=150,
        fitness="loss",
    )
    r = loss_ev.evaluate(parse("relu(x)"))
    assert r.fitness == pytest.approx(LOSS_CEILING - r.per_task[1])
    assert r.fitness > loss_ev.evaluate(parse("zero(x)")).fitness


def test_nan_activation_gets_minimum_fitness_and_pickles_without_data():
    for fitness in ("accuracy", "loss"):
        ev = ActivationEvaluator(TINY_MODEL, TINY_TRAIN, n_train=200, n_val=100, fitness=fitness)
        result = ev.evaluate(parse("exp(exp(exp(exp(x))))"))
        assert result.fitness == 0.0 and result.error is not None
    assert ev._data is not None
    clone = pickle.loads(pickle.dumps(ev))
    assert clone._data is None  # each process loads its own copy
    assert clone.evaluate(parse("tanh(x)")) == ev.evaluate(parse("tanh(x)"))


def test_fingerprint_separates_parametric_families():
    assert param_fingerprint(parse("relu(x)")) == param_fingerprint(parse("max(x, zero(x))"))
    assert param_fingerprint(parse("swish(x)")) != param_fingerprint(parse("alpha*swish(x)"))
    assert param_fingerprint(parse("alpha*swish(x)")) != param_fingerprint(parse("swish(alpha*x)"))


class _HalfNan:
    """A PANGAEA-like space whose initial genome is NaN-producing half of the time."""

    def __init__(self) -> None:
        self.inner = build({**TINY}, "activations", 0).space

    def initial(self, rng):
        return parse("exp(exp(exp(exp(x))))") if rng.random() < 0.5 else parse("relu(x)")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_nan_candidates_do_not_stop_a_run(tmp_path):
    setup = build({**TINY}, "activations", 0)
    setup = DomainSetup(_HalfNan(), setup.evaluator, resolved_config=setup.resolved_config)
    cfg = parse_config(
        {
            "run": {"domain": "activations", "max_individuals": 6},
            "search": {"strategy": "random_search", "fec": {"enabled": False}},
        }
    )
    result = Run.create(tmp_path / "r", cfg, setup=setup).run()
    got = rows(tmp_path / "r")
    errors = [r for r in got if r[10] is not None]
    assert result.n_individuals == 6 and errors and len(errors) < 6
    assert all(r[4] == 0.0 for r in errors)
    assert result.best.fitness > 0.0 and result.best.genome == parse("relu(x)")


# -- strategies --------------------------------------------------------------------


class Ints:
    def initial(self, rng):
        return int(rng.integers(100))

    def mutate(self, g, rng):
        return g + 1, "inc"

    def crossover(self, a, b, rng):
        return a * 1000 + b


def test_quality_gate_keeps_bad_children_out_but_counts_them():
    s = RegularizedEvolution(
        Ints(), np.random.default_rng(0), population_size=3, tournament_size=2, quality_gate=0.2
    )
    init = s.ask(3)
    # Initial members are admitted even below the gate, so the population fills.
    delta = s.tell([Individual(i + 1, c.genome, Evaluation(f)) for i, (c, f) in
                    enumerate(zip(init, (0.1, 0.5, 0.9), strict=True))])  # fmt: skip
    assert [i.id for i in s.population] == [1, 2, 3] and len(delta.joined) == 3
    bad, good = s.ask(2)
    delta = s.tell([Individual(4, bad.genome, Evaluation(0.19), bad.parent_id, bad.mutation)])
    assert delta.joined == [] and delta.left == [] and [i.id for i in s.population] == [1, 2, 3]
    delta = s.tell([Individual(5, good.genome, Evaluation(0.2), good.parent_id, good.mutation)])
    assert [i.id for i in delta.joined] == [5] and [i.id for i in delta.left] == [1]
    assert [i.id for i in s.population] == [2, 3, 5]
    # Without a gate every child joins (AutoML-Zero's behaviour is unchanged).
    plain = RegularizedEvolution(Ints(), np.random.default_rng(0), 3, 2)
    plain.tell([Individual(i + 1, c.genome, Evaluation(0.5)) for i, c in enumerate(plain.ask(3))])
    [c] = plain.ask(1)
    assert plain.tell([Individual(4, c.genome, Evaluation(0.0), c.parent_id)]).joined


def drive(strategy, n, start=1, fitness=lambda g: (g % 97) / 97):
    out = []
    for i in range(start, start + n):
        [c] = strategy.ask(1)
        ind = Individual(i, c.genome, Evaluation(fitness(c.genome)), c.parent_id, c.mutation)
        strategy.tell([ind])
        out.append(ind)
    return out


def test_softmax_ga_generation_composition():
    s = SoftmaxGA(Ints(), np.random.default_rng(1), population_size=10, elites=2,
                  random_per_generation=3, mutation_prob=1.0)  # fmt: skip
    gen0 = drive(s, 10)
    assert all(i.parent_id is None for i in gen0) and s.generation == 1
    top = sorted(gen0, key=lambda i: -i.fitness)[:2]
    assert [i.id for i in s.population] == [i.id for i in top]  # elites carried, not re-asked
    cands = s.ask(100)
    assert len(cands) == 8 and s.ask(1) == []  # N - elites new candidates, then wait
    assert all(c.parent_id is None and c.mutation is None for c in cands[:3])
    children = cands[3:]
    assert all(c.mutation == "crossover+inc" for c in children)
    ids = {i.id for i in gen0}
    assert all(c.parent_id in ids for c in children)
    # crossover(a, b) = a*1000 + b, then +1: both parents are members of generation 0.
    genomes = {i.genome for i in gen0}
    assert all((c.genome - 1) // 1000 in genomes and (c.genome - 1) % 1000 in genomes
               for c in children)  # fmt: skip
    s.tell(
        [Individual(11 + k, c.genome, Evaluation(0.0), c.parent_id) for k, c in enumerate(cands)]
    )
    assert s.generation == 2 and [i.id for i in s.population] == [i.id for i in top]


def test_softmax_selection_follows_fitness():
    s = SoftmaxGA(Ints(), np.random.default_rng(2), population_size=4, elites=0,
                  random_per_generation=0, temperature=0.05)  # fmt: skip
    gen0 = drive(s, 4, fitness=lambda g: 0.0)
    best = gen0[2]
    s2 = SoftmaxGA(Ints(), np.random.default_rng(2), population_size=4, elites=0,
                   random_per_generation=0, temperature=0.05)  # fmt: skip
    for c, ind in zip(s2.ask(4), gen0, strict=True):
        s2.tell([Individual(ind.id, c.genome, Evaluation(1.0 if ind is best else 0.0))])
    parents = [c.parent_id for _ in range(50) for c in s2.ask(4)]
    # p(best) = e^20 / (e^20 + 3) ~ 1; asks past the quota return nothing.
    assert parents == [best.id] * 4


def _snapshot_resume(make, n_first, n_total, fitness=lambda g: (g % 97) / 97):
    ref = drive(make(), n_total, fitness=fitness)
    a = make()
    first = drive(a, n_first, fitness=fitness)
    state = copy.deepcopy(a.state_dict())
    rng_state = copy.deepcopy(a.rng.bit_generator.state)
    known = {i.id: i for i in first}
    b = make()
    b.rng.bit_generator.state = rng_state
    b.load_state_dict(state, {i: known[i] for i in type(b).referenced_ids(state)})
    rest = drive(b, n_total - n_first, start=n_first + 1, fitness=fitness)
    key = [(i.genome, i.parent_id, i.mutation) for i in first + rest]
    assert key == [(i.genome, i.parent_id, i.mutation) for i in ref]


@pytest.mark.parametrize("cut", [7, 10, 23])
def test_softmax_ga_resumes_exactly(cut):
    _snapshot_resume(
        lambda: SoftmaxGA(
            Ints(),
            np.random.default_rng(5),
            population_size=10,
            elites=2,
            random_per_generation=3,
            mutation_prob=0.5,
        ),
        cut,
        40,
    )


class Letters:
    def enumerate(self):
        return iter("abcdefgh")


def test_exhaustive_and_random_walk_resume_exactly():
    _snapshot_resume(lambda: Exhaustive(Letters(), np.random.default_rng(0)), 3, 8, lambda g: 0.5)
    s = Exhaustive(Letters(), np.random.default_rng(0))
    drive(s, 8, fitness=lambda g: float(g == "e"))
    assert s.best.genome == "e"
    with pytest.raises(RuntimeError, match="max_individuals <= 8"):
        s.ask(1)
    _snapshot_resume(lambda: RandomWalk(Ints(), np.random.default_rng(3)), 4, 12)
    w = RandomWalk(Ints(), np.random.default_rng(3))
    walk = drive(w, 5)
    assert [i.parent_id for i in walk] == [None, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="cannot be enumerated"):
        Exhaustive(Ints(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="no crossover"):
        SoftmaxGA(Letters(), np.random.default_rng(0), population_size=4, elites=1,
                  random_per_generation=1)  # fmt: skip


# -- runs: interrupted and resumed equals uninterrupted ---------------------------------


class _InterruptAt:
    """Raises KeyboardInterrupt on the ``at``-th evaluation (like Ctrl-C mid-training)."""

    def __init__(self, evaluator, at: int) -> None:
        self.evaluator, self.at, self.calls = evaluator, at, 0

    def evaluate(self, genome, budget=None):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.evaluator.evaluate(genome)

    def fingerprint(self, genome):
        return self.evaluator.fingerprint(genome)


def _interrupted_then_resumed(tmp_path, data, at, total):
    Run.create(tmp_path / "ref", parse_config(data)).run()
    cfg = parse_config(data)
    setup = build(data["activations"], "activations", cfg.run.seed)
    setup = DomainSetup(
        setup.space, _InterruptAt(setup.evaluator, at), describe=setup.describe,
        resolved_config=setup.resolved_config,
    )  # fmt: skip
    first = Run.create(tmp_path / "r", cfg, setup=setup).run()
    assert first.interrupted and first.n_individuals == at - 1
    second = Run.resume(tmp_path / "r").run()
    assert second.n_individuals == total and not second.interrupted
    got = rows(tmp_path / "r")
    assert got == rows(tmp_path / "ref")
    return got


def test_pangaea_run_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    data = {
        "run": {"domain": "activations", "seed": 3, "max_individuals": 24, "checkpoint_every": 5},
        "search": {
            "population_size": 6,
            "tournament_size": 3,
            "mutation_prob": 1.0,
            "quality_gate": 0.3,
        },
        "activations": {"representation": "pangaea", **TINY},
    }
    got = _interrupted_then_resumed(tmp_path, data, at=14, total=24)
    assert [r[0] for r in got] == list(range(1, 25))
    assert all(r[1] is None for r in got[:6]) and all(r[1] is not None for r in got[6:])
    best = (tmp_path / "r" / "best.txt").read_text()
    assert "# sympy: " in best and "# learnable parameters: " in best


def test_cafe_ga_run_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    data = {
        "run": {"domain": "activations", "seed": 1, "max_individuals": 16},
        "search": {
            "strategy": "softmax_ga",
            "population_size": 6,
            "elites": 1,
            "random_per_generation": 2,
            "mutation_prob": 1.0,
        },
        "activations": {"representation": "cafe_s2", "fitness": "loss", **TINY},
    }
    got = _interrupted_then_resumed(tmp_path, data, at=9, total=16)
    # 6 + 5 + 5: generations 1 and 2 each have 2 random genomes, then 3 children.
    assert [r[2] for r in got[6:11]] == [None, None] + ["crossover+change"] * 3


def test_cafe_s1_exhaustive_resumes_in_enumeration_order(tmp_path):
    data = {
        "run": {"domain": "activations", "max_individuals": 30},
        "search": {"strategy": "exhaustive"},
        "activations": {"representation": "cafe_s1", **TINY},
    }
    first = {**data, "run": {**data["run"], "max_individuals": 8}}
    Run.create(tmp_path / "r", parse_config(first)).run()
    Run.resume(tmp_path / "r", max_individuals=30).run()
    got = rows(tmp_path / "r")
    from evoforge.activations import cafe
    from evoforge.activations.formula import to_text

    expected = [to_text(g) for g, _ in zip(cafe.enumerate_s1(), range(30), strict=False)]
    assert [r[3] for r in got] == expected
    # one(x) + zero(x) (the 25th) computes zero(x) + one(x) (the 2nd): an FEC hit.
    assert [r[0] for r in got if r[8]] == [25] and got[24][4] == got[1][4]


# -- configs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "pangaea_small",
        "pangaea_random_search",
        "pangaea_nonparametric",
        "cafe_s1_exhaustive",
        "cafe_evolution",
    ],
)
def test_shipped_configs_run_through_the_cli(name, tmp_path, capsys):
    out = tmp_path / name
    code = main(["run", str(CONFIGS / f"{name}.toml"), "--out", str(out),
                 "--max-individuals", "1", "--quiet"])  # fmt: skip
    assert code == 0
    assert len(rows(out)) == 1 and (out / "best.txt").is_file()


@pytest.mark.parametrize(
    ("table", "search", "message"),
    [
        ({"representation": "cafe"}, {}, "activations.representation: expected one of"),
        ({"representation": "cafe_s1", "max_params": 2}, {}, "activations.max_params: only used"),
        ({"max_params": -1}, {}, "activations.max_params: expected an integer in [0, 24]"),
        ({"model": {"name": "mlp", "hiden": [4]}}, {}, "activations.model: model 'mlp': unknown"),
        ({"train": {"epoch": 2}}, {}, "activations.train: TrainConfig: unknown field 'epoch'"),
        ({"init": "kaiming"}, {}, "activations.init: expected one of"),
        ({"fitness": "acc"}, {}, "activations.fitness: expected one of 'accuracy', 'loss'"),
        ({"param_mode": "per_pixel"}, {}, "activations.param_mode"),
        ({"n_train": 5000}, {}, "activations.dataset: n_train"),
        ({"nodes": 3}, {}, "activations.nodes: unknown key"),
        ({}, {"strategy": "random_search", "quality_gate": 0.2}, "search.quality_gate: only"),
        ({}, {"elites": 3}, "search.elites: only used by strategy 'softmax_ga'"),
        (
            {},
            {
                "strategy": "softmax_ga",
                "population_size": 10,
                "elites": 6,
                "random_per_generation": 5,
            },
            "search.random_per_generation: elites +",
        ),
    ],
)
def test_config_errors_name_the_field(table, search, message, tmp_path):
    data = {
        "run": {"domain": "activations"},
        "search": search,
        "activations": {**TINY, **table},
    }
    with pytest.raises(ConfigError) as info:
        Run.create(tmp_path / "r", parse_config(data))
    assert message in str(info.value)
    assert not (tmp_path / "r").exists()
