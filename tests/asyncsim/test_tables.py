"""Console tables: nothing cut, wide tables split with their naming columns repeated, empty
columns left out."""

from asyncsim.tables import PIPED_WIDTH, print_table


def test_wide_tables_split_and_keep_every_value_whole(capsys):
    columns = [("name", "trained under"), ("setting", "evaluated under")] + [
        (f"m{i}", f"metric number {i}") for i in range(14)] + [("empty", "x reference")]
    rows = [{"name": f"momentum F={n}", "setting": "fifo F=inf output+2",
             **{f"m{i}": 1234.5678 * (i + 1) + n for i in range(14)}} for n in (2, 32)]
    print_table("wide", columns, rows, keep=2)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(map(len, lines)) <= PIPED_WIDTH
    assert "x reference" not in out  # no row has a value for it
    tables = [line for line in lines if line.strip().startswith("wide (")]
    assert len(tables) >= 2 and tables[-1].strip() == f"wide ({len(tables)}/{len(tables)})"
    assert out.count("momentum F=32") == len(tables)  # the naming columns in every part
    for row in rows:
        for i in range(14):
            assert f"{row[f'm{i}']:.4g}" in out
    assert "…" not in out
