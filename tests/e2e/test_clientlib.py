"""test_clientlib: libcrrmon-client the way a borough developer uses it.

  - `cmake --install` into a temporary prefix puts the header, the shared
    and static libraries and crrmon-client.pc there; the shared library
    exports only crr_client_* (nm -D);
  - examples/client_send.c builds against the INSTALLED library with
    `pkg-config --cflags --libs crrmon-client` (and statically with
    --static), sends to a real aggregator, and every event arrives exactly
    once; a second run on the same spool folder sends nothing again; an
    invalid line is refused and the rest go through;
  - a flush that cannot reach the aggregator keeps the events spooled; a
    second client on the folder meanwhile is refused (locked); the next
    client on the folder delivers them;
  - secure mode through crr_client_set (security.client_cert/server_key)
    against a CURVE aggregator;
  - the typed call (crr_client_send_event) with the caller's own Event code;
  - crr_client_set takes the collector's send keys (the validation, spool,
    sender and security keys: one table, collector/keys.c, serves both) and
    refuses every other key of crrmon-collector's --help by name;
  - the static archive defines only crr_client_* globally (nm -g), leaves
    no internal crr_* name undefined, and a program with its own functions
    named like the library's internals (crr_log_write, crr_strerror...) links
    it statically without a clash.
"""
import json
import os
import shutil
import subprocess

import crrtest
from test_collector import ENV, Aggregator
from test_config_keys import options

# The public API: what the shared library exports and the static archive
# defines globally, exactly.
API = sorted(["crr_client_new", "crr_client_set", "crr_client_send_json", "crr_client_send_event",
              "crr_client_flush", "crr_client_destroy", "crr_client_strerror"])
# The collector keys the library takes (collector/keys.c's send keys).
SEND_KEYS = sorted(["collector.log_level", "collector.future_slack", "collector.max_age", "collector.max_line",
                    "spool.max_size", "sender.window", "sender.batch_events", "sender.max_frame",
                    "sender.resend_timeout", "security.client_cert", "security.server_key",
                    "security.insecure"])

_PREFIX = None


def prefix():
    """The build installed once into a temporary prefix."""
    global _PREFIX
    if _PREFIX is None:
        build = os.path.dirname(os.environ["CRR_BIN_DIR"])
        _PREFIX = crrtest.tmpdir("crrinst-")
        r = subprocess.run(["cmake", "--install", build, "--prefix", _PREFIX], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    return _PREFIX


def libdir():
    p = prefix()
    for d in ("lib", "lib64", "lib/x86_64-linux-gnu"):
        if os.path.exists(os.path.join(p, d, "libcrrmon-client.so")):
            return os.path.join(p, d)
    raise AssertionError("libcrrmon-client.so not installed under " + p)


def pkg_env():
    env = dict(os.environ)
    env["PKG_CONFIG_PATH"] = os.path.join(libdir(), "pkgconfig")
    return env


def pkgconfig(*args):
    r = subprocess.run(["pkg-config", *args, "crrmon-client"], capture_output=True, text=True, env=pkg_env())
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def sanitize_flags():
    """-fsanitize=... when this build is instrumented (the library needs the runtime too)."""
    cache = os.path.join(os.path.dirname(os.environ["CRR_BIN_DIR"]), "CMakeCache.txt")
    with open(cache) as f:
        for line in f:
            if line.startswith("CRR_SANITIZE:") and line.strip().split("=", 1)[1]:
                return ["-fsanitize=" + line.strip().split("=", 1)[1]]
    return []


def build_example(static=False, src=None):
    out = os.path.join(crrtest.tmpdir(), "client_send")
    src = src or os.path.join(os.environ["CRR_SOURCE_DIR"], "examples", "client_send.c")
    if static:
        # the archive by name, then its dependencies as shared libraries: the
        # packages the .pc requires privately, and its private -l flags
        # (`pkg-config --static --libs` would ask for static libzmq, whose
        # Debian .pc names an archive that is not shipped)
        reqs = [line.split()[0] for line in
                subprocess.run(["pkg-config", "--print-requires-private", "crrmon-client"], capture_output=True,
                               text=True, env=pkg_env(), check=True).stdout.splitlines() if line.strip()]
        deps = subprocess.run(["pkg-config", "--libs", *reqs], capture_output=True, text=True,
                              check=True).stdout.split()
        libs = [os.path.join(libdir(), "libcrrmon-client.a"), *deps, "-lcsv", "-lm", "-lpthread"]
        cmd = ["cc", "-std=c11", "-Wall", "-Werror", "-D_DEFAULT_SOURCE", *sanitize_flags(), *pkgconfig("--cflags"),
               src, "-o", out, *libs]
    else:
        cmd = ["cc", "-std=c11", "-Wall", "-Werror", "-D_DEFAULT_SOURCE", *sanitize_flags(), src, "-o", out,
               *pkgconfig("--cflags", "--libs")]
    r = subprocess.run(cmd, capture_output=True, text=True, env=pkg_env())
    assert r.returncode == 0, (cmd, r.stderr)
    return out


def event(i, borough=1):
    return json.dumps({"borough": "E09000%03d" % borough,
                       "occurredAt": "2026-02-%02dT10:%02d:00Z" % (i % 28 + 1, i % 60),
                       "racistIncident": {"count": 1, "recordedAsCrime": i % 2 == 0}}) + "\n"


def run_example(exe, spool, endpoint, sid, text, *kv, code=0):
    env = dict(os.environ)
    env.update(ENV)
    env["LD_LIBRARY_PATH"] = libdir()
    r = subprocess.run([exe, spool, endpoint, sid, *kv], input=text, capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    return r


def test_installed_files_and_exports():
    p = prefix()
    assert os.path.isfile(os.path.join(p, "include", "crrmon", "client.h"))
    for f in ("libcrrmon-client.so", "libcrrmon-client.a", "pkgconfig/crrmon-client.pc"):
        assert os.path.exists(os.path.join(libdir(), f)), f
    r = subprocess.run(["nm", "-D", "--defined-only", os.path.join(libdir(), "libcrrmon-client.so")],
                       capture_output=True, text=True, check=True)
    names = sorted(line.split()[-1].split("@")[0] for line in r.stdout.splitlines() if line.strip())
    names = [n for n in names if n != "CRRMON_CLIENT_0"]  # the version node
    assert names == API, names


def test_static_archive_defines_only_the_api():
    a = os.path.join(libdir(), "libcrrmon-client.a")
    r = subprocess.run(["nm", "-g", "--defined-only", a], capture_output=True, text=True, check=True)
    names = sorted(line.split()[-1] for line in r.stdout.splitlines() if len(line.split()) == 3)
    assert names == API, names
    # every internal name is resolved inside the archive: what stays undefined
    # is the dependencies' (zmq, protobuf-c, lmdb, libc...), never crr_*
    r = subprocess.run(["nm", "-u", a], capture_output=True, text=True, check=True)
    internal = sorted({line.split()[-1] for line in r.stdout.splitlines()
                       if line.split() and line.split()[-1].startswith("crr_")})
    assert internal == [], internal


# A borough program that happens to use names the library uses inside.
_OWN_NAMES = r"""
#include <crrmon/client.h>

#include <stdio.h>
#include <string.h>

int crr_log_level = 42;
const char *crr_strerror(int e) { return e ? "mine" : "mine too"; }
void crr_log_write(int level, const char *fmt, ...) { (void)fmt; crr_log_level = level; }
int crr_spool_open(void) { return 7; }

int main(int argc, char **argv)
{
    char err[256];
    crr_client_t *c = crr_client_new(argv[1], "tcp://127.0.0.1:9", "own-names", err, sizeof err);
    if (!c || argc < 2) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int rc = crr_client_set(c, "collector.log_level", "debug");
    crr_client_destroy(&c);
    printf("%d %s %d %d %s\n", rc, crr_strerror(1), crr_spool_open(), crr_log_level,
           crr_client_strerror(CRR_CLIENT_EFULL));
    return 0;
}
"""


def test_static_link_beside_own_internal_names():
    src = os.path.join(crrtest.tmpdir(), "own_names.c")
    with open(src, "w") as f:
        f.write(_OWN_NAMES)
    exe = build_example(static=True, src=src)
    r = subprocess.run([exe, os.path.join(crrtest.tmpdir(), "spool")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    # the program's names stay its own; the library's log level is the library's
    assert r.stdout == "0 mine 7 42 spool full: flush, then send again\n", r.stdout


def test_set_takes_the_send_keys_and_names_the_rest():
    """Every key crrmon-collector --help lists, set to its collector default:
    the send keys are taken, every other one is refused naming the key."""
    exe = build_example()
    accepted = []
    for _flag, _typ, default, _lo, _hi, section, key in options("crrmon-collector"):
        name = f"{section}.{key}"
        value = "" if default == "none" else default
        spool = os.path.join(crrtest.tmpdir(), "spool")
        env = dict(os.environ, LD_LIBRARY_PATH=libdir())
        r = subprocess.run([exe, spool, "tcp://127.0.0.1:9", "walk", f"{name}={value}", "security.insecure=true"],
                           input="", capture_output=True, text=True, env=env, timeout=60)
        if r.returncode == 0:
            assert r.stdout.strip() == "sent 0 rejected 0", (name, r.stdout)
            accepted.append(name)
        else:
            assert r.returncode == 1, (name, r.returncode, r.stderr)
            want = f"{name}: a crrmon-collector key that does not apply to libcrrmon-client"
            assert want in r.stderr, (name, r.stderr)
    assert sorted(accepted) == SEND_KEYS, accepted
    # a key neither has is unknown, by name
    r = run_example(exe, os.path.join(crrtest.tmpdir(), "spool"), "tcp://127.0.0.1:9", "walk", "",
                    "sender.windwo=4", code=1)
    assert "sender.windwo: unknown key" in r.stderr, r.stderr
    # a value out of the collector's range is refused as the collector refuses it
    r = run_example(exe, os.path.join(crrtest.tmpdir(), "spool"), "tcp://127.0.0.1:9", "walk", "",
                    "sender.window=5000", code=1)
    assert "sender.window" in r.stderr and "4096" in r.stderr, r.stderr


def test_example_against_installed_library_exactly_once():
    agg = Aggregator().start()
    exe = build_example()
    work = crrtest.tmpdir()
    spool = os.path.join(work, "spool")
    text = "".join(event(i) for i in range(300))
    r = run_example(exe, spool, agg.ingest, "lib1", text, "security.insecure=true", "sender.window=4")
    assert r.stdout.strip() == "sent 300 rejected 0", r.stdout
    t = agg.totals("lib1")
    assert t["applied"] == 300 and t["appliedSeq"] == 300, t
    # the same folder again with nothing new: nothing is sent twice
    r = run_example(exe, spool, agg.ingest, "lib1", "", "security.insecure=true")
    assert r.stdout.strip() == "sent 0 rejected 0"
    # an invalid line is refused at the edge, the rest are sent
    r = run_example(exe, spool, agg.ingest, "lib1", event(1) + "{nope\n" + event(2),
                    "security.insecure=true", code=2)
    assert r.stdout.strip() == "sent 2 rejected 1", r.stdout
    t = agg.totals("lib1")
    assert t["applied"] == 302 and t["appliedSeq"] == 302, t
    # an unknown key is refused by crr_client_set
    r = run_example(exe, spool, agg.ingest, "lib1", "", "sender.nonsense=1", code=1)
    assert "configuration error" in r.stderr, r.stderr


def test_static_example_lock_and_leftovers_delivered():
    agg = Aggregator()  # not started yet
    exe = build_example(static=True)
    work = crrtest.tmpdir()
    spool = os.path.join(work, "spool")
    text = "".join(event(i) for i in range(50))
    env = dict(os.environ)
    env.update(ENV)
    # nobody listens: flush(60s) would wait; a short give-up comes from the example's own
    # timeout, so run it with the aggregator down and kill it once everything is spooled
    p = subprocess.Popen([exe, spool, agg.ingest, "lib2", "security.insecure=true"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdin.write(text.encode())
    p.stdin.close()
    spool_data = os.path.join(spool, "spool", "data.mdb")
    crrtest.wait_until(lambda: os.path.exists(spool_data), what="spool written")
    try:
        crrtest.wait_until(lambda: _spooled(spool) == 50, what="50 events spooled")
        # a second program on the same spool folder is refused while the first holds it
        r = run_example(exe, spool, agg.ingest, "lib2", "", "security.insecure=true", code=1)
        assert "in use by another process (pid %d)" % p.pid in r.stderr, r.stderr
    finally:
        p.kill()
        p.wait()
    agg.start()
    r = run_example(exe, spool, agg.ingest, "lib2", "", "security.insecure=true")
    assert r.stdout.strip() == "sent 0 rejected 0", r.stdout
    t = agg.totals("lib2")
    assert t["applied"] == 50 and t["appliedSeq"] == 50, t


def _spooled(spool):
    r = subprocess.run(["mdb_stat", "-s", "events", os.path.join(spool, "spool")], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if "Entries:" in line:
            return int(line.split()[-1])
    return -1


def test_secure_through_set_and_typed_call():
    # a CURVE aggregator (as test_security's) admitting one key bound to Lambeth
    kdir = crrtest.tmpdir("crrkeys-")
    clients = os.path.join(kdir, "clients")
    os.mkdir(clients)
    crm = crrtest.binary("crrmon")
    for name, extra in (("server", []), ("lambeth", ["--borough", "E09000022"])):
        crrtest.run([crm, "keygen", os.path.join(kdir, name), *extra], env=ENV, check=0)
    shutil.copy(os.path.join(kdir, "lambeth"), os.path.join(clients, "lambeth"))
    agg = Aggregator()
    agg.args = ["--security.server_cert=" + os.path.join(kdir, "server_secret"), "--security.clients_dir=" + clients]
    agg.insecure = False
    agg.start()
    exe = build_example()
    work = crrtest.tmpdir()
    text = "".join(event(i, borough=22) for i in range(40))
    secure = ["security.client_cert=" + os.path.join(kdir, "lambeth_secret"),
              "security.server_key=" + os.path.join(kdir, "server")]
    r = run_example(exe, os.path.join(work, "s1"), agg.ingest, "lib-sec", text, *secure)
    assert r.stdout.strip() == "sent 40 rejected 0", r.stdout
    assert agg.totals("lib-sec")["applied"] == 40
    # without keys and without insecure: refused before anything is sent
    r = run_example(exe, os.path.join(work, "s2"), agg.ingest, "lib-none", text, code=1)
    assert "configuration error" in r.stderr, r.stderr
    # the typed call, secure as well
    env = dict(os.environ)
    env.update(ENV)
    typed = os.path.join(os.environ["CRR_BIN_DIR"], "client_typed")
    r = subprocess.run([typed, os.path.join(work, "s3"), agg.ingest, "lib-typed", "E09000022", "25", *secure],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert agg.totals("lib-typed")["applied"] == 25


if __name__ == "__main__":
    crrtest.main()
