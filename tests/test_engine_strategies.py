"""Regularized evolution and random search, driven by hand (no store, no driver)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evoforge.evolution.space import Evaluation, Individual
from evoforge.evolution.strategies import RandomSearch, RegularizedEvolution, make_strategy
from toy_domain import BitSpace


class Counter:
    """Genomes are ints; records how often initial() was called."""

    def __init__(self) -> None:
        self.initial_calls = 0

    def initial(self, rng: np.random.Generator) -> int:
        self.initial_calls += 1
        return int(rng.integers(1000))

    def mutate(self, genome: int, rng: np.random.Generator) -> tuple[int, str]:
        return genome + 1, "inc"


def tell_all(strategy, candidates, start_id, fitness=lambda g: float(g)):
    told = [
        Individual(start_id + i, c.genome, Evaluation(fitness(c.genome)), c.parent_id, c.mutation)
        for i, c in enumerate(candidates)
    ]
    strategy.tell(told)
    return told


def test_initial_population_then_children_only_after_it_is_complete():
    space = Counter()
    s = RegularizedEvolution(space, np.random.default_rng(0), population_size=5, tournament_size=2)
    first = s.ask(3)
    assert [c.parent_id for c in first] == [None] * 3 and space.initial_calls == 3
    rest = s.ask(10)  # only the 2 remaining initial genomes
    assert len(rest) == 2 and space.initial_calls == 5
    assert s.ask(4) == []  # population incomplete: wait for results
    tell_all(s, first + rest, 1)
    children = s.ask(4)  # steady state: several asks before any tell is fine
    assert len(children) == 4 and all(c.parent_id is not None for c in children)
    assert space.initial_calls == 5


def test_fifo_replacement_keeps_population_size():
    s = RegularizedEvolution(
        Counter(), np.random.default_rng(1), population_size=4, tournament_size=2
    )
    told = tell_all(s, s.ask(4), 1)
    assert [i.id for i in s.population] == [1, 2, 3, 4]
    new = tell_all(s, s.ask(3), 5)
    assert [i.id for i in s.population] == [4, 5, 6, 7]
    assert len(s.population) == 4
    delta = s.tell([Individual(8, 0, Evaluation(0.0))])
    assert [i.id for i in delta.left] == [4] and [i.id for i in delta.joined] == [8]
    assert told and new


def test_tournament_winner_is_the_fittest_drawn_first_seen_on_ties():
    fitness = [0.2, 0.9, 0.9]
    s = RegularizedEvolution(
        Counter(), np.random.default_rng(2), population_size=3, tournament_size=3, mutation_prob=0.0
    )
    s.ask(3)
    s.tell([Individual(i + 1, 10 * (i + 1), Evaluation(f)) for i, f in enumerate(fitness)])
    state = s.rng.bit_generator.state
    children = s.ask(300)
    assert {c.mutation for c in children} == {"none"}
    assert {c.parent_id for c in children} == {1, 2, 3}  # drawn with replacement
    # Replay the raw draws (T slots + the mutation coin per child).
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    for child in children:
        *draws, _coin = rng.bit_generator.random_raw(4).tolist()
        slots = [(d * 3) >> 64 for d in draws]
        best = max(fitness[slot] for slot in slots)
        winner = next(slot for slot in slots if fitness[slot] == best)
        assert (child.parent_id, child.genome) == (winner + 1, 10 * (winner + 1))


def test_tournament_draws_uniformly_with_replacement():
    s = RegularizedEvolution(
        Counter(),
        np.random.default_rng(3),
        population_size=10,
        tournament_size=1,
        mutation_prob=1.0,
    )
    tell_all(s, s.ask(10), 1)
    parents = [c.parent_id for c in s.ask(20_000)]
    counts = np.bincount(parents, minlength=11)[1:]
    assert counts.min() > 1800 and counts.max() < 2200  # ~2000 each


def test_mutation_probability():
    s = RegularizedEvolution(
        Counter(), np.random.default_rng(4), population_size=5, tournament_size=2, mutation_prob=0.3
    )
    tell_all(s, s.ask(5), 1)
    kinds = [c.mutation for c in s.ask(10_000)]
    assert abs(kinds.count("inc") / len(kinds) - 0.3) < 0.02
    assert set(kinds) == {"inc", "none"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"population_size": 1},
        {"population_size": 5, "tournament_size": 6},
        {"population_size": 5, "tournament_size": 0},
        {"mutation_prob": 1.5},
    ],
)
def test_invalid_parameters(kwargs):
    with pytest.raises(ValueError):
        RegularizedEvolution(Counter(), np.random.default_rng(0), **kwargs)


def drive(strategy, n, start_id=1, store=None):
    """Serial ask/tell with OneMax fitness; returns the told individuals."""
    out = []
    for i in range(start_id, start_id + n):
        [c] = strategy.ask(1)
        ind = Individual(
            i, c.genome, Evaluation(c.genome.count("1") / len(c.genome)), c.parent_id, c.mutation
        )
        strategy.tell([ind])
        out.append(ind)
        if store is not None:
            store[i] = ind
    return out


@pytest.mark.parametrize("name", ["regularized_evolution", "random_search"])
def test_state_dict_round_trip_continues_identically(name):
    params = {"population_size": 8, "tournament_size": 3} if name != "random_search" else {}
    space = BitSpace(16)
    reference = make_strategy(name, space, np.random.default_rng(7), **params)
    expected = drive(reference, 60)

    store: dict[int, Individual] = {}
    first = make_strategy(name, space, np.random.default_rng(7), **params)
    drive(first, 25, store=store)
    state = json.loads(json.dumps(first.state_dict()))  # must be JSON-able
    rng_state = first.rng.bit_generator.state

    rng = np.random.default_rng()
    rng.bit_generator.state = rng_state
    second = make_strategy(name, space, rng, **params)
    second.load_state_dict(state, {i: store[i] for i in second.referenced_ids(state)})
    rest = drive(second, 35, start_id=26)
    got = list(store.values()) + rest
    assert [(i.genome, i.parent_id, i.mutation) for i in got] == [
        (i.genome, i.parent_id, i.mutation) for i in expected
    ]


def test_random_search_keeps_the_first_best():
    s = RandomSearch(Counter(), np.random.default_rng(0))
    assert s.population == () and s.referenced_ids(s.state_dict()) == []
    cands = s.ask(3)
    assert all(c.parent_id is None and c.mutation is None for c in cands)
    s.tell([Individual(i + 1, c.genome, Evaluation(1.0)) for i, c in enumerate(cands)])
    assert s.best.id == 1 and [i.id for i in s.population] == [1]


# -- the registry: declared parameters drive config validation ---------------------

import glob  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

import toy_domain  # noqa: E402, F401  (registers the "toy" domain)
from evoforge.cli import main  # noqa: E402
from evoforge.config import ConfigError, load_config, parse_config  # noqa: E402
from evoforge.evolution.run import Run  # noqa: E402
from evoforge.evolution.space import REEVALUATE  # noqa: E402
from evoforge.evolution.store import RunStore  # noqa: E402
from evoforge.evolution.strategies import (  # noqa: E402
    STRATEGIES,
    Candidate,
    MuLambda,
    Param,
    PopulationDelta,
    Strategy,
    get_strategy,
    register_strategy,
)

ROOT = Path(__file__).resolve().parents[1]


def search_error(search) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"run": {"domain": "toy"}, "search": search})
    return str(info.value)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_resolved_config_holds_every_declared_parameter(name, tmp_path):
    cfg = parse_config({"run": {"domain": "toy"}, "search": {"strategy": name}})
    declared = {p.name: p.default for p in STRATEGIES[name].params}
    resolved = cfg.resolved["search"]
    assert {k: resolved[k] for k in declared if declared[k] is not None} == {
        k: v for k, v in declared.items() if v is not None
    }
    assert cfg.search.params == declared  # what the constructor receives
    # And the saved copy parses back to the same thing.
    path = tmp_path / "c.toml"
    path.write_text(cfg.resolved_toml({}))
    assert load_config(path).search == cfg.search


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"strategy": "mu_lambda", "parents": 0}, "search.parents: expected an integer in [1, "),
        (
            {"strategy": "mu_lambda", "population_size": 8, "parents": 9},
            "search.parents: expected an integer in [1, population_size=8], got 9",
        ),
        (
            {"strategy": "mu_lambda", "parents": 4, "elites": 5},
            "search.elites: expected an integer in [0, parents=4], got 5",
        ),
        ({"strategy": "mu_lambda", "crossover_prob": "x"}, "expected a number in [0.0, 1.0]"),
        ({"strategy": "mu_lambda", "parnets": 3}, "unknown key (did you mean 'parents'?)"),
        ({"max_evaluations": 3}, "search.max_evaluations: only used by strategy 'mu_lambda'"),
        (
            {"strategy": "softmax_ga", "population_size": 4, "elites": 4},
            "search.elites: expected an integer in [0, population_size - 1 = 3], got 4",
        ),
        ({"strategy": "random_walk", "hurdle": {"enabled": True}}, "hurdles need a population"),
    ],
)
def test_declared_parameters_are_validated(search, message):
    assert message in search_error(search)


def _raw_or(table, key, default):
    return table.get(key, default)


@pytest.mark.parametrize(
    "path", sorted(glob.glob(str(ROOT / "configs" / "**" / "*.toml"), recursive=True))
)
def test_shipped_configs_resolve_to_the_values_they_had(path):
    raw = tomllib.loads(Path(path).read_text()).get("search", {})
    s = load_config(path).search
    strategy = raw.get("strategy", "regularized_evolution")
    assert s.strategy == strategy
    if strategy == "regularized_evolution":
        size = raw.get("population_size", 100)
        assert s.params == {
            "population_size": size,
            "tournament_size": raw.get("tournament_size", min(10, size)),
            "mutation_prob": raw.get("mutation_prob", 0.9),
            "quality_gate": raw.get("quality_gate"),
        }
    elif strategy == "softmax_ga":
        assert s.params == {
            k: raw[k]
            for k in (
                "population_size",
                "elites",
                "random_per_generation",
                "temperature",
                "mutation_prob",
            )
        }  # fmt: skip  (all set explicitly in the shipped CAFE config)
        assert s.generational.elites == raw["elites"]
    else:  # each declared key as the file sets it, else its declared default
        declared = {p.name: raw.get(p.name, p.default) for p in get_strategy(strategy).params}
        assert s.params == {k: v for k, v in declared.items() if v is not None}


# -- a plugin strategy with array state -------------------------------------------


class BitMarginals(Strategy):
    """PBIL-like: a probability per bit (a numpy array), moved toward the best of
    each batch of ``batch`` told individuals; candidates are sampled from it."""

    name = "test_bit_marginals"
    params = (
        Param("batch", int, 4, "individuals per update", min=1),
        Param("rate", float, 0.2, "step toward the batch's best", min=0, max=1),
    )

    def __init__(self, space, rng, batch=4, rate=0.2):
        super().__init__(space, rng)
        self.batch, self.rate = batch, rate
        self.p = np.full(space.length, 0.5)
        self.seen: list[Individual] = []

    def ask(self, n):
        bits = self.rng.random((n, self.p.size)) < self.p
        return [Candidate("".join("1" if b else "0" for b in row), None, None) for row in bits]

    def tell(self, individuals):
        self.seen += individuals
        while len(self.seen) >= self.batch:
            chunk, self.seen = self.seen[: self.batch], self.seen[self.batch :]
            best = max(chunk, key=lambda ind: ind.fitness)
            target = np.array([c == "1" for c in best.genome], dtype=np.float64)
            self.p = (1 - self.rate) * self.p + self.rate * target
        return PopulationDelta((), ())

    def state_dict(self):
        return {"p": self.p.copy(), "seen": [ind.id for ind in self.seen]}

    def load_state_dict(self, state, individuals):
        assert isinstance(state["p"], np.ndarray) and state["p"].dtype == np.float64
        self.p = state["p"].copy()
        self.seen = [individuals[i] for i in state["seen"]]

    @staticmethod
    def referenced_ids(state):
        return list(state["seen"])


@pytest.fixture
def bit_marginals():
    """BitMarginals registered for one test (the registry is process-wide)."""
    register_strategy(BitMarginals)
    yield BitMarginals
    STRATEGIES.pop(BitMarginals.name)


RESULTS = (
    "id, parent_id, mutation, genome_text, fitness, per_task, cost, early_stopped, error,"
    " parent2_id"
)


def stored(run_dir):
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {RESULTS} FROM individuals ORDER BY id").fetchall()


def toy_config(n, search, toy=None, run=None):
    return parse_config(
        {
            "run": {"domain": "toy", "seed": 5, "max_individuals": n, **(run or {})},
            "search": search,
            "toy": {"length": 20, **(toy or {})},
        }
    )


def interrupted_then_resumed_equals_uninterrupted(tmp_path, search, toy, n, at):
    Run.create(tmp_path / "ref", toy_config(n, search, toy)).run()
    result = Run.create(tmp_path / "r", toy_config(n, search, {**toy, "interrupt_after": at})).run()
    sessions = 1
    while result.interrupted:
        result = Run.resume(tmp_path / "r").run()
        sessions += 1
    assert sessions > 2
    got = stored(tmp_path / "r")
    assert got == stored(tmp_path / "ref")
    assert [r[0] for r in got] == list(range(1, n + 1))
    return got


def test_array_state_survives_checkpoint_and_resume_without_pickle(tmp_path, bit_marginals):
    search = {"strategy": "test_bit_marginals", "batch": 5}
    interrupted_then_resumed_equals_uninterrupted(tmp_path, search, {}, 200, at=37)
    [state] = (
        sqlite3.connect(tmp_path / "r" / "run.sqlite")
        .execute("SELECT state FROM checkpoints")
        .fetchone()
    )
    assert '"p": {"__ndarray__": "' in state and "pickle" not in state
    assert "batch = 5" in (tmp_path / "r" / "config.toml").read_text()


def test_mu_lambda_with_crossover_and_reevaluations_resumes_exactly(tmp_path):
    # A deterministic evaluator without FEC: re-evaluations repeat the score,
    # so the run must equal the uninterrupted one row for row.
    search = {
        "strategy": "mu_lambda", "population_size": 12, "parents": 4, "elites": 2,
        "max_evaluations": 3, "crossover_prob": 0.5,
    }  # fmt: skip
    toy = {"crossover": True, "fingerprint": False}
    got = interrupted_then_resumed_equals_uninterrupted(tmp_path, search, toy, 150, at=23)
    by_id = {r[0]: r for r in got}
    reevals = [r for r in got if r[2] == REEVALUATE]
    crossed = [r for r in got if r[2] == "crossover"]
    assert reevals and crossed
    for r in reevals:  # a re-evaluation scores an earlier individual's genome again
        assert r[1] < r[0] and by_id[r[1]][3] == r[3] and by_id[r[1]][2] != REEVALUATE
        assert r[4] == by_id[r[1]][4] and r[9] is None
    per_elite = {}
    for r in reevals:
        per_elite[r[1]] = per_elite.get(r[1], 0) + 1
    assert max(per_elite.values()) == 2  # max_evaluations 3 = the first + 2 more
    assert all(r[9] is not None and r[1] is not None for r in crossed)
    assert all(r[9] is None for r in got if r[2] not in ("crossover",))


@pytest.mark.parametrize("backend", ["serial", "processes"])
def test_noisy_reevaluations_are_averaged_and_resume(tmp_path, backend):
    run = {"backend": backend, "workers": 1 if backend == "serial" else 2}
    search = {
        "strategy": "mu_lambda", "population_size": 10, "parents": 3, "elites": 2,
        "max_evaluations": 4,
    }  # fmt: skip
    cfg = toy_config(90, search, {"noise": 0.05}, run)
    assert cfg.search.params["elites"] == 2
    Run.create(tmp_path / "r", cfg).run()
    resumed = Run.resume(tmp_path / "r", max_individuals=170)
    result = resumed.run()
    assert result.n_individuals == 170
    got = stored(tmp_path / "r")
    assert [r[0] for r in got] == list(range(1, 171))
    fitness = {r[0]: r[4] for r in got}
    strategy = resumed.strategy
    assert isinstance(strategy, MuLambda) and strategy.generation >= 8
    for parent in strategy._parents:
        # The strategy's fitness of a parent is the mean of its stored rows.
        rows_of = [parent.id] + [r[0] for r in got if r[2] == REEVALUATE and r[1] == parent.id]
        assert strategy.evaluations(parent.id) == len(rows_of) <= 4
        mean = sum(fitness[i] for i in rows_of) / len(rows_of)
        assert strategy.mean_fitness(parent.id) == pytest.approx(mean, abs=1e-12)
    assert any(strategy.evaluations(p.id) > 1 for p in strategy._parents)


def test_reevaluating_strategy_refuses_the_fec(tmp_path):
    cfg = toy_config(10, {"strategy": "mu_lambda", "population_size": 4, "parents": 2})
    with pytest.raises(ConfigError, match=r"search\.fec\.enabled: strategy 'mu_lambda' re-e"):
        Run.create(tmp_path / "r", cfg)
    assert not (tmp_path / "r").exists()


def test_softmax_ga_children_record_both_parents(tmp_path):
    search = {
        "strategy": "softmax_ga", "population_size": 6, "elites": 1,
        "random_per_generation": 1, "mutation_prob": 0.5,
    }  # fmt: skip
    Run.create(tmp_path / "r", toy_config(30, search, {"crossover": True})).run()
    children = [r for r in stored(tmp_path / "r") if r[2] and r[2].startswith("crossover")]
    assert children and all(r[1] is not None and r[9] is not None for r in children)


# -- mu_lambda by hand: Prellberg's Algorithm 3 ----------------------------------


class Ints:
    def initial(self, rng):
        return int(rng.integers(1000))

    def mutate(self, g, rng):
        return g + 1, "inc"


def tell_fitness(s, cands, start, fitness):
    """Tell ``cands`` with ``fitness[i]`` for the i-th (candidates may be equal tuples)."""
    told = [
        Individual(start + i, c.genome, Evaluation(fitness[i]), c.parent_id, c.mutation)
        for i, c in enumerate(cands)
    ]
    return told, s.tell(told)


def test_mu_lambda_follows_algorithm_3():
    s = MuLambda(Ints(), np.random.default_rng(0), population_size=5, parents=3, elites=2,
                 max_evaluations=2)  # fmt: skip
    gen0 = s.ask(99)
    assert len(gen0) == 5 and s.ask(1) == [] and all(c.parent_id is None for c in gen0)
    scores = [0.1, 0.9, 0.5, 0.9, 0.3]
    told, delta = tell_fitness(s, gen0, 1, scores)
    # P = best 3 (ties to the lower id), shown with their means.
    assert [p.id for p in s.population] == [2, 4, 3] and delta.left == []
    assert [p.id for p in delta.joined] == [2, 4, 3]
    gen1 = s.ask(99)
    # E = the 2 best, re-evaluated once (max 2 evaluations); then λ = 5 mutants of P.
    assert [(c.mutation, c.reevaluates) for c in gen1[:2]] == [(REEVALUATE, 2), (REEVALUATE, 4)]
    assert gen1[0].genome == told[1].genome and gen1[0].parent_id == 2
    assert len(gen1) == 7 and {c.parent_id for c in gen1[2:]} <= {2, 3, 4}
    # Elite 2 scores 0.1 now (mean 0.5), elite 4 scores 0.9 (mean 0.9); the
    # offspring score 0.6 except one 0.95. Member 3 (0.5, not an elite) is gone.
    _, delta = tell_fitness(s, gen1, 6, [0.1, 0.9, 0.6, 0.95, 0.6, 0.6, 0.6])
    assert [p.id for p in s.population] == [9, 4, 8]
    assert [p.fitness for p in s.population] == [0.95, 0.9, 0.6]
    assert s.mean_fitness(4) == 0.9 and s.evaluations(4) == 2 and 2 not in s._sum
    assert sorted(p.id for p in delta.left) == [2, 3, 4]
    # Elite 4 has had its 2 evaluations: only elite 9 is re-evaluated next.
    gen2 = s.ask(99)
    assert [c.reevaluates for c in gen2[:2]] == [9, None] and len(gen2) == 6


def test_mu_lambda_state_round_trip_mid_generation():
    def run(s, n, start, store):
        out = []
        for i in range(start, start + n):
            [c] = s.ask(1)
            fit = (c.genome % 97) / 97 + (0.01 * i if c.mutation == REEVALUATE else 0.0)
            ind = Individual(i, c.genome, Evaluation(fit), c.parent_id, c.mutation)
            s.tell([ind])
            store[i] = ind
            top = s.population[0].fitness if s.population else None
            out.append((c.genome, c.parent_id, c.mutation, top))
        return out

    kw = {"population_size": 6, "parents": 3, "elites": 2, "max_evaluations": 3}
    expected = run(MuLambda(Ints(), np.random.default_rng(4), **kw), 60, 1, {})
    store = {}
    first = MuLambda(Ints(), np.random.default_rng(4), **kw)
    head = run(first, 33, 1, store)
    state = json.loads(json.dumps(first.state_dict()))
    rng = np.random.default_rng()
    rng.bit_generator.state = first.rng.bit_generator.state
    second = MuLambda(Ints(), rng, **kw)
    second.load_state_dict(state, {i: store[i] for i in second.referenced_ids(state)})
    assert head + run(second, 27, 34, store) == expected


# -- plugins, the CLI listing, the store column ------------------------------------


def test_a_plugin_registers_a_strategy_used_by_config_and_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_strategies.py").write_text(
        textwrap.dedent(
            """
            from evoforge.evolution.strategies import Param, RandomWalk, register_strategy

            @register_strategy
            class LazyWalk(RandomWalk):
                '''A random walk that declares a parameter it ignores.'''
                name = "lazy_walk"
                params = (Param("laziness", int, 3, "how lazy", min=0, max=9),)

                def __init__(self, space, rng, laziness=3):
                    super().__init__(space, rng)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_strategies", raising=False)
    monkeypatch.setitem(STRATEGIES, "lazy_walk", None)  # restored (removed) afterwards
    del STRATEGIES["lazy_walk"]  # so the plugin import is what registers it
    cfg = toy_config(20, {"strategy": "lazy_walk"}, run={"plugins": ["my_strategies"]})
    assert cfg.search.params == {"laziness": 3}
    Run.create(tmp_path / "r", cfg).run()
    saved = tomllib.loads((tmp_path / "r" / "config.toml").read_text())
    assert saved["search"]["laziness"] == 3 and saved["search"]["strategy"] == "lazy_walk"
    assert Run.resume(tmp_path / "r", max_individuals=30).run().n_individuals == 30
    assert "laziness: expected an integer in [0, 9]" in search_error(
        {"strategy": "lazy_walk", "laziness": 10}
    )
    assert main(["strategies", "--plugins", "my_strategies"]) == 0
    out = capsys.readouterr().out
    assert "lazy_walk\n  A random walk that declares" in out
    assert "laziness  int in [0, 9], default 3\n      how lazy" in out
    assert "mu_lambda" in out and "max_evaluations  int >= 1, default 20" in out


def test_old_stores_open_and_gain_the_second_parent_column(tmp_path):
    path = tmp_path / "run.sqlite"
    store = RunStore.create(path)
    store.add(Individual(1, "01", Evaluation(0.5)), "01")
    store.checkpoint(1, {})
    store.close()
    with sqlite3.connect(path) as db:  # as written before the column existed
        db.execute("ALTER TABLE individuals DROP COLUMN parent2_id")
    store = RunStore.open(path)
    store.add(Individual(2, "10", Evaluation(0.7), 1, "crossover", parent2_id=1), "10")
    store.checkpoint(2, {})
    got = store.individuals([1, 2])
    assert got[1][0].parent2_id is None and got[2][0].parent2_id == 1
    store.close()
