"""The run's artefact store: files an individual owns, keyed by its id.

An evaluator that keeps more than its `Evaluation` row — trained weights a
child will inherit (Large-Scale Evolution, Lamarckian NAS), pictures, logs —
writes them into a directory the engine hands it. Ids are given in completion
order (that is what keeps the store's ids contiguous after any crash), so an
evaluation writes into a *staging* directory named by its submission, and the
driver renames it to ``<id>`` when it stores the row. A crash in between
leaves only staging directories, which the next session clears: the candidate
is still pending in the checkpoint and is evaluated again.

Individuals that can never be parents again lose their files when the run
checkpoints (`ArtefactStore.retain`); the population, the best individuals
and everything the checkpoint references keep theirs. The files are whatever
the evaluator writes (safetensors or ``.npz`` for weights: never pickle), on
a filesystem every worker sees — for a Ray cluster spanning machines, a
shared one.

Example:
    >>> import tempfile, pathlib
    >>> store = ArtefactStore(pathlib.Path(tempfile.mkdtemp()) / "artefacts")
    >>> _ = (store.staging("s1") / "weights.npz").write_bytes(b"...")
    >>> store.commit("s1", individual_id=7)
    True
    >>> sorted(p.name for p in store.path(7).iterdir()), store.ids()
    (['weights.npz'], [7])
    >>> store.retain(keep=[]), store.ids()
    (1, [])
"""

from __future__ import annotations

import heapq
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from evoforge.evolution.backends import bind_context
from evoforge.evolution.space import (
    NO_BUDGET,
    ArtefactEvaluator,
    Budget,
    EvalContext,
    Evaluation,
    Job,
)
from evoforge.evolution.strategies import Candidate

ARTEFACT_DIR = "artefacts"
_STAGING = ".staging"
#: Besides the population, the files of this many fittest individuals stay.
KEEP_BEST = 5


class ArtefactStore:
    """Per-individual directories under ``root`` (``<run dir>/artefacts``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def staging(self, token: str) -> Path:
        """An empty directory for the evaluation submitted as ``token``."""
        path = self.root / _STAGING / token
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def commit(self, token: str, individual_id: int) -> bool:
        """Give the files staged under ``token`` to ``individual_id``; False
        (and nothing kept) when the evaluation wrote none."""
        staged = self.root / _STAGING / token
        if not staged.is_dir():
            return False
        if not any(staged.iterdir()):
            staged.rmdir()
            return False
        target = self.root / str(individual_id)
        if target.exists():  # left by a session that crashed before its checkpoint
            shutil.rmtree(target)
        os.replace(staged, target)
        return True

    def discard(self, token: str) -> None:
        """Drop what an abandoned evaluation staged."""
        shutil.rmtree(self.root / _STAGING / token, ignore_errors=True)

    def path(self, individual_id: int) -> Path | None:
        """The directory of ``individual_id``'s files, or None if it has none."""
        path = self.root / str(individual_id)
        return path if path.is_dir() else None

    def ids(self) -> list[int]:
        """Every individual that owns files, ascending."""
        if not self.root.is_dir():
            return []
        return sorted(int(p.name) for p in self.root.iterdir() if p.name.isdigit())

    def retain(self, keep: Iterable[int]) -> int:
        """Delete the files of every individual not in ``keep``; how many lost theirs."""
        keep = set(keep)
        dropped = [i for i in self.ids() if i not in keep]
        for i in dropped:
            shutil.rmtree(self.root / str(i))
        return len(dropped)

    def forget_after(self, last_id: int) -> None:
        """Remove files of ids past ``last_id`` (rows a crash lost before their
        checkpoint) and every staging directory: the session starting now
        re-evaluates those candidates."""
        for i in self.ids():
            if i > last_id:
                shutil.rmtree(self.root / str(i))
        shutil.rmtree(self.root / _STAGING, ignore_errors=True)


class JobEvaluator:
    """What the backends run for an `ArtefactEvaluator`: they call
    ``evaluate(job, budget)`` as for any evaluator, and this forwards the
    `Job` to ``evaluate_job``. Picklable whenever the evaluator is."""

    def __init__(self, evaluator: ArtefactEvaluator) -> None:
        self.evaluator = evaluator

    def bind(self, context: EvalContext) -> None:
        bind_context(self.evaluator, context)

    def evaluate(self, job: Job, budget: Budget = NO_BUDGET) -> Evaluation:
        return self.evaluator.evaluate_job(job, budget)


class Inheritance:
    """The driver's side of artefacts: makes each candidate's `Job` (its
    staging directory, its parents' directories), gives the staged files to
    the id the row gets, and after each checkpoint deletes the files of
    individuals that can no longer be parents.

    Example:
        >>> import tempfile, pathlib
        >>> from evoforge.evolution.strategies import Candidate
        >>> keeper = Inheritance(ArtefactStore(pathlib.Path(tempfile.mkdtemp())), keep_best=0)
        >>> job = keeper.job(0, Candidate("01", None, None))
        >>> _ = (job.output / "count.txt").write_text("1")
        >>> keeper.stored(0, individual_id=1, fitness=1.0)
        >>> child = keeper.job(1, Candidate("11", 1, "flip_bit"))
        >>> (child.parents[0] / "count.txt").read_text(), child.parent_ids
        ('1', (1,))
    """

    def __init__(self, store: ArtefactStore, keep_best: int = KEEP_BEST) -> None:
        self.store = store
        self.keep_best = keep_best
        self._best: list[tuple[float, int]] = []  # min-heap of the fittest (fitness, id)

    def job(self, key: int, candidate: Candidate) -> Job:
        """The `Job` for ``candidate``, submitted under ``key``."""
        parent_ids = tuple(i for i in (candidate.parent_id, candidate.parent2_id) if i is not None)
        return Job(
            genome=candidate.genome,
            output=self.store.staging(str(key)),
            parents=tuple(self.store.path(i) for i in parent_ids),
            parent_ids=parent_ids,
            mutation=candidate.mutation,
        )

    def stored(self, key: int, individual_id: int, fitness: float) -> None:
        """The evaluation submitted under ``key`` is stored as ``individual_id``."""
        if not self.store.commit(str(key), individual_id) or not self.keep_best:
            return
        entry = (fitness, individual_id)
        if len(self._best) < self.keep_best:
            heapq.heappush(self._best, entry)
        elif entry > self._best[0]:
            heapq.heapreplace(self._best, entry)

    def collect(self, referenced: Iterable[int], pending: Iterable[Candidate]) -> int:
        """Delete the files nobody can inherit any more: keep those of
        ``referenced`` (what the checkpoint names: population, best), the
        parents of ``pending`` candidates and the fittest few. Call it after the
        checkpoint is committed, so that a crash never finds the checkpoint
        naming deleted files. Returns how many individuals lost their files."""
        keep = set(referenced)
        keep.update(i for _, i in self._best)
        for c in pending:
            keep.update(i for i in (c.parent_id, c.parent2_id) if i is not None)
        return self.store.retain(keep)

    def restart(self, stored: int, best: Iterable[tuple[float, int]]) -> None:
        """A session starts after ``stored`` individuals: drop files a crash
        left past them and anything staged, and remember the fittest."""
        self.store.forget_after(stored)
        owners = set(self.store.ids())
        self._best = heapq.nlargest(self.keep_best, ((f, i) for f, i in best if i in owners))
        heapq.heapify(self._best)
