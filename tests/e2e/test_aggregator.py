"""test_aggregator: crrmon-aggregator as a black box, over its real sockets.

Each test starts the real daemon on random loopback ports (tcp://127.0.0.1:*
and 127.0.0.1:0, read back from DATA_DIR/endpoints.json) with CRRMON_NOW set,
speaks the wire protocol with a Python DEALER (python3-zmq, modules generated
by protoc at test time), and checks Acks, counters (/api/v1/stats), the
rejects database (mdb_dump) and the exact lines of the JSON Lines snapshot
files. Every wait is a poll with a deadline.
"""
import calendar
import glob
import json
import math
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import zmq

import crrtest

NOW = "2026-03-01T12:00:00Z"
NOW_SEC = calendar.timegm((2026, 3, 1, 12, 0, 0))
DAY = 86400
B = "E09000022"  # Lambeth
Z = 1.959963984540054
pb = crrtest.pb  # the generated protobuf modules


class Agg(crrtest.Aggregator):
    """One running aggregator (crrtest.Aggregator) with the wire and HTTP calls these tests make."""

    def __init__(self, data_dir=None, now=NOW, extra=()):
        super().__init__(data_dir, args=extra, env={"CRRMON_NOW": now} if now else {})
        self.start()
        self.ctx = zmq.Context.instance()

    def http(self, method, path):
        req = urllib.request.Request(f"http://{self.ep['http']}{path}", method=method,
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def stats(self):
        code, body = self.http("GET", "/api/v1/stats")
        assert code == 200
        return body

    def snapshot(self):
        """POST /api/v1/snapshots; returns (answer, header, rows) of the JSONL file."""
        code, ans = self.http("POST", "/api/v1/snapshots")
        assert code == 201, (code, ans)
        header, rows = read_jsonl(ans["file"])
        assert ans["values"] == len(rows), (ans, len(rows))
        return ans, header, rows

    def dealer(self):
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(self.ep["ingest"])
        return s

    def rejects(self):
        """Every record of the rejects database, as dicts (read with mdb_dump)."""
        r = crrtest.run(["mdb_dump", "-p", "-s", "rejects", os.path.join(self.dir, "store")], check=0)
        lines = r.stdout.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].splitlines()
        return [json.loads(mdb_unescape(v[1:])) for v in lines[1::2]]


def mdb_unescape(s):
    """mdb_dump -p text: bytes that are not printable are written as backslash + 2 hex digits."""
    out, i = bytearray(), 0
    hexd = "0123456789abcdefABCDEF"
    while i < len(s):
        if s[i] == "\\" and i + 2 < len(s) and s[i + 1] in hexd and s[i + 2] in hexd:
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
        else:
            out += s[i].encode()
            i += 1
    return out.decode()


def read_jsonl(path):
    with open(path) as f:
        lines = f.read().split("\n")
    assert lines[-1] == "", "file must end with a newline"
    docs = [json.loads(line) for line in lines[:-1]]
    return docs[0], docs[1:]


def find(rows, indicator, borough, window, dims=None):
    hits = [r for r in rows if r["indicator"] == indicator and r["borough"] == borough
            and r["windowDays"] == window and r["dims"] == (dims or {})]
    assert len(hits) <= 1, hits
    return hits[0] if hits else None


def byar(a):
    lower = 0.0 if a == 0 else a * (1 - 1 / (9 * a) - Z / (3 * math.sqrt(a))) ** 3
    a1 = a + 1
    return lower, a1 * (1 - 1 / (9 * a1) + Z / (3 * math.sqrt(a1))) ** 3


def stop_search(seq, when=NOW_SEC - 7200, borough=B, count=1, eth="ETHNICITY_BLACK"):
    m = pb()
    e = m["event"].Event(seq=seq, borough=borough)
    e.occurred_at.seconds = when
    e.stop_search.count = count
    e.stop_search.ethnicity = m["enums"].Ethnicity.Value(eth)
    e.stop_search.outcome = m["enums"].Outcome.Value("OUTCOME_ARREST")
    return e


def feedback(seq, overall=4, when=NOW_SEC - 7200, borough=B):
    m = pb()
    e = m["event"].Event(seq=seq, borough=borough)
    e.occurred_at.seconds = when
    f = e.training_feedback
    f.course_id, f.session_id, f.trainer_id = "CRR1", "S1", "T1"
    f.staff_group = m["enums"].StaffGroup.Value("STAFF_GROUP_OPERATIONAL")
    f.overall, f.relevance, f.trainer_quality, f.purpose_explained = overall, 4, 4, 4
    return e


def batch(source, epoch, events):
    b = pb()["ingest"].Batch(source_id=source, epoch=epoch)
    for e in events:
        e.source_id = source
        b.events.append(e)
    return b.SerializeToString()


def exchange(sock, frames, timeout=20.0):
    """Sends one message (bytes or a list of frames) and returns the parsed Ack."""
    if isinstance(frames, (bytes, bytearray)):
        sock.send(frames)
    else:
        sock.send_multipart(frames)
    if not sock.poll(int(timeout * 1000)):
        raise AssertionError(f"no Ack within {timeout}s")
    ack = pb()["ingest"].Ack()
    ack.ParseFromString(sock.recv())
    return ack


def code(name):
    return pb()["ingest"].RejectCode.Value(name)


# ---------------------------------------------------------------- tests


def test_endpoints_health_lock_and_sigterm():
    a = Agg()
    for k in ("ingest", "feed"):
        assert a.ep[k].startswith("tcp://127.0.0.1:") and not a.ep[k].endswith(":*"), a.ep
        assert int(a.ep[k].rsplit(":", 1)[1]) > 0
    host, port = a.ep["http"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0, a.ep
    assert a.http("GET", "/healthz") == (200, {"status": "ok"})
    assert a.http("GET", "/nope")[0] == 404
    assert a.http("POST", "/healthz")[0] == 405
    assert a.http("GET", "/api/v1/snapshots") == (200, {"snapshots": []})  # GET lists them (test_api)
    assert a.http("DELETE", "/api/v1/snapshots")[0] == 405
    assert "INSECURE" in a.proc.stderr()
    # a second aggregator on the same folder refuses to start, the first keeps serving
    r = crrtest.start_aggregator(a.dir, wait=False)
    assert r.wait(30) == 78, (r.returncode, r.stderr())  # a refused data folder
    assert f"(pid {a.proc.pid}) holds" in r.stderr() and "refusing to start" in r.stderr(), r.stderr()
    assert a.http("GET", "/healthz")[0] == 200
    assert a.proc.term(timeout=15) == 0
    assert not os.path.exists(os.path.join(a.dir, "endpoints.json"))
    assert "stopped" in a.proc.stderr()


def test_usage_help_version_and_config_errors():
    agg = crrtest.binary("crrmon-aggregator")
    r = crrtest.run([agg, "--help"], check=0)
    for word in ("--data-dir", "--ingest", "--feed", "--http", "--aggregator.max_msg_size",
                 "--aggregator.schedules", "--sink.jsonl.dir", "jsonl", "csv"):
        assert word in r.stdout, word
    # docs/DESIGN.md: the HTTP API binds to localhost unless configured
    http_line = next(l for l in r.stdout.splitlines() if l.strip().startswith("--http "))
    assert "default: 127.0.0.1:7480;" in http_line, http_line
    assert crrtest.run([agg, "--version"], check=0).stdout.startswith("crrmon-aggregator ")
    assert "--data-dir" in crrtest.run([agg], check=64).stderr
    d = crrtest.tmpdir()
    ini = os.path.join(d, "agg.ini")
    with open(ini, "w") as f:
        f.write("[aggregator]\ndata_dir = %s\n\nschedules = q=every 15m;n=weekly 02:00\n" % d)
    r = crrtest.run([agg, "--config", ini], check=78)
    assert f"{ini}:4" in r.stderr and "weekly 02:00" in r.stderr and "daily 02:00" in r.stderr, r.stderr
    with open(ini, "w") as f:
        f.write("[aggregator]\ndata_dir = %s\nbogus = 1\n" % d)
    r = crrtest.run([agg, "--config", ini], check=78)
    assert f"{ini}:3" in r.stderr and "bogus" in r.stderr, r.stderr
    r = crrtest.run([agg, "--data-dir", d, "--aggregator.windows=30,x"], check=64)
    assert "windows" in r.stderr
    r = crrtest.start_aggregator(d, args=["--aggregator.sinks=nosuch"], wait=False)
    assert r.wait(120) == 64, (r.returncode, r.stderr())
    assert "no sink named 'nosuch'" in r.stderr(), r.stderr()


def test_batch_acked_and_duplicate_counted_once():
    a = Agg()
    s = a.dealer()
    frame = batch("src-a", 11, [stop_search(1), stop_search(2), stop_search(3, count=2)])
    ack = exchange(s, frame)
    assert (ack.source_id, ack.epoch, ack.durable_seq, ack.expected_seq) == ("src-a", 11, 3, 0), ack
    assert len(ack.rejected) == 0 and ack.error == 0
    ack = exchange(s, frame)  # resent: acknowledged again, not applied again
    assert (ack.durable_seq, ack.expected_seq, len(ack.rejected)) == (3, 0, 0), ack
    # the acks counter is bumped just after the send: the Ack can arrive first
    st = crrtest.wait_until(lambda: (lambda x: x if x["acks"] == 2 else None)(a.stats()), timeout=10,
                            what="acks counter")
    # a resend is not a duplicate: nothing new, counted as resent; the Ack's totals say so
    assert (st["applied"], st["duplicates"], st["resent"], st["batches"], st["acks"]) == (3, 0, 3, 2, 2), st
    assert (ack.total_applied, ack.total_duplicates, ack.total_rejected) == (3, 0, 0), ack
    ans, header, rows = a.snapshot()
    # the header: every Snapshot field but values, in field order, defaults written
    assert list(header) == ["id", "asOf", "takenAt", "schedule", "catchUp"], header
    assert header == {"id": ans["id"], "asOf": NOW, "takenAt": NOW, "schedule": "on-demand",
                      "catchUp": False}
    assert ans["file"] == os.path.join(os.path.realpath(a.dir), "snapshots",
                                       f"on-demand-20260301T120000Z-{ans['id']}.jsonl")
    assert os.path.basename(ans["file"]) == crrtest.snapshot_file(ans, "jsonl")
    lo, hi = byar(4)
    row = find(rows, "stop_search.count", B, 30)
    assert list(row) == ["indicator", "borough", "windowDays", "dims", "value", "n", "ciLow",
                         "ciHigh", "reliable", "boroughsReporting"], row
    assert row["value"] == 4.0 and row["n"] == "4" and row["reliable"] is False, row
    assert abs(row["ciLow"] - lo) < 1e-9 and abs(row["ciHigh"] - hi) < 1e-9, row
    black = find(rows, "stop_search.count", B, 30, {"ethnicity": "BLACK"})
    assert (black["value"], black["n"]) == (4.0, "4"), black
    # B was first seen inside the window: it does not cover it, and LONDON stands on no borough
    assert row["boroughsReporting"] == 0 and black["boroughsReporting"] == 0, (row, black)
    london = find(rows, "stop_search.count", "LONDON", 30)
    assert (london["value"], london["n"], london["boroughsReporting"]) == (0.0, "0", 0), london
    # a total with nothing in it is written with its defaults ("n":"0", "reliable":false)
    zero = find(rows, "feedback.responses", B, 30)
    assert (zero["value"], zero["n"], zero["reliable"]) == (0.0, "0", False), zero
    # a borough without any applied event still gets every total row (docs/DESIGN.md: every borough),
    # with the stat's empty value: a count of 0 with Byar's approximation [0, 3.668] (docs/DOMAIN.md: Byar,
    # lower bound 0; the exact Poisson bound would be 3.689), shares absent, no dimension rows
    empty = [r for r in rows if r["borough"] == "E09000001"]
    assert empty and all(r["dims"] == {} for r in empty), empty[:3]
    none = find(rows, "stop_search.count", "E09000001", 30)
    assert (none["value"], none["n"], none["reliable"], none["ciLow"]) == (0.0, "0", False, 0.0), none
    assert abs(none["ciHigh"] - byar(0)[1]) < 1e-12 and abs(none["ciHigh"] - 3.66801) < 1e-5, none
    assert "value" not in find(rows, "stop_search.arrest_rate", "E09000001", 30)
    assert len({r["borough"] for r in rows}) == 34
    for r in rows:  # every line carries every non-wrapper field
        for k in ("indicator", "borough", "windowDays", "dims", "n", "reliable"):
            assert k in r, (k, r)
        assert isinstance(r["n"], str) and "nEff" not in r or r["indicator"].startswith("survey")


def test_store_of_a_newer_format_is_refused_with_78():
    """A store whose on-disk format version is newer than this build reads: the aggregator exits 78
    (configuration: a refused data folder) with a message saying so, and `crrmon query` too; the store
    is left as it was (an older one would be migrated: tests/unit/test_store.c)."""
    a = Agg()
    assert a.proc.term(timeout=15) == 0
    store = os.path.join(a.dir, "store")
    # meta "format" = be32 99, written with lmdb-utils' mdb_load (text mode: key line, value line)
    crrtest.run(["mdb_load", "-T", "-s", "meta", store], input="format\n\\00\\00\\00\\63\n", check=0)
    r = crrtest.start_aggregator(a.dir, env={"CRRMON_NOW": NOW}, wait=False)
    assert r.wait(120) == 78, (r.returncode, r.stderr())
    assert "written by a newer crrmon" in r.stderr() and "format version" in r.stderr(), r.stderr()
    r = crrtest.run([crrtest.binary("crrmon"), "query", "--data-dir", a.dir, "--london"], check=78)
    assert "newer crrmon" in r.stderr, r.stderr
    dump = crrtest.run(["mdb_dump", "-p", "-s", "meta", store], check=0).stdout
    assert " format\n \\00\\00\\00c\n" in dump, dump


def test_snapshot_as_of_range_follows_bucket_max_age():
    """POST /api/v1/snapshots?as_of=DATE: buckets kept 400 days (aggregator.bucket_max_age) serve the
    365-day window back to 35 days before today; earlier is refused naming that date, a date inside is
    a snapshot as of the end of that day with its own id; a bucket_max_age shorter than the longest
    window is a configuration error."""
    a = Agg(extra=["--aggregator.bucket_max_age=400d"])
    s = a.dealer()
    ack = exchange(s, batch("src-a", 1, [stop_search(1, when=NOW_SEC - 40 * DAY),
                                         stop_search(2, when=NOW_SEC - 20 * DAY)]))
    assert ack.durable_seq == 2 and not ack.rejected, ack
    code, body = a.http("POST", "/api/v1/snapshots?as_of=2026-01-24")
    assert code == 400 and "earliest date allowed is 2026-01-25" in body["error"], (code, body)
    assert body["earliest"] == "2026-01-25", body
    code, body = a.http("POST", "/api/v1/snapshots?as_of=2026-01-25")
    assert code == 201 and body["as_of"] == "2026-01-25T23:59:59Z", (code, body)
    assert body["id"].startswith("20260125T235959Z-"), body
    code, body = a.http("POST", "/api/v1/snapshots?as_of=2026-02-10T06:00:00%2B01:00")
    assert code == 201 and body["as_of"] == "2026-02-10T05:00:00Z", (code, body)
    with open(body["file"]) as f:
        rows = [json.loads(line) for line in f.read().splitlines()[1:]]
    # as of 2026-02-10 05:00Z: the searches of 2026-01-20 and 2026-02-09 are both in its 30-day window
    assert find(rows, "stop_search.count", B, 30)["value"] == 2.0
    assert find(rows, "stop_search.count", B, 90)["value"] == 2.0
    assert a.proc.term(timeout=15) == 0
    r = crrtest.start_aggregator(args=["--aggregator.bucket_max_age=300d"], ingest=None, feed=None, http=None,
                                 wait=False)
    assert r.wait(120) == 78, (r.returncode, r.stderr())  # keys that contradict: configuration
    assert "bucket_max_age" in r.stderr() and "365d" in r.stderr(), r.stderr()


def test_gap_and_epochs():
    a = Agg()
    s = a.dealer()
    ack = exchange(s, batch("src-g", 1, [stop_search(5), stop_search(6)]))
    assert (ack.durable_seq, ack.expected_seq) == (0, 1), ack
    assert a.stats()["applied"] == 0
    ack = exchange(s, batch("src-g", 2, [stop_search(1), stop_search(2)]))  # new epoch, same id
    assert (ack.epoch, ack.durable_seq, ack.expected_seq) == (2, 2, 0), ack
    ack = exchange(s, batch("src-g", 1, [stop_search(1)]))  # the old epoch has its own sequence
    assert (ack.epoch, ack.durable_seq, ack.expected_seq) == (1, 1, 0), ack
    ack = exchange(s, batch("src-g", 1, [stop_search(3)]))  # still past expected (2)
    assert (ack.durable_seq, ack.expected_seq) == (1, 2), ack
    assert a.stats()["applied"] == 3
    _, _, rows = a.snapshot()
    assert find(rows, "stop_search.count", B, 30)["value"] == 3.0


def test_malformed_frames_then_good_data():
    a = Agg()
    s = a.dealer()
    good = batch("src-m", 7, [stop_search(1), stop_search(2)])
    frames = [b"\xff\xff\xff\xff\xff\xff", good[:-3], b"", [good, good], b"\x10\x05"]
    for f in frames:
        ack = exchange(s, f)
        assert ack.error == code("REJECT_CODE_MALFORMED") and ack.error_text, (f, ack)
        assert ack.durable_seq == 0 and not ack.source_id
    ack = exchange(s, good)
    assert (ack.error, ack.durable_seq) == (0, 2), ack
    st = a.stats()
    assert (st["malformed"], st["applied"]) == (5, 2), st
    rej = a.rejects()
    assert [r["code"] for r in rej] == ["malformed"] * 5, rej
    assert "empty frame" in rej[2]["reason"] and "multi-frame" in rej[3]["reason"], rej
    assert "source_id" in rej[4]["reason"], rej


def test_event_rejections_in_ack_and_rejects_db():
    a = Agg()
    s = a.dealer()
    evs = [stop_search(1, borough="E09000099"), feedback(2, overall=7),
           stop_search(3, when=NOW_SEC + 3600), stop_search(4, when=NOW_SEC - 400 * DAY),
           stop_search(5), feedback(6)]
    ack = exchange(s, batch("src-r", 3, evs))
    assert ack.durable_seq == 6 and ack.expected_seq == 0, ack
    got = [(r.seq, r.code, r.field) for r in ack.rejected]
    assert got == [(1, code("REJECT_CODE_UNKNOWN_BOROUGH"), "borough"),
                   (2, code("REJECT_CODE_OUT_OF_RANGE"), "training_feedback.overall"),
                   (3, code("REJECT_CODE_FUTURE"), "occurred_at"),
                   (4, code("REJECT_CODE_TOO_OLD"), "occurred_at")], got
    assert all(r.reason for r in ack.rejected)
    st = a.stats()
    assert (st["applied"], st["rejected"]) == (2, 4), st
    rej = a.rejects()
    assert [(r["source"], int(r["seq"]), r["code"]) for r in rej] == [
        ("src-r", 1, "unknown_borough"), ("src-r", 2, "out_of_range"), ("src-r", 3, "future"),
        ("src-r", 4, "too_old")], rej
    _, _, rows = a.snapshot()
    assert find(rows, "stop_search.count", B, 30)["value"] == 1.0
    assert find(rows, "feedback.responses", B, 30)["value"] == 1.0
    # the same batch again (a lost Ack): the rejections come back, counted once
    ack = exchange(s, batch("src-r", 3, evs))
    assert [(r.seq, r.code, r.field) for r in ack.rejected] == got, ack
    # the acks counter moves just after the send: poll for it
    st = crrtest.wait_until(lambda: (lambda x: x if x["acks"] == 2 else None)(a.stats()), timeout=10,
                            what="acks == 2")
    assert (st["applied"], st["rejected"], st["duplicates"], st["resent"]) == (2, 4, 0, 6), st
    assert (ack.total_applied, ack.total_duplicates, ack.total_rejected) == (2, 0, 4), ack
    assert {k: v for k, v in st["rejected_by_reason"].items() if v} == {
        "unknown_borough": 1, "out_of_range": 1, "future": 1, "too_old": 1}, st
    # and in Prometheus text format
    with urllib.request.urlopen(f"http://{a.ep['http']}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples["crrmon_events_applied_total"] == 2
    assert samples["crrmon_events_rejected_total"] == 4
    assert samples['crrmon_events_rejected_by_reason_total{reason="too_old"}'] == 1
    assert samples['crrmon_events_rejected_by_reason_total{reason="unknown_borough"}'] == 1
    assert samples['crrmon_events_rejected_by_reason_total{reason="malformed"}'] == 0
    assert samples["crrmon_store_rejects"] == 4
    assert samples["crrmon_ingest_acks_total"] == 2
    assert "# TYPE crrmon_events_applied_total counter" in text


def test_oversized_frame_drops_only_that_connection():
    a = Agg(extra=["--aggregator.max_msg_size=64k"])
    good, big = a.dealer(), a.dealer()
    ack = exchange(good, batch("src-ok", 1, [stop_search(1)]))
    assert ack.durable_seq == 1
    before = a.stats()["disconnects"]
    big.send(batch("src-big", 1, [stop_search(1)]) + b"\x2a" * 100000)  # unknown field 5, 100 kB
    crrtest.wait_until(lambda: a.stats()["disconnects"] > before, timeout=20,
                       what="the oversized sender's connection dropped")
    assert not big.poll(300), "an oversized frame must get no Ack"
    ack = exchange(good, batch("src-ok", 1, [stop_search(2)]))
    assert ack.durable_seq == 2, ack
    st = a.stats()
    assert (st["applied"], st["frames"]) == (2, 2), st


def test_map_full_error_ack_and_keeps_serving():
    a = Agg(extra=["--aggregator.map_size=256k"])
    s = a.dealer()
    seq, acked = 0, 0
    for _ in range(200):  # distinct record ids grow the store until the map is full
        evs = []
        for i in range(1, 501):
            e = stop_search(seq + i)
            e.record_id = f"r{seq + i:09d}-" + "x" * 60
            evs.append(e)
        ack = exchange(s, batch("src-full", 1, evs))
        if ack.error:  # this batch could not be stored (alone in its group)
            assert ack.error == code("REJECT_CODE_STORE_FAILED") and "resend" in ack.error_text, ack
            break
        assert ack.durable_seq == seq + 500, ack
        seq += 500
        acked += 1
    else:
        raise AssertionError("the map never filled")
    assert acked > 0
    st = crrtest.wait_until(lambda: (lambda st: st if st["batch_failures"] >= 1 else None)(a.stats()),
                            timeout=10, what="batch failure counted")
    assert st["applied"] == seq, st
    assert "MDB_MAP_FULL" in a.proc.stderr() and "raise map_size" in a.proc.stderr()
    assert a.proc.alive() and a.http("GET", "/healthz")[0] == 200
    s2 = a.dealer()  # still serving: a malformed frame is answered
    assert exchange(s2, b"\xff\xff").error == code("REJECT_CODE_MALFORMED")
    assert a.proc.term(timeout=15) == 0


def test_windows_use_occurred_at():
    a = Agg()
    s = a.dealer()
    ack = exchange(s, batch("src-w", 1, [stop_search(1, when=NOW_SEC - 40 * DAY),
                                         stop_search(2, when=NOW_SEC - 29 * DAY)]))
    assert ack.durable_seq == 2 and not ack.rejected, ack
    _, _, rows = a.snapshot()
    assert find(rows, "stop_search.count", B, 30)["value"] == 1.0
    assert find(rows, "stop_search.count", B, 90)["value"] == 2.0
    assert find(rows, "stop_search.count", B, 365)["value"] == 2.0
    # coverage: B was first seen 40 days ago, so it covers the 30-day window (LONDON = B) and not 90
    london30, london90 = find(rows, "stop_search.count", "LONDON", 30), find(rows, "stop_search.count", "LONDON", 90)
    assert (london30["value"], london30["boroughsReporting"]) == (1.0, 1), london30
    assert (london90["value"], london90["boroughsReporting"]) == (0.0, 0), london90
    assert find(rows, "stop_search.count", B, 90)["boroughsReporting"] == 0


def test_sigterm_then_restart_keeps_totals():
    a = Agg()
    s = a.dealer()
    frame = batch("src-t", 5, [stop_search(1), stop_search(2), stop_search(3)])
    assert exchange(s, frame).durable_seq == 3
    s.close()
    assert a.proc.term(timeout=15) == 0
    b = Agg(data_dir=a.dir)
    s = b.dealer()
    ack = exchange(s, frame)  # the resend after a restart: acknowledged, not re-applied
    assert (ack.durable_seq, ack.expected_seq) == (3, 0), ack
    assert exchange(s, batch("src-t", 5, [stop_search(4)])).durable_seq == 4
    _, _, rows = b.snapshot()
    assert find(rows, "stop_search.count", B, 30)["value"] == 4.0
    assert b.proc.term(timeout=15) == 0


def test_schedule_every_minute_and_csv_sink():
    a = Agg(now="2026-03-01T11:59:57Z+",
            extra=["--aggregator.schedules=minutely=every 1m;nightly=daily 02:00;"
                   "monthly=monthly 1 03:00", "--aggregator.sinks=jsonl,csv"])
    s = a.dealer()
    assert exchange(s, batch("src-s", 1, [stop_search(1, when=NOW_SEC - 3600)])).durable_seq == 1

    def scheduled():
        for p in glob.glob(os.path.join(a.dir, "snapshots", "*.jsonl")):
            if p.endswith("-latest.jsonl"):  # the schedule's latest copy (checked below)
                continue
            header, rows = read_jsonl(p)
            if header["schedule"] == "minutely":
                return p, header, rows
        return None

    path, header, rows = crrtest.wait_until(scheduled, timeout=30, what="the minutely snapshot")
    assert header["asOf"] == NOW, header
    assert os.path.basename(path) == f"minutely-20260301T120000Z-{header['id']}.jsonl"
    latest = os.path.join(a.dir, "snapshots", "minutely-latest.jsonl")
    crrtest.wait_until(lambda: os.path.exists(latest), timeout=10, what="the latest copy")
    with open(latest) as f:
        assert json.loads(f.readline())["schedule"] == "minutely"
    assert header["id"].startswith("20260301T120000Z-"), header
    assert find(rows, "stop_search.count", B, 30)["value"] == 1.0
    csv_path = path[:-len(".jsonl")] + ".csv"  # the csv sink runs after the jsonl one
    crrtest.wait_until(lambda: os.path.exists(csv_path), timeout=10, what="the CSV file")
    with open(csv_path) as f:
        lines = f.read().splitlines()
    assert lines[0] == ("snapshot_id,as_of,taken_at,schedule,indicator,borough,window_days,dims,"
                        "value,n,n_eff,ci_low,ci_high,reliable,boroughs_reporting,"
                        "borough_name,window_start,window_end,stat"), lines[0]
    assert len(lines) == len(rows) + 1
    want = f"{header['id']},{NOW},{header['takenAt']},minutely,stop_search.count,{B},30,,1,1,,"
    assert any(line.startswith(want) for line in lines), want
    assert any(line.startswith(f"{header['id']},") and ",ethnicity=BLACK,1,1,," in line
               for line in lines)


def test_live_feed_topic_per_borough():
    """The PUB's first frame is "<scope> <kind>": a prefix subscription to one borough gets
    that borough's messages only (test_feed covers the FeedMessages themselves)."""
    a = Agg()
    sub = a.ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, B.encode() + b" ")
    sub.connect(a.ep["feed"])
    s = a.dealer()
    seq = 0
    deadline = time.monotonic() + 20
    got = []
    while not any(t == f"{B} freshness".encode() for t, _ in got) and time.monotonic() < deadline:
        exchange(s, batch("src-f", 1, [stop_search(seq + 1),
                                       stop_search(seq + 2, borough="E09000001")]))
        seq += 2
        while sub.poll(200):  # PUB/SUB joins asynchronously; updates come once a second at most
            got.append(tuple(sub.recv_multipart()))
    assert any(t == f"{B} freshness".encode() and B.encode() in m for t, m in got), got[:3]
    assert any(t == f"{B} stop_search.count".encode() for t, _ in got), [t for t, _ in got]
    assert all(t.startswith(f"{B} ".encode()) for t, _ in got), [t for t, _ in got]


if __name__ == "__main__":
    crrtest.main()
