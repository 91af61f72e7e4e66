"""Exports: the outbox and its delivery thread (docs/OPERATIONS.md "Snapshot deliveries").

A snapshot and one delivery per sink are stored in one transaction; a separate
thread writes them, retries failures with backoff, and records the outcome.
Here a file sink's folder is replaced by a plain file (every write fails with
ENOTDIR, as a lost mount would) across three snapshots: each POST answers at
once with the delivery failed, /metrics, /api/v1/stats and `crrmon status`
show the backlog, and once the folder is back all three files arrive, in
snapshot order, each delivered once. A delivery past delivery_max_attempts is
dead, shown as such, and `crrmon export --retry SINK` delivers it.
"""
import csv
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import urllib.error
import urllib.request

import crrtest

NOW = "2026-03-01T12:00:00Z"


def fname(sid, ext, schedule="on-demand"):
    """The default file name of snapshot sid ({schedule}-{as_of}-{id}.EXT; an id starts with
    its as_of as YYYYMMDDTHHMMSSZ)."""
    return f"{schedule}-{sid.split('-')[0]}-{sid}.{ext}"


class Agg:
    """One running aggregator (loopback, insecure, no schedules) with its endpoints."""

    def __init__(self, data_dir, extra=(), env=None):
        self.dir = data_dir
        e = {"CRRMON_NOW": NOW}
        e.update(env or {})
        self.proc = crrtest.Proc([crrtest.binary("crrmon-aggregator"), "--data-dir", self.dir,
                                  "--ingest", "tcp://127.0.0.1:*", "--feed", "tcp://127.0.0.1:*",
                                  "--http", "127.0.0.1:0", "--aggregator.schedules=", *extra],
                                 env=e, name="aggregator")
        self.ep = crrtest.wait_until(self._endpoints, timeout=30, what="endpoints.json")

    def _endpoints(self):
        if not self.proc.alive():
            raise AssertionError(f"aggregator exited {self.proc.p.returncode}: {self.proc.stderr()}")
        with open(os.path.join(self.dir, "endpoints.json")) as f:
            ep = json.load(f)
        return ep if ep.get("pid") == self.proc.pid else None

    def get(self, path):
        with urllib.request.urlopen(f"http://{self.ep['http']}{path}", timeout=60) as r:
            body = r.read().decode()
            return json.loads(body) if path.startswith("/api/") else body

    def snapshot(self):
        req = urllib.request.Request(f"http://{self.ep['http']}/api/v1/snapshots", method="POST",
                                     data=b"")
        with urllib.request.urlopen(req, timeout=120) as r:
            assert r.status == 201
            return json.loads(r.read())

    def delivered_ids(self, sink):
        """The snapshot ids the log says sink delivered, in log order."""
        return re.findall(r"sink %s: snapshot id=(\S+) delivered" % re.escape(sink),
                          self.proc.stderr())


def status(data_dir):
    return crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", data_dir], check=0).stdout


def test_outage_then_every_snapshot_once_in_order():
    d = crrtest.tmpdir("crr-exp-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    a = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl,csv",
                   "--aggregator.delivery_backoff=50ms", "--aggregator.delivery_backoff_max=200ms",
                   "--aggregator.delivery_max_attempts=0"])
    first = a.snapshot()  # both sinks work
    # computed by the snapshot worker, stored by the ingest thread with its deliveries
    assert "snapshot id=%s schedule=on-demand values=%d" % (first["id"], first["values"]) in a.proc.stderr()
    assert "computed off the ingest thread" in a.proc.stderr()
    assert [x["state"] for x in first["deliveries"]] == ["delivered", "delivered"], first
    assert first["file"] == os.path.join(os.path.realpath(snaps), fname(first["id"], "jsonl")), first
    # the destination goes away: every write fails, ingest and HTTP go on
    os.rename(snaps, snaps + ".away")
    with open(snaps, "w") as f:
        f.write("not a folder\n")
    ids = []
    for _ in range(3):
        ans = a.snapshot()
        assert ans["file"] == "", ans  # nothing was written
        # the first fails; the next ones wait behind it (in order), so they are queued
        want = "queued" if ids else "failed"
        assert {x["sink"]: x["state"] for x in ans["deliveries"]} == {"jsonl": want, "csv": want}, ans
        assert "Not a directory" in ans["deliveries"][0]["error"], ans
        ids.append(ans["id"])
    assert ids == sorted(ids) and first["id"] < ids[0], ids
    st = crrtest.wait_until(lambda: (lambda s: s if s["deliveries"]["jsonl"]["pending"] == 3 else None)(
        a.get("/api/v1/stats")), timeout=30, what="a backlog of 3")
    assert st["deliveries"]["csv"]["pending"] == 3 and st["deliveries"]["jsonl"]["dead"] == 0, st
    assert st["sink_failures"] >= 6, st
    metrics = a.get("/metrics")
    assert 'crrmon_delivery_backlog{sink="jsonl"} 3' in metrics, metrics
    assert 'crrmon_delivery_dead{sink="csv"} 0' in metrics, metrics
    assert re.search(r'crrmon_delivery_oldest_age_seconds\{sink="jsonl"\} \d+', metrics), metrics
    out = status(data)
    assert "sink jsonl: 3 pending, 0 dead, oldest undelivered" in out, out
    assert a.delivered_ids("jsonl") == [first["id"]]
    # it comes back: all three arrive, in order, once each
    os.unlink(snaps)
    os.rename(snaps + ".away", snaps)
    want = [first["id"]] + ids
    for sink in ("jsonl", "csv"):
        crrtest.wait_until(lambda: len(a.delivered_ids(sink)) == 4, timeout=30,
                           what=f"the {sink} backlog delivered")
        assert a.delivered_ids(sink) == want, (sink, a.delivered_ids(sink))
    assert sorted(f for f in os.listdir(snaps) if f.endswith(".jsonl")) == [fname(i, "jsonl") for i in want]
    assert sorted(f for f in os.listdir(snaps) if f.endswith(".csv")) == [fname(i, "csv") for i in want]
    with open(os.path.join(snaps, fname(ids[2], "jsonl"))) as f:
        assert json.loads(f.readline())["id"] == ids[2]
    st = a.get("/api/v1/stats")["deliveries"]
    assert st["jsonl"] == {"pending": 0, "dead": 0, "oldest_age_seconds": 0}, st
    assert "snapshot deliveries not done" not in status(data)
    # a restart delivers nothing again
    assert a.proc.term() == 0
    b = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl,csv"])
    b.snapshot()
    assert len(b.delivered_ids("jsonl")) == 1 and "queued at start" not in b.proc.stderr()
    assert b.proc.term() == 0


def test_dead_delivery_shown_and_retried():
    d = crrtest.tmpdir("crr-exp-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    a = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl",
                   "--aggregator.delivery_max_attempts=2", "--aggregator.delivery_backoff=20ms"])
    os.rmdir(snaps)
    with open(snaps, "w") as f:
        f.write("not a folder\n")
    ans = a.snapshot()
    assert ans["deliveries"][0]["state"] in ("failed", "dead"), ans
    crrtest.wait_until(lambda: a.get("/api/v1/stats")["deliveries"]["jsonl"]["dead"] == 1,
                       timeout=30, what="the delivery dead after 2 attempts")
    assert "DEAD after 2 attempt(s)" in a.proc.stderr()
    assert "sink jsonl: 0 pending, 1 dead" in status(data)
    assert 'crrmon_delivery_dead{sink="jsonl"} 1' in a.get("/metrics")
    os.unlink(snaps)
    os.mkdir(snaps)
    r = crrtest.run([crrtest.binary("crrmon"), "export", "--data-dir", data, "--retry", "jsonl"], check=0)
    assert r.stdout == "1 dead delivery(ies) of sink jsonl queued again\n", r.stdout
    crrtest.wait_until(lambda: a.delivered_ids("jsonl") == [ans["id"]], timeout=30,
                       what="the revived delivery written")
    assert os.path.exists(os.path.join(snaps, fname(ans["id"], "jsonl")))
    assert a.get("/api/v1/stats")["deliveries"]["jsonl"] == {"pending": 0, "dead": 0,
                                                           "oldest_age_seconds": 0}
    r = crrtest.run([crrtest.binary("crrmon"), "export", "--data-dir", data, "--retry", "jsonl"], check=0)
    assert r.stdout.startswith("0 dead"), r.stdout
    r = crrtest.run([crrtest.binary("crrmon"), "export", "--data-dir", data], check=64)
    assert "--retry SINK is required" in r.stderr, r.stderr
    assert a.proc.term() == 0


def test_crash_between_write_and_outcome_writes_it_once_more():
    """kill -9 (crash point agg_delivery_after_write) after the file is written but before its
    outcome is recorded: the next start writes the same snapshot again (same bytes), once."""
    d = crrtest.tmpdir("crr-exp-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    args = ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl"]
    a = Agg(data, args, env={"CRR_CRASHPOINT": "agg_delivery_after_write:1"})
    req = urllib.request.Request(f"http://{a.ep['http']}/api/v1/snapshots", method="POST", data=b"")
    try:
        urllib.request.urlopen(req, timeout=60)
    except Exception:
        pass  # the aggregator died answering
    assert a.proc.wait(timeout=30) == 86, a.proc.stderr()[-2000:]
    files = os.listdir(snaps)
    assert len(files) == 1 and files[0].endswith(".jsonl"), files
    with open(os.path.join(snaps, files[0]), "rb") as f:
        before = f.read()
    b = Agg(data, args)
    with open(os.path.join(snaps, files[0])) as f:
        sid = json.loads(f.readline())["id"]
    assert files[0] == fname(sid, "jsonl")
    crrtest.wait_until(lambda: b.delivered_ids("jsonl") == [sid], timeout=30,
                       what="the delivery written again at start")
    with open(os.path.join(snaps, files[0]), "rb") as f:
        assert f.read() == before
    assert os.listdir(snaps) == files
    assert b.proc.term() == 0


def test_two_csv_instances_side_by_side():
    """[sink.NAME] type = csv: two CSV destinations; [sink.csv] without a type is still the csv sink."""
    d = crrtest.tmpdir("crr-exp-")
    data, one, two, ini = (os.path.join(d, x) for x in ("data", "one", "two", "agg.ini"))
    with open(ini, "w") as f:
        f.write(f"[aggregator]\nsinks = csv, archive\n[sink.csv]\ndir = {one}\n"
                f"[sink.archive]\ntype = csv\ndir = {two}\n")
    a = Agg(data, ["--config", ini])
    ans = a.snapshot()
    assert [(x["sink"], x["state"]) for x in ans["deliveries"]] == [("csv", "delivered"),
                                                                     ("archive", "delivered")], ans
    with open(os.path.join(one, fname(ans["id"], "csv"))) as f1, open(os.path.join(two, fname(ans["id"], "csv"))) as f2:
        assert f1.read() == f2.read()
    assert a.delivered_ids("archive") == [ans["id"]] and a.delivered_ids("csv") == [ans["id"]]
    assert a.proc.term() == 0
    with open(ini, "w") as f:
        f.write("[aggregator]\nsinks = bad\n[sink.bad]\ntype = nosuch\n")
    r = crrtest.run([crrtest.binary("crrmon-aggregator"), "--data-dir", data, "--config", ini,
                     "--check-config"], check=78)
    assert "[sink.bad]: type 'nosuch' is not a compiled-in sink" in r.stderr, r.stderr


def test_snapshots_listed_and_reexported_byte_for_byte():
    d = crrtest.tmpdir("crr-exp-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    a = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl,csv"])
    one, two = a.snapshot(), a.snapshot()
    crrmon = crrtest.binary("crrmon")
    out = crrtest.run([crrmon, "snapshots", "--data-dir", data], check=0).stdout
    for ans in (one, two):
        assert re.search(r"%s\s+2026-03-01T12:00:00Z\s+on-demand\s+%d\s+2 done, 0 pending, 0 dead"
                         % (ans["id"], ans["values"]), out), out
    rows = [json.loads(l) for l in crrtest.run([crrmon, "snapshots", "--data-dir", data, "--json"],
                                               check=0).stdout.splitlines()]
    assert [r["id"] for r in rows] == [one["id"], two["id"]], rows
    assert rows[0]["deliveries"] == {"done": 2, "pending": 0, "dead": 0} and rows[0]["catchUp"] is False
    # again, byte for byte: to a file (csv) and to stdout (jsonl, --latest)
    target = os.path.join(d, "again.csv")
    crrtest.run([crrmon, "export", "--data-dir", data, "--snapshot", one["id"], "--format", "csv",
                 "--out", target], check=0)
    with open(target, "rb") as f1, open(os.path.join(snaps, fname(one["id"], "csv")), "rb") as f2:
        assert f1.read() == f2.read()
    assert sorted(os.listdir(d)) == ["again.csv", "data", "snaps"]  # no temporary left
    r = subprocess.run([crrmon, "export", "--data-dir", data, "--latest"], capture_output=True)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(snaps, fname(two["id"], "jsonl")), "rb") as f:
        assert r.stdout == f.read()
    # the CSV, parsed by Python's csv module, holds what the JSONL holds
    with open(os.path.join(snaps, fname(one["id"], "csv")), newline="") as f:
        table = list(csv.DictReader(f))
    got = {(r["indicator"], r["borough"], int(r["window_days"]), r["dims"]): r["value"] for r in table}
    # analyst columns: the borough's name, the window's dates, the stat
    r = next(r for r in table if r["indicator"] == "stop_search.count" and r["borough"] == "E09000022"
             and r["window_days"] == "30" and r["dims"] == "")
    assert (r["borough_name"], r["window_start"], r["window_end"], r["stat"]) == \
        ("Lambeth", "2026-01-31", "2026-03-01", "C"), r
    assert {r["borough_name"] for r in table if r["borough"] == "LONDON"} == {"London"}
    assert all(r["stat"] in ("C", "P", "W", "M", "R", "RR", "V") for r in table)
    with open(os.path.join(snaps, fname(one["id"], "jsonl"))) as f:
        lines = [json.loads(l) for l in f][1:]
    want = {(l["indicator"], l["borough"], l["windowDays"],
             ";".join(f"{k}={v}" for k, v in sorted(l.get("dims", {}).items()))):
            l.get("value") for l in lines}
    assert len(got) == len(want) == one["values"], (len(got), len(want))
    assert {k: (float(v) if v != "" else None) for k, v in got.items()} == want
    r = crrtest.run([crrmon, "export", "--data-dir", data, "--snapshot", "nosuch"], check=1)
    assert "not stored" in r.stderr, r.stderr
    assert a.proc.term() == 0


def test_a_schedule_feeds_its_own_sinks():
    """schedules = tick=every 1s @ archive: scheduled snapshots go to the archive instance only,
    on-demand ones to aggregator.sinks only."""
    d = crrtest.tmpdir("crr-exp-")
    data, snaps, arch = (os.path.join(d, x) for x in ("data", "snaps", "arch"))
    a = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl",
                   "--aggregator.schedules=tick=every 1s @ archive", "--sink.archive.type=csv",
                   "--sink.archive.dir=" + arch], env={"CRRMON_NOW": NOW + "+"})
    crrtest.wait_until(lambda: a.delivered_ids("archive"), timeout=30, what="a scheduled delivery")
    ans = a.snapshot()
    assert [x["sink"] for x in ans["deliveries"]] == ["jsonl"], ans
    assert a.proc.term() == 0
    sched = a.delivered_ids("archive")
    assert ans["id"] not in sched and sched, sched
    assert a.delivered_ids("jsonl") == [ans["id"]], a.delivered_ids("jsonl")
    assert all(os.path.exists(os.path.join(arch, fname(i, "csv", "tick"))) for i in sched)
    assert os.path.exists(os.path.join(arch, "tick-latest.csv"))
    assert sorted(f for f in os.listdir(snaps) if f.endswith(".jsonl")) == [fname(ans["id"], "jsonl")]


def test_catch_up_after_a_week_down():
    """A nightly schedule (daily 02:00 Europe/London) fires once; the aggregator is down for a
    week; at start it logs the 7 missed slots and takes one catch-up snapshot as of the last."""
    d = crrtest.tmpdir("crr-exp-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    args = ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl",
            "--aggregator.schedules=nightly=daily 02:00"]
    a = Agg(data, args, env={"CRRMON_NOW": "2026-03-01T01:59:58Z+"})
    path = crrtest.wait_until(lambda: [f for f in os.listdir(snaps) if f.endswith(".jsonl")
                                       and "latest" not in f], timeout=30, what="the nightly snapshot")
    with open(os.path.join(snaps, path[0])) as f:
        head = json.loads(f.readline())
    assert head["asOf"] == "2026-03-01T02:00:00Z" and head["schedule"] == "nightly", head
    assert head["catchUp"] is False, head
    assert a.proc.term() == 0
    b = Agg(data, args, env={"CRRMON_NOW": "2026-03-08T12:00:00Z"})
    err = crrtest.wait_until(lambda: "next=" in b.proc.stderr() and b.proc.stderr(), timeout=30,
                             what="the schedules initialised")
    assert "schedule name=nightly: 7 slot(s) missed while the aggregator was down (last taken " \
           "2026-03-01T02:00:00Z); one catch-up snapshot as of 2026-03-08T02:00:00Z" in err, err
    assert "schedule name=nightly next=2026-03-09T02:00:00Z (Europe/London)" in err, err
    files = crrtest.wait_until(lambda: (lambda f: f if len(f) == 2 else None)(
        sorted(f for f in os.listdir(snaps) if f.endswith(".jsonl") and "latest" not in f)),
        timeout=30, what="the catch-up snapshot")
    with open(os.path.join(snaps, files[1])) as f:
        head = json.loads(f.readline())
    assert head["asOf"] == "2026-03-08T02:00:00Z" and head["catchUp"] is True, head
    assert head["schedule"] == "nightly", head
    # the schedule's latest copy is the catch-up snapshot, byte for byte
    crrtest.wait_until(lambda: b.delivered_ids("jsonl"), timeout=30, what="the delivery")
    with open(os.path.join(snaps, files[1]), "rb") as f1, \
            open(os.path.join(snaps, "nightly-latest.jsonl"), "rb") as f2:
        assert f1.read() == f2.read()
    assert b.proc.term() == 0
    c = Agg(data, args, env={"CRRMON_NOW": "2026-03-08T12:00:00Z"})  # nothing missed since
    crrtest.wait_until(lambda: "next=" in c.proc.stderr(), timeout=30, what="the schedules")
    assert "missed" not in c.proc.stderr()
    assert c.proc.term() == 0


class Receiver:
    """A real HTTP receiver on a free loopback port (Python's http.server on a thread): answers
    POSTs with self.answer (500 while "down"), keeps every request's headers and body."""

    def __init__(self):
        self.answer = 200
        self.requests = []  # (status answered, headers dict, body dict)
        self.arrived, self.gate = threading.Event(), threading.Event()
        self.gate.set()
        self.lock = threading.Lock()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.arrived.set()
                outer.gate.wait(60)  # a destination that hangs until the test lets it answer
                with outer.lock:
                    code = outer.answer
                    ndjson = self.headers.get("Content-Type") == "application/x-ndjson"
                    outer.requests.append((code, dict(self.headers), body if ndjson else json.loads(body)))
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no" if code >= 300 else b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/hook?k=secretquery" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self):
        with self.lock:
            return [(h["Idempotency-Key"], b) for c, h, b in self.requests if c == 200]

    def close(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def test_webhook_down_for_a_while_every_snapshot_once_in_order():
    d = crrtest.tmpdir("crr-exp-")
    data, token = os.path.join(d, "data"), os.path.join(d, "token")
    with open(token, "w") as f:
        f.write("s3cret-token\n")
    rx = Receiver()
    try:
        a = Agg(data, ["--aggregator.sinks=webhook", "--sink.webhook.url=" + rx.url,
                       "--sink.webhook.token_file=" + token, "--aggregator.delivery_max_attempts=0",
                       "--aggregator.delivery_backoff=50ms", "--aggregator.delivery_backoff_max=300ms"])
        first = a.snapshot()
        assert first["deliveries"] == [{"sink": "webhook", "state": "delivered", "error": "", "file": ""}], first
        rx.answer = 500
        ids = []
        for i in range(3):
            ans = a.snapshot()
            state = ans["deliveries"][0]
            assert state["state"] == ("queued" if ids else "failed"), ans
            assert "answered 500" in state["error"] and "secretquery" not in state["error"], state
            ids.append(ans["id"])
        crrtest.wait_until(lambda: a.get("/api/v1/stats")["deliveries"]["webhook"]["pending"] == 3,
                           timeout=30, what="a webhook backlog of 3")
        rx.answer = 200
        want = [first["id"]] + ids
        crrtest.wait_until(lambda: len(rx.accepted()) == 4, timeout=30, what="the backlog POSTed")
        got = rx.accepted()
        assert [k for k, _ in got] == want, got  # in order, once each
        for key, body in got:
            assert body["id"] == key and body["schedule"] == "on-demand", body
            assert len(body["values"]) == first["values"], len(body["values"])
        with rx.lock:
            assert all(h["Authorization"] == "Bearer s3cret-token" for _, h, _ in rx.requests)
            assert all(h["Content-Type"] == "application/json" for _, h, _ in rx.requests)
            failed = [h["Idempotency-Key"] for c, h, _ in rx.requests if c == 500]
        assert failed and set(failed) == {ids[0]}, failed  # only the head was retried
        crrtest.wait_until(lambda: a.delivered_ids("webhook") == want, timeout=30,
                           what="each outcome recorded")
        # a 4xx other than 408/429 is dead at once; the others are not held up by it
        rx.answer = 400
        ans = a.snapshot()
        assert ans["deliveries"][0]["state"] == "dead" and "answered 400: no" in ans["deliveries"][0]["error"], ans
        assert a.get("/api/v1/stats")["deliveries"]["webhook"] == {"pending": 0, "dead": 1,
                                                                 "oldest_age_seconds": 0}
        rx.answer = 200
        r = crrtest.run([crrtest.binary("crrmon"), "export", "--data-dir", data, "--retry", "webhook"], check=0)
        crrtest.wait_until(lambda: len(rx.accepted()) == 5, timeout=30, what="the dead one revived")
        assert rx.accepted()[-1][0] == ans["id"]
        assert "s3cret-token" not in a.proc.stderr() and "secretquery" not in a.proc.stderr()
        assert a.proc.term() == 0
    finally:
        rx.close()


def test_webhook_jsonl_body_is_the_jsonl_file():
    d = crrtest.tmpdir("crr-exp-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    rx = Receiver()
    try:
        a = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl,webhook",
                       "--sink.webhook.url=" + rx.url, "--sink.webhook.body=jsonl"])
        ans = a.snapshot()
        assert [x["state"] for x in ans["deliveries"]] == ["delivered", "delivered"], ans
        (key, body), = rx.accepted()
        assert key == ans["id"]
        with open(os.path.join(snaps, fname(ans["id"], "jsonl")), "rb") as f:
            assert body == f.read()
        with rx.lock:
            assert "Authorization" not in rx.requests[0][1]  # no token_file: no header
        assert a.proc.term() == 0
    finally:
        rx.close()


def test_ingest_goes_on_while_a_sink_hangs():
    """A webhook that does not answer holds up only its own deliveries: events sent meanwhile are
    applied and acknowledged, and on-demand snapshots are still taken."""
    d = crrtest.tmpdir("crr-exp-")
    data = os.path.join(d, "data")
    rx = Receiver()
    rx.gate.clear()
    try:
        a = Agg(data, ["--aggregator.sinks=webhook", "--sink.webhook.url=" + rx.url,
                       "--sink.webhook.timeout=60s"])
        first = {}
        t = threading.Thread(target=lambda: first.update(a.snapshot()), daemon=True)
        t.start()
        assert rx.arrived.wait(30), "the webhook never got the snapshot"
        r = crrtest.run([crrtest.binary("crrmon"), "generate", "--seed", "4", "--count", "50",
                         "--end", NOW, "--days", "5"], check=0)
        path = os.path.join(d, "in.jsonl")
        with open(path, "w") as f:
            f.write(r.stdout)
        crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", a.ep["ingest"], path],
                    env={"CRRMON_NOW": NOW}, check=0)  # acknowledged while the sink hangs
        assert a.get("/api/v1/stats")["applied"] == 50
        assert not rx.requests and t.is_alive()  # the delivery is still in flight
        rx.gate.set()
        t.join(60)
        assert first["deliveries"] == [{"sink": "webhook", "state": "delivered", "error": "", "file": ""}], first
        assert a.proc.term() == 0
    finally:
        rx.close()


def snapshots_json(data_dir):
    r = crrtest.run([crrtest.binary("crrmon"), "snapshots", "--data-dir", data_dir, "--json"], check=0)
    return [json.loads(l) for l in r.stdout.splitlines()]


def test_catch_up_is_computed_on_the_worker_while_ingest_runs():
    """The catch-up at start is computed by the snapshot worker, not before ingest starts: with
    the worker held at its pause point (CRR_PAUSEPOINT) while it computes the catch-up, a
    collector's events are acknowledged and applied, and the catch-up is not stored yet; once
    released it is stored (catchUp: true) and delivered."""
    d = crrtest.tmpdir("crr-exp-")
    data, snaps, gate = os.path.join(d, "data"), os.path.join(d, "snaps"), os.path.join(d, "gate")
    args = ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl",
            "--aggregator.schedules=nightly=daily 02:00"]
    a = Agg(data, args, env={"CRRMON_NOW": "2026-03-01T01:59:58Z+"})
    crrtest.wait_until(lambda: a.delivered_ids("jsonl"), timeout=30, what="the nightly snapshot")
    assert a.proc.term() == 0
    later = "2026-03-08T12:00:00Z"
    b = Agg(data, args, env={"CRRMON_NOW": later,
                             "CRR_PAUSEPOINT": "agg_snapwork_compute:" + gate})
    crrtest.wait_until(lambda: "pause point agg_snapwork_compute: waiting" in b.proc.stderr(),
                       timeout=30, what="the worker computing the catch-up")
    r = crrtest.run([crrtest.binary("crrmon"), "generate", "--seed", "5", "--count", "40",
                     "--end", later, "--days", "5"], check=0)
    path = os.path.join(d, "in.jsonl")
    with open(path, "w") as f:
        f.write(r.stdout)
    crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", b.ep["ingest"], path],
                env={"CRRMON_NOW": later}, check=0)  # every event acknowledged
    assert b.get("/api/v1/stats")["applied"] == 40
    rows = snapshots_json(data)
    assert [r["catchUp"] for r in rows] == [False], rows  # the catch-up is not stored yet
    assert "started pid=" in b.proc.stderr()
    with open(gate, "w"):
        pass
    err = crrtest.wait_until(lambda: "schedule=nightly catch-up" in b.proc.stderr() and b.proc.stderr(),
                             timeout=30, what="the catch-up stored (its log line)")
    rows = snapshots_json(data)
    assert len(rows) == 2 and rows[1]["catchUp"] is True, rows
    assert rows[1]["asOf"] == "2026-03-08T02:00:00Z", rows
    assert err.index("started pid=") < err.index("snapshot id=%s schedule=nightly catch-up" % rows[1]["id"])
    crrtest.wait_until(lambda: rows[1]["id"] in b.delivered_ids("jsonl"), timeout=30,
                       what="the catch-up delivered")
    assert b.proc.term() == 0


def test_a_sink_added_to_a_schedule_gets_its_stored_snapshots():
    """A sink instance added to a schedule's list (restart) is sent every stored snapshot of that
    schedule, once, in order (as a sink added to aggregator.sinks is sent every stored snapshot
    meant for aggregator.sinks); it gets none of the snapshots meant for other sinks, and the
    default sinks get none of the schedule's."""
    d = crrtest.tmpdir("crr-exp-")
    data, snaps, arch = (os.path.join(d, x) for x in ("data", "snaps", "arch"))
    base = ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl"]
    a = Agg(data, base + ["--aggregator.schedules=nightly=daily 02:00 @ csv"],
            env={"CRRMON_NOW": "2026-03-01T01:59:58Z+"})
    nightly = crrtest.wait_until(lambda: a.delivered_ids("csv"), timeout=30, what="the nightly snapshot")
    ondemand = a.snapshot()
    assert [x["sink"] for x in ondemand["deliveries"]] == ["jsonl"], ondemand
    assert a.proc.term() == 0
    assert a.delivered_ids("jsonl") == [ondemand["id"]]
    grown = base + ["--aggregator.schedules=nightly=daily 02:00 @ csv,archive",
                    "--sink.archive.type=csv", "--sink.archive.dir=" + arch]
    b = Agg(data, grown, env={"CRRMON_NOW": "2026-03-01T02:00:30Z"})  # no slot missed
    crrtest.wait_until(lambda: b.delivered_ids("archive") == nightly, timeout=30,
                       what="the archive backfilled")
    err = b.proc.stderr()
    assert "sink archive: snapshot id=%s schedule=nightly queued at start" % nightly[0] in err, err
    assert err.count("queued at start") == 1, err  # neither jsonl nor csv get anything again
    assert sorted(os.listdir(arch)) == sorted([fname(nightly[0], "csv", "nightly"), "nightly-latest.csv"])
    assert b.proc.term() == 0
    assert b.delivered_ids("jsonl") == [] and b.delivered_ids("csv") == []
    c = Agg(data, grown, env={"CRRMON_NOW": "2026-03-01T02:00:40Z"})  # once: not again
    crrtest.wait_until(lambda: "next=" in c.proc.stderr(), timeout=30, what="the schedules")
    assert c.snapshot()["deliveries"][0]["state"] == "delivered"
    assert "queued at start" not in c.proc.stderr() and c.delivered_ids("archive") == []
    assert c.proc.term() == 0


def test_crrmon_snapshot_waits_for_each_delivery():
    """`crrmon snapshot` waits past the POST (which answers once the snapshot is stored) until each
    sink's delivery is decided, and prints each outcome with the file written; a delivery still
    undecided when --timeout is spent is printed pending (exit 0: the snapshot is taken, the
    aggregator goes on with it), with a note on stderr."""
    d = crrtest.tmpdir("crr-exp-")
    data, snaps = os.path.join(d, "data"), os.path.join(d, "snaps")
    rx = Receiver()
    rx.gate.clear()  # the webhook hangs until the test lets it answer
    try:
        a = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl,webhook",
                       "--sink.webhook.url=" + rx.url, "--sink.webhook.timeout=60s"])
        cmd = [crrtest.binary("crrmon"), "snapshot", "--http", a.ep["http"]]
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert rx.arrived.wait(30), "the webhook never got the snapshot"
        sid = crrtest.wait_until(lambda: a.delivered_ids("jsonl"), timeout=30, what="the file")[0]
        assert p.poll() is None  # the webhook's delivery is not decided: still waiting
        rx.gate.set()
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        path = os.path.join(os.path.realpath(snaps), fname(sid, "jsonl"))
        assert out.splitlines() == [f"id {sid}", f"file {path}", out.splitlines()[2],
                                    f"delivery jsonl delivered {path}",
                                    "delivery webhook delivered"], out
        assert err == "", err
        # the GET it follows: each sink's outcome, with the file; 404 for a snapshot not stored
        got = a.get(f"/api/v1/snapshots/{sid}/deliveries")
        assert got == {"id": sid, "deliveries": [
            {"sink": "jsonl", "state": "delivered", "error": "", "file": path},
            {"sink": "webhook", "state": "delivered", "error": "", "file": ""}]}, got
        try:
            a.get("/api/v1/snapshots/nosuch/deliveries")
            raise AssertionError("a snapshot not stored was found")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e
        assert a.proc.term() == 0
    finally:
        rx.close()
    # undecided when --timeout is spent: pending, exit 0, a note on stderr (a receiver that
    # takes the connection and never answers)
    silent = socket.socket()
    try:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        b = Agg(data, ["--aggregator.snapshot_dir=" + snaps, "--aggregator.sinks=jsonl,webhook",
                       "--sink.webhook.url=http://127.0.0.1:%d/hook" % silent.getsockname()[1],
                       "--sink.webhook.timeout=15s"])  # stopping waits for it
        r = crrtest.run([crrtest.binary("crrmon"), "snapshot", "--http", b.ep["http"], "--timeout", "3s"],
                        check=0)
        lines = r.stdout.splitlines()
        assert lines[-2].startswith("delivery jsonl delivered ") and lines[-1] == "delivery webhook pending", lines
        assert "1 delivery(ies) of snapshot %s not decided within the timeout" % lines[0][3:] in r.stderr, r.stderr
        assert b.proc.term(timeout=60) == 0
    finally:
        silent.close()


if __name__ == "__main__":
    crrtest.main()
