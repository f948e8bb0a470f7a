"""The mini benchmark builder: resumes after an interruption, same table as one go."""

from __future__ import annotations

from pathlib import Path

from evoforge.activations.aquasurf.bench import (
    BenchConfig,
    build_table,
    compress_table,
    load_bench_data,
    load_table,
)
from evoforge.activations.formula import parse

CFG = BenchConfig(dataset="digits", n_train=96, n_val=48, n_test=48, epochs=1, hidden=(8,))
FUNCS = [parse(t) for t in ("relu(x)", "tanh(x)", "exp(exp(exp(x)))")]


def test_resume_after_interruption(tmp_path: Path) -> None:
    data = load_bench_data(CFG)
    whole, parts = tmp_path / "whole.csv", tmp_path / "parts.csv"
    p = build_table(whole, FUNCS, [0, 1], CFG, data=data)
    assert (p.done, p.total, p.functions_complete) == (6, 6, 3)
    assert build_table(parts, FUNCS, [0, 1], CFG, data=data, max_runs=3).functions_complete == 1
    # A crash in the middle of writing a row: the torn line is dropped and redone.
    with parts.open("a") as fh:
        fh.write("2,exp(exp(exp(x))),0,0.1")
    assert len(load_table(parts, complete_only=False)) == 2
    build_table(parts, FUNCS, [0, 1], CFG, data=data, order=[2, 1, 0])
    a, b = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    assert compress_table(whole, a) == compress_table(parts, b) == 6

    def strip_time(path: Path) -> list[tuple[str, ...]]:
        t = load_table(path)
        return list(zip(t.functions, t.val_acc, t.test_acc, t.diverged, strict=True))

    assert strip_time(a) == strip_time(b)  # seeded runs: identical results either way
    t = load_table(a)
    assert t.diverged[2] == 1.0 and t.val_acc[2] == 0.1  # exp(exp(exp(x))) fails
