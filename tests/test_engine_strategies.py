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
