"""test_feed: the live feed (proto/crrmon/v1/feed.proto) of a real crrmon-aggregator.

Covers: the values the feed publishes equal `crrmon query`'s headline rows
(every indicator's total, every borough and LONDON, every window) and the
state endpoint's (the Clone pattern's FeedState); the PUB's topic and
message; coalescing (far fewer updates of a row than groups committed: at
most one computation a second); at midnight the windows slide and the rows
that changed are published with no event sent; a `crrmon tail` joining under load prints the
state and then every later message exactly once (no gap, no duplicate: its
seqs follow the state's and are the tail of an early subscriber's);
`crrmon tail`'s readable lines, its filters and usage errors; a `crrmon
tail` running across a restart of the aggregator takes the new run's state
(its seqs began again, below the old ones) and ends showing what a query
shows; GET /api/v1/stream (Server-Sent Events: id = "<run>-<seq>", the same
JSON as `tail --json`, Last-Event-ID replay from the ring within a run, and
`event: reload` past it, ahead of it, and for an id of the run before a
restart, a bare number or garbage, even once the new run has passed the old
id's seq) read with http.client; a stop with a stream open does not hang.

Every process runs on random loopback ports with the clock hook CRRMON_NOW
running on from a pinned instant.
"""
import http.client
import json
import os

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}
LAMBETH, LEWISHAM, CITY = "E09000022", "E09000023", "E09000001"
MOVING = {"pipeline.last_event_age_seconds"}  # a figure of the clock, not of the events

pb = crrtest.pb  # the generated protobuf modules


def crrmon(*args, check=None, timeout=120.0):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check, timeout=timeout)


def start(extra=(), **kw):
    return crrtest.start_aggregator(None, args=extra, env=ENV, healthz=True, **kw)


def events_file(seed, count, boroughs, days=30):
    args = ["generate", "--seed", str(seed), "--count", str(count), "--end", NOW, "--days", str(days)]
    for b in boroughs:
        args += ["--borough", b]
    path = os.path.join(crrtest.tmpdir("crrfeed-ev-"), f"ev{seed}.jsonl")
    with open(path, "w") as f:
        f.write(crrmon(*args, check=0).stdout)
    return path


def send(agg, path, *extra):
    return crrmon("send", "--data-dir", agg.dir, "--quiet", *extra, path, check=0)


def per_borough(path):
    counts = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                b = json.loads(line)["borough"]
                counts[b] = counts.get(b, 0) + 1
    return counts


def tail(agg, *args):
    return crrtest.Proc([crrtest.binary("crrmon"), "tail", "--data-dir", agg.dir, *args], env=ENV,
                        name="tail")


def json_lines(proc):
    """The complete lines a tail --json printed, parsed."""
    text = proc.stdout()
    return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines() if line]


def state(agg, ctx):
    """The Clone state (FeedState) as a dict of Google's json_format (proto3 JSON)."""
    import zmq
    d = ctx.socket(zmq.DEALER)
    d.linger = 0
    d.connect(agg.ep["feed_state"])
    d.send(b"state")
    assert d.poll(30000), "no answer from the state endpoint"
    st = pb()["feed"].FeedState()
    st.ParseFromString(d.recv())
    d.close()
    return pb()["jf"].MessageToDict(st)


def settled(agg, ctx, want, tails=()):
    """Waits until the state counts every event sent (want: borough -> events today) and each
    tail printed up to the state's seq; returns the state."""
    got = {}

    def done():
        st = state(agg, ctx)
        fresh = {f["borough"]: int(f.get("eventsToday", "0")) for f in st["freshness"]}
        if any(fresh.get(b, 0) != n for b, n in want.items()):
            return None
        seq = int(st.get("seq", "0"))
        for t in tails:
            lines = json_lines(t)
            if not lines or int(lines[-1].get("seq", 0)) != seq:
                return None
        got["st"] = st
        return True
    crrtest.wait_until(done, timeout=60, what="the feed to count every event")
    return got["st"]


def norm(row):
    """row without its proto3 defaults (`crrmon query --json` writes them, as snapshots do;
    the feed omits them); wrappers (value, nEff, ciLow, ciHigh) hold 0.0 when present and stay."""
    defaults = {"dims": {}, "n": "0", "reliable": False, "boroughsReporting": 0}
    return {k: v for k, v in row.items() if defaults.get(k, object()) != v}


def key(row):
    return (row["indicator"], row["borough"], row["windowDays"])


def headline_from_query(agg):
    r = crrmon("query", "--data-dir", agg.dir, "--json", check=0)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return {key(x): norm(x) for x in rows if not x.get("dims") and x["indicator"] not in MOVING}


def headline_from_api(agg):
    import urllib.request
    with urllib.request.urlopen(f"http://{agg.ep['http']}/api/v1/indicators", timeout=60) as r:
        rows = json.load(r)["values"]
    return {key(x): norm(x) for x in rows if not x.get("dims") and x["indicator"] not in MOVING}


def replay(lines, upto):
    """A tail --json's output up to seq upto (a state settled() returned: a computation still
    pending may add a row of the clock) folded into the rows it ends with; checks the seqs on
    the way: the state lines share one seq S, the updates follow as S+1, S+2, ...
    Returns (rows, S, seqs)."""
    rows, seqs, s0 = {}, [], None
    for m in lines:
        seq = int(m.get("seq", 0))
        if seq > int(upto):
            break
        if s0 is None:
            s0 = seq
        if seq == s0 and not seqs:
            if "indicator" in m:
                rows[key(m["indicator"]["value"])] = m["indicator"]["value"]
            continue
        seqs.append(seq)
        if "indicator" in m:
            rows[key(m["indicator"]["value"])] = m["indicator"]["value"]
    assert seqs == list(range(s0 + 1, s0 + 1 + len(seqs))), (s0, seqs[:20])
    return rows, s0, seqs


def strip_moving(rows):
    return {k: v for k, v in rows.items() if k[0] not in MOVING}


# ------------------------------------------------------------------ tests

def test_values_equal_query_and_pub_topic():
    import zmq
    agg = start()
    ctx = zmq.Context()
    try:
        sub = ctx.socket(zmq.SUB)
        sub.linger = 0
        sub.setsockopt(zmq.SUBSCRIBE, LAMBETH.encode())
        sub.connect(agg.ep["feed"])
        st0 = state(agg, ctx)
        assert st0.get("seq", "0") == "0" and len(st0["freshness"]) == 33, st0.get("seq")
        early = tail(agg, "--json")
        crrtest.wait_until(lambda: json_lines(early), what="the early tail's state")
        path = events_file(1, 600, [LAMBETH, LEWISHAM])
        assert send(agg, path).returncode == 0
        st = settled(agg, ctx, per_borough(path), [early])
        want = headline_from_query(agg)
        held = {key(v): v for v in st["values"] if v["indicator"] not in MOVING}
        diff = [(k, held.get(k), want.get(k)) for k in set(held) | set(want) if held.get(k) != want.get(k)]
        assert not diff, (len(diff), diff[:3])  # the state: every headline row, exactly the query's
        rows, s0, seqs = replay(json_lines(early), st["seq"])
        assert s0 == 0 and seqs and seqs[-1] == int(st["seq"])
        assert strip_moving(rows) == want  # state + updates = the query's rows
        late = tail(agg, "--json")  # a late joiner gets the same from the state alone
        whole = len(st["values"]) + 33 + 1  # the rows, the boroughs' freshness, the rejects
        crrtest.wait_until(lambda: len(json_lines(late)) >= whole, what="the late tail's state")
        rows, s1, _ = replay(json_lines(late), st["seq"])
        assert s1 == int(st["seq"]) and strip_moving(rows) == want
        late.term()
        # the PUB: topic "<scope> <kind>", a FeedMessage; the borough filter is a prefix
        crrtest.wait_until(lambda: sub.poll(0), what="a message for the Lambeth subscription")
        topic, body = sub.recv_multipart()
        m = pb()["feed"].FeedMessage()
        m.ParseFromString(body)
        scope, kind = topic.decode().split(" ")
        assert scope == LAMBETH and m.seq >= 1
        assert kind == (m.indicator.value.indicator if m.HasField("indicator") else "freshness")
        fresh = [x for x in json_lines(early) if "freshness" in x and x["freshness"]["borough"] == LAMBETH]
        assert fresh[-1]["freshness"]["eventsToday"] == str(per_borough(path)[LAMBETH])
        assert fresh[-1]["freshness"]["lastEvent"].startswith("2026-03-01T12:")
        early.term()
    finally:
        ctx.destroy(linger=0)


def test_rejects_published():
    import zmq
    agg = start()
    ctx = zmq.Context()
    try:
        t = tail(agg, "--json")
        crrtest.wait_until(lambda: json_lines(t), what="the tail's state")
        assert send(agg, events_file(2, 20, [CITY])).returncode == 0
        d = ctx.socket(zmq.DEALER)  # a frame that is not a Batch: refused MALFORMED, counted
        d.linger = 0
        d.connect(agg.ep["ingest"])
        d.send(b"not a batch")
        assert d.poll(30000)
        d.recv()
        crrtest.wait_until(lambda: any(m.get("rejects") for m in json_lines(t)), what="a RejectCounts")
        rej = [m for m in json_lines(t) if "rejects" in m][-1]["rejects"]
        assert rej == {"byReason": {"MALFORMED": "1"}}, rej
        assert state(agg, ctx)["rejects"] == rej
        t.term()
    finally:
        ctx.destroy(linger=0)


def test_coalescing_one_computation_a_second():
    import time
    import zmq
    agg = start()
    ctx = zmq.Context()
    try:
        t = tail(agg, "--json", "--borough", LAMBETH, "--indicator", "pipeline.events")
        crrtest.wait_until(lambda: json_lines(t), what="the tail's state")
        path = events_file(3, 400, [LAMBETH])
        t0 = time.monotonic()
        assert send(agg, path, "--batch-events", "2", "--window", "1").returncode == 0  # 200 groups
        st = settled(agg, ctx, {LAMBETH: 400})
        elapsed = time.monotonic() - t0
        ups = [m for m in json_lines(t)[3:] if m["indicator"]["value"]["windowDays"] == 30]
        assert ups, "no update"
        assert len(ups) <= int(elapsed) + 2, (len(ups), elapsed)  # never more than one a second
        assert len(ups) < 200
        assert ups[-1]["indicator"]["value"]["value"] == 400.0
        for a, b in zip(ups, ups[1:]):
            assert b["indicator"]["previous"] == a["indicator"]["value"]["value"]
        assert st
        t.term()
    finally:
        ctx.destroy(linger=0)


def test_clone_join_under_load_no_gap_no_duplicate():
    import zmq
    agg = start()
    ctx = zmq.Context()
    try:
        early = tail(agg, "--json")
        crrtest.wait_until(lambda: json_lines(early), what="the early tail's state")
        boroughs = ["E09%06d" % i for i in range(1, 34)]
        path = events_file(4, 60000, boroughs)
        sender = crrtest.Proc([crrtest.binary("crrmon"), "send", "--data-dir", agg.dir, "--quiet",
                               "--batch-events", "50", "--window", "4", path], env=ENV, name="send")
        crrtest.wait_until(lambda: len(json_lines(early)) > 4200, what="updates under load")
        late = tail(agg, "--json")  # joins while the sender is still sending
        crrtest.wait_until(lambda: len(json_lines(late)) > 4200, what="the late tail's state")
        assert sender.alive(), "the load ended before the late joiner joined: not a test of it"
        assert sender.wait(600) == 0, sender.stderr()
        st = settled(agg, ctx, per_borough(path), [early, late])
        rows_e, s_e, seqs_e = replay(json_lines(early), st["seq"])
        rows_l, s_l, seqs_l = replay(json_lines(late), st["seq"])
        assert s_e == 0 and s_l > 0 and seqs_l, (s_e, s_l)
        assert seqs_e[-1] == seqs_l[-1] == int(st["seq"])
        assert seqs_l == seqs_e[seqs_e.index(s_l + 1):]  # exactly the messages after its state
        assert rows_l == rows_e
        assert strip_moving(rows_l) == headline_from_query(agg)
        assert strip_moving(rows_l) == headline_from_api(agg)  # what the JSON API serves now
        assert "missed" not in late.stderr() and "missed" not in early.stderr()
        late.term()
        early.term()
    finally:
        ctx.destroy(linger=0)


def test_tail_text_lines_filters_and_usage():
    import zmq
    agg = start()
    ctx = zmq.Context()
    try:
        t = tail(agg, "--borough", LAMBETH)
        crrtest.wait_until(lambda: "freshness" in t.stdout(), what="the text state")
        path = events_file(5, 30, [LAMBETH])
        assert send(agg, path).returncode == 0
        settled(agg, ctx, {LAMBETH: 30})
        crrtest.wait_until(lambda: "-> " in t.stdout() and "30 today" in t.stdout(),
                           what="text updates")
        lines = t.stdout().splitlines()
        assert all("Lambeth (E09000022)" in x for x in lines), lines[:5]
        ups = [x for x in lines if " stop_search.count 30d " in x and "->" in x]
        n = per_borough_type(path, "stop_search")
        if n:
            x = ups[-1].split("  ")
            assert x[0].startswith("2026-03-01T12:") and x[1] == "Lambeth (E09000022)", x
            assert x[2] == "stop_search.count 30d", x
            assert x[3].startswith("0 -> %d [" % n), x
            assert x[4] == f"n={n}", x
            assert (len(x) == 6 and x[5] == "(not reliable)") == (n < 10), x
        st_lines = [x for x in lines if "state: " in x]
        assert st_lines and all("(not reliable)" in x for x in st_lines if " stop_search.count " in x)
        fr = [x for x in lines if " freshness " in x]
        assert fr[-1].split("  ")[2:] == ["freshness", fr[-1].split("  ")[3]], fr[-1]
        assert fr[-1].split("  ")[3].startswith("last event 2026-03-01T12:") and fr[-1].endswith(", 30 today")
        assert not any("London" in x for x in lines)
        t.term()
        j = tail(agg, "--json", "--indicator", "stop_search.count", "--borough", "LONDON")
        crrtest.wait_until(lambda: len(json_lines(j)) == 3, what="LONDON's three windows")
        for m in json_lines(j):
            v = m["indicator"]["value"]
            assert (v["indicator"], v["borough"]) == ("stop_search.count", "LONDON"), m
        j.term()
        usage = ((["--insecure", "--data-dir", agg.dir, "--borough", "E09000099"], "--borough"),
                 (["--insecure", "--data-dir", agg.dir, "--indicator", "nope"], "--indicator"),
                 (["--insecure"], "give exactly one"),
                 (["--insecure", "--feed", "tcp://127.0.0.1:1", "--data-dir", agg.dir], "--feed"))
        for args, why in usage:
            r = crrmon("tail", *args)
            assert r.returncode == 64 and why in r.stderr, (args, r.returncode, r.stderr)
        r = crrtest.run([crrtest.binary("crrmon"), "tail", "--data-dir", agg.dir], env=ENV,
                        insecure=False)  # secure by default: keys or --insecure
        assert r.returncode == 78, r.stderr
    finally:
        ctx.destroy(linger=0)


def per_borough_type(path, typ):
    with open(path) as f:
        return sum(1 for line in f if line.strip() and typ in json.loads(line))


def test_midnight_slides_the_windows_without_an_event():
    """At midnight (UTC) every borough's rows are computed again: an event on the first day of
    the 30-day window leaves it, and the feed says so with no event sent."""
    env = {"CRRMON_NOW": "2026-03-01T23:59:57Z+"}  # three seconds before midnight, running on
    agg = crrtest.start_aggregator(None, env=env, healthz=True)
    ev = json.loads(crrtest.run([crrtest.binary("crrmon"), "generate", "--count", "1", "--types",
                                 "stop_search", "--seed", "9", "--borough", LAMBETH, "--end",
                                 "2026-03-01T12:00:00Z", "--days", "1"], env=env, check=0).stdout)
    ev["occurredAt"] = "2026-01-31T12:00:00Z"  # day 1 of the 30 days ending 2026-03-01
    path = os.path.join(crrtest.tmpdir(), "old.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps(ev) + "\n")
    t = crrtest.Proc([crrtest.binary("crrmon"), "tail", "--data-dir", agg.dir, "--json", "--borough",
                      LAMBETH, "--indicator", "stop_search.count"], env=env, name="tail")
    crrtest.wait_until(lambda: json_lines(t), what="the tail's state")
    assert crrtest.run([crrtest.binary("crrmon"), "send", "--data-dir", agg.dir, "--quiet", path],
                       env=env, check=0).returncode == 0

    def window30():
        return [m["indicator"] for m in json_lines(t) if m["indicator"]["value"]["windowDays"] == 30]
    crrtest.wait_until(lambda: window30()[-1].get("previous") == 0.0, what="the event counted")
    crrtest.wait_until(lambda: window30()[-1]["previous"] == 1.0, what="midnight")
    last = window30()[-1]
    assert last["value"]["value"] == 0.0 and "n" not in last["value"], last  # n 0: a default
    t.term()


def folded(lines):
    """A tail --json's output folded into what it shows last: headline rows by key (every
    clock row left out) and each borough's events today."""
    rows, fresh = {}, {}
    for m in lines:
        if "indicator" in m:
            rows[key(m["indicator"]["value"])] = m["indicator"]["value"]
        elif "freshness" in m:
            fresh[m["freshness"]["borough"]] = int(m["freshness"].get("eventsToday", "0"))
    return strip_moving(rows), fresh


def test_tail_across_a_restart():
    """A `crrmon tail` running while the aggregator restarts takes the new run's state (the
    run id changed) even though the new run's seqs are below those it had: it ends showing
    what a fresh query shows."""
    import zmq
    agg = start()
    ctx = zmq.Context()
    try:
        t = tail(agg, "--json")
        crrtest.wait_until(lambda: json_lines(t), what="the tail's state")
        boroughs = ["E09%06d" % i for i in range(1, 34)]
        first = events_file(11, 3300, boroughs)
        assert send(agg, first).returncode == 0
        st = settled(agg, ctx, per_borough(first), [t])
        old_run, old_last = st.get("runId"), int(st["seq"])
        agg.restart()  # the same data folder and ports: the tail's sockets reconnect
        assert send(agg, events_file(12, 10, [LAMBETH])).returncode == 0
        want = per_borough(first)
        want[LAMBETH] += 10
        st = settled(agg, ctx, want)
        assert int(st["seq"]) < old_last, (st["seq"], old_last)  # the new run's seqs are lower

        def shows_now():
            rows, fresh = folded(json_lines(t))
            return rows == headline_from_api(agg) and fresh.get(LAMBETH) == want[LAMBETH]
        crrtest.wait_until(shows_now, timeout=30, what="the tail to show the new run's state")
        rows, fresh = folded(json_lines(t))
        assert rows == headline_from_query(agg)
        assert fresh == {b: want.get(b, 0) for b in fresh}
        runs = [m.get("runId") for m in json_lines(t)]
        assert runs[0] == old_run and runs[-1] == st["runId"] != old_run, (runs[0], runs[-1])
        assert "restarted" in t.stderr(), t.stderr()
        t.term()
    finally:
        ctx.destroy(linger=0)


# ------------------------------------------------------------------ Server-Sent Events

class Stream:
    """GET /api/v1/stream read with http.client, one event at a time."""

    def __init__(self, agg, last_id=None):
        host, port = agg.ep["http"].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = str(last_id)
        self.conn.request("GET", "/api/v1/stream", headers=headers)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, self.resp.status
        assert self.resp.getheader("Content-Type") == "text/event-stream"

    def event(self):
        """The next event as a dict of its fields (comments and retry lines skipped)."""
        ev = {}
        while True:
            line = self.resp.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if not line:
                if "event" in ev or "data" in ev:
                    return ev
                ev = {}
                continue
            if line.startswith(":"):
                continue
            k, _, v = line.partition(": ")
            ev[k] = v

    def close(self):
        self.conn.close()


def sse_id(e):
    """(run, seq) of an update event's id "<run>-<seq>"; checks its data carries the same."""
    run, _, seq = e["id"].partition("-")
    m = json.loads(e["data"])
    assert m.get("runId") == run and m.get("seq") == seq, (e["id"], m.get("runId"), m.get("seq"))
    return run, int(seq)


def test_sse_stream_replay_and_reload():
    import zmq
    agg = start()
    small = start(["--http.stream_replay=16"])
    ctx = zmq.Context()
    try:
        t = tail(agg, "--json")
        crrtest.wait_until(lambda: json_lines(t), what="the tail's state")
        s = Stream(agg)
        path = events_file(6, 200, [LAMBETH])
        assert send(agg, path).returncode == 0
        st = settled(agg, ctx, {LAMBETH: 200}, [t])
        last, run = int(st["seq"]), st["runId"]
        assert last > 20, last
        got = [s.event() for _ in range(last)]
        assert [e["event"] for e in got] == ["update"] * last
        assert [sse_id(e) for e in got] == [(run, n) for n in range(1, last + 1)]
        by_seq = {int(m.get("seq", 0)): m for m in json_lines(t)}
        for e in got:
            assert json.loads(e["data"]) == by_seq[sse_id(e)[1]]  # the same JSON as tail --json
        s.close()
        r = Stream(agg, last_id=f"{run}-{last - 5}")  # held by the ring: replayed
        assert [sse_id(r.event()) for _ in range(5)] == [(run, n) for n in range(last - 4, last + 1)]
        r.close()
        r = Stream(agg, last_id=f"{run}-{last + 1000}")  # ahead of this run: not one of its ids
        e = r.event()
        assert e == {"event": "reload", "data": "{}"}, e
        assert send(agg, events_file(7, 5, [LAMBETH])).returncode == 0
        e = r.event()  # then the messages from now on
        assert e["event"] == "update" and sse_id(e) == (run, last + 1), e
        # a stop with a stream open ends it and exits (MHD joins no stuck thread)
        assert agg.term(timeout=30) == 0
        crrtest.wait_until(lambda: _ended(r), what="the stream to end")
        t.term()
        # a ring of 16: a client further behind is told to reload, then gets what comes
        assert send(small, events_file(8, 200, [LAMBETH])).returncode == 0
        st = settled(small, ctx, {LAMBETH: 200})
        last, run = int(st["seq"]), st["runId"]
        assert last > 17, last
        r = Stream(small, last_id=f"{run}-1")
        e = r.event()
        assert e == {"event": "reload", "data": "{}"}, e
        r.close()
        # held: a computation still pending adds at most the 6 rows of the clock, so the ring
        # (16) holds at least last - 9 onwards
        r = Stream(small, last_id=f"{run}-{last - 8}")
        assert [sse_id(r.event()) for _ in range(8)] == [(run, n) for n in range(last - 7, last + 1)]
        r.close()
    finally:
        ctx.destroy(linger=0)


def test_sse_reload_after_a_restart():
    """An id of the run before a restart is never replayed from the new run's messages (even
    once the new run has passed its seq): the first event is `reload`; an old-style numeric id
    or one that does not parse is another run's too; an id of the new run is replayed as ever."""
    import zmq
    agg = start()
    ctx = zmq.Context()
    try:
        s = Stream(agg)
        assert send(agg, events_file(9, 20, [CITY])).returncode == 0
        st = settled(agg, ctx, {CITY: 20})
        old_last = int(st["seq"])
        got = [s.event() for _ in range(old_last)]
        old_id = got[-1]["id"]
        s.close()
        agg.restart()  # the same data folder and ports: a new run, its seq from 1 again
        s = Stream(agg)
        boroughs = ["E09%06d" % i for i in range(1, 34)]
        path = events_file(10, 3300, boroughs)
        assert send(agg, path).returncode == 0
        want = per_borough(path)
        want[CITY] = want.get(CITY, 0) + 20  # the same UTC day: the first run's events count too
        st = settled(agg, ctx, want)
        last = int(st["seq"])
        assert last > old_last + 5, (last, old_last)  # the new run passed the old id's seq
        r = Stream(agg, last_id=old_id)
        e = r.event()
        assert e == {"event": "reload", "data": "{}"}, (old_id, e)  # never a replay
        r.close()
        old_run, old_seq = sse_id(got[-1])
        run = st["runId"]
        assert old_seq == old_last and run != old_run, (old_id, run)
        got = [s.event() for _ in range(last)]
        assert [sse_id(e) for e in got] == [(run, n) for n in range(1, last + 1)]
        s.close()
        for stale in (str(old_last), str(last - 5), "not-an-id", f"{old_run}-x", f"{run}-"):
            r = Stream(agg, last_id=stale)  # old-style numeric ids: from before run ids
            e = r.event()
            assert e == {"event": "reload", "data": "{}"}, (stale, e)
            r.close()
        r = Stream(agg, last_id=got[-6]["id"])  # this run's: exactly the 5 missed, as sent
        assert [r.event() for _ in range(5)] == got[-5:]
        r.close()
    finally:
        ctx.destroy(linger=0)


def _ended(stream):
    try:
        while stream.resp.readline():
            pass
        return True
    except (OSError, http.client.HTTPException):
        return True


def test_sse_refuses_other_methods():
    agg = start()
    host, port = agg.ep["http"].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    c.request("POST", "/api/v1/stream")
    r = c.getresponse()
    assert r.status == 405 and json.loads(r.read()) == {"error": "use GET"}, r.status
    c.close()


if __name__ == "__main__":
    crrtest.main()
