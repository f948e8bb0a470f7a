"""Rolling-percentile hurdles: the incremental tracker agrees with numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evoforge.evolution.hurdles import Hurdle


def test_threshold_uses_unique_values_and_linear_interpolation():
    h = Hurdle(percentile=75, min_population=1)
    # unique values 0, 1, 2, 3, 4: the 75th percentile is 3 regardless of repeats
    assert h.threshold([0, 0, 0, 0, 1, 2, 3, 4]) == 3.0
    assert h.threshold([0.0, 1.0]) == 0.75  # interpolated
    assert Hurdle().percentile == 75.0


def test_none_until_the_population_is_full():
    h = Hurdle(50, min_population=3)
    assert h.threshold([1.0, 2.0]) is None and h.value is None
    h.update([1.0, 2.0], [])
    assert h.value is None
    h.update([3.0], [])
    assert h.value == 2.0


@pytest.mark.parametrize("q", [-1, 101])
def test_percentile_bounds(q):
    with pytest.raises(ValueError):
        Hurdle(q)


fitness = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5000001, 0.75, 1.0])


@given(
    st.lists(fitness, min_size=1, max_size=30),
    st.lists(fitness, max_size=60),
    st.floats(0, 100),
)
def test_incremental_matches_stateless(initial, arrivals, q):
    # A FIFO population, as regularized evolution keeps it.
    h = Hurdle(q, min_population=len(initial))
    population = list(initial)
    h.reset(population)
    for f in arrivals:
        h.update([f], [population.pop(0)])
        population.append(f)
        expected = h.threshold(population)
        assert h.value == pytest.approx(expected, abs=1e-12)
        assert expected == pytest.approx(np.percentile(np.unique(population), q))
