"""The ``evoforge`` command: run, resume and show experiments.

Bad input (missing file, TOML syntax, invalid or unknown config fields,
unknown domain, a directory that is not a run, a damaged store or checkpoint,
a run directory another process is writing, a config edited since the run
started, a full or read-only disk) prints one message naming the file or
field and what was expected, exits with status 2 and writes nothing partial:
every such error is an `evoforge.errors.EvoforgeError`. Ctrl-C (or SIGTERM)
checkpoints and exits with status 130 (143), saying how to resume.

Example:
    $ evoforge run configs/automl_zero/linear.toml --out runs/lin --seed 1
    $ evoforge resume runs/lin --max-individuals 200000
    $ evoforge show runs/lin
    $ evoforge export runs/lin --out evolved.py
    $ evoforge datasets
    $ evoforge strategies
    $ evoforge envs
    $ evoforge replay runs/cartpole --id 12
    $ evoforge agent runs/cartpole --episodes 100 --export best.safetensors
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evoforge.config import ConfigError, load_config
from evoforge.domains import build_domain
from evoforge.errors import EvoforgeError
from evoforge.evolution.progress import make_progress
from evoforge.evolution.run import BEST_FILE, CONFIG_FILE, STORE_FILE, Run, RunDirError, RunResult
from evoforge.evolution.store import RunStore, StoreError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evoforge", description="Discover machine-learning components by evolution."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="start an experiment from a TOML config")
    run.add_argument("config", type=Path, help="experiment config (TOML)")
    run.add_argument(
        "--out", type=Path, help="run directory (default: runs/<config name>-<timestamp>)"
    )
    run.add_argument("--seed", type=_seed, help="override run.seed")
    run.add_argument("--workers", type=_positive_int, help="override run.workers")
    run.add_argument("--max-individuals", type=_positive_int, help="override run.max_individuals")
    run.add_argument("--quiet", action="store_true", help="no progress display")

    resume = commands.add_parser("resume", help="continue a run from its last checkpoint")
    resume.add_argument("run_dir", type=Path, help="run directory")
    resume.add_argument("--max-individuals", type=_positive_int, help="raise run.max_individuals")
    resume.add_argument(
        "--accept-config-changes",
        action="store_true",
        help="continue although config.toml changed, if only the budget, stop conditions,"
        " workers or backend changed (other changes are still refused)",
    )
    resume.add_argument("--quiet", action="store_true", help="no progress display")

    show = commands.add_parser("show", help="print a run's best genome and a summary")
    show.add_argument("run_dir", type=Path, help="run directory")

    export = commands.add_parser(
        "export", help="write a run's best program as a standalone Python module (numpy only)"
    )
    export.add_argument(
        "run_dir", type=Path, help="run directory of an automl_zero or architectures run"
    )
    export.add_argument(
        "--out",
        type=Path,
        help="module file to write (default: standard output); for architectures a directory"
        " for model.py, weights.safetensors and architecture.png (default: RUN_DIR/export)",
    )

    commands.add_parser(
        "datasets", help="list the datasets found on this machine and how to get the others"
    )
    commands.add_parser("envs", help="list the RL environments (Atari games, CartPole) here")
    replay = commands.add_parser(
        "replay", help="play a stored rl_weights episode again from its recorded seeds"
    )
    replay.add_argument("run_dir", type=Path, help="run directory of an rl_weights run")
    replay.add_argument("--id", type=_positive_int, required=True, help="the row to replay")
    replay.add_argument("--strip", type=Path, help="also write a PNG strip of its frames")
    agent = commands.add_parser(
        "agent", help="an rl_weights run's robust best agent: final evaluation, strip, export"
    )
    agent.add_argument("run_dir", type=Path, help="run directory of an rl_weights run")
    agent.add_argument("--id", type=_positive_int, help="this row instead of the final elite")
    agent.add_argument("--episodes", type=int, default=100, help="fixed final episodes (100)")
    agent.add_argument("--strip", type=Path, help="write a PNG strip of one final episode")
    agent.add_argument("--export", type=Path, help="write the weights as safetensors")
    strategies = commands.add_parser(
        "strategies", help="list the search strategies with their parameters and defaults"
    )
    strategies.add_argument(
        "--plugins", nargs="+", default=[], metavar="MODULE",
        help="also import these run.plugins modules (their strategies are listed too)",
    )  # fmt: skip
    return parser


def _cmd_run(args: argparse.Namespace) -> RunResult:
    overrides: dict[str, Any] = {}
    if args.seed is not None:
        overrides["run.seed"] = args.seed
    if args.workers is not None:
        overrides["run.workers"] = args.workers
    if args.max_individuals is not None:
        overrides["run.max_individuals"] = args.max_individuals
    config = load_config(args.config, overrides)
    setup = build_domain(config)
    out = args.out or Path("runs") / f"{args.config.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    run = Run.create(out, config, setup=setup, progress=make_progress(args.quiet))
    print(f"run directory: {out}", file=sys.stderr)
    return run.run()


def _cmd_resume(args: argparse.Namespace) -> RunResult:
    run = Run.resume(
        args.run_dir,
        max_individuals=args.max_individuals,
        accept_config_changes=args.accept_config_changes,
        progress=make_progress(args.quiet),
    )
    print(f"resuming {args.run_dir} at {run.n:,} individuals", file=sys.stderr)
    return run.run()


def _report(result: RunResult) -> int:
    if result.interrupted:
        print(
            f"interrupted after {result.n_individuals:,} individuals (checkpoint saved); "
            f"resume with: evoforge resume {result.run_dir}",
            file=sys.stderr,
        )
        # The shell's convention, 128 + the signal: 130 for Ctrl-C, 143 for SIGTERM.
        return 128 + result.signal if result.signal else EXIT_INTERRUPTED
    best = (
        "no individual"
        if result.best is None
        else (f"best fitness {result.best.fitness:.6g} (id {result.best.id})")
    )
    print(
        f"finished ({result.stop_reason}): {result.n_individuals:,} individuals, {best}; "
        f"see {result.run_dir / BEST_FILE}",
        file=sys.stderr,
    )
    return 0


def _fmt(value: Any, spec: str = ".6g") -> str:
    return "-" if value is None else format(value, spec)


def _cmd_show(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    store = RunStore.open(run_dir / STORE_FILE)
    try:
        meta = store.meta()
        summary = store.summary()
        checkpoint = store.latest_checkpoint()
        state = checkpoint[1] if checkpoint else {}
        islands = _islands_row(store, state.get("islands"))
    except sqlite3.DatabaseError as exc:  # opened, but damaged further in
        raise StoreError(
            f"{store.path}: the store is damaged ({exc}); the rows are intact up to id"
            f" {store.intact_prefix():,}"
        ) from None
    finally:
        store.close()
    console = Console()
    best_path = run_dir / BEST_FILE
    if best_path.is_file():
        console.print(best_path.read_text(), markup=False, highlight=False, end="")
        console.print()
    n = summary["individuals"]
    status = meta.get("status", "?")
    if status == "running":
        status = "running (or stopped abruptly: `evoforge resume` continues it)"
    elif meta.get("stop_reason") not in (None, status):
        status = f"{status} ({meta['stop_reason']})"
    rows = [
        ("domain", str(meta.get("domain", "?"))),
        ("seed", str(meta.get("seed", "?"))),
        ("individuals", f"{n:,}"),
        ("FEC hit rate", f"{summary['fec_hits'] / n:.1%}" if n else "-"),
        ("early stops", f"{summary['early_stopped']:,}"),
        ("errors", f"{summary['errors']:,}"),
        ("cost (work units)", f"{summary['cost']:,}"),
        ("best fitness", _fmt(summary["best_fitness"])),
        ("select fitness of best", _fmt(state.get("best_select"))),
        ("best select fitness", _fmt(state.get("max_select"))),
        ("elapsed", f"{state.get('elapsed', 0.0):,.1f} s"),
        *([("islands", islands)] if islands else []),
        ("status", status),
    ]
    table = Table(title=str(run_dir), show_header=False)
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    return 0


def _islands_row(store: RunStore, islands: dict | None) -> str | None:
    """ "3: P 20/20/20, 1,000/990/1,010 individuals, 18 migrations, 0 restarts"."""
    if not islands:
        return None
    entries = islands["islands"]
    sizes = "/".join(str(len(e["fitness"])) for e in entries)
    per_island = store.count_by_worker()
    counts = "/".join(f"{per_island.get(i, 0):,}" for i in range(len(entries)))
    migrations = len(store.events("migration"))
    restarts = len(store.events("island_restart"))
    return (
        f"{len(entries)}: P {sizes}, {counts} individuals,"
        f" {migrations} migrations, {restarts} restarts"
    )


def _cmd_strategies(args: argparse.Namespace) -> int:
    from evoforge.evolution.strategies import describe_strategies
    from evoforge.evolution.strategies.registry import import_plugins

    import_plugins(args.plugins)
    print(describe_strategies())
    return 0


def _cmd_datasets() -> int:
    from evoforge.data.datasets import DATA_ENV, available_datasets

    print(f"${DATA_ENV}: {os.environ.get(DATA_ENV) or '(not set)'}")
    infos = available_datasets()
    width = max(len(info.name) for info in infos)
    for info in infos:
        if info.available:
            line = f"yes  {info.location or info.how_to_get}"
        elif info.problem:
            line = f"no   {info.problem}; to get it: {info.how_to_get}"
        else:
            line = f"no   {info.how_to_get}"
        print(f"{info.name:<{width}}  {line}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from evoforge.automl_zero.export import config_memory, config_task, export_module
    from evoforge.automl_zero.text import ProgramSyntaxError, from_text

    run_dir: Path = args.run_dir
    config_path, best_path = run_dir / CONFIG_FILE, run_dir / BEST_FILE
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    if not config_path.is_file():
        raise RunDirError(f"{run_dir}: not a run directory (expected {CONFIG_FILE})")
    if not best_path.is_file():
        raise RunDirError(f"{best_path}: missing; the run has no best program yet")
    config = load_config(config_path)
    if config.run.domain == "architectures":  # PyTorch source + weights + picture
        from evoforge.architectures.export import export_run

        out = args.out or run_dir / "export"
        for path in export_run(run_dir, out, dict(config.domain)):
            print(f"wrote {path}", file=sys.stderr)
        return 0
    if config.run.domain != "automl_zero":
        message = f"export needs an automl_zero or architectures run, got {config.run.domain!r}"
        raise ConfigError("run.domain", message, config.source)
    try:
        memory = config_memory(config.domain)
        task = config_task(config.domain)  # the module's estimators refuse the other kind
        program = from_text(best_path.read_text(), memory)
    except ConfigError as exc:  # the domain table is only read here, so name the file
        raise ConfigError(exc.path, exc.message, config.source) from None
    except ProgramSyntaxError as exc:
        raise RunDirError(f"{best_path}: {exc}") from None
    source = export_module(program, memory, task)
    if args.out is None:
        sys.stdout.write(source)
        return 0
    try:
        args.out.write_text(source)
    except OSError as exc:
        print(f"evoforge: error: {args.out}: cannot write: {exc.strerror}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evoforge`` console script; returns the exit status.

    Example:
        >>> main(["show", "/nonexistent"])  # doctest: +SKIP
        evoforge: error: /nonexistent: no such run directory
        2
    """
    args = _parser().parse_args(argv)
    try:
        if args.command == "show":
            return _cmd_show(args)
        if args.command == "export":
            return _cmd_export(args)
        if args.command == "datasets":
            return _cmd_datasets()
        if args.command == "strategies":
            return _cmd_strategies(args)
        if args.command in ("envs", "replay", "agent"):
            from evoforge.weights import atari

            if args.command == "envs":
                return atari.cli_envs()
            if args.command == "replay":
                return atari.cli_replay(args.run_dir, args.id, args.strip)
            return atari.cli_agent(args.run_dir, args.id, args.episodes, args.strip, args.export)
        result = _cmd_run(args) if args.command == "run" else _cmd_resume(args)
    except EvoforgeError as exc:
        print(f"evoforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # before a run started (e.g. loading data) or after it
        print("evoforge: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    return _report(result)
