"""The ``evoforge`` command: run/resume/show, bad input (exit 2, nothing
written), Ctrl-C (exit 130) and ``kill -9`` followed by an exact resume."""

from __future__ import annotations

import json
import os
import re
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
        # Read-only: connecting must not create the file while the run
        # directory is being made.
        uri = f"{(run_dir / 'run.sqlite').as_uri()}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as db:
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
            "run.plugins[0]: no installed module named 'no_such_module_x'",
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


def test_kill_9_then_resume_gives_the_uninterrupted_run(tmp_path, capsys):
    n = 1500
    cfg = write_config(tmp_path / "exp.toml", n=n, sleep=0.001)
    run_dir = tmp_path / "r"
    proc = evoforge("run", str(cfg), "--out", str(run_dir), "--quiet")
    wait_for_checkpoint(run_dir, proc, 300)
    # While it runs, a second writer is refused, naming it; a reader is not.
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    assert main(["show", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert f"{run_dir}: in use by another process: pid {proc.pid} on " in err
    assert f"(evoforge run {cfg} --out {run_dir} --quiet)" in err and "since" in err
    proc.kill()  # SIGKILL: no cleanup at all
    proc.wait()
    stored = rows(run_dir)
    assert 300 <= len(stored) < n
    assert [r[0] for r in stored] == list(range(1, len(stored) + 1))  # a prefix, no gaps
    assert checkpointed(run_dir) == len(stored)

    run = Run.resume(run_dir)  # the dead process's lock went with it
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


def stopped_cleanly(run_dir: Path, err: str) -> int:
    """The store after a signal: a consistent prefix, marked interrupted."""
    assert "Traceback" not in err, err
    stopped_at = len(rows(run_dir))
    assert checkpointed(run_dir) == stopped_at
    assert [r[0] for r in rows(run_dir)] == list(range(1, stopped_at + 1))
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (status,) = db.execute("SELECT value FROM meta WHERE key = 'status'").fetchone()
    assert status == '"interrupted"'
    return stopped_at


def test_sigterm_checkpoints_exits_143_and_resumes(tmp_path):
    # Before: SIGTERM killed the driver outright (exit -15), the store stayed
    # marked running and the rows since the last checkpoint were gone.
    n = 5000
    cfg = write_config(tmp_path / "exp.toml", n=n, sleep=0.001)
    run_dir = tmp_path / "r"
    proc = evoforge("run", str(cfg), "--out", str(run_dir), "--quiet")
    wait_for_checkpoint(run_dir, proc, 200)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 143, err
    assert "SIGTERM" in err and f"resume with: evoforge resume {run_dir}" in err
    assert 200 <= stopped_cleanly(run_dir, err) < n

    proc = evoforge("resume", str(run_dir), "--quiet")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert f"finished (max_individuals): {n:,} individuals" in err
    assert rows(run_dir) == reference(tmp_path, n)


@pytest.mark.parametrize("gap", [0.0, 0.02])
def test_double_ctrl_c_within_50_ms_stops_cleanly(tmp_path, gap):
    n = 5000
    cfg = write_config(tmp_path / "exp.toml", n=n, sleep=0.001)
    run_dir = tmp_path / "r"
    proc = evoforge("run", str(cfg), "--out", str(run_dir), "--quiet")
    wait_for_checkpoint(run_dir, proc, 200)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert stopped_cleanly(run_dir, err) < n
    resumed = Run.resume(run_dir)
    resumed.setup.evaluator.sleep = 0.0
    assert resumed.run().n_individuals == n
    assert rows(run_dir) == reference(tmp_path, n)


def one_error_line(err: str) -> str:
    """The one line of the error (after any progress lines), no traceback."""
    assert "Traceback" not in err, err
    *_, last = err.splitlines()
    assert last.startswith("evoforge: error: ") and err.count("error") == 1, err
    return last


def test_resume_with_a_changed_config_exits_2_unless_safe_and_accepted(tmp_path, capsys):
    cfg = write_config(tmp_path / "exp.toml", n=200)
    run_dir = tmp_path / "r"
    assert main(["run", str(cfg), "--out", str(run_dir), "--quiet"]) == 0
    saved = (run_dir / "config.toml").read_text()
    (run_dir / "config.toml").write_text(
        saved.replace("max_individuals = 200", "max_individuals = 250")
    )
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "run.max_individuals 200 -> 250" in err and "--accept-config-changes" in err
    assert main(["resume", str(run_dir), "--quiet", "--accept-config-changes"]) == 0
    assert len(rows(run_dir)) == 250
    text = (
        (run_dir / "config.toml")
        .read_text()
        .replace("population_size = 40", "population_size = 41")
    )
    (run_dir / "config.toml").write_text(text)
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--quiet", "--accept-config-changes"]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert "search.population_size 40 -> 41" in err and "cannot continue" in err


def test_damaged_run_directories_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path / "exp.toml", n=200)
    run_dir = tmp_path / "r"
    assert main(["run", str(cfg), "--out", str(run_dir), "--quiet"]) == 0
    good = (run_dir / "run.sqlite").read_bytes()
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute("UPDATE checkpoints SET state = '{'")
    capsys.readouterr()
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    assert "the checkpoint is damaged (not JSON" in one_error_line(capsys.readouterr().err)
    (run_dir / "run.sqlite").write_bytes(good)
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute("DELETE FROM individuals WHERE id = 7")
    assert main(["resume", str(run_dir), "--quiet"]) == 2
    assert "intact up to id 6" in one_error_line(capsys.readouterr().err)
    (run_dir / "run.sqlite").write_bytes(good)

    # A full disk (SQLite's size limit reached) while resuming.
    from evoforge.evolution.store import RunStore

    real_open = RunStore.open.__func__

    def full(cls, path):
        store = real_open(cls, path)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        return store

    monkeypatch.setattr(RunStore, "open", classmethod(full))
    assert main(["resume", str(run_dir), "--quiet", "--max-individuals", "5000"]) == 2
    err = one_error_line(capsys.readouterr().err)
    assert str(run_dir / "run.sqlite") in err and "full" in err
    monkeypatch.undo()
    assert len(rows(run_dir)) == 200
    assert main(["resume", str(run_dir), "--quiet", "--max-individuals", "300"]) == 0
    assert len(rows(run_dir)) == 300


# -- issue 18: overrides, --max-seconds, show --json, -v, resume budget, install hints --


def test_set_overrides_are_toml_values_validated_like_the_file(tmp_path, capsys):
    cfg = write_config(tmp_path / "exp.toml", n=100)
    out = tmp_path / "r"
    args = ["run", str(cfg), "--out", str(out), "--quiet", "--set", "search.population_size=20",
            "--set", "toy.length=12", "--set", "run.backend=serial",
            "--set", "search.fec={ capacity = 7 }"]  # fmt: skip
    assert main(args) == 0
    saved = (out / "config.toml").read_text()
    assert "population_size = 20" in saved and "length = 12" in saved and "capacity = 7" in saved
    assert len(rows(out)[0][3]) == 12  # genome text: 12 bits
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["run", str(cfg), "--out", str(bad), "--set", "search.population_size=-1"]) == 2
    err = capsys.readouterr().err
    assert "exp.toml: search.population_size: expected an integer >= 2, got -1" in err
    assert not bad.exists()
    assert main(["run", str(cfg), "--out", str(bad), "--set", "toy.lenght=3"]) == 2
    assert "toy.lenght: unknown key" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: no '='
        main(["run", str(cfg), "--set", "search.population_size"])
    assert "expected KEY=VALUE" in capsys.readouterr().err


def test_max_seconds_stops_the_run(tmp_path, capsys):
    cfg = write_config(tmp_path / "exp.toml", n=100_000, sleep=0.002)
    out = tmp_path / "r"
    assert main(["run", str(cfg), "--out", str(out), "--quiet", "--max-seconds", "1"]) == 0
    assert "finished (max_seconds)" in capsys.readouterr().err
    assert "max_seconds = 1.0" in (out / "config.toml").read_text()
    with pytest.raises(SystemExit):
        main(["run", str(cfg), "--max-seconds", "-2"])


def test_progress_lines_show_budget_share_and_time_left(tmp_path):
    cfg = write_config(tmp_path / "exp.toml", n=400, sleep=0.02)
    proc = evoforge("run", str(cfg), "--out", str(tmp_path / "r"))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    lines = [line for line in err.splitlines() if line.startswith("evaluated")]
    assert re.search(r"\| \d+\.\d% \| \d+s left$", lines[0]) or re.search(
        r"\| \d+\.\d% \| \d+m \d\ds left$", lines[0]
    ), lines
    assert lines[-1].endswith("| 100.0% | finished")


def test_show_json(tmp_path, capsys):
    cfg = write_config(tmp_path / "exp.toml", n=120)
    assert main(["run", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["show", str(tmp_path / "r"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    with sqlite3.connect(tmp_path / "r" / "run.sqlite") as db:
        best_id, best_fitness, text = db.execute(
            "SELECT id, fitness, genome_text FROM individuals WHERE error IS NULL"
            " ORDER BY fitness DESC, id LIMIT 1"
        ).fetchone()
        hits = db.execute("SELECT SUM(fec_hit) FROM individuals").fetchone()[0]
    assert doc["individuals"] == 120 and doc["status"] == "finished"
    assert doc["stop_reason"] == "max_individuals" and doc["domain"] == "toy"
    assert doc["best"] == {"id": best_id, "fitness": best_fitness, "genome": text,
                           "parent_id": doc["best"]["parent_id"],
                           "mutation": doc["best"]["mutation"]}  # fmt: skip
    assert doc["best_fitness"] == best_fitness and doc["fec_hits"] == hits
    assert doc["new_bests"] >= 1 and doc["islands"] is None


def test_verbose_configures_logging(tmp_path, capsys):
    import logging

    cfg = write_config(tmp_path / "exp.toml", n=50)
    out = str(tmp_path / "r")
    assert main(["-v", "run", str(cfg), "--out", out, "--quiet", "--set", "toy.length=10"]) == 0
    assert logging.getLogger().level == logging.INFO
    assert "INFO evoforge: config overrides: {'toy.length': 10}" in capsys.readouterr().err
    assert main(["show", out, "-vv"]) == 0
    assert logging.getLogger().level == logging.DEBUG
    assert main(["show", out]) == 0
    assert logging.getLogger().level == logging.WARNING


def test_resume_with_a_budget_below_the_stored_count_is_an_error(tmp_path, capsys):
    cfg = write_config(tmp_path / "exp.toml", n=200)
    run_dir = tmp_path / "r"
    assert main(["run", str(cfg), "--out", str(run_dir), "--quiet"]) == 0
    capsys.readouterr()
    before = (run_dir / "config.toml").read_text()
    for budget in ("150", "200"):
        assert main(["resume", str(run_dir), "--max-individuals", budget, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert f"--max-individuals {budget} is not above the 200 individuals" in err
    assert (run_dir / "config.toml").read_text() == before and len(rows(run_dir)) == 200
    assert main(["resume", str(run_dir), "--max-individuals", "250", "--quiet"]) == 0
    assert len(rows(run_dir)) == 250


def test_a_missing_optional_dependency_names_its_extra(tmp_path, capsys, monkeypatch):
    from evoforge.cli import _with_install_hint, install_hint

    assert install_hint("matplotlib.figure") == "pip install 'evoforge[torch]'"
    assert install_hint("gymnasium") == "pip install 'evoforge[atari]'"
    assert install_hint("ray") == "pip install 'evoforge[ray]'"
    message = "run.domain: domain 'activations' cannot be loaded: No module named 'torch'"
    assert _with_install_hint(message).endswith("(install it with: pip install 'evoforge[torch]')")
    assert _with_install_hint("unrelated") == "unrelated"

    cfg = write_config(tmp_path / "exp.toml", n=20)
    assert main(["run", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    assert main(["report", str(tmp_path / "r")]) == 2
    assert "pip install 'evoforge[torch]'" in capsys.readouterr().err
