"""Program text: printing, parsing the paper's listings, exact round trips."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import N_OPS, OPS, op_by_name
from evoforge.automl_zero.program import Memory, Program
from evoforge.automl_zero.space import ProgramSpace
from evoforge.automl_zero.text import ProgramSyntaxError, from_text, program_memory, to_text

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

# Supplementary Figure S1b: S1a after static analysis removed redundant lines.
FIGURE_S1B = """
def Setup():
def Predict():
    v1 = v0 - v9
    v5 = v0 + v9
    v6 = dot(m1,v5)
    m1 = s2 * m2
    s1 = dot(v6,v1)
def Learn():
    s4 = s0 - s1
    m1 = outer(v1,v0)
    s5 = sin(s4)
    s2 = norm(m1)
    s7 = s5 / s2
    v11= s7 * v1
    m1 = outer(v11,v5)
    m0 = m1 + m0
    v9 =         uniform(2e-3,0.7)
    s4 = std(m0)
    m2 = m2 + m0
    m1 = s4 * m0
"""

# Supplementary Figure S2a: raw code of the few-examples adaptation (Figure 7a).
FIGURE_S2A = """
def Setup():
    s3 = 4.0e-3
def Predict():
    v7 = v5 - v0
    v3 = dot(m0, v0)
    s8 = s9 / s3
    v3 = v3 + v1
    m1 = heaviside(m3)
    v4 = maximum(v3, v7)
    s1 = dot(v4, v2)
    s4 = log(s9)
    v3 = bcast(s8)
    s7 = std(v1)
    v3 = v14 + v0
    m2 = matmul(m0, m2)
def Learn():
    v1 = gaussian(-0.50, 0.41)
    s4 = std(m0)
    s4 = s0 - s1
    v5 = gaussian(-0.48, 0.48)
    m1 = transpose(m3)
    s4 = s3 * s4
    v15 = v15 * v6
    v6 = s4 * v4
    v2 = v2 + v6
    v7 = s4 * v2
    v8 = heaviside(v3)
    v7 = v8 * v7
    m1 = outer(v7, v0)
    m0 = m0 + m1
"""

# Supplementary Figure S2b: raw code of the fast-training adaptation (Figure 7b).
FIGURE_S2B = """
def Setup():
    s3 = 0.37
    s1 = uniform(0.42, 0.66)
    s2 = 0.31
    v13 = gaussian(0.69, 0.61)
    v1 = gaussian(-0.86, 0.97)
def Predict():
    m3 = m1 + m2
    s6 = arccos(s0)
    v3 = dot(m0, v0)
    v3 = v3 - v0
    v11 = v2 + v9
    m2 = m0 - m2
    s4 = maximum(s8, s0)
    s7 = 1 / s6
    s6 = arctan(s0)
    s8 = minimum(s3, s1)
    v4 = maximum(v3, v10)
    s1 = dot(v4, v2)
    s1 = s1 + s2
def Learn():
    v1 = dot(m0, v5)
    s4 = s0 - s1
    s4 = s3 * s4
    s2 = s2 + s4
    m3 = matmul(m0, m3)
    m2 = bcast(v2, axis=0)
    v13 = s4 * v4
    v15 = v10 + v12
    v2 = v11 + v13
    v7 = s4 + v11
    v11 = v7 + v8
    s8 = s9 + s1
    m2 = m3 * m0
    s3 = arctan(s3)
    v8 = heaviside(v3)
    m2 = transpose(m1)
    s8 = heaviside(s6)
    s8 = norm(m3)
    v7 = v8 * v7
    m3 = outer(v7, v0)
    m0 = m0 + m3
"""

# Supplementary Figure S2c: raw code of the multiple-classes adaptation (Figure 7c).
FIGURE_S2C = """
def Setup():
    m3 = uniform(0.05, 0.11)
    s1 = uniform(0.31, 0.90)
    v18 = uniform(-0.49, 4.41)
    s1 = -0.65
    m5 = uniform(0.21, 0.22)
    v9 = gaussian(0.64, 7.8e-3)
    s1 = -0.84
def Predict():
    s1 = abs(s1)
    v15 = norm(m1, axis=1)
    v15 = dot(m0, v0)
    v8 = v19 - v0
    v15 = v8 + v15
    v7 = max(v1, v15)
    v13 = min(v5, v4)
    m2 = transpose(m2)
    v10 = v13 * v0
    m7 = heaviside(m3)
    m4 = transpose(m7)
    v2 = dot(m1, v7)
    v6 = max(v2, v9)
    v2 = v2 + v13
    v11 = heaviside(v17)
    s1 = sin(s1)
    m3 = m6 - m5
    v19 = heaviside(v14)
    v10 = min(v12, v7)
def Learn():
    m5 = abs(m7)
    v8 = v1 - v2
    m2 = transpose(m2)
    v8 = s1 * v8
    v15 = v15 - v4
    v4 = v4 + v8
    s1 = arcsin(s1)
    v15 = mean(m3, axis=1)
    v12 = v11 * v11
    m4 = heaviside(m5)
    m6 = outer(v8, v7)
    s1 = sin(s1)
    s1 = exp(s0)
    m1 = m1 + m3
    m5 = outer(v15, v6)
    m2 = transpose(m1)
    s1 = exp(s0)
    v12 = uniform(0.30, 0.33)
    s1 = minimum(s0, s1)
    m5 = m5 * m7
    v9 = dot(m2, v8)
    v9 = v10 * v9
    v3 = norm(m7, axis=1)
    s1 = mean(m1)
    m2 = outer(v9, v0)
    m0 = m0 + m2
"""

# Section 4.3's configuration (Supplement S5): 10 scalars, 16 vectors, 4 matrices, F = 16.
SECTION_4_3 = Memory(10, 16, 4, features=16)


def ops_of(program: Program) -> list[str]:
    return [OPS[row[0]].name for k in range(3) for row in program.rows(k)]


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


def test_figure_s1b_parses_as_s1a_without_its_redundant_lines():
    memory = Memory(8, 14, 3, features=16)
    raw, simplified = from_text(FIGURE_S1A, memory), from_text(FIGURE_S1B, memory)
    assert simplified.sizes == (0, 5, 12)
    # S1b keeps S1a's Predict and Learn lines in order, minus the removed ones.
    kept = iter(ops_of(raw))
    assert all(op in kept for op in ops_of(simplified))
    assert from_text(to_text(simplified, memory), memory) == simplified


def test_figure_s2a_parses_in_section_4_3_memory():
    program = from_text(FIGURE_S2A, SECTION_4_3)
    assert program.sizes == (1, 12, 14)
    assert program.rows(0)[0][4] == 4.0e-3
    assert ops_of(program)[9] == "SCALAR_BROADCAST"  # v3 = bcast(s8)
    assert from_text(to_text(program, SECTION_4_3), SECTION_4_3) == program


def test_figure_s2b_names_the_line_no_single_op_computes():
    with pytest.raises(ProgramSyntaxError) as caught:
        from_text(FIGURE_S2B, SECTION_4_3)
    error = caught.value
    assert error.line == "v7 = s4 + v11"
    assert FIGURE_S2B.splitlines()[error.lineno - 1].strip() == error.line
    assert "no single Table S1 op" in str(error) and "v + v -> vector" in str(error)
    assert "bcast" in str(error)  # how to write it with Table S1 ops
    # Every other line reads: the listing without that line parses.
    without = FIGURE_S2B.replace("    v7 = s4 + v11\n", "")
    assert from_text(without, SECTION_4_3).sizes == (5, 13, 20)


def test_figure_s2c_reads_max_min_and_says_what_memory_it_needs():
    with pytest.raises(ProgramSyntaxError, match=r"needs 20 vectors \(has 16\), 8 matrices"):
        from_text(FIGURE_S2C, SECTION_4_3)
    memory = program_memory(FIGURE_S2C, 16, at_least=SECTION_4_3)
    assert memory == Memory(10, 20, 8, features=16)
    program = from_text(FIGURE_S2C, memory)
    assert program.sizes == (7, 19, 26)
    names = ops_of(program)
    assert names[12:14] == ["VECTOR_MAX", "VECTOR_MIN"]  # max(v1, v15), min(v5, v4)
    assert names[8] == "MATRIX_ROW_NORM"  # norm(m1, axis=1)
    assert names.count("SCALAR_MIN") == 1  # minimum(s0, s1)
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
        ("def Setup():\n  s1 = cross(v1, v2)", "'cross' is not an op name"),
        ("def Learn():\n  v1 = mean(m1, axis=0)", r"mean\(m, axis=1\) -> vector"),
        ("def Learn():\n  v1 = s1 * m1", "no single Table S1 op"),
    ],
)
def test_syntax_errors_name_the_line(text, message):
    with pytest.raises(ProgramSyntaxError, match=message):
        from_text(text, Memory(4, 3, 1, features=4))
