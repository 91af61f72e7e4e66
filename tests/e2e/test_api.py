"""test_api: the aggregator's JSON read API, /readyz and the /metrics series
of sources, boroughs, Ack latency and indicators, with a real aggregator
(clock fixed by CRRMON_NOW), real `crrmon send` clients and a real HTTP
client; and the Prometheus and Grafana files of deploy/ against a live
/metrics.

  - /api/v1/indicators as of a date equals the rows of a snapshot taken as of
    that date (POST /api/v1/snapshots?as_of=, read back by GET
    /api/v1/snapshots/ID), and with borough, indicator and window filters the
    matching subset; now, it equals a snapshot taken now; its runId is the
    feed's run id (the Clone state's), the same in every response;
  - /api/v1/boroughs: the 33 boroughs in code order, each one's exact events
    today, last event and rejects (events the aggregator rejected as in its
    future, sent by a client whose clock runs a day ahead);
  - /api/v1/series: 12 months, each equal to the reference implementation
    (refimpl.py) over that month's days;
  - /api/v1/sources, /api/v1/rejects (limit, after), /api/v1/snapshots;
  - every error status: 400 for each bad or unknown parameter, 404 for an
    unknown endpoint or snapshot id, 405 for a wrong method (POST on
    /api/v1/snapshots still takes a snapshot);
  - /api/v1/indicators, /api/v1/boroughs and /metrics answer 200 from two
    reader threads while 2,000 events are applied (under ThreadSanitizer too);
  - `promtool check metrics` passes on a live /metrics with every new series
    (the Ack latency histogram counts every Ack sent),
    `promtool check rules` on deploy/prometheus/crrmon-alerts.yml, and every
    metric name the alert rules and deploy/grafana/crrmon.json use exists in
    that /metrics (deploy/prometheus/crrmon.yml parses and scrapes /metrics);
  - /readyz: 200 while ingest is bound; 503 while a SIGHUP that revoked a key
    left the ingest endpoint unbound (an ipc:// path whose folder is gone),
    200 again once it is bound; /healthz stays 200 throughout.
"""
import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request

import yaml

import crrtest
import refimpl as R

NOW = "2026-03-15T12:00:00Z"
NOW_SEC = calendar.timegm((2026, 3, 15, 12, 0, 0))
ENV = {"CRRMON_NOW": NOW}
LAMBETH, LEWISHAM = "E09000022", "E09000023"
DATA = os.path.join(crrtest.SRC, "data")
BOROUGHS_CSV = os.path.join(DATA, "london_boroughs.csv")
POPULATION_CSV = os.path.join(DATA, "population_ethnicity_census2021.csv")
DEPLOY = os.path.join(crrtest.SRC, "deploy")


def feed_run_id(agg):
    """The run id of the aggregator's Clone state (FeedState), as proto3 JSON gives it."""
    import zmq
    ctx = zmq.Context()
    d = ctx.socket(zmq.DEALER)
    d.linger = 0
    try:
        d.connect(agg.ep["feed_state"])
        d.send(b"state")
        assert d.poll(30000), "no answer from the state endpoint"
        st = crrtest.pb()["feed"].FeedState()
        st.ParseFromString(d.recv())
        return crrtest.pb()["jf"].MessageToDict(st)["runId"]
    finally:
        d.close()
        ctx.term()

def crrmon(*args, env=None, check=0, input=None):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=env or ENV, check=check, input=input)


def generate(count, borough, seed, start=None, end=None, types="stop_search"):
    args = ["generate", "--count", str(count), "--seed", str(seed), "--borough", borough, "--types", types]
    args += ["--start", start] if start else ["--days", "300"]
    args += ["--end", end] if end else []
    return crrmon(*args).stdout


def send(agg, source, text, env=None):
    crrmon("send", "--aggregator", agg.ingest, "--source-id", source, "--give-up-after", "30s", "-q", "-",
           input=text, env=env, check=None)


def get(agg, path, method="GET"):
    """(status, parsed JSON body) of one request."""
    req = urllib.request.Request(f"http://{agg.ep['http']}{path}", method=method,
                                 data=b"" if method in ("POST", "PUT") else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def text(agg, path):
    with urllib.request.urlopen(f"http://{agg.ep['http']}{path}", timeout=60) as r:
        assert r.status == 200
        return r.read().decode()


def ok(agg, path):
    status, body = get(agg, path)
    assert status == 200, (path, status, body)
    return body


def start():
    agg = crrtest.Aggregator(env=ENV)
    agg.start()
    return agg


def test_read_api():
    agg = start()
    lambeth = generate(60, LAMBETH, 1)
    lewisham = generate(25, LEWISHAM, 2)
    # three Lambeth events 12 h in the aggregator's future: a client a day ahead lets them through
    ahead = {"CRRMON_NOW": "2026-03-16T12:00:00Z"}
    future = generate(3, LAMBETH, 3, start="2026-03-16T00:00:00Z", end="2026-03-16T01:00:00Z")
    send(agg, "src-lambeth", lambeth)
    send(agg, "src-lewisham", lewisham)
    send(agg, "src-ahead", future, env=ahead)
    crrtest.wait_until(lambda: ok(agg, "/api/v1/stats")["acks"] >= 3 and
                       ok(agg, "/api/v1/stats")["applied"] + ok(agg, "/api/v1/stats")["rejected"] == 88,
                       what="88 events acknowledged")
    assert (ok(agg, "/api/v1/stats")["applied"], ok(agg, "/api/v1/stats")["rejected"]) == (85, 3)

    # boroughs: every one, in code order, exact
    bs = ok(agg, "/api/v1/boroughs")["boroughs"]
    assert [b["code"] for b in bs] == [f"E09{n:06d}" for n in range(1, 34)]
    assert bs[0]["name"] == "City of London"
    want = {LAMBETH: ("60", "3"), LEWISHAM: ("25", "0")}
    for b in bs:
        events, rejects = want.get(b["code"], ("0", "0"))
        assert (b["eventsLastDay"], b["rejects"]) == (events, rejects), b
        assert b.get("lastEvent") == (NOW if b["code"] in want else None), b

    # indicators as of a date == the snapshot as of that date
    status, snap = get(agg, "/api/v1/snapshots?as_of=2026-03-10", "POST")
    assert status == 201, snap
    listed = ok(agg, "/api/v1/snapshots")["snapshots"]
    assert [s["id"] for s in listed] == [snap["id"]] and listed[0]["takenAt"] == NOW
    stored = ok(agg, "/api/v1/snapshots/" + snap["id"])
    assert stored["id"] == snap["id"] and len(stored["values"]) == snap["values"]
    live = ok(agg, "/api/v1/indicators?as_of=2026-03-10")
    assert live["asOf"] == stored["asOf"] == "2026-03-10T23:59:59Z"
    # seq: the live feed's last message (it numbered the updates of the events sent above)
    crrtest.wait_until(lambda: int(ok(agg, "/api/v1/indicators?borough=LONDON")["seq"]) > 0,
                       what="the feed's seq in /api/v1/indicators")
    # runId: the feed's run id (decimal string, as the FeedState and every message carry it)
    run_ids = {ok(agg, path)["runId"] for path in ("/api/v1/indicators?borough=LONDON",
                                                   "/api/v1/indicators?as_of=2026-03-10")}
    assert run_ids == {feed_run_id(agg)} and int(run_ids.pop()) > 0, run_ids
    assert live["values"] == stored["values"]
    some = ok(agg, f"/api/v1/indicators?as_of=2026-03-10&borough={LAMBETH}&indicator=stop_search.count&window=30")
    assert some["values"] == [v for v in stored["values"] if v["borough"] == LAMBETH and
                              v["indicator"] == "stop_search.count" and v["windowDays"] == 30]
    assert len(some["values"]) > 1 and "dims" not in some["values"][0]
    status, now_snap = get(agg, "/api/v1/snapshots", "POST")  # POST still takes one
    assert status == 201, now_snap
    assert ok(agg, "/api/v1/indicators")["values"] == ok(agg, "/api/v1/snapshots/" + now_snap["id"])["values"]
    assert [s["id"] for s in ok(agg, "/api/v1/snapshots")["snapshots"]] == sorted([snap["id"], now_snap["id"]])

    # series: each month equals the reference over that month's days
    events = [json.loads(line) for line in (lambeth + lewisham).splitlines() if line.strip()]
    for ind, borough in (("stop_search.count", LAMBETH), ("stop_search.arrest_rate", "LONDON")):
        ser = ok(agg, f"/api/v1/series?indicator={ind}&borough={borough}")
        assert (ser["indicator"], ser["borough"]) == (ind, borough)
        months = ser["months"]
        assert [m["month"] for m in months] == [f"2025-{m:02d}" for m in range(4, 13)] + \
            ["2026-01", "2026-02", "2026-03"]
        for m in months:
            y, mo = int(m["month"][:4]), int(m["month"][5:])
            first = calendar.timegm((y, mo, 1, 0, 0, 0))
            if (y, mo) == (2026, 3):
                as_of, days = NOW_SEC, 15
            else:
                nxt = calendar.timegm((y + (mo == 12), mo % 12 + 1, 1, 0, 0, 0))
                as_of, days = nxt - 1, (nxt - first) // R.DAY
            rows, _, _ = R.compute(events, as_of, windows=(days, 365),  # 365: the aggregator's max age
                                   boroughs_csv=BOROUGHS_CSV,
                                   population_csv=POPULATION_CSV, now=NOW_SEC)
            ref = rows[(ind, borough, days, ())]
            assert m.get("value") == ref["value"] or abs(m["value"] - ref["value"]) <= 1e-9 * abs(ref["value"]), \
                (m, ref)
            assert int(m["n"]) == ref["n"], (m, ref)
        assert any(m.get("value") for m in months)

    # sources
    src = {s["sourceId"]: s for s in ok(agg, "/api/v1/sources")["sources"]}
    assert sorted(src) == ["src-ahead", "src-lambeth", "src-lewisham"]
    assert (src["src-lambeth"]["appliedSeq"], src["src-lambeth"]["applied"]) == ("60", "60")
    assert (src["src-ahead"]["appliedSeq"], src["src-ahead"]["rejected"]) == ("3", "3")
    assert src["src-lewisham"]["lastSeen"] == NOW and src["src-lewisham"]["spoolDepth"].isdigit()

    # rejects: oldest first, limit and after
    rej = ok(agg, "/api/v1/rejects")["rejects"]
    assert len(rej) == 3 and all(r["source"] == "src-ahead" for r in rej), rej
    ids = [r["id"] for r in rej]
    assert ids == sorted(ids)
    assert [r["id"] for r in ok(agg, "/api/v1/rejects?limit=2")["rejects"]] == ids[:2]
    assert [r["id"] for r in ok(agg, f"/api/v1/rejects?after={ids[0]}")["rejects"]] == ids[1:]
    assert ok(agg, f"/api/v1/rejects?after={ids[2]}")["rejects"] == []

    # errors
    bad = [
        ("/api/v1/indicators?borough=E09000099", 400), ("/api/v1/indicators?indicator=nope", 400),
        ("/api/v1/indicators?window=31", 400), ("/api/v1/indicators?window=x", 400),
        ("/api/v1/indicators?as_of=yesterday", 400), ("/api/v1/indicators?as_of=2027-01-01", 400),
        ("/api/v1/indicators?as_of=2020-01-01", 400), ("/api/v1/indicators?bourough=LONDON", 400),
        ("/api/v1/series", 400), ("/api/v1/series?indicator=nope", 400),
        ("/api/v1/series?indicator=stop_search.count&borough=PARIS", 400),
        ("/api/v1/rejects?limit=0", 400), ("/api/v1/rejects?limit=1001", 400), ("/api/v1/rejects?after=-1", 400),
        ("/api/v1/boroughs?x=1", 400), ("/api/v1/sources?x=1", 400),
        ("/api/v1/snapshots/../../etc", 400), ("/api/v1/snapshots/20260101T000000Z-000099", 404),
        ("/api/v1/nothing", 404),
    ]
    for path, code in bad:
        status, body = get(agg, path)
        assert status == code and isinstance(body.get("error"), str), (path, status, body)
    for path in ("/api/v1/indicators", "/api/v1/boroughs", "/api/v1/series", "/api/v1/sources",
                 "/api/v1/rejects", "/api/v1/snapshots/" + snap["id"], "/readyz"):
        status, body = get(agg, path, "POST")
        assert status == 405 and "error" in body, (path, status, body)
    status, body = get(agg, "/api/v1/snapshots", "PUT")
    assert status == 405 and "error" in body, (status, body)
    assert agg.term() == 0, agg.stderr()[-3000:]


def metric_names(exposition):
    """Every sample name of a /metrics text (histogram series folded into their family too)."""
    names = set()
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            names.add(name)
            names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def used_names(expr):
    """The crrmon_* metric names a PromQL expression reads."""
    return set(re.findall(r"\bcrrmon_[a-zA-Z0-9_]+", expr))


def test_metrics_promtool_and_deploy_files():
    agg = start()
    # readers on other HTTP threads while the events are applied (ThreadSanitizer's run sees both)
    stop = threading.Event()
    answers = []

    def read():
        while not stop.is_set():
            for path in ("/api/v1/indicators?borough=LONDON", "/api/v1/boroughs", "/metrics"):
                answers.append(get(agg, path)[0] if path != "/metrics" else len(text(agg, path)) > 0)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        send(agg, "src-lambeth", generate(2000, LAMBETH, 4))
        crrtest.wait_until(lambda: ok(agg, "/api/v1/stats")["applied"] == 2000, what="2000 applied")
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert answers and set(answers) <= {200, True}, set(answers)
    metrics = text(agg, "/metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'crrmon_source_last_seen_seconds{source="src-lambeth"} %d\n' % NOW_SEC in metrics
    assert 'crrmon_source_applied_seq{source="src-lambeth"} 2000\n' in metrics
    acks = re.search(r"^crrmon_ingest_acks_total (\d+)$", metrics, re.M).group(1)
    assert re.search(r"^crrmon_ack_latency_seconds_count %s$" % acks, metrics, re.M), metrics  # every Ack timed
    assert 'crrmon_ack_latency_seconds_bucket{le="+Inf"} %s\n' % acks in metrics
    assert 'crrmon_borough_last_event_seconds{borough="%s"} %d\n' % (LAMBETH, NOW_SEC) in metrics
    assert 'crrmon_borough_last_event_seconds{borough="E09000001"}' not in metrics
    live = ok(agg, f"/api/v1/indicators?borough={LAMBETH}&indicator=stop_search.count&window=30")["values"][0]
    want = 'crrmon_indicator_value{indicator="stop_search.count",borough="%s",window="30"} %s\n' % (
        LAMBETH, int(live["value"]))
    # the indicator values are recomputed once [http] metrics_cache has passed since the readers' scrapes
    metrics = crrtest.wait_until(lambda: (lambda m: m if want in m else None)(text(agg, "/metrics")),
                                 what="/metrics' indicator values of the 2000 events")
    # a total row without a value (a share of nothing) is not exported
    empty = ok(agg, "/api/v1/indicators?borough=E09000001&indicator=stop_search.arrest_rate&window=30")
    assert "value" not in empty["values"][0]
    assert 'indicator="stop_search.arrest_rate",borough="E09000001"' not in metrics
    assert "crrmon_store_used_bytes " in metrics and "crrmon_ingest_acks_total " in metrics  # unchanged

    names = metric_names(metrics)
    rules = os.path.join(DEPLOY, "prometheus", "crrmon-alerts.yml")
    r = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(rules) as f:
        exprs = [r["expr"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    used = set().union(*(used_names(e) for e in exprs))
    assert len(exprs) >= 5 and len(used) >= 8, exprs
    assert used <= names, used - names

    with open(os.path.join(DEPLOY, "grafana", "crrmon.json")) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    used = set().union(*(used_names(e) for e in exprs))
    assert len(dash["panels"]) >= 5 and len(used) >= 10, exprs
    assert used <= names, used - names

    scrape = os.path.join(DEPLOY, "prometheus", "crrmon.yml")
    r = subprocess.run(["promtool", "check", "config", "--syntax-only", scrape], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert agg.term() == 0, agg.stderr()[-3000:]


def test_readyz_follows_the_ingest_binding():
    keys = crrtest.tmpdir("crrkeys-")
    clients = os.path.join(keys, "clients")
    os.mkdir(clients)
    for name, borough in (("server", None), ("lambeth", LAMBETH)):
        crrmon("keygen", os.path.join(keys, name), *(["--borough", borough] if borough else []))
    shutil.copy(os.path.join(keys, "lambeth"), os.path.join(clients, "lambeth"))
    sock_dir = os.path.join(crrtest.tmpdir("crripc-"), "sockets")
    os.mkdir(sock_dir)
    agg = crrtest.Aggregator(env=ENV, ingest="ipc://" + os.path.join(sock_dir, "ingest.sock"),
                             args=["--security.server_cert=" + os.path.join(keys, "server_secret"),
                                   "--security.clients_dir=" + clients], insecure=False)
    agg.start()
    assert get(agg, "/readyz") == (200, {"ready": True})
    # the socket's folder replaced by a file: the endpoint cannot be bound again after the drop
    os.rename(sock_dir, sock_dir + ".away")
    open(sock_dir, "w").close()
    os.unlink(os.path.join(clients, "lambeth"))
    agg.signal(signal.SIGHUP)
    crrtest.wait_until(lambda: "cannot be bound again" in agg.stderr(), what="ingest left unbound")
    crrtest.wait_until(lambda: get(agg, "/readyz")[0] == 503, what="/readyz 503")
    status, body = get(agg, "/readyz")
    assert body["ready"] is False and "not bound" in body["reason"], body
    assert get(agg, "/healthz") == (200, {"status": "ok"})
    os.unlink(sock_dir)
    os.rename(sock_dir + ".away", sock_dir)
    crrtest.wait_until(lambda: get(agg, "/readyz") == (200, {"ready": True}), what="/readyz 200 again")
    assert "bound again" in agg.stderr()
    assert agg.term() == 0, agg.stderr()[-3000:]


if __name__ == "__main__":
    crrtest.main()
