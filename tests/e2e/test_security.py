"""test_security: CURVE and the ZAP handler with real processes on loopback.

An aggregator runs secure ([security] server_cert, clients_dir) and clients
send with `crrmon send` or a collector:
  - an admitted key is acknowledged; an unknown key and a plain (no CURVE)
    client are never answered and nothing they sent is applied;
  - certificates written by pyzmq's zmq.auth.create_certificates (the
    borough metadata added by hand to the public file) work like crrmon
    keygen's;
  - an event for a borough the key is not bound to is rejected NOT_ALLOWED
    (visible in `crrmon rejects`), the allowed events of the batch applied;
  - a source id belongs to the certificate that first used it;
  - SIGHUP re-reads clients_dir: a removed key's connection is dropped
    (its port found in /proc), it is refused at its next handshake, its
    events stay in its spool and its log says why; another collector goes
    on, each event applied once; re-admitted, the spooled events arrive;
    the same over ipc://, and when the config file's reload is refused;
  - the live feed admits only the keys of feed_clients_dir; a key removed
    from it on SIGHUP has its subscriber dropped, the others keep theirs;
  - collectors verify the aggregator's key: an impostor acknowledges nothing;
  - data folders and spools are 0700, a server certificate others may read
    is refused (78), no secret key reaches a log;
  - without keys and without --insecure every daemon and client exits 78
    (ipc:// endpoints too); --insecure's default endpoints bind 127.0.0.1;
  - a tcpdump capture of the loopback port holds no borough code, course or
    trainer id with CURVE, and does with --insecure.
"""
import json
import os
import shutil
import signal
import urllib.request

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}
LAMBETH, LEWISHAM = "E09000022", "E09000023"


def crrmon(*args, check=None, input=None, timeout=120.0):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check, input=input, timeout=timeout)


def generate(count, borough, seed):
    return crrmon("generate", "--count", str(count), "--seed", str(seed), "--borough", borough,
                  "--types", "stop_search", check=0).stdout


class Keys:
    """A certificate folder: the server pair, clients/ with admitted public certs."""

    def __init__(self):
        self.dir = crrtest.tmpdir("crrkeys-")
        self.clients = os.path.join(self.dir, "clients")
        os.mkdir(self.clients)
        self.feed = os.path.join(self.dir, "feed")
        os.mkdir(self.feed)
        self.server = self.keygen("server")

    def keygen(self, name, boroughs=None, admit=False):
        path = os.path.join(self.dir, name)
        args = ["keygen", path] + (["--borough", boroughs] if boroughs else [])
        crrmon(*args, check=0)
        if admit:
            shutil.copy(path, os.path.join(self.clients, name))
        return path

    def client_args(self, name):
        return ["--client-cert", os.path.join(self.dir, name + "_secret"), "--server-key", self.server]


class Aggregator(crrtest.Aggregator):
    """crrtest.Aggregator with CURVE on: the server key and the admitted clients of keys."""

    def __init__(self, keys, ingest=crrtest.ANY_TCP, extra=()):
        super().__init__(env=ENV, ingest=ingest,
                         args=["--security.server_cert=" + keys.server + "_secret",
                               "--security.clients_dir=" + keys.clients,
                               "--security.feed_clients_dir=" + keys.feed, *extra])
        self.start()

    def stats(self):
        with urllib.request.urlopen(f"http://{self.ep['http']}/api/v1/stats", timeout=5) as r:
            return json.load(r)

    def applied(self):
        return self.stats()["applied"]


def send(agg, keys, name, events, source, give_up="30s", extra=()):
    args = ["send", "--aggregator", agg.ingest, "--source-id", source, "--give-up-after", give_up, "-q"]
    args += keys.client_args(name) if name else ["--insecure"]
    return crrmon(*args, *extra, "-", input=events)


def test_admitted_key_acknowledged():
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    agg = Aggregator(keys)
    r = send(agg, keys, "lambeth", generate(50, LAMBETH, 1), "coll-lambeth")
    assert r.returncode == 0, r.stderr
    assert agg.applied() == 50


def test_unknown_key_and_plain_client_never_answered():
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    keys.keygen("stranger", LAMBETH, admit=False)
    agg = Aggregator(keys)
    r = send(agg, keys, "stranger", generate(20, LAMBETH, 2), "coll-x", give_up="2s")
    assert r.returncode == 1, (r.returncode, r.stderr)
    key = public_key(os.path.join(keys.dir, "stranger"))
    assert f"refuses this client's key (CURVE public key {key}" in r.stderr, r.stderr
    r = send(agg, keys, None, generate(20, LAMBETH, 3), "coll-y", give_up="2s")
    assert r.returncode == 1, (r.returncode, r.stderr)
    # which side notices first depends on timing: a mechanism mismatch, or the server hanging up
    assert "handshake with" in r.stderr and "plain TCP" in r.stderr, r.stderr
    st = agg.stats()
    assert (st["frames"], st["applied"], st["acks"]) == (0, 0, 0), st
    assert "not in the admitted certificates" in agg.proc.stderr()

    def refused_in_metrics():  # the stranger's handshakes (the plain client's fail on protocol)
        with urllib.request.urlopen(f"http://{agg.ep['http']}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("crrmon_ingest_auth_failures_total "):
                    return int(line.split()[1]) >= 1
    crrtest.wait_until(refused_in_metrics, timeout=30, what="crrmon_ingest_auth_failures_total >= 1")


def test_pyzmq_certificates_admitted():
    import zmq.auth
    keys = Keys()
    pub, secret = zmq.auth.create_certificates(keys.dir, "pyclient")
    with open(pub) as f:
        text = f.read()
    # pyzmq writes metadata only into the secret file: add it to the public one
    assert "metadata" in text
    text = text.replace("metadata\n", f"metadata\n    borough = \"{LAMBETH}\"\n", 1)
    with open(pub, "w") as f:
        f.write(text)
    shutil.copy(pub, keys.clients)
    agg = Aggregator(keys)
    args = ["send", "--aggregator", agg.ingest, "--source-id", "coll-py", "--give-up-after", "30s", "-q",
            "--client-cert", secret, "--server-key", keys.server, "-"]
    if os.stat(secret).st_mode & 0o077:  # pyzmq leaves the mode to the umask: refused as it is
        r = crrmon(*args, input="")
        assert r.returncode == 78 and "readable by group or others" in r.stderr, (r.returncode, r.stderr)
        os.chmod(secret, 0o600)
    r = crrmon(*args, input=generate(30, LAMBETH, 4))
    assert r.returncode == 0, r.stderr
    assert agg.applied() == 30


def test_certificate_without_borough_admits_nothing():
    keys = Keys()
    keys.keygen("nobody", None, admit=True)
    agg = Aggregator(keys)
    r = send(agg, keys, "nobody", generate(5, LAMBETH, 5), "coll-n", give_up="2s")
    assert r.returncode == 1
    assert agg.applied() == 0
    assert "no 'borough' in its metadata" in agg.proc.stderr()


def test_wrong_borough_not_allowed():
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    agg = Aggregator(keys)
    events = generate(10, LAMBETH, 6) + generate(7, LEWISHAM, 7)
    r = send(agg, keys, "lambeth", events, "coll-lambeth")
    assert r.returncode == 2, (r.returncode, r.stderr)  # some events rejected, the rest applied
    st = agg.stats()
    assert (st["applied"], st["rejected"]) == (10, 7), st
    rej = crrmon("rejects", "--data-dir", agg.dir, "--json", check=0).stdout.splitlines()
    rej = [json.loads(x) for x in rej]
    assert len(rej) == 7, rej
    for x in rej:
        assert (x["code"], x["field"], x["borough"] if "borough" in x else LEWISHAM) == ("not_allowed", "borough", LEWISHAM), x
        assert x["reason"] == f"certificate 'lambeth' is not bound to borough {LEWISHAM}", x


def test_source_id_belongs_to_first_certificate():
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    keys.keygen("intruder", LAMBETH, admit=True)
    # a rotated key: a new pair under the same name (metadata name = lambeth)
    os.mkdir(os.path.join(keys.dir, "rotated"))
    keys.keygen(os.path.join("rotated", "lambeth"), LAMBETH)
    shutil.copy(os.path.join(keys.dir, "rotated", "lambeth"), os.path.join(keys.clients, "lambeth-2027"))
    agg = Aggregator(keys)
    assert send(agg, keys, "lambeth", generate(10, LAMBETH, 8), "coll-lambeth").returncode == 0
    r = send(agg, keys, "intruder", generate(10, LAMBETH, 9), "coll-lambeth", give_up="2s")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "not_allowed" in r.stderr.lower() and "belongs to certificate 'lambeth'" in r.stderr, r.stderr
    assert agg.applied() == 10
    assert send(agg, keys, "lambeth", generate(10, LAMBETH, 10), "coll-lambeth").returncode == 0
    assert agg.applied() == 20
    # the rotated key keeps the source: ownership follows the certificate's name
    r = send(agg, keys, os.path.join("rotated", "lambeth"), generate(10, LAMBETH, 15), "coll-lambeth")
    assert r.returncode == 0, r.stderr
    assert agg.applied() == 30


def start_collector(agg, keys, name, source):
    d = crrtest.tmpdir("crrcoll-")
    p = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", d, "--aggregator", agg.ingest,
                         "--source-id", source, "--security.client_cert=" + os.path.join(keys.dir, name + "_secret"),
                         "--security.server_key=" + keys.server, "-"], env=ENV, stdin="pipe",
                        name=f"collector-{name}")
    p.data_dir = d
    return p


def feed(proc, text):
    proc.p.stdin.write(text.encode())
    proc.p.stdin.flush()


def public_key(path):
    """The Z85 public key of a certificate file (zcert text format)."""
    import zmq.auth
    return zmq.auth.load_certificate(path)[0].decode()


def tcp_ports(pid, port):
    """Local ports of pid's established TCP connections to port (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                x = line.split()
                local, remote, state, inode = x[1], x[2], x[3], x[9]
                if state == "01" and inode in inodes and int(remote.rsplit(":", 1)[1], 16) == port:
                    found.add(int(local.rsplit(":", 1)[1], 16))
    return found


def spooled(data_dir):
    """Events in a collector's spool (mdb_stat of its 'events' database)."""
    out = crrtest.run(["mdb_stat", "-s", "events", os.path.join(data_dir, "spool")], check=0).stdout
    return int(out.split("Entries:")[1].split()[0])


def test_revocation_by_sighup():
    """A removed key: its connection dropped, its next batches refused and
    kept in its spool, the collector says why; the other collector goes on,
    exactly once; re-admitted, the spooled events arrive exactly once."""
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    keys.keygen("lewisham", LEWISHAM, admit=True)
    agg = Aggregator(keys)
    port = int(agg.ingest.rsplit(":", 1)[1])
    a = start_collector(agg, keys, "lambeth", "coll-lambeth")
    b = start_collector(agg, keys, "lewisham", "coll-lewisham")
    feed(a, generate(10, LAMBETH, 11))
    feed(b, generate(10, LEWISHAM, 12))
    crrtest.wait_until(lambda: agg.applied() == 20, timeout=30, what="20 applied")
    before = crrtest.wait_until(lambda: tcp_ports(a.pid, port), timeout=30, what="lambeth's connection")
    # lewisham has a batch in flight, or about to be, while the key is removed
    feed(b, generate(3000, LEWISHAM, 13))
    os.unlink(os.path.join(keys.clients, "lambeth"))
    agg.proc.p.send_signal(signal.SIGHUP)
    crrtest.wait_until(lambda: "reload: 1 collector certificate(s) admitted" in agg.proc.stderr(),
                       timeout=30, what="reload")
    # the revoked collector's connection is gone, and it is refused when it comes back
    crrtest.wait_until(lambda: not tcp_ports(a.pid, port) & before, timeout=30, what="connection dropped")
    key = public_key(os.path.join(keys.dir, "lambeth"))
    crrtest.wait_until(lambda: f"handshake refused: key {key}" in agg.proc.stderr(), timeout=30,
                       what="lambeth refused at its handshake")
    with open(os.path.join(agg.dir, "endpoints.json")) as f:
        assert json.load(f)["ingest"] == agg.ingest  # the same port, bound again
    feed(a, generate(5, LAMBETH, 14))
    crrtest.wait_until(lambda: spooled(a.data_dir) == 5, timeout=30, what="lambeth's 5 events spooled")
    crrtest.wait_until(lambda: "refuses this client's key" in a.stderr(), timeout=30,
                       what="the collector says it is refused")
    assert key in a.stderr() and "Ask its operator to admit it" in a.stderr(), a.stderr()
    # the other collector continues: everything of it applied, exactly once
    crrtest.wait_until(lambda: agg.applied() == 3020, timeout=60, what="lewisham continues")
    # a key added to the folder is admitted after the next SIGHUP (no key removed: no drop)
    keys.keygen("newham", "E09000025")
    r = send(agg, keys, "newham", generate(3, "E09000025", 16), "coll-newham", give_up="2s")
    assert r.returncode == 1, r.stderr
    assert "refuses this client's key" in r.stderr, r.stderr
    shutil.copy(os.path.join(keys.dir, "newham"), keys.clients)
    agg.proc.p.send_signal(signal.SIGHUP)
    crrtest.wait_until(lambda: "reload: 2 collector certificate(s) admitted" in agg.proc.stderr(),
                       timeout=30, what="second reload")
    assert send(agg, keys, "newham", generate(3, "E09000025", 16), "coll-newham").returncode == 0
    st = agg.stats()
    assert (st["applied"], st["duplicates"]) == (3023, 0), st
    assert spooled(a.data_dir) == 5
    assert agg.proc.stderr().count("dropped every connection") == 1, agg.proc.stderr()
    # re-admitted: lambeth's spooled events arrive, once
    shutil.copy(os.path.join(keys.dir, "lambeth"), keys.clients)
    agg.proc.p.send_signal(signal.SIGHUP)
    crrtest.wait_until(lambda: agg.applied() == 3028, timeout=60, what="lambeth's 5 after re-admission")
    crrtest.wait_until(lambda: spooled(a.data_dir) == 0, timeout=30, what="lambeth's spool released")
    assert "accepts this client again" in a.stderr(), a.stderr()
    a.p.stdin.close()
    b.p.stdin.close()
    assert a.wait(30) == 0, a.stderr()
    assert b.wait(30) == 0, b.stderr()
    st = agg.stats()
    assert (st["applied"], st["duplicates"], st["rejected"]) == (3028, 0, 0), st
    status = crrmon("status", "--data-dir", agg.dir, "--json", check=0).stdout.splitlines()
    applied = {x["sourceId"]: int(x["applied"]) for x in map(json.loads, status)}
    assert applied == {"coll-lambeth": 15, "coll-lewisham": 3010, "coll-newham": 3}, applied


def test_revocation_despite_a_refused_config():
    """A config file with an error refuses the reload, but the certificate
    folders are re-read all the same: the removed key is dropped and refused."""
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    ini = os.path.join(keys.dir, "agg.ini")
    with open(ini, "w") as f:
        f.write("[aggregator]\nschedules =\n")
    agg = Aggregator(keys, extra=("--config", ini))
    port = int(agg.ingest.rsplit(":", 1)[1])
    a = start_collector(agg, keys, "lambeth", "coll-lambeth")
    feed(a, generate(10, LAMBETH, 90))
    crrtest.wait_until(lambda: agg.applied() == 10, timeout=30, what="10 applied")
    before = crrtest.wait_until(lambda: tcp_ports(a.pid, port), timeout=30, what="lambeth's connection")
    with open(ini, "w") as f:
        f.write("[aggregator]\nschedules =\nthis line is not INI\n")
    os.unlink(os.path.join(keys.clients, "lambeth"))
    agg.proc.p.send_signal(signal.SIGHUP)
    crrtest.wait_until(lambda: "reload: 0 collector certificate(s) admitted" in agg.proc.stderr(), timeout=30,
                       what="the folders re-read")
    assert "reload refused" in agg.proc.stderr() and f"{ini}:3" in agg.proc.stderr(), agg.proc.stderr()
    crrtest.wait_until(lambda: not tcp_ports(a.pid, port) & before, timeout=30, what="connection dropped")
    feed(a, generate(5, LAMBETH, 91))
    crrtest.wait_until(lambda: "refuses this client's key" in a.stderr(), timeout=30, what="refused")
    crrtest.wait_until(lambda: spooled(a.data_dir) == 5, timeout=30, what="5 events spooled")
    assert agg.applied() == 10
    a.kill9()


def test_revocation_over_ipc():
    """The same drop on an ipc:// ingest endpoint: the socket file is bound
    again (not lost to the old listener's unlink), the admitted collector
    reconnects through it, the revoked one is refused."""
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    keys.keygen("lewisham", LEWISHAM, admit=True)
    path = os.path.join(crrtest.tmpdir("crripc-"), "ingest.sock")
    agg = Aggregator(keys, ingest="ipc://" + path)
    a = start_collector(agg, keys, "lambeth", "coll-lambeth")
    b = start_collector(agg, keys, "lewisham", "coll-lewisham")
    feed(a, generate(10, LAMBETH, 80))
    feed(b, generate(10, LEWISHAM, 81))
    crrtest.wait_until(lambda: agg.applied() == 20, timeout=30, what="20 applied")
    os.unlink(os.path.join(keys.clients, "lambeth"))
    agg.proc.p.send_signal(signal.SIGHUP)
    key = public_key(os.path.join(keys.dir, "lambeth"))
    crrtest.wait_until(lambda: f"handshake refused: key {key}" in agg.proc.stderr(), timeout=30,
                       what="lambeth refused at its handshake")
    assert "dropped every connection on ipc://" + path in agg.proc.stderr()
    feed(a, generate(5, LAMBETH, 82))
    feed(b, generate(5, LEWISHAM, 83))
    crrtest.wait_until(lambda: agg.applied() == 25, timeout=30, what="lewisham continues over ipc")
    assert os.path.exists(path)
    crrtest.wait_until(lambda: spooled(a.data_dir) == 5, timeout=30, what="lambeth's 5 events spooled")
    b.p.stdin.close()
    assert b.wait(30) == 0, b.stderr()
    a.kill9()  # refused, with 5 events it cannot deliver: no drain to wait for
    st = agg.stats()
    assert (st["applied"], st["duplicates"]) == (25, 0), st


def subscriber(ctx, keys, name, endpoint):
    import zmq.auth
    pub, sec = zmq.auth.load_certificate(os.path.join(keys.dir, name + "_secret"))
    server, _ = zmq.auth.load_certificate(keys.server)
    sub = ctx.socket(zmq.SUB)
    sub.linger = 0
    sub.curve_publickey, sub.curve_secretkey, sub.curve_serverkey = pub, sec, server
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    return sub


def test_feed_admits_only_feed_clients():
    import zmq
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    keys.keygen("viewer")
    shutil.copy(os.path.join(keys.dir, "viewer"), keys.feed)
    agg = Aggregator(keys)
    ctx = zmq.Context()
    try:
        ok = subscriber(ctx, keys, "viewer", agg.ep["feed"])
        bad = subscriber(ctx, keys, "lambeth", agg.ep["feed"])  # a collector key is not a feed key
        got = None
        for seed in range(30, 60):  # a subscription takes effect some time after connecting
            assert send(agg, keys, "lambeth", generate(2, LAMBETH, seed), f"coll-feed-{seed}").returncode == 0
            if ok.poll(500):
                got = ok.recv()
                break
        assert got is not None and LAMBETH.encode() in got, got
        assert bad.poll(200) == 0
        assert "zap: feed handshake refused" in agg.proc.stderr()
    finally:
        ctx.destroy(linger=0)


def test_tail_with_feed_keys():
    """`crrmon tail` with a feed_clients_dir key gets the state (the ROUTER beside the PUB is a
    CURVE server in domain "feed" too) and the updates; a collector's key gets neither."""
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    keys.keygen("viewer")
    shutil.copy(os.path.join(keys.dir, "viewer"), keys.feed)
    agg = Aggregator(keys)
    ok = crrtest.Proc([crrtest.binary("crrmon"), "tail", "--data-dir", agg.dir, "--json",
                       "--borough", LAMBETH, "--indicator", "stop_search.count",
                       *keys.client_args("viewer")], env=ENV, name="tail-viewer")
    bad = crrtest.Proc([crrtest.binary("crrmon"), "tail", "--data-dir", agg.dir, "--json",
                        *keys.client_args("lambeth")], env=ENV, name="tail-lambeth")
    crrtest.wait_until(lambda: ok.stdout().count("\n") >= 3, what="the viewer's state")
    assert send(agg, keys, "lambeth", generate(12, LAMBETH, 70), "coll-tail").returncode == 0

    def last_value():
        lines = [json.loads(x) for x in ok.stdout().splitlines()]
        v = [x["indicator"]["value"] for x in lines if x["indicator"]["value"]["windowDays"] == 30]
        return v[-1].get("value") == 12.0
    crrtest.wait_until(last_value, what="the viewer's update")
    crrtest.wait_until(lambda: "feed_clients_dir?" in bad.stderr() and "no state from" in bad.stderr(),
                       what="the collector key's refusal")
    assert bad.stdout() == ""
    assert "zap: feed handshake refused" in agg.proc.stderr()
    assert ok.term() == 0 and bad.term() == 0


def monitor_events(mon, want, timeout=30):
    """Reads a pyzmq socket monitor until every event in want was seen; returns them all."""
    import zmq.utils.monitor
    seen = []
    def got():
        while mon.poll(20):
            seen.append(zmq.utils.monitor.recv_monitor_message(mon)["event"])
        return all(w in seen for w in want)
    try:
        crrtest.wait_until(got, timeout=timeout, what=f"monitor events {want}")
    except AssertionError as e:
        raise AssertionError(f"{e}; seen: {seen}") from None
    return seen


def test_feed_revocation_drops_subscriber():
    """A key removed from feed_clients_dir: that subscriber's connection is
    dropped and refused at its handshake, another subscriber keeps receiving,
    and the collectors' ingest connections are left alone."""
    import zmq
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    for name in ("viewer", "gone"):
        keys.keygen(name)
        shutil.copy(os.path.join(keys.dir, name), keys.feed)
    agg = Aggregator(keys)
    port = int(agg.ingest.rsplit(":", 1)[1])
    a = start_collector(agg, keys, "lambeth", "coll-lambeth")
    ctx = zmq.Context()
    try:
        ok = subscriber(ctx, keys, "viewer", agg.ep["feed"])
        gone = subscriber(ctx, keys, "gone", agg.ep["feed"])
        mon = gone.get_monitor_socket()
        seed = [40]

        def update(sub):  # events are sent until an update reaches sub
            feed(a, generate(1, LAMBETH, seed[0]))
            seed[0] += 1
            return sub.poll(200) and sub.recv()
        crrtest.wait_until(lambda: update(gone), timeout=30, what="an update for 'gone'")
        crrtest.wait_until(lambda: update(ok), timeout=30, what="an update for 'viewer'")
        monitor_events(mon, [zmq.EVENT_HANDSHAKE_SUCCEEDED])
        ingest_before = tcp_ports(a.pid, port)
        assert ingest_before
        os.unlink(os.path.join(keys.feed, "gone"))
        agg.proc.p.send_signal(signal.SIGHUP)
        seen = monitor_events(mon, [zmq.EVENT_DISCONNECTED, zmq.EVENT_HANDSHAKE_FAILED_AUTH])
        assert seen.index(zmq.EVENT_DISCONNECTED) < seen.index(zmq.EVENT_HANDSHAKE_FAILED_AUTH), seen
        while gone.poll(0):
            gone.recv()
        crrtest.wait_until(lambda: update(ok), timeout=30, what="'viewer' still receives")
        assert gone.poll(200) == 0
        assert tcp_ports(a.pid, port) == ingest_before  # only the feed's peers were dropped
        assert "1 feed key(s) removed: dropped every connection" in agg.proc.stderr()
        mon.close()
    finally:
        ctx.destroy(linger=0)
    a.p.stdin.close()
    assert a.wait(30) == 0, a.stderr()


def test_impostor_aggregator_cannot_acknowledge():
    """Collectors verify the aggregator by its public key: an endpoint with
    another server key (that even admits the collector's public key) never
    completes a handshake, so it can acknowledge, and so delete, nothing."""
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    keys.keygen("impostor")
    fake = crrtest.start_aggregator(env=ENV, insecure=False, name="impostor",
                                    args=["--security.server_cert=" + os.path.join(keys.dir, "impostor_secret"),
                                          "--security.clients_dir=" + keys.clients])
    d, ep = fake.dir, fake.ep
    c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", os.path.join(d, "coll"), "--aggregator",
                      ep["ingest"], "--source-id", "coll-lambeth", "--give-up-after", "3s",
                      "--security.client_cert=" + os.path.join(keys.dir, "lambeth_secret"),
                      "--security.server_key=" + keys.server, "-"], env=ENV, stdin="pipe", name="collector")
    feed(c, generate(10, LAMBETH, 70))
    c.p.stdin.close()
    assert c.wait(60) == 1, c.stderr()  # gave up: nothing acknowledged
    assert "handshake with" in c.stderr() and "server_key" in c.stderr(), c.stderr()
    assert spooled(os.path.join(d, "coll")) == 10
    with urllib.request.urlopen(f"http://{ep['http']}/api/v1/stats", timeout=5) as r:
        st = json.load(r)
    assert (st["frames"], st["acks"]) == (0, 0), st
    fake.term()


def test_folders_private_and_secrets_not_logged():
    """Data folders and spools are created 0700; a server certificate that
    others may read is refused at start; no secret key text reaches a log."""
    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    d = crrtest.tmpdir("crrmodes-")
    data = os.path.join(d, "agg")
    agg = crrtest.Aggregator(data, env=ENV, insecure=False,
                             args=["--security.server_cert=" + keys.server + "_secret",
                                   "--security.clients_dir=" + keys.clients])
    args = agg.command()
    os.chmod(keys.server + "_secret", 0o640)
    agg.start(wait=False)
    assert agg.wait(30) == 78 and "readable by group or others" in agg.stderr(), (agg.returncode, agg.stderr())
    os.chmod(keys.server + "_secret", 0o600)
    ep = agg.start().ep
    coll = os.path.join(d, "coll")
    c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", coll, "--aggregator", ep["ingest"],
                      "--source-id", "coll-lambeth", "--security.client_cert=" + os.path.join(keys.dir, "lambeth_secret"),
                      "--security.server_key=" + keys.server, "-"], env=ENV, stdin="pipe", name="collector")
    feed(c, generate(5, LAMBETH, 71))
    c.p.stdin.close()
    assert c.wait(60) == 0, c.stderr()
    for folder in (data, os.path.join(data, "store"), coll, os.path.join(coll, "spool")):
        assert os.stat(folder).st_mode & 0o777 == 0o700, (folder, oct(os.stat(folder).st_mode))
    checked = crrtest.run(args + ["--check-config"], env=ENV, timeout=30, check=0).stdout
    logs = agg.stderr() + c.stderr() + checked
    agg.term()
    secrets = []
    for name in ("server_secret", "lambeth_secret"):
        with open(os.path.join(keys.dir, name)) as f:
            secrets += [line.split("=", 1)[1].strip().strip('"') for line in f if "secret-key" in line]
    assert len(secrets) == 2, secrets
    for sec in secrets:
        assert sec not in logs, "a secret key appears in a log"


def test_no_keys_refused_exit_78():
    """Secure by default: without CURVE keys and without --insecure nothing starts."""
    d = crrtest.tmpdir()
    r = crrtest.start_aggregator(os.path.join(d, "agg"), env=ENV, insecure=False, wait=False)
    assert r.wait(30) == 78 and "[security] server_cert" in r.stderr() and "--insecure" in r.stderr(), r.stderr()
    coll = [crrtest.binary("crrmon-collector"), "--data-dir", os.path.join(d, "coll"), "--aggregator",
            "tcp://127.0.0.1:9", "--source-id", "x", "-"]
    r = crrtest.run(coll, env=ENV, insecure=False, timeout=30, input="")
    assert r.returncode == 78 and "[security] client_cert" in r.stderr and "--insecure" in r.stderr, r.stderr
    r = crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", "tcp://127.0.0.1:9", "-"], env=ENV,
                    insecure=False, timeout=30, input="")
    assert r.returncode == 78 and "[security] client_cert" in r.stderr, r.stderr
    # with --insecure each starts and warns
    p = crrtest.start_aggregator(os.path.join(d, "agg"), env=ENV, args=["--insecure"], insecure=False)
    assert "plain TCP" in p.stderr(), p.stderr()
    p.term()


def test_insecure_defaults_bind_loopback_only():
    """--insecure without endpoints: the default ingest and feed endpoints
    (every interface) bind 127.0.0.1 only; an ipc:// endpoint without keys
    and without --insecure is refused like TCP."""
    d = crrtest.tmpdir()
    r = crrtest.start_aggregator(os.path.join(d, "ipc"), env=ENV, insecure=False, wait=False,
                                 ingest="ipc://" + os.path.join(d, "in.sock"),
                                 feed="ipc://" + os.path.join(d, "feed.sock"))
    assert r.wait(30) == 78 and "[security] server_cert" in r.stderr(), (r.returncode, r.stderr())
    data = os.path.join(d, "agg")
    p = crrtest.start_aggregator(data, env=ENV, insecure=False, wait=False, ingest=None, feed=None,
                                 args=["--insecure"])
    # the warning comes before the bind; the fixed ports may be taken on a busy host (exit 1)
    crrtest.wait_until(lambda: os.path.exists(os.path.join(data, "endpoints.json")) or not p.alive(), timeout=30,
                       what="started or exited")
    assert "any process that reaches tcp://127.0.0.1:7400 or tcp://127.0.0.1:7401" in p.stderr(), p.stderr()
    if p.alive():
        with open(os.path.join(data, "endpoints.json")) as f:
            ep = json.load(f)
        assert (ep["ingest"], ep["feed"]) == ("tcp://127.0.0.1:7400", "tcp://127.0.0.1:7401"), ep
        assert p.term() == 0


def capture(port, action):
    """Bytes tcpdump saw on loopback for TCP port while action() ran."""
    path = os.path.join(crrtest.tmpdir(), "lo.pcap")
    dump = crrtest.Proc(["tcpdump", "-i", "lo", "-U", "-n", "-s", "0", "--immediate-mode", "-Z", "root", "-w", path, f"tcp port {port}"],
                        name="tcpdump")
    crrtest.wait_until(lambda: "listening on" in dump.stderr(), timeout=30, what="tcpdump listening")
    action()
    # written packet by packet (--immediate-mode -U): wait until the frames are in the file
    crrtest.wait_until(lambda: os.path.getsize(path) > 4000, timeout=30, what="captured packets")
    dump.term()
    with open(path, "rb") as f:
        return f.read()


def test_capture_shows_no_plain_text_with_curve():
    if not shutil.which("tcpdump"):
        raise AssertionError("tcpdump is not installed (deploy/deps.sh installs it)")
    events = crrmon("generate", "--count", "40", "--seed", "21", "--borough", LAMBETH, "--types",
                    "training_feedback", check=0).stdout
    first = json.loads(events.splitlines()[0])["trainingFeedback"]
    secrets = [LAMBETH.encode(), first["trainerId"].encode(), first["courseId"].encode()]

    keys = Keys()
    keys.keygen("lambeth", LAMBETH, admit=True)
    agg = Aggregator(keys)
    port = agg.ingest.rsplit(":", 1)[1]
    seen = capture(port, lambda: send(agg, keys, "lambeth", events, "coll-cap").check_returncode())
    assert agg.applied() == 40
    for s in secrets:
        assert s not in seen, f"{s!r} in plain text on a CURVE connection"

    # the same with --insecure shows them: the capture can fail
    d = crrtest.tmpdir("crragg-")
    plain = crrtest.start_aggregator(d, env=ENV, name="aggregator-plain")
    ep = plain.ep
    port = ep["ingest"].rsplit(":", 1)[1]
    seen = capture(port, lambda: crrmon("send", "--insecure", "--aggregator", ep["ingest"], "--source-id",
                                        "coll-cap", "-q", "-", input=events, check=0))
    for s in secrets:
        assert s in seen, f"{s!r} not found in a plain-TCP capture"
    plain.term()


crrtest.main()
