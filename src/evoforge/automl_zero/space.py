"""The AutoML-Zero search space: programs, their initial population and mutations.

Example:
    >>> import numpy as np
    >>> from evoforge.automl_zero.mutator import Mutator
    >>> from evoforge.automl_zero.program import Memory
    >>> from evoforge.automl_zero.space import ProgramSpace
    >>> mem = Memory(4, 3, 1, features=4)
    >>> mutator = Mutator(mem, ([56], [27], [2, 3, 18, 23]), (1, 1, 4), (1, 1, 4),
    ...                   ("alter_argument",))
    >>> space = ProgramSpace(mutator, init_sizes=(1, 1, 4), initial="random")
    >>> p = space.initial(np.random.default_rng(0))
    >>> space.from_text(space.to_text(p)) == p
    True
"""

from __future__ import annotations

import numpy as np

from evoforge.automl_zero.mutator import Mutator
from evoforge.automl_zero.ops import OPS
from evoforge.automl_zero.program import Program
from evoforge.automl_zero.text import from_text, instruction_text

_LINE_CACHE_SIZE = 100_000


class ProgramSpace:
    """`SearchSpace` of AutoML-Zero programs.

    ``initial`` is ``"empty"`` (no instructions, as in the paper's §4.2),
    ``"random"`` (``init_sizes`` random instructions per component) or a
    `Program` that seeds the whole population (e.g. the Figure 5 network).
    ``randomize`` (component indices, with a program) replaces those
    components of it by ``init_sizes`` random instructions in every initial
    genome: Figure 4's "backprop" points give Setup and Predict and search
    only Learn.
    """

    def __init__(
        self,
        mutator: Mutator,
        init_sizes: tuple[int, int, int],
        initial: str | Program = "random",
        randomize: tuple[int, ...] = (),
    ):
        if isinstance(initial, str) and initial not in ("empty", "random"):
            raise ValueError(f"initial: expected 'empty', 'random' or a program, got {initial!r}")
        if randomize and not isinstance(initial, Program):
            raise ValueError("randomize: only with an initial program")
        self.randomize = tuple(sorted(set(randomize)))
        self.mutator = mutator
        self.memory = mutator.memory
        self.init_sizes = tuple(init_sizes)
        self.initial_program = initial
        # Text of recently seen instructions: a population shares most of them.
        self._line_cache: dict[tuple, str] = {}

    def initial(self, rng: np.random.Generator) -> Program:
        if isinstance(self.initial_program, Program):
            if not self.randomize:
                return self.initial_program
            sizes = tuple(n if k in self.randomize else 0 for k, n in enumerate(self.init_sizes))
            fresh = self.mutator.random_program(sizes, rng)
            source = [fresh if k in self.randomize else self.initial_program for k in range(3)]
            return Program.from_components(tuple(source[k].rows(k) for k in range(3)))
        if self.initial_program == "empty":
            return Program.empty()
        return self.mutator.random_program(self.init_sizes, rng)

    def mutate(self, genome: Program, rng: np.random.Generator) -> tuple[Program, str]:
        return self.mutator.mutate(genome, rng)

    def to_text(self, genome: Program) -> str:
        lines = genome.lines
        if lines is None or len(lines) != len(genome):
            lines = genome.lines = [None] * len(genome)
        cache = self._line_cache
        for i, line in enumerate(lines):
            if line is None:
                row = (*genome.code[i].tolist(), *genome.data[i].tolist())
                line = cache.get(row)
                if line is None:
                    if len(cache) >= _LINE_CACHE_SIZE:
                        cache.clear()
                    line = cache[row] = "    " + instruction_text(
                        OPS[row[0]], row, self.memory.features
                    )
                lines[i] = line
        n_setup, n_predict, _ = genome.sizes
        split = n_setup + n_predict
        return "\n".join(
            [
                "def Setup():",
                *lines[:n_setup],
                "def Predict():",
                *lines[n_setup:split],
                "def Learn():",
                *lines[split:],
                "",
            ]
        )

    def fused_search(self, evaluator, **options):
        """The compiled regularized-evolution step over this space
        (`evoforge.automl_zero.fused.FusedSearch`; ``run.engine = "fused"``)."""
        from evoforge.automl_zero.fused import FusedSearch  # compiled on first use

        return FusedSearch(self, evaluator, **options)

    @property
    def genome_codec(self) -> str:
        """The store codec of this space's compact genomes (`fused_codec`)."""
        from evoforge.automl_zero.fused_codec import CODEC

        return CODEC

    def from_text(self, text: str) -> Program:
        return from_text(text, self.memory)

    def to_json(self, genome: Program) -> dict:
        return genome.to_json()

    def from_json(self, data: dict) -> Program:
        program = Program.from_json(data)
        program.validate(self.memory)
        return program
