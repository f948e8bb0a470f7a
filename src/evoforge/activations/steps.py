"""Steps after an activation search: reranking and the final test (dissertation §4.2–4.3).

* `rerank`: the ``top`` best functionally distinct functions of the search are
  each trained ``runs`` times with the full (uncompressed) schedule on every
  architecture in ``models`` (the search's own model first) and scored by
  the mean validation accuracy. The *specialised* ranking uses the search
  model; the *general* function (§4.3.3) is the one with the best mean over
  all the models.
* `final_test`: the ``top`` reranked functions (on the search model), the
  general function and the baselines (ReLU, Swish) on every model, each
  trained with ``seeds`` seeds on the full schedule and measured on the
  held-out test split: mean ± std and the one-tailed Welch p-values that the
  function beats ReLU (as Table 4.2 reports) and Swish on the same model. The learned
  parameter values of every activation site (per layer / channel / neuron)
  are recorded after each training, and `parameter_figure` plots them by
  depth (Figure 4.5's per-location specialisation).

Both steps train in ``workers`` spawned processes when asked (each training
is seeded, so the results do not depend on the worker count). Every training
is one event in the run's store (``rerank_run``, ``final_run``), written as
soon as it ends, so a stopped step resumes where it stopped; the settings are
recorded once (``rerank_plan``, ``final_plan``) and a resumed step must use
the same ones. ``evoforge show`` and ``evoforge report`` read the results from
the store (`summary`).

Example (``evoforge rerank RUN_DIR``, ``evoforge final-test RUN_DIR``)::

    >>> import tempfile, tomllib
    >>> from pathlib import Path
    >>> from evoforge.config import parse_config
    >>> from evoforge.evolution.run import Run
    >>> run_dir = Path(tempfile.mkdtemp()) / "run"
    >>> _ = Run.create(run_dir, parse_config(tomllib.loads(TINY_CONFIG))).run()
    >>> [r.function for r in rerank(run_dir, top=2, runs=1)][:1]  # doctest: +ELLIPSIS
    ['...']
    >>> rows = final_test(run_dir, top=1, seeds=2)
    >>> sorted({r.label for r in rows})
    ['evolved_1', 'relu(x)', 'swish(x)']
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import statistics
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import closing, contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Protocol

from evoforge.activations.evaluator import ActivationEvaluator
from evoforge.activations.graph import parse
from evoforge.activations.module import Activation
from evoforge.activations.selection import one_tailed_welch, top_distinct
from evoforge.config import load_config
from evoforge.domains import build_domain
from evoforge.errors import EvoforgeError
from evoforge.evolution.lock import RunLock
from evoforge.evolution.run import CONFIG_FILE, STORE_FILE
from evoforge.evolution.store import RunStore

BASELINES: tuple[str, ...] = ("relu(x)", "swish(x)")
RERANK_FIRST_SEED = 1000  # rerank seeds differ from the final test's 0, 1, ...
#: A 12-candidate PANGAEA search on 300 digits (an MLP, one epoch), for examples and tests.
TINY_CONFIG = """
[run]
domain = "activations"
seed = 0
max_individuals = 12
workers = 1
backend = "serial"
[search]
strategy = "regularized_evolution"
population_size = 4
tournament_size = 2
mutation_prob = 1.0
[activations]
representation = "pangaea"
n_train = 200
n_val = 100
model = {name = "mlp", hidden = [16]}
train = {epochs = 1, batch_size = 50, lr = 0.05}
"""


class Events(Protocol):
    """What the readers need: a run's stored events of one kind (a `RunStore`,
    or `evoforge.api.RunView` for the report)."""

    def events(self, kind: str | None = None) -> list[dict[str, Any]]: ...


class StepError(EvoforgeError, ValueError):
    """A step that cannot run on this run directory, or was started with other settings."""


@dataclass(frozen=True)
class Reranked:
    """One function's rerank: mean full-schedule validation accuracy per model."""

    function: str
    search_fitness: float
    per_model: tuple[float, ...]

    @property
    def specialised(self) -> float:
        """Score on the search model."""
        return self.per_model[0]

    @property
    def general(self) -> float:
        """Mean score over all models."""
        return statistics.fmean(self.per_model)


@dataclass(frozen=True)
class FinalRow:
    """One function on one model in the final test."""

    label: str
    function: str
    model: int
    test_accuracy: tuple[float, ...]
    p_vs_relu: float | None
    p_vs_swish: float | None = None

    @property
    def mean(self) -> float:
        return statistics.fmean(self.test_accuracy)

    @property
    def std(self) -> float:
        return statistics.stdev(self.test_accuracy) if len(self.test_accuracy) > 1 else 0.0


def parse_model(text: str) -> dict[str, Any]:
    """A model spec written as a TOML inline table (the ``--model`` option).

    Example:
        >>> parse_model('{name = "mlp", hidden = [32]}')
        {'name': 'mlp', 'hidden': [32]}
    """
    try:
        value = tomllib.loads(f"model = {text}")["model"]
    except tomllib.TOMLDecodeError as exc:
        raise StepError(f"--model {text!r}: not a TOML inline table ({exc})") from None
    if not isinstance(value, dict):
        raise StepError(f"--model {text!r}: expected an inline table such as '{{name = \"mlp\"}}'")
    return value


def _evaluator(run_dir: Path) -> ActivationEvaluator:
    """The search's evaluator, rebuilt from the run's stored config."""
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / STORE_FILE).is_file():
        raise StepError(f"{run_dir}: not a run directory (expected {CONFIG_FILE} and {STORE_FILE})")
    cfg = load_config(run_dir / CONFIG_FILE)
    if cfg.run.domain != "activations":
        raise StepError(f"{run_dir}: a {cfg.run.domain} run; these steps need an activations run")
    evaluator = build_domain(cfg).evaluator
    assert isinstance(evaluator, ActivationEvaluator)
    return evaluator


@contextmanager
def _opened(run_dir: Path) -> Iterator[tuple[RunStore, ActivationEvaluator]]:
    """The run's store and evaluator, the directory locked until the step ends:
    a search still running there, or the same step started twice, would
    otherwise write the same trainings twice (`RunLockedError` names the holder)."""
    evaluator = _evaluator(run_dir)
    lock = RunLock.acquire(run_dir)
    try:
        with closing(RunStore.open(run_dir / STORE_FILE)) as store:
            yield store, evaluator
    finally:
        lock.release()


def _plan(store: RunStore, kind: str, plan: dict[str, Any]) -> None:
    """Record the step's settings, or check that a resumed step uses the same."""
    earlier = [
        {k: v for k, v in e.items() if k not in ("time", "kind")} for e in store.events(kind)
    ]
    if not earlier:
        store.record(kind, plan)
    elif earlier[0] != plan:
        diff = {k: (earlier[0].get(k), plan.get(k)) for k in plan if earlier[0].get(k) != plan[k]}
        raise StepError(
            f"{store.path}: this step was started with other settings; (stored, given): {diff}."
            " Resume it with the stored settings"
        )


def _model_with(evaluator: ActivationEvaluator, model: Mapping[str, Any]) -> ActivationEvaluator:
    other = copy.copy(evaluator)
    other.model = dict(model)
    try:
        other.build(parse("relu(x)"))
    except (ValueError, TypeError) as exc:
        raise StepError(f"model {dict(model)}: cannot be built ({exc})") from None
    return other


def _on_models(
    evaluator: ActivationEvaluator, specs: Sequence[Mapping[str, Any]]
) -> list[ActivationEvaluator]:
    """One evaluator per model spec; the first spec is the search's own model."""
    return [evaluator] + [_model_with(evaluator, m) for m in specs[1:]]


def _learned(model: Any) -> dict[str, list[list[float]]]:
    """Every activation site's learned parameters, in model order: name -> one
    flat list of values per parameter (per layer: one value; per channel: one
    per channel)."""
    return {
        name: [w.detach().flatten().cpu().tolist() for w in module.weights]
        for name, module in model.named_modules()
        if isinstance(module, Activation) and module.weights
    }


def _train(
    evaluator: ActivationEvaluator, function: str, seed: int, record_params: bool
) -> dict[str, Any]:
    full = dataclasses.replace(evaluator.train_config, compress=1.0)  # the uncompressed schedule
    t0 = time.perf_counter()
    model, r = evaluator.train_model(parse(function), seed=seed, config=full)
    bad = r.diverged or not math.isfinite(r.val_loss)
    out = {
        "val_accuracy": 0.0 if bad or r.val_accuracy is None else float(r.val_accuracy),
        "test_accuracy": 0.0 if bad or r.test_accuracy is None else float(r.test_accuracy),
        "diverged": bool(bad),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if record_params:
        out["params"] = _learned(model)
    return out


def _runs(store: RunStore, kind: str) -> dict[tuple[str, int, int], dict[str, Any]]:
    return {(e["function"], e["model"], e["seed"]): e for e in store.events(kind)}


Job = tuple[str, int, int]  # (function, model index, seed)
_worker_evaluators: list[ActivationEvaluator] = []


def _start_worker(run_dir: Path, specs: list[dict[str, Any]]) -> None:
    # Each worker rebuilds the evaluators (and loads the data) once, rather
    # than receiving them pickled with every training.
    _worker_evaluators[:] = _on_models(_evaluator(run_dir), specs)


def _train_in_worker(job: Job, record_params: bool) -> dict[str, Any]:
    function, m, seed = job
    return _train(_worker_evaluators[m], function, seed, record_params)


def _trainings(
    run_dir: Path,
    evaluators: list[ActivationEvaluator],
    specs: list[dict[str, Any]],
    jobs: list[Job],
    record_params: bool,
    workers: int,
) -> Iterator[tuple[Job, dict[str, Any]]]:
    """Every job trained, yielded as it ends: here, or in ``workers`` spawned
    processes (spawn, so torch and CUDA start clean in them). Leaving early
    (an interruption) cancels the trainings not yet started."""
    if workers <= 1 or len(jobs) < 2:
        for job in jobs:
            function, m, seed = job
            yield job, _train(evaluators[m], function, seed, record_params)
        return
    with ProcessPoolExecutor(
        min(workers, len(jobs)),
        mp_context=get_context("spawn"),
        initializer=_start_worker,
        initargs=(run_dir, specs),
    ) as pool:
        futures = {pool.submit(_train_in_worker, job, record_params): job for job in jobs}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def rerank(
    run_dir: str | Path,
    top: int = 10,
    runs: int = 2,
    models: Sequence[Mapping[str, Any]] = (),
    echo: Callable[[dict[str, Any]], None] | None = None,
    workers: int = 1,
) -> list[Reranked]:
    """Rerank the search's best functions (module docs); ``models`` are the extra
    architectures for general-function selection, ``workers`` the processes
    that train. Resumable: trainings already in the store are not repeated.
    Returns the functions, best specialised first.
    """
    if top < 1 or runs < 1 or workers < 1:
        raise StepError(
            f"rerank: top, runs and workers must be >= 1, got {top}, {runs} and {workers}"
        )
    run_dir = Path(run_dir)
    with _opened(run_dir) as (store, evaluator):
        specs = [evaluator.model, *map(dict, models)]
        evaluators = _on_models(evaluator, specs)
        candidates = top_distinct(run_dir, top)
        if not candidates:
            raise StepError(f"{run_dir}: no error-free individual to rerank yet")
        _plan(store, "rerank_plan", {"top": top, "runs": runs, "models": specs})
        done = _runs(store, "rerank_run")
        fitness = dict(candidates)
        jobs = [
            (function, m, seed)
            for function in fitness
            for m in range(len(specs))
            for seed in range(RERANK_FIRST_SEED, RERANK_FIRST_SEED + runs)
            if (function, m, seed) not in done
        ]
        for (function, m, seed), trained in _trainings(
            run_dir, evaluators, specs, jobs, False, workers
        ):
            del trained["test_accuracy"]  # the rerank selects on validation only
            row = {"function": function, "search_fitness": fitness[function], "model": m,
                   "seed": seed, **trained}  # fmt: skip
            store.record("rerank_run", row)
            if echo is not None:
                echo({"step": "rerank", **row})
        return reranked(store)


def reranked(store: Events) -> list[Reranked]:
    """The stored rerank, best specialised first (empty before `rerank`)."""
    plans = store.events("rerank_plan")
    if not plans:
        return []
    n_models = len(plans[0]["models"])
    # Keyed by seed, so a training stored twice counts once.
    scores: dict[str, dict[int, dict[int, float]]] = {}
    fitness: dict[str, float] = {}
    for e in store.events("rerank_run"):
        per_model = scores.setdefault(e["function"], {}).setdefault(e["model"], {})
        per_model[e["seed"]] = e["val_accuracy"]
        fitness[e["function"]] = e["search_fitness"]
    out = [
        Reranked(f, fitness[f], tuple(statistics.fmean(per[m].values()) for m in range(n_models)))
        for f, per in scores.items()
        if len(per) == n_models
    ]
    return sorted(out, key=lambda r: (-r.specialised, -r.search_fitness, r.function))


def _finalists(
    ranked: list[Reranked], top: int, n_models: int, baselines: Sequence[str]
) -> list[tuple[str, str, tuple[int, ...]]]:
    """(label, function, models) to test: baselines and the general function on
    every model, the specialised ones on the search model."""
    every = tuple(range(n_models))
    out = [(b, b, every) for b in baselines]
    out += [(f"evolved_{i + 1}", r.function, (0,)) for i, r in enumerate(ranked[:top])]
    if n_models > 1:
        best = max(ranked, key=lambda r: (r.general, r.specialised))
        out.append(("general", best.function, every))
    return out


def final_test(
    run_dir: str | Path,
    top: int = 3,
    seeds: int = 10,
    baselines: Sequence[str] = BASELINES,
    record_params: bool = True,
    echo: Callable[[dict[str, Any]], None] | None = None,
    workers: int = 1,
) -> list[FinalRow]:
    """The final test (module docs), after `rerank`, trained by ``workers``
    processes; resumable. Returns one row per function and model, baselines
    first."""
    if top < 1 or seeds < 1 or workers < 1:
        raise StepError(
            f"final test: top, seeds and workers must be >= 1, got {top}, {seeds} and {workers}"
        )
    if "relu(x)" not in baselines:  # the reference of the p-values
        raise StepError(
            "final test: the baselines must include relu(x), the reference of the p-values"
        )
    run_dir = Path(run_dir)
    with _opened(run_dir) as (store, evaluator):
        ranked = reranked(store)
        plans = store.events("rerank_plan")
        if not ranked:
            raise StepError(f"{run_dir}: no finished rerank; run `evoforge rerank {run_dir}` first")
        specs = plans[0]["models"]
        evaluators = _on_models(evaluator, specs)
        finalists = _finalists(ranked, top, len(specs), baselines)
        listed = [[label, function, list(on)] for label, function, on in finalists]
        plan = {"top": top, "seeds": seeds, "baselines": list(baselines)}
        _plan(store, "final_plan", {**plan, "record_params": record_params, "finalists": listed})
        done = _runs(store, "final_run")
        # A function listed twice is trained once, under its first label.
        labels: dict[Job, str] = {}
        for label, function, on in finalists:
            for m in on:
                for seed in range(seeds):
                    if (function, m, seed) not in done:
                        labels.setdefault((function, m, seed), label)
        for job, trained in _trainings(
            run_dir, evaluators, specs, list(labels), record_params, workers
        ):
            function, m, seed = job
            row = {"label": labels[job], "function": function, "model": m, "seed": seed,
                   **trained}  # fmt: skip
            store.record("final_run", row)
            if echo is not None:
                echo({"step": "final", **{k: v for k, v in row.items() if k != "params"}})
        return final_rows(store)


def final_rows(store: Events) -> list[FinalRow]:
    """The stored final test, one row per finalist and model (a function that is
    two finalists, say the best specialised and the general one, is trained
    once), accuracies in seed order, with one-tailed p-values against ReLU and
    Swish on the same model (None against itself, without that baseline, or
    without spread)."""
    plans = store.events("final_plan")
    if not plans:
        return []
    runs: dict[tuple[str, int], dict[int, float]] = {}
    for e in store.events("final_run"):
        runs.setdefault((e["function"], e["model"]), {})[e["seed"]] = e["test_accuracy"]

    def accuracies(function: str, m: int) -> list[float]:
        by_seed = runs.get((function, m), {})
        return [by_seed[seed] for seed in sorted(by_seed)]

    def p_against(accs: list[float], function: str, baseline: str, m: int) -> float | None:
        reference = accuracies(baseline, m)
        if function == baseline or not reference:
            return None
        p = one_tailed_welch(accs, reference)
        return None if math.isnan(p) else p

    out = []
    for label, function, models in plans[0]["finalists"]:
        for m in models:
            accs = accuracies(function, m)
            if accs:
                p_relu = p_against(accs, function, "relu(x)", m)
                p_swish = p_against(accs, function, "swish(x)", m)
                out.append(FinalRow(label, function, m, tuple(accs), p_relu, p_swish))
    return out


def summary(store: Events) -> list[str]:
    """Plain lines describing the stored steps, for ``evoforge show`` (empty if none).

    Example:
        >>> summary.__name__
        'summary'
    """
    lines = []
    ranked = reranked(store)
    if ranked:
        models = store.events("rerank_plan")[0]["models"]
        lines.append(f"rerank: {len(ranked)} functions on {len(models)} model(s)")
        for r in ranked:
            per = ", ".join(f"{v:.4f}" for v in r.per_model)
            lines.append(f"  {r.specialised:.4f} (models: {per}; search {r.search_fitness:.4f})"
                         f"  {r.function}")  # fmt: skip
    for t in final_rows(store):
        p = "".join(
            f", p vs {name} {value:.3g}"
            for name, value in (("ReLU", t.p_vs_relu), ("Swish", t.p_vs_swish))
            if value is not None
        )
        lines.append(
            f"final test {t.label} on model {t.model}: {t.mean:.4f} ± {t.std:.4f}"
            f" over {len(t.test_accuracy)} seeds{p}  {t.function}"
        )
    return lines


def learned_parameters(store: Events) -> dict[tuple[str, int], dict[str, list[list[float]]]]:
    """(function, model) -> the learned parameters of its final test's first
    seed (site name -> values per parameter), for functions with parameters."""
    out: dict[tuple[str, int], dict[str, list[list[float]]]] = {}
    for e in sorted(store.events("final_run"), key=lambda e: e["seed"]):
        if e.get("params") and (e["function"], e["model"]) not in out:
            out[(e["function"], e["model"])] = e["params"]
    return out


def parameter_figure(params: Mapping[str, list[list[float]]], title: str) -> bytes:
    """PNG: each learned parameter's values by activation site, input to output
    (every channel a dot, the mean a line), as Figure 4.5 shows them.

    Example:
        >>> png = parameter_figure({"a.0": [[1.0, 1.2]], "b.0": [[0.8, 0.9]]}, "alpha*x")
        >>> png[:4] == b"\\x89PNG"
        True
    """
    from evoforge.activations.formula import param_name
    from evoforge.report.plots import figure_png

    sites = list(params)
    n_params = max(len(v) for v in params.values())

    def draw(fig: Any) -> None:
        for i in range(n_params):
            ax = fig.add_subplot(1, n_params, i + 1)
            means = []
            for depth, site in enumerate(sites):
                values = params[site][i] if i < len(params[site]) else []
                ax.scatter([depth] * len(values), values, s=6, alpha=0.5, color="#1f5fa8")
                means.append(statistics.fmean(values) if values else math.nan)
            ax.plot(range(len(sites)), means, color="#c0392b", lw=1.5, label="mean")
            ax.axhline(1.0, color="#999", lw=0.6)  # the initial value
            ax.set_xlabel("activation site (input to output)")
            ax.set_ylabel(f"learned {param_name(i)}")
        fig.suptitle(title if len(title) < 70 else title[:67] + "...", fontsize=9)

    return figure_png(draw, (4.0 * n_params + 1.0, 3.4))


def write_parameter_figures(run_dir: str | Path) -> list[Path]:
    """``report/params_<label>_model<m>.png`` for every tested function with
    parameters (its first label); returns the paths written."""
    run_dir = Path(run_dir)
    store = RunStore.open(run_dir / STORE_FILE)
    with closing(store):
        found = learned_parameters(store)
        labels: dict[tuple[str, int], str] = {}
        for row in final_rows(store):
            labels.setdefault((row.function, row.model), row.label)
    out = []
    for (function, m), params in found.items():
        name = re.sub(r"[^A-Za-z0-9_]+", "_", labels.get((function, m), "function")).strip("_")
        path = run_dir / "report" / f"params_{name}_model{m}.png"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(parameter_figure(params, function))
        out.append(path)
    return out
