"""crrtest: the harness every process-level test uses.

Owns: finding the built binaries (CRR_BIN_DIR), free loopback ports, temporary
folders, starting and stopping real processes (every process started here is
stopped at exit, even when a test fails), polling with deadlines instead of
sleeping, the one way tests start crrmon-aggregator (Aggregator,
start_aggregator), and a tiny runner that prints "N passed, N failed".

A test file defines functions named test_* and ends with crrtest.main().
"""
import atexit
import json
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SRC = os.environ.get("CRR_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("CRR_BIN_DIR", os.path.join(SRC, "build", "bin"))
_procs = []
_tmpdirs = []


def binary(name):
    """Absolute path of a built binary (crrmon, crrmon-aggregator, crrmon-collector, ...)."""
    p = os.path.join(BIN, name)
    if not os.path.exists(p):
        raise AssertionError(f"binary {p} not built")
    return p


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpdir(prefix="crrtest-"):
    """A fresh temporary folder, removed at exit (kept when CRR_KEEP_TMP is set)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


_pb_mods = {}


def pb():
    """The Python modules protoc generates from proto/crrmon/v1 (enums, event, ingest, snapshot,
    feed) and google.protobuf.json_format ("jf"), generated once per test process."""
    if not _pb_mods:
        out = tmpdir("crrpb-")
        proto = os.path.join(SRC, "proto")
        run(["protoc", f"--python_out={out}", "-I", proto, "-I", "/usr/include"] +
            sorted(glob.glob(os.path.join(proto, "crrmon", "v1", "*.proto"))), check=0)
        sys.path.insert(0, out)
        from crrmon.v1 import enums_pb2, event_pb2, feed_pb2, ingest_pb2, snapshot_pb2
        from google.protobuf import json_format
        _pb_mods.update(enums=enums_pb2, event=event_pb2, ingest=ingest_pb2, snapshot=snapshot_pb2,
                        feed=feed_pb2, jf=json_format)
    return _pb_mods


def wait_until(cond, timeout=30.0, what="condition", interval=0.02):
    """Polls cond() until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # a probe may fail until the process is up
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


_PLAIN_DAEMONS = ("crrmon-aggregator", "crrmon-collector")
_SECURITY_ARGS = ("--insecure", "--security.", "--client-cert", "--server-key")


def snapshot_file(snap, ext):
    """The default file name of a snapshot (the file sinks' file_name
    {schedule}-{as_of}-{id}.EXT): snap is a JSONL header (id, asOf, schedule)
    or a POST /api/v1/snapshots answer (id, as_of; on-demand)."""
    as_of = snap.get("asOf") or snap["as_of"]
    stamp = as_of.replace("-", "").replace(":", "")
    if "." in stamp:  # fractions of a second are not part of the name
        stamp = stamp[:stamp.index(".")] + "Z"
    return f"{snap.get('schedule') or 'on-demand'}-{stamp}-{snap['id']}.{ext}"


def plain(args, insecure=True):
    """The command line with --insecure added where crrmon now refuses plain TCP.

    Daemons and `crrmon send` are secure by default (docs/SECURITY.md): without
    CURVE keys they exit 78. Tests that are not about security run them on
    loopback in plain TCP, so --insecure is added to a crrmon daemon or a
    `crrmon send` or `crrmon tail` whose arguments say nothing about security. insecure=False
    leaves the command line as given (tests of the secure defaults)."""
    args = [str(a) for a in args]
    if not insecure or not args or any(a.startswith(_SECURITY_ARGS) for a in args):
        return args
    name = os.path.basename(args[0])
    if name in _PLAIN_DAEMONS:
        return args[:1] + ["--insecure"] + args[1:]
    if name == "crrmon" and len(args) > 1 and args[1] in ("send", "tail"):
        return args[:2] + ["--insecure"] + args[2:]
    return args


class Proc:
    """A real process with stdout/stderr captured to files in its log folder."""

    def __init__(self, args, env=None, cwd=None, logdir=None, stdin=None, name=None, insecure=True):
        self.args = plain(args, insecure)
        self.name = name or os.path.basename(self.args[0])
        logdir = logdir or tmpdir("crrlog-")
        self.out_path = os.path.join(logdir, f"{self.name}.{len(_procs)}.out")
        self.err_path = os.path.join(logdir, f"{self.name}.{len(_procs)}.err")
        full_env = dict(os.environ)
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.p = subprocess.Popen(self.args, env=full_env, cwd=cwd, stdout=self._out, stderr=self._err,
                                  stdin=subprocess.PIPE if stdin == "pipe" else (stdin or subprocess.DEVNULL),
                                  start_new_session=True)
        _procs.append(self)

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait(self, timeout=60.0):
        """Waits for exit; returns the exit code (raises on timeout)."""
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} did not exit within {timeout}s; stderr:\n{self.stderr()[-3000:]}")

    def term(self, timeout=30.0):
        """SIGTERM and wait; returns the exit code."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill9(self):
        if self.alive():
            self.p.kill()
        self.p.wait()

    def close(self):
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.p.wait()
        self._out.close()
        self._err.close()


ANY_TCP = "tcp://127.0.0.1:*"


class Aggregator:
    """A real crrmon-aggregator on loopback, started the one way every e2e test starts it.

    data_dir: its --data-dir (a fresh temporary folder when None).
    ingest, feed: ZeroMQ endpoints (default tcp://127.0.0.1:*, a random port);
    http: the HTTP address (default 127.0.0.1:0; None leaves --http out).
    args: more command-line arguments; config: the text of a config file,
    written to a temporary file (.config_path) given as --config; env: extra
    environment (CRRMON_NOW, CRR_CRASHPOINT, ...); insecure: see plain();
    wrap: a command to run it under (strace -f ...: the process id is then the
    wrapper's, so endpoints.json is not matched by pid); binary: another
    crrmon-aggregator (an installed copy); timeout: for each wait below;
    ready: an extra condition ready(endpoints) -> truthy that start() waits for
    (healthz=True waits for GET /healthz = 200).

    Nothing runs until start(). Handle: .dir, .proc (the Proc), .ep (the
    endpoints.json read once ready), .ingest/.feed/.http_addr, pid, alive(),
    stderr(), stdout(), wait(), returncode, term(), kill9(), sigstop(),
    sigcont(), signal(sig), restart() (same folder and, unless told otherwise,
    the same ports)."""

    def __init__(self, data_dir=None, *, args=(), env=None, config=None, ingest=ANY_TCP, feed=ANY_TCP,
                 http="127.0.0.1:0", insecure=True, wrap=(), binary=None, timeout=30, ready=None,
                 healthz=False, name="aggregator"):
        self.dir = data_dir or tmpdir("crragg-")
        self.args, self.env, self.insecure, self.wrap = list(args), dict(env or {}), insecure, list(wrap)
        self.ingest_arg, self.feed_arg, self.http_arg = ingest, feed, http
        self.feed_state_arg = None  # the feed's state endpoint: by default its port + 1 (or *)
        self.bin, self.timeout, self.ready, self.healthz, self.name = binary, timeout, ready, healthz, name
        self.config_path = None
        if config is not None:
            self.config_path = os.path.join(tmpdir("crrcfg-"), "aggregator.ini")
            with open(self.config_path, "w") as f:
                f.write(config)
        self.proc = None
        self.ep = None

    def command(self):
        """The command line start() runs (without the wrapper, before plain())."""
        cmd = [self.bin or binary("crrmon-aggregator"), "--data-dir", self.dir]
        if self.ingest_arg is not None:
            cmd += ["--ingest", self.ingest_arg]
        if self.feed_arg is not None:
            cmd += ["--feed", self.feed_arg]
        if self.feed_state_arg is not None:
            cmd += ["--feed-state", self.feed_state_arg]
        if self.http_arg is not None:
            cmd += ["--http", self.http_arg]
        if self.config_path:
            cmd += ["--config", self.config_path]
        return cmd + [str(a) for a in self.args]

    def start(self, wait=True):
        """Starts it; with wait (the default) returns once it serves (endpoints.json of this
        process, and ready()/healthz when given), raising if it exits first. wait=False
        returns at once: for a start that must be refused (then wait() gives the exit code)."""
        self.ep = None
        cmd = plain(self.command(), self.insecure)
        self.proc = Proc([*self.wrap, *cmd], env=self.env, name=self.name, insecure=False)
        if wait:
            self.wait_ready()
        return self

    def _endpoints(self, or_exit):
        if not self.proc.alive():
            if or_exit:
                return "exited"
            raise AssertionError(f"{self.name} exited {self.proc.p.returncode}:\n{self.proc.stderr()[-3000:]}")
        with open(os.path.join(self.dir, "endpoints.json")) as f:
            ep = json.load(f)
        if not self.wrap and ep.get("pid") != self.proc.pid:
            return None
        if self.ready and not self.ready(ep):
            return None
        if self.healthz:
            import urllib.request
            with urllib.request.urlopen(f"http://{ep['http']}/healthz", timeout=2) as r:
                if r.status != 200:
                    return None
        return ep

    def wait_ready(self, or_exit=False, timeout=None):
        """Waits until it serves; returns the endpoints (also kept in .ep). or_exit: an exit
        first is an answer too (returns None) instead of an error."""
        ep = wait_until(lambda: self._endpoints(or_exit), timeout=timeout or self.timeout,
                        what=f"{self.name} endpoints.json")
        self.ep = None if ep == "exited" else ep
        return self.ep

    def restart(self, wait=True, same_ports=True, args=None, env=None):
        """Stops it (SIGTERM, when running) and starts it again on the same folder; the ports
        it served stay the same unless same_ports=False. args, env: given, they replace the
        extra arguments and the environment for this start and the next."""
        if self.proc and self.proc.alive():
            self.proc.term()
        if same_ports and self.ep:
            self.ingest_arg, self.feed_arg = self.ep["ingest"], self.ep["feed"]
            self.feed_state_arg = self.ep.get("feed_state")
            if self.http_arg is not None:
                self.http_arg = self.ep["http"]
        if args is not None:
            self.args = list(args)
        if env is not None:
            self.env = dict(env)
        return self.start(wait)

    @property
    def ingest(self):
        return self.ep["ingest"] if self.ep else self.ingest_arg

    @property
    def feed(self):
        return self.ep["feed"] if self.ep else self.feed_arg

    @property
    def http_addr(self):
        return self.ep["http"] if self.ep else self.http_arg

    @property
    def pid(self):
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.p.returncode

    def alive(self):
        return self.proc.alive()

    def stderr(self):
        return self.proc.stderr()

    def stdout(self):
        return self.proc.stdout()

    def wait(self, timeout=60.0):
        """Waits for exit; returns the exit code."""
        return self.proc.wait(timeout)

    def term(self, timeout=30.0):
        """SIGTERM and wait; returns the exit code."""
        return self.proc.term(timeout)

    def kill9(self):
        self.proc.kill9()

    def signal(self, sig):
        self.proc.p.send_signal(sig)

    def sigstop(self):
        self.signal(signal.SIGSTOP)

    def sigcont(self):
        self.signal(signal.SIGCONT)


def start_aggregator(data_dir=None, wait=True, **kw):
    """Aggregator(data_dir, **kw).start(wait): the one way e2e tests start crrmon-aggregator."""
    return Aggregator(data_dir, **kw).start(wait)


def run(args, env=None, timeout=120.0, input=None, check=None, insecure=True):
    """Runs a command to completion; returns CompletedProcess (text). check = expected exit code.
    insecure: see plain()."""
    args = plain(args, insecure)
    full_env = dict(os.environ)
    if env:
        full_env.update({k: str(v) for k, v in env.items()})
    r = subprocess.run([str(a) for a in args], env=full_env, capture_output=True, text=True,
                       timeout=timeout, input=input)
    if check is not None and r.returncode != check:
        raise AssertionError(f"{args} exited {r.returncode}, expected {check}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}")
    return r


def _cleanup():
    for p in _procs:
        try:
            p.close()
        except Exception:
            pass
    if not os.environ.get("CRR_KEEP_TMP"):
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup)


def main():
    """Runs every test_* function of the calling module; prints 'N passed, N failed'."""
    mod = sys.modules["__main__"]
    only = sys.argv[1:]
    tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
    tests = [(n, f) for n, f in tests if not only or n in only]
    passed = failed = 0
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - t0:.1f}s)", flush=True)
            traceback.print_exc()
            for p in _procs:
                if p.alive() or True:
                    try:
                        err = p.stderr()[-2000:]
                    except Exception:
                        err = ""
                    if err:
                        print(f"--- stderr of {p.name} ({' '.join(p.args[:3])}...):\n{err}", flush=True)
        finally:
            for p in list(_procs):
                p.close()
            _procs.clear()
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed or not tests else 0)
