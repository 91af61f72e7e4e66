"""test_cli: the operator CLI `crrmon` against a real crrmon-aggregator.

Covers: --help/--version and usage errors (exit 64) of every subcommand;
runtime failures (exit 1) with clear messages; `send` exit codes (0 all good,
2 with rejected lines or events, 1 after --give-up-after against a dead port);
a fresh epoch per `send` run (record ids make a resend a duplicate; without
them the same file counts twice, as the design says); `rejects` listing
file:line, field, code and reason; `status` listing sources; `query` table,
JSON Lines and CSV agreeing with each other and with the input; `snapshot`
printing an id and a file that exists and holds the same figures.

Every process runs on random loopback ports (tcp://127.0.0.1:* and HTTP port
0, read back from endpoints.json) in temporary folders, with the clock hook
CRRMON_NOW pinned so generated data and windows are deterministic.
"""
import csv
import io
import json
import os
import time

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}  # starts at NOW and runs on
ALL_TYPES = ("training_feedback,learning_assessment,behaviour_observation,attendance,training_cost,"
             "staff_headcount,stop_search,complaint,racist_incident,survey_response,community_engagement")


# ------------------------------------------------------------------ helpers

def crrmon(*args, check=None, input=None, timeout=120.0):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check, input=input, timeout=timeout)


def start_aggregator(data_dir, ingest="tcp://127.0.0.1:*", extra=()):
    """A real aggregator (crrtest.Aggregator) on random ports; returns (handle, endpoints) once it
    answers /healthz."""
    agg = crrtest.start_aggregator(data_dir, ingest=ingest, args=extra, env=ENV, healthz=True)
    return agg, agg.ep


def generate(path, seed, count, boroughs, types=ALL_TYPES, days=30):
    args = ["generate", "--seed", str(seed), "--count", str(count), "--types", types,
            "--end", NOW, "--days", str(days)]
    for b in boroughs:
        args += ["--borough", b]
    r = crrmon(*args, check=0)
    with open(path, "w") as f:
        f.write(r.stdout)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def query_json(agg_dir, *args):
    r = crrmon("query", "--data-dir", agg_dir, "--json", *args, check=0)
    return [json.loads(line) for line in r.stdout.splitlines()]


def value_of(rows, indicator, borough, window, dims=None):
    """The value of one row (None when absent); raises when the row does not exist."""
    dims = dims or {}
    for row in rows:
        if (row["indicator"] == indicator and row["borough"] == borough and row["windowDays"] == window
                and row.get("dims", {}) == dims):
            return row.get("value")
    raise AssertionError(f"no row {indicator} {borough} {window}d {dims}")


def pipeline_total(agg_dir):
    rows = query_json(agg_dir, "--indicator", "pipeline.events", "--london", "--window", "30d")
    return value_of(rows, "pipeline.events", "LONDON", 30)


# ------------------------------------------------------------------ usage

def test_help_version_and_usage_errors():
    r = crrmon("--help", check=0)
    for cmd in ("send", "query", "snapshot", "rejects", "status", "indicators", "generate"):
        assert f"  {cmd} " in r.stdout, (cmd, r.stdout)
    r = crrmon("indicators", "--json", check=0)
    cat = {x["name"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert cat["stop_search.count"]["stat"] == "C" and cat["stop_search.count"]["dims"] == "ethnicity", cat
    assert len(cat) >= 40, len(cat)
    r = crrmon("--version", check=0)
    assert r.stdout.startswith("crrmon ") and r.stdout.strip() != "crrmon", r.stdout
    assert crrmon().returncode == 64
    r = crrmon("frobnicate", check=64)
    assert "unknown command 'frobnicate'" in r.stderr, r.stderr
    for cmd in ("send", "query", "snapshot", "rejects", "status", "indicators"):
        r = crrmon(cmd, "--help", check=0)
        assert r.stdout.startswith(f"usage: crrmon {cmd}"), r.stdout

    d = crrtest.tmpdir()
    bad_usage = [
        (["send"], "at least one input FILE"),
        (["send", "--bogus", "x.jsonl"], "unknown option '--bogus'"),
        (["send", "--give-up-after", "soon", "x.jsonl"], "--give-up-after"),
        (["send", "-", "-"], "stdin"),
        (["query"], "--data-dir is required"),
        (["query", "--data-dir", d, "--window", "abc"], "--window"),
        (["query", "--data-dir", d, "--borough", "E09000099"], "unknown borough 'E09000099'"),
        (["query", "--data-dir", d, "--indicator", "no.such"], "unknown indicator 'no.such'"),
        (["query", "--data-dir", d, "--json", "--csv"], "not both"),
        (["query", "--data-dir", d, "--as-of", "yesterday"], "--as-of"),
        (["query", "--data-dir"], "needs a value"),
        (["snapshot"], "exactly one of"),
        (["snapshot", "--http", "nohostport"], "HOST:PORT"),
        (["rejects"], "--data-dir is required"),
        (["rejects", "--data-dir", d, "--limit", "-1"], "--limit"),
        (["status"], "--data-dir is required"),
        (["status", "--data-dir", d, "extra"], "unexpected argument 'extra'"),
    ]
    for args, msg in bad_usage:
        r = crrmon(*args)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
        assert f"Try 'crrmon {args[0]} --help'" in r.stderr, (args, r.stderr)

    refused = [  # a data folder or file named on the command line that cannot be used: 78
        (["query", "--data-dir", d], "cannot open the store"),
        (["status", "--data-dir", d], "cannot open the store"),
        (["rejects", "--data-dir", d], "neither store/"),
        (["snapshot", "--data-dir", d], "endpoints.json"),
        (["send", "--data-dir", d, "x.jsonl"], "endpoints.json"),
    ]
    for args, msg in refused:
        r = crrmon(*args)
        assert r.returncode == 78, (args, r.returncode, r.stderr)
        assert msg in r.stderr, (args, r.stderr)
    r = crrmon("send", "--aggregator", "tcp://127.0.0.1:1", os.path.join(d, "missing.jsonl"))
    assert r.returncode == 1 and "missing.jsonl" in r.stderr, (r.returncode, r.stderr)

    # two options naming the same thing: the message says which one to drop, not "Try --help"
    conflicts = [
        (["snapshot", "--http", "127.0.0.1:1", "--data-dir", d],
         "drop --data-dir to ask the address given, or drop --http to read the address from its endpoints.json"),
        (["send", "--aggregator", "tcp://127.0.0.1:1", "--data-dir", d, "x.jsonl"],
         "drop --data-dir to send to the endpoint given, or drop --aggregator"),
        (["query", "--data-dir", d, "--borough", "E09000001", "--london"],
         "drop --london to show the borough, or drop --borough to show London as a whole"),
    ]
    for args, msg in conflicts:
        r = crrmon(*args)
        assert r.returncode == 64 and msg in r.stderr and "not both" in r.stderr, (args, r.returncode, r.stderr)
        assert "Try" not in r.stderr, (args, r.stderr)


# ------------------------------------------------------------------ send

def test_send_exit_codes():
    agg_dir = crrtest.tmpdir()
    agg, ep = start_aggregator(agg_dir)
    work = crrtest.tmpdir()
    good = os.path.join(work, "good.jsonl")
    events = generate(good, seed=11, count=500, boroughs=["E09000001", "E09000002"])
    assert len(events) == 500

    r = crrmon("send", "--data-dir", agg_dir, "--source-id", "cli-good", good, check=0)
    assert "sent 500 events" in r.stdout, r.stdout
    assert pipeline_total(agg_dir) == 500

    # Bad lines are reported as FILE:LINE: field: reason; the rest is sent; exit 2.
    bad = os.path.join(work, "bad.jsonl")
    more = generate(os.path.join(work, "more.jsonl"), seed=12, count=4, boroughs=["E09000003"])
    wrong_borough = dict(more[2], borough="E09000099")
    lines = [json.dumps(more[0]), json.dumps(more[1]), "", "{not json", json.dumps(wrong_borough),
             json.dumps(more[3])]
    with open(bad, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = crrmon("send", "--aggregator", ep["ingest"], "--source-id", "cli-bad", bad)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"{bad}:4: " in r.stderr, r.stderr
    assert f"{bad}:5: borough: " in r.stderr, r.stderr
    assert "2 input lines rejected" in r.stdout and "sent 3 events" in r.stdout, r.stdout
    assert pipeline_total(agg_dir) == 503

    # stdin works as "-".
    with open(good) as f:
        head = "".join(f.readlines()[:7])
    r = crrmon("send", "--data-dir", agg_dir, "--source-id", "cli-stdin", "-", input=head, check=0)
    assert "sent 7 events" in r.stdout, r.stdout
    # generated events carry record ids: the 7 are duplicates of the first run
    assert pipeline_total(agg_dir) == 503

    # Nothing listens: give up after the given time without progress, exit 1.
    t0 = time.monotonic()
    r = crrmon("send", "--aggregator", f"tcp://127.0.0.1:{crrtest.free_port()}", "--give-up-after", "1s",
               good, timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "gave up after 1.0s without progress: 0 of 500 events" in r.stderr, r.stderr
    assert took < 20, took
    assert agg.alive()


def test_send_new_epoch_per_run():
    agg_dir = crrtest.tmpdir()
    start_aggregator(agg_dir)
    work = crrtest.tmpdir()
    with_ids = os.path.join(work, "with_ids.jsonl")
    events = generate(with_ids, seed=21, count=100, boroughs=["E09000005"])
    assert all(e.get("recordId") for e in events)
    without_ids = os.path.join(work, "without_ids.jsonl")
    with open(without_ids, "w") as f:
        for e in events:
            e = dict(e)
            e.pop("recordId")
            f.write(json.dumps(e) + "\n")

    # Same file twice: two epochs of one source id; record ids make the second a duplicate.
    crrmon("send", "--data-dir", agg_dir, "--source-id", "twice", with_ids, check=0)
    crrmon("send", "--data-dir", agg_dir, "--source-id", "twice", with_ids, check=0)
    assert pipeline_total(agg_dir) == 100
    r = crrmon("status", "--data-dir", agg_dir, "--json", check=0)
    srcs = [json.loads(line) for line in r.stdout.splitlines()]
    twice = [s for s in srcs if s["sourceId"] == "twice"]
    assert len(twice) == 2, srcs
    assert twice[0]["epoch"] != twice[1]["epoch"]
    assert all(s["appliedSeq"] == "100" for s in twice), twice
    assert sorted(int(s["applied"]) for s in twice) == [0, 100], twice
    assert sorted(int(s["duplicates"]) for s in twice) == [0, 100], twice

    # Without record ids every run is new data: the same file counts twice.
    crrmon("send", "--data-dir", agg_dir, "--source-id", "noids", without_ids, check=0)
    crrmon("send", "--data-dir", agg_dir, "--source-id", "noids", without_ids, check=0)
    assert pipeline_total(agg_dir) == 300

    r = crrmon("status", "--data-dir", agg_dir, check=0)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["source", "epoch", "applied"], lines[0]
    assert sum(1 for ln in lines[1:] if ln.startswith("twice ")) == 2, r.stdout
    assert sum(1 for ln in lines[1:] if ln.startswith("noids ")) == 2, r.stdout


def test_send_survives_aggregator_kill9():
    """kill -9 of the aggregator in the middle of a send: restarted on the same ingest port, the
    sender reconnects and resends; every event counts exactly once."""
    agg_dir = crrtest.tmpdir()
    agg, ep = start_aggregator(agg_dir)
    work = crrtest.tmpdir()
    path = os.path.join(work, "big.jsonl")
    generate(path, seed=61, count=150000, boroughs=["E09000015"], types="stop_search,complaint")
    sender = crrtest.Proc([crrtest.binary("crrmon"), "send", "--data-dir", agg_dir, "--source-id", "restart",
                           "--give-up-after", "60s", path], env=ENV, name="send")

    def applied():
        r = crrmon("status", "--data-dir", agg_dir, "--json")
        return sum(int(x["appliedSeq"]) for x in map(json.loads, r.stdout.splitlines())) if r.returncode == 0 else 0

    crrtest.wait_until(applied, timeout=60, interval=0.005, what="first events applied")
    agg.kill9()
    at_kill = applied()
    assert 0 < at_kill < 150000, f"the kill was not mid-send ({at_kill})"
    agg.restart()  # on the ports it had
    assert sender.wait(timeout=120) == 0, sender.stderr()[-2000:]
    assert "sent 150000 events" in sender.stdout(), sender.stdout()
    assert pipeline_total(agg_dir) == 150000
    r = crrmon("status", "--data-dir", agg_dir, "--json", check=0)
    srcs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(srcs) == 1 and srcs[0]["appliedSeq"] == "150000" and srcs[0]["applied"] == "150000", srcs


# ------------------------------------------------------------------ rejects

def test_rejects_and_status():
    agg_dir = crrtest.tmpdir()
    start_aggregator(agg_dir)
    r = crrmon("rejects", "--data-dir", agg_dir, check=0)
    assert "no rejects" in r.stdout, r.stdout
    r = crrmon("status", "--data-dir", agg_dir, check=0)
    assert "no sources have sent" in r.stdout, r.stdout
    assert crrmon("status", "--data-dir", agg_dir, "--json", check=0).stdout == ""

    work = crrtest.tmpdir()
    events = generate(os.path.join(work, "g.jsonl"), seed=31, count=3, boroughs=["E09000007"])
    # Valid at the edge (send leaves the age rule to the aggregator), too old for the aggregator.
    old = dict(events[1], occurredAt="2024-01-10T10:00:00Z")
    path = os.path.join(work, "old.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(json.dumps(e) for e in (events[0], old, events[2])) + "\n")
    r = crrmon("send", "--data-dir", agg_dir, "--source-id", "rej-src", path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert f"{path}:2: occurred_at: " in r.stderr and "rejected by the aggregator" in r.stderr, r.stderr
    assert "(too_old)" in r.stderr, r.stderr
    assert pipeline_total(agg_dir) == 2

    r = crrmon("rejects", "--data-dir", agg_dir, check=0)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "at", "source", "seq", "file:line", "field", "code", "reason"], lines
    assert len(lines) == 2, r.stdout
    cells = lines[1].split()
    assert cells[0] == "1" and cells[2] == "rej-src" and cells[3] == "2", cells
    assert cells[5] == "occurred_at" and cells[6] == "too_old", cells

    r = crrmon("rejects", "--data-dir", agg_dir, "--json", check=0)
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 1, recs
    assert recs[0]["source"] == "rej-src" and recs[0]["seq"] == "2", recs
    assert recs[0]["field"] == "occurred_at" and recs[0]["code"] == "too_old", recs
    assert recs[0]["reason"], recs

    # A second rejection; --limit 1 lists only the most recent.
    unknown = dict(events[0], borough="E09000100")
    r = crrmon("send", "--data-dir", agg_dir, "--source-id", "rej-src2", "-",
               input=json.dumps(old) + "\n" + json.dumps(unknown) + "\n")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "-:2: borough: " in r.stderr, r.stderr  # refused at the edge, never sent
    r = crrmon("rejects", "--data-dir", agg_dir, "--json", "--limit", "1", check=0)
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 1 and recs[0]["id"] == 2 and recs[0]["source"] == "rej-src2", recs
    r = crrmon("rejects", "--data-dir", agg_dir, "--json", "--limit", "0", check=0)
    assert len(r.stdout.splitlines()) == 2

    r = crrmon("status", "--data-dir", agg_dir, "--json", check=0)
    srcs = {s["sourceId"]: s for s in map(json.loads, r.stdout.splitlines())}
    assert set(srcs) == {"rej-src", "rej-src2"}, srcs
    assert srcs["rej-src"]["appliedSeq"] == "3" and srcs["rej-src"]["rejected"] == "1", srcs
    assert srcs["rej-src"]["applied"] == "2", srcs
    assert srcs["rej-src2"]["appliedSeq"] == "1" and srcs["rej-src2"]["rejected"] == "1", srcs
    assert srcs["rej-src"]["lastSeen"].startswith("2026-03-01T"), srcs


def test_rejects_of_a_collector():
    agg_dir = crrtest.tmpdir()
    _, ep = start_aggregator(agg_dir)
    work = crrtest.tmpdir()
    events = generate(os.path.join(work, "g.jsonl"), seed=33, count=4, boroughs=["E09000009"])
    path = os.path.join(work, "drop.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps(events[0]) + "\n")
        f.write('{"borough": "E09000009", "occurredAt": \n')  # line 2: does not parse
        f.write(json.dumps(dict(events[1], borough="X1")) + "\n")  # line 3: unknown borough
        f.write(json.dumps(events[3]) + "\n")
    coll_dir = crrtest.tmpdir()
    p = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", coll_dir, "--aggregator", ep["ingest"],
                      "--source-id", "coll-rej", "--give-up-after", "60s", path], env=ENV, name="collector")
    rc = p.wait(timeout=120)
    assert rc == 2, (rc, p.stderr()[-2000:])
    assert pipeline_total(agg_dir) == 2

    r = crrmon("rejects", "--data-dir", coll_dir, check=0)
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "at", "source", "seq", "file:line", "field", "code", "reason"], lines
    rows = lines[1:]
    assert len(rows) == 2, r.stdout
    assert f" {path}:2 " in rows[0] and " malformed " in rows[0], rows[0]
    assert f" {path}:3 " in rows[1] and " borough " in rows[1] and " unknown_borough " in rows[1], rows[1]
    r = crrmon("rejects", "--data-dir", coll_dir, "--json", check=0)
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["file"], x["line"], x["code"]) for x in recs] == [(path, 2, "malformed"),
                                                                 (path, 3, "unknown_borough")], recs
    assert recs[1]["field"] == "borough" and "X1" in recs[1]["reason"], recs


# ------------------------------------------------------------------ query

def test_query_formats_agree():
    agg_dir = crrtest.tmpdir()
    start_aggregator(agg_dir, extra=["--aggregator.ref_population="])  # no population: rates absent
    work = crrtest.tmpdir()
    path = os.path.join(work, "mix.jsonl")
    boroughs = ["E09000001", "E09000010", "E09000020"]
    events = generate(path, seed=41, count=3000, boroughs=boroughs)
    crrmon("send", "--data-dir", agg_dir, "--source-id", "q", path, check=0)

    rows = query_json(agg_dir)
    assert rows, "no rows"
    assert {r["windowDays"] for r in rows} == {30, 90, 365}
    assert {r["borough"] for r in rows} >= set(boroughs) | {"LONDON"}
    for row in rows:  # the proto3 JSON mapping with defaults, as in snapshots
        assert set(row) >= {"indicator", "borough", "windowDays", "dims", "n", "reliable"}, row
        assert isinstance(row["n"], str), row

    # Exact counts from the input.
    searches = {}
    for e in events:
        ss = e.get("stopSearch")
        if ss is not None and e["borough"] == "E09000010":
            eth = ss["ethnicity"].replace("ETHNICITY_", "")
            searches[eth] = searches.get(eth, 0) + (ss.get("count") or 1)
    assert searches
    for eth, n in searches.items():
        assert value_of(rows, "stop_search.count", "E09000010", 365, {"ethnicity": eth}) == n, eth
    assert value_of(rows, "stop_search.count", "E09000010", 365) == sum(searches.values())
    assert value_of(rows, "pipeline.events", "LONDON", 30) == 3000

    # CSV: same rows, same order, values that read back exactly.
    r = crrmon("query", "--data-dir", agg_dir, "--csv", check=0)
    recs = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(recs[0].keys()) == ["indicator", "borough", "window_days", "dims", "value", "n", "n_eff",
                                    "ci_low", "ci_high", "reliable", "boroughs_reporting"]
    assert len(recs) == len(rows)
    for j, c in zip(rows, recs):
        assert c["indicator"] == j["indicator"] and c["borough"] == j["borough"]
        assert int(c["window_days"]) == j["windowDays"]
        dims = dict(kv.split("=", 1) for kv in c["dims"].split(";")) if c["dims"] else {}
        assert dims == j.get("dims", {}), (c, j)
        assert (float(c["value"]) if c["value"] else None) == j.get("value"), (c, j)
        assert c["n"] == j["n"]
        assert (float(c["ci_low"]) if c["ci_low"] else None) == j.get("ciLow"), (c, j)
        assert c["reliable"] == ("true" if j["reliable"] else "false")
        assert int(c["boroughs_reporting"]) == j["boroughsReporting"], (c, j)

    # Table: aligned, '-' for absent values, '*' for unreliable rows.
    r = crrmon("query", "--data-dir", agg_dir, "--borough", "E09000001", "--window", "30d", check=0)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:6] == ["indicator", "borough", "window", "dims", "value", "95%"], lines[0]
    body = [ln for ln in lines[1:] if ln.startswith(("training.", "stop_search.", "pipeline.", "survey.",
                                                     "feedback.", "trainer.", "learning.", "behaviour.",
                                                     "cost.", "complaints.", "racist_incidents.",
                                                     "engagement."))]
    assert len(body) == sum(1 for x in rows if x["borough"] == "E09000001" and x["windowDays"] == 30)
    assert all(" E09000001 " in ln and " 30d " in ln for ln in body)
    rate = [ln for ln in body if ln.startswith("stop_search.rate_per_1000 ")]
    assert rate and all(ln.split()[4] == "-" for ln in rate), rate  # no population recorded: absent
    assert any(ln.rstrip().endswith("*") for ln in body), "no unreliable mark"
    assert "not reliable" in r.stdout

    # Filters.
    sub = query_json(agg_dir, "--london", "--window", "90", "--indicator", "stop_search.count")
    assert sub and all(x["borough"] == "LONDON" and x["windowDays"] == 90 and x["indicator"] == "stop_search.count"
                       for x in sub), sub
    sub = query_json(agg_dir, "--borough", "E09000020", "--window", "30d", "--window", "365d")
    assert {x["borough"] for x in sub} == {"E09000020"} and {x["windowDays"] for x in sub} == {30, 365}
    # --population overrides what the store recorded: rates per 1,000, annualised.
    pop_csv = os.path.join(crrtest.SRC, "data", "population_ethnicity_census2021.csv")
    with open(pop_csv) as f:
        pop = sum(int(r["population"]) for r in csv.DictReader(f) if r["borough_code"] == "E09000010")
    rate = query_json(agg_dir, "--population", pop_csv, "--borough", "E09000010", "--window", "90d",
                      "--indicator", "stop_search.rate_per_1000")
    got = value_of(rate, "stop_search.rate_per_1000", "E09000010", 90)
    want = sum(searches.values()) / pop * 1000 * 365 / 90
    assert abs(got - want) <= 1e-9 * want, (got, want)
    r = crrmon("query", "--data-dir", agg_dir, "--population", os.path.join(work, "missing.csv"))
    assert r.returncode == 78 and "cannot load the population" in r.stderr, r.stderr

    # As of a date the kept day buckets cannot serve for the 365-day window (kept 395 days): refused
    # with the earliest date allowed, not answered with zeros; a date after today likewise.
    r = crrmon("query", "--data-dir", agg_dir, "--as-of", "2025-06-01", "--london")
    assert r.returncode == 64 and "earliest date allowed is 2026-01-30" in r.stderr, (r.returncode, r.stderr)
    r = crrmon("query", "--data-dir", agg_dir, "--as-of", "2026-03-02", "--london")
    assert r.returncode == 64 and "later than now" in r.stderr, (r.returncode, r.stderr)
    early = query_json(agg_dir, "--as-of", "2026-01-30", "--london", "--indicator", "stop_search.count")
    assert early and all(x["windowDays"] != 365 or x["boroughsReporting"] == 0 for x in early), early


# ------------------------------------------------------------------ snapshot

def test_snapshot():
    agg_dir = crrtest.tmpdir()
    agg, ep = start_aggregator(agg_dir)
    work = crrtest.tmpdir()
    path = os.path.join(work, "s.jsonl")
    generate(path, seed=51, count=800, boroughs=["E09000030"], types="stop_search,complaint")
    crrmon("send", "--data-dir", agg_dir, path, check=0)

    r = crrmon("snapshot", "--data-dir", agg_dir, check=0)
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert out["id"] and os.path.isfile(out["file"]), (r.stdout, out)
    with open(out["file"]) as f:
        lines = [json.loads(line) for line in f]
    assert lines[0]["id"] == out["id"] and "indicator" not in lines[0], lines[0]
    values = lines[1:]
    assert int(out["values"]) == len(values)
    q = query_json(agg_dir)
    # The snapshot and the query read the same committed state.
    for ind in ("stop_search.count", "complaints.allegations", "pipeline.events"):
        for b in ("E09000030", "LONDON"):
            assert value_of(values, ind, b, 365) == value_of(q, ind, b, 365), (ind, b)

    r = crrmon("snapshot", "--http", ep["http"], check=0)
    out2 = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert out2["id"] != out["id"] and os.path.isfile(out2["file"])
    r = crrmon("snapshot", "--http", f"http://{ep['http']}/", "--json", check=0)
    ans = json.loads(r.stdout)
    assert ans["id"] and ans["file"]

    dead = crrtest.free_port()
    r = crrmon("snapshot", "--http", f"127.0.0.1:{dead}", "--timeout", "5s")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"cannot reach the aggregator at http://127.0.0.1:{dead}/api/v1/snapshots" in r.stderr, r.stderr
    assert agg.alive()


crrtest.main()
