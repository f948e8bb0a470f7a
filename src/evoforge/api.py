"""evoforge from Python: `search` runs any domain, `open_run` reads a run directory.

`search` takes a search space and an evaluator (any objects with the engine's
seams, see `evoforge.evolution.space`) or a config (a dict, a TOML path or a
parsed `ExperimentConfig`) naming a registered domain. Without ``run_dir`` it
runs in a temporary directory that is deleted afterwards, keeping the whole
history in memory; with one it leaves a run directory that ``evoforge show``,
``evoforge report`` and `open_run` read, and ``evoforge resume`` continues
(for registered domains). ``on_individual`` and ``on_new_best`` are called as
the search goes (see `evoforge.evolution.callbacks`), e.g. to log to MLflow.

A notebook session in five lines (a toy domain: integers, the closer to 42 the
better):

    >>> import evoforge
    >>> from evoforge.evolution.space import Evaluation
    >>> class Ints:  # the search space: initial genome, mutation, text form
    ...     def initial(self, rng): return int(rng.integers(100))
    ...     def mutate(self, g, rng): return g + int(rng.integers(-3, 4)), "step"
    ...     def to_text(self, g): return str(g)
    ...     def from_text(self, text): return int(text)
    >>> class Near42:  # the evaluator
    ...     def evaluate(self, g, budget=None): return Evaluation(1 / (1 + abs(g - 42)))
    >>> result = evoforge.search(Ints(), Near42(), max_individuals=300, seed=1)
    >>> result.best_genome, result.best_fitness, result.stop_reason
    (42, 1.0, 'max_individuals')
    >>> history = result.history()  # or result.dataframe() with pandas installed
    >>> len(history), history[0].id, history[0].mutation
    (300, 1, None)
"""

from __future__ import annotations

import copy
import json
import sqlite3
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evoforge.config import ExperimentConfig, load_config, parse_config, set_dotted
from evoforge.errors import RunDirError
from evoforge.evolution.callbacks import Callbacks, NewBest, Record, observe
from evoforge.evolution.progress import NullProgress, Progress, make_progress
from evoforge.evolution.space import DomainSetup, Evaluator, SearchSpace
from evoforge.evolution.store import FORMAT, StoreError, connect, read_events, read_summary

__all__ = ["RunView", "SearchResult", "open_run", "search"]

CONFIG_FILE, STORE_FILE, BEST_FILE = "config.toml", "run.sqlite", "best.txt"
#: The columns of a `Record`, in the store's order.
RECORD_COLUMNS = (
    "id",
    "parent_id",
    "mutation",
    "genome_text",
    "fitness",
    "per_task",
    "cost",
    "fingerprint",
    "fec_hit",
    "early_stopped",
    "error",
    "wall_time",
    "created",
    "worker",
    "parent2_id",
)
_CUSTOM_DOMAIN = "custom"  # run.domain of a search over objects, when the config names none
_READ_TIMEOUT = 600.0  # seconds a read waits for a checkpoint being written


def _dataframe(records: Sequence[Record]) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "a DataFrame needs pandas, which is not installed: pip install pandas"
            " (history() gives the same rows as records without it)"
        ) from None
    return pd.DataFrame([r.as_dict() for r in records], columns=list(RECORD_COLUMNS))


class RunView:
    """Read-only access to a run directory, finished or still running (the
    running search keeps writing; each call reads what its last checkpoint
    committed). Use `open_run`; close it, or use it as a context manager.

    Example:
        >>> with open_run("runs/demo") as run:  # doctest: +SKIP
        ...     run.status, run.summary()["individuals"], run.best().fitness
        ('finished', 20000, 0.998)
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        store_path = self.run_dir / STORE_FILE
        if not self.run_dir.is_dir():
            raise RunDirError(f"{self.run_dir}: no such run directory")
        if not store_path.is_file():
            raise RunDirError(f"{self.run_dir}: not a run directory (expected {STORE_FILE})")
        self.path = store_path
        try:
            # Read-only (`store.connect`): never takes the writer's lock, never
            # changes the file. Rows are read through its ``individuals_text``
            # view, so compact rows (run.engine = "fused") come with their text.
            self._db = connect(store_path, timeout=_READ_TIMEOUT)
        except sqlite3.Error as exc:
            raise StoreError(f"{store_path}: not a readable evoforge run store ({exc})") from None
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"{store_path}: not a readable evoforge run store ({exc})") from None
        if row is None or row[0] != json.dumps(FORMAT):
            self._db.close()
            raise StoreError(f"{store_path}: not an evoforge run store (no {FORMAT!r} mark)")
        self._select = ", ".join(RECORD_COLUMNS)

    def __enter__(self) -> RunView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- what the run is ------------------------------------------------------------

    @property
    def config(self) -> dict[str, Any]:
        """The run's resolved ``config.toml`` as a dict (empty if absent)."""
        path = self.run_dir / CONFIG_FILE
        if not path.is_file():
            return {}
        try:
            return tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RunDirError(f"{path}: cannot read: {exc}") from None

    def meta(self) -> dict[str, Any]:
        """The store's metadata: domain, seed, status, stop_reason, elapsed, ..."""
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    @property
    def domain(self) -> str:
        return str(self.meta().get("domain", "?"))

    @property
    def status(self) -> str:
        """``created``, ``running`` (or stopped abruptly), ``finished``,
        ``interrupted`` or ``failed``."""
        return str(self.meta().get("status", "?"))

    def checkpoint(self) -> tuple[int, dict[str, Any]] | None:
        """``(individuals, state)`` of the last checkpoint, or None."""
        row = self._db.execute(
            "SELECT n_individuals, state FROM checkpoints ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))

    def summary(self) -> dict[str, Any]:
        """Counts over the stored individuals: individuals, fec_hits,
        early_stopped, errors, cost, best_fitness (None before the first valid)."""
        return read_summary(self._db)

    # -- individuals and events ----------------------------------------------------

    def records(self, start: int = 1) -> Iterator[Record]:
        """Stored individuals from id ``start`` on, in id order (streamed)."""
        query = f"SELECT {self._select} FROM individuals_text WHERE id >= ? ORDER BY id"
        for row in self._db.execute(query, (start,)):
            yield Record.from_row(row)

    def history(self) -> list[Record]:
        """Every stored individual, in id order."""
        return list(self.records())

    def dataframe(self) -> Any:
        """`history` as a pandas DataFrame, one row per individual (needs pandas)."""
        return _dataframe(self.history())

    def record(self, id: int) -> Record | None:
        row = self._db.execute(
            f"SELECT {self._select} FROM individuals_text WHERE id = ?", (id,)
        ).fetchone()
        return None if row is None else Record.from_row(row)

    def best(self) -> Record | None:
        """The first individual with the best valid fitness (the run's best), or None."""
        row = self._db.execute(
            # Ranked on the table, so that only the best row's text is made.
            f"SELECT {self._select} FROM individuals_text WHERE id = (SELECT id FROM individuals"
            " WHERE error IS NULL ORDER BY fitness DESC, id ASC LIMIT 1)"
        ).fetchone()
        return None if row is None else Record.from_row(row)

    def columns(self, names: Sequence[str]) -> list[tuple[Any, ...]]:
        """Rows of just these columns of every individual, in id order (cheap:
        no genome text unless asked for)."""
        unknown = [n for n in names if n not in RECORD_COLUMNS]
        if unknown:
            raise ValueError(f"unknown columns {unknown}; known: {', '.join(RECORD_COLUMNS)}")
        return self._db.execute(
            f"SELECT {', '.join(names)} FROM individuals_text ORDER BY id"
        ).fetchall()

    def arrays(self) -> dict[str, Any]:
        """Every individual's numbers as numpy arrays, index ``id - 1``: ``id``,
        ``parent_id`` (0: none), ``fitness`` (-inf for failures), ``fec_hit``,
        ``early_stopped``, ``error`` (bools), ``created``, ``worker`` (-1: none),
        ``mutation`` (codes into ``mutation_names``; -1: none). Read in chunks,
        without genome texts, so it suits runs of millions of individuals."""
        import numpy as np

        self._db.execute("BEGIN")  # the count and the rows from one checkpoint
        try:
            return self._arrays(np)
        finally:
            self._db.execute("COMMIT")

    def _arrays(self, np: Any) -> dict[str, Any]:
        n = self._db.execute("SELECT COUNT(*) FROM individuals").fetchone()[0]
        out = {
            "id": np.zeros(n, np.int64),
            "parent_id": np.zeros(n, np.int64),
            "fitness": np.zeros(n),
            "fec_hit": np.zeros(n, bool),
            "early_stopped": np.zeros(n, bool),
            "error": np.zeros(n, bool),
            "created": np.zeros(n),
            "worker": np.zeros(n, np.int64),
            "mutation": np.zeros(n, np.int64),
        }
        codes: dict[str | None, int] = {None: -1}
        cursor = self._db.execute(
            "SELECT id, COALESCE(parent_id, 0), fitness, fec_hit, early_stopped,"
            " error IS NOT NULL, COALESCE(created, 0), COALESCE(worker, -1), mutation"
            " FROM individuals ORDER BY id"
        )
        i = 0
        while i < n and (chunk := cursor.fetchmany(100_000)):
            j = i + len(chunk)
            columns = list(zip(*chunk, strict=True))
            for name, values in zip(list(out)[:8], columns[:8], strict=True):
                out[name][i:j] = values
            out["mutation"][i:j] = [codes.setdefault(m, len(codes) - 1) for m in columns[8]]
            i = j
        cursor.close()
        out["fitness"][out["error"]] = -np.inf
        out["mutation_names"] = [m for m in codes if m is not None]
        return out

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Stored events, oldest first (``new_best``, ``start``, ``stop``,
        ``migration``, ``island``, ...), each with its ``time`` and ``kind``."""
        return read_events(self._db, kind)

    def best_text(self) -> str | None:
        """The run's ``best.txt`` (genome text with a header), if written yet."""
        path = self.run_dir / BEST_FILE
        return path.read_text() if path.is_file() else None


def open_run(run_dir: str | Path) -> RunView:
    """Open a run directory for reading, without SQL and without disturbing a
    search still writing it. Raises `RunDirError` or `StoreError` (both
    `EvoforgeError`) for a directory that is not a run.

    Example:
        >>> run = open_run("runs/demo")  # doctest: +SKIP
        >>> df = run.dataframe()  # doctest: +SKIP
        >>> df.groupby("mutation").fitness.max()  # doctest: +SKIP
    """
    return RunView(run_dir)


@dataclass(frozen=True)
class SearchResult:
    """What `search` found. ``run_dir`` is None for an in-memory search, whose
    history is kept here (``records``); a run directory's is read from it."""

    run_dir: Path | None
    n_individuals: int
    stop_reason: str
    best: Record | None
    best_genome: Any
    elapsed: float
    records: tuple[Record, ...] | None = None

    @property
    def best_fitness(self) -> float | None:
        return None if self.best is None else self.best.fitness

    def history(self) -> list[Record]:
        """Every individual, in id order."""
        if self.records is not None:
            return list(self.records)
        assert self.run_dir is not None
        with open_run(self.run_dir) as view:
            return view.history()

    def dataframe(self) -> Any:
        """`history` as a pandas DataFrame (needs pandas)."""
        return _dataframe(self.history())


def _config_data(config: Mapping[str, Any] | str | Path | ExperimentConfig | None) -> Any:
    if config is None:
        return {}
    if isinstance(config, ExperimentConfig):
        return config
    if isinstance(config, str | Path):
        return Path(config)
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config))
    raise TypeError(f"config: expected a dict, a TOML path or an ExperimentConfig, got {config!r}")


def search(
    space: SearchSpace | None = None,
    evaluator: Evaluator | None = None,
    *,
    config: Mapping[str, Any] | str | Path | ExperimentConfig | None = None,
    run_dir: str | Path | None = None,
    max_individuals: int | None = None,
    max_seconds: float | None = None,
    seed: int | None = None,
    on_individual: Callable[[Record], None] | None = None,
    on_new_best: Callable[[NewBest], None] | None = None,
    progress: bool | Progress = False,
    selector: Callable[[Any], float] | None = None,
    describe: Callable[[Any], str] | None = None,
) -> SearchResult:
    """Run one search and return what it found (see the module docstring).

    - ``space`` and ``evaluator``: the domain as objects; or leave them out and
      give a ``config`` whose ``run.domain`` names a registered domain (its
      table configures it). ``selector``/``describe`` complete an object domain
      as a `DomainSetup` would.
    - ``config``: a dict as TOML would give it, a TOML file, or a parsed
      config; validated like ``evoforge run`` validates a file (`ConfigError`
      names the field). ``max_individuals``, ``max_seconds`` and ``seed``
      override ``run.*``.
    - ``run_dir``: where the run lives (absent or empty); None runs in a
      temporary directory, deleted before returning.
    - ``on_individual(record)``, ``on_new_best(new_best)``: called as the
      search goes; ``progress``: True for the command line's display, or a
      `Progress`.

    Example:
        >>> import evoforge
        >>> evoforge.search(config={"run": {"domain": "automl_zero"}})  # doctest: +SKIP
    """
    data = _config_data(config)
    overrides = {
        key: value
        for key, value in (
            ("run.max_individuals", max_individuals),
            ("run.max_seconds", max_seconds),
            ("run.seed", seed),
        )
        if value is not None
    }
    if isinstance(data, ExperimentConfig):
        if overrides:
            raise ValueError("give overrides in the config when passing an ExperimentConfig")
        parsed = data
    elif isinstance(data, Path):
        parsed = load_config(data, overrides)
    else:
        if space is not None:
            data.setdefault("run", {}).setdefault("domain", _CUSTOM_DOMAIN)
        for key, value in overrides.items():
            set_dotted(data, key, value)
        parsed = parse_config(data)
    if (space is None) != (evaluator is None):
        raise TypeError("give both space and evaluator, or neither (and a config's run.domain)")
    if space is not None:
        setup = DomainSetup(space, evaluator, selector=selector, describe=describe)  # type: ignore[arg-type]
    else:
        from evoforge.domains import build_domain

        setup = build_domain(parsed)
    if isinstance(progress, bool):
        shown: Progress = make_progress() if progress else NullProgress()
    else:
        shown = progress
    callbacks = Callbacks(on_individual=on_individual, on_new_best=on_new_best)
    if run_dir is not None:
        return _search_in(Path(run_dir), parsed, setup, shown, callbacks, keep=True)
    with tempfile.TemporaryDirectory(prefix="evoforge-") as tmp:
        return _search_in(Path(tmp) / "run", parsed, setup, shown, callbacks, keep=False)


def _search_in(
    run_dir: Path,
    config: ExperimentConfig,
    setup: DomainSetup,
    progress: Progress,
    callbacks: Callbacks,
    keep: bool,
) -> SearchResult:
    from evoforge.evolution.run import Run

    run = Run.create(run_dir, config, setup=setup, progress=progress)
    observe(run, callbacks)
    result = run.run()
    with open_run(run_dir) as view:
        records = None if keep else tuple(view.records())
        best = None if result.best is None else view.record(result.best.id)
    return SearchResult(
        run_dir=run_dir if keep else None,
        n_individuals=result.n_individuals,
        stop_reason=result.stop_reason,
        best=best,
        best_genome=None if result.best is None else result.best.genome,
        elapsed=result.elapsed,
        records=records,
    )
