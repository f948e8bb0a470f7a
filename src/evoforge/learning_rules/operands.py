"""The operands of the Backprop Evolution DSL (Appendix A) and their shapes.

An equation computes b_i^p, the backward signal at layer i's pre-activation
h_i^p. Its operands, for layer i with ``n`` units, the layer above with ``m``
and the output layer with ``L`` (``B`` examples per batch):

====== ============================== ==========================================
name   paper                          shape / meaning
====== ============================== ==========================================
W      W_i                            (m, n): the weight b_{i+1}^p crosses to
                                      reach layer i (layer i+1's weight, in
                                      PyTorch's (out, in) layout)
sgnW   sgn(W_i)                       (m, n)
R      R_i                            (m, n) Gaussian, fixed per layer (FA)
S      S_i                            (m, n) Bernoulli(0.5) in {0, 1}, fixed
RL     R_Li                           (L, n) Gaussian, maps b_L^p to layer i (DFA)
hp     h_i^p                          (B, n) pre-activation
h      h_i                            (B, n) activation σ(h_i^p)
dh     ∂h_i/∂h_i^p                    (B, n) the activation's derivative
hp1    h_{i+1}^p                      (B, m)
bL     b_L^p                          (B, L) the loss gradient at the output
b1     b_{i+1}^p                      (B, m) the signal the rule gave layer i+1
bW     b_{i+1}^p ∂h_{i+1}^p/∂h_i      (B, n) = b1 · W
g      b_{i+1}^p ∂h_{i+1}^p/∂h_i^p    (B, n) = autograd's gradient at h_i^p
                                      given b1 (g_i^p in Table 1)
fa     b_{i+1}^p · R_i                (B, n) feedback alignment
fad    (b_{i+1}^p · R_i) ⊙ ∂h_i/∂h_i^p
dfa    b_L^p · R_Li                   (B, n) direct feedback alignment
dfad   (b_L^p · R_Li) ⊙ ∂h_i/∂h_i^p
====== ============================== ==========================================

Each operand also comes as its running mean ``mhat(x)``, running standard
deviation ``shat(x)`` and normalised version ``bn(x)`` = (x − m̂)/ŝ (running
averages with r = 0.9, per column; see `RuntimeState.running`).

Convolutional activations ``(B, C, H, W)`` are joined to ``(B, C·H·W)``; the
weight-like operands of a convolution are `ConvOperator` values whose shape
is that of the convolution's matrix.

Example:
    >>> env = shape_env()
    >>> env["b1"], env["W"], env["RL"]
    ((5, 11), (11, 7), (3, 7))
    >>> str(OperandRef("g", "bn"))
    'bn(g)'
"""

from __future__ import annotations

from dataclasses import dataclass

OPERANDS: dict[str, str] = {
    "W": "W_i, the weight between layer i and layer i+1",
    "sgnW": "sgn(W_i)",
    "R": "R_i, fixed Gaussian matrix shaped like W_i",
    "S": "S_i, fixed Bernoulli matrix shaped like W_i",
    "RL": "R_Li, fixed Gaussian matrix from b_L^p to layer i",
    "hp": "h_i^p, the layer's pre-activation",
    "h": "h_i, the layer's activation",
    "dh": "dh_i/dh_i^p, the activation's derivative",
    "hp1": "h_{i+1}^p, the pre-activation of the layer above",
    "bL": "b_L^p, the loss gradient at the output layer",
    "b1": "b_{i+1}^p, the signal of the layer above",
    "bW": "b_{i+1}^p dh_{i+1}^p/dh_i (= b1 · W)",
    "g": "b_{i+1}^p dh_{i+1}^p/dh_i^p, the back-propagated gradient",
    "fa": "b_{i+1}^p · R_i (feedback alignment)",
    "fad": "(b_{i+1}^p · R_i) * dh_i/dh_i^p",
    "dfa": "b_L^p · R_Li (direct feedback alignment)",
    "dfad": "(b_L^p · R_Li) * dh_i/dh_i^p",
}
#: The operands whose value is a weight-like matrix (a `ConvOperator` in a
#: convolutional layer); the rest are activations with a batch axis.
WEIGHT_LIKE = frozenset({"W", "sgnW", "R", "S"})
#: "" is the operand itself.
VARIANTS: tuple[str, ...] = ("", "mhat", "shat", "bn")


@dataclass(frozen=True, order=True)
class OperandRef:
    """An operand and its variant ("" plain, "mhat", "shat" or "bn")."""

    name: str
    variant: str = ""

    def __post_init__(self) -> None:
        if self.name not in OPERANDS:
            raise ValueError(f"unknown operand {self.name!r}; known: {', '.join(OPERANDS)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown operand variant {self.variant!r}")

    def __str__(self) -> str:
        return f"{self.variant}({self.name})" if self.variant else self.name


#: Every operand choice (what a mutation of an operand draws from).
OPERAND_CHOICES: tuple[OperandRef, ...] = tuple(
    OperandRef(name, v) for name in OPERANDS for v in VARIANTS
)


def shape_env(batch: int = 5, n: int = 7, m: int = 11, out: int = 3) -> dict[str, tuple[int, int]]:
    """Each operand's matrix shape for a layer of ``n`` units under one of ``m``,
    with ``out`` output units. The defaults are distinct primes, so an
    equation that fits them fits every layer (no accidental equal sizes)."""
    act = (batch, n)
    weight = (m, n)
    shapes = {name: act for name in OPERANDS}
    shapes.update({name: weight for name in WEIGHT_LIKE})
    shapes.update({"RL": (out, n), "hp1": (batch, m), "b1": (batch, m), "bL": (batch, out)})
    return shapes
