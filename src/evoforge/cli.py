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
    $ evoforge run configs/automl_zero/linear.toml --set search.population_size=500 \
          --set 'automl_zero.mutations=["alter_argument"]' --max-seconds 600
    $ evoforge resume runs/lin --max-individuals 200000
    $ evoforge show runs/lin
    $ evoforge show runs/lin --json
    $ evoforge report runs/lin            # runs/lin/report/report.html
    $ evoforge -v run ...                 # log diagnostics (-vv: debug)
    $ evoforge export runs/lin --out evolved.py
    $ evoforge datasets
    $ evoforge strategies
    $ evoforge envs
    $ evoforge replay runs/cartpole --id 12
    $ evoforge agent runs/cartpole --episodes 100 --export best.safetensors
    $ evoforge rerank runs/pangaea --top 10 --runs 2 --model '{name = "mlp", hidden = [64]}'
    $ evoforge final-test runs/pangaea --top 3 --seeds 10
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import signal
import sqlite3
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from evoforge.config import ConfigError, load_config
from evoforge.domains import build_domain
from evoforge.errors import EvoforgeError
from evoforge.evolution.progress import Limits, make_progress
from evoforge.evolution.run import BEST_FILE, CONFIG_FILE, STORE_FILE, Run, RunDirError, RunResult
from evoforge.evolution.store import RunStore, StoreError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

log = logging.getLogger("evoforge")

# Optional dependencies: the importable module -> what installs it.
_EXTRAS = {
    "torch": "evoforge[torch]",
    "sympy": "evoforge[torch]",
    "safetensors": "evoforge[torch]",
    "matplotlib": "evoforge[torch]",
    "ray": "evoforge[ray]",
    "gymnasium": "evoforge[atari]",
    "ale_py": "evoforge[atari]",
}


def install_hint(module: str | None) -> str:
    """How to install an optional dependency, by its (top-level) module name.

    Example:
        >>> install_hint("torch.nn")
        "pip install 'evoforge[torch]'"
        >>> install_hint("pandas")
        'pip install pandas'
    """
    top = (module or "").split(".")[0]
    extra = _EXTRAS.get(top)
    return f"pip install '{extra}'" if extra else f"pip install {top or '<the missing package>'}"


def _with_install_hint(message: str) -> str:
    """``message`` plus how to install the module it says is missing, if any."""
    match = re.search(r"No module named '([\w.]+)'", message)
    if match is None or "pip install" in message:
        return message
    return f"{message} (install it with: {install_hint(match.group(1))})"


class SetOption(argparse.Action):
    """``--set key=value``: the value read as a TOML value (``7``, ``0.5``,
    ``true``, ``"text"``, ``[1, 2]``, ``{ a = 1 }``); a bare word that is not
    TOML (``--set run.backend=processes``) is taken as a string. The options
    collect into one dict of config overrides (benchmarks use it too).

    Example:
        >>> p = argparse.ArgumentParser()
        >>> _ = p.add_argument("--set", dest="overrides", action=SetOption, default={})
        >>> p.parse_args(["--set", "run.seed=3", "--set", "run.backend=serial"]).overrides
        {'run.seed': 3, 'run.backend': 'serial'}
    """

    def __call__(self, parser, namespace, text, option_string=None):  # type: ignore[no-untyped-def]
        key, sep, raw = str(text).partition("=")
        key = key.strip()
        if (
            not sep
            or not key
            or not all(re.fullmatch(r"[A-Za-z0-9_-]+", k) for k in key.split("."))
        ):
            parser.error(f"{option_string}: expected KEY=VALUE with a dotted KEY, got {text!r}")
        try:
            value = tomllib.loads(f"value = {raw.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            if not re.fullmatch(r"[\w.:/+-]+", raw.strip()):
                parser.error(f"{option_string} {key}: {raw!r} is not a TOML value")
            value = raw.strip()
        overrides = dict(getattr(namespace, self.dest, None) or {})
        overrides[key] = value
        setattr(namespace, self.dest, overrides)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


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
    verbosity = argparse.ArgumentParser(add_help=False)
    verbosity.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS,
        help="log diagnostics to standard error (-v: info, -vv: debug)",
    )  # fmt: skip
    parser = argparse.ArgumentParser(
        prog="evoforge",
        description="Discover machine-learning components by evolution.",
        parents=[verbosity],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_parser = commands.add_parser

    def with_verbosity(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return add_parser(name, parents=[verbosity], **kwargs)

    commands.add_parser = with_verbosity  # type: ignore[method-assign]

    run = commands.add_parser("run", help="start an experiment from a TOML config")
    run.add_argument("config", type=Path, help="experiment config (TOML)")
    run.add_argument(
        "--out", type=Path, help="run directory (default: runs/<config name>-<timestamp>)"
    )
    run.add_argument("--seed", type=_seed, help="override run.seed")
    run.add_argument("--workers", type=_positive_int, help="override run.workers")
    run.add_argument("--max-individuals", type=_positive_int, help="override run.max_individuals")
    run.add_argument(
        "--max-seconds", type=_positive_float, help="override run.max_seconds (wall-clock limit)"
    )
    run.add_argument(
        "--set", dest="overrides", action=SetOption, metavar="KEY=VALUE",
        help="override any config key, dotted (search.population_size=500), the value as TOML;"
        " repeatable; validated like the file",
    )  # fmt: skip
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
    show.add_argument(
        "--json", action="store_true", help="print the summary and best genome as one JSON object"
    )

    report = commands.add_parser(
        "report", help="write a run's report: one self-contained HTML page with plots"
    )
    report.add_argument("run_dir", type=Path, help="run directory (finished or still running)")
    report.add_argument(
        "--out", type=Path, help="HTML file to write (default: RUN_DIR/report/report.html)"
    )

    export = commands.add_parser(
        "export",
        help="write a run's best as something to reuse: an AutoML-Zero program as a numpy"
        " module and estimator, an activation as formula, sympy and a PyTorch module, an"
        " architecture as PyTorch source with its weights and a picture, an evolved or"
        " weight-sharing network as safetensors with a PyTorch module that loads it",
    )
    export.add_argument(
        "run_dir",
        type=Path,
        help="run directory of an automl_zero, activations, architectures, weights_ea or"
        " weights_sharing run",
    )
    export.add_argument(
        "--out",
        type=Path,
        help="module file to write (default: standard output); for architectures a directory"
        " for model.py, weights.safetensors and architecture.png, for weights_ea and"
        " weights_sharing one for model.py and weights.safetensors (default: RUN_DIR/export)",
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

    def activation_step(name: str, about: str, top: int, what: str) -> argparse.ArgumentParser:
        step = commands.add_parser(name, help=about)
        step.add_argument("run_dir", type=Path, help="run directory of an activations run")
        step.add_argument("--top", type=_positive_int, default=top, help=f"{what} ({top})")
        step.add_argument("--workers", type=_positive_int, default=1, help="training processes (1)")
        return step

    rerank = activation_step(
        "rerank",
        "an activations run's best distinct functions retrained on the full schedule,"
        " on the search model and any --model (general-function selection); resumable",
        10,
        "functions to rerank",
    )
    rerank.add_argument("--runs", type=_positive_int, default=2, help="trainings per model (2)")
    rerank.add_argument(
        "--model", dest="models", action="append", default=[], metavar="TOML",
        help="another architecture as a TOML inline table, e.g. '{name = \"mlp\"}'; repeatable",
    )  # fmt: skip
    final = activation_step(
        "final-test",
        "after rerank: the best reranked, the general function, ReLU and Swish trained"
        " --seeds times, test accuracy, one-tailed Welch p vs ReLU and Swish, learned parameters;"
        " resumable",
        3,
        "reranked functions",
    )
    final.add_argument("--seeds", type=_positive_int, default=10, help="trainings each (10)")
    final.add_argument(
        "--baseline", dest="baselines", action="append", metavar="FORMULA",
        help="baseline functions (default: relu(x) and swish(x)); repeatable",
    )  # fmt: skip
    strategies = commands.add_parser(
        "strategies", help="list the search strategies with their parameters and defaults"
    )
    strategies.add_argument(
        "--plugins", nargs="+", default=[], metavar="MODULE",
        help="also import these run.plugins modules (their strategies are listed too)",
    )  # fmt: skip
    return parser


def _setup_logging(verbosity: int) -> None:
    """Diagnostics (the `logging` records of evoforge and its dependencies) to
    standard error: warnings by default, info with -v, debug with -vv."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    if verbosity < 2:  # numba's compiler logs pages at debug level
        logging.getLogger("numba").setLevel(max(level, logging.WARNING))


def _announce_compilation() -> None:
    """Say so when numba compiles evoforge's kernels (a minute or two the first
    time; numba caches them on disk, so later runs load them at once). Numba
    fires its compile event only on a cache miss. Covers compilation in this
    process (the serial backend); worker processes compile silently."""
    if "numba" not in sys.modules:  # the domain needs no compiled code
        return
    from numba.core import event

    class Announce(event.Listener):
        said = False

        def on_start(self, ev: event.Event) -> None:
            py_func = getattr(ev.data.get("dispatcher"), "py_func", None)
            module = getattr(py_func, "__module__", "") or ""
            if not Announce.said and module.startswith("evoforge."):
                Announce.said = True
                print(
                    "compiling the interpreter (first run only: numba caches it on disk)...",
                    file=sys.stderr,
                    flush=True,
                )

        def on_end(self, ev: event.Event) -> None:
            pass

    event.register("numba:compile", Announce())


def _cmd_run(args: argparse.Namespace) -> RunResult:
    overrides: dict[str, Any] = dict(args.overrides or {})
    if args.seed is not None:
        overrides["run.seed"] = args.seed
    if args.workers is not None:
        overrides["run.workers"] = args.workers
    if args.max_individuals is not None:
        overrides["run.max_individuals"] = args.max_individuals
    if args.max_seconds is not None:
        overrides["run.max_seconds"] = args.max_seconds
    if overrides:
        log.info("config overrides: %s", overrides)
    config = load_config(args.config, overrides)
    setup = build_domain(config)
    _announce_compilation()
    out = args.out or Path("runs") / f"{args.config.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    progress = make_progress(args.quiet, limits=Limits.of(config.run))
    run = Run.create(out, config, setup=setup, progress=progress)
    print(f"run directory: {out}", file=sys.stderr)
    return run.run()


def _stored_individuals(run_dir: Path) -> int | None:
    """Individuals the run's last checkpoint accounts for (None if unreadable:
    `Run.resume` then reports what is wrong)."""
    from evoforge.api import open_run

    try:
        with open_run(run_dir) as view:
            checkpoint = view.checkpoint()
    except (EvoforgeError, sqlite3.Error, ValueError):
        return None
    return None if checkpoint is None else checkpoint[0]


def _cmd_resume(args: argparse.Namespace) -> RunResult | int:
    if args.max_individuals is not None:
        stored = _stored_individuals(args.run_dir)
        if stored is not None and args.max_individuals <= stored:
            print(
                f"evoforge: error: --max-individuals {args.max_individuals:,} is not above the"
                f" {stored:,} individuals {args.run_dir} already holds; give a larger budget"
                f" (e.g. --max-individuals {2 * stored:,})",
                file=sys.stderr,
            )
            return EXIT_USAGE
    progress = make_progress(args.quiet)
    run = Run.resume(
        args.run_dir,
        max_individuals=args.max_individuals,
        accept_config_changes=args.accept_config_changes,
        progress=progress,
    )
    progress.limits = Limits.of(run.config.run)
    _announce_compilation()
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
        steps = _steps_lines(store, meta)
    except sqlite3.DatabaseError as exc:  # opened, but damaged further in
        raise StoreError(
            f"{store.path}: the store is damaged ({exc}); the rows are intact up to id"
            f" {store.intact_prefix():,}"
        ) from None
    finally:
        store.close()
    if args.json:
        _print_json(run_dir, meta, summary, state, islands, steps)
        return 0
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
    for line in steps:
        console.print(line, markup=False, highlight=False)
    return 0


def _steps_lines(store: RunStore, meta: dict[str, Any]) -> list[str]:
    """The steps run after the search (an activations run's rerank and final test)."""
    if meta.get("domain") != "activations":
        return []
    from evoforge.activations.steps import summary

    return summary(store)


def _finite_or_none(value: Any) -> Any:
    # JSON has no infinities or NaN; a failure's -inf becomes null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _print_json(
    run_dir: Path,
    meta: dict[str, Any],
    summary: dict[str, Any],
    state: dict[str, Any],
    islands: str | None,
    steps: list[str],
) -> None:
    """`show`'s figures as one JSON object on standard output (keys as in the
    table, snake_case; ``best`` is the best individual with its genome text)."""
    from evoforge.api import open_run

    with open_run(run_dir) as view:
        best = view.best()
        new_bests = len(view.events("new_best"))
    n = summary["individuals"]
    doc = {
        "run_dir": str(run_dir),
        "domain": meta.get("domain"),
        "seed": meta.get("seed"),
        "status": meta.get("status"),
        "stop_reason": meta.get("stop_reason"),
        "individuals": n,
        "fec_hits": summary["fec_hits"],
        "fec_hit_rate": summary["fec_hits"] / n if n else None,
        "early_stopped": summary["early_stopped"],
        "errors": summary["errors"],
        "cost": summary["cost"],
        "best_fitness": _finite_or_none(summary["best_fitness"]),
        "best_select": _finite_or_none(state.get("best_select")),
        "max_select": _finite_or_none(state.get("max_select")),
        "elapsed": state.get("elapsed", 0.0),
        "islands": islands,
        "new_bests": new_bests,
        "steps": steps,
        "best": None
        if best is None
        else {
            "id": best.id,
            "fitness": _finite_or_none(best.fitness),
            "parent_id": best.parent_id,
            "mutation": best.mutation,
            "genome": best.genome_text,
        },
    }
    print(json.dumps(doc, indent=2, allow_nan=False))


def _cmd_report(args: argparse.Namespace) -> int:
    from evoforge.report import write_report

    path = write_report(args.run_dir, args.out)
    print(f"wrote {path}", file=sys.stderr)
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


def _cmd_activation_step(args: argparse.Namespace) -> int:
    """``rerank`` and ``final-test``: one JSON line per training, then the summary."""
    from evoforge.activations import steps

    def echo(row: dict[str, Any]) -> None:
        print(json.dumps(row), flush=True)

    if args.command == "rerank":
        models = [steps.parse_model(text) for text in args.models]
        steps.rerank(args.run_dir, args.top, args.runs, models, echo=echo, workers=args.workers)
    else:
        baselines = tuple(args.baselines or steps.BASELINES)
        steps.final_test(
            args.run_dir, args.top, args.seeds, baselines, echo=echo, workers=args.workers
        )
        for path in steps.write_parameter_figures(args.run_dir):
            print(f"wrote {path}", file=sys.stderr)
    store = RunStore.open(args.run_dir / STORE_FILE)
    try:
        print("\n".join(steps.summary(store)), file=sys.stderr)
    finally:
        store.close()
    return 0


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
    if config.run.domain == "activations":  # formula, sympy and a standalone PyTorch module
        from evoforge.activations.export import export_run as export_activation

        out = args.out or run_dir / "export"
        for path in export_activation(run_dir, out, best_path.read_text()):
            print(f"wrote {path}", file=sys.stderr)
        return 0
    if config.run.domain in ("weights_ea", "weights_sharing"):  # safetensors + model.py
        from evoforge.weights.export import export_run as export_network

        out = args.out or run_dir / "export"
        for path in export_network(run_dir, out):
            print(f"wrote {path}", file=sys.stderr)
        return 0
    if config.run.domain != "automl_zero":
        message = (
            "export needs an automl_zero, architectures, activations, weights_ea or"
            f" weights_sharing run, got {config.run.domain!r}"
        )
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


def console() -> NoReturn:
    """The ``evoforge`` console script (and ``python -m evoforge``): `main`,
    then exit with its status."""
    status = main()
    # The command is over: a late Ctrl-C (the second of a quick pair) must not
    # turn its exit status into a death by signal during interpreter shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evoforge`` console script; returns the exit status.

    Example:
        >>> main(["show", "/nonexistent"])  # doctest: +SKIP
        evoforge: error: /nonexistent: no such run directory
        2
    """
    args = _parser().parse_args(argv)
    _setup_logging(getattr(args, "verbose", 0))
    try:
        if args.command == "show":
            return _cmd_show(args)
        if args.command == "report":
            return _cmd_report(args)
        if args.command == "export":
            return _cmd_export(args)
        if args.command == "datasets":
            return _cmd_datasets()
        if args.command == "strategies":
            return _cmd_strategies(args)
        if args.command in ("rerank", "final-test"):
            return _cmd_activation_step(args)
        if args.command in ("envs", "replay", "agent"):
            from evoforge.weights import atari

            if args.command == "envs":
                return atari.cli_envs()
            if args.command == "replay":
                return atari.cli_replay(args.run_dir, args.id, args.strip)
            return atari.cli_agent(args.run_dir, args.id, args.episodes, args.strip, args.export)
        result = _cmd_run(args) if args.command == "run" else _cmd_resume(args)
        if isinstance(result, int):
            return result
        # Inside the try: a second Ctrl-C that lands after the run has
        # checkpointed and restored the default handler still exits with 130.
        return _report(result)
    except EvoforgeError as exc:
        print(f"evoforge: error: {_with_install_hint(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:  # an optional dependency this command needs
        print(
            f"evoforge: error: {args.command} needs {exc.name or 'a module'}, which is not"
            f" installed: {install_hint(exc.name)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:  # before a run started (e.g. loading data) or after it
        print("evoforge: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
