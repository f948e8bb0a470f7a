"""Build a run's report: one self-contained HTML page (inline CSS, PNG plots as
base64 data URIs, no script, nothing fetched), readable offline.

It reads the run directory read-only (`evoforge.api.open_run`), so it works
on a finished run and on one still being written (showing what the last
checkpoint committed). Sections: config and status; best and population
median fitness against individuals and against run time; FEC hit rate and
early stops (hurdles, quality gates) and failures over time; mutation types
and how often each improved on its parent; islands and migrations where there
are islands; the best genome as its domain shows it (`report.genomes`).

Example:
    >>> path = write_report("runs/demo")  # doctest: +SKIP
    >>> path  # doctest: +SKIP
    PosixPath('runs/demo/report/report.html')
"""

from __future__ import annotations

import base64
import html
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.api import RunView, open_run
from evoforge.report.genomes import RenderedGenome, render_genome
from evoforge.report.plots import figure_png

REPORT_DIR, REPORT_FILE = "report", "report.html"
_DEFAULT_POPULATION = 100
_MEDIAN_POINTS = 400  # sliding-window medians drawn per curve
_RATE_BINS = 50

_CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em;
     border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #eee; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f7f9; padding: 0.8em; overflow-x: auto; font-size: 13px;
      border-radius: 4px; }
figure { margin: 1em 0; } figcaption { color: #555; font-size: 0.9em; }
img { max-width: 100%; height: auto; }
.muted { color: #666; } .status { font-weight: bold; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, spec: str = ".6g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None) -> str:
    out = ["<table>"]
    if header:
        cells = "".join(
            f"<th{' class=num' if i else ''}>{_e(h)}</th>" for i, h in enumerate(header)
        )
        out.append(f"<tr>{cells}</tr>")
    for row in rows:
        cells = "".join(f"<td{' class=num' if i else ''}>{_e(c)}</td>" for i, c in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def _img(png: bytes, alt: str, caption: str = "") -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def _elapsed(created: np.ndarray, events: list[dict[str, Any]]) -> np.ndarray:
    """Run time (s) at which each individual was stored: wall time since its
    session's ``start`` plus the earlier sessions' lengths (pauses between
    sessions excluded)."""
    starts = np.array([e["time"] for e in events if e["kind"] == "start"])
    if not len(created):
        return np.zeros(0)
    if not len(starts):
        return created - created[0]
    stops = sorted(e["time"] for e in events if e["kind"] == "stop")
    session = np.clip(np.searchsorted(starts, created, side="right") - 1, 0, None)
    offsets = np.zeros(len(starts))
    for j in range(1, len(starts)):
        ended = [t for t in stops if starts[j - 1] <= t <= starts[j]]
        last = created[session == j - 1]
        end = ended[0] if ended else (last.max() if len(last) else starts[j - 1])
        offsets[j] = offsets[j - 1] + max(0.0, end - starts[j - 1])
    return offsets[session] + np.maximum(0.0, created - starts[session])


class _Data:
    """The run's numbers, read once."""

    def __init__(self, view: RunView) -> None:
        self.view = view
        self.meta = view.meta()
        self.config = view.config
        self.summary = view.summary()
        checkpoint = view.checkpoint()
        self.state = checkpoint[1] if checkpoint else {}
        self.events = view.events()
        self.a = view.arrays()
        self.n = len(self.a["id"])
        self.valid = ~self.a["error"]
        fitness = np.where(self.valid, self.a["fitness"], -np.inf)
        self.best_so_far = np.maximum.accumulate(fitness) if self.n else fitness
        self.elapsed = _elapsed(self.a["created"], self.events)
        search = self.config.get("search", {})
        self.population = int(search.get("population_size", _DEFAULT_POPULATION))
        self.islands = int(search.get("islands", {}).get("count", 0) or 0)

    def window_medians(self) -> tuple[np.ndarray, np.ndarray]:
        """(index, median of the valid fitness of the last ``population``
        individuals up to it): the population under regularized evolution."""
        n = self.n
        points = np.unique(np.linspace(0, n - 1, min(n, _MEDIAN_POINTS)).astype(int))
        fitness, valid = self.a["fitness"], self.valid
        medians = np.full(len(points), np.nan)
        for k, i in enumerate(points):
            lo = max(0, i - self.population + 1)
            window = fitness[lo : i + 1][valid[lo : i + 1]]
            if len(window):
                medians[k] = np.median(window)
        return points, medians

    def best_steps(self) -> np.ndarray:
        """Indices where the best-so-far changes, plus the last one."""
        best = self.best_so_far
        finite = np.isfinite(best)
        changes = np.flatnonzero(finite[1:] & (best[1:] != best[:-1])) + 1
        first = np.flatnonzero(finite)[:1]
        return np.unique(np.concatenate([first, changes, [self.n - 1]]))


def _fitness_figure(d: _Data, against_time: bool) -> bytes:
    steps = d.best_steps()
    points, medians = d.window_medians()
    x_all = d.elapsed if against_time else d.a["id"].astype(float)

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        best = d.best_so_far[steps]
        ok = np.isfinite(best)
        ax.step(x_all[steps][ok], best[ok], where="post", color="#c0392b", lw=2, label="best")
        ax.plot(x_all[points], medians, color="#2e6da4", lw=1.2,
                label=f"median of the last {d.population:,}")  # fmt: skip
        ax.set_xlabel("run time (s)" if against_time else "individuals evaluated")
        ax.set_ylabel("fitness")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)

    return figure_png(draw)


def _rates_figure(d: _Data) -> bytes:
    edges = np.unique(np.linspace(0, d.n, min(_RATE_BINS, d.n) + 1).astype(int))
    lo, hi = edges[:-1], edges[1:]
    size = np.maximum(hi - lo, 1)

    def share(flags: np.ndarray) -> np.ndarray:
        cumulative = np.concatenate([[0], np.cumsum(flags)])
        return (cumulative[hi] - cumulative[lo]) / size

    x = d.elapsed[np.maximum(hi - 1, 0)]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ax.plot(x, 100 * share(d.a["fec_hit"]), label="FEC hits", color="#2e6da4")
        ax.plot(x, 100 * share(d.a["early_stopped"]), label="early stops (hurdle, quality gate)",
                color="#e67e22")  # fmt: skip
        ax.plot(x, 100 * share(d.a["error"]), label="failures", color="#7f7f7f", ls="--")
        ax.set_xlabel("run time (s)")
        ax.set_ylabel(f"% of individuals (in {len(lo)} bins)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)

    return figure_png(draw)


def _mutation_rows(d: _Data) -> list[tuple[str, int, int, float | None]]:
    """(mutation, children, improved on their parent, share improved)."""
    a = d.a
    parent = a["parent_id"]
    has_parent = (parent >= 1) & (parent <= d.n)
    parent_fitness = np.full(d.n, -np.inf)
    parent_fitness[has_parent] = a["fitness"][parent[has_parent] - 1]
    improved = has_parent & d.valid & (a["fitness"] > parent_fitness)
    rows = []
    names = [*a["mutation_names"], None]
    for code, name in enumerate(names):
        mask = a["mutation"] == (code if name is not None else -1)
        count = int(mask.sum())
        if not count:
            continue
        better = int((improved & mask).sum())
        label = name if name is not None else "(none: initial or re-evaluation)"
        rows.append((label, count, better, better / count))
    return sorted(rows, key=lambda r: -r[1])


def _mutation_figure(rows: list[tuple[str, int, int, float | None]]) -> bytes:
    def draw(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        names = [r[0] for r in rows]
        y = np.arange(len(rows))
        left.barh(y, [r[1] for r in rows], color="#2e6da4")
        left.set_yticks(y, names, fontsize=8)
        left.invert_yaxis()
        left.set_xlabel("children")
        right.barh(y, [100 * (r[3] or 0) for r in rows], color="#27ae60")
        right.set_yticks(y, [""] * len(rows))
        right.invert_yaxis()
        right.set_xlabel("% better than their parent")

    return figure_png(draw, (7.0, 1.2 + 0.35 * len(rows)))


def _islands_section(d: _Data) -> list[str]:
    plans = {e["island"]: e for e in d.events if e["kind"] == "island"}
    count = max(d.islands, len(plans))
    if not count:
        return []
    migrations = [e for e in d.events if e["kind"] == "migration"]
    restarts = [e for e in d.events if e["kind"] == "island_restart"]
    worker = d.a["worker"]
    rows = []
    for i in range(count):
        mask = worker == i
        fitness = d.a["fitness"][mask & d.valid]
        rows.append((
            f"island {i}",
            _num(plans.get(i, {}).get("population_size")),
            f"{int(mask.sum()):,}",
            _num(float(fitness.max()) if len(fitness) else None),
            sum(1 for e in migrations if e.get("island") == i),
            sum(1 for e in restarts if e.get("island") == i),
        ))  # fmt: skip

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ids = d.a["id"]
        for i in range(count):
            mask = worker == i
            if not mask.any():
                continue
            best = np.maximum.accumulate(np.where(d.valid[mask], d.a["fitness"][mask], -np.inf))
            ok = np.isfinite(best)
            ax.step(ids[mask][ok], best[ok], where="post", lw=1.3, label=f"island {i}")
        ax.set_xlabel("individuals evaluated (all islands)")
        ax.set_ylabel("best fitness on the island")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=min(count, 4))

    header = ["island", "population", "individuals", "best fitness", "migrations", "restarts"]
    return [
        "<h2>Islands</h2>",
        f"<p>{count} islands, {len(migrations):,} migrations (an island sends its best members"
        f" to the next), {len(restarts):,} restarts.</p>",
        _table(rows, header),
        _img(figure_png(draw), "best fitness per island", "best fitness so far on each island"),
    ]


def _genome_section(d: _Data) -> list[str]:
    best = d.view.best()
    if best is None:
        return ["<h2>Best genome</h2>", "<p class=muted>No valid individual yet.</p>"]
    domain = str(d.meta.get("domain", "?"))
    shown: RenderedGenome = render_genome(domain, best.genome_text, d.config.get(domain, {}))
    header = [
        line[1:].strip()
        for line in (d.view.best_text() or "").partition("\n\n")[0].splitlines()
        if line.startswith("#")
    ]
    out = [
        f"<h2>Best genome: {_e(shown.title)}</h2>",
        f"<p>id {best.id:,}, fitness {_num(best.fitness)}"
        + (f", parent {best.parent_id:,}" if best.parent_id else "")
        + (f", by {_e(best.mutation)}" if best.mutation else "")
        + "</p>",
    ]
    if header:
        out.append(f"<p class=muted>{'<br>'.join(_e(h) for h in header)}</p>")
    out += [f"<p>{_e(note)}</p>" for note in shown.notes]
    out.append(f'<pre class="genome {_e(shown.language)}">{_e(shown.text)}</pre>')
    out += [_img(png, caption, caption) for caption, png in shown.figures]
    return out


def _steps_section(d: _Data) -> list[str]:
    """An activations run's rerank and final test, with the learned parameters."""
    if d.meta.get("domain") != "activations":
        return []
    from evoforge.activations import steps

    lines = steps.summary(d.view)
    if not lines:
        return []
    out = ["<h2>Rerank and final test</h2>", f"<pre>{_e(chr(10).join(lines))}</pre>"]
    for (function, model), params in steps.learned_parameters(d.view).items():
        caption = f"learned parameters of {function} on model {model} (first seed), by depth"
        out.append(_img(steps.parameter_figure(params, function), caption, caption))
    return out


def _status_rows(d: _Data) -> list[tuple[str, str]]:
    s, meta, state = d.summary, d.meta, d.state
    n = s["individuals"]
    status = str(meta.get("status", "?"))
    if status == "running":
        status = "running (or stopped abruptly; this shows its last checkpoint)"
    elif meta.get("stop_reason") not in (None, status):
        status = f"{status} ({meta['stop_reason']})"
    run = d.config.get("run", {})
    budget = ", ".join(
        f"{key} {_num(run[key], ',')}"
        for key in ("max_individuals", "max_cost", "max_seconds")
        if run.get(key) is not None
    )
    targets = ", ".join(
        f"{key} {_num(run[key])}" for key in ("stop_fitness", "stop_select_fitness") if key in run
    )
    rows = [
        ("status", status),
        ("domain", str(meta.get("domain", "?"))),
        ("strategy", str(d.config.get("search", {}).get("strategy", "?"))),
        ("seed", str(meta.get("seed", "?"))),
        ("individuals", f"{n:,}"),
        ("budget", budget or "-"),
        *([("targets", targets)] if targets else []),
        ("best fitness", _num(s["best_fitness"])),
        ("best select fitness", _num(state.get("max_select"))),
        ("FEC hit rate", f"{s['fec_hits'] / n:.1%}" if n else "-"),
        ("early stops", f"{s['early_stopped']:,}"),
        ("failures", f"{s['errors']:,}"),
        ("cost (work units)", f"{s['cost']:,}"),
        ("run time", f"{state.get('elapsed', meta.get('elapsed', 0.0)):,.1f} s"),
    ]
    return rows


def _new_best_rows(d: _Data, last: int = 15) -> list[tuple[Any, ...]]:
    events = [e for e in d.events if e["kind"] == "new_best"][-last:]
    return [
        (
            f"{e['id']:,}",
            _num(e["fitness"]),
            _num(e.get("select_fitness")),
            f"{e.get('elapsed', 0.0):,.1f}",
        )
        for e in events
    ]


def build_report(run_dir: str | Path) -> str:
    """The report of the run in ``run_dir`` as an HTML document (a string).

    Raises `evoforge.errors.EvoforgeError` for a directory that is not a run,
    `evoforge.report.plots.MissingDependencyError` without matplotlib.
    """
    run_dir = Path(run_dir)
    with open_run(run_dir) as view:
        d = _Data(view)
        title = f"evoforge run {run_dir.resolve().name}"
        body = [
            f"<h1>{_e(title)}</h1>",
            f"<p class=muted>{_e(run_dir.resolve())} &middot; report written"
            f" {_e(time.strftime('%Y-%m-%d %H:%M:%S'))}</p>",
            "<h2>Status</h2>",
            _table(_status_rows(d)),
        ]
        if d.n:
            body += [
                "<h2>Fitness</h2>",
                _img(_fitness_figure(d, False), "fitness against individuals",
                     "best fitness so far and the median of the last population's worth of"
                     " valid individuals, against individuals evaluated"),
                _img(_fitness_figure(d, True), "fitness against run time",
                     "the same against run time (pauses between sessions left out)"),
            ]  # fmt: skip
            news = _new_best_rows(d)
            if news:
                body += [
                    f"<p>Last {len(news)} improvements of the best:</p>",
                    _table(news, ["id", "fitness", "select fitness", "run time (s)"]),
                ]
            body += [
                "<h2>Cache, early stops and failures</h2>",
                _img(_rates_figure(d), "FEC hit rate and early stops over time",
                     "share of individuals answered by the functional-equivalence cache,"
                     " stopped early by a hurdle or quality gate, or failed"),
            ]  # fmt: skip
            mutations = _mutation_rows(d)
            body += [
                "<h2>Mutations</h2>",
                _table(
                    [(m, f"{c:,}", f"{b:,}", f"{s:.1%}") for m, c, b, s in mutations],
                    ["mutation", "children", "better than parent", "share"],
                ),
                _img(_mutation_figure(mutations), "mutation types and improvements",
                     "children per mutation type and how often each beat its parent"),
            ]  # fmt: skip
            body += _islands_section(d)
        else:
            body.append("<p class=muted>No individual stored yet.</p>")
        body += _genome_section(d)
        body += _steps_section(d)
        config_text = (run_dir / "config.toml").read_text() if d.config else ""
        body += ["<h2>Config</h2>", f"<pre>{_e(config_text)}</pre>"]
    return (
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``run_dir`` to ``out`` (default
    ``RUN_DIR/report/report.html``), atomically; returns the path."""
    page = build_report(run_dir)
    path = Path(out) if out is not None else Path(run_dir) / REPORT_DIR / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(page, encoding="utf-8")
    partial.replace(path)
    return path
