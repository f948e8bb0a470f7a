"""Program listings as printed, shared by the tests and the benchmarks.

The AutoML-Zero paper's figures (Real et al., 2020: Figure 5 and Supplementary
Figures S1 and S2), character for character with their comments and spacing,
so parsing them tests the text format on what the paper printed; and the best
program evoforge itself evolved for S10.
"""

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

# The best "Full" S10 program (digits seed 6, select accuracy 0.971), as the
# final evaluation printed it (benchmarks/results/dev-2core-2026-11-27/
# final_eval_s10_full_digits_seed6.jsonl); S10's memory is 5/9/2.
S10_BEST = """
def Setup():
    m1 = gaussian(-774054.0, 4203.7065)
    v5 = uniform(-169960.97, 3788.8315)
    m0 = uniform(-2297.291, -418.98642)
    v4 = gaussian(-0.08431985, 0.10360559)
    v6 = uniform(-0.44438696, 0.28820902)
def Predict():
    v1 = v0 + v7
    v7 = v4 + v8
    s1 = dot(v1, v6)
def Learn():
    v3 = heaviside(v1)
    s4 = s0 - s1
    v7 = s4 * v1
    v6 = v6 + v7
    v7 = v4 * v3
"""
