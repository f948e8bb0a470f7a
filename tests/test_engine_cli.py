"""The ``evoforge`` command: run/resume/show, bad input (exit 2, nothing
written), Ctrl-C (exit 130) and ``kill -9`` followed by an exact resume."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import toy_domain  # noqa: F401 - registers the "toy" domain in this process
from evoforge.cli import main
from evoforge.evolution.run import Run

TESTS = Path(__file__).parent
SRC = TESTS.parent / "src"

CONFIG = """
[run]
domain = "toy"
seed = 5
max_individuals = {n}
checkpoint_every = 100
plugins = ["toy_domain"]

[search]
population_size = 40
tournament_size = 5
fec = {{ capacity = 30 }}
hurdle = {{ enabled = true }}

[toy]
length = 30
sleep = {sleep}
"""

RESULT_COLUMNS = "id, parent_id, mutation, genome_text, fitness, per_task, fec_hit, early_stopped"


def write_config(path: Path, n: int = 400, sleep: float = 0.0) -> Path:
    path.write_text(CONFIG.format(n=n, sleep=sleep))
    return path


def rows(run_dir: Path) -> list[tuple]:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute(f"SELECT {RESULT_COLUMNS} FROM individuals ORDER BY id").fetchall()


def checkpointed(run_dir: Path) -> int:
    try:
        with sqlite3.connect(run_dir / "run.sqlite", timeout=5) as db:
            row = db.execute("SELECT MAX(n_individuals) FROM checkpoints").fetchone()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return row[0] or 0


def evoforge(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])}
    return subprocess.Popen(
        [sys.executable, "-m", "evoforge", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen, at_least: int) -> None:
    deadline = time.monotonic() + 20
    while checkpointed(run_dir) < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.05)


def test_run_show_resume(tmp_path, capsys):
    cfg = write_config(tmp_path / "exp.toml", n=300)
    assert main(["run", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert "finished (max_individuals): 300 individuals" in capsys.readouterr().err
    assert main(["resume", str(tmp_path / "r"), "--max-individuals", "350", "--quiet"]) == 0
    assert main(["show", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "# evoforge best individual" in out and "350" in out and "FEC hit rate" in out
    assert "finished (max_individuals)" in out


def test_run_overrides_and_default_out_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = write_config(tmp_path / "exp.toml")
    assert main(["run", "exp.toml", "--seed", "3", "--max-individuals", "60", "--quiet"]) == 0
    [run_dir] = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("exp-")
    saved = (run_dir / "config.toml").read_text()
    assert "seed = 3" in saved and "max_individuals = 60" in saved
    assert len(rows(run_dir)) == 60 and cfg.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "missing.toml: no such config file"),
        ("[run\n", "invalid TOML"),
        (
            '[run]\ndomain = "toy"\n[search]\npopulation_size = -3\n',
            "search.population_size: expected an integer >= 2, got -3",
        ),
        (
            '[run]\ndomain = "toyy"\nplugins = ["toy_domain"]\n',
            "run.domain: unknown domain 'toyy' (did you mean 'toy'?)",
        ),
        (
            '[run]\ndomain = "toy"\n[toy]\nlenght = 3\n',
            "toy.lenght: unknown key (did you mean 'length'?)",
        ),
        (
            '[run]\ndomain = "toy"\nplugins = ["no_such_module_x"]\n',
            "run.plugins[0]: cannot import 'no_such_module_x'",
        ),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, text, message):
    cfg = tmp_path / ("missing.toml" if text is None else "exp.toml")
    if text is not None:
        cfg.write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evoforge: error: ") and message in err
    assert str(cfg) in err
    assert not out.exists()


def test_bad_run_directories_exit_2(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    cfg = write_config(tmp_path / "exp.toml")
    assert main(["run", str(cfg), "--out", str(tmp_path / "full")]) == 2
    assert main(["resume", str(tmp_path / "full")]) == 2
    assert main(["show", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "not a run directory" in err and "no such run directory" in err
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["file"]
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(cfg), "--workers", "0"])
    assert exit_info.value.code == 2


def reference(tmp_path: Path, n: int) -> list[tuple]:
    """The uninterrupted run (in process, without the sleep that slows the
    subprocess down: sleeping does not change results)."""
    cfg = write_config(tmp_path / "ref.toml", n=n)
    assert main(["run", str(cfg), "--out", str(tmp_path / "ref"), "--quiet"]) == 0
    return rows(tmp_path / "ref")


def test_kill_9_then_resume_gives_the_uninterrupted_run(tmp_path):
    n = 1500
    cfg = write_config(tmp_path / "exp.toml", n=n, sleep=0.001)
    run_dir = tmp_path / "r"
    proc = evoforge("run", str(cfg), "--out", str(run_dir), "--quiet")
    wait_for_checkpoint(run_dir, proc, 300)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.wait()
    stored = rows(run_dir)
    assert 300 <= len(stored) < n
    assert [r[0] for r in stored] == list(range(1, len(stored) + 1))  # a prefix, no gaps
    assert checkpointed(run_dir) == len(stored)

    run = Run.resume(run_dir)
    run.setup.evaluator.sleep = 0.0  # same results, faster
    assert run.run().n_individuals == n
    assert rows(run_dir) == reference(tmp_path, n)


def test_ctrl_c_checkpoints_and_exits_130(tmp_path):
    # The signal lands after 200 individuals; the rest (sleeping 1 ms each
    # unless FEC hits) must outlast any scheduling stall, and cost nothing
    # here since the run is interrupted and resumed without the sleep.
    n = 5000
    cfg = write_config(tmp_path / "exp.toml", n=n, sleep=0.001)
    run_dir = tmp_path / "r"
    proc = evoforge("run", str(cfg), "--out", str(run_dir), "--quiet")
    wait_for_checkpoint(run_dir, proc, 200)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert f"resume with: evoforge resume {run_dir}" in err
    stopped_at = len(rows(run_dir))
    assert checkpointed(run_dir) == stopped_at < n

    resumed = Run.resume(run_dir)
    resumed.setup.evaluator.sleep = 0.0
    assert resumed.run().n_individuals == n
    assert rows(run_dir) == reference(tmp_path, n)
