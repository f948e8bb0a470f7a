"""The domain-agnostic evolution engine.

- `space`: the seams a domain implements (SearchSpace, Evaluator,
  Fingerprinter) and the records the engine passes around.
- `strategies`: ask/tell search strategies (regularized evolution, random search).
- `fec`: functional-equivalence cache; `hurdles`: rolling-percentile early stopping.
- `backends`: serial and process-pool evaluation; `store`: the SQLite run store.
- `run`: the driver tying them together (checkpoint, resume); `progress`: live display.

Only the seams are re-exported here so that importing a domain stays cheap.

Example:
    >>> from evoforge.evolution import Evaluation
    >>> Evaluation(fitness=1.0).fec_hit
    False
"""

from evoforge.evolution.space import (
    FAILED_FITNESS,
    MIN_FITNESS,
    Budget,
    Evaluation,
    Evaluator,
    Fingerprinter,
    Individual,
    SearchSpace,
)

__all__ = [
    "FAILED_FITNESS",
    "MIN_FITNESS",
    "Budget",
    "Evaluation",
    "Evaluator",
    "Fingerprinter",
    "Individual",
    "SearchSpace",
]
