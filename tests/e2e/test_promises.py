"""test_promises: promises that a one-line slip could break without any other
test noticing, each checked from outside with real processes.

  - durable before Ack: the aggregator runs under `strace -f` (libzmq does its
    socket IO on its own threads) and one batch is sent by a Python DEALER; a
    data sync (fdatasync, fsync or msync) must happen after the batch is read
    from the socket and before the Ack is written to it. Opening the store
    with MDB_NOSYNC removes every such call (tests/unit/test_durability.c
    checks the environment flags themselves).
  - the edge's future rule: the collector itself rejects an event 10 minutes
    ahead (code future, no sequence given, so nothing of it reaches the
    aggregator) and accepts one 4 minutes ahead (inside the 5-minute slack).
    The aggregator applies the same rule, so a collector whose slack were off
    by a factor of 1000 either way would go unnoticed without this test.
  - LONDON's pipeline.last_event_age_seconds through the real ingest path:
    three boroughs' events arrive at three instants (the aggregator restarted
    with another CRRMON_NOW each time), the latest in the middle borough;
    LONDON must be the smallest age, whichever borough a slip would take.
  - the spool's on-disk format version: a spool marked with a newer version
    (mdb_load) makes the collector exit 78 with a message naming both
    versions, and the spool keeps its mark and reads no input.
"""
import json
import os
import re
import shutil
import signal
import urllib.request

import zmq

import crrtest

NOW = "2026-03-01T12:00:00Z"
NOW_SEC = 1772366400  # 2026-03-01T12:00:00Z
pb = crrtest.pb  # the generated protobuf modules


def start_aggregator(data_dir, env, wrap=()):
    """crrtest.start_aggregator on random loopback ports (optionally under a wrapper such as strace);
    returns (handle, endpoints)."""
    agg = crrtest.start_aggregator(data_dir, env=env, wrap=wrap, timeout=60)
    return agg, agg.ep


def stop_search(seq, source, when):
    m = pb()
    e = m["event"].Event(seq=seq, borough="E09000022", source_id=source)
    e.occurred_at.seconds = when
    e.stop_search.count = 1
    e.stop_search.ethnicity = m["enums"].Ethnicity.Value("ETHNICITY_BLACK")
    e.stop_search.outcome = m["enums"].Outcome.Value("OUTCOME_ARREST")
    return e


# ------------------------------------------------------------------ durable before Ack

SYSCALL = re.compile(r"^(\d+)\s+[\d.]+\s+(?:<\.\.\. )?(\w+)(?: resumed>|\()(.*)$")


def syncs_between_batch_and_ack(trace_path, marker):
    """From an `strace -f -ttt` log: (sync calls strictly between the recvfrom that
    carried the batch and the sendto that carried its Ack, the two lines)."""
    with open(trace_path, errors="replace") as f:
        lines = f.read().splitlines()
    recv = send = None
    pending = {}  # pid -> syscall name of an <unfinished ...> line
    events = []   # (index, name, completed line text)
    for i, line in enumerate(lines):
        m = SYSCALL.match(line)
        if not m:
            continue
        pid, name, rest = m.group(1), m.group(2), m.group(3)
        if "<unfinished ...>" in rest:
            pending[pid] = (name, rest)
            continue
        if line.split(None, 2)[2].startswith("<..."):
            name0, head = pending.pop(pid, (name, ""))
            rest = head.replace("<unfinished ...>", "") + rest
            name = name0
        events.append((i, name, rest))
    for i, name, rest in events:
        # socket calls only: a log line naming the source (write to stderr) is not the Ack
        if recv is None and name in ("recvfrom", "recvmsg") and marker in rest:
            recv = i
        elif recv is not None and name in ("sendto", "sendmsg") and marker in rest:
            send = i
            break
    assert recv is not None, f"no recvfrom carrying {marker} in the trace"
    assert send is not None, f"no sendto carrying {marker} (the Ack) after the batch in the trace"
    syncs = [(i, name) for i, name, _ in events if recv < i < send and name in ("fdatasync", "fsync", "msync")]
    return syncs, lines[recv][:160], lines[send][:160]


def test_data_sync_between_batch_and_ack():
    if not shutil.which("strace"):
        raise AssertionError("strace is not installed (deploy/deps.sh installs it for the tests)")
    d = crrtest.tmpdir("crragg-")
    trace = os.path.join(crrtest.tmpdir("crrtrace-"), "agg.strace")
    wrap = ["strace", "-f", "-ttt", "-s", "512", "-o", trace,
            "-e", "trace=fdatasync,fsync,msync,recvfrom,recvmsg,sendto,sendmsg"]
    # LeakSanitizer cannot run under ptrace: an ASan build stops it for this one process
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""), "detect_leaks=0"]))
    proc, ep = start_aggregator(d, {"CRRMON_NOW": NOW, "ASAN_OPTIONS": asan}, wrap)
    source = "syncprobe-7f3a"
    b = pb()["ingest"].Batch(source_id=source, epoch=77)
    b.events.append(stop_search(1, source, NOW_SEC - 7200))
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep["ingest"])
    try:
        s.send(b.SerializeToString())
        assert s.poll(60000), "no Ack within 60 s"
        ack = pb()["ingest"].Ack()
        ack.ParseFromString(s.recv())
    finally:
        s.close()
    assert (ack.source_id, ack.epoch, ack.durable_seq, len(ack.rejected)) == (source, 77, 1, 0), ack
    # SIGTERM to strace would detach it and leave the aggregator running: stop
    # the aggregator itself (its pid is in endpoints.json); strace exits with its status
    os.kill(ep["pid"], signal.SIGTERM)
    assert proc.wait(60) == 0, proc.stderr()
    syncs, recv_line, send_line = syncs_between_batch_and_ack(trace, source)
    assert len(syncs) >= 1, ("no fdatasync/fsync/msync between the batch's arrival and its Ack:\n"
                             f"  {recv_line}\n  {send_line}")


# ------------------------------------------------------------------ the edge's future rule

def status_of(data_dir, source_id, env):
    """The aggregator's `crrmon status --json` line of source_id, or None when unseen."""
    r = crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", data_dir, "--json"], env=env, check=0)
    hits = [json.loads(line) for line in r.stdout.splitlines() if json.loads(line).get("sourceId") == source_id]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


def collector_rejects(data_dir, env):
    r = crrtest.run([crrtest.binary("crrmon"), "rejects", "--data-dir", data_dir, "--json", "--limit", "0"],
                    env=env, check=0)
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_collector_rejects_future_event_itself():
    env = {"CRRMON_NOW": NOW + "+"}  # running from NOW: the test has 60 s before +4 min leaves the slack
    adir = crrtest.tmpdir("crragg-")
    agg, ep = start_aggregator(adir, env)
    work = crrtest.tmpdir()
    path = os.path.join(work, "in.jsonl")
    with open(path, "w") as f:
        f.write('{"borough": "E09000001", "occurredAt": "2026-03-01T12:10:00Z", "recordId": "ahead10", '
                '"racistIncident": {"count": 1}}\n')  # now + 10 min: future at the edge
        f.write('{"borough": "E09000001", "occurredAt": "2026-03-01T12:04:00Z", "recordId": "ahead4", '
                '"racistIncident": {"count": 1}}\n')  # now + 4 min: inside the 5-minute slack
    cdir = os.path.join(work, "coll")
    c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", cdir, "--aggregator", ep["ingest"],
                      "--source-id", "ahead", "--give-up-after", "60s", path], env=env, name="collector")
    assert c.wait(90) == 2, c.stderr()  # 2: a line was rejected
    err = c.stderr()
    assert f"{path}:1: occurred_at:" in err and "in the future" in err, err
    assert "rejected by the aggregator" not in err, err
    rej = collector_rejects(cdir, env)
    assert [(r["file"], r["line"], r["field"], r["code"]) for r in rej] == [(path, 1, "occurred_at", "future")], rej
    assert "seq" not in rej[0] or str(rej[0]["seq"]) == "0", rej  # never given a sequence
    # the aggregator saw exactly the one event inside the slack, as sequence 1
    st = status_of(adir, "ahead", env)
    assert st is not None, "the event 4 minutes ahead never reached the aggregator"
    assert (int(st.get("appliedSeq", 0)), int(st.get("applied", 0)), int(st.get("rejected", 0))) == (1, 1, 0), st
    assert agg.term() == 0, agg.stderr()


# ------------------------------------------------------------------ LONDON's last event age

def send_one(ep, source, seq, borough):
    """One stop_search of borough as sequence seq of (source, epoch 5); returns the Ack."""
    b = pb()["ingest"].Batch(source_id=source, epoch=5)
    e = stop_search(seq, source, NOW_SEC - 7200)
    e.borough = borough
    b.events.append(e)
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep["ingest"])
    try:
        s.send(b.SerializeToString())
        assert s.poll(60000), "no Ack within 60 s"
        ack = pb()["ingest"].Ack()
        ack.ParseFromString(s.recv())
        return ack
    finally:
        s.close()


def test_london_last_event_age_is_the_smallest():
    d = crrtest.tmpdir("crragg-")
    arrivals = [("E09000001", "2026-03-01T11:10:00Z"),   # age 3000 s at NOW
                ("E09000015", "2026-03-01T11:43:20Z"),   # age 1000 s: the latest arrival
                ("E09000033", "2026-03-01T11:26:40Z")]   # age 2000 s
    for seq, (borough, at) in enumerate(arrivals, 1):
        proc, ep = start_aggregator(d, {"CRRMON_NOW": at})
        ack = send_one(ep, "ages", seq, borough)
        assert (ack.durable_seq, len(ack.rejected), ack.error) == (seq, 0, 0), ack
        assert proc.term() == 0, proc.stderr()
    proc, ep = start_aggregator(d, {"CRRMON_NOW": NOW})
    req = urllib.request.Request(f"http://{ep['http']}/api/v1/snapshots", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 201
        ans = json.loads(r.read())
    with open(ans["file"]) as f:
        rows = [json.loads(line) for line in f.read().splitlines()[1:]]
    ages = {(r["borough"], r["windowDays"]): r.get("value") for r in rows
            if r["indicator"] == "pipeline.last_event_age_seconds" and r["dims"] == {}}
    seen = {k: v for k, v in ages.items() if v is not None}  # what the messages show
    assert (ages[("E09000001", 30)], ages[("E09000015", 30)], ages[("E09000033", 30)]) == (3000, 1000, 2000), seen
    assert [ages[("LONDON", w)] for w in (30, 90, 365)] == [1000, 1000, 1000], seen
    assert ages.get(("E09000002", 30)) is None, seen  # no event, no age
    assert proc.term() == 0, proc.stderr()


# ------------------------------------------------------------------ spool format version

def spool_meta(data_dir):
    """The spool's meta database as {key: value text} (mdb_dump -p)."""
    r = crrtest.run(["mdb_dump", "-p", "-s", "meta", os.path.join(data_dir, "spool")], check=0)
    lines = r.stdout.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].splitlines()
    return {k.strip(): v.strip() for k, v in zip(lines[0::2], lines[1::2])}


def test_collector_refuses_spool_of_newer_format():
    env = {"CRRMON_NOW": NOW}
    work = crrtest.tmpdir()
    path = os.path.join(work, "in.jsonl")
    with open(path, "w") as f:
        f.write('{"borough": "E09000001", "occurredAt": "2026-02-01T10:00:00Z", "racistIncident": {"count": 1}}\n')
    cdir = os.path.join(work, "coll")
    args = [crrtest.binary("crrmon-collector"), "--data-dir", cdir, "--aggregator",
            f"tcp://127.0.0.1:{crrtest.free_port()}", "--source-id", "fmt", "--give-up-after", "1s"]
    # a run with no input and nobody listening: creates the spool, exits on give-up
    c = crrtest.Proc(args + [os.devnull], env=env, name="collector")
    c.wait(60)
    assert spool_meta(cdir).get("format") == "\\00\\00\\00\\01", spool_meta(cdir)
    crrtest.run(["mdb_load", "-T", "-s", "meta", os.path.join(cdir, "spool")], input="format\n\\00\\00\\00\\07\n",
                check=0)
    c = crrtest.Proc(args + [path], env=env, name="collector")
    assert c.wait(60) == 78, c.stderr()
    err = c.stderr()
    assert "written by a newer crrmon (on-disk format version 7; this build reads up to 1)" in err, err
    meta = spool_meta(cdir)
    assert meta.get("format") == "\\00\\00\\00\\07", meta  # left as it is
    assert meta.get("count") == "\\00" * 8 and meta.get("next_seq") == "\\00" * 7 + "\\01", meta


if __name__ == "__main__":
    crrtest.main()
