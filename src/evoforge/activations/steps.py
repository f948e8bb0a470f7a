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
  held-out test split: mean ± std and the one-tailed Welch p-value that the
  function beats ReLU on the same model, as Table 4.2 reports. The learned
  parameter values of every activation site (per layer / channel / neuron)
  are recorded after each training, and `parameter_figure` plots them by
  depth (Figure 4.5's per-location specialisation).

Every training is one event in the run's store (``rerank_run``,
``final_run``), written as soon as it ends, so a stopped step resumes where it
stopped; the settings are recorded once (``rerank_plan``, ``final_plan``) and
a resumed step must use the same ones. ``evoforge show`` and ``evoforge
report`` read the results from the store (`summary`).

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
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from evoforge.activations.evaluator import ActivationEvaluator
from evoforge.activations.graph import parse
from evoforge.activations.module import Activation
from evoforge.activations.selection import one_tailed_welch, top_distinct
from evoforge.config import load_config
from evoforge.domains import build_domain
from evoforge.errors import EvoforgeError
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


def _open(run_dir: Path) -> tuple[RunStore, ActivationEvaluator]:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file() or not (run_dir / STORE_FILE).is_file():
        raise StepError(f"{run_dir}: not a run directory (expected {CONFIG_FILE} and {STORE_FILE})")
    cfg = load_config(run_dir / CONFIG_FILE)
    if cfg.run.domain != "activations":
        raise StepError(f"{run_dir}: a {cfg.run.domain} run; these steps need an activations run")
    evaluator = build_domain(cfg).evaluator
    assert isinstance(evaluator, ActivationEvaluator)
    return RunStore.open(run_dir / STORE_FILE), evaluator


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


def rerank(
    run_dir: str | Path,
    top: int = 10,
    runs: int = 2,
    models: Sequence[Mapping[str, Any]] = (),
    echo: Callable[[dict[str, Any]], None] | None = None,
) -> list[Reranked]:
    """Rerank the search's best functions (module docs); ``models`` are the extra
    architectures for general-function selection. Resumable: trainings already
    in the store are not repeated. Returns the functions, best specialised first.
    """
    if top < 1 or runs < 1:
        raise StepError(f"rerank: top and runs must be >= 1, got {top} and {runs}")
    store, evaluator = _open(Path(run_dir))
    with closing(store):
        specs = [evaluator.model, *map(dict, models)]
        evaluators = [evaluator] + [_model_with(evaluator, m) for m in specs[1:]]
        candidates = top_distinct(Path(run_dir), top)
        if not candidates:
            raise StepError(f"{run_dir}: no error-free individual to rerank yet")
        _plan(store, "rerank_plan", {"top": top, "runs": runs, "models": specs})
        done = _runs(store, "rerank_run")
        for function, fitness in candidates:
            for m, ev in enumerate(evaluators):
                for seed in range(RERANK_FIRST_SEED, RERANK_FIRST_SEED + runs):
                    if (function, m, seed) in done:
                        continue
                    trained = _train(ev, function, seed, record_params=False)
                    del trained["test_accuracy"]  # the rerank selects on validation only
                    row = {"function": function, "search_fitness": fitness, "model": m,
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
    scores: dict[str, dict[int, list[float]]] = {}
    fitness: dict[str, float] = {}
    for e in store.events("rerank_run"):
        scores.setdefault(e["function"], {}).setdefault(e["model"], []).append(e["val_accuracy"])
        fitness[e["function"]] = e["search_fitness"]
    out = [
        Reranked(f, fitness[f], tuple(statistics.fmean(per[m]) for m in range(n_models)))
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
) -> list[FinalRow]:
    """The final test (module docs), after `rerank`; resumable. Returns one row
    per function and model, baselines first."""
    if top < 1 or seeds < 1:
        raise StepError(f"final test: top and seeds must be >= 1, got {top} and {seeds}")
    if "relu(x)" not in baselines:  # the reference of the p-values
        raise StepError(
            "final test: the baselines must include relu(x), the reference of the p-values"
        )
    store, evaluator = _open(Path(run_dir))
    with closing(store):
        ranked = reranked(store)
        plans = store.events("rerank_plan")
        if not ranked:
            raise StepError(f"{run_dir}: no finished rerank; run `evoforge rerank {run_dir}` first")
        specs = plans[0]["models"]
        evaluators = [evaluator] + [_model_with(evaluator, m) for m in specs[1:]]
        finalists = _finalists(ranked, top, len(specs), baselines)
        listed = [[label, function, list(on)] for label, function, on in finalists]
        plan = {"top": top, "seeds": seeds, "baselines": list(baselines)}
        _plan(store, "final_plan", {**plan, "record_params": record_params, "finalists": listed})
        done = _runs(store, "final_run")
        for label, function, on in finalists:
            for m in on:
                for seed in range(seeds):
                    if (function, m, seed) in done:
                        continue
                    row = {"label": label, "function": function, "model": m, "seed": seed,
                           **_train(evaluators[m], function, seed, record_params)}  # fmt: skip
                    store.record("final_run", row)
                    done[(function, m, seed)] = row
                    if echo is not None:
                        echo({"step": "final", **{k: v for k, v in row.items() if k != "params"}})
        return final_rows(store)


def final_rows(store: Events) -> list[FinalRow]:
    """The stored final test, one row per finalist and model (a function that is
    two finalists, say the best specialised and the general one, is trained
    once), with p-values against ReLU on the same model (None for ReLU itself,
    or without spread)."""
    plans = store.events("final_plan")
    if not plans:
        return []
    runs: dict[tuple[str, int], dict[int, float]] = {}
    for e in store.events("final_run"):
        runs.setdefault((e["function"], e["model"]), {})[e["seed"]] = e["test_accuracy"]
    out = []
    for label, function, models in plans[0]["finalists"]:
        for m in models:
            accs = list(runs.get((function, m), {}).values())
            if not accs:
                continue
            relu = list(runs.get(("relu(x)", m), {}).values())
            p = None if label == "relu(x)" else one_tailed_welch(accs, relu)
            out.append(
                FinalRow(label, function, m, tuple(accs), None if p is None or math.isnan(p) else p)
            )
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
        p = "" if t.p_vs_relu is None else f", p vs ReLU {t.p_vs_relu:.3g}"
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
