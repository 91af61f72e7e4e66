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
  - the typed call (crr_client_send_event) with the caller's own Event code.
"""
import json
import os
import shutil
import subprocess

import crrtest
from test_collector import ENV, Aggregator

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


def build_example(static=False):
    out = os.path.join(crrtest.tmpdir(), "client_send")
    src = os.path.join(os.environ["CRR_SOURCE_DIR"], "examples", "client_send.c")
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
    assert names == sorted(["crr_client_new", "crr_client_set", "crr_client_send_json",
                            "crr_client_send_event", "crr_client_flush", "crr_client_destroy",
                            "crr_client_strerror"]), names


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
