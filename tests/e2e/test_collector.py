"""test_collector: crrmon-collector as a black box against an aggregator.

Scenarios (docs/DESIGN.md "Guarantees", the collector's part):
  - a JSONL file with a bad line in the middle: the good lines arrive, the bad
    one is logged as FILE:LINE: field: reason, kept in the spool's rejects
    database, and the collector exits 2;
  - aggregator down: the collector spools, then delivers once it starts;
  - spool limit reached: reading stops with a clear message, nothing dropped;
  - kill -9 of a collector mid-way through a large file, restart: the
    aggregator's totals equal the file's events exactly;
  - --give-up-after: exit 1 with the spool kept (delivered on the next start);
  - stdin until SIGTERM; a second collector on the same data folder refused,
    naming the first one's pid;
  - `--new-spool FILE`: a bare boolean flag before a file name means true.

The aggregator is always the real crrmon-aggregator (totals read with
`crrmon status --json`); when it is not built the tests fail.
Ports are free loopback ports; waits poll with deadlines.
"""
import json
import os
import shutil

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}

class Aggregator(crrtest.Aggregator):
    """The real crrmon-aggregator on a fixed ingest port (so it can start after a
    collector). There is no stand-in: a test of the collector against the real
    thing fails when the real thing is not built. start() as crrtest.Aggregator."""

    def __init__(self):
        self.port = crrtest.free_port()
        super().__init__(ingest=f"tcp://127.0.0.1:{self.port}", env=ENV)

    def totals(self, source_id):
        """{'appliedSeq': int, 'applied': int, 'rejected': int} for source_id (zeros if unseen)."""
        zero = {"appliedSeq": 0, "applied": 0, "rejected": 0}
        r = crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", self.dir, "--json"], env=ENV)
        if r.returncode != 0:
            return zero
        for line in r.stdout.splitlines():
            s = json.loads(line)
            if s.get("sourceId") == source_id:
                return {k: int(s.get(k, 0)) for k in zero}
        return zero


def write_events(path, n, bad=()):
    """n lines of valid events (a blank line after the first), bad line numbers broken."""
    with open(path, "w") as f:
        lineno = 0
        for i in range(1, n + 1):
            lineno += 1
            if lineno in bad:
                f.write('{"borough": "E09000001", "occurredAt": "2026-02-01T00:00:00Z", '
                        '"racistIncident": {"count": "lots"}}\n')
                lineno += 1
            f.write(json.dumps({"borough": "E09000%03d" % (i % 33 + 1),
                                "occurredAt": "2026-02-%02dT10:00:00Z" % (i % 28 + 1),
                                "recordId": f"r{i}",
                                "racistIncident": {"count": 1, "recordedAsCrime": i % 2 == 0}}) + "\n")
            if i == 1:
                f.write("\n")
                lineno += 1
    return path


def collector(data_dir, ingest, source_id, *args, stdin=None):
    return crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", data_dir, "--aggregator", ingest,
                         "--source-id", source_id, *args], env=ENV, stdin=stdin, name=f"collector-{source_id}")


def rejects_dump(data_dir):
    r = crrtest.run(["mdb_dump", "-p", "-s", "rejects", os.path.join(data_dir, "spool")], check=0)
    return r.stdout


# ------------------------------------------------------------------ tests

def test_bad_line_reported_exit_2():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    # 40 events; line 1 event, line 2 blank, ..., a bad line at line 21
    path = write_events(os.path.join(work, "in.jsonl"), 40, bad=(21,))
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "bad-line", "--give-up-after", "60s", path)
    assert c.wait(60) == 2, c.stderr()
    err = c.stderr()
    assert f"{path}:21: racist_incident.count:" in err, err
    t = agg.totals("bad-line")
    assert t["applied"] == 40 and t["appliedSeq"] == 40, t
    dump = rejects_dump(cdir)
    assert f'"file":"{path}"' in dump and '"line":21' in dump and "racist_incident.count" in dump, dump
    assert '\\"lots\\"' in dump or "lots" in dump, dump  # the raw line is kept


def test_aggregator_rejection_names_file_and_line():
    # valid at the edge (the collector does not check age by default), refused
    # by the aggregator as too old: the reject names the file and line
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    path = write_events(os.path.join(work, "in.jsonl"), 10)
    with open(path, "a") as f:
        f.write('{"borough": "E09000002", "occurredAt": "2019-01-01T00:00:00Z", "racistIncident": {"count": 1}}\n')
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "old", "--give-up-after", "60s", path)
    assert c.wait(60) == 2, c.stderr()
    err = c.stderr()
    assert f"{path}:12: occurred_at:" in err and "rejected by the aggregator" in err, err
    t = agg.totals("old")
    assert t["applied"] == 10 and t["rejected"] == 1 and t["appliedSeq"] == 11, t
    dump = rejects_dump(cdir)
    assert f'"file":"{path}"' in dump and '"line":12' in dump and '"seq":"11"' in dump, dump
    assert "2019-01-01" in dump, dump  # the event itself, as JSON


def test_aggregator_down_then_delivers():
    agg = Aggregator()
    work = crrtest.tmpdir()
    path = write_events(os.path.join(work, "in.jsonl"), 2000)
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "late-agg", "--give-up-after", "120s", path)
    crrtest.wait_until(lambda: "end of input" in c.stderr(), timeout=30, what="file spooled")
    assert c.alive(), c.stderr()
    agg.start()
    assert c.wait(60) == 0, c.stderr()
    t = agg.totals("late-agg")
    assert t["applied"] == 2000 and t["appliedSeq"] == 2000, t


def test_spool_full_stops_reading_without_dropping():
    agg = Aggregator()
    work = crrtest.tmpdir()
    n = 3000
    path = write_events(os.path.join(work, "in.jsonl"), n)
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "full", "--spool-size", "64k", "--give-up-after", "120s", path)
    crrtest.wait_until(lambda: "spool full" in c.stderr(), timeout=30, what="spool full message")
    err = c.stderr()
    assert "stopped reading" in err and "nothing is dropped" in err, err
    assert "end of input" not in err, err
    assert c.alive()
    agg.start()
    assert c.wait(120) == 0, c.stderr()
    t = agg.totals("full")
    assert t["applied"] == n and t["appliedSeq"] == n, t
    assert "resumed reading" in c.stderr()


def test_kill9_mid_file_exact_totals():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    n = 400000
    path = write_events(os.path.join(work, "big.jsonl"), n)
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "k9", "--give-up-after", "120s", path)
    # kill once the aggregator has part of the file, while the collector still reads
    crrtest.wait_until(lambda: agg.totals("k9")["applied"] > 0 or not c.alive(), timeout=60,
                       what="first events applied", interval=0.005)
    assert c.alive(), "collector finished before it could be killed: " + c.stderr()[-2000:]
    c.kill9()
    before = agg.totals("k9")["applied"]
    assert 0 < before < n, before
    c2 = collector(cdir, agg.ingest, "k9", "--give-up-after", "120s", path)
    assert c2.wait(120) == 0, c2.stderr()
    assert "resuming after line" in c2.stderr(), c2.stderr()
    t = agg.totals("k9")
    assert t["applied"] == n and t["appliedSeq"] == n, (t, before)


def test_give_up_keeps_spool():
    agg = Aggregator()
    work = crrtest.tmpdir()
    path = write_events(os.path.join(work, "in.jsonl"), 100)
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "gu", "--give-up-after", "1s", path)
    assert c.wait(30) == 1, c.stderr()
    assert "giving up" in c.stderr() and "stay in the spool" in c.stderr(), c.stderr()
    agg.start()
    c2 = collector(cdir, agg.ingest, "gu", "--give-up-after", "60s", path)
    assert c2.wait(60) == 0, c2.stderr()
    t = agg.totals("gu")
    assert t["applied"] == 100 and t["appliedSeq"] == 100, t


def test_stdin_until_sigterm_and_lock():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "stdin", stdin="pipe")
    lines = open(write_events(os.path.join(work, "in.jsonl"), 50)).read()
    c.p.stdin.write(lines.encode())
    c.p.stdin.flush()
    crrtest.wait_until(lambda: agg.totals("stdin")["applied"] == 50, timeout=30, what="50 events via stdin")
    # a second collector on the same data folder is refused
    other = collector(cdir, agg.ingest, "stdin", os.path.join(work, "in.jsonl"))
    assert other.wait(30) == 78  # a refused data folder
    assert f"another crrmon-collector (pid {c.pid}) is using" in other.stderr(), other.stderr()
    assert c.term(30) == 0, c.stderr()


def test_new_spool_bare_flag_before_file():
    # `--new-spool FILE`: a boolean flag without =value means true and leaves
    # FILE an input (it once took FILE as its value and exited 64)
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    path = write_events(os.path.join(work, "in.jsonl"), 20)
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "bare", "--give-up-after", "60s", path)
    assert c.wait(60) == 0, c.stderr()
    shutil.rmtree(os.path.join(cdir, "spool"))
    c = collector(cdir, agg.ingest, "bare", "--give-up-after", "60s", path)
    assert c.wait(60) == 78, c.stderr()  # a lost spool is refused
    c = collector(cdir, agg.ingest, "bare", "--give-up-after", "60s", "--new-spool", path)
    assert c.wait(60) == 0, c.stderr()
    assert "--new-spool: reading 1 file(s) again" in c.stderr(), c.stderr()
    # read twice, its record ids counted once (the new spool is a new epoch)
    assert "20 event(s) spooled and acknowledged" in c.stderr(), c.stderr()
    assert "0 accepted, 20 duplicate, 0 rejected" in c.stderr(), c.stderr()


def test_help_and_version():
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--help"], check=0)
    assert "--give-up-after" in r.stdout and "--spool-size" in r.stdout and "stdin cannot" in r.stdout
    assert "--sender.window" in r.stdout, r.stdout
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--version"], check=0)
    assert r.stdout.startswith("crrmon-collector ")
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--data-dir", "/tmp/x"])
    assert r.returncode == 64 and "required" in r.stderr


if __name__ == "__main__":
    crrtest.main()
