"""test_pipeline: the whole pipeline with real processes, and its guarantees
under kill -9.

Three collectors (each its own data folder, source id and borough) read a
JSONL file of 100,000 generated events each and send them to one aggregator.
The totals the aggregator reports - through `crrmon query --json` and
through a snapshot file - must equal exactly the totals computed here from
the input files:
  - a clean run;
  - kill -9 of the aggregator in the middle of the run, restarted on the same
    data folder and the same ingest port (read from the first endpoints.json);
  - kill -9 of a collector in the middle of its file, restarted with the same
    arguments (it resumes from its spool and file checkpoint).
Nothing is counted twice and nothing acknowledged is lost (docs/DESIGN.md,
"Guarantees").

Ports are random (tcp://127.0.0.1:* and HTTP port 0, read back from
endpoints.json); folders are temporary; waits poll with deadlines. The clock
hook CRRMON_NOW pins the time, so the generated data is the same every run.
"""
import json
import os

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}
COUNT = 100000
TYPES = "stop_search,training_feedback,attendance,complaint,racist_incident"
SOURCES = [  # (source id, borough, seed)
    ("coll-camden", "E09000007", 101),
    ("coll-hackney", "E09000012", 202),
    ("coll-lambeth", "E09000022", 303),
]
WINDOW = 90  # generated events lie in the 30 days before NOW (31 UTC days): the 90-day window holds them all

_inputs = None  # generated once per run: {source_id: (path, expected)}


# ------------------------------------------------------------------ helpers

def crrmon(*args, check=None, timeout=300.0):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check, timeout=timeout)


def start_aggregator(data_dir, ingest="tcp://127.0.0.1:*"):
    """crrtest.start_aggregator, waited for until /healthz answers; returns (handle, endpoints)."""
    agg = crrtest.start_aggregator(data_dir, ingest=ingest, env=ENV, healthz=True)
    return agg, agg.ep


def start_collector(source_id, path, ingest, data_dir):
    return crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", data_dir, "--aggregator", ingest,
                         "--source-id", source_id, "--give-up-after", "120s", path],
                        env=ENV, name=f"collector-{source_id}")


def short(enum_value, prefix):
    assert enum_value.startswith(prefix), enum_value
    return enum_value[len(prefix):]


def expected_totals(events):
    """{(indicator, dims tuple): value} for one borough, from the generated events."""
    exp = {}

    def add(ind, dims, v):
        key = (ind, tuple(sorted(dims.items())))
        exp[key] = exp.get(key, 0) + v

    for e in events:
        if "stopSearch" in e:
            ss = e["stopSearch"]
            n = ss.get("count") or 1  # 0 or absent reads as 1 (docs/DOMAIN.md)
            add("stop_search.count", {}, n)
            add("stop_search.count", {"ethnicity": short(ss["ethnicity"], "ETHNICITY_")}, n)
            add("pipeline.events", {"type": "stop_search"}, 1)
        elif "trainingFeedback" in e:
            add("feedback.responses", {}, 1)
            add("pipeline.events", {"type": "training_feedback"}, 1)
        elif "attendance" in e:
            a = e["attendance"]
            add("training.attended", {}, a.get("attended", 0))
            add("training.attended", {"staff_group": short(a["staffGroup"], "STAFF_GROUP_")}, a.get("attended", 0))
            add("pipeline.events", {"type": "attendance"}, 1)
        elif "complaint" in e:
            c = e["complaint"]
            n = c.get("allegations") or 1
            add("complaints.allegations", {}, n)
            add("complaints.allegations", {"category": short(c["category"], "COMPLAINT_CATEGORY_")}, n)
            add("pipeline.events", {"type": "complaint"}, 1)
        elif "racistIncident" in e:
            r = e["racistIncident"]
            n = r.get("count") or 1
            add("racist_incidents.count", {}, n)
            add("racist_incidents.count", {"recorded_as_crime": "true" if r.get("recordedAsCrime") else "false"}, n)
            add("pipeline.events", {"type": "racist_incident"}, 1)
        else:
            raise AssertionError(f"unexpected event type: {e}")
        add("pipeline.events", {}, 1)
    return exp


def inputs():
    """Generates the three 100,000-event files once and computes their totals."""
    global _inputs
    if _inputs is None:
        d = crrtest.tmpdir("crr-pipeline-input-")
        _inputs = {}
        for source_id, borough, seed in SOURCES:
            path = os.path.join(d, f"{source_id}.jsonl")
            r = crrmon("generate", "--seed", seed, "--borough", borough, "--count", COUNT, "--types", TYPES,
                       "--end", NOW, "--days", 30, check=0)
            with open(path, "w") as f:
                f.write(r.stdout)
            events = [json.loads(line) for line in r.stdout.splitlines()]
            assert len(events) == COUNT and all(e["borough"] == borough for e in events)
            _inputs[source_id] = (path, borough, expected_totals(events))
    return _inputs


def expected_all():
    """{(borough, indicator, dims): value} for each borough and LONDON. Every borough was first seen
    inside the window, so it covers none (domain.md "Coverage"): LONDON's rows stand on no borough (totals
    0, no dimension rows), except pipeline.*, which is about arrival and sums every borough."""
    exp = {}
    for _, (_, borough, totals) in inputs().items():
        for (ind, dims), v in totals.items():
            exp[(borough, ind, dims)] = v
            if ind.startswith("pipeline."):
                exp[("LONDON", ind, dims)] = exp.get(("LONDON", ind, dims), 0) + v
            elif not dims:
                exp[("LONDON", ind, dims)] = 0
    return exp


def check_rows(rows, what):
    """Every expected (borough, indicator, dims) value equals the reported one, exactly."""
    got = {}
    for row in rows:
        if row["windowDays"] != WINDOW:
            continue
        key = (row["borough"], row["indicator"], tuple(sorted(row.get("dims", {}).items())))
        got[key] = row.get("value")
    exp = expected_all()
    wrong = [(k, v, got.get(k, "missing")) for k, v in sorted(exp.items()) if got.get(k) != v]
    assert not wrong, f"{what}: {len(wrong)} values differ (key, expected, got): {wrong[:10]}"
    # and no dimension values that the input never had
    inds = {k[1] for k in exp}
    extra = [k for k in got if k[1] in inds and k[0] in {b for b, _, _ in exp} and k not in exp]
    assert not extra, f"{what}: unexpected rows {extra[:10]}"


def total_applied(agg_dir):
    r = crrmon("status", "--data-dir", agg_dir, "--json")
    if r.returncode != 0:
        return 0
    return sum(int(s["appliedSeq"]) for s in map(json.loads, r.stdout.splitlines()))


def verify(agg_dir, ep):
    """Totals through `crrmon query --json` and through a snapshot file; sources complete."""
    rows = [json.loads(line) for line in
            crrmon("query", "--data-dir", agg_dir, "--json", "--window", f"{WINDOW}d", check=0).stdout.splitlines()]
    check_rows(rows, "crrmon query")
    r = crrmon("snapshot", "--http", ep["http"], check=0)
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    with open(out["file"]) as f:
        lines = [json.loads(line) for line in f]
    assert lines[0]["id"] == out["id"]
    check_rows(lines[1:], "snapshot file")
    srcs = [json.loads(line) for line in
            crrmon("status", "--data-dir", agg_dir, "--json", check=0).stdout.splitlines()]
    by_id = {}
    for s in srcs:
        by_id.setdefault(s["sourceId"], []).append(s)
    assert set(by_id) == {s[0] for s in SOURCES}, by_id
    for sid, entries in by_id.items():
        # one epoch per collector spool, even across kill -9 and restarts
        assert len(entries) == 1, entries
        assert entries[0]["appliedSeq"] == str(COUNT), entries
        assert entries[0]["applied"] == str(COUNT) and entries[0]["rejected"] == "0", entries


def run_collectors(ep, dirs):
    procs = {}
    for source_id, (path, _, _) in inputs().items():
        procs[source_id] = start_collector(source_id, path, ep["ingest"], dirs[source_id])
    return procs


def wait_collectors(procs):
    for sid, p in procs.items():
        rc = p.wait(timeout=300)
        assert rc == 0, f"collector {sid} exited {rc}:\n{p.stderr()[-3000:]}"


# ------------------------------------------------------------------ tests

def test_three_collectors_exact_totals():
    inputs()
    agg_dir = crrtest.tmpdir()
    agg, ep = start_aggregator(agg_dir)
    dirs = {sid: crrtest.tmpdir() for sid, _, _ in SOURCES}
    wait_collectors(run_collectors(ep, dirs))
    verify(agg_dir, ep)
    assert agg.term() == 0


def test_aggregator_kill9_mid_run():
    inputs()
    agg_dir = crrtest.tmpdir()
    agg, ep = start_aggregator(agg_dir)
    ingest = ep["ingest"]  # tcp://127.0.0.1:PORT as bound: the restart reuses it
    assert not ingest.endswith("*"), ingest
    dirs = {sid: crrtest.tmpdir() for sid, _, _ in SOURCES}
    procs = run_collectors(ep, dirs)
    crrtest.wait_until(lambda: total_applied(agg_dir) or None, timeout=120, interval=0.005,
                       what="first events applied")
    agg.kill9()
    at_kill = total_applied(agg_dir)  # the store as the dead aggregator left it
    assert 0 < at_kill < COUNT * len(SOURCES), f"the kill was not mid-run ({at_kill} applied)"
    agg2 = agg.restart()  # on the ports it had
    ep2 = agg2.ep
    assert ep2["ingest"] == ingest
    wait_collectors(procs)
    verify(agg_dir, ep2)
    assert agg2.term() == 0


def test_collector_kill9_mid_file():
    inputs()
    agg_dir = crrtest.tmpdir()
    agg, ep = start_aggregator(agg_dir)
    dirs = {sid: crrtest.tmpdir() for sid, _, _ in SOURCES}
    procs = run_collectors(ep, dirs)
    victim = SOURCES[1][0]

    def victim_progress():
        r = crrmon("status", "--data-dir", agg_dir, "--json")
        for s in map(json.loads, r.stdout.splitlines() if r.returncode == 0 else []):
            if s["sourceId"] == victim and int(s["appliedSeq"]) > 0:
                return int(s["appliedSeq"])
        return None

    crrtest.wait_until(victim_progress, timeout=120, interval=0.005, what="victim progress")
    procs[victim].kill9()
    path = inputs()[victim][0]
    procs[victim] = start_collector(victim, path, ep["ingest"], dirs[victim])
    wait_collectors(procs)
    # the restart found the file half read: it resumed from its checkpoint
    assert "resuming after line" in procs[victim].stderr(), procs[victim].stderr()
    verify(agg_dir, ep)
    assert agg.term() == 0


crrtest.main()
