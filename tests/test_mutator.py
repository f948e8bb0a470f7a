"""Mutation frequencies and rules of Supplement S3."""

from collections import Counter

import numpy as np
import pytest

from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import OPS
from evoforge.automl_zero.program import Memory, Program

MEMORY = Memory(4, 3, 2, features=4)
DEMO_OPS = [56, 27, 2, 3, 18, 23]


def test_mutation_types_are_uniform_and_removal_twice_as_likely():
    mutator = Mutator(MEMORY, (DEMO_OPS,) * 3, (0, 0, 0), (50, 50, 50))
    rng = np.random.default_rng(0)
    parent = mutator.random_program((10, 10, 10), rng)
    counts = Counter(mutator.mutate(parent, rng)[1] for _ in range(30_000))
    n = sum(counts.values())
    # Three types, each a third; insert_remove splits 1:2.
    assert counts["randomize_component"] / n == pytest.approx(1 / 3, abs=0.015)
    assert counts["alter_argument"] / n == pytest.approx(1 / 3, abs=0.015)
    assert counts["remove"] / n == pytest.approx(2 / 9, abs=0.015)
    assert counts["insert"] / n == pytest.approx(1 / 9, abs=0.015)


def test_size_limits_are_respected_and_fall_back():
    mutator = Mutator(MEMORY, (DEMO_OPS,) * 3, (1, 1, 1), (3, 3, 3), ("insert_remove",))
    rng = np.random.default_rng(1)
    program = mutator.random_program((1, 1, 1), rng)
    names = Counter()
    for _ in range(2000):
        program, name = mutator.mutate(program, rng)
        names[name] += 1
        assert all(1 <= size <= 3 for size in program.sizes)
        program.validate(MEMORY)
    assert names["insert"] > 0 and names["remove"] > 0 and names["none"] == 0


def test_from_empty_program_insertion_happens():
    mutator = Mutator(MEMORY, (DEMO_OPS,) * 3, (0, 0, 0), (5, 5, 5), ("insert_remove",))
    child, name = mutator.mutate(Program.empty(), np.random.default_rng(2))
    assert name == "insert" and sum(child.sizes) == 1


def test_outputs_never_overwrite_label_or_features():
    all_ops = list(range(len(OPS)))
    mutator = Mutator(MEMORY, (all_ops,) * 3, (0, 0, 0), (40, 40, 40))
    program = mutator.random_program((40, 40, 40), np.random.default_rng(3))
    for op, _, _, out in program.code:
        kind = OPS[op].output
        if kind in ("s", "v"):
            assert out >= 1
    program.validate(MEMORY)


def test_constant_alteration_scales_and_sometimes_flips():
    mutator = Mutator(MEMORY, ([56], [], []), (1, 0, 0), (1, 0, 0), ("alter_argument",))
    rng = np.random.default_rng(4)
    parent = Program.from_components(([(56, 0, 0, 2, 1.0, 0.0, 0.0)], [], []))
    ratios = []
    for _ in range(4000):
        child, name = mutator.mutate(parent, rng)
        assert name == "alter_argument"
        if child.data[0, 0] != parent.data[0, 0]:  # the constant changed, not the output
            ratios.append(child.data[0, 0] / parent.data[0, 0])
    ratios = np.array(ratios)
    assert np.all((np.abs(ratios) >= 0.5) & (np.abs(ratios) <= 2.0))
    assert np.mean(ratios < 0) == pytest.approx(0.1, abs=0.03)


def test_fixed_sizes_never_change_with_demo_mutations():
    demo = ("alter_argument", "randomize_instruction", "randomize_component")
    mutator = Mutator(MEMORY, (DEMO_OPS,) * 3, (10, 2, 8), (10, 2, 8), demo)
    rng = np.random.default_rng(5)
    program = mutator.random_program((10, 2, 8), rng)
    for _ in range(500):
        program, _ = mutator.mutate(program, rng)
        assert program.sizes == (10, 2, 8)


def test_mutation_is_deterministic_and_leaves_parent_alone():
    mutator = Mutator(MEMORY, (DEMO_OPS,) * 3, (0, 0, 0), (9, 9, 9))
    parent = mutator.random_program((4, 4, 4), np.random.default_rng(6))
    before = (parent.code.copy(), parent.data.copy())
    a = [mutator.mutate(parent, np.random.default_rng(7))[0] for _ in range(2)]
    assert a[0] == a[1]
    assert np.array_equal(parent.code, before[0]) and np.array_equal(parent.data, before[1])


def test_bad_mutation_names_are_rejected():
    with pytest.raises(ValueError, match="mutations"):
        Mutator(MEMORY, (DEMO_OPS,) * 3, (0, 0, 0), (5, 5, 5), ("swap",))
