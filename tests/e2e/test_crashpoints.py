"""test_crashpoints: the exactly-once guarantees at the exact moments that
matter, made repeatable with named crash points (common/crashpoint.h).

For each point, a collector sends a generated file to an aggregator started
with CRR_CRASHPOINT=<point>:<n> (or the collector is), the armed process dies
there with exit code 86 as kill -9 would, it is restarted without the crash
point, and the totals must equal the file's exactly:
  agg_before_apply   frames received, nothing applied, no Ack: resent, applied once;
  agg_after_commit   group durable, Acks never sent: resent, acknowledged, not re-applied;
  agg_after_ack      Acks delivered, then death: nothing acknowledged may be missing
                     (this is the one that fails if an Ack ever goes out before the commit);
  collector_after_spool     lines spooled with their checkpoint, nothing sent yet;
  collector_after_release   an Ack applied to the spool, more in flight.
A fail point (CRR_FAILPOINT, common/crashpoint.h) makes one allocation fail
instead: codec_arena_chunk:1, the aggregator's first unpack finds no memory;
that valid batch must be answered store_failed (resend), never kept as a
reject, and every event still applied exactly once.
"""
import json
import os
import urllib.request

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}
COUNT = 20000
BOROUGH = "E09000022"
CRASH_EXIT = 86
SMALL = ["--sender.batch_events=500", "--sender.window=4", "--collector.group_lines=700"]

_input = None


def crrmon(*args, check=0):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check)


def make_input():
    """The generated file and its expected stop_search.count per ethnicity (90-day window)."""
    global _input
    if _input is None:
        path = os.path.join(crrtest.tmpdir("crr-crash-in-"), "events.jsonl")
        r = crrmon("generate", "--seed", 77, "--borough", BOROUGH, "--count", COUNT, "--types",
                   "stop_search", "--end", NOW, "--days", 30)
        with open(path, "w") as f:
            f.write(r.stdout)
        exp = {}
        for line in r.stdout.splitlines():
            ss = json.loads(line)["stopSearch"]
            n = ss.get("count") or 1
            exp[()] = exp.get((), 0) + n
            k = (("ethnicity", ss["ethnicity"][len("ETHNICITY_"):]),)
            exp[k] = exp.get(k, 0) + n
        _input = (path, exp)
    return _input


def start_aggregator(data_dir, ingest="tcp://127.0.0.1:*", crash=None):
    """crrtest.start_aggregator with CRR_CRASHPOINT=crash; returns (handle, endpoints)."""
    env = dict(ENV)
    if crash:
        env["CRR_CRASHPOINT"] = crash
    agg = crrtest.start_aggregator(data_dir, ingest=ingest, env=env, args=["--aggregator.group_max_events=1000"])
    return agg, agg.ep


def start_collector(data_dir, ingest, path, crash=None):
    env = dict(ENV)
    if crash:
        env["CRR_CRASHPOINT"] = crash
    return crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", data_dir, "--aggregator", ingest,
                         "--source-id", "crash-test", "--give-up-after", "120s", *SMALL, path],
                        env=env, name="collector")


def check_totals(agg_dir, exp):
    rows = [json.loads(l) for l in crrmon("query", "--data-dir", agg_dir, "--json", "--window", "90d",
                                           "--borough", BOROUGH, "--indicator", "stop_search.count").stdout.splitlines()]
    got = {tuple(sorted(r.get("dims", {}).items())): r.get("value") for r in rows}
    assert got == {k: float(v) for k, v in exp.items()}, f"got {got}\nexpected {exp}"
    st = [json.loads(l) for l in crrmon("status", "--data-dir", agg_dir, "--json").stdout.splitlines()]
    assert len(st) == 1 and st[0]["appliedSeq"] == str(COUNT) and st[0]["applied"] == str(COUNT), st


def aggregator_crash(point):
    path, exp = make_input()
    d = crrtest.tmpdir("crr-crash-")
    agg_dir, coll_dir = os.path.join(d, "agg"), os.path.join(d, "coll")
    agg, ep = start_aggregator(agg_dir, crash=f"{point}:3")
    coll = start_collector(coll_dir, ep["ingest"], path)
    assert agg.wait(timeout=120) == CRASH_EXIT, agg.stderr()[-2000:]
    assert f"crash point {point} reached" in agg.stderr()
    agg2 = agg.restart(env=ENV)  # the same ports, no crash point
    assert coll.wait(timeout=180) == 0, coll.stderr()[-3000:]
    check_totals(agg_dir, exp)
    assert agg2.term() == 0


def collector_crash(point):
    path, exp = make_input()
    d = crrtest.tmpdir("crr-crash-")
    agg_dir, coll_dir = os.path.join(d, "agg"), os.path.join(d, "coll")
    agg, ep = start_aggregator(agg_dir)
    coll = start_collector(coll_dir, ep["ingest"], path, crash=f"{point}:3")
    assert coll.wait(timeout=120) == CRASH_EXIT, coll.stderr()[-2000:]
    assert f"crash point {point} reached" in coll.stderr()
    coll2 = start_collector(coll_dir, ep["ingest"], path)
    assert coll2.wait(timeout=180) == 0, coll2.stderr()[-3000:]
    check_totals(agg_dir, exp)
    assert agg.term() == 0


def test_aggregator_dies_before_apply():
    aggregator_crash("agg_before_apply")


def test_aggregator_dies_after_commit_before_ack():
    aggregator_crash("agg_after_commit")


def test_aggregator_dies_after_ack():
    aggregator_crash("agg_after_ack")


def test_rejection_survives_a_lost_ack():
    """The aggregator commits a group holding an event it rejects (400 days old) and dies
    before the Ack: the collector resends, the resend is all duplicates, and the Ack must
    still carry the rejection, so the collector keeps it (file and line) and exits 2."""
    path, exp = make_input()
    d = crrtest.tmpdir("crr-crash-")
    old = os.path.join(d, "with-old.jsonl")
    with open(path) as f:
        lines = f.readlines()
    bad = json.loads(lines[1])
    bad["occurredAt"] = "2025-01-25T12:00:00Z"  # 400 days before NOW: too_old at the aggregator
    bad["recordId"] = "too-old-1"
    with open(old, "w") as f:
        f.writelines([lines[0], json.dumps(bad) + "\n"] + lines[2:])
    agg_dir, coll_dir = os.path.join(d, "agg"), os.path.join(d, "coll")
    agg, ep = start_aggregator(agg_dir, crash="agg_after_commit:1")
    coll = start_collector(coll_dir, ep["ingest"], old)
    assert agg.wait(timeout=120) == CRASH_EXIT, agg.stderr()[-2000:]
    agg2 = agg.restart(env=ENV)  # the same ports, no crash point
    assert coll.wait(timeout=180) == 2, coll.stderr()[-3000:]
    rej = [json.loads(l) for l in crrmon("rejects", "--data-dir", coll_dir, "--json").stdout.splitlines()]
    assert [(r["file"], r["line"], r["code"], r["field"]) for r in rej] == [(old, 2, "too_old", "occurred_at")], rej
    ss = json.loads(lines[1])["stopSearch"]
    n, k = ss.get("count") or 1, (("ethnicity", ss["ethnicity"][len("ETHNICITY_"):]),)
    want = dict(exp)
    want[()] -= n
    want[k] -= n
    if want[k] == 0:
        del want[k]
    rows = [json.loads(l) for l in crrmon("query", "--data-dir", agg_dir, "--json", "--window", "90d",
                                           "--borough", BOROUGH, "--indicator", "stop_search.count").stdout.splitlines()]
    assert {tuple(sorted(r.get("dims", {}).items())): r.get("value") for r in rows} == \
        {kk: float(v) for kk, v in want.items()}
    assert agg2.term() == 0


def test_frame_unpacked_without_memory_is_resent():
    """The first frame's unpack gets no arena chunk (as if malloc returned NULL): the batch is
    not the sender's fault, so no reject is stored and it is not counted malformed; it is
    answered store_failed, counted as a batch failure, logged once at warn, resent by the
    collector, and the totals are exact (applied once)."""
    path, exp = make_input()
    d = crrtest.tmpdir("crr-crash-")
    agg_dir, coll_dir = os.path.join(d, "agg"), os.path.join(d, "coll")
    env = dict(ENV, CRR_FAILPOINT="codec_arena_chunk:1")
    agg = crrtest.start_aggregator(agg_dir, env=env, args=["--aggregator.group_max_events=1000"])
    coll = start_collector(coll_dir, agg.ep["ingest"], path)
    assert coll.wait(timeout=180) == 0, coll.stderr()[-3000:]
    check_totals(agg_dir, exp)
    assert crrmon("rejects", "--data-dir", agg_dir, "--json").stdout == ""
    with urllib.request.urlopen(f"http://{agg.ep['http']}/api/v1/rejects", timeout=30) as r:
        assert json.loads(r.read())["rejects"] == []
    with urllib.request.urlopen(f"http://{agg.ep['http']}/api/v1/stats", timeout=30) as r:
        st = json.loads(r.read())
    assert (st["malformed"], st["batch_failures"], st["applied"]) == (0, 1, COUNT), st
    err = agg.stderr()
    assert err.count("fail point codec_arena_chunk reached") == 1, err[-3000:]
    lines = [l for l in err.splitlines() if "batch not unpacked" in l]
    assert len(lines) == 1 and " warn " in lines[0] and "store_failed" in lines[0], lines
    assert "store_failed: the aggregator could not unpack this batch" in coll.stderr(), coll.stderr()[-3000:]
    assert agg.term() == 0


def test_collector_dies_after_spooling():
    collector_crash("collector_after_spool")


def test_collector_dies_after_release():
    collector_crash("collector_after_release")


if __name__ == "__main__":
    crrtest.main()
