"""``evoforge report``: one self-contained HTML page per run, for a toy run (with
islands), an AutoML-Zero run and a run still being written; rendered in headless
Chromium where it is installed."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import evoforge
import toy_domain  # noqa: F401 - registers the "toy" domain
from evoforge.cli import main
from evoforge.report import build_report, register_renderer, write_report
from evoforge.report.genomes import RenderedGenome, render_genome
from evoforge.report.plots import MissingDependencyError

TOY = {
    "run": {"domain": "toy", "max_individuals": 800, "seed": 2, "checkpoint_every": 100},
    "search": {"population_size": 40, "tournament_size": 5, "hurdle": {"enabled": True}},
    "toy": {"length": 24, "fail_prefix": "0000"},
}
PNG = b"\x89PNG\r\n\x1a\n"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def images(page: str) -> list[bytes]:
    """The PNG images a page embeds (every image must be an inline PNG)."""
    sources = re.findall(r'<img alt="[^"]*" src="([^"]*)"', page)
    assert page.count("<img") == len(sources)
    prefix = "data:image/png;base64,"
    assert all(s.startswith(prefix) for s in sources)
    return [base64.b64decode(s[len(prefix) :]) for s in sources]


def assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page.lower()
    for attribute in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert attribute.startswith("data:"), attribute  # nothing fetched


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("report") / "toy"
    evoforge.search(config=TOY, run_dir=run_dir)
    return run_dir


@pytest.fixture(scope="module")
def island_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("report") / "islands"
    search = {**TOY["search"], "islands": {"count": 3, "migrate_every": 60}}
    evoforge.search(config={**TOY, "search": search}, run_dir=run_dir)
    return run_dir


def test_toy_report_has_every_section(toy_run):
    page = build_report(toy_run)
    assert_self_contained(page)
    pngs = images(page)
    # fitness vs individuals, vs time, rates, mutations: four plots, no island one
    assert len(pngs) == 4 and all(p.startswith(PNG) and len(p) > 2000 for p in pngs)
    for heading in ("Status", "Fitness", "Cache, early stops and failures", "Mutations",
                    "Best genome", "Config"):  # fmt: skip
        assert f"<h2>{heading}" in page, heading
    assert "Islands" not in page
    with evoforge.open_run(toy_run) as run:
        best, summary = run.best(), run.summary()
        mutated = sum(1 for r in run.history() if r.mutation == "flip_bit")
    assert f'<pre class="genome text">{best.genome_text}</pre>' in page
    assert "finished (max_individuals)" in page and "800" in page
    assert f"{summary['fec_hits'] / 800:.1%}" in page
    assert f"<td>flip_bit</td><td class=num>{mutated:,}</td>" in page
    assert "fail_prefix = &quot;0000&quot;" in page  # the config as the run saved it
    assert summary["errors"] > 0 and f"{summary['errors']:,}" in page


def test_islands_section(island_run):
    page = build_report(island_run)
    assert "<h2>Islands</h2>" in page and "3 islands" in page
    assert len(images(page)) == 5
    with evoforge.open_run(island_run) as run:
        migrations = len(run.events("migration"))
    assert migrations > 0 and f"{migrations:,} migrations" in page
    for i in range(3):
        assert f"<td>island {i}</td>" in page


def test_report_of_a_running_run(tmp_path):
    pages: list[str] = []

    def snapshot(record) -> None:
        if record.id == 450:  # checkpoints every 100: 400 committed
            pages.append(build_report(tmp_path / "run"))

    evoforge.search(config=TOY, run_dir=tmp_path / "run", on_individual=snapshot)
    (page,) = pages
    assert "running (or stopped abruptly" in page
    assert "<td>individuals</td><td class=num>400</td>" in page


def test_report_before_any_individual(tmp_path):
    from evoforge.config import parse_config
    from evoforge.evolution.run import Run

    run = Run.create(tmp_path / "run", parse_config(TOY))
    run.close()
    page = build_report(tmp_path / "run")
    assert "No individual stored yet" in page and "No valid individual yet" in page
    assert images(page) == []


def test_cli_report_writes_the_default_file_and_out(toy_run, tmp_path, capsys):
    assert main(["report", str(toy_run)]) == 0
    default = toy_run / "report" / "report.html"
    assert default.is_file() and "wrote" in capsys.readouterr().err
    assert main(["report", str(toy_run), "--out", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").read_text().count("<img") == 4
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_missing_matplotlib_names_the_extra(toy_run, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'evoforge\[torch\]'"):
        build_report(toy_run)


def test_domain_renderers():
    shown = render_genome("automl_zero", "def Setup():\ndef Predict():\n    s1 = s0\n", {})
    assert shown.title == "Program" and shown.text.startswith("def Setup():")
    formula = render_genome("activations", "x * sigmoid(alpha*x)", {})
    assert formula.title == "Activation function" and formula.figures[0][1].startswith(PNG)
    assert "1 trainable parameters" in formula.notes[0]
    broken = render_genome("activations", "x +* y", {})  # a renderer's failure is contained
    assert broken.text == "x +* y" and "renderer failed" in broken.notes[0]
    register_renderer("toy_upper", lambda text, table: RenderedGenome("Upper", text.upper()))
    assert render_genome("toy_upper", "ab", {}).text == "AB"


def test_architecture_diagram():
    from evoforge.architectures.dna import linear_dna, to_text

    shown = render_genome("architectures", to_text(linear_dna()), {"dataset": "digits"})
    assert shown.title == "Architecture" and shown.figures[0][1].startswith(PNG)
    import numpy as np

    from evoforge.architectures.lamarckian.genome import BlockSpace

    text = BlockSpace().to_text(BlockSpace().initial(np.random.default_rng(0)))
    blocks = render_genome("architectures", text, {"space": "blocks"})
    assert blocks.figures and not blocks.notes


def test_automl_zero_report(tmp_path):
    config = {
        "run": {"domain": "automl_zero", "max_individuals": 400, "seed": 1},
        "search": {"population_size": 50, "tournament_size": 5},
        "automl_zero": {
            "initial": "random",
            "mutations": ["alter_argument", "randomize_instruction"],
            "memory": {"scalars": 4, "vectors": 3, "matrices": 1},
            "setup": {"ops": ["SCALAR_CONST_SET", "VECTOR_INNER_PRODUCT"], "size": 3},
            "predict": {"ops": ["VECTOR_INNER_PRODUCT", "SCALAR_PRODUCT"], "size": 2},
            "learn": {"ops": ["SCALAR_DIFF", "SCALAR_VECTOR_PRODUCT", "VECTOR_SUM"], "size": 3},
            "search_tasks": {
                "type": "linear",
                "n_tasks": 2,
                "features": 4,
                "n_train": 20,
                "n_valid": 10,
            },
        },
    }
    run_dir = tmp_path / "az"
    result = evoforge.search(config=config, run_dir=run_dir)
    page = write_report(run_dir).read_text()
    assert_self_contained(page)
    assert "<h2>Best genome: Program</h2>" in page
    assert '<pre class="genome automl-zero">def Setup():' in page
    assert result.best.genome_text.strip().splitlines()[-1].strip() in page
    assert "<td>alter_argument</td>" in page and "<td>randomize_instruction</td>" in page
    assert "<td>domain</td><td class=num>automl_zero</td>" in page


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--disable-extensions", "--window-size=1000,4000", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium not found (Debian: apt-get install -y chromium); it renders the"
    " report as a browser would",
)
def test_report_renders_in_headless_chromium(island_run, tmp_path):
    page = build_report(island_run)
    n_images = len(images(page))
    # A probe added for the test only (the report itself has no script): after
    # loading, count the images the browser decoded and the ones it could not.
    probe = (
        "<script>window.addEventListener('load', () => {"
        " const imgs = [...document.images];"
        " document.body.dataset.decoded = imgs.filter(i => i.naturalWidth > 0).length;"
        " document.body.dataset.broken = imgs.filter(i => i.naturalWidth === 0).length;"
        " document.body.dataset.width = document.documentElement.scrollWidth; });</script>"
    )
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", probe + "</body>"))
    done = chromium("--virtual-time-budget=5000", "--dump-dom", probed.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert f'data-decoded="{n_images}"' in dom and 'data-broken="0"' in dom, dom[-500:]
    assert "<h2>Islands</h2>" in dom and "<h2>Best genome" in dom
    width = int(re.search(r'data-width="(\d+)"', dom).group(1))
    assert width <= 1000  # nothing overflows the window sideways

    shot = tmp_path / "shot.png"
    plain = tmp_path / "report.html"
    plain.write_text(page)
    done = chromium(f"--screenshot={shot}", plain.as_uri())
    assert done.returncode == 0 and shot.read_bytes().startswith(PNG), done.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (4000, 1000)
    # the plots' coloured lines are on screen: some strongly red and blue pixels
    red = (pixels[..., 0] > 0.6) & (pixels[..., 1] < 0.35) & (pixels[..., 2] < 0.35)
    blue = (pixels[..., 2] > 0.55) & (pixels[..., 0] < 0.3)
    assert red.sum() > 200 and blue.sum() > 200
