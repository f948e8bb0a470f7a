"""Hand-designed programs in the AutoML-Zero search space.

`linear_sgd` is the reference solution of the linear regression tasks (paper
§4.1): a linear model ``s1 = dot(v0, v1)`` trained by stochastic gradient
descent in four Learn instructions. Docstrings, tests and benchmarks use it as
the known-good program.

Example:
    >>> from evoforge.algorithms.baselines import linear_sgd
    >>> print(linear_sgd(0.1), end="")
    def Setup():
        s3 = 0.1
    def Predict():
        s1 = dot(v0, v1)
    def Learn():
        s2 = s0 - s1
        s2 = s2 * s3
        v2 = s2 * v0
        v1 = v1 + v2
"""

from __future__ import annotations


def linear_sgd(learning_rate: float = 0.05) -> str:
    """Program text of linear regression trained by SGD (needs s0-s3, v0-v2)."""
    return f"""def Setup():
    s3 = {float(learning_rate)!r}
def Predict():
    s1 = dot(v0, v1)
def Learn():
    s2 = s0 - s1
    s2 = s2 * s3
    v2 = s2 * v0
    v1 = v1 + v2
"""
