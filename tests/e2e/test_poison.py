"""test_poison: no single line, frame or sender may stop a borough's pipeline.

Scenarios (issue "Poison", items 1, 2, 3, 13 and the smaller ones):
  - rejected input whose raw text is not valid UTF-8, or is cut inside a
    character, is stored (collector spool and aggregator store) and the good
    lines of the same group still arrive;
  - one batch that the store cannot apply does not fail the other batches of
    its group: they are acknowledged and applied, it gets an error Ack;
  - an oversized-count frame is refused cheaply; a long backfill of old data
    is rejected event by event with exact counts and bounded storage;
  - HTTP: idle slow connections do not take /healthz down; concurrent
    snapshot requests are coalesced;
  - source ids over 255 bytes or not UTF-8 and over-long string fields are
    malformed / rejected.

Real processes on random loopback ports; every wait is a poll with a deadline.
"""
import json
import os
import socket
import threading
import time
import urllib.request

import zmq

import crrtest
import test_aggregator as ta
import test_collector as tc

NOW_SEC = ta.NOW_SEC
DAY = ta.DAY


def spool_rejects(data_dir):
    """Every record of the collector's spool rejects database, parsed."""
    r = crrtest.run(["mdb_dump", "-p", "-s", "rejects", os.path.join(data_dir, "spool")], check=0)
    lines = r.stdout.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].splitlines()
    return [json.loads(ta.mdb_unescape(v[1:])) for v in lines[1::2]]


def metrics(a):
    with urllib.request.urlopen(f"http://{a.ep['http']}/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


# ------------------------------------------------------------------ Poison 1


def test_collector_stores_rejects_of_any_bytes():
    agg = tc.Aggregator().start()
    work = crrtest.tmpdir()
    path = os.path.join(work, "in.jsonl")
    tc.write_events(path, 20)
    with open(path, "ab") as f:
        # a stray 0xff: the line does not parse (jansson wants UTF-8)
        f.write(b'{"borough": "E09000001\xff", "occurredAt": "2026-02-01T00:00:00Z"}\n')
        # over max_line: its first 200 bytes are kept, the 200th inside an "e acute"
        f.write(b'{"a": "' + b"a" * 192 + "\u00e9".encode() * 5000 + b'"}\n')
        # valid UTF-8 over 4,096 bytes, too old for the aggregator: its JSON is cut inside a character
        f.write(json.dumps({"borough": "E09000002", "occurredAt": "2019-01-01T00:00:00Z",
                            "recordId": "x" + "\u00e9" * 2100, "racistIncident": {"count": 1}},
                           ensure_ascii=False).encode() + b"\n")
    with open(path, "a") as f:  # good lines after the poison, in the same group
        for i in range(21, 31):
            f.write(json.dumps({"borough": "E09000003", "occurredAt": "2026-02-02T10:00:00Z",
                                "recordId": f"r{i}", "racistIncident": {"count": 1}}) + "\n")
    cdir = os.path.join(work, "coll")
    c = tc.collector(cdir, agg.ingest, "poison-lines", "--give-up-after", "60s",
                     "--collector.max_line=8k", path)
    assert c.wait(60) == 2, c.stderr()
    assert "spool write failed" not in c.stderr(), c.stderr()
    t = agg.totals("poison-lines")
    assert t["applied"] == 30, t
    rej = spool_rejects(cdir)
    assert [r["line"] for r in rej] == [22, 23, 24], rej
    assert "\ufffd" in rej[0]["raw"], rej[0]  # the stray byte, replaced
    assert len(rej[1]["raw"].encode()) == 199 + 3 and rej[1]["raw"].endswith("\ufffd"), rej[1]
    assert len(rej[2]["raw"].encode()) <= 4096 and "\ufffd" not in rej[2]["raw"], rej[2]
    # nothing is left for a restart to trip on
    c = tc.collector(cdir, agg.ingest, "poison-lines", "--give-up-after", "60s", path)
    assert c.wait(60) == 0, c.stderr()


def test_aggregator_stores_rejects_of_any_bytes():
    a = ta.Agg()
    s = a.dealer()
    # too old, JSON past 4,096 bytes: one of the two is cut inside a character
    old = [ta.stop_search(2, when=NOW_SEC - 400 * DAY), ta.stop_search(3, when=NOW_SEC - 400 * DAY)]
    old[0].record_id = "x" + "\u00e9" * 2100
    old[1].record_id = "xy" + "\u00e9" * 2100
    bad_utf8 = ta.stop_search(4, borough="E0900009")  # unknown borough, raw holds a bad byte
    frame = ta.batch("src-p1", 1, [ta.stop_search(1), *old, bad_utf8, ta.stop_search(5)])
    frame = frame.replace(b"E0900009", b"E090000\xff")
    ack = ta.exchange(s, frame)
    assert ack.error == 0 and ack.durable_seq == 5, ack
    assert [(r.seq, r.code) for r in ack.rejected] == [
        (2, ta.code("REJECT_CODE_TOO_OLD")), (3, ta.code("REJECT_CODE_TOO_OLD")),
        (4, ta.code("REJECT_CODE_UNKNOWN_BOROUGH"))], ack
    st = a.stats()
    assert (st["applied"], st["rejected"]) == (2, 3), st
    rej = a.rejects()
    assert [int(r["seq"]) for r in rej] == [2, 3, 4], rej
    for r in rej[:2]:
        assert 4093 <= len(r["raw"].encode()) <= 4096 and "\ufffd" not in r["raw"], r
    assert "\ufffd" in rej[2]["raw"], rej[2]


# ------------------------------------------------------------------ Poison 2


def _one_group(a, frames):
    """Sends each (socket, frame) while the aggregator is stopped (SIGSTOP), so
    that they wait in its queue and are read into one group; returns the Acks
    (None for a frame that got none within 20 s)."""
    a.sigstop()
    try:
        for sock, frame in frames:
            sock.send(frame)
    finally:
        a.sigcont()
    acks = []
    for sock, _ in frames:
        if not sock.poll(20000):
            acks.append(None)
            continue
        ack = ta.pb()["ingest"].Ack()
        ack.ParseFromString(sock.recv())
        acks.append(ack)
    return acks


def test_poison_batch_does_not_fail_its_group():
    a = ta.Agg()
    poison = ta.stop_search(1, when=NOW_SEC - 400 * DAY)
    poison.record_id = "x" + "\u00e9" * 2100  # too old; JSON past 4,096 bytes, a character across the cut
    poison2 = ta.stop_search(1, when=NOW_SEC - 400 * DAY)
    poison2.record_id = "xy" + "\u00e9" * 2100
    socks = [a.dealer() for _ in range(6)]
    frames = [(socks[0], ta.batch("src-poison", 1, [poison])),
              (socks[1], ta.batch("src-poison2", 1, [poison2]))]
    frames += [(socks[i], ta.batch(f"src-ok{i}", 1, [ta.stop_search(1), ta.stop_search(2)]))
               for i in range(2, 6)]
    acks = _one_group(a, frames)
    assert all(ack is not None and ack.error == 0 for ack in acks), acks
    assert [ack.durable_seq for ack in acks] == [1, 1, 2, 2, 2, 2], acks
    assert [len(ack.rejected) for ack in acks] == [1, 1, 0, 0, 0, 0], acks
    st = a.stats()
    assert (st["applied"], st["rejected"], st["apply_failures"]) == (8, 2, 0), st


def test_batch_that_cannot_be_stored_fails_alone():
    # a batch too big for the map: it gets an error Ack, the others of its group are applied
    a = ta.Agg(extra=["--aggregator.map_size=256k"])
    big = []
    for i in range(1, 20001):
        e = ta.stop_search(i)
        e.record_id = f"r{i:09d}-" + "x" * 40
        big.append(e)
    socks = [a.dealer() for _ in range(4)]
    frames = [(socks[0], ta.batch("src-a", 1, [ta.stop_search(1)])),
              (socks[1], ta.batch("src-big", 1, big)),
              (socks[2], ta.batch("src-b", 1, [ta.stop_search(1), ta.stop_search(2)])),
              (socks[3], ta.batch("src-c", 1, [ta.stop_search(1)]))]
    acks = _one_group(a, frames)
    assert all(ack is not None for ack in acks), acks
    assert acks[1].error == ta.code("REJECT_CODE_STORE_FAILED") and "MDB_MAP_FULL" in acks[1].error_text, acks[1]
    assert [(ack.error, ack.durable_seq) for i, ack in enumerate(acks) if i != 1] == [(0, 1), (0, 2), (0, 1)], acks
    st = a.stats()
    assert (st["applied"], st["batch_failures"], st["apply_failures"]) == (4, 1, 0), st
    err = a.proc.stderr()
    assert "batch not applied" in err and "source=src-big" in err and "raise map_size" in err, err


# ------------------------------------------------------------------ Poison 3


def test_oversized_count_frame_refused_cheaply():
    a = ta.Agg()
    s = a.dealer()
    # 600,000 seq-only events (3.6 MB, under max_msg_size): refused before unpacking
    ev = b"".join(b"\x1a" + bytes([len(v)]) + v for v in
                  (b"\x08" + _varint(i) for i in range(1, 600001)))
    frame = b"\x0a\x07src-amp" + b"\x10\x01" + ev
    ack = ta.exchange(s, frame, timeout=60)
    assert ack.error == ta.code("REJECT_CODE_MALFORMED"), ack
    assert "more than 20000 events" in ack.error_text, ack.error_text
    st = a.stats()
    assert (st["malformed"], st["oversized"], st["rejected"], st["store"]["rejects"]) == (1, 1, 0, 1), st
    m = metrics(a)
    assert m["crrmon_ingest_oversized_frames_total"] == 1, m
    # the same source's legitimate batch is served right after
    ack = ta.exchange(s, ta.batch("src-amp", 1, [ta.stop_search(1)]))
    assert ack.error == 0 and ack.durable_seq == 1, ack


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def test_backfill_of_old_data_rejected_event_by_event():
    agg = tc.Aggregator().start()
    work = crrtest.tmpdir()
    path = os.path.join(work, "old.jsonl")
    with open(path, "w") as f:
        for i in range(12000):  # older than the longest window plus 30 days
            f.write(json.dumps({"borough": "E09000001", "occurredAt": "2024-01-01T00:00:00Z",
                                "recordId": f"old{i}", "racistIncident": {"count": 1}}) + "\n")
        for i in range(10):
            f.write(json.dumps({"borough": "E09000001", "occurredAt": "2026-02-01T00:00:00Z",
                                "recordId": f"new{i}", "racistIncident": {"count": 1}}) + "\n")
    cdir = os.path.join(work, "coll")
    c = tc.collector(cdir, agg.ingest, "backfill", "--give-up-after", "120s",
                     "--sender.batch_events=500", path)
    assert c.wait(180) == 2, c.stderr()
    t = agg.totals("backfill")
    assert t == {"appliedSeq": 12010, "applied": 10, "rejected": 12000}, t
    # the collector kept every one of them, with file and line
    r = crrtest.run(["mdb_stat", "-s", "rejects", os.path.join(cdir, "spool")], check=0)
    assert "Entries: 12000\n" in r.stdout, r.stdout
    # the aggregator stored a sample (100 per batch, 1,000 per source an hour) and counted the rest
    r = crrtest.run(["mdb_stat", "-s", "rejects", os.path.join(agg.dir, "store")], check=0)
    assert "Entries: 1000\n" in r.stdout, r.stdout
    err = agg.proc.stderr()
    assert err.count("reject storage cap reached: source=backfill") == 1, err


# ------------------------------------------------------------------ Poison 13


def _get(http, path, source="127.0.0.1", timeout=10):
    host, port = http.rsplit(":", 1)
    conn = __import__("http.client").client.HTTPConnection(host, int(port), timeout=timeout,
                                                          source_address=(source, 0))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_slow_connections_do_not_take_healthz_down():
    a = ta.Agg()
    host, port = a.ep["http"].rsplit(":", 1)
    slow = []
    try:
        for _ in range(1100):  # more than the server's connections, all from 127.0.0.1
            c = socket.create_connection((host, int(port)), timeout=10)
            try:
                c.send(b"G")  # a request that never completes
            except OSError:
                pass  # refused over the per-address limit
            slow.append(c)
        stop = threading.Event()

        def trickle():  # a byte every 2 s keeps a connection from being idle
            while not stop.wait(2):
                for c in slow:
                    try:
                        c.send(b"x")
                    except OSError:
                        pass

        t = threading.Thread(target=trickle)
        t.start()
        try:
            # another client address is still served
            crrtest.wait_until(lambda: _get(a.ep["http"], "/healthz", source="127.0.0.2")[0] == 200,
                               timeout=20, what="/healthz from 127.0.0.2")
        finally:
            stop.set()
            t.join()
        # the idle connections are closed by the server, not kept for ever
        def closed(c):
            c.settimeout(60)
            try:
                return c.recv(1) == b""
            except (ConnectionResetError, OSError):
                return True
        assert all(closed(c) for c in slow[:40])
        crrtest.wait_until(lambda: _get(a.ep["http"], "/healthz")[0] == 200, timeout=60,
                           what="/healthz from 127.0.0.1 again")
    finally:
        for c in slow:
            c.close()


def test_concurrent_snapshot_requests_are_coalesced():
    a = ta.Agg()
    s = a.dealer()
    ack = ta.exchange(s, ta.batch("src-snap", 1, [ta.stop_search(i) for i in range(1, 201)]))
    assert ack.durable_seq == 200
    answers, health = [], []

    def post():
        answers.append(a.http("POST", "/api/v1/snapshots"))

    def ping():
        health.append(_get(a.ep["http"], "/healthz")[0])

    threads = [threading.Thread(target=post) for _ in range(20)]
    threads += [threading.Thread(target=ping) for _ in range(10)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    elapsed = time.monotonic() - t0
    assert health == [200] * 10, health
    assert len(answers) == 20 and all(code == 201 for code, _ in answers), answers
    ids = {ans["id"] for _, ans in answers}
    # all that came while one ran share it, and a new one starts at most every 2 s: on a
    # loaded machine the connection limit can hold the last requests back past the
    # second, so the bound is the 2 s slots the requests spanned (never a speed target)
    assert 1 <= len(ids) <= min(2 + int(elapsed // 2), 19), (ids, elapsed)
    assert a.stats()["store"]["snapshots"] == len(ids), a.stats()
    # a request after them is served (it waits out the gap) with a snapshot of its own
    code, ans = a.http("POST", "/api/v1/snapshots")
    assert code == 201 and ans["id"] not in ids, ans
    assert a.stats()["store"]["snapshots"] == len(ids) + 1


# ------------------------------------------------------------------ smaller


def test_bad_source_ids_are_malformed():
    a = ta.Agg()
    s = a.dealer()
    long_a, long_b = "a" * 480 + "-one", "a" * 480 + "-two"  # shared 480-byte prefix
    for sid in (long_a, long_b, "a" * 256):
        ack = ta.exchange(s, ta.batch(sid, 1, [ta.stop_search(1)]))
        assert ack.error == ta.code("REJECT_CODE_MALFORMED"), ack
        assert "at most 255 bytes" in ack.error_text, ack.error_text
    frame = ta.batch("src-\u00e9", 1, [ta.stop_search(1)]).replace("\u00e9".encode(), b"\xff\xfe")
    ack = ta.exchange(s, frame)
    assert ack.error == ta.code("REJECT_CODE_MALFORMED") and "UTF-8" in ack.error_text, ack
    ok = "b" * 255
    ack = ta.exchange(s, ta.batch(ok, 1, [ta.stop_search(1)]))
    assert ack.error == 0 and ack.durable_seq == 1, ack
    st = a.stats()
    assert (st["malformed"], st["applied"]) == (4, 1), st
    r = crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", a.dir, "--json"], check=0)
    assert [json.loads(line)["sourceId"] for line in r.stdout.splitlines()] == [ok], r.stdout


def test_long_strings_rejected():
    a = ta.Agg()
    s = a.dealer()
    big = ta.feedback(1)
    big.training_feedback.trainer_id = "t" * (3 << 20)  # under max_msg_size (4M)
    ack = ta.exchange(s, ta.batch("src-big", 1, [big, ta.feedback(2)]))
    assert ack.durable_seq == 2, ack
    assert [(r.seq, r.code, r.field) for r in ack.rejected] == [
        (1, ta.code("REJECT_CODE_OUT_OF_RANGE"), "training_feedback.trainer_id")], ack
    assert a.stats()["applied"] == 1
    rej = a.rejects()
    assert len(rej) == 1 and len(rej[0]["raw"]) <= 4096, rej


def test_collector_refuses_a_bad_source_id():
    work = crrtest.tmpdir()
    c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", os.path.join(work, "c"),
                      "--aggregator", "tcp://127.0.0.1:1", "--source-id", "x" * 256], name="collector")
    assert c.wait(30) == 1 and "at most 255 bytes" in c.stderr(), c.stderr()


if __name__ == "__main__":
    crrtest.main()
