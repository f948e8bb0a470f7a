"""The run directory: its files, and the checks `Run.create` and `Run.resume` make.

A run directory holds the resolved ``config.toml``, ``run.sqlite`` (the
store, whose meta keeps the config the run started with and its sha256) and
``best.txt``; ``run.lock`` names the writer while one runs. A new run needs an
absent or empty directory (`claim_run_dir` makes and locks it, and removes
what it wrote if starting fails). A resumed run needs the same config as its
checkpoint, apart from `SAFE_CONFIG_KEYS` (`check_config`), and a checkpoint
whose state is well formed (`checkpoint_problem`).

Example:
    >>> old = {"run": {"seed": 1, "max_individuals": 100}}
    >>> new = {"run": {"seed": 1, "max_individuals": 200}}
    >>> config_changes(old, new)
    [('run.max_individuals', 100, 200)]
    >>> config_fingerprint(old) == config_fingerprint(new)
    False
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from evoforge.config import ExperimentConfig
from evoforge.errors import RunDirError
from evoforge.evolution.lock import LOCK_FILE, RunLock
from evoforge.evolution.space import DomainSetup, Individual
from evoforge.evolution.store import RunStore

CONFIG_FILE = "config.toml"
STORE_FILE = "run.sqlite"
BEST_FILE = "best.txt"

# Config keys `resume` may continue with when they changed: the budget, stop
# conditions and how evaluations are executed, none of which the checkpoint's
# strategy, rng or population depend on.
SAFE_CONFIG_KEYS = frozenset(
    {
        "run.max_individuals",
        "run.max_cost",
        "run.max_seconds",
        "run.stop_fitness",
        "run.stop_select_fitness",
        "run.workers",
        "run.backend",
        "run.checkpoint_every",
        "run.checkpoint_seconds",
        "run.eval_timeout",
        "run.in_flight_per_worker",
        "run.chunk_size",
        "run.devices",
    }
)
_ABSENT: Any = object()  # a key missing on one side of a config comparison

# What `claim_run_dir` removes again when starting a run fails.
_RUN_FILES = (
    CONFIG_FILE,
    CONFIG_FILE + ".tmp",
    STORE_FILE,
    STORE_FILE + "-journal",
    BEST_FILE,
    BEST_FILE + ".tmp",
)


class ConfigChangedError(RunDirError):
    """A run directory's ``config.toml`` differs from the config the run was
    started with. ``changes`` lists ``(dotted key, old, new)``; ``unsafe`` the
    keys that `Run.resume` cannot continue with."""

    def __init__(
        self, message: str, changes: list[tuple[str, Any, Any]], unsafe: list[str]
    ) -> None:
        super().__init__(message)
        self.changes = changes
        self.unsafe = unsafe


# -- files -----------------------------------------------------------------------


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` whole or not at all; `RunDirError` naming
    the path and the cause (e.g. a full disk) if it cannot be written.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "best.txt"
        >>> write_atomic(path, "42\\n"); path.read_text()
        '42\\n'
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise RunDirError(f"{path}: cannot write: {exc.strerror or exc}") from None


def write_best(
    run_dir: Path,
    best: Individual,
    genome_text: str,
    *,
    select: float | None,
    individuals: int,
    description: str | None,
) -> None:
    """Write ``best.txt``: a commented header (id, fitness, select fitness,
    individuals evaluated, lineage, the domain's description), a blank line,
    then the genome's text."""
    header = ["evoforge best individual", f"id: {best.id}", f"fitness: {best.fitness!r}"]
    if select is not None:
        header.append(f"select_fitness: {select!r}")
    header += [
        f"individuals_evaluated: {individuals}",
        f"parent_id: {best.parent_id}",
        f"mutation: {best.mutation}",
    ]
    if description is not None:
        header += ["description:", *description.splitlines()]
    text = "".join(f"# {line}\n" for line in header)
    write_atomic(run_dir / BEST_FILE, f"{text}\n{genome_text}\n")


def check_empty(run_dir: Path) -> None:
    """`RunDirError` unless ``run_dir`` is absent or empty (a lock file left by
    a writer that died does not count)."""
    if run_dir.exists() and (
        not run_dir.is_dir() or any(p.name != LOCK_FILE for p in run_dir.iterdir())
    ):
        raise RunDirError(
            f"{run_dir}: exists and is not empty; choose another output directory"
            f" or continue it with `evoforge resume {run_dir}`"
        )


def _make_dirs(run_dir: Path) -> list[Path]:
    """Make ``run_dir`` and its missing parents; the directories made,
    outermost first. `RunDirError` naming the one that could not be made."""
    missing = [p for p in (run_dir, *run_dir.parents) if not p.exists()][::-1]
    made: list[Path] = []
    for directory in missing:
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                exc_text = "a file is in the way"
                break
            continue
        except OSError as exc:
            exc_text = exc.strerror or str(exc)
            break
        made.append(directory)
    else:
        if run_dir.is_dir():
            return made
        directory, exc_text = run_dir, "not a directory"
    for done in reversed(made):
        with contextlib.suppress(OSError):
            done.rmdir()
    raise RunDirError(f"{run_dir}: cannot create the run directory ({directory}: {exc_text})")


@contextlib.contextmanager
def claim_run_dir(run_dir: Path) -> Iterator[RunLock]:
    """Make ``run_dir`` (and its parents), lock it against other writers,
    check it is empty and yield the lock, which the caller then holds. If the
    body raises, nothing partial stays: the run files it wrote, the lock file
    and the directories made here are removed.

    Example:
        >>> import tempfile
        >>> run_dir = Path(tempfile.mkdtemp()) / "a" / "run"
        >>> try:
        ...     with claim_run_dir(run_dir) as lock:
        ...         _ = (run_dir / CONFIG_FILE).write_text("oops")
        ...         raise ValueError("the domain refused")
        ... except ValueError:
        ...     run_dir.parent.exists()
        False
    """
    created = _make_dirs(run_dir)
    lock: RunLock | None = None
    owned = False  # True once this call may remove what is in run_dir
    try:
        lock = RunLock.acquire(run_dir)
        check_empty(run_dir)  # again, now that no other writer can start here
        owned = True
        yield lock
    except BaseException:
        if owned:
            for name in _RUN_FILES:
                with contextlib.suppress(OSError):
                    (run_dir / name).unlink(missing_ok=True)
        if lock is not None:
            lock.release()
            if owned:
                with contextlib.suppress(OSError):
                    (run_dir / LOCK_FILE).unlink(missing_ok=True)
        for directory in reversed(created):
            with contextlib.suppress(OSError):  # not empty: not only ours
                directory.rmdir()
        raise


# -- the config a run started with ---------------------------------------------------


def resolved_table(config: ExperimentConfig, setup: DomainSetup) -> dict[str, Any]:
    """The resolved config exactly as ``config.toml`` holds it (TOML types)."""
    return tomllib.loads(config.resolved_toml(setup.resolved_config))


def config_fingerprint(resolved: Mapping[str, Any]) -> str:
    """sha256 of a resolved config in canonical form (sorted keys, compact JSON).

    Example:
        >>> config_fingerprint({"run": {"seed": 1}}) == config_fingerprint({"run": {"seed": 1}})
        True
    """
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(dotted key, old value, new value)`` for every leaf that differs;
    a missing side is `_ABSENT`."""
    a, b = _flatten(old), _flatten(new)
    return [
        (key, a.get(key, _ABSENT), b.get(key, _ABSENT))
        for key in sorted(a.keys() | b.keys())
        if a.get(key, _ABSENT) != b.get(key, _ABSENT)
    ]


def _show(value: Any) -> str:
    return "(absent)" if value is _ABSENT else json.dumps(value)


def _describe_changes(changes: list[tuple[str, Any, Any]]) -> str:
    return ", ".join(f"{key} {_show(old)} -> {_show(new)}" for key, old, new in changes)


def plain_changes(changes: list[tuple[str, Any, Any]]) -> dict[str, list[Any]]:
    """``{dotted key: [old, new]}`` as JSON can hold it (a missing side: None)."""
    return {
        key: [None if old is _ABSENT else old, None if new is _ABSENT else new]
        for key, old, new in changes
    }


def check_config(
    store: RunStore,
    config_path: Path,
    resolved: dict[str, Any],
    overrides: Mapping[str, Any],
    accept: bool,
) -> list[tuple[str, Any, Any]] | None:
    """Compare the config `resume` would run with to the one the run was
    started with (in the store's meta). None: unchanged. Otherwise the
    accepted changes (``[]``: only keys a newer evoforge filled in, or a store
    from before fingerprints), which become the run's config; unsafe or
    unaccepted changes raise `ConfigChangedError`."""
    meta = store.meta()
    old = meta.get("config")
    if meta.get("config_fingerprint") is None or not isinstance(old, dict):
        return []  # written before fingerprints were stored: record this one
    if meta["config_fingerprint"] == config_fingerprint(resolved):
        return None
    changes = config_changes(old, resolved)
    # A key the run's config lacks and config.toml does not set was filled in
    # with its default by a newer evoforge: not an edit.
    written = _flatten(tomllib.loads(config_path.read_text()))
    changes = [
        c
        for c in changes
        if not (c[1] is _ABSENT and c[0] not in written and c[0] not in overrides)
    ]
    unsafe = [c for c in changes if c[0] not in SAFE_CONFIG_KEYS]
    safe = [c for c in changes if c[0] in SAFE_CONFIG_KEYS and c[0] not in overrides]
    run_dir = config_path.parent
    if unsafe:
        also = (
            f" (the other changes, {_describe_changes(safe)}, could continue with"
            " --accept-config-changes)"
            if safe
            else ""
        )
        raise ConfigChangedError(
            f"{config_path}: changed since the run started: {_describe_changes(unsafe)};"
            " the checkpoint (population, strategy, random state) belongs to the old"
            f" values, so the run cannot continue with these: put them back, or start a"
            f" new run with `evoforge run`{also}",
            changes,
            [c[0] for c in unsafe],
        )
    if safe and not accept:
        raise ConfigChangedError(
            f"{config_path}: changed since the run started: {_describe_changes(safe)};"
            f" to continue with these, run `evoforge resume {run_dir} --accept-config-changes`"
            " (or put them back)",
            changes,
            [],
        )
    return changes


# -- the checkpoint ------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_pending(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("genome"), str)
        and (value.get("parent_id") is None or _is_int(value.get("parent_id")))
    )


# What every checkpoint holds, checked before any of it is used: a tampered
# checkpoint is reported as such, not as a KeyError deep in a strategy.
_STATE_CHECKS: dict[str, tuple[str, Any]] = {
    "counters": (
        "a table of integers",
        lambda v: (
            isinstance(v, dict)
            and all(_is_int(v.get(k)) for k in ("cost", "fec_hits", "early_stopped", "errors"))
        ),
    ),
    "rng": ("a generator state table", lambda v: isinstance(v, dict)),
    "best": ("an id or null", lambda v: v is None or _is_int(v)),
    "best_select": ("a number or null", lambda v: v is None or _is_number(v)),
    "max_select": ("a number or null", lambda v: v is None or _is_number(v)),
    "elapsed": ("a number", _is_number),
    "pending": (
        "a list of candidates",
        lambda v: isinstance(v, list) and all(_is_pending(p) for p in v),
    ),
    "strategy": ("a table", lambda v: isinstance(v, dict)),
    "islands": ("a table or null", lambda v: v is None or isinstance(v, dict)),
}


def checkpoint_problem(state: Mapping[str, Any]) -> str | None:
    """What is wrong with a checkpoint's state at its top level, or None.

    Example:
        >>> print(checkpoint_problem({"counters": {"cost": 1}}))
        'counters' is not a table of integers: {"cost": 1}
    """
    for key, (expected, ok) in _STATE_CHECKS.items():
        if key not in state:
            return f"no {key!r}"
        if not ok(state[key]):
            return f"{key!r} is not {expected}: {json.dumps(state[key])[:60]}"
    return None
