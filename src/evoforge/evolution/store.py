"""The run store: one SQLite file (``run.sqlite``) holding every individual,
events, the latest checkpoint and run metadata.

Individuals and events are buffered in memory and written in the *same
transaction* as the checkpoint that accounts for them, so whatever stops the
process (Ctrl-C, ``kill -9``, power loss) the file holds a consistent prefix:
ids ``1..n`` without gaps and a checkpoint for exactly ``n``. The file uses a
rollback journal and 16 KiB pages: a write-ahead log would write every row
twice (into the log, then into the file), and individuals are most of what a
run writes. A reader such as ``evoforge show`` waits while a checkpoint
commits, and a checkpoint waits for readers, neither fails.

Example:
    >>> import tempfile, pathlib
    >>> from evoforge.evolution.space import Evaluation, Individual
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.sqlite"
    >>> store = RunStore.create(path)
    >>> store.add(Individual(1, "0110", Evaluation(0.5, per_task=(0.5,))), "0110")
    >>> store.checkpoint(1, {"note": "state"})
    >>> store.latest_checkpoint()
    (1, {'note': 'state'})
    >>> store.close()
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.errors import EvoforgeError
from evoforge.evolution.space import Evaluation, Individual

FORMAT = "evoforge-run/1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS individuals (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER,
    mutation TEXT,
    genome_text TEXT,
    fitness REAL,
    per_task TEXT,
    cost INTEGER,
    fingerprint INTEGER,
    fec_hit INTEGER,
    early_stopped INTEGER,
    error TEXT,
    wall_time REAL,
    created REAL,
    worker INTEGER,
    parent2_id INTEGER,
    genome_blob BLOB
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time REAL,
    kind TEXT,
    payload TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    n_individuals INTEGER,
    state TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""

# A TEMP view, made on each connection this module opens: a view kept in the
# file would block schema changes to the table (and older stores lack it). Its
# columns are the table's first 15 (`_view_columns`): compact rows with their
# text and JSON per-task fitnesses; a column the file lacks (a store written
# before crossover or compact rows, opened read-only so not upgraded) is NULL.
_VIEW = "CREATE TEMP VIEW IF NOT EXISTS individuals_text AS SELECT {} FROM main.individuals"

# Compact rows (`RunStore.add_chunk`) keep the genome as bytes in ``genome_blob``
# (``genome_text`` NULL) and the per-task fitnesses as little-endian float64
# bytes; the codec named in the store's ``genome_codec`` meta key turns the
# bytes into text on demand. Every connection this module opens registers the
# SQL functions ``genome_text_of(blob)`` and ``per_task_json(value)``, and the
# ``individuals_text`` view (temporary, per connection) shows every row with
# its text (open the file with `connect` to query it from your own code).
_TEXT_COLUMN = "COALESCE(genome_text, genome_text_of(genome_blob))"
#: A codec is named "module:function" inside the evoforge package: data naming
#: one of evoforge's own functions, never code carried by the file.
_CODEC_PREFIX = "evoforge."

# Columns named: a store upgraded on open has its added columns in the order
# they were added, not the order of `_SCHEMA`.
_INSERT_INDIVIDUAL = (
    "INSERT INTO individuals (id, parent_id, mutation, genome_text, fitness, per_task, cost,"
    " fingerprint, fec_hit, early_stopped, error, wall_time, created, worker, parent2_id,"
    " genome_blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_EVALUATION_COLUMNS = "fitness, per_task, cost, fingerprint, early_stopped, error"


_PER_TASK_MEMO_SIZE = 100_000
_PAGE_SIZE = 16384  # a page holds ~20 rows of a 20-instruction program
_BUSY_SECONDS = 600.0


class StoreError(EvoforgeError):
    """The file is missing, not a run store, inconsistent, or cannot be written."""


def _cause(exc: BaseException) -> str:
    """What went wrong, in words: SQLite's message or the OS error's."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _intact_prefix(path: Path) -> int:
    """The largest N such that the rows with ids 1..N of the store at ``path``
    are all present and readable (0 if none, or the table cannot be read)."""
    n = 0
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return 0
    try:
        # Lets SQLite read a truncated file (shorter than its header says)
        # instead of refusing it whole; nothing is written.
        db.execute("PRAGMA writable_schema = ON")
        for row in db.execute("SELECT * FROM individuals ORDER BY id"):
            if row[0] != n + 1:
                break
            n = row[0]
    except sqlite3.DatabaseError:
        pass  # damaged from here on
    finally:
        db.close()
    return n


@functools.cache
def _schema_columns() -> dict[str, tuple[str, ...]]:
    """Table -> column names, read from `_SCHEMA` itself (one source of truth)."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        names = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return {
            name: tuple(row[1] for row in db.execute(f"PRAGMA table_info({name})"))
            for (name,) in names
        }
    finally:
        db.close()


def _json_floats(values: tuple[float, ...]) -> str:
    """``json.dumps(values)``, twice as fast for the usual all-finite floats."""
    try:
        text = ", ".join(map(float.__repr__, values))
    except TypeError:  # not all floats
        return json.dumps(values)
    # Finite floats' reprs never contain an "n" (unlike nan and inf, which JSON
    # spells NaN and Infinity).
    return json.dumps(values) if "n" in text else f"[{text}]"


def per_task_values(value: str | bytes | None) -> tuple[float, ...]:
    """The per-task fitnesses of a stored row: JSON text (rows of the loop) or
    little-endian float64 bytes (compact rows)."""
    if not value:
        return ()
    if isinstance(value, bytes):
        return tuple(np.frombuffer(value, "<f8").tolist())
    return tuple(json.loads(value))


def _per_task_json(value: str | bytes | None) -> str | None:
    if isinstance(value, bytes):
        return _json_floats(per_task_values(value))
    return value


@functools.cache
def _codec(name: str) -> Callable[[bytes], str]:
    """The ``module:function`` decoder a store names (evoforge's own only)."""
    module, _, function = name.partition(":")
    if not module.startswith(_CODEC_PREFIX) or not function:
        raise StoreError(f"unknown genome codec {name!r} (expected evoforge.<module>:<function>)")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise StoreError(f"genome codec {name!r} is not available: {exc}") from None


def _register_functions(db: sqlite3.Connection) -> None:
    """``genome_text_of(blob)`` (text of a compact row, by the store's codec)
    and ``per_task_json(value)`` on this connection."""
    state: dict[str, Callable[[bytes], str] | None] = {}

    def genome_text_of(blob: bytes | None) -> str | None:
        if blob is None:
            return None
        if "decode" not in state:
            row = db.execute("SELECT value FROM meta WHERE key = 'genome_codec'").fetchone()
            state["decode"] = None if row is None else _codec(json.loads(row[0]))
        decode = state["decode"]
        if decode is None:
            raise ValueError("a compact row but no genome_codec in the store's meta")
        return decode(blob)

    db.create_function("genome_text_of", 1, genome_text_of, deterministic=True)
    db.create_function("per_task_json", 1, _per_task_json, deterministic=True)
    with contextlib.suppress(sqlite3.Error):  # a damaged store: its checks report it
        _make_view(db)


def _make_view(db: sqlite3.Connection, replace: bool = False) -> None:
    """Create the ``individuals_text`` view for the table's columns (anew
    with ``replace``: after a column was added)."""
    if replace:
        db.execute("DROP VIEW IF EXISTS temp.individuals_text")
    have = {row[1] for row in db.execute("PRAGMA main.table_info(individuals)")}
    if not have:
        return  # no table yet (a store being created): `RunStore.rows` makes it later
    special = {"per_task": "per_task_json(per_task)"}
    if "genome_blob" in have:
        special["genome_text"] = _TEXT_COLUMN
    columns = [
        f"{special.get(c, c)} AS {c}" if c in have else f"NULL AS {c}"
        for c in _schema_columns()["individuals"][:15]
    ]
    db.execute(_VIEW.format(", ".join(columns)))


def connect(path: str | Path, *, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection to a run store with ``genome_text_of``,
    ``per_task_json`` and the ``individuals_text`` view usable: every row with
    its genome text and its per-task fitnesses as JSON, compact or not.

    Read-only (``mode=ro``): it never writes the file, takes no writer's lock
    and works while a run writes the store (a read waits up to ``timeout``
    seconds for a checkpoint being committed). Autocommit: each statement sees
    one committed checkpoint; ``BEGIN`` ... ``COMMIT`` to read several from
    the same one. Raises `sqlite3.OperationalError` if the file is missing.

    Example:
        >>> db = connect("runs/demo/run.sqlite")  # doctest: +SKIP
        >>> db.execute("SELECT genome_text FROM individuals_text WHERE id = 1")  # doctest: +SKIP
    """
    db = sqlite3.connect(
        f"{Path(path).resolve().as_uri()}?mode=ro",
        uri=True,
        timeout=timeout,
        isolation_level=None,
    )
    _register_functions(db)
    return db


def read_summary(db: sqlite3.Connection) -> dict[str, Any]:
    """Counts over a store's individuals: individuals, fec_hits, early_stopped,
    errors, cost, best_fitness (None before the first valid one)."""
    row = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(fec_hit), 0), COALESCE(SUM(early_stopped), 0),"
        " COALESCE(SUM(error IS NOT NULL), 0), COALESCE(SUM(cost), 0),"
        # failures (error set) are worse than any valid row, whatever its sign
        " MAX(CASE WHEN error IS NULL THEN fitness END)"
        " FROM individuals"
    ).fetchone()
    keys = ("individuals", "fec_hits", "early_stopped", "errors", "cost", "best_fitness")
    return dict(zip(keys, row, strict=True))


def read_events(db: sqlite3.Connection, kind: str | None = None) -> list[dict[str, Any]]:
    """A store's events, oldest first (optionally only one kind), each a dict
    of its payload with its ``time`` and ``kind``."""
    query = "SELECT time, kind, payload FROM events"
    args: tuple[Any, ...] = ()
    if kind is not None:
        query += " WHERE kind = ?"
        args = (kind,)
    return [
        {"time": t, "kind": k, **json.loads(p)}
        for t, k, p in db.execute(query + " ORDER BY id", args)
    ]


def _evaluation(row: tuple[Any, ...]) -> Evaluation:
    """An Evaluation from the ``_EVALUATION_COLUMNS`` of a row (cache value form)."""
    fitness, per_task, cost, fingerprint, early_stopped, error = row
    return Evaluation(
        fitness=fitness,
        per_task=per_task_values(per_task),
        cost=cost,
        fingerprint=fingerprint,
        early_stopped=bool(early_stopped),
        error=error,
    )


def individual_row(ind: Individual, genome_text: str, per_task: str | None) -> tuple[Any, ...]:
    """The ``individuals`` table row of ``ind``; ``per_task`` is its per-task
    fitness as JSON (`PerTaskText`), or None when it has none."""
    ev = ind.evaluation
    fingerprint = ev.fingerprint
    # Exact int/float/str only: sqlite3 binds those directly but runs its
    # slow adaptation protocol for subclasses (bool, numpy scalars), and
    # rejects numpy integers outright.
    return (
        ind.id,
        ind.parent_id,
        ind.mutation,
        genome_text,
        float(ev.fitness),
        per_task,
        int(ev.cost),
        None if fingerprint is None else int(fingerprint),
        1 if ev.fec_hit else 0,
        1 if ev.early_stopped else 0,
        ev.error,
        ev.wall_time,
        ind.created,
        ind.worker,
        ind.parent2_id,
        None,  # genome_blob: compact rows only
    )


def compact_rows(columns: Mapping[str, Sequence[Any]]) -> Iterable[tuple[Any, ...]]:
    """The ``individuals`` table rows of a fused chunk's columns (see
    `RunStore.add_chunk`): ``genome_text`` and ``error`` NULL, ``genome_blob``
    the program's bytes, ``per_task`` float64 bytes."""
    none = [None] * len(columns["id"])
    return zip(
        columns["id"], columns["parent_id"], columns["mutation"], none,
        columns["fitness"], columns["per_task"], columns["cost"], columns["fingerprint"],
        columns["fec_hit"], columns["early_stopped"], none, columns["wall_time"],
        columns["created"], columns["worker"], none, columns["genome_blob"],
        strict=True,
    )  # fmt: skip


class PerTaskText:
    """``ev.per_task`` as the JSON text the store keeps (None if empty), memoised
    per evaluation object: FEC hits share one Evaluation, so its text is made
    once. Each entry keeps its object alive, so the id cannot be reused."""

    def __init__(self, size: int = _PER_TASK_MEMO_SIZE) -> None:
        self._size = size
        self._memo: dict[int, tuple[Evaluation, str]] = {}

    def __call__(self, ev: Evaluation) -> str | None:
        if not ev.per_task:
            return None
        memo = self._memo.get(id(ev))
        if memo is not None and memo[0] is ev:
            return memo[1]
        if len(self._memo) >= self._size:
            self._memo.clear()
        text = _json_floats(ev.per_task)
        self._memo[id(ev)] = (ev, text)
        return text


class RunStore:
    """Buffered writer and reader of ``run.sqlite``; use `create` or `open`."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self.path = path
        self._db = connection
        self._rows: list[tuple[Any, ...]] = []
        self._events: list[tuple[float, str, str]] = []
        self._per_task_text = PerTaskText()
        # Individuals covered by the newest committed checkpoint (None: none yet).
        self.checkpointed: int | None = None

    @classmethod
    def create(cls, path: str | Path) -> RunStore:
        """Create a new, empty store (the file must not exist).

        Raises `StoreError` naming the path and the cause when it cannot be
        written (a read-only directory, a full disk); nothing is left behind.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists")
        db: sqlite3.Connection | None = None
        try:
            db = cls._connect(path)
            db.execute(f"PRAGMA page_size={_PAGE_SIZE}")  # only before the first table
            db.executescript(_SCHEMA)
            store = cls(db, path)
            store.set_meta(format=FORMAT, created=time.time())
        except (sqlite3.Error, OSError, StoreError) as exc:
            if db is not None:
                db.close()
            for leftover in (path, path.with_name(path.name + "-journal")):
                leftover.unlink(missing_ok=True)
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{path}: cannot create the run store: {_cause(exc)}") from None
        return store

    @classmethod
    def open(cls, path: str | Path) -> RunStore:
        """Open an existing store, checking that it is one (its format mark,
        every table and column of the schema, a readable checkpoint row)."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no run store (run.sqlite) found")
        try:
            db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open: {_cause(exc)}") from None
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as exc:
            db.close()
            intact = _intact_prefix(path)
            if intact:
                raise StoreError(
                    f"{path}: a damaged run store ({exc}); the rows are intact up to id"
                    f" {intact:,}, but it cannot be resumed"
                ) from None
            raise StoreError(f"{path}: not an evoforge run store ({exc})") from None
        db.close()
        if row is None or row[0] != json.dumps(FORMAT):
            raise StoreError(f"{path}: not an evoforge run store (no {FORMAT!r} format mark)")
        try:
            store = cls._open_checked(path)
        except sqlite3.DatabaseError as exc:
            intact = _intact_prefix(path)
            raise StoreError(
                f"{path}: a damaged evoforge run store ({exc}); the rows are intact up to id"
                f" {intact:,}"
            ) from None
        return store

    @classmethod
    def _open_checked(cls, path: Path) -> RunStore:
        db = cls._connect(path)
        columns = {row[1] for row in db.execute("PRAGMA table_info(individuals)")}
        if "parent2_id" not in columns:  # a store written before crossover was recorded
            db.execute("ALTER TABLE individuals ADD COLUMN parent2_id INTEGER")
        if "genome_blob" not in columns:  # written before compact rows (issue 21)
            db.execute("ALTER TABLE individuals ADD COLUMN genome_blob BLOB")
        if not {"parent2_id", "genome_blob"} <= columns:
            _make_view(db, replace=True)  # the view made on connecting lacked them
        store = cls(db, path)
        try:
            problem = cls._schema_problem(db)
            if problem is not None:
                raise StoreError(f"{path}: not a complete evoforge run store ({problem})")
            row = db.execute(
                "SELECT n_individuals FROM checkpoints ORDER BY id DESC LIMIT 1"
            ).fetchone()
        except BaseException:
            db.close()
            raise
        store.checkpointed = None if row is None else row[0]
        return store

    @staticmethod
    def _schema_problem(db: sqlite3.Connection) -> str | None:
        """What the file lacks of `_SCHEMA` (a table, a column), or None."""
        for table, columns in _schema_columns().items():
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            if not have:
                return f"no {table!r} table"
            missing = [c for c in columns if c not in have]
            if missing:
                return f"the {table!r} table has no column {', '.join(map(repr, missing))}"
        return None

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # Autocommit mode: transactions are explicit, one per checkpoint. A
        # long timeout: a checkpoint that meets a reader (a long `evoforge
        # show`) must wait for it, not fail the run.
        db = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_SECONDS)
        _register_functions(db)
        # Also turns a store written by an earlier version (WAL) back.
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=FULL")
        return db

    # -- writing ---------------------------------------------------------------

    def add(self, ind: Individual, genome_text: str) -> None:
        """Buffer an individual; it is written by the next `checkpoint`."""
        self._rows.append(individual_row(ind, genome_text, self._per_task_text(ind.evaluation)))

    def add_chunk(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """Buffer compact rows given column-wise (a fused chunk): ``id``,
        ``parent_id``, ``mutation``, ``genome_blob`` (bytes), ``fitness``,
        ``per_task`` (float64 bytes), ``cost``, ``fingerprint`` (or None),
        ``fec_hit``, ``early_stopped``, ``wall_time``, ``created``, ``worker``;
        lists of plain Python values. One row costs a tuple here and its
        SQLite insert at the checkpoint (docs/results.md: bytes and microseconds)."""
        self._rows.extend(compact_rows(columns))

    def genome_decoder(self) -> Callable[[bytes], str]:
        """The codec that turns this store's compact genomes (``genome_blob``)
        into text; `StoreError` if the store names none."""
        name = self.meta().get("genome_codec")
        if name is None:
            raise StoreError(f"{self.path}: compact rows but no genome codec in the store's meta")
        return _codec(name)

    def set_codec(self, name: str) -> None:
        """Name the ``module:function`` that turns this store's compact genomes
        into text (an evoforge function; checked now)."""
        _codec(name)
        self.set_meta(genome_codec=name)

    def add_rows(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Buffer rows made by `individual_row` (e.g. in island workers)."""
        self._rows.extend(rows)

    def event(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Buffer an event; it is written by the next `checkpoint`."""
        self._events.append((time.time(), kind, json.dumps(payload)))

    def record(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Write one event now, in its own transaction (steps run after a search,
        such as reranking, record each result as it comes, so a stopped step
        resumes where it stopped); `StoreError` if it cannot be written."""
        self._write(
            f"write a {kind} event",
            lambda db: db.execute(
                "INSERT INTO events (time, kind, payload) VALUES (?, ?, ?)",
                (time.time(), kind, json.dumps(payload)),
            ),
        )

    def _write(self, what: str, statements: Callable[[sqlite3.Connection], Any]) -> None:
        """Run ``statements`` in one immediate transaction, all or none."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            statements(db)
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error | OSError):
                raise StoreError(f"{self.path}: cannot {what}: {_cause(exc)}") from exc
            raise

    def checkpoint(self, n_individuals: int, state: Mapping[str, Any]) -> None:
        """Write buffered individuals and events and replace the checkpoint, atomically.

        If the write fails (a full disk) the file keeps its previous checkpoint
        and the buffers are kept, so a later call can still write them; the
        error is a `StoreError` naming the path and the cause.
        """
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(_INSERT_INDIVIDUAL, self._rows)
            db.executemany(
                "INSERT INTO events (time, kind, payload) VALUES (?, ?, ?)", self._events
            )
            db.execute("DELETE FROM checkpoints")
            db.execute(
                "INSERT INTO checkpoints (n_individuals, state) VALUES (?, ?)",
                (n_individuals, json.dumps(state)),
            )
            db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error | OSError):
                kept = (
                    "the store holds no checkpoint yet"
                    if self.checkpointed is None
                    else f"the store keeps its checkpoint at {self.checkpointed:,} individuals"
                )
                raise StoreError(
                    f"{self.path}: cannot write the checkpoint at {n_individuals:,} individuals:"
                    f" {_cause(exc)}; nothing stored is lost ({kept}): resume once there is room"
                ) from exc
            raise
        self.checkpointed = n_individuals
        self._rows.clear()
        self._events.clear()

    def _rollback(self) -> None:
        # SQLite ends the transaction itself on some errors (SQLITE_FULL among
        # them); rolling back again raised "cannot rollback - no transaction is
        # active", which hid the real cause.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the original error is the one to report
                self._db.execute("ROLLBACK")

    def set_meta(self, **values: Any) -> None:
        """Set metadata keys (committed at once, all or none; values stored as JSON)."""
        self._write(
            "write",
            lambda db: db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            ),
        )

    def close(self) -> None:
        """Close the file; unbuffered rows are dropped (they belong to no checkpoint)."""
        self._db.close()

    # -- reading ---------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def latest_checkpoint(self) -> tuple[int, dict[str, Any]] | None:
        """``(n_individuals, state)`` of the newest checkpoint; `StoreError` if it
        is not readable (not JSON, not a table)."""
        row = self._db.execute(
            "SELECT n_individuals, state FROM checkpoints ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        n, text = row
        try:
            state = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"{self.path}: the checkpoint is damaged (not JSON: {exc})") from None
        if not isinstance(n, int) or n < 0 or not isinstance(state, dict):
            raise StoreError(f"{self.path}: the checkpoint is damaged (not a count and a table)")
        return n, state

    def intact_prefix(self) -> int:
        """The largest N such that the rows with ids 1..N are all present and
        readable: what survives of a damaged or edited store."""
        return _intact_prefix(self.path)

    def check_complete(self, n: int) -> None:
        """Raise `StoreError` unless the store holds exactly the individuals
        1..``n`` (what a checkpoint at ``n`` accounts for), saying what is wrong
        and what is intact."""
        try:
            count, high = self._db.execute(
                "SELECT COUNT(*), COALESCE(MAX(id), 0) FROM individuals"
            ).fetchone()
            low = self._db.execute("SELECT MIN(id) FROM individuals").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path}: the store is damaged ({exc}); the rows are intact up to id"
                f" {self.intact_prefix():,} and the checkpoint is at {n:,}, so it cannot be"
                " resumed (`evoforge show` still reads what is there)"
            ) from None
        if count == n and high == n and (n == 0 or low == 1):
            return
        intact = self.intact_prefix()
        if high > n and intact >= n:
            what = f"it holds rows after the checkpoint (ids {n + 1:,} to {high:,})"
        elif count == high and low in (1, None):
            what = f"the checkpoint covers {n:,} individuals but the store holds {high:,}"
        else:
            what = f"ids are missing from 1..{high:,}, the first is {intact + 1:,}"
        raise StoreError(
            f"{self.path}: {what}; the rows are intact up to id {intact:,} and the checkpoint"
            f" is at {n:,}, so it cannot be resumed (`evoforge show` still reads it)"
        )

    def max_id(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(id), 0) FROM individuals").fetchone()[0]

    def individuals(self, ids: Iterable[int]) -> dict[int, tuple[Individual, str]]:
        """``id -> (Individual without genome, genome_text)`` for the given ids."""
        out: dict[int, tuple[Individual, str]] = {}
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), 500):  # stay under SQLite's variable limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = (
                f"SELECT id, parent_id, mutation, {_TEXT_COLUMN}, {_EVALUATION_COLUMNS}, fec_hit,"
                f" wall_time, created, worker, parent2_id FROM individuals WHERE id IN ({marks})"
            )
            for row in self._db.execute(query, chunk):
                ev = dataclasses.replace(
                    _evaluation(row[4:10]), fec_hit=bool(row[10]), wall_time=row[11]
                )
                ind = Individual(
                    id=row[0],
                    genome=None,
                    evaluation=ev,
                    parent_id=row[1],
                    mutation=row[2],
                    created=row[12],
                    worker=row[13],
                    parent2_id=row[14],
                )
                out[row[0]] = (ind, row[3])
        missing = set(wanted) - out.keys()
        if missing:
            raise StoreError(f"{self.path}: individuals {sorted(missing)[:5]} are missing")
        return out

    def rows(self, columns: str = "*", start: int = 1) -> sqlite3.Cursor:
        """Rows from id ``start`` on, in id order, as the ``individuals`` table's
        first 15 columns: compact rows come with their text and JSON per-task
        fitnesses (the ``individuals_text`` view)."""
        _make_view(self._db)  # made here too: a new store had no table on connecting
        return self._db.execute(
            f"SELECT {columns} FROM individuals_text WHERE id >= ? ORDER BY id", (start,)
        )

    def fec_entries(
        self, capacity: int, worker: int | None = None, since: int = 1
    ) -> list[tuple[int, Evaluation]]:
        """The functional-equivalence cache an uninterrupted run would hold now
        (of one island's worker, if ``worker`` is given; from id ``since`` on,
        where an experiment restart emptied the cache).

        Scans back from the newest row until ``capacity`` distinct fingerprints
        are found; each one's newest row carries its cached evaluation. Returned
        least recently used first, ready for `FECache.warm`.
        """
        seen: dict[int, Evaluation] = {}
        where = "fingerprint IS NOT NULL AND id >= ?"
        where += "" if worker is None else " AND worker = ?"
        cursor = self._db.execute(
            f"SELECT {_EVALUATION_COLUMNS} FROM individuals WHERE {where} ORDER BY id DESC",
            (since,) if worker is None else (since, worker),
        )
        for row in cursor:
            fingerprint = row[3]
            if fingerprint not in seen:
                seen[fingerprint] = _evaluation(row)
                if len(seen) >= capacity:
                    break
        cursor.close()
        return list(reversed(seen.items()))

    def summary(self) -> dict[str, Any]:
        """Counts over all stored individuals (`read_summary`)."""
        return read_summary(self._db)

    def count_by_worker(self) -> dict[int, int]:
        """Stored individuals per ``worker`` (for island runs: per island)."""
        rows = self._db.execute("SELECT worker, COUNT(*) FROM individuals GROUP BY worker")
        return {int(worker): int(count) for worker, count in rows if worker is not None}

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Stored events (oldest first), optionally only one kind (`read_events`)."""
        return read_events(self._db, kind)
