"""The surrogate strategy: argmax pick, deterministic replay, resume, registration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evoforge.activations.aquasurf.replay import TablePool, replay
from evoforge.evolution.space import Evaluation, Individual
from evoforge.evolution.strategies import (
    STRATEGIES,
    SurrogateSearch,
    decode_state,
    encode_state,
)

N = 60
RNG = np.random.default_rng(7)
COORDS = RNG.random((N, 2))
NAMES = [f"f{i}" for i in range(N)]
# A smooth landscape over the 2-D coordinates: the best is near (0.8, 0.3).
ACC = {n: float(1 - np.hypot(*(c - [0.8, 0.3]))) for n, c in zip(NAMES, COORDS, strict=True)}


def _pool() -> TablePool:
    return TablePool(NAMES, {"both": COORDS}, np.ones(N, bool), start=["f0"])


def _tell(s: SurrogateSearch, cands, start_id: int) -> list[Individual]:
    inds = [
        Individual(start_id + i, c.genome, Evaluation(ACC[c.genome])) for i, c in enumerate(cands)
    ]
    s.tell(inds)
    return inds


@pytest.mark.parametrize("kind", ["knn", "rf", "svr"])
def test_picks_the_argmax_of_its_prediction(kind: str) -> None:
    s2 = SurrogateSearch(_pool(), np.random.default_rng(0), surrogate=kind)
    first = s2.ask(8)
    assert first[0].genome == "f0" and len({c.genome for c in first}) == 8
    _tell(s2, first, 1)
    free = np.array([i for i in range(N) if NAMES[i] not in {c.genome for c in first}])
    # Same rng position for both (rf draws its seed): restore it after predicting.
    rng_copy = np.random.Generator(np.random.PCG64())
    rng_copy.bit_generator.state = s2.rng.bit_generator.state
    pred = s2.predict(free)
    s2.rng.bit_generator.state = rng_copy.bit_generator.state
    [pick] = s2.ask(1)
    assert pick.genome == NAMES[int(free[int(np.argmax(pred))])]
    assert pick.mutation == kind


def test_waits_for_the_initial_sample_then_never_repeats() -> None:
    s = SurrogateSearch(_pool(), np.random.default_rng(1))
    first = s.ask(3)
    assert s.ask(10)[:5] and len(s._asked) == 8  # the rest of the initial 8
    assert s.ask(1) == []  # nothing is told yet: the first fit waits
    _tell(s, first, 1)
    assert s.ask(1) == []  # still 5 outstanding


def test_replay_is_deterministic_and_beats_random_here() -> None:
    pool = _pool()
    a = replay(pool, ACC, "knn", "both", budget=30, seed=3)
    assert a == replay(pool, ACC, "knn", "both", budget=30, seed=3)
    assert a != replay(pool, ACC, "knn", "both", budget=30, seed=4)
    assert len(set(a)) == 30  # no function evaluated twice
    best_knn = np.mean(
        [max(replay(pool, ACC, "knn", "both", budget=20, seed=r)) for r in range(10)]
    )
    best_rand = np.mean(
        [max(replay(pool, ACC, "random", "both", budget=20, seed=r)) for r in range(10)]
    )
    assert best_knn > best_rand


def test_resume_after_interruption_gives_the_same_run() -> None:
    def run(stop_at: int | None) -> list[str]:
        s = SurrogateSearch(_pool(), np.random.default_rng(5), surrogate="knn")
        told: dict[int, Individual] = {}
        order: list[str] = []
        while len(order) < 25:
            if stop_at is not None and len(order) == stop_at:
                # Interrupt: checkpoint as JSON, rebuild with the rng state, load.
                blob = json.dumps(encode_state(s.state_dict()))
                rng_state = s.rng.bit_generator.state
                s = SurrogateSearch(_pool(), np.random.default_rng(999), surrogate="knn")
                s.rng.bit_generator.state = rng_state
                st = decode_state(json.loads(blob))
                s.load_state_dict(st, {i: told[i] for i in SurrogateSearch.referenced_ids(st)})
                stop_at = None
            cands = s.ask(8 if not order else 1)
            for ind in _tell(s, cands, len(order) + 1):
                told[ind.id] = ind
            order.extend(c.genome for c in cands)
        return order

    assert run(None) == run(12)


def test_registered_and_refuses_a_space_without_a_pool() -> None:
    assert STRATEGIES["surrogate"] is SurrogateSearch

    class Plain:
        def initial(self, rng):
            return 0

    with pytest.raises(ValueError, match="pool_genomes"):
        SurrogateSearch(Plain(), np.random.default_rng(0))  # type: ignore[arg-type]
