"""Lamarckian NAS (Prellberg's dissertation, chapter 7): a block genome, its six
weighted mutations, the exact weight-inheritance rules and the evaluator that
trains e epochs with Adam. The (1+1) EA with niching is the engine strategy
``one_plus_one`` (`evoforge.evolution.strategies.one_plus_one`).

Example:
    >>> from evoforge.architectures.lamarckian.genome import MUTATION_WEIGHTS
    >>> sum(MUTATION_WEIGHTS.values())
    13
"""
