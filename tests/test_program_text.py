"""Program text: printing, parsing the paper's listings, exact round trips."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import N_OPS, OPS, op_by_name
from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.space import ProgramSpace
from evoforge.automl_zero.text import ProgramSyntaxError, from_text, to_text

FIGURE_5 = """
# sX/vX/mX = scalar/vector/matrix at address X.
# "gaussian" produces Gaussian IID random numbers.
def Setup():
    # Initialize variables.
    m1 = gaussian(-1e-10, 9e-09) # 1st layer weights
    s3 = 4.1 # Set learning rate
    v4 = gaussian(-0.033, 0.01) # 2nd layer weights
def Predict(): # v0=features
    v6 = dot(m1, v0) # Apply 1st layer weights
    v7 = maximum(0, v6) # Apply ReLU
    s1 = dot(v7, v4) # Compute prediction
def Learn(): # s0=label
    v3 = heaviside(v6, 1.0) # ReLU gradient
    s1 = s0 - s1 # Compute error
    s2 = s1 * s3 # Scale by learning rate
    v2 = s2 * v3 # Approx. 2nd layer weight delta
    v3 = v2 * v4 # Gradient w.r.t. activations
    m0 = outer(v3, v0) # 1st layer weight delta
    m1 = m1 + m0 # Update 1st layer weights
    v4 = v2 + v4 # Update 2nd layer weights
"""

# Supplementary Figure S1a: raw code of the best §4.2 algorithm.
FIGURE_S1A = """
def Setup():
    s4 = uniform(0.6,0.2)
    v3 = gaussian(0.7,0.4)
    v12= gaussian(0.2,0.6)
    s1 = uniform(-0.1,-0.2)
def Predict():
    v1 = v0 - v9
    v5 = v0 + v9
    v6 = dot(m1, v5)
    m1 = s2 * m2
    s1 = dot(v6, v1)
    s6 = cos(s4)
def Learn():
    s4 = s0 - s1
    s3 = abs(s1)
    m1 = outer(v1,v0)
    s5 = sin(s4)
    s2 = norm(m1)
    s7 = s5 / s2
    s4 = s4 + s6
    v11= s7 * v1
    m1 = heaviside(m2)
    m1 = outer(v11,v5)
    m0 = m1 + m0
    v9 = uniform(2e-3,0.7)
    s7 = log(s0)
    s4 = std(m0)
    m2 = m2 + m0
    m1 = s4 * m0
"""


def test_figure_5_parses_and_round_trips():
    memory = Memory(4, 8, 2, features=8)
    program = from_text(FIGURE_5, memory)
    assert program.sizes == (3, 3, 8)
    ops = [row[0] for k in range(3) for row in program.rows(k)]
    assert ops == [64, 56, 63, 31, 48, 27, 16, 2, 3, 18, 25, 28, 39, 23]
    # The literal 0 in maximum(0, v6) is a vector address the program never writes.
    relu = program.rows(1)[1]
    written = {row[3] for k in range(3) for row in program.rows(k) if OPS[row[0]].output == "v"}
    assert relu[1] not in written | {0}
    assert program.rows(0)[1][4] == 4.1
    assert program.rows(0)[0][4] == float(np.float32(-1e-10))
    assert from_text(to_text(program, memory), memory) == program


def test_figure_s1a_parses_and_round_trips():
    memory = Memory(8, 14, 3, features=16)
    program = from_text(FIGURE_S1A, memory)
    assert program.sizes == (4, 6, 16)
    assert from_text(to_text(program, memory), memory) == program


@pytest.mark.parametrize("features", [2, 4, 5, 16])
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.tuples(*[st.integers(0, 12)] * 3))
def test_random_programs_round_trip_exactly(features, seed, sizes):
    memory = Memory(5, 5, 3, features=features)
    all_ops = list(range(N_OPS))
    mutator = Mutator(memory, (all_ops, all_ops, all_ops), (0, 0, 0), (20, 20, 20))
    rng = np.random.default_rng(seed)
    program = mutator.random_program(sizes, rng)
    for _ in range(5):  # mutated constants are no longer the drawn ones
        program, _ = mutator.mutate(program, rng)
    assert from_text(to_text(program, memory), memory) == program
    assert Program.from_json(program.to_json()) == program
    space = ProgramSpace(mutator, sizes)
    assert space.to_text(program) == to_text(program, memory)


def test_every_op_prints_and_parses():
    memory = Memory(4, 4, 4, features=4)
    for spec in OPS:
        ins = [1, 2][: spec.n_inputs] + [0] * (2 - spec.n_inputs)
        row = (spec.id, *ins, 3 if spec.output else 0, 0.375, 0.625, 0.5)
        program = Program.from_components(([], [row], []))
        text = to_text(program, memory)
        parsed = from_text(text, memory)
        assert to_text(parsed, memory) == text, spec.name
        assert parsed.code[0, 0] == spec.id, spec.name


def test_op_names_and_ids():
    assert op_by_name("OP27").id == 27
    assert op_by_name("vector_inner_product_op").id == 27
    assert op_by_name(64).name == "MATRIX_GAUSSIAN_SET"
    with pytest.raises(KeyError, match="unknown op"):
        op_by_name("VECTOR_CROSS_PRODUCT")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("s1 = s2 + s3", "code before"),
        ("def Setup():\n  s9 = 1.0", "outside the memory"),
        ("def Setup():\n  s1 = cross(v1, v2)", "no op writes a scalar"),
        ("def Predict():\n  v1 = s1 + s2", "no op writes a vector"),
        ("def Learn():\n  s1 = ", "cannot read|expected a number"),
        ("def Train():\n  s1 = 1.0", "unknown function"),
        ("def Setup():\n  v1[7] = 1.0", "index"),
    ],
)
def test_syntax_errors_name_the_line(text, message):
    with pytest.raises(ProgramSyntaxError, match=message):
        from_text(text, Memory(4, 3, 1, features=4))
