"""test_faults: ordinary operational faults are told to the operator, never
hidden and never a crash.

  - damaged LMDB files (store, spool): data.mdb truncated to 0 bytes or to
    half; the aggregator and the collector refuse to start with exit 78 and a
    message naming the file and the sizes; `crrmon query`, `status` and
    `rejects` exit 1 with a message (no SIGBUS); `crrmon verify` reports the
    problem (exit 1) and, on healthy folders, the entries of every database
    (exit 0); `--aggregator.start_empty` starts on an empty store file.
  - snapshots committed but never exported (a crash between the commit and
    the file write, crash point agg_snapshot_after_commit): the next start
    writes the missing file and removes the stale temporary file.
  - a full disk (tmpfs in a private mount namespace) under both daemons: they
    keep running, say "No space left on device", and once space is freed every
    event is applied exactly once.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}
BOROUGH = "E09000022"
BAD_DATA_EXIT = 78


def crrmon(*args, check=None, env=None):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=env or ENV, check=check)


def start_aggregator(data_dir, extra=(), env=None, ingest="tcp://127.0.0.1:*", wait=True):
    """crrtest.start_aggregator with this file's clock; returns (handle, endpoints)."""
    agg = crrtest.start_aggregator(data_dir, ingest=ingest, args=extra, env=env or ENV, wait=wait)
    return agg, agg.ep


def collector_args(data_dir, ingest, *paths, extra=()):
    return [crrtest.binary("crrmon-collector"), "--data-dir", data_dir, "--aggregator", ingest,
            "--source-id", "faults-test", "--give-up-after", "120s", *extra, *paths]


def generate(count, seed=5):
    """count stop_search events in BOROUGH (JSON Lines text) and their total count."""
    r = crrmon("generate", "--seed", seed, "--borough", BOROUGH, "--count", count, "--types",
               "stop_search", "--end", NOW, "--days", 30, check=0)
    total = sum(json.loads(l)["stopSearch"].get("count") or 1 for l in r.stdout.splitlines())
    return r.stdout, total


def query_total(agg_dir):
    r = crrmon("query", "--data-dir", agg_dir, "--json", "--window", "90d", "--borough", BOROUGH,
               "--indicator", "stop_search.count", check=0)
    rows = [json.loads(l) for l in r.stdout.splitlines()]
    return sum(r["value"] for r in rows if not r.get("dims"))


# ------------------------------------------------------------------ damaged LMDB files

_healthy = None


def healthy_folders():
    """An aggregator and a collector folder after a small run (one rejected line), built once."""
    global _healthy
    if _healthy is None:
        d = crrtest.tmpdir("crr-faults-")
        agg_dir, coll_dir = os.path.join(d, "agg"), os.path.join(d, "coll")
        text, _ = generate(3000)
        path = os.path.join(d, "in.jsonl")
        with open(path, "w") as f:
            f.write(text + "{not json\n")
        agg, ep = start_aggregator(agg_dir)
        coll = crrtest.Proc(collector_args(coll_dir, ep["ingest"], path), env=ENV, name="collector")
        assert coll.wait(timeout=120) == 2, coll.stderr()[-3000:]  # 2: one line rejected
        assert agg.term() == 0
        _healthy = (agg_dir, coll_dir)
    return _healthy


def damaged_copy(which, size):
    """A copy of the healthy folders with <which>/data.mdb cut to size ('half' or 0)."""
    agg_src, coll_src = healthy_folders()
    d = crrtest.tmpdir("crr-damaged-")
    agg_dir, coll_dir = os.path.join(d, "agg"), os.path.join(d, "coll")
    shutil.copytree(agg_src, agg_dir)
    shutil.copytree(coll_src, coll_dir)
    path = os.path.join(agg_dir, "store", "data.mdb") if which == "store" else \
        os.path.join(coll_dir, "spool", "data.mdb")
    # half of what LMDB uses (the file may be longer: the spool allocates
    # ahead, and a cut inside that room is no damage)
    r = crrmon("verify", "--data-dir", agg_dir if which == "store" else coll_dir, check=0)
    m = re.search(r"data\.mdb \d+ bytes, LMDB needs (\d+)", r.stdout)
    assert m, r.stdout
    os.truncate(path, int(m.group(1)) // 2 if size == "half" else 0)
    return agg_dir, coll_dir, path


def assert_clear_failure(r, *words):
    """Exited 78 (a refused data folder: docs/OPERATIONS.md "Exit codes"; not
    killed by a signal) and said why."""
    assert r.returncode == 78, (r.returncode, r.stderr[-2000:])
    for w in words:
        assert w in r.stderr, (w, r.stderr[-2000:])


def test_verify_healthy_folders():
    agg_dir, coll_dir = healthy_folders()
    r = crrmon("verify", "--data-dir", agg_dir, check=0)
    for db in ("agg", "sources", "meta", "rejects"):
        assert any(l.split(": ")[1].split()[0] == db for l in r.stdout.splitlines() if l.count(": ") >= 1
                   and "entries" in l), (db, r.stdout)
    assert f"{agg_dir}/store: ok" in r.stdout, r.stdout
    r = crrmon("verify", "--data-dir", coll_dir, check=0)
    assert f"{coll_dir}/spool: ok" in r.stdout, r.stdout
    rejects_line = [l for l in r.stdout.splitlines() if l.startswith(f"{coll_dir}/spool: rejects ")]
    assert rejects_line and " 1 entries" in rejects_line[0], r.stdout
    r = crrmon("verify", "--data-dir", crrtest.tmpdir(), check=1)
    assert "holds no LMDB file" in r.stderr
    assert crrmon("verify").returncode == 64


def test_truncated_store():
    for size in ("half", 0):
        agg_dir, _, path = damaged_copy("store", size)
        cut = os.path.getsize(path)
        word = "is empty" if size == 0 else "truncated"
        p, _ = start_aggregator(agg_dir, wait=False)
        assert p.wait(timeout=30) == BAD_DATA_EXIT, (size, p.returncode, p.stderr()[-2000:])
        assert path in p.stderr() and word in p.stderr(), p.stderr()[-2000:]
        for cmd in (["query", "--data-dir", agg_dir], ["status", "--data-dir", agg_dir],
                    ["rejects", "--data-dir", agg_dir]):
            assert_clear_failure(crrmon(*cmd), path, word)
        r = crrmon("verify", "--data-dir", agg_dir)
        assert r.returncode == 1 and "PROBLEM" in r.stdout and word in r.stderr, (r.stdout, r.stderr)
        assert os.path.getsize(path) == cut  # refused, not "repaired" into an empty store


def test_start_empty_is_explicit():
    agg_dir, _, path = damaged_copy("store", 0)
    agg, ep = start_aggregator(agg_dir, extra=["--aggregator.start_empty=true"])
    assert "is empty (0 bytes): starting with an empty environment as told" in agg.stderr()
    assert agg.term() == 0
    r = crrmon("status", "--data-dir", agg_dir, "--json", check=0)
    assert r.stdout.strip() == "", r.stdout
    assert crrmon("verify", "--data-dir", agg_dir).returncode == 0


def test_truncated_spool():
    for size in ("half", 0):
        _, coll_dir, path = damaged_copy("spool", size)
        word = "is empty" if size == 0 else "truncated"
        p = crrtest.Proc(collector_args(coll_dir, "tcp://127.0.0.1:9"), env=ENV, name="collector")
        assert p.wait(timeout=30) == BAD_DATA_EXIT, (size, p.p.returncode, p.stderr()[-2000:])
        assert path in p.stderr() and word in p.stderr(), p.stderr()[-2000:]
        assert_clear_failure(crrmon("rejects", "--data-dir", coll_dir), path, word)
        r = crrmon("verify", "--data-dir", coll_dir)
        assert r.returncode == 1 and "PROBLEM" in r.stdout, (r.stdout, r.stderr)


# ------------------------------------------------------------------ snapshots never exported

def snapshot_files(snap_dir):
    return sorted(f for f in os.listdir(snap_dir) if f.endswith(".jsonl"))


def test_snapshot_committed_but_not_exported():
    d = crrtest.tmpdir("crr-snapx-")
    agg_dir = os.path.join(d, "agg")
    snap_dir = os.path.join(agg_dir, "snapshots")
    text, total = generate(500)
    path = os.path.join(d, "in.jsonl")
    with open(path, "w") as f:
        f.write(text)
    env = dict(ENV, CRR_CRASHPOINT="agg_snapshot_after_commit:1")
    agg, ep = start_aggregator(agg_dir, extra=["--aggregator.schedules="], env=env)
    crrmon("send", "--aggregator", ep["ingest"], path, check=0)
    r = crrmon("snapshot", "--http", ep["http"], "--timeout", "10s")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)  # the aggregator died answering
    assert agg.wait(timeout=30) == 86, agg.stderr()[-2000:]
    assert "crash point agg_snapshot_after_commit reached" in agg.stderr()
    # committed: the delivery thread may have written it in the moment before the crash
    # (as before a real one), or not; either way it is there once after the restart
    before = snapshot_files(snap_dir)
    assert len(before) <= 1, os.listdir(snap_dir)
    stale = os.path.join(snap_dir, "20260101T000000Z-000009.jsonl.tmp")
    with open(stale, "w") as f:
        f.write('{"id":"half a file')
    agg2, ep2 = start_aggregator(agg_dir, extra=["--aggregator.schedules="])
    # the delivery was queued in the snapshot's own transaction: the delivery thread writes it
    files = crrtest.wait_until(lambda: snapshot_files(snap_dir), timeout=30, what="the snapshot's file")
    assert len(files) == 1 and (not before or files == before), (before, os.listdir(snap_dir))
    assert not os.path.exists(stale), os.listdir(snap_dir)
    err = crrtest.wait_until(lambda: "removed stale temporary file" in agg2.stderr() and agg2.stderr(),
                             timeout=30, what="the stale file's removal in the log")
    if not before:
        err = crrtest.wait_until(lambda: "delivered" in agg2.stderr() and agg2.stderr(), timeout=30,
                                 what="the delivery in the log")
    with open(os.path.join(snap_dir, files[0])) as f:
        lines = [json.loads(l) for l in f]
    if not before:
        assert "sink jsonl: snapshot id=%s delivered" % lines[0]["id"] in err, err
    assert crrtest.snapshot_file(lines[0], "jsonl") == files[0], lines[0]
    got = [l["value"] for l in lines[1:] if l.get("indicator") == "stop_search.count" and
           l.get("borough") == BOROUGH and l.get("windowDays") == 90 and not l.get("dims")]
    assert got == [total], (got, total)
    assert agg2.term() == 0
    # delivered now: a start neither rewrites it nor brings back a file the operator removed
    os.unlink(os.path.join(snap_dir, files[0]))
    agg3, _ = start_aggregator(agg_dir, extra=["--aggregator.schedules="])
    assert agg3.term() == 0
    assert "delivered" not in agg3.stderr() and "queued at start" not in agg3.stderr(), agg3.stderr()[-2000:]
    assert snapshot_files(snap_dir) == [], os.listdir(snap_dir)


# ------------------------------------------------------------------ a full disk

DISK_COUNT = 30000
TMPFS_SIZE = "24m"
INSIDE_FLAG = "--inside-a-private-mount-namespace"


def fill(mnt):
    """Writes mnt/filler until the file system is full; returns its path."""
    path = os.path.join(mnt, "filler")
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as e:
            assert e.errno == 28, e  # ENOSPC
        try:  # the last pages too
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    return path


def free_bytes(mnt):
    st = os.statvfs(mnt)
    return st.f_bavail * st.f_frsize


def disk_full_scenario():
    """Runs inside a private mount namespace (see test_disk_full): both data folders on a
    small tmpfs that fills up while events flow, then space is freed."""
    mnt = crrtest.tmpdir("crr-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "crrtest", mnt], check=True)
    agg_dir, coll_dir = os.path.join(mnt, "agg"), os.path.join(mnt, "coll")
    text, total = generate(DISK_COUNT, seed=11)
    src = crrtest.tmpdir("crr-diskfull-in-")  # the input is not on the small file system
    path = os.path.join(src, "in.jsonl")
    with open(path, "w") as f:
        f.write(text)
    # LMDB grows its file page by page (no preallocation): a 4 GiB map on a 24 MiB file
    # system meets ENOSPC (or a short write, EIO) long before MDB_MAP_FULL.
    agg, ep = start_aggregator(agg_dir)
    os.makedirs(coll_dir)
    filler = fill(mnt)
    os.truncate(filler, max(0, os.path.getsize(filler) - 1024 * 1024))  # 1 MiB left for both
    coll = crrtest.Proc(collector_args(coll_dir, ep["ingest"], path,
                                       extra=["--give-up-after", "0", "--sender.resend_timeout=1s"]),
                        env=ENV, name="collector")
    crrtest.wait_until(lambda: "stopped reading" in coll.stderr() or not coll.alive(), timeout=60,
                       what="the collector to find its disk full")
    assert coll.alive(), coll.stderr()[-3000:]
    # the store needs about 100 bytes per event: 30,000 cannot fit in what is left
    crrtest.wait_until(lambda: "apply failed" in agg.stderr() or not agg.alive(), timeout=60,
                       what="the aggregator to find its disk full")
    # full: both daemons are up and say why
    for p, name in ((coll, "collector"), (agg, "aggregator")):
        assert p.alive(), f"{name} exited {p.p.returncode}:\n{p.stderr()[-3000:]}"
        err = p.stderr()
        assert "No space left on device" in err or "Input/output error" in err, err[-3000:]
        assert "unknown error" not in err, err[-3000:]
    assert free_bytes(mnt) < 256 * 1024, free_bytes(mnt)
    # a snapshot asked for now: either it cannot be stored and the answer says
    # why, or LMDB still had free pages for it and its file cannot be written:
    # then the answer names no file and the log says it is retried (the delivery
    # thread's backoff; which of the two depends on the pages free at that moment)
    r = crrmon("snapshot", "--http", ep["http"], "--timeout", "30s")
    if r.returncode == 0:
        assert "\nfile \n" in r.stdout, (r.stdout, r.stderr)
        crrtest.wait_until(lambda: "not written (attempt 1)" in agg.stderr(),
                           timeout=30, what="the sink's failure in the log")
    else:
        assert r.returncode == 1 and ("No space left on device" in r.stderr
                                      or "Input/output error" in r.stderr), \
            (r.returncode, r.stdout, r.stderr)
    # an aggregator restarted on the full disk either starts (and serves the
    # same endpoint) or, when not one page is left for its endpoints.json,
    # exits 1 saying so; once space is freed it starts (which of the two
    # depends on the bytes free at that moment, taken by the collector too)
    assert agg.term() == 0
    agg, _ = start_aggregator(agg_dir, ingest=ep["ingest"], wait=False)
    agg.wait_ready(or_exit=True)  # the restarted aggregator serves or refuses
    assert free_bytes(mnt) < 256 * 1024, free_bytes(mnt)
    os.unlink(filler)
    if not agg.alive():
        assert agg.returncode == 1 and "No space left on device" in agg.stderr(), \
            (agg.returncode, agg.stderr()[-3000:])
        agg, _ = start_aggregator(agg_dir, ingest=ep["ingest"])
    assert coll.wait(timeout=180) == 0, coll.stderr()[-3000:]
    assert "spool writes succeed again" in coll.stderr(), coll.stderr()[-3000:]
    got = query_total(agg_dir)
    assert got == total, (got, total)
    st = [json.loads(l) for l in crrmon("status", "--data-dir", agg_dir, "--json", check=0).stdout.splitlines()]
    assert len(st) == 1 and st[0]["appliedSeq"] == str(DISK_COUNT) and st[0]["applied"] == str(DISK_COUNT), st
    assert agg.term() == 0
    assert crrmon("verify", "--data-dir", agg_dir).returncode == 0
    assert crrmon("verify", "--data-dir", coll_dir).returncode == 0
    print(f"disk full: collector and aggregator paused and resumed; {DISK_COUNT} events applied once", flush=True)


def collector_csv_first_group_disk_full_scenario():
    """A CSV file whose very first group finds the collector's disk full: the pause puts the file
    back at its start, where its header is read again as the header (not as a record); once space
    is freed every record arrives and the run ends without a reject."""
    mnt = crrtest.tmpdir("crr-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "crrtest", mnt], check=True)
    coll_dir = os.path.join(mnt, "coll")
    agg, ep = start_aggregator(os.path.join(crrtest.tmpdir("crr-diskfull-agg-"), "agg"))
    src = crrtest.tmpdir("crr-diskfull-in-")
    empty = os.path.join(src, "empty.jsonl")
    open(empty, "w").close()
    first = crrtest.Proc(collector_args(coll_dir, ep["ingest"], empty), env=ENV, name="collector-0")
    assert first.wait(60) == 0, first.stderr()[-2000:]  # the spool exists, nearly empty
    path = os.path.join(src, "racist_incident.csv")
    with open(path, "w") as f:  # records of ~250 bytes
        f.write("borough,occurred_at,count,record_id\n")
        f.writelines("%s,2026-02-%02dT10:00:00Z,1,%0200d\n" % (BOROUGH, i % 28 + 1, i)
                     for i in range(5000))
    filler = fill(mnt)
    # one group for the whole file (1.3 MB): its commit cannot fit in pages the spool already has
    coll = crrtest.Proc(collector_args(coll_dir, ep["ingest"], path,
                                       extra=["--give-up-after", "0", "--collector.group_lines=100000",
                                              "--collector.group_time=10s"]),
                        env=ENV, name="collector")
    crrtest.wait_until(lambda: "stopped reading" in coll.stderr() or not coll.alive(), timeout=60,
                       what="the collector to find its disk full")
    assert coll.alive(), coll.stderr()[-3000:]
    os.unlink(filler)
    assert coll.wait(timeout=120) == 0, coll.stderr()[-3000:]  # 0: not one line rejected
    st = [json.loads(l) for l in crrmon("status", "--data-dir", agg.dir, "--json", check=0).stdout.splitlines()]
    assert len(st) == 1 and st[0]["applied"] == "5000" and st[0]["rejected"] == "0", st
    assert agg.term() == 0
    print("csv first group on a full disk: header read again as the header", flush=True)


def collector_disk_full_csv_scenario():
    """The same with a CSV input whose records span lines (a quoted record_id with a line break):
    a group dropped on the full disk puts the file back at a record's first line, never inside one."""
    collector_disk_full_scenario(csv_input=True)


def collector_disk_full_scenario(csv_input=False):
    """Only the collector's disk is full, and stays full: with the aggregator stopped (SIGSTOP) the
    spool grows until ENOSPC; the collector pauses, is killed, restarts on the full disk and pauses
    again (no exit 1); once the aggregator runs again, the spooled events go out first, their Acks
    free pages inside the spool file, and reading finishes there, with exact totals."""
    mnt = crrtest.tmpdir("crr-tmpfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "crrtest", mnt], check=True)
    coll_dir = os.path.join(mnt, "coll")
    agg_dir = os.path.join(crrtest.tmpdir("crr-diskfull-agg-"), "agg")
    text, total = generate(DISK_COUNT, seed=12)
    path = os.path.join(crrtest.tmpdir("crr-diskfull-in-"), "in.jsonl")
    with open(path, "w") as f:
        f.write(text)
    if csv_input:
        from test_csv_inputs import to_rows, write_csv
        events = [json.loads(line) for line in text.splitlines()]
        for e in events:
            e["recordId"] = e["recordId"] + "\nline two"
        path = write_csv(path[:-len(".jsonl")] + ".csv", to_rows(events))
    agg, ep = start_aggregator(agg_dir)
    os.makedirs(coll_dir)
    filler = fill(mnt)
    os.truncate(filler, max(0, os.path.getsize(filler) - 1024 * 1024))
    agg.sigstop()
    extra = ["--give-up-after", "0", "--sender.resend_timeout=1s"]
    if csv_input:
        extra.append("--collector.group_lines=999")  # odd: groups end inside a two-line record
    args = collector_args(coll_dir, ep["ingest"], path, extra=extra)
    coll = crrtest.Proc(args, env=ENV, name="collector")
    crrtest.wait_until(lambda: "stopped reading" in coll.stderr() or not coll.alive(), timeout=60,
                       what="the collector to find its disk full")
    assert coll.alive(), coll.stderr()[-3000:]
    coll.kill9()
    coll2 = crrtest.Proc(args, env=ENV, name="collector-restarted")
    crrtest.wait_until(lambda: "stopped reading" in coll2.stderr() or not coll2.alive(), timeout=60,
                       what="the restarted collector to find its disk full")
    assert coll2.alive(), coll2.stderr()[-3000:]
    assert "No space left on device" in coll2.stderr() or "Input/output error" in coll2.stderr()
    agg.sigcont()
    assert coll2.wait(timeout=180) == 0, coll2.stderr()[-3000:]
    assert os.path.exists(filler) and free_bytes(mnt) < 512 * 1024, free_bytes(mnt)  # never freed
    assert "unknown error" not in coll.stderr() + coll2.stderr()
    got = query_total(agg_dir)
    assert got == total, (got, total)
    st = [json.loads(l) for l in crrmon("status", "--data-dir", agg_dir, "--json", check=0).stdout.splitlines()]
    assert len(st) == 1 and st[0]["appliedSeq"] == str(DISK_COUNT) and st[0]["applied"] == str(DISK_COUNT), st
    assert agg.term() == 0
    print("collector disk full: killed, restarted on the full disk, finished on freed spool pages", flush=True)


def test_disk_full():
    """The collector and the aggregator on a tiny tmpfs that fills up, then frees space: both keep
    running, and every event is applied exactly once. The tmpfs is mounted in a private mount
    namespace (`unshare --mount`, with `--user --map-root-user` when not root), so the test runs
    anywhere user namespaces are allowed and fails loudly where they are not."""
    prefix = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        prefix = ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
    env = dict(os.environ, TMPDIR=crrtest.tmpdir("faults-ns-"))  # its folders, logs included, in ours
    r = subprocess.run([*prefix, sys.executable, os.path.abspath(__file__), INSIDE_FLAG],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0 and "4 passed, 0 failed" in r.stdout, \
        f"exit {r.returncode}\nstdout:\n{r.stdout[-6000:]}\nstderr:\n{r.stderr[-3000:]}"


if __name__ == "__main__":
    if sys.argv[1:] == [INSIDE_FLAG]:
        globals()["test_inside_disk_full"] = disk_full_scenario
        globals()["test_inside_collector_disk_full"] = collector_disk_full_scenario
        globals()["test_inside_collector_disk_full_csv"] = collector_disk_full_csv_scenario
        globals()["test_inside_csv_first_group_disk_full"] = collector_csv_first_group_disk_full_scenario
        sys.argv[1:] = ["test_inside_disk_full", "test_inside_collector_disk_full",
                        "test_inside_collector_disk_full_csv", "test_inside_csv_first_group_disk_full"]
    crrtest.main()
