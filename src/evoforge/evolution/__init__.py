"""The domain-agnostic evolution engine.

- `space`: the seams a domain implements (SearchSpace, Evaluator and its
  optional capabilities: fingerprint, batches, context, artefact jobs) and the
  records the engine passes around.
- `strategies`: ask/tell search strategies behind one registry (regularized
  evolution, random search and walk, exhaustive, softmax GA, (mu, lambda) with
  re-evaluated elites, pairwise tournament, (1+1) with niching, elite pool,
  categorical NES, surrogate).
- `fec`: functional-equivalence cache; `hurdles`: rolling-percentile early stopping.
- `backends`, `ray_backend`, `ray_cluster`: serial, worker-process and Ray
  evaluation (a loopback-only local cluster unless one is named).
- `store`: the SQLite run store; `artefacts`: files per individual (inherited
  weights); `lock`: one writer per run directory; `rundir`: the run
  directory's files, config fingerprint and checks.
- `assembly`: builds a run's collaborators from a config; `run`: the driver
  (checkpoint, resume, signals); `stopping`: stop rules; `pacing`:
  checkpoint and progress cadence; `chunked`: the driver of a domain's fused
  compiled step; `islands`, `archipelago`, `island_backends`: the island model.
- `progress`: live display; `callbacks`: per-individual and new-best hooks;
  `collector`: the cyclic garbage collector paused while searching;
  `domain_source`: how the engine reaches the domain registry without importing it.

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
