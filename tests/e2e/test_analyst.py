"""test_analyst: snapshot files read as an analyst would, with pandas.

A real aggregator takes a scheduled snapshot (nightly, with its latest
copies) into the CSV and JSON Lines sinks; the two pandas snippets of
docs/OPERATIONS.md ("Reading snapshot files with pandas") are taken from the
document and run as written, from the snapshot folder. Checked: the CSV's
dates parse (as_of, taken_at, window_start, window_end are datetimes), its
numbers are numeric, absent values and the total's empty dims are NaN; the
JSONL header is apart and its rows typed the same way (n an integer); and
the CSV read by pandas holds what the JSONL read by pandas holds, value for
value.
"""
import math
import os
import re

import crrtest

DOC = os.path.join(crrtest.SRC, "docs", "OPERATIONS.md")


def snippets():
    """The python blocks of the section "Reading snapshot files with pandas", in order."""
    with open(DOC) as f:
        text = f.read()
    start = text.index("### Reading snapshot files with pandas")
    end = text.index("\n## ", start)
    return re.findall(r"```python\n(.*?)```", text[start:end], re.S)


def run_snippet(code, cwd):
    here = os.getcwd()
    os.chdir(cwd)
    try:
        ns = {}
        exec(compile(code, DOC, "exec"), ns)
        return ns
    finally:
        os.chdir(here)


def test_the_documented_pandas_snippets_read_both_formats():
    import pandas as pd
    from pandas.api import types as pt

    code = snippets()
    assert len(code) == 2 and all(len(c.strip().splitlines()) == 3 for c in code), code
    d = crrtest.tmpdir("crr-analyst-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    gen = crrtest.run([crrtest.binary("crrmon"), "generate", "--seed", "11", "--count", "600",
                       "--end", "2026-03-01T01:00:00Z", "--days", "40"], check=0).stdout
    args = ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl,csv",
            "--aggregator.schedules=nightly=daily 02:00"]
    agg = crrtest.start_aggregator(data, args=args, env={"CRRMON_NOW": "2026-03-01T01:00:00Z"})
    crrtest.run([crrtest.binary("crrmon"), "send", "--data-dir", data, "-"], input=gen,
                env={"CRRMON_NOW": "2026-03-01T01:00:00Z"}, check=0)
    assert agg.term() == 0
    agg = crrtest.start_aggregator(data, args=args, env={"CRRMON_NOW": "2026-03-01T01:59:58Z+"})
    latest = [os.path.join(snaps, "nightly-latest." + e) for e in ("csv", "jsonl")]
    crrtest.wait_until(lambda: all(os.path.exists(p) for p in latest), timeout=60,
                       what="the nightly snapshot's latest copies")
    assert agg.term() == 0

    df = run_snippet(code[0], snaps)["df"]
    for col in ("as_of", "taken_at", "window_start", "window_end"):
        assert pt.is_datetime64_any_dtype(df[col]), (col, df[col].dtype)
    assert (df.as_of == pd.Timestamp("2026-03-01T02:00:00Z")).all()
    for col in ("window_days", "value", "n", "n_eff", "ci_low", "ci_high", "boroughs_reporting"):
        assert pt.is_numeric_dtype(df[col]), (col, df[col].dtype)
    assert pt.is_bool_dtype(df.reliable), df.reliable.dtype
    assert df.value.isna().any() and df.value.notna().any()  # absent values are NaN
    assert df.dims.isna().any() and df.dims.notna().any()  # the totals' dims are NaN
    assert set(df.borough_name) >= {"Lambeth", "London"} and df.borough_name.notna().all()
    lam = df[(df.borough_name == "Lambeth") & (df.indicator == "stop_search.count") & df.dims.isna()]
    assert sorted(lam.window_days) == [30, 90, 365], lam
    row = lam[lam.window_days == 30].iloc[0]
    assert row.window_end == pd.Timestamp("2026-03-01") and row.window_start == pd.Timestamp("2026-01-31")

    ns = run_snippet(code[1], snaps)
    header, values = ns["header"], ns["values"]
    assert header["schedule"] == "nightly" and header["catchUp"] is False, header
    assert pd.Timestamp(header["asOf"]) == pd.Timestamp("2026-03-01T02:00:00Z"), header
    assert "indicator" not in header and len(values) == len(df)
    for col in ("windowDays", "value", "n", "ciLow", "ciHigh", "boroughsReporting"):
        assert pt.is_numeric_dtype(values[col]), (col, values[col].dtype)
    assert pt.is_integer_dtype(values.n) and pt.is_bool_dtype(values.reliable), values.dtypes
    assert values.value.isna().any() and values.value.notna().any()

    # the CSV read by pandas holds what the JSONL read by pandas holds
    def dims(x):
        return ";".join(f"{k}={v}" for k, v in sorted(x.items())) if x else ""

    want = {(r.indicator, r.borough, r.windowDays, dims(r.dims)):
            (r.value, r.n, r.ciLow, r.ciHigh, r.reliable, r.boroughsReporting)
            for r in values.itertuples()}
    got = {(r.indicator, r.borough, r.window_days, "" if pd.isna(r.dims) else r.dims):
           (r.value, r.n, r.ci_low, r.ci_high, r.reliable, r.boroughs_reporting)
           for r in df.itertuples()}
    assert got.keys() == want.keys() and len(got) == len(df)

    def same(a, b):
        return all((isinstance(x, float) and math.isnan(x) and math.isnan(y)) or x == y
                   for x, y in zip(a, b))

    bad = [k for k in got if not same(got[k], want[k])]
    assert not bad, [(k, got[k], want[k]) for k in bad[:5]]


if __name__ == "__main__":
    crrtest.main()
