"""The ``architectures`` domain: Large-Scale Evolution DNAs or Lamarckian NAS blocks.

``[architectures]`` keys (defaults are the papers'):

* ``space``: ``"dna"`` (Real et al. 2017) or ``"blocks"`` (Prellberg ch. 7);
* data: ``dataset`` (``"digits"``, ``"fashion_mnist"``, ``"mnist"``,
  ``"cifar10"``), ``n_train`` (default: all left), ``n_val`` (300), ``n_test``
  (360), ``data_seed`` (0);
* ``inherit`` (true): weight inheritance; false is each paper's control;
* ``dna`` only: ``steps`` (25,600 SGD steps per individual), ``batch_size``
  (50), ``momentum`` (0.9), ``weight_decay`` (1e-4), ``mutations`` (all 11),
  ``max_params`` (5,000,000: larger individuals get an error instead of
  exhausting memory -- the paper's only bound was its hardware);
* ``blocks`` only: ``epochs`` (e = 4 per evaluation), ``batch_size`` (512),
  ``lr`` (1e-3), ``max_flops`` (none: one example's forward FLOPs above it
  make a child an error instead of a long training).

Example:
    >>> setup = build_architectures({"space": "blocks", "epochs": 2}, "architectures", 0)
    >>> setup.resolved_config["epochs"], type(setup.space).__name__
    (2, 'BlockSpace')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from evoforge.architectures import dna as dna_mod
from evoforge.architectures.data import DataSpec
from evoforge.architectures.dna import DNA, linear_dna
from evoforge.architectures.evaluator import DNAEvaluator
from evoforge.architectures.lamarckian.evaluator import BlockEvaluator
from evoforge.architectures.lamarckian.genome import BlockSpace
from evoforge.architectures.mutations import MUTATIONS, mutate
from evoforge.config import Section
from evoforge.domains import DomainSetup, register_domain
from evoforge.nn.data import DATASETS, IMAGE_SHAPES

SPACES = ("dna", "blocks")


class DNASpace:
    """The `SearchSpace` of Large-Scale Evolution DNAs: every initial
    individual is the linear model with learning rate 0.1; ``mutate`` applies
    one of ``mutations`` (all 11 by default).

    Example:
        >>> import numpy as np
        >>> space = DNASpace(in_channels=1)
        >>> child, name = space.mutate(space.initial(np.random.default_rng(0)),
        ...                            np.random.default_rng(3))
        >>> space.from_text(space.to_text(child)) == child
        True
    """

    def __init__(self, in_channels: int = 1, mutations: tuple[str, ...] = tuple(MUTATIONS)):
        self.in_channels = in_channels
        self.mutations = mutations

    def initial(self, rng: np.random.Generator) -> DNA:
        return linear_dna()

    def mutate(self, genome: DNA, rng: np.random.Generator) -> tuple[DNA, str]:
        return mutate(genome, rng, self.mutations, self.in_channels)

    def to_text(self, genome: DNA) -> str:
        return dna_mod.to_text(genome)

    def from_text(self, text: str) -> DNA:
        return dna_mod.from_text(text)

    def to_json(self, genome: DNA) -> Any:
        return dna_mod.to_json(genome)

    def from_json(self, data: Any) -> DNA:
        return dna_mod.from_json(data)


def _describe_dna(genome: DNA) -> str:
    return (
        f"{len(genome.convs)} convolutions, {len(genome.vertices) - 1} vertices, "
        f"{len(genome.skips)} skips, learning rate {genome.learning_rate:.4g}"
    )


def _describe_blocks(genome: Any) -> str:
    return f"{len(genome.blocks)} blocks: {genome.key()}"


def build_architectures(table: Mapping[str, Any], path: str, seed: int) -> DomainSetup:
    """Validate ``[architectures]`` and build its space and evaluator."""
    s = Section(table, path)
    space_name = s.get_str("space", "dna", choices=SPACES)
    data = DataSpec(
        dataset=s.get_str("dataset", "digits", choices=tuple(DATASETS)),
        n_train=s.get_int("n_train", None, min=1),
        n_val=s.get_int("n_val", 300, min=1),
        n_test=s.get_int("n_test", 360, min=0),
        seed=s.get_int("data_seed", 0, min=0),
    )
    inherit = s.get_bool("inherit", True)
    if space_name == "dna":
        names = s.get_list("mutations", list(MUTATIONS), min_len=1, choices=tuple(MUTATIONS))
        evaluator: Any = DNAEvaluator(
            data,
            steps=s.get_int("steps", 25_600, min=1),
            batch_size=s.get_int("batch_size", 50, min=1),
            momentum=s.get_float("momentum", 0.9, min=0.0),
            weight_decay=s.get_float("weight_decay", 1e-4, min=0.0),
            inherit=inherit,
            max_params=s.get_int("max_params", 5_000_000, min=1),
        )
        space: Any = DNASpace(IMAGE_SHAPES[data.dataset][0], tuple(dict.fromkeys(names)))
        describe = _describe_dna
    else:
        evaluator = BlockEvaluator(
            data,
            epochs=s.get_int("epochs", 4, min=1),
            batch_size=s.get_int("batch_size", 512, min=1),
            lr=s.get_float("lr", 1e-3, min=0.0, min_exclusive=True),
            inherit=inherit,
            max_flops=s.get_int("max_flops", None, min=1),
        )
        space = BlockSpace()
        describe = _describe_blocks
    resolved = s.finish()
    return DomainSetup(
        space=space,
        evaluator=evaluator,
        describe=describe,
        resolved_config=resolved,
        fitness_range=(0.0, 1.0),
    )


register_domain("architectures", build_architectures)
