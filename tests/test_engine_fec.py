"""The functional-equivalence cache and its evaluator wrapper."""

from __future__ import annotations

import pickle
from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evoforge.evolution.fec import CachedEvaluator, FECache, as_int64
from evoforge.evolution.space import Budget, Evaluation
from toy_domain import FingerprintedOneMax, OneMax


def test_lru_eviction_and_counters():
    c = FECache(capacity=2)
    c.put(1, Evaluation(0.1))
    c.put(2, Evaluation(0.2))
    assert c.get(1).fitness == 0.1  # 1 is now most recent
    c.put(3, Evaluation(0.3))  # evicts 2
    assert c.get(2) is None and c.get(3).fitness == 0.3
    assert (c.hits, c.misses, len(c)) == (2, 1, 2)
    assert c.hit_rate == pytest.approx(2 / 3)
    assert FECache().capacity == 100_000 and FECache().hit_rate == 0.0
    with pytest.raises(ValueError):
        FECache(0)


@given(st.lists(st.integers(0, 12), max_size=200), st.integers(1, 6))
def test_cache_matches_a_reference_lru(keys, capacity):
    cache, model = FECache(capacity), OrderedDict()
    for k in keys:
        got = cache.get(k)
        if k in model:
            model.move_to_end(k)
            assert got is model[k]
        else:
            assert got is None
            model[k] = cache_value = Evaluation(float(k))
            cache.put(k, cache_value)
            if len(model) > capacity:
                model.popitem(last=False)
    assert list(cache._entries) == list(model)


def test_cached_evaluator_hits_misses_and_fields():
    ev = CachedEvaluator(FingerprintedOneMax(8), capacity=10)
    first = ev.evaluate("11110000")
    assert not first.fec_hit and first.fingerprint == 0b11110000 and first.cost == 8
    again = ev.evaluate("11110000")
    assert again.fec_hit and again.cost == 0 and again.fingerprint == first.fingerprint
    assert (again.fitness, again.per_task) == (first.fitness, first.per_task)
    assert ev.evaluate("11110000") is again  # the hit form is built once
    assert ev.evaluator.calls == 1 and ev.cache.hits == 2


def test_cached_evaluator_needs_a_fingerprint_and_is_picklable():
    with pytest.raises(TypeError, match="fingerprint"):
        CachedEvaluator(OneMax(8))
    ev = CachedEvaluator(FingerprintedOneMax(8))
    ev.evaluate("10101010")
    clone = pickle.loads(pickle.dumps(ev))
    assert clone.evaluate("10101010").fec_hit  # the cache travels with it


def test_early_stopped_results_are_cached_as_they_were():
    ev = CachedEvaluator(FingerprintedOneMax(8))
    low = ev.evaluate("00001111", Budget(hurdle=0.5))
    assert low.early_stopped and low.per_task == (0.0,)
    hit = ev.evaluate("00001111", Budget())
    assert hit.fec_hit and hit.early_stopped and hit.fitness == low.fitness


def test_warm_restores_order_without_counting():
    c = FECache(capacity=2)
    c.warm([(1, Evaluation(0.1)), (2, Evaluation(0.2)), (3, Evaluation(0.3))])
    assert list(c._entries) == [2, 3] and (c.hits, c.misses) == (0, 0)


@pytest.mark.parametrize("value", [0, 1, -1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**80 + 5])
def test_as_int64_folds_into_sqlite_range(value):
    folded = as_int64(value)
    assert -(2**63) <= folded < 2**63 and folded % 2**64 == value % 2**64
