"""Picking, retraining and comparing found functions (issue 17, parts 4 and 5)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from evoforge.activations.selection import one_tailed_welch, top_distinct


def test_top_distinct_skips_functional_duplicates_and_failures(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "run.sqlite") as db:
        db.execute(
            "CREATE TABLE individuals (id INTEGER, genome_text TEXT, fitness REAL,"
            " fingerprint INTEGER, error TEXT)"
        )
        db.executemany(
            "INSERT INTO individuals VALUES (?, ?, ?, ?, ?)",
            [
                (1, "relu(x)", 0.9, 11, None),
                (2, "max(x, zero(x))", 0.95, 11, None),  # same function as 1, fitter
                (3, "tanh(x)", 0.99, 12, "diverged"),
                (4, "swish(x)", 0.8, 13, None),
                (5, "x", 0.7, None, None),
            ],
        )
    assert top_distinct(tmp_path, 2) == [("max(x, zero(x))", 0.95), ("swish(x)", 0.8)]
    assert len(top_distinct(tmp_path, 10)) == 3


def test_welch_is_one_tailed_as_table_4_2() -> None:
    better, worse = [0.72, 0.73, 0.74, 0.735], [0.71, 0.712, 0.715, 0.72]
    p = one_tailed_welch(better, worse)
    assert p < 0.05
    assert abs(one_tailed_welch(worse, better) - (1 - p)) < 1e-12  # the other tail
    assert math.isnan(one_tailed_welch([0.5], worse))
