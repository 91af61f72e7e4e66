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
BUILD = os.path.dirname(os.path.abspath(crrtest.BIN))
UNITS = ["crrmon-aggregator.service", "crrmon-collector@.service", "crrmon-collector@.timer",
         "crrmon-backup.service", "crrmon-backup.timer"]
SERVICES = [u for u in UNITS if u.endswith(".service")]


def _units_with_built_binaries(tmp):
    """The units, with /usr/bin/crrmon-* pointing at the built binaries (verify checks them)."""
    for u in UNITS:
        with open(os.path.join(SRC, "deploy", "systemd", u)) as f:
            text = f.read().replace("/usr/bin/crrmon", os.path.join(crrtest.BIN, "crrmon"))
        with open(os.path.join(tmp, u), "w") as f:
            f.write(text)
    return [os.path.join(tmp, u) for u in UNITS]


def test_systemd_units_verify():
    sa = need("systemd-analyze")
    units = _units_with_built_binaries(crrtest.tmpdir())
    r = crrtest.run([sa, "verify", "--man=no", *units])
    # verify only warns about an unknown key or a bad value: any output is a finding
    assert r.returncode == 0 and r.stderr.strip() == "" and r.stdout.strip() == "", (r.returncode, r.stdout, r.stderr)
    # it does catch a mistake (the check is not vacuous)
    bad = os.path.join(crrtest.tmpdir(), "crrmon-aggregator.service")
    with open(units[0]) as f, open(bad, "w") as g:
        g.write(f.read().replace("ProtectHome=yes", "ProtectHome=yes\nProtectHomeTypo=yes"))
    r = crrtest.run([sa, "verify", "--man=no", bad])
    assert "ProtectHomeTypo" in r.stderr, r.stderr
    for u in UNITS[:2]:
        text = open(os.path.join(SRC, "deploy", "systemd", u)).read()
        for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "User=crrmon",
                     "StateDirectory=crrmon/", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                     "NoNewPrivileges=yes", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
                     "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service"):
            assert line in text, (u, line)


def test_systemd_security_exposure_is_documented():
    sa = need("systemd-analyze")
    ops = open(os.path.join(SRC, "docs", "OPERATIONS.md")).read()
    for u in SERVICES:
        r = crrtest.run([sa, "security", "--offline=true", os.path.join(SRC, "deploy", "systemd", u)])
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d) (\w+)", r.stdout)
        assert m, r.stdout[-2000:]
        level, word = m.groups()
        assert float(level) <= 2.0, r.stdout[-3000:]
        assert f"`{u}`: exposure {level} {word}" in ops, (u, level, word)


def test_man_pages_render():
    man = need("man")
    pages = {"crrmon.1": ["crrmon backup", "crrmon restore", "--data-dir"],
             "crrmon-aggregator.8": ["--log-format", "NOTIFY_SOCKET", "/etc/crrmon/"],
             "crrmon-collector.8": ["--source-id", "JOURNAL_STREAM", "SEE ALSO"]}
    for page, words in pages.items():
        path = os.path.join(BUILD, "man", page)
        assert os.path.exists(path), f"{path}: the build makes it (deploy/man.sh)"
        r = crrtest.run([man, "-l", path], env={"MANWIDTH": "100", "MAN_KEEP_FORMATTING": ""}, check=0)
        text = re.sub(r".\x08", "", r.stdout)
        name = page.rsplit(".", 1)[0]
        assert text.splitlines()[0].startswith(name.upper()), text[:200]
        for w in words:
            assert w in text, (page, w)
        # generated from --help: the first option line of --help is in the page
        assert "NAME" in text and "DESCRIPTION" in text, text[:500]
    # crrmon(1) has a section per command, from each command's --help
    cmds = re.findall(r"^  ([a-z]+) ", crrtest.run([crrtest.binary("crrmon"), "--help"], check=0).stdout, re.M)
    text = re.sub(r".\x08", "", crrtest.run([man, "-l", os.path.join(BUILD, "man", "crrmon.1")], check=0).stdout)
    for c in cmds:
        assert f"crrmon {c}" in text, c


def _help_keys(binary):
    r = crrtest.run([crrtest.binary(binary), "--help"], check=0)
    return [sk for sk in re.findall(r"INI \[(\S+)\] (\w+)", r.stdout) if sk != ("section", "key")]


def test_example_configs_pass_check_config_and_list_every_key():
    for binary, example in (("crrmon-aggregator", "aggregator.ini"), ("crrmon-collector", "collector-example.ini")):
        path = os.path.join(SRC, "deploy", "examples", example)
        r = crrtest.run([crrtest.binary(binary), "--config", path, "--check-config"], insecure=False)
        assert r.returncode == 0, (example, r.stderr)
        text = open(path).read()
        assert "insecure = true" not in text.replace(";insecure", "")
        # every key --help lists is in the example (set, or commented with its default), in its section
        section, found = None, set()
        for line in text.splitlines():
            m = re.match(r"^\[(\S+)\]$", line)
            if m:
                section = m.group(1)
            m = re.match(r"^;?(\w+) =", line)
            if m:
                found.add((section, m.group(1)))
        missing = [f"[{s}] {k}" for s, k in _help_keys(binary) if (s, k) not in found]
        assert not missing, f"deploy/examples/{example} lacks {missing}: add each, commented, with its default"
        # and every key is commented (the line before says what it is)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if re.match(r"^;?\w+ =", line):
                assert lines[i - 1].startswith(";"), (example, line)
    agg = crrtest.run([crrtest.binary("crrmon-aggregator"), "--config",
                       os.path.join(SRC, "deploy", "examples", "aggregator.ini"), "--check-config"], check=0).stdout
    assert "http = 127.0.0.1:7480" in agg and "server_cert = /etc/crrmon/keys/aggregator_secret" in agg, agg


def _make_root():
    """An empty root dpkg can install into: its database and the user files useradd edits."""
    root = crrtest.tmpdir("crrroot-")
    for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"):
        os.makedirs(os.path.join(root, d))
    for name, text in (("var/lib/dpkg/status", ""), ("var/lib/dpkg/available", ""),
                       ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"), ("etc/group", "root:x:0:\n"),
                       ("etc/shadow", "root:*:19000:0:99999:7:::\n"), ("etc/gshadow", "root:*::\n")):
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    return root


def test_debian_package_builds_lists_and_installs():
    cpack = need("cpack")
    dpkg_deb = need("dpkg-deb")
    dpkg = need("dpkg")
    out = crrtest.tmpdir("crrdeb-")
    r = crrtest.run([cpack, "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out],
                    timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    version = crrtest.run([crrtest.binary("crrmon"), "--version"], check=0).stdout.split()[1]
    deb = os.path.join(out, f"crrmon_{version}_amd64.deb")
    assert os.path.exists(deb), os.listdir(out)

    listing = crrtest.run([dpkg_deb, "-c", deb], check=0).stdout
    files = {ln.split()[5].lstrip(".") for ln in listing.splitlines()}
    for f in ("/usr/bin/crrmon", "/usr/bin/crrmon-aggregator", "/usr/bin/crrmon-collector",
              "/usr/share/crrmon/london_boroughs.csv", "/usr/share/crrmon/population_ethnicity_census2021.csv",
              "/usr/share/doc/crrmon/OPERATIONS.md", "/usr/share/doc/crrmon/README.md",
              "/usr/share/man/man1/crrmon.1.gz", "/usr/share/man/man8/crrmon-aggregator.8.gz",
              "/usr/share/man/man8/crrmon-collector.8.gz",
              "/lib/systemd/system/crrmon-aggregator.service", "/lib/systemd/system/crrmon-collector@.service",
              "/lib/systemd/system/crrmon-collector@.timer", "/lib/systemd/system/crrmon-backup.service",
              "/lib/systemd/system/crrmon-backup.timer",
              "/etc/crrmon/aggregator.ini", "/etc/crrmon/collector-example.ini",
              "/etc/default/crrmon-collector-example"):
        assert f in files, (f, listing)
    assert not any(f.startswith("/usr/etc") or "/bin/test_" in f or "fuzz" in f for f in files), listing
    for b in ("crrmon", "crrmon-aggregator", "crrmon-collector"):
        assert re.search(rf"^-rwxr-xr-x root/root .* \./usr/bin/{b}$", listing, re.M), (b, listing)
    assert re.search(r"^-rw-r--r-- root/root .* \./etc/crrmon/aggregator\.ini$", listing, re.M), listing

    info = crrtest.run([dpkg_deb, "-I", deb], check=0).stdout
    fields = dict(re.findall(r"^ (\w[\w-]*): (.*)$", info, re.M))
    assert fields["Package"] == "crrmon" and fields["Version"] == version and fields["Architecture"] == "amd64"
    depends = [d.strip().split()[0] for d in fields["Depends"].split(",")]
    for lib in ("libc6", "libzmq5", "libczmq4", "liblmdb0", "libprotobuf-c1", "libmicrohttpd12", "libjansson4",
                "libsystemd0", "libcurl4", "libinih1", "libcsv3", "libcrypt1", "passwd"):
        assert lib in depends, (lib, fields["Depends"])
    assert not any(d.endswith("-dev") for d in depends), fields["Depends"]
    ctrl = crrtest.tmpdir("crrctrl-")
    crrtest.run([dpkg_deb, "-e", deb, ctrl], check=0)
    conffiles = open(os.path.join(ctrl, "conffiles")).read().split()
    assert sorted(conffiles) == ["/etc/crrmon/aggregator.ini", "/etc/crrmon/collector-example.ini",
                                 "/etc/default/crrmon-collector-example"], conffiles
    for s in ("postinst", "prerm", "postrm"):
        assert os.access(os.path.join(ctrl, s), os.X_OK), s

    # install into an empty root; the maintainer scripts run there (DPKG_ROOT)
    assert os.geteuid() == 0, ("installing the .deb into a temporary root needs root (dpkg and the postinst "
                               "chown files to crrmon): run the suite as root, as CI does")
    root = _make_root()
    inst = [dpkg, f"--root={root}", "--force-script-chrootless", "--force-depends"]
    r = crrtest.run([*inst, "-i", deb], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    pw = [ln.split(":") for ln in open(os.path.join(root, "etc/passwd")).read().splitlines()]
    [user] = [p for p in pw if p[0] == "crrmon"]
    uid = int(user[2])
    assert uid < 1000 and user[5] == "/var/lib/crrmon" and user[6] == "/usr/sbin/nologin", user
    st = os.stat(os.path.join(root, "var/lib/crrmon"))
    assert st.st_uid == uid and oct(st.st_mode & 0o777) == "0o700", (st.st_uid, oct(st.st_mode))
    keys = os.path.join(root, "etc/crrmon/keys")
    sec = os.stat(os.path.join(keys, "aggregator_secret"))
    assert sec.st_uid == uid and oct(sec.st_mode & 0o777) == "0o600"
    assert os.path.exists(os.path.join(keys, "aggregator")) and os.path.isdir(os.path.join(keys, "clients"))
    pub = open(os.path.join(keys, "aggregator")).read()
    # the installed (compressed) man pages render
    for page in ("man1/crrmon.1.gz", "man8/crrmon-aggregator.8.gz", "man8/crrmon-collector.8.gz"):
        r = crrtest.run([need("man"), "-l", os.path.join(root, "usr/share/man", page)], check=0)
        assert "SYNOPSIS" in r.stdout or "DESCRIPTION" in r.stdout, (page, r.stdout[:300])

    # the installed aggregator starts secure with the installed example config
    data = crrtest.tmpdir()
    p = crrtest.Proc([os.path.join(root, "usr/bin/crrmon-aggregator"), "--config",
                      os.path.join(root, "etc/crrmon/aggregator.ini"), "--data-dir", data,
                      "--ingest", "tcp://127.0.0.1:*", "--feed", "tcp://127.0.0.1:*", "--http", "127.0.0.1:0",
                      f"--security.server_cert={keys}/aggregator_secret", f"--security.clients_dir={keys}/clients"],
                     env=ENV, insecure=False, name="installed-aggregator")
    crrtest.wait_until(lambda: os.path.exists(os.path.join(data, "endpoints.json")) or not p.alive(),
                       what="installed aggregator")
    assert p.alive(), p.stderr()
    assert p.term() == 0
    assert "INSECURE" not in p.stderr() and "insecure" not in p.stderr(), p.stderr()

    # a second install (upgrade) keeps the key pair and the user
    r = crrtest.run([*inst, "-i", deb], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert open(os.path.join(keys, "aggregator")).read() == pub
    assert sum(1 for ln in open(os.path.join(root, "etc/passwd")) if ln.startswith("crrmon:")) == 1

    # removing keeps the data, the keys and the conffiles; purging removes only the conffiles
    with open(os.path.join(root, "var/lib/crrmon/keep-me"), "w") as f:
        f.write("data\n")
    r = crrtest.run([*inst, "-r", "crrmon"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.exists(os.path.join(root, "usr/bin/crrmon-aggregator"))
    assert os.path.exists(os.path.join(root, "var/lib/crrmon/keep-me"))
    assert os.path.exists(os.path.join(root, "etc/crrmon/aggregator.ini"))
    r = crrtest.run([*inst, "-P", "crrmon"], timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os.path.exists(os.path.join(root, "var/lib/crrmon/keep-me"))
    assert os.path.exists(os.path.join(keys, "aggregator_secret"))
    assert not os.path.exists(os.path.join(root, "etc/crrmon/aggregator.ini"))


if __name__ == "__main__":
    crrtest.main()
