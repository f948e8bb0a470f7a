"""Functional-equivalence detection on fixed samples."""

import numpy as np
import torch

from evoforge.activations import equivalence as eq
from evoforge.activations.cafe import core_unit
from evoforge.activations.formula import parse
from evoforge.activations.operators import PANGAEA_BINARY, PANGAEA_UNARY

torch.set_num_threads(1)


def test_samples_are_fixed_truncated_normal():
    assert eq.SAMPLES.shape == (1000,) and eq.SAMPLES.dtype == np.float64
    assert np.abs(eq.SAMPLES).max() <= 5.0
    assert abs(eq.SAMPLES.mean()) < 0.1 and 0.9 < eq.SAMPLES.std() < 1.1
    np.testing.assert_array_equal(eq._truncated_normal(1000, 5.0, eq.SEED), eq.SAMPLES)


def test_known_equivalences_are_detected():
    pairs = [
        ("x * x", "square(x)"),
        ("relu(x)", "max(x, zero(x))"),
        ("x - x", "zero(x)"),
        ("x * sigmoid(x)", "swish(x)"),
        ("log_sigmoid(x)", "neg(softplus(neg(x)))"),
        ("exp(x) - one(x)", "expm1(x)"),
        ("one(x) - erf(x)", "erfc(x)"),
        ("alpha*x", "x"),  # parameters at their initial value 1
    ]
    for a, b in pairs:
        assert eq.equivalent(parse(a), parse(b)), (a, b)
        assert eq.signature(parse(a)) == eq.signature(parse(b)), (a, b)
        assert eq.fingerprint(parse(a)) == eq.fingerprint(parse(b))


def test_different_functions_are_told_apart():
    for a, b in [("tanh(x)", "arctan(x)"), ("relu(x)", "elu(x)"), ("x", "abs(x)")]:
        assert not eq.equivalent(parse(a), parse(b))
        assert eq.signature(parse(a)) != eq.signature(parse(b))


def test_non_finite_outputs_are_compared_by_position_and_sign():
    a = np.array([1.0, np.nan, np.inf])
    assert eq.same_outputs(a, np.array([1.0, np.nan, np.inf]))
    assert not eq.same_outputs(a, np.array([1.0, 2.0, np.inf]))
    assert not eq.same_outputs(a, np.array([1.0, np.nan, -np.inf]))
    assert eq.signature_of_outputs(a) == eq.signature_of_outputs(a.copy())
    assert eq.signature_of_outputs(a) != eq.signature_of_outputs(np.array([1.0, np.nan, -np.inf]))


def test_signature_tolerates_float_noise():
    base = eq.outputs(parse("tanh(x) * x"))
    noisy = base * (1 + 1e-12)
    assert eq.same_outputs(base, noisy)
    assert eq.signature_of_outputs(base) == eq.signature_of_outputs(noisy)


def test_aquasurf_unique_count_agrees_with_the_genome_signatures():
    """Two independent paths (per-genome evaluation vs the vectorised table) agree."""
    from evoforge.activations.counts import aquasurf_unique_count

    sigs = {
        eq.signature(core_unit(b, u1, u2))
        for b in PANGAEA_BINARY
        for u1 in PANGAEA_UNARY
        for u2 in PANGAEA_UNARY
    }
    assert len(sigs) == aquasurf_unique_count("signature")
    assert aquasurf_unique_count("exact") > len(sigs)  # rounding merges float noise


def test_the_dissertations_2913_is_exact_float32_with_ieee_division_and_power():
    """Which conventions reproduce chapter 6's 2,913 (see counts.aquasurf_unique_count)."""
    from evoforge.activations.counts import aquasurf_unique_count

    ours = aquasurf_unique_count("exact", "safe", "safe", "float64")
    theirs = aquasurf_unique_count("exact", "ieee", "ieee", "float32")
    assert abs(theirs - 2913) <= 5 < abs(ours - 2913)
    # Each convention alone moves the count the same way: safe division and
    # power map x/0 and (-a)^b to 0, merging functions IEEE keeps apart.
    assert aquasurf_unique_count("exact", "ieee", "safe") > ours
    assert aquasurf_unique_count("exact", "safe", "ieee") > ours
    assert aquasurf_unique_count("exact", dtype="float32") > ours
