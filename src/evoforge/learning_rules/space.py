"""The search space of learning-rule equations: random draws and mutations (§3.1, §3.2).

A random equation has 1 to 3 blocks (uniform), each component drawn
uniformly from its category. A mutation picks one component of the equation
uniformly (an operand, a unary or a binary function) and swaps it for a
different one of the same category, drawn uniformly. Draws and mutations
whose result does not have h_i^p's shape (`is_feasible`) are rejected and
redrawn, as the paper's controller restarts the mutation process.

Example:
    >>> import numpy as np
    >>> space = EquationSpace()
    >>> rng = np.random.default_rng(0)
    >>> eq = space.initial(rng)
    >>> child, what = space.mutate(eq, rng)
    >>> is_feasible(child), what in ("operand", "unary", "binary"), child != eq
    (True, True, True)
    >>> space.from_text(space.to_text(child)) == child
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evoforge.learning_rules.equation import (
    MAX_BLOCKS,
    Block,
    Equation,
    is_feasible,
    parse,
    preset,
)
from evoforge.learning_rules.functions import BINARY, UNARY_CHOICES, Unary
from evoforge.learning_rules.operands import OPERAND_CHOICES, OperandRef

#: Draws before giving up on finding a feasible equation or mutation.
MAX_REDRAWS = 10_000


class InfeasibleSpace(ValueError):
    """No feasible equation or mutation was found within `MAX_REDRAWS` draws."""


class EquationSpace:
    """Equations over chosen operands and functions (default: all of Appendix A).

    Args:
        min_blocks, max_blocks: binary functions per random equation (1..3).
        operands, unary, binary: the subsets to draw from (the paper varies them).
        conv: check shapes as for convolutional layers, where a kernel can only
            be the right factor of a matrix product with an activation.
        initial: ``"random"`` draws the initial population; ``"seeded"`` draws
            it uniformly from ``seeds`` (equation texts or preset names such as
            "bp", "fa", "dfa").
    """

    def __init__(
        self,
        *,
        min_blocks: int = 1,
        max_blocks: int = MAX_BLOCKS,
        operands: Sequence[OperandRef] = OPERAND_CHOICES,
        unary: Sequence[Unary] = UNARY_CHOICES,
        binary: Sequence[str] = BINARY,
        conv: bool = False,
        initial: str = "random",
        seeds: Sequence[str] = ("bp", "fa", "dfa"),
    ) -> None:
        if not 1 <= min_blocks <= max_blocks <= MAX_BLOCKS:
            raise ValueError(f"need 1 <= min_blocks <= max_blocks <= {MAX_BLOCKS}")
        if not operands or not unary or not binary:
            raise ValueError("operands, unary and binary functions must be non-empty")
        if initial not in ("random", "seeded"):
            raise ValueError(f"initial must be 'random' or 'seeded', got {initial!r}")
        self.min_blocks, self.max_blocks = min_blocks, max_blocks
        self.operands = tuple(operands)
        self.unary = tuple(unary)
        self.binary = tuple(binary)
        self.conv = conv
        self.initial_mode = initial
        self.seeds = tuple(preset(s) for s in seeds)
        if initial == "seeded" and not self.seeds:
            raise ValueError("initial = 'seeded' needs at least one seed equation")
        for s in self.seeds:
            if not is_feasible(s, conv):
                raise ValueError(f"seed equation {s} does not give h_i^p's shape")

    def _pick(self, rng: np.random.Generator, items: Sequence[Any]) -> Any:
        return items[int(rng.integers(len(items)))]

    def random(self, rng: np.random.Generator) -> Equation:
        """A uniformly drawn feasible equation."""
        for _ in range(MAX_REDRAWS):
            n = int(rng.integers(self.min_blocks, self.max_blocks + 1))
            blocks = []
            for k in range(n):
                op1 = self._pick(rng, self.operands) if k == 0 else None
                blocks.append(
                    Block(
                        op1,
                        self._pick(rng, self.unary),
                        self._pick(rng, self.operands),
                        self._pick(rng, self.unary),
                        self._pick(rng, self.binary),
                    )
                )
            eq = Equation(tuple(blocks))
            if is_feasible(eq, self.conv):
                return eq
        raise InfeasibleSpace(f"no feasible equation in {MAX_REDRAWS} random draws")

    def initial(self, rng: np.random.Generator) -> Equation:
        if self.initial_mode == "seeded":
            return self._pick(rng, self.seeds)
        return self.random(rng)

    def mutate(self, genome: Equation, rng: np.random.Generator) -> tuple[Equation, str]:
        slots = []  # (block, field, category)
        for k in range(len(genome.blocks)):
            if k == 0:
                slots.append((k, "op1", "operand"))
            slots += [(k, "u1", "unary"), (k, "op2", "operand"), (k, "u2", "unary")]
            slots.append((k, "f", "binary"))
        pools = {"operand": self.operands, "unary": self.unary, "binary": self.binary}
        for _ in range(MAX_REDRAWS):
            k, name, category = self._pick(rng, slots)
            old = getattr(genome.blocks[k], name)
            pool = [c for c in pools[category] if c != old]
            if not pool:
                continue
            block = genome.blocks[k]
            fields = {f: getattr(block, f) for f in ("op1", "u1", "op2", "u2", "f")}
            fields[name] = self._pick(rng, pool)
            blocks = list(genome.blocks)
            blocks[k] = Block(**fields)
            child = Equation(tuple(blocks))
            if is_feasible(child, self.conv):
                return child, category
        raise InfeasibleSpace(f"no feasible mutation of {genome} in {MAX_REDRAWS} draws")

    def to_text(self, genome: Equation) -> str:
        return str(genome)

    def from_text(self, text: str) -> Equation:
        return parse(text.strip())

    def to_json(self, genome: Equation) -> str:
        # The text form is exact: every parameter value prints and parses back
        # to the same float (they come from short fixed lists).
        return str(genome)

    def from_json(self, data: Any) -> Equation:
        if not isinstance(data, str):
            raise ValueError(f"expected an equation text, got {data!r}")
        return parse(data)
