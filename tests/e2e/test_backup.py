"""test_backup: `crrmon backup` beside a running aggregator and `crrmon restore`.

  - a backup taken mid-stream (a collector sending through a pipe while it is
    copied) restores into a new data folder; an aggregator started there
    reports the restored counts; collectors carry on: one whose acknowledged
    sequence is past the backup goes to a fresh epoch (the events it had
    released since are lost, as documented), one whose spool still held
    events sends them, and the final totals are exactly the backup's plus
    what the spools still held;
  - the restored store keeps the configuration the aggregator recorded
    (windows), which `crrmon restore` prints and `crrmon query` uses;
  - refusals: a backup of a folder without a store, a restore over an
    existing store, a restore of a file that is not a store (nothing left
    behind), a restore into a folder a running aggregator holds.
"""
import json
import os

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}
WINDOWS = "7,30,90"


def event(i, tag):
    return json.dumps({"borough": "E09000%03d" % (i % 33 + 1),
                       "occurredAt": "2026-02-%02dT10:00:00Z" % (i % 28 + 1),
                       "recordId": f"{tag}{i}",
                       "racistIncident": {"count": 1, "recordedAsCrime": i % 2 == 0}}) + "\n"


def write_events(path, n, tag):
    with open(path, "w") as f:
        for i in range(1, n + 1):
            f.write(event(i, tag))
    return path


class Aggregator:
    def __init__(self, data_dir, ingest):
        self.dir = data_dir
        self.ingest = ingest
        self.proc = None

    def start(self):
        ep = os.path.join(self.dir, "endpoints.json")
        self.proc = crrtest.Proc([crrtest.binary("crrmon-aggregator"), "--data-dir", self.dir,
                                  "--ingest", self.ingest, "--feed", "tcp://127.0.0.1:*",
                                  "--http", "127.0.0.1:0", "--aggregator.windows=" + WINDOWS],
                                 env=ENV, name="aggregator")
        crrtest.wait_until(lambda: os.path.exists(ep) or not self.proc.alive(), timeout=30,
                           what="aggregator endpoints.json")
        assert self.proc.alive(), self.proc.stderr()
        return self

    def stop(self):
        assert self.proc.term() == 0, self.proc.stderr()


def status(data_dir):
    r = crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", data_dir, "--json"], env=ENV, check=0)
    return {(s["sourceId"], s["epoch"]): int(s["applied"]) for s in map(json.loads, r.stdout.splitlines())}


def applied_by_source(st):
    out = {}
    for (src, _), n in st.items():
        out[src] = out.get(src, 0) + n
    return out


def collector(data_dir, ingest, source_id, *args, stdin=None):
    return crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", data_dir, "--aggregator", ingest,
                         "--source-id", source_id, *args], env=ENV, stdin=stdin, name=f"collector-{source_id}")


def test_backup_mid_stream_restore_and_carry_on():
    work = crrtest.tmpdir()
    ingest = f"tcp://127.0.0.1:{crrtest.free_port()}"
    agg = Aggregator(os.path.join(work, "agg"), ingest).start()
    lambeth, newham, camden = (os.path.join(work, n) for n in ("lambeth", "newham", "camden"))

    # lambeth: 100 events, all acknowledged before the backup
    c = collector(lambeth, ingest, "lambeth", write_events(os.path.join(work, "l1.jsonl"), 100, "l"))
    assert c.wait(60) == 0, c.stderr()

    # newham streams through a pipe; the backup is taken while it runs
    stream = collector(newham, ingest, "newham", "-", stdin="pipe")
    for i in range(1, 501):
        stream.p.stdin.write(event(i, "n").encode())
    stream.p.stdin.flush()
    crrtest.wait_until(lambda: applied_by_source(status(agg.dir)).get("newham", 0) > 0, timeout=60,
                       what="newham's first events applied")
    backup = os.path.join(work, "agg.backup")
    r = crrtest.run([crrtest.binary("crrmon"), "backup", "--data-dir", agg.dir, "--out", backup], check=0)
    assert f"written to {backup}" in r.stdout, r.stdout
    assert stream.alive()  # the collector was not held up
    for i in range(501, 1001):
        stream.p.stdin.write(event(i, "n").encode())
    stream.p.stdin.close()
    assert stream.wait(120) == 0, stream.stderr()
    assert applied_by_source(status(agg.dir)) == {"lambeth": 100, "newham": 1000}

    # camden spools 40 events while the aggregator is down: they stay in its spool
    agg.stop()
    c = collector(camden, ingest, "camden", "--give-up-after", "1s",
                  write_events(os.path.join(work, "c1.jsonl"), 40, "c"))
    assert c.wait(60) == 1, c.stderr()

    # the old host is gone; the backup is restored on a new one
    new = os.path.join(work, "new-agg")
    r = crrtest.run([crrtest.binary("crrmon"), "restore", backup, "--data-dir", new], check=0)
    assert f"restored {backup} into {new}/store" in r.stdout, r.stdout
    assert "recorded configuration: windows 7,30,90 days" in r.stdout, r.stdout
    restored = applied_by_source(status(new))
    assert restored["lambeth"] == 100, restored
    k = restored["newham"]
    assert 0 < k <= 500, restored  # only what was applied when the copy was taken
    assert "camden" not in restored
    assert f"source newham epoch " in r.stdout and f"applied up to seq {k} " in r.stdout, r.stdout
    # query answers from the recorded windows without being told them
    q = crrtest.run([crrtest.binary("crrmon"), "query", "--data-dir", new, "--london", "--json",
                     "--indicator", "racist_incidents.count"], env=ENV, check=0)
    windows = sorted({json.loads(line)["windowDays"] for line in q.stdout.splitlines()})
    assert windows == [7, 30, 90], q.stdout

    agg = Aggregator(new, ingest).start()
    # newham was acknowledged up to 1000, the restored store knows k: fresh epoch, 25 new events
    c = collector(newham, ingest, "newham", write_events(os.path.join(work, "n2.jsonl"), 25, "m"))
    assert c.wait(60) == 0, c.stderr()
    assert "lost the state of source=newham" in c.stderr(), c.stderr()
    assert "are NOT recoverable" in c.stderr(), c.stderr()
    # camden resends the 40 its spool still held
    c = collector(camden, ingest, "camden")
    assert c.wait(60) == 0, c.stderr()
    # lambeth carries on in its epoch
    c = collector(lambeth, ingest, "lambeth", write_events(os.path.join(work, "l2.jsonl"), 10, "L"))
    assert c.wait(60) == 0, c.stderr()
    assert "lost the state" not in c.stderr(), c.stderr()

    final = status(new)
    assert applied_by_source(final) == {"lambeth": 110, "newham": k + 25, "camden": 40}, final
    assert sorted(n for (src, _), n in final.items() if src == "newham") == sorted([k, 25]), final
    # the indicators count exactly those events: the backup's plus what the spools held
    q = crrtest.run([crrtest.binary("crrmon"), "query", "--data-dir", new, "--json",
                     "--window", "90", "--indicator", "racist_incidents.count"], env=ENV, check=0)
    rows = [json.loads(line) for line in q.stdout.splitlines()]
    total = sum(int(r["n"]) for r in rows if r["dims"] == {} and r["borough"] != "LONDON")
    assert total == 100 + k + 25 + 40 + 10, total
    agg.stop()


def test_backup_and_restore_refusals():
    work = crrtest.tmpdir()
    crrmon = crrtest.binary("crrmon")
    # no store to back up
    r = crrtest.run([crrmon, "backup", "--data-dir", work, "--out", os.path.join(work, "b")], check=78)
    assert "no aggregator store in" in r.stderr, r.stderr
    crrtest.run([crrmon, "backup", "--data-dir", work], check=64)
    crrtest.run([crrmon, "restore", "--data-dir", work], check=64)

    ingest = f"tcp://127.0.0.1:{crrtest.free_port()}"
    agg = Aggregator(os.path.join(work, "agg"), ingest).start()
    backup = os.path.join(work, "agg.backup")
    crrtest.run([crrmon, "backup", "--data-dir", agg.dir, "--out", backup], check=0)
    assert oct(os.stat(backup).st_mode & 0o777) == "0o600"
    assert not os.path.exists(backup + ".tmp")
    # a folder a running aggregator holds
    r = crrtest.run([crrmon, "restore", backup, "--data-dir", agg.dir], check=78)
    assert f"pid {agg.proc.pid}" in r.stderr, r.stderr
    agg.stop()
    # a folder that already holds a store
    r = crrtest.run([crrmon, "restore", backup, "--data-dir", agg.dir], check=78)
    assert "already holds a store" in r.stderr, r.stderr
    # a file that is not a store: refused, nothing an aggregator would open is left
    junk = os.path.join(work, "junk")
    with open(junk, "wb") as f:
        f.write(b"not a store\n" * 1000)
    dest = os.path.join(work, "dest")
    r = crrtest.run([crrmon, "restore", junk, "--data-dir", dest], check=78)
    assert "is not a sound crrmon store" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(dest, "store", "data.mdb"))
    # a missing file
    r = crrtest.run([crrmon, "restore", os.path.join(work, "missing"), "--data-dir", dest], check=78)
    # and the good one restores into the same folder afterwards
    crrtest.run([crrmon, "restore", backup, "--data-dir", dest], check=0)
    crrtest.run([crrmon, "verify", "--data-dir", dest], check=0)


if __name__ == "__main__":
    crrtest.main()
