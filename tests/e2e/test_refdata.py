"""test_refdata: the reference data a real crrmon-aggregator runs with.

Covers: the shipped CSVs are the defaults (the quickstart's snapshots have
rates per 1,000 without any ref_* setting); the aggregator records its
windows and reference data in its store, so `crrmon query --data-dir` given
no config answers row for row as the aggregator's snapshot does (custom
windows included); a reference file with a bad row stops start-up with exit 1
naming the file, line and reason; a borough whose population is missing has
its rate rows absent (not zero), and so does LONDON, while other boroughs
keep theirs.

The clock is pinned (CRRMON_NOW without '+') so a snapshot and a query see
the same instant.
"""
import csv
import json
import os

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW}
DATA = os.path.join(crrtest.SRC, "data")
POP_CSV = os.path.join(DATA, "population_ethnicity_census2021.csv")
BOROUGHS_CSV = os.path.join(DATA, "london_boroughs.csv")


def crrmon(*args, check=None, input=None):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check, input=input)


def start_aggregator(data_dir, extra=()):
    agg = crrtest.start_aggregator(data_dir, args=extra, env=ENV, healthz=True)
    return agg, agg.ep


def send_generated(agg_dir, seed, count, boroughs, types):
    args = ["generate", "--seed", str(seed), "--count", str(count), "--types", types, "--end", NOW, "--days", "30"]
    for b in boroughs:
        args += ["--borough", b]
    text = crrmon(*args, check=0).stdout
    crrmon("send", "--data-dir", agg_dir, "--source-id", f"gen{seed}", "-", input=text, check=0)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def snapshot(agg_dir):
    out = dict(line.split(" ", 1) for line in crrmon("snapshot", "--data-dir", agg_dir, check=0).stdout.splitlines())
    with open(out["file"]) as f:
        lines = [json.loads(line) for line in f]
    return lines[1:]


def keyed(rows):
    out = {}
    for r in rows:
        k = (r["indicator"], r["borough"], r["windowDays"], tuple(sorted(r.get("dims", {}).items())))
        assert k not in out, k
        out[k] = r
    return out


def population():
    pop = {}
    with open(POP_CSV, newline="") as f:
        for r in csv.DictReader(f):
            pop.setdefault(r["borough_code"], {})[r["ethnicity"]] = int(r["population"])
    return pop


def test_defaults_recorded_and_query_answers_as_the_snapshot():
    agg_dir = crrtest.tmpdir()
    agg, _ = start_aggregator(agg_dir, ["--aggregator.windows=7,45"])  # no ref_* setting: the shipped files
    events = send_generated(agg_dir, 61, 1500, ["E09000003", "E09000014"], "stop_search,racist_incident,complaint")
    snap = keyed(snapshot(agg_dir))
    # the query is given no config at all: windows and population come from the store
    query = keyed(json.loads(line) for line in crrmon("query", "--data-dir", agg_dir, "--json", check=0)
                  .stdout.splitlines())
    assert snap == query, (set(snap) ^ set(query), [k for k in snap if snap[k] != query.get(k)][:5])
    assert {k[2] for k in snap} == {7, 45}
    assert len({k[1] for k in snap}) == 34  # every borough and LONDON
    # rates per 1,000 from the shipped population (the quickstart's case)
    pop = population()["E09000014"]
    searches = sum((e["stopSearch"].get("count") or 1) for e in events
                   if "stopSearch" in e and e["borough"] == "E09000014"
                   and e["occurredAt"] >= "2026-01-16")  # the 45 UTC days ending 2026-03-01
    got = snap[("stop_search.rate_per_1000", "E09000014", 45, ())]
    want = searches / sum(pop.values()) * 1000 * 365 / 45
    assert searches > 0 and abs(got["value"] - want) <= 1e-9 * want, (got, want)
    # the boroughs joined 30 days ago: they cover the 7-day window, and LONDON's rate is theirs
    lon7 = snap[("stop_search.rate_per_1000", "LONDON", 7, ())]
    assert "value" in lon7 and lon7["boroughsReporting"] == 2, lon7
    lon45 = snap[("stop_search.rate_per_1000", "LONDON", 45, ())]
    assert "value" not in lon45 and lon45["boroughsReporting"] == 0, lon45
    # a restart with other windows records those; the query follows
    agg.term()
    agg, _ = start_aggregator(agg_dir, ["--aggregator.windows=30"])
    rows = [json.loads(line) for line in crrmon("query", "--data-dir", agg_dir, "--json", "--london",
                                                "--indicator", "stop_search.count", check=0).stdout.splitlines()]
    assert {r["windowDays"] for r in rows} == {30}, rows
    assert agg.term() == 0


def test_bad_reference_row_stops_start_up():
    work = crrtest.tmpdir()
    with open(POP_CSV) as f:
        lines = f.read().splitlines()
    bad_pop = os.path.join(work, "pop.csv")
    parts = lines[6].split(",")
    parts[3] = "12x"
    with open(bad_pop, "w") as f:
        f.write("\n".join(lines[:6] + [",".join(parts)] + lines[7:]) + "\n")
    data = crrtest.tmpdir()

    def refused(*args):
        """stderr of an aggregator that must refuse to start (exit 78)."""
        agg = crrtest.start_aggregator(data, args=args, env=ENV, wait=False)
        assert agg.wait(30) == 78, (args, agg.returncode, agg.stderr())
        return agg.stderr()
    err = refused(f"--aggregator.ref_population={bad_pop}")
    assert f"{bad_pop}:7: population: '12x' is not a whole number >= 0" in err, err

    with open(BOROUGHS_CSV) as f:
        blines = f.read().splitlines()
    bad_b = os.path.join(work, "boroughs.csv")
    with open(bad_b, "w") as f:
        f.write("\n".join(blines[:3] + ["E09000099,Nowhere,Metropolitan Police Service"] + blines[3:]) + "\n")
    err = refused(f"--aggregator.ref_boroughs={bad_b}")
    assert f"{bad_b}:4: borough_code: 'E09000099' is not a London borough GSS code" in err, err

    err = refused(f"--aggregator.ref_population={work}/nosuch.csv")
    assert "nosuch.csv" in err and "cannot load reference data" in err, err


def test_missing_borough_population_makes_its_rates_absent():
    work = crrtest.tmpdir()
    with open(POP_CSV) as f:
        lines = f.read().splitlines()
    part = os.path.join(work, "pop.csv")
    with open(part, "w") as f:  # City of London (E09000001) left out
        f.write("\n".join(ln for ln in lines if not ln.startswith("E09000001,")) + "\n")
    agg_dir = crrtest.tmpdir()
    start_aggregator(agg_dir, [f"--aggregator.ref_population={part}"])
    events = send_generated(agg_dir, 62, 800, ["E09000001", "E09000002"], "stop_search,racist_incident")
    snap = keyed(snapshot(agg_dir))
    query = keyed(json.loads(line) for line in crrmon("query", "--data-dir", agg_dir, "--json", check=0)
                  .stdout.splitlines())
    assert snap == query
    # generated data spans 31 UTC days: the window's count is the engine's own stop_search.count
    count = {b: int(snap[("stop_search.count", b, 30, ())]["value"]) for b in ("E09000001", "E09000002")}
    assert min(count.values()) > 0 and sum(count.values()) <= sum(
        (e["stopSearch"].get("count") or 1) for e in events if "stopSearch" in e), count
    for ind in ("stop_search.rate_per_1000", "racist_incidents.per_1000_residents"):
        for b in ("E09000001", "LONDON"):
            r = snap[(ind, b, 30, ())]
            assert "value" not in r and "ciLow" not in r and r["reliable"] is False, r  # absent, not zero
        assert "value" in snap[(ind, "E09000002", 30, ())]
    r = snap[("stop_search.rate_per_1000", "E09000001", 30, ())]
    assert r["n"] == str(count["E09000001"]), r  # the count is still the sample size
    assert not [k for k, r in snap.items() if k[0] == "stop_search.disparity_ratio" and k[1] == "E09000001"
                and "value" in r]
    pop = population()["E09000002"]
    got = snap[("stop_search.rate_per_1000", "E09000002", 30, ())]["value"]
    want = count["E09000002"] / sum(pop.values()) * 1000 * 365 / 30
    assert abs(got - want) <= 1e-9 * want, (got, want)
    # other indicators of the borough are unaffected
    assert snap[("stop_search.count", "E09000001", 30, ())]["reliable"] is True


crrtest.main()
