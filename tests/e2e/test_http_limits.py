"""test_http_limits: the HTTP server's limits agree with each other, with a real
aggregator and real HTTP clients on loopback.

  - one client address (a dashboard wall behind one proxy) opens the 64 SSE
    streams GET /api/v1/stream allows, each gets its stream (the `retry:`
    line), a 65th gets 503 (the stream limit, not the connection limit, is
    what refuses it) and an API request from the same address still answers;
  - the store's LMDB environment has more reader slots than the HTTP server
    has connections (mdb_stat -e on the running aggregator's store: the lock
    file's size is set by the aggregator's open);
  - /metrics' indicator values are computed at most once per
    [http] metrics_cache: two scrapes in a row share one computation
    (crrmon_metrics_indicator_computations_total), and once events are
    applied and the period has passed every crrmon_indicator_value equals the
    total row /api/v1/indicators serves for the same data.
"""
import http.client
import json
import re
import socket
import subprocess
import urllib.error
import urllib.request

import crrtest

NOW = "2026-03-15T12:00:00Z"
ENV = {"CRRMON_NOW": NOW}
LAMBETH = "E09000022"
STREAMS = 64  # aggregator/stream.c's S_MAX_CLIENTS (CRR_HTTP_STREAMS)
HTTP_CONN_LIMIT = 256  # aggregator/http.c's S_CONN_LIMIT (CRR_HTTP_CONN_LIMIT)
STORE_READERS = 512  # state/store.h's CRR_STORE_MAX_READERS


def get(agg, path):
    """(status, body text) of one request."""
    try:
        with urllib.request.urlopen(f"http://{agg.ep['http']}{path}", timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def open_stream(agg):
    """A socket with GET /api/v1/stream sent and its whole answer head read, and the head."""
    host, port = agg.ep["http"].split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall(b"GET /api/v1/stream HTTP/1.1\r\nHost: crrmon\r\nAccept: text/event-stream\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got or (b" 200 " in got.split(b"\r\n")[0] and b"retry: " not in got):
        chunk = s.recv(4096)  # the socket's timeout is the deadline
        if not chunk:
            break
        got += chunk
    return s, got


def test_one_address_reaches_the_stream_limit():
    agg = crrtest.Aggregator(env=ENV)
    agg.start()
    socks = []
    try:
        for i in range(STREAMS):
            s, head = open_stream(agg)
            socks.append(s)
            assert head.startswith(b"HTTP/1.1 200 ") and b"retry: 2000" in head, (i, head)
        s, head = open_stream(agg)  # the 65th: refused by the stream limit, with an answer
        socks.append(s)
        assert head.startswith(b"HTTP/1.1 503 "), head
        status, body = get(agg, "/api/v1/indicators?borough=LONDON&indicator=stop_search.count&window=30")
        assert status == 200 and json.loads(body)["values"], (status, body)
        assert get(agg, "/healthz")[0] == 200
    finally:
        for s in socks:
            s.close()


def test_store_has_a_reader_slot_per_connection():
    agg = crrtest.Aggregator(env=ENV)
    agg.start()
    r = subprocess.run(["mdb_stat", "-e", f"{agg.dir}/store"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    readers = int(re.search(r"Max readers: (\d+)", r.stdout).group(1))
    assert readers == STORE_READERS and readers > HTTP_CONN_LIMIT, r.stdout


def metrics(agg):
    status, text = get(agg, "/metrics")
    assert status == 200, text
    n = int(re.search(r"^crrmon_metrics_indicator_computations_total (\d+)$", text, re.M).group(1))
    values = {m.groups()[:3]: m.group(4) for m in re.finditer(
        r'^crrmon_indicator_value\{indicator="([^"]+)",borough="([^"]+)",window="(\d+)"\} (\S+)$', text, re.M)}
    return n, values


def served(agg):
    """/api/v1/indicators' total rows with a value, as /metrics names them."""
    status, body = get(agg, "/api/v1/indicators")
    assert status == 200, body
    out = {}
    for v in json.loads(body)["values"]:
        if v.get("dims") or "value" not in v:
            continue
        out[(v["indicator"], v["borough"], str(v.get("windowDays", 0)))] = v["value"]
    return out


def same(metric_values, rows):
    """Every value of /metrics equals the row's (numbers compared as the text each writes)."""
    if set(metric_values) != set(rows):
        return False
    return all(float(metric_values[k]) == float(rows[k]) for k in rows)


def send(agg, count, seed):
    text = crrtest.run([crrtest.binary("crrmon"), "generate", "--count", str(count), "--seed", str(seed),
                        "--borough", LAMBETH, "--types", "stop_search", "--days", "300"], env=ENV, check=0).stdout
    crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", agg.ingest, "--source-id", "src", "--give-up-after",
                 "30s", "-q", "-"], env=ENV, input=text, check=0)


def applied(agg):
    return json.loads(get(agg, "/api/v1/stats")[1])["applied"]


def test_metrics_indicators_cached_then_exact():
    agg = crrtest.Aggregator(env=ENV, args=["--http.metrics_cache=3s"])
    agg.start()
    send(agg, 40, 1)
    crrtest.wait_until(lambda: applied(agg) == 40, what="40 applied")
    # once the period passed, the values are those of the committed data
    crrtest.wait_until(lambda: same(metrics(agg)[1], served(agg)), what="/metrics = /api/v1/indicators")
    n1, v1 = metrics(agg)
    n2, v2 = metrics(agg)
    n3, v3 = metrics(agg)
    # three scrapes in a row: at most one new computation between them (one period may end)
    assert n1 <= n2 <= n3 and n3 - n1 <= 1, (n1, n2, n3)
    lambeth = ("stop_search.count", LAMBETH, "30")
    before = v1[lambeth]
    send(agg, 25, 2)
    crrtest.wait_until(lambda: applied(agg) == 65, what="65 applied")
    rows = served(agg)
    assert float(rows[lambeth]) > float(before), (rows[lambeth], before)
    crrtest.wait_until(lambda: same(metrics(agg)[1], rows), what="/metrics = the new /api/v1/indicators")
    n4, v4 = metrics(agg)
    assert n4 > n3 and float(v4[lambeth]) == float(rows[lambeth])


if __name__ == "__main__":
    crrtest.main()
