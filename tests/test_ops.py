"""Every op 0-64 on hand-computed values, under both interpreters.

Each case runs a Setup that fills a small F=2 memory (`INIT`), then the
instruction under test, and compares one output address with the expected
value, including the edge cases of the semantics note: signed zeros, NaN and
infinities, operand order in min/max, one-pass standard deviations, float32
index fractions and outputs that alias an input.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from evoforge.automl_zero import interpreter_numba, interpreter_numpy, prng
from evoforge.automl_zero.ops import N_OPS
from evoforge.automl_zero.program import Memory, Program, index_fraction

F = 2
MEM = Memory(n_scalars=8, n_vectors=6, n_matrices=5, features=F)
SEED = 2024
NAN, INF = math.nan, math.inf
INTERPRETERS = [
    pytest.param(interpreter_numpy, id="numpy"),
    pytest.param(interpreter_numba, id="numba"),
]


def op(code: int, a: int = 0, b: int = 0, o: int = 0, *data: float) -> tuple:
    return (code, a, b, o, *data, *(0.0,) * (3 - len(data)))


def s_set(k: int, x: float) -> list[tuple]:
    return [op(56, 0, 0, k, x)]


def v_set(k: int, xs: list[float]) -> list[tuple]:
    return [op(57, 0, 0, k, index_fraction(i, F), x) for i, x in enumerate(xs)]


def m_set(k: int, rows: list[list[float]]) -> list[tuple]:
    return [
        op(58, 0, 0, k, index_fraction(i, F), index_fraction(j, F), x)
        for i, row in enumerate(rows)
        for j, x in enumerate(row)
    ]


# s1, v5 and m4 start at zero and take the outputs.
INIT = (
    s_set(2, 1.5)
    + s_set(3, -2.0)
    + s_set(4, 0.0)
    + s_set(5, -0.0)
    + s_set(6, NAN)
    + s_set(7, INF)
    + v_set(1, [3.0, 4.0])
    + v_set(2, [1.0, -2.0])
    + v_set(3, [0.0, -0.0])
    + v_set(4, [NAN, 2.0])
    + m_set(1, [[1.0, 2.0], [3.0, 4.0]])
    + m_set(2, [[0.5, -1.0], [2.0, 0.25]])
    + m_set(3, [[NAN, 1.0], [0.0, -0.0]])
)

# A vector whose true variance is tiny but whose one-pass variance is negative.
NEAR_CONSTANT = v_set(3, [0.0, 2.0**-40]) + s_set(1, 3.3) + [op(19, 1, 0, 5), op(23, 5, 3, 5)]


def draws(*calls: tuple[str, float, float, int]) -> list[float]:
    """Values of the shared generator for ``(kind, a, b, count)`` calls, in order."""
    state = prng.new_state(SEED)
    fns = {"uniform": prng.uniform, "gaussian": prng.gaussian}
    return [fns[kind](state, a, b) for kind, a, b, n in calls for _ in range(n)]


PI_2 = 1.5707963267948966  # pi / 2 rounded, as atan(inf) and acos(0) give

# (rows after INIT, output address, expected value, relative tolerance);
# tolerance 0 means bit-exact (libm results get 1e-15).
CASES: list[tuple[list[tuple], tuple[str, int], object, float]] = [
    ([op(1, 2, 3, 1)], ("s", 1), -0.5, 0),
    ([op(2, 2, 3, 1)], ("s", 1), 3.5, 0),
    ([op(3, 2, 3, 1)], ("s", 1), -3.0, 0),
    ([op(4, 2, 3, 1)], ("s", 1), -0.75, 0),
    ([op(4, 2, 4, 1)], ("s", 1), INF, 0),
    ([op(4, 2, 5, 1)], ("s", 1), -INF, 0),
    ([op(4, 3, 4, 1)], ("s", 1), -INF, 0),
    ([op(4, 3, 5, 1)], ("s", 1), INF, 0),
    ([op(4, 4, 4, 1)], ("s", 1), NAN, 0),
    ([op(5, 3, 0, 1)], ("s", 1), 2.0, 0),
    ([op(5, 5, 0, 1)], ("s", 1), 0.0, 0),
    ([op(6, 3, 0, 1)], ("s", 1), -0.5, 0),
    ([op(6, 4, 0, 1)], ("s", 1), INF, 0),
    ([op(6, 5, 0, 1)], ("s", 1), -INF, 0),
    ([op(7, 4, 0, 1)], ("s", 1), 0.0, 0),
    ([op(7, 5, 0, 1)], ("s", 1), -0.0, 0),
    ([op(7, 7, 0, 1)], ("s", 1), NAN, 0),
    ([op(7, 2, 0, 1)], ("s", 1), 0.9974949866040544, 1e-15),
    ([op(8, 4, 0, 1)], ("s", 1), 1.0, 0),
    ([op(8, 7, 0, 1)], ("s", 1), NAN, 0),
    ([op(9, 4, 0, 1)], ("s", 1), 0.0, 0),
    ([op(9, 7, 0, 1)], ("s", 1), NAN, 0),
    ([op(10, 4, 0, 1)], ("s", 1), 0.0, 0),
    ([op(10, 2, 0, 1)], ("s", 1), NAN, 0),
    ([op(10, 3, 0, 1)], ("s", 1), NAN, 0),
    ([op(11, 2, 0, 1)], ("s", 1), NAN, 0),
    ([op(11, 4, 0, 1)], ("s", 1), PI_2, 1e-15),
    ([op(12, 7, 0, 1)], ("s", 1), PI_2, 1e-15),
    ([op(12, 4, 0, 1)], ("s", 1), 0.0, 0),
    ([op(12, 6, 0, 1)], ("s", 1), NAN, 0),
    ([op(13, 4, 0, 1)], ("s", 1), 1.0, 0),
    ([*s_set(1, 1000.0), op(13, 1, 0, 1)], ("s", 1), INF, 0),
    ([*s_set(1, -INF), op(13, 1, 0, 1)], ("s", 1), 0.0, 0),
    ([op(13, 6, 0, 1)], ("s", 1), NAN, 0),
    ([op(14, 4, 0, 1)], ("s", 1), -INF, 0),
    ([op(14, 5, 0, 1)], ("s", 1), -INF, 0),
    ([op(14, 3, 0, 1)], ("s", 1), NAN, 0),
    ([op(14, 7, 0, 1)], ("s", 1), INF, 0),
    ([op(14, 2, 0, 1)], ("s", 1), 0.4054651081081644, 1e-15),
    # Heaviside: 1 at +-0 for scalars, 0 at +-0 for vectors and matrices.
    ([op(15, 4, 0, 1)], ("s", 1), 1.0, 0),
    ([op(15, 5, 0, 1)], ("s", 1), 1.0, 0),
    ([op(15, 6, 0, 1)], ("s", 1), 0.0, 0),
    ([op(15, 3, 0, 1)], ("s", 1), 0.0, 0),
    ([op(15, 2, 0, 1)], ("s", 1), 1.0, 0),
    ([op(16, 3, 0, 5)], ("v", 5), [0.0, 0.0], 0),
    ([op(16, 4, 0, 5)], ("v", 5), [0.0, 1.0], 0),
    ([op(16, 2, 0, 5)], ("v", 5), [1.0, 0.0], 0),
    ([op(17, 3, 0, 4)], ("m", 4), [[0.0, 1.0], [0.0, 0.0]], 0),
    ([op(17, 2, 0, 4)], ("m", 4), [[1.0, 0.0], [1.0, 1.0]], 0),
    ([op(18, 3, 1, 5)], ("v", 5), [-6.0, -8.0], 0),
    ([op(19, 2, 0, 5)], ("v", 5), [1.5, 1.5], 0),
    ([op(20, 2, 0, 5)], ("v", 5), [1.0, -0.5], 0),
    ([op(20, 3, 0, 5)], ("v", 5), [INF, -INF], 0),
    ([op(21, 1, 0, 1)], ("s", 1), 5.0, 0),
    ([op(22, 2, 0, 5)], ("v", 5), [1.0, 2.0], 0),
    ([op(22, 3, 0, 5)], ("v", 5), [0.0, 0.0], 0),
    ([op(23, 1, 2, 5)], ("v", 5), [4.0, 2.0], 0),
    ([op(24, 1, 2, 5)], ("v", 5), [2.0, 6.0], 0),
    ([op(25, 1, 2, 5)], ("v", 5), [3.0, -8.0], 0),
    ([op(26, 1, 2, 5)], ("v", 5), [3.0, -2.0], 0),
    ([op(26, 2, 3, 5)], ("v", 5), [INF, INF], 0),
    ([op(26, 3, 3, 5)], ("v", 5), [NAN, NAN], 0),
    ([op(27, 1, 2, 1)], ("s", 1), -5.0, 0),
    ([op(28, 1, 2, 4)], ("m", 4), [[3.0, -6.0], [4.0, -8.0]], 0),
    ([op(28, 2, 2, 4)], ("m", 4), [[1.0, -2.0], [-2.0, 4.0]], 0),
    ([op(29, 2, 1, 4)], ("m", 4), [[1.5, 3.0], [4.5, 6.0]], 0),
    ([op(30, 2, 0, 4)], ("m", 4), [[2.0, -1.0], [0.5, 4.0]], 0),
    ([op(30, 3, 0, 4)], ("m", 4), [[NAN, 1.0], [INF, -INF]], 0),
    ([op(31, 1, 2, 5)], ("v", 5), [-3.0, -5.0], 0),
    ([op(31, 1, 2, 2)], ("v", 2), [-3.0, -5.0], 0),  # out == in2
    ([op(32, 2, 0, 4)], ("m", 4), [[1.0, 1.0], [-2.0, -2.0]], 0),
    ([op(33, 2, 0, 4)], ("m", 4), [[1.0, -2.0], [1.0, -2.0]], 0),
    ([op(34, 1, 0, 1)], ("s", 1), 5.477225575051661, 0),  # sqrt(30)
    ([op(35, 1, 0, 5)], ("v", 5), [3.1622776601683795, 4.47213595499958], 0),
    ([op(36, 1, 0, 5)], ("v", 5), [2.23606797749979, 5.0], 0),
    ([op(37, 1, 0, 4)], ("m", 4), [[1.0, 3.0], [2.0, 4.0]], 0),
    ([op(37, 1, 0, 1)], ("m", 1), [[1.0, 3.0], [2.0, 4.0]], 0),  # in place
    ([op(38, 2, 0, 4)], ("m", 4), [[0.5, 1.0], [2.0, 0.25]], 0),
    ([op(39, 1, 2, 4)], ("m", 4), [[1.5, 1.0], [5.0, 4.25]], 0),
    ([op(40, 1, 2, 4)], ("m", 4), [[0.5, 3.0], [1.0, 3.75]], 0),
    ([op(41, 1, 2, 4)], ("m", 4), [[0.5, -2.0], [6.0, 1.0]], 0),
    ([op(42, 1, 2, 4)], ("m", 4), [[2.0, -2.0], [1.5, 16.0]], 0),
    ([op(42, 1, 3, 4)], ("m", 4), [[NAN, 2.0], [INF, -INF]], 0),
    ([op(43, 1, 2, 4)], ("m", 4), [[4.5, -0.5], [9.5, -2.0]], 0),
    ([op(43, 1, 1, 1)], ("m", 1), [[7.0, 10.0], [15.0, 22.0]], 0),  # out == both inputs
    ([op(43, 1, 2, 2)], ("m", 2), [[4.5, -0.5], [9.5, -2.0]], 0),  # out == in2
    # Min/max: scalars and vectors return the first operand when the comparison
    # is false (NaN, +0 vs -0); matrices return the second.
    ([op(44, 2, 3, 1)], ("s", 1), -2.0, 0),
    ([op(44, 6, 2, 1)], ("s", 1), NAN, 0),
    ([op(44, 2, 6, 1)], ("s", 1), 1.5, 0),
    ([op(44, 4, 5, 1)], ("s", 1), 0.0, 0),
    ([op(44, 5, 4, 1)], ("s", 1), -0.0, 0),
    ([op(45, 4, 2, 5)], ("v", 5), [NAN, -2.0], 0),
    ([op(45, 2, 4, 5)], ("v", 5), [1.0, -2.0], 0),
    ([*v_set(5, [-0.0, 0.0]), op(45, 3, 5, 5)], ("v", 5), [0.0, -0.0], 0),
    ([op(46, 3, 2, 4)], ("m", 4), [[0.5, -1.0], [0.0, -0.0]], 0),
    ([op(46, 2, 3, 4)], ("m", 4), [[NAN, -1.0], [0.0, -0.0]], 0),
    (
        [*m_set(4, [[5.0, 5.0], [-0.0, 0.0]]), op(46, 3, 4, 4)],
        ("m", 4),
        [[5.0, 1.0], [-0.0, 0.0]],
        0,
    ),
    ([op(47, 2, 3, 1)], ("s", 1), 1.5, 0),
    ([op(47, 6, 2, 1)], ("s", 1), NAN, 0),
    ([op(47, 2, 6, 1)], ("s", 1), 1.5, 0),
    ([op(47, 4, 5, 1)], ("s", 1), 0.0, 0),
    ([op(47, 5, 4, 1)], ("s", 1), -0.0, 0),
    ([op(48, 4, 2, 5)], ("v", 5), [NAN, 2.0], 0),
    ([op(48, 2, 4, 5)], ("v", 5), [1.0, 2.0], 0),
    ([*v_set(5, [-0.0, 0.0]), op(48, 3, 5, 5)], ("v", 5), [0.0, -0.0], 0),
    ([op(49, 3, 2, 4)], ("m", 4), [[0.5, 1.0], [2.0, 0.25]], 0),
    ([op(49, 2, 3, 4)], ("m", 4), [[NAN, 1.0], [2.0, 0.25]], 0),
    (
        [*m_set(4, [[5.0, 5.0], [-0.0, 0.0]]), op(49, 3, 4, 4)],
        ("m", 4),
        [[5.0, 5.0], [-0.0, 0.0]],
        0,
    ),
    ([op(50, 1, 0, 1)], ("s", 1), 3.5, 0),
    ([op(51, 1, 0, 1)], ("s", 1), 2.5, 0),
    ([op(52, 1, 0, 5)], ("v", 5), [1.5, 3.5], 0),
    # One-pass standard deviations: exact 0 for a constant vector here, NaN for
    # a near-constant one.
    ([op(53, 1, 0, 5)], ("v", 5), [0.5, 0.5], 0),
    ([*NEAR_CONSTANT, op(33, 5, 0, 4), op(53, 4, 0, 5)], ("v", 5), [NAN, NAN], 0),
    ([op(54, 1, 0, 1)], ("s", 1), 0.5, 0),
    ([op(54, 2, 0, 1)], ("s", 1), 1.5, 0),
    ([*s_set(1, 0.1), op(19, 1, 0, 5), op(54, 5, 0, 1)], ("s", 1), 0.0, 0),
    ([*NEAR_CONSTANT, op(54, 5, 0, 1)], ("s", 1), NAN, 0),
    ([op(55, 1, 0, 1)], ("s", 1), 1.118033988749895, 0),  # sqrt(1.25)
    ([*NEAR_CONSTANT, op(33, 5, 0, 4), op(55, 4, 0, 1)], ("s", 1), NAN, 0),
    ([op(56, 0, 0, 1, 0.1)], ("s", 1), 0.1, 0),
    ([op(56, 0, 0, 1, -0.0)], ("s", 1), -0.0, 0),
    # Index fractions: element int(float32(F) * float32(f)); other entries kept.
    ([op(57, 0, 0, 5, 0.25, 2.5)], ("v", 5), [2.5, 0.0], 0),
    ([*v_set(5, [7.0, 8.0]), op(57, 0, 0, 5, 0.75, -1.5)], ("v", 5), [7.0, -1.5], 0),
    # float32(0.4999999999) is 0.5, so this is element 1 (in double it would be 0).
    ([*v_set(5, [7.0, 8.0]), op(57, 0, 0, 5, 0.4999999999, 9.0)], ("v", 5), [7.0, 9.0], 0),
    ([op(58, 0, 0, 1, 0.75, 0.25, 9.0)], ("m", 1), [[1.0, 2.0], [9.0, 4.0]], 0),
    ([op(58, 0, 0, 1, 0.4999999999, 0.0, -9.0)], ("m", 1), [[1.0, 2.0], [-9.0, 4.0]], 0),
    # Random draws from the task's generator: vectors in index order, matrices
    # row-major; a zero spread gives exactly the mean.
    ([op(59, 0, 0, 1, -1.0, 2.0)], ("s", 1), draws(("uniform", -1.0, 2.0, 1))[0], 0),
    ([op(59, 0, 0, 1, 0.5, 0.5)], ("s", 1), 0.5, 0),
    ([op(60, 0, 0, 5, -1.0, 2.0)], ("v", 5), draws(("uniform", -1.0, 2.0, F)), 0),
    (
        [op(61, 0, 0, 4, -1.0, 2.0)],
        ("m", 4),
        np.reshape(draws(("uniform", -1.0, 2.0, F * F)), (F, F)),
        0,
    ),
    ([op(62, 0, 0, 1, 0.5, 2.0)], ("s", 1), draws(("gaussian", 0.5, 2.0, 1))[0], 0),
    ([op(62, 0, 0, 1, 0.25, 0.0)], ("s", 1), 0.25, 0),
    ([op(63, 0, 0, 5, 0.5, 2.0)], ("v", 5), draws(("gaussian", 0.5, 2.0, F)), 0),
    ([op(63, 0, 0, 5, 0.25, 0.0)], ("v", 5), [0.25, 0.25], 0),
    (
        [op(64, 0, 0, 4, 0.5, 2.0)],
        ("m", 4),
        np.reshape(draws(("gaussian", 0.5, 2.0, F * F)), (F, F)),
        0,
    ),
    ([op(64, 0, 0, 4, 0.25, 0.0)], ("m", 4), [[0.25, 0.25], [0.25, 0.25]], 0),
    # One stream per task, shared by the random ops in program order.
    (
        [op(60, 0, 0, 5, -1.0, 2.0), op(62, 0, 0, 1, 0.5, 2.0)],
        ("s", 1),
        draws(("uniform", -1.0, 2.0, F), ("gaussian", 0.5, 2.0, 1))[-1],
        0,
    ),
]


def run(interpreter, rows: list[tuple]) -> dict[str, np.ndarray]:
    program = Program.from_components((INIT + rows, [], []))
    s, v, m = interpreter.run_setup(program, MEM, SEED)
    return {"s": s, "v": v, "m": m}


def assert_same(actual, expected, rel: float) -> None:
    """Equal (or within ``rel``), NaN where NaN is expected, same sign of zero."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=0, equal_nan=True)
    number = ~np.isnan(expected)
    np.testing.assert_array_equal(np.signbit(actual[number]), np.signbit(expected[number]))


@pytest.mark.parametrize("interpreter", INTERPRETERS)
@pytest.mark.parametrize("case", CASES, ids=[f"op{c[0][-1][0]}-{i}" for i, c in enumerate(CASES)])
def test_op(interpreter, case) -> None:
    rows, (kind, address), expected, rel = case
    memory = run(interpreter, rows)
    assert_same(memory[kind][address], expected, rel)


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_no_op_changes_nothing(interpreter) -> None:
    before = run(interpreter, [])
    after = run(interpreter, [op(0, 1, 2, 3)])
    for kind in "svm":
        assert_same(after[kind], before[kind], 0)


def test_every_op_has_a_case() -> None:
    tested = {rows[-1][0] for rows, *_ in CASES} | {0}
    assert tested == set(range(N_OPS))


@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_index_fraction_rounding_to_one_is_rejected(interpreter) -> None:
    # float32(0.99999999) is 1.0: element F does not exist.
    with pytest.raises((IndexError, ValueError)):
        run(interpreter, [op(57, 0, 0, 5, 0.99999999, 1.0)])
