"""test_deploy: crrmon run as a Debian service.

  - readiness: under a NOTIFY_SOCKET (what systemd gives a Type=notify unit)
    the aggregator sends READY=1 only once its store is open and its sockets
    are bound (endpoints.json is there), RELOADING=1 then READY=1 on SIGHUP,
    STOPPING=1 on SIGTERM; the collector the same once its spool is open;
  - logs: under the journal (JOURNAL_STREAM names stderr) lines carry no
    timestamp and start with the syslog priority; --log-format json writes
    one JSON object per line, with or without the journal, and a reload can
    switch it;
  - systemd units: `systemd-analyze verify` accepts deploy/systemd/*;
  - man pages: built from --help, rendered by `man -l`;
  - example configs: `--check-config` accepts each, with every key present;
  - the Debian package: `cpack -G DEB` builds it, its contents and control
    fields are checked, and it is installed into a temporary root with
    `dpkg --root`, its maintainer scripts run there.

Tools the tests need (systemd-analyze, help2man, man, dpkg-deb) come from
deploy/deps.sh; a missing one fails the test, never skips it.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}
SRC = crrtest.SRC


def need(tool):
    path = shutil.which(tool)
    assert path, f"{tool} is missing: deploy/deps.sh installs it"
    return path


class Notify:
    """The service manager's side of sd_notify: a datagram socket."""

    def __init__(self):
        self.path = os.path.join(crrtest.tmpdir("crrnotify-"), "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0)
        self.msgs = []

    def poll(self):
        while True:
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.msgs

    def states(self):
        """The state words (READY=1, RELOADING=1, STOPPING=1) received so far, in order."""
        out = []
        for m in self.poll():
            out += [ln for ln in m.splitlines() if ln in ("READY=1", "RELOADING=1", "STOPPING=1")]
        return out

    def wait_for(self, states, what):
        return crrtest.wait_until(lambda: self.states() == states, timeout=30, what=what + f" (got {self.states()})")


def start_aggregator(data, env, *extra):
    return crrtest.Proc([crrtest.binary("crrmon-aggregator"), "--data-dir", data, "--ingest", "tcp://127.0.0.1:*",
                         "--feed", "tcp://127.0.0.1:*", "--http", "127.0.0.1:0", *extra], env=env, name="aggregator")


def test_aggregator_readiness():
    n = Notify()
    data = crrtest.tmpdir()
    # a store that takes a moment to open is still not announced before it is open
    p = start_aggregator(data, {**ENV, "NOTIFY_SOCKET": n.path})
    n.wait_for(["READY=1"], "READY=1")
    # ready means: store open, sockets bound, endpoints.json written
    assert os.path.exists(os.path.join(data, "store", "data.mdb"))
    ep = json.load(open(os.path.join(data, "endpoints.json")))
    assert ep["pid"] == p.pid
    ready = [m for m in n.msgs if "READY=1" in m][0]
    assert f"STATUS=serving: ingest {ep['ingest']}, feed {ep['feed']}, http {ep['http']}" in ready, ready
    os.kill(p.pid, signal.SIGHUP)
    n.wait_for(["READY=1", "RELOADING=1", "READY=1"], "RELOADING=1 then READY=1")
    reloading = [m for m in n.msgs if "RELOADING=1" in m][0]
    assert re.search(r"^MONOTONIC_USEC=\d+$", reloading, re.M), reloading
    assert p.term() == 0, p.stderr()
    n.wait_for(["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], "STOPPING=1")


def test_aggregator_not_ready_when_it_fails_to_start():
    n = Notify()
    data = crrtest.tmpdir()
    first = start_aggregator(data, ENV)
    crrtest.wait_until(lambda: os.path.exists(os.path.join(data, "endpoints.json")), what="first aggregator")
    second = start_aggregator(data, {**ENV, "NOTIFY_SOCKET": n.path})
    assert second.wait(30) == 78, second.stderr()
    assert n.states() == [], n.msgs  # never announced ready
    assert first.term() == 0


def test_collector_readiness():
    n = Notify()
    data = crrtest.tmpdir()
    agg = start_aggregator(data, ENV)
    ep = crrtest.wait_until(lambda: json.load(open(os.path.join(data, "endpoints.json"))), what="endpoints")
    coll_dir = crrtest.tmpdir()
    c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", coll_dir, "--aggregator", ep["ingest"],
                      "--source-id", "lambeth", "-"], env={**ENV, "NOTIFY_SOCKET": n.path}, stdin="pipe",
                     name="collector")
    n.wait_for(["READY=1"], "collector READY=1")
    assert os.path.exists(os.path.join(coll_dir, "spool", "data.mdb"))
    os.kill(c.pid, signal.SIGHUP)
    n.wait_for(["READY=1", "RELOADING=1", "READY=1"], "collector reload")
    assert c.term() == 0, c.stderr()
    n.wait_for(["READY=1", "RELOADING=1", "READY=1", "STOPPING=1"], "collector STOPPING=1")
    assert agg.term() == 0


TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def _run_logged(args, journal, env=None):
    """Starts args with stderr to a file; journal: JOURNAL_STREAM names that file (as systemd
    names the journal's socket). Returns (proc, path of the log)."""
    logdir = crrtest.tmpdir()
    path = os.path.join(logdir, "stderr")
    f = open(path, "wb")
    full = dict(os.environ, **ENV)
    full.pop("JOURNAL_STREAM", None)
    full.update(env or {})
    if journal:
        st = os.fstat(f.fileno())
        full["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    p = subprocess.Popen(crrtest.plain(args), stderr=f, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                         env=full, start_new_session=True)
    f.close()
    return p, path


def _stop(p):
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == 0


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def _agg_args(data, *extra):
    return [crrtest.binary("crrmon-aggregator"), "--data-dir", data, "--ingest", "tcp://127.0.0.1:*",
            "--feed", "tcp://127.0.0.1:*", "--http", "127.0.0.1:0", *extra]


def _wait_started(path):
    crrtest.wait_until(lambda: any("started pid=" in ln for ln in _lines(path)), what="started line")


def test_logs_text_plain_and_under_the_journal():
    p, path = _run_logged(_agg_args(crrtest.tmpdir()), journal=False)
    _wait_started(path)
    _stop(p)
    lines = _lines(path)
    assert lines and all(re.match(TS + r" (error|warn|info|debug) aggregator: ", ln) for ln in lines), lines
    p, path = _run_logged(_agg_args(crrtest.tmpdir()), journal=True)
    _wait_started(path)
    _stop(p)
    lines = _lines(path)
    assert lines and all(re.match(r"<[3467]>(error|warn|info|debug) aggregator: ", ln) for ln in lines), lines
    assert not any(re.search(TS, ln) for ln in lines), lines
    assert any(ln.startswith("<6>info aggregator: started pid=") for ln in lines), lines
    assert any(ln.startswith("<4>warn aggregator: ") for ln in lines), lines  # --insecure warns
    # JOURNAL_STREAM inherited by a process whose stderr was redirected elsewhere: timestamps stay
    p, path = _run_logged(_agg_args(crrtest.tmpdir()), journal=False, env={"JOURNAL_STREAM": "1:1"})
    _wait_started(path)
    _stop(p)
    lines = _lines(path)
    assert lines and all(re.match(TS + r" (error|warn|info|debug) aggregator: ", ln) for ln in lines), lines


def test_logs_json():
    for journal in (False, True):
        data = crrtest.tmpdir()
        ini = os.path.join(data, "agg.ini")
        with open(ini, "w") as f:
            f.write("[aggregator]\nlog_format = json\n")
        p, path = _run_logged(_agg_args(data, "--config", ini), journal=journal)
        _wait_started(path)
        # a reload to text switches the format at once
        with open(ini, "w") as f:
            f.write("[aggregator]\nlog_format = text\n")
        p.send_signal(signal.SIGHUP)
        crrtest.wait_until(lambda: any("reload: applied" in ln for ln in _lines(path)), what="reload")
        _stop(p)
        lines = _lines(path)
        cut = next(i for i, ln in enumerate(lines) if "reload: applied" in ln)
        objs = []
        for ln in lines[:cut]:
            if journal:
                m = re.match(r"<(\d)>(.*)$", ln)
                assert m, ln
                ln = m.group(2)
            o = json.loads(ln)
            objs.append(o)
            keys = ["level", "component", "msg"] if journal else ["time", "level", "component", "msg"]
            assert list(o) == keys, o
            assert o["component"] == "aggregator"
            if not journal:
                assert re.fullmatch(TS, o["time"]), o
        assert any(o["msg"].startswith("started pid=") and o["level"] == "info" for o in objs), objs
        assert any(o["msg"].startswith("reload: aggregator.log_format = 'text' (was 'json')") for o in objs), objs
        # text once the reload is applied (its own last line is still JSON)
        assert "info aggregator: stopped" in lines[-1] and not lines[-1].lstrip("<0123456789>").startswith("{"), lines
    # the collector takes the flag too; a message with quotes and bad bytes stays valid JSON
    work = crrtest.tmpdir()
    bad = os.path.join(work, 'in"put.jsonl')
    with open(bad, "wb") as f:
        f.write(b'{"borough": "\xff\\"x"}\n')
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--log-format", "json", "--data-dir",
                     os.path.join(work, "c"), "--aggregator", "tcp://127.0.0.1:1", "--source-id", "s",
                     "--give-up-after", "1s", bad], env=ENV)
    objs = [json.loads(ln) for ln in r.stderr.splitlines()]
    assert any('in"put.jsonl:1' in o["msg"] for o in objs), objs
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--log-format", "xml", "--data-dir", work,
                     "--source-id", "s", "--check-config"])
    assert r.returncode == 64 and "not a log format (text or json)" in r.stderr, r.stderr


if __name__ == "__main__":
    crrtest.main()
