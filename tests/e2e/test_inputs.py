"""test_inputs: the collector's input side against the real aggregator.

  - one edge rule: a line " \\r " is blank and a byte-order mark on line 1 is
    skipped, the same in crrmon-collector and `crrmon send`;
  - file identity (device, inode, fingerprint of the first bytes): a file
    rewritten under the same name is read from the start, an appended one
    resumes, whatever way it was rewritten;
  - stdin ends: spool, wait for every Ack, exit like for files;
  - a half-written last line stays unread until complete;
  - a directory among the inputs is a reject, the other inputs are read;
  - a lost spool is refused (exit 78) instead of re-reading named files.

Counts are the aggregator's `applied` (crrmon status --json); events carry no
record_id on purpose, so a file read twice would count twice.
"""
import json
import os
import shutil
import threading

import crrtest
from test_collector import ENV, Aggregator, collector


def event(i, borough=1):
    return json.dumps({"borough": "E09000%03d" % borough,
                       "occurredAt": "2026-02-%02dT10:%02d:00Z" % (i % 28 + 1, i % 60),
                       "racistIncident": {"count": 1, "recordedAsCrime": i % 2 == 0}}) + "\n"


def write(path, n, start=0, borough=1, mode="w"):
    with open(path, mode) as f:
        for i in range(start, start + n):
            f.write(event(i, borough))
    return path


def run_collector(agg, cdir, sid, *args, code=0):
    c = collector(cdir, agg.ingest, sid, "--give-up-after", "60s", *args)
    rc = c.wait(60)
    assert rc == code, (rc, c.stderr())
    return c.stderr()


def applied(agg, sid):
    """Events applied for sid over all its epochs (a new spool is a new epoch)."""
    r = crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", agg.dir, "--json"], env=ENV, check=0)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    return sum(int(row.get("applied", 0)) for row in rows if row.get("sourceId") == sid)


# ------------------------------------------------------------------ the edge

def test_blank_cr_and_bom_same_in_collector_and_send():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    path = os.path.join(work, "in.jsonl")
    with open(path, "wb") as f:
        f.write(b"\xef\xbb\xbf" + event(1).encode())
        f.write(b" \r \n")
        f.write(b"\r\n")
        f.write(event(2).encode().replace(b"\n", b"\r\n"))
    err = run_collector(agg, os.path.join(work, "c"), "edge-c", path)
    assert applied(agg, "edge-c") == 2, err
    r = crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", agg.ingest, "--source-id", "edge-s",
                     path], env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 accepted" in r.stdout, r.stdout
    assert applied(agg, "edge-s") == 2


# ------------------------------------------------------------------ file identity

def _first_run(agg, work, sid, n=10):
    """A file of n events read once by a fresh collector; returns (path, data dir)."""
    path = write(os.path.join(work, sid + ".jsonl"), n)
    cdir = os.path.join(work, sid)
    run_collector(agg, cdir, sid, path)
    assert applied(agg, sid) == n
    return path, cdir


def _replace_by_rename(path, n, start):
    tmp = path + ".tmp"
    write(tmp, n, start=start)
    os.replace(tmp, path)


def test_file_rewritten_under_same_name_is_read_from_start():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    cases = [
        # (source id, rewrite, events expected after the second run)
        ("longer-inplace", lambda p: write(p, 15, start=100), 25),
        ("longer-renamed", lambda p: _replace_by_rename(p, 15, 100), 25),
        ("shorter", lambda p: write(p, 5, start=100), 15),
        ("same-length", lambda p: write(p, 10, start=100), 20),
        ("same-length-renamed", lambda p: _replace_by_rename(p, 10, 100), 20),
        ("truncated", lambda p: (os.truncate(p, 0), write(p, 3, start=100, mode="a")), 13),
    ]
    for sid, rewrite, want in cases:
        path, cdir = _first_run(agg, work, sid)
        before = os.path.getsize(path)
        rewrite(path)
        if sid.startswith("same-length"):
            assert os.path.getsize(path) == before
        err = run_collector(agg, cdir, sid, path)
        assert f"{path} was replaced: reading it from the start" in err, (sid, err)
        assert applied(agg, sid) == want, (sid, applied(agg, sid), err)
        # and a third run reads nothing again
        err = run_collector(agg, cdir, sid, path)
        assert "was replaced" not in err and applied(agg, sid) == want, (sid, err)


def test_file_appended_or_renamed_back_resumes():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    path, cdir = _first_run(agg, work, "appended")
    write(path, 5, start=100, mode="a")
    err = run_collector(agg, cdir, "appended", path)
    assert "resuming after line 10" in err and "was replaced" not in err, err
    assert applied(agg, "appended") == 15

    path, cdir = _first_run(agg, work, "renamed")
    os.rename(path, path + ".away")
    err = run_collector(agg, cdir, "renamed", path, code=2)  # missing: a reject naming it
    assert f"{path}: cannot open input" in err, err
    os.rename(path + ".away", path)
    err = run_collector(agg, cdir, "renamed", path)
    assert "resuming after line 10" in err and "was replaced" not in err, err
    assert applied(agg, "renamed") == 10

    # past the fingerprint's 4 KiB: a file that only grew still resumes
    path = write(os.path.join(work, "big.jsonl"), 100)
    assert os.path.getsize(path) > 4096
    cdir = os.path.join(work, "big")
    run_collector(agg, cdir, "big", path)
    write(path, 7, start=300, mode="a")
    err = run_collector(agg, cdir, "big", path)
    assert "resuming after line 100" in err, err
    assert applied(agg, "big") == 107


# ------------------------------------------------------------------ stdin

def _pipe(agg_ingest, cdir, sid, src, *args):
    """`cat SRC | crrmon-collector ... -`: a real pipe from a producer that exits."""
    cmd = (f"cat '{src}' | '{crrtest.binary('crrmon-collector')}' --data-dir '{cdir}' "
           f"--aggregator '{agg_ingest}' --source-id '{sid}' --insecure " + " ".join(args) + " -")
    return crrtest.run(["/bin/sh", "-c", cmd], env=ENV, timeout=90)


def test_stdin_ends_with_the_pipe():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    src = write(os.path.join(work, "in.jsonl"), 3000)
    r = _pipe(agg.ingest, os.path.join(work, "c1"), "pipe", src, "--give-up-after", "60s")
    assert r.returncode == 0, r.stderr
    assert "end of input" in r.stderr and "done: 3000 event(s)" in r.stderr, r.stderr
    assert applied(agg, "pipe") == 3000

    # a bad line: the rest is sent, exit 2 as for files
    with open(src, "a") as f:
        f.write('{"borough": "E09000001", "racistIncident": {"count": 1}}\n')
        f.write(event(5000))
    r = _pipe(agg.ingest, os.path.join(work, "c2"), "pipe-bad", src, "--give-up-after", "60s")
    assert r.returncode == 2, r.stderr
    assert "-:3001: occurred_at:" in r.stderr, r.stderr
    assert applied(agg, "pipe-bad") == 3001

    # nobody acknowledges: --give-up-after ends it with 1, the spool keeps the events
    r = _pipe(f"tcp://127.0.0.1:{crrtest.free_port()}", os.path.join(work, "c3"), "pipe-down", src,
              "--give-up-after", "1s")
    assert r.returncode == 1 and "giving up" in r.stderr, r.stderr


def test_stdin_idle_producer_lines_in_buffer_are_read():
    # the producer wrote everything and stays open: lines the reader buffered
    # while the spool was full are read once Acks free room, with no new input
    agg = Aggregator()
    work = crrtest.tmpdir()
    data = open(write(os.path.join(work, "in.jsonl"), 3000), "rb").read()
    c = collector(os.path.join(work, "c"), agg.ingest, "idle", "--spool-size", "4k",
                  "--give-up-after", "120s", stdin="pipe")
    writer = threading.Thread(target=lambda: (c.p.stdin.write(data), c.p.stdin.flush()))
    writer.start()
    crrtest.wait_until(lambda: "spool full" in c.stderr(), timeout=30, what="spool full")
    agg.start()
    writer.join(60)
    crrtest.wait_until(lambda: applied(agg, "idle") == 3000, timeout=60, what="3000 applied")
    c.p.stdin.close()
    assert c.wait(60) == 0, c.stderr()


# ------------------------------------------------------------------ half-written last line

def test_half_written_last_line_waits_until_complete():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    path = write(os.path.join(work, "in.jsonl"), 3)
    last = event(99)
    with open(path, "a") as f:
        f.write(last[:40])  # the producer is still writing this line
    cdir = os.path.join(work, "c")
    err = run_collector(agg, cdir, "half", path)
    assert f"{path}: line 4 has no newline yet" in err, err
    assert applied(agg, "half") == 3
    with open(path, "a") as f:
        f.write(last[40:])
    err = run_collector(agg, cdir, "half", path)  # exit 0: nothing rejected
    assert "resuming after line 3" in err, err
    assert applied(agg, "half") == 4

    # finished files: --collector.final_line=accept takes a last line as it is
    path = os.path.join(work, "done.jsonl")
    with open(path, "w") as f:
        f.write(event(1) + event(2).rstrip("\n"))
    run_collector(agg, os.path.join(work, "c2"), "final", "--collector.final_line=accept", path)
    assert applied(agg, "final") == 2
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--data-dir", os.path.join(work, "c3"),
                     "--source-id", "x", "--collector.final_line=maybe", path])
    assert r.returncode != 0 and "wait or accept" in r.stderr, r.stderr

    # stdin's end is final: its last line is taken without a newline
    r = _pipe(agg.ingest, os.path.join(work, "c4"), "stdin-last", path, "--give-up-after", "60s")
    assert r.returncode == 0, r.stderr
    assert applied(agg, "stdin-last") == 2


# ------------------------------------------------------------------ unreadable inputs

def test_directory_between_files_is_a_reject():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    a = write(os.path.join(work, "a.jsonl"), 20)
    d = os.path.join(work, "adir")
    os.mkdir(d)
    b = write(os.path.join(work, "b.jsonl"), 30, start=50)
    cdir = os.path.join(work, "c")
    err = run_collector(agg, cdir, "dir", a, d, b, code=2)
    assert f"{d}: cannot open input: Is a directory" in err, err
    assert applied(agg, "dir") == 50
    r = crrtest.run(["mdb_dump", "-p", "-s", "rejects", os.path.join(cdir, "spool")], check=0)
    assert f'"file":"{d}"' in r.stdout, r.stdout
    # the next start resumes both files and reports the directory again
    err = run_collector(agg, cdir, "dir", a, d, b, code=2)
    assert applied(agg, "dir") == 50
    # a read that fails after a good open (EIO: /proc/self/mem at offset 0) is the same
    c = write(os.path.join(work, "c.jsonl"), 5, start=200)
    err = run_collector(agg, os.path.join(work, "c2"), "eio", a, "/proc/self/mem", c, code=2)
    assert "/proc/self/mem: cannot read input: Input/output error" in err, err
    assert applied(agg, "eio") == 25


def test_named_pipe_is_read_to_its_end():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    fifo = os.path.join(work, "fifo")
    os.mkfifo(fifo)
    data = "".join(event(i) for i in range(40)) + event(40).rstrip("\n")

    def produce():
        with open(fifo, "w") as f:
            f.write(data)
    for run in (1, 2):  # not resumable: nothing is remembered, each run reads what it is given
        writer = threading.Thread(target=produce)
        writer.start()
        err = run_collector(agg, os.path.join(work, "c"), "fifo", fifo)
        writer.join(30)
        assert "not a regular file" in err, err
        assert applied(agg, "fifo") == 41 * run


# ------------------------------------------------------------------ lost spool

def test_lost_spool_refused_unless_new_spool():
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    path = write(os.path.join(work, "in.jsonl"), 5000)
    other = write(os.path.join(work, "other.jsonl"), 4, start=7000)
    cdir = os.path.join(work, "c")
    run_collector(agg, cdir, "lost", path)
    assert applied(agg, "lost") == 5000
    shutil.rmtree(os.path.join(cdir, "spool"))
    # a file never read before is no reason to refuse, the one read before is
    err = run_collector(agg, cdir, "lost", other, path, code=78)
    assert "has no checkpoint for 1 file(s)" in err and f" {path}" in err, err
    assert other not in err.split("has no checkpoint")[1].split("\n")[0], err
    assert "--new-spool" in err, err
    assert applied(agg, "lost") == 5000
    # told so, it reads the file again (events without record_id count again)
    err = run_collector(agg, cdir, "lost", "--new-spool=true", path)
    assert "--new-spool: reading 1 file(s) again" in err, err
    assert applied(agg, "lost") == 10000, err
    # and the new spool knows the file from now on
    err = run_collector(agg, cdir, "lost", path)
    assert "resuming after line 5000" in err, err
    assert applied(agg, "lost") == 10000


# ------------------------------------------------------------------ crash inside a spool commit

def test_crash_inside_each_spool_commit_exact_totals():
    # a crash inside the n-th spool commit, for every n over a file: the
    # checkpoint must be in the same transaction as its events, or a restart
    # reads those lines again (events carry no record_id: they would count twice)
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    n_events = 300
    path = write(os.path.join(work, "in.jsonl"), n_events)
    small = ("--collector.group_lines=40", "--sender.batch_events=25")
    crashed = 0
    for n in range(1, 30):
        sid, cdir = f"commit-{n}", os.path.join(work, f"c{n}")
        env = dict(ENV, CRR_CRASHPOINT=f"spool_commit:{n}")
        c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", cdir, "--aggregator", agg.ingest,
                          "--source-id", sid, "--give-up-after", "60s", *small, path], env=env, name=sid)
        rc = c.wait(60)
        if rc == 0:
            break  # fewer commits than n: the sweep is complete
        assert rc == 86, (n, rc, c.stderr())
        crashed += 1
        run_collector(agg, cdir, sid, *small, path)
        assert applied(agg, sid) == n_events, (n, applied(agg, sid))
    assert crashed >= 8, crashed


if __name__ == "__main__":
    crrtest.main()
