"""Search-space sizes: computed values equal the dissertation's figures."""

from evoforge.activations import counts

TABLE_4_11 = {
    1: 108,
    2: 5_832,
    3: 427_923,
    4: 31_177_872,
    5: 2_210_558_364,
    6: 152_059_087_566,
    7: 10_015_741_690_785,
}
ROWS_4_11 = {  # (binary nodes, unary nodes, edges, arrangements)
    1: [(0, 1, 2, 1)],
    2: [(0, 2, 3, 1)],
    3: [(0, 3, 4, 1), (1, 2, 5, 1)],
    4: [(0, 4, 5, 1), (1, 3, 6, 3)],
    5: [(0, 5, 6, 1), (1, 4, 7, 6), (2, 3, 8, 2)],
    6: [(0, 6, 7, 1), (1, 5, 8, 10), (2, 4, 9, 10)],
    7: [(0, 7, 8, 1), (1, 6, 9, 15), (2, 5, 10, 30), (3, 4, 11, 1)],
}


def test_cafe_counts():
    assert counts.cafe_s1_count() == 3_456
    assert counts.cafe_s2_count() == 41_278_242_816


def test_aquasurf_count():
    assert counts.aquasurf_count() == 5_103


def test_table_4_11_rows_and_counts():
    assert counts.pangaea_table() == TABLE_4_11
    for n, rows in ROWS_4_11.items():
        assert counts.pangaea_rows(n) == rows
    assert counts.pangaea_total() == 10_170_042_948_450


def test_unrestricted_shapes_differ_only_in_the_three_binary_row():
    assert counts.pangaea_table(6, None) == counts.pangaea_table(6)
    assert counts.pangaea_rows(7, None)[-1] == (3, 4, 11, 5)  # Catalan(3) ordered trees
    (balanced,) = [s for s in counts.pangaea_shapes(7) if counts.binary_depth(s) == 2
                   and s.n_edges == 11]  # fmt: skip
    extra = 4 * counts.shape_count(balanced)  # the 4 deeper trees have the same |F_g|
    assert counts.pangaea_total(7, None) - counts.pangaea_total() == extra
