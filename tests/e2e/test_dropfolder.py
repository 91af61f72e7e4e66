"""test_dropfolder: `crrmon-collector --watch DIR` against the real aggregator.

  - files renamed into the folder (.jsonl and .jsonl.gz) are read at once,
    every event arrives once, each file moves to DIR/done/;
  - bad lines and an aggregator rejection: the good records go through and
    DIR/rejected/NAME.errors.csv lists exactly the bad lines;
  - a file still being written in place is left alone (settle_time), then
    read once it has stayed unchanged;
  - an unreadable file (not gzip data under .jsonl.gz, a CSV file without the
    CSV reader) is reported and left in place; the folder goes on;
  - an empty file (plain and gzip) moves to done/ with no report;
  - kill -9 in the middle of a file (plain and gzip) and restart: exact totals
    (events carry no record_id, so a line read twice would count twice), and
    the report lists every bad line once, those read before the kill too;
  - a file is moved only once its events are acknowledged (aggregator down:
    it stays); one removed meanwhile is noted, the others go on;
  - a crash after the last Ack but before the move (crash point
    drop_before_move): after the restart the file moves, nothing counts twice;
  - a crash after the move but before the checkpoint's deletion (crash point
    drop_after_move): the restart deletes the leftover checkpoint (a named
    input's checkpoint under DIR is kept), and a new file under the name,
    even on the old inode with the same first bytes, is read whole;
  - a crash after a file's mark (`drop:KEY`, its first reject id) but before
    its first checkpoint (crash point drop_after_mark): the restart deletes
    the mark when the file has left the folder, and reads the file exactly
    once when it is still there;
  - a file written in place and kept open waits however long its writer
    pauses, and is read whole once closed;
  - a crash in the middle of a file (crash point collector_after_spool, the
    aggregator down), the file then removed by someone else (a copy on
    another inode put in done/): the restart keeps the checkpoint while its
    events are unacknowledged, they arrive once the aggregator is up, and
    the leftover goes only at the start after that;
  - a leftover whose file is in done/ (done/NAME.1, on its inode) is deleted
    at the restart although another file's events are still unacknowledged,
    and those arrive once the aggregator is back.
"""
import csv
import gzip
import os

import crrtest
from test_collector import ENV, Aggregator

CRASH_EXIT = 86


def event(i, borough=1, year=2026):
    return ('{"borough": "E09000%03d", "occurredAt": "%d-02-%02dT10:%02d:00Z", '
            '"racistIncident": {"count": 1, "recordedAsCrime": %s}}\n'
            % (borough, year, i % 28 + 1, i % 60, "true" if i % 2 else "false"))


def lines(n, start=0):
    return "".join(event(i) for i in range(start, start + n))


def drop(folder, name, text, gz=False):
    """Writes text to folder/.name.tmp, then renames it to folder/name (the safe way)."""
    tmp = os.path.join(folder, "." + name + ".tmp")
    data = text.encode()
    with open(tmp, "wb") as f:
        f.write(gzip.compress(data) if gz else data)
    os.rename(tmp, os.path.join(folder, name))


def watcher(cdir, agg, sid, folder, *args, env=None):
    e = dict(ENV)
    e.update(env or {})
    c = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", cdir, "--aggregator",
                      agg.ingest, "--source-id", sid, "--watch", folder, *args],
                     env=e, name=f"collector-{sid}")
    # files there before the watch began settle first: drop only once it watches
    crrtest.wait_until(lambda: "watching drop folder" in c.stderr() or not c.alive(), what="watching")
    return c


def listing(folder):
    """(files in folder, in done/, in rejected/), hidden temporaries left out."""
    top = sorted(n for n in os.listdir(folder) if not n.startswith(".") and n not in ("done", "rejected"))
    return (top, sorted(os.listdir(os.path.join(folder, "done"))),
            sorted(os.listdir(os.path.join(folder, "rejected"))))


def wait_done(folder, names, c, timeout=60):
    crrtest.wait_until(lambda: set(names) <= set(listing(folder)[1]) or not c.alive(), timeout=timeout,
                       what=f"{names} in done/")
    assert c.alive(), c.stderr()[-3000:]


def setup(sid):
    agg = Aggregator().start()
    work = crrtest.tmpdir()
    folder = os.path.join(work, "drop")
    os.mkdir(folder)
    return agg, work, folder, os.path.join(work, "coll")


def test_renamed_in_plain_and_gz_done_once():
    agg, work, folder, cdir = setup("dr1")
    c = watcher(cdir, agg, "dr1", folder, "--collector.settle_time=1h")
    drop(folder, "a.jsonl", lines(50))
    drop(folder, "b.jsonl.gz", lines(30, 50), gz=True)
    wait_done(folder, ["a.jsonl", "b.jsonl.gz"], c)
    t = agg.totals("dr1")
    assert t["applied"] == 80 and t["appliedSeq"] == 80, t
    assert listing(folder) == ([], ["a.jsonl", "b.jsonl.gz"], []), listing(folder)
    # the same name dropped again is a new file: read whole, kept beside the first in done/
    drop(folder, "a.jsonl", lines(5, 100))
    wait_done(folder, ["a.jsonl.1"], c)
    crrtest.wait_until(lambda: agg.totals("dr1")["applied"] == 85, what="85 applied")
    assert listing(folder) == ([], ["a.jsonl", "a.jsonl.1", "b.jsonl.gz"], []), listing(folder)
    assert c.term() == 0, c.stderr()


def test_bad_lines_and_aggregator_rejection_reported():
    agg, work, folder, cdir = setup("dr2")
    c = watcher(cdir, agg, "dr2", folder, "--collector.settle_time=1h")
    text = (event(1) + "{not json\n" + event(2) +
            '{"borough": "E09000001", "occurredAt": "2026-02-01T00:00:00Z", "racistIncident": {"count": "lots"}}\n'
            + event(3, year=2019) + event(4))
    drop(folder, "bad.jsonl", text)
    wait_done(folder, ["bad.jsonl"], c)
    t = agg.totals("dr2")
    assert t["applied"] == 3, t
    assert listing(folder) == ([], ["bad.jsonl"], ["bad.jsonl.errors.csv"]), listing(folder)
    with open(os.path.join(folder, "rejected", "bad.jsonl.errors.csv"), newline="") as f:
        rows = list(csv.reader(f))
    path = os.path.join(folder, "bad.jsonl")
    assert rows[0] == ["file", "line", "field", "value", "reason", "code"], rows
    got = sorted((r[0], r[1], r[5]) for r in rows[1:])
    assert got == [(path, "2", "malformed"), (path, "4", "malformed"), (path, "5", "too_old")], rows
    assert all(r[4] for r in rows[1:]), rows  # every row says why
    # the offending value where a field is named (line 4's count "lots"; line 5's date)
    by_line = {r[1]: r for r in rows[1:]}
    assert (by_line["4"][2], by_line["4"][3]) == ("racist_incident.count", "lots"), by_line["4"]
    assert by_line["5"][3] == "2019-02-04T10:03:00Z", by_line["5"]
    assert by_line["2"][3] == "", by_line["2"]  # not JSON: no value to name
    assert c.term() == 0, c.stderr()


def test_file_being_written_waits_then_settles():
    agg, work, folder, cdir = setup("dr3")
    c = watcher(cdir, agg, "dr3", folder, "--collector.settle_time=1h")
    # written in place, not finished (its last line is half written)
    slow = open(os.path.join(folder, "slow.jsonl"), "w")
    slow.write(lines(20) + event(20)[:15])
    slow.flush()
    # a renamed file is read at once; by the time it is done the folder was looked at
    drop(folder, "marker.jsonl", lines(1, 500))
    wait_done(folder, ["marker.jsonl"], c)
    assert agg.totals("dr3")["applied"] == 1
    assert listing(folder)[0] == ["slow.jsonl"], listing(folder)
    assert c.term() == 0, c.stderr()
    # the writer finishes; with a short settle time the unchanged file is complete
    slow.write(event(20)[15:] + lines(9, 21))
    slow.close()
    c2 = watcher(cdir, agg, "dr3", folder, "--collector.settle_time=200ms")
    wait_done(folder, ["slow.jsonl"], c2)
    t = agg.totals("dr3")
    assert t["applied"] == 31 and t["appliedSeq"] == 31, t
    assert listing(folder) == ([], ["marker.jsonl", "slow.jsonl"], []), listing(folder)
    assert c2.term() == 0, c2.stderr()


def test_written_in_place_waits_for_close():
    agg, work, folder, cdir = setup("drw")
    c = watcher(cdir, agg, "drw", folder, "--collector.settle_time=200ms")
    # written in place, half of it, and kept open: the writer pauses
    w = open(os.path.join(folder, "open.jsonl"), "w")
    w.write(lines(20))
    w.flush()
    # control files written in place and closed, one after the other: each is taken only
    # settle_time after its close, so once the third is done the open file has been
    # unchanged for at least three settle times
    for k in range(3):
        with open(os.path.join(folder, f"ctl{k}.jsonl"), "w") as f:
            f.write(lines(1, 100 + k))
        wait_done(folder, [f"ctl{k}.jsonl"], c)
        assert listing(folder)[0] == ["open.jsonl"], listing(folder)
        assert agg.totals("drw")["applied"] == k + 1, agg.totals("drw")
    # the writer finishes and closes: the whole file, once
    w.write(lines(20, 20))
    w.close()
    wait_done(folder, ["open.jsonl"], c)
    t = agg.totals("drw")
    assert t["applied"] == 43 and t["appliedSeq"] == 43, t
    assert listing(folder) == ([], ["ctl0.jsonl", "ctl1.jsonl", "ctl2.jsonl", "open.jsonl"], []), listing(folder)
    assert c.term() == 0, c.stderr()


def test_unreadable_left_in_place_and_empty_done():
    agg, work, folder, cdir = setup("dr4")
    c = watcher(cdir, agg, "dr4", folder, "--collector.settle_time=1h")
    drop(folder, "notgzip.jsonl.gz", lines(3))  # plain text under a .gz name
    drop(folder, "table.csv", "type,borough\n")  # header only: no record, done
    drop(folder, "empty.jsonl", "")
    drop(folder, "empty.jsonl.gz", "", gz=True)
    drop(folder, "z.jsonl", lines(2))
    wait_done(folder, ["empty.jsonl", "empty.jsonl.gz", "table.csv", "z.jsonl"], c)
    crrtest.wait_until(lambda: "notgzip.jsonl.gz could not be read: left in place" in c.stderr(),
                       what="gzip error")
    assert agg.totals("dr4")["applied"] == 2
    assert listing(folder) == (["notgzip.jsonl.gz"], ["empty.jsonl", "empty.jsonl.gz", "table.csv", "z.jsonl"],
                               []), listing(folder)
    # fixed in place (a new file under the name): read and done
    drop(folder, "notgzip.jsonl.gz", lines(3, 10), gz=True)
    wait_done(folder, ["notgzip.jsonl.gz"], c)
    crrtest.wait_until(lambda: agg.totals("dr4")["applied"] == 5, what="5 applied")
    assert c.term() == 0, c.stderr()


def test_csv_read_and_every_problem_of_a_line_reported():
    agg, work, folder, cdir = setup("dr9")
    c = watcher(cdir, agg, "dr9", folder, "--collector.settle_time=1h")
    drop(folder, "racist_incident-2026-02.csv",
         "borough,occurred_at,record_id,count,recorded_as_crime\r\n"
         "E09000008,2026-02-03T10:00:00Z,csv-1,1,yes\r\n"
         "E09000099,2026-02-03T10:00:00Z,csv-2,lots,yes\r\n"  # two problems
         "E09000008,2026-02-03T11:00:00Z,\"csv-3, quoted\",2,no\r\n")
    wait_done(folder, ["racist_incident-2026-02.csv"], c)
    t = agg.totals("dr9")
    assert t["applied"] == 2, t
    name = "racist_incident-2026-02.csv"
    assert listing(folder) == ([], [name], [name + ".errors.csv"]), listing(folder)
    with open(os.path.join(folder, "rejected", name + ".errors.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    got = sorted((r[1], r[2], r[3]) for r in rows)
    assert got == [("3", "borough", "E09000099"), ("3", "racist_incident.count", "lots")], rows
    assert all(r[5] in ("unknown_borough", "malformed") and r[4] for r in rows), rows
    # an unknown column refuses the whole file: reported once, nothing of it sent, done
    drop(folder, "racist_incident-x.csv",
         "borough,occurred_at,record_id,count,colour\nE09000008,2026-02-03T12:00:00Z,csv-9,1,red\n")
    wait_done(folder, ["racist_incident-x.csv"], c)
    with open(os.path.join(folder, "rejected", "racist_incident-x.csv.errors.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert len(rows) == 1 and rows[0][1:4] == ["1", "", "colour"] and "unknown column" in rows[0][4], rows
    assert agg.totals("dr9")["applied"] == 2
    assert c.term() == 0, c.stderr()


def _kill9_mid_file(name, gz):
    sid = "k9" + ("gz" if gz else "pl")
    agg, work, folder, cdir = setup(sid)
    n = 200000
    bad = set(range(5000, n + 1, 10000))  # line numbers (1-based) broken, before and after the kill
    text = "".join("{broken\n" if i + 1 in bad else event(i) for i in range(n))
    c = watcher(cdir, agg, sid, folder, "--collector.settle_time=1h")
    drop(folder, name, text, gz=gz)
    # killed once the first bad line (5000) is behind it: its report row was stored before
    crrtest.wait_until(lambda: agg.totals(sid)["applied"] > 6000 or not c.alive(), timeout=60,
                       what="6000 events applied", interval=0.005)
    assert c.alive() and listing(folder)[0] == [name], "finished before the kill: " + c.stderr()[-2000:]
    c.kill9()
    before = agg.totals(sid)["applied"]
    assert 0 < before < n - len(bad), before
    # after the restart the file is complete (it settled long ago): a short settle time
    c2 = watcher(cdir, agg, sid, folder, "--collector.settle_time=100ms")
    wait_done(folder, [name], c2, timeout=120)
    assert "resuming after line" in c2.stderr(), c2.stderr()[-2000:]
    t = agg.totals(sid)
    good = n - len(bad)
    assert t["applied"] == good and t["appliedSeq"] == good, (t, before)
    assert listing(folder) == ([], [name], [name + ".errors.csv"]), listing(folder)
    # every bad line once, those read before the kill included
    with open(os.path.join(folder, "rejected", name + ".errors.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    assert sorted(int(r[1]) for r in rows) == sorted(bad), rows
    assert {(r[0], r[5]) for r in rows} == {(os.path.join(folder, name), "malformed")}, rows
    assert c2.term() == 0, c2.stderr()


def test_kill9_mid_file_plain():
    _kill9_mid_file("big.jsonl", False)


def test_kill9_mid_file_gz():
    _kill9_mid_file("big.jsonl.gz", True)


def test_moved_only_once_acknowledged_and_removed_file():
    agg = Aggregator()  # not started: nothing is acknowledged
    work = crrtest.tmpdir()
    folder = os.path.join(work, "drop")
    os.mkdir(folder)
    cdir = os.path.join(work, "coll")
    c = watcher(cdir, agg, "dra", folder, "--collector.settle_time=1h")
    drop(folder, "wait.jsonl", lines(30))
    drop(folder, "gone.jsonl", lines(20, 30))
    crrtest.wait_until(lambda: c.stderr().count("end of input") == 2, what="both files read and spooled")
    # spooled, not acknowledged: both stay in the folder
    assert listing(folder) == (["gone.jsonl", "wait.jsonl"], [], []), listing(folder)
    os.remove(os.path.join(folder, "gone.jsonl"))  # someone removes one meanwhile
    agg.start()
    wait_done(folder, ["wait.jsonl"], c)
    crrtest.wait_until(lambda: "gone.jsonl was removed before it could be moved" in c.stderr(), what="warning")
    t = agg.totals("dra")
    assert t["applied"] == 50 and t["appliedSeq"] == 50, t
    assert listing(folder) == ([], ["wait.jsonl"], []), listing(folder)
    assert c.term() == 0, c.stderr()


def test_crash_before_move_no_duplicate():
    agg, work, folder, cdir = setup("drc")
    c = watcher(cdir, agg, "drc", folder, "--collector.settle_time=1h",
                env={"CRR_CRASHPOINT": "drop_before_move"})
    drop(folder, "one.jsonl", lines(40))
    assert c.wait(60) == CRASH_EXIT, c.stderr()[-2000:]
    assert listing(folder) == (["one.jsonl"], [], []), listing(folder)
    assert agg.totals("drc")["applied"] == 40
    c2 = watcher(cdir, agg, "drc", folder, "--collector.settle_time=100ms")
    wait_done(folder, ["one.jsonl"], c2)
    t = agg.totals("drc")
    assert t["applied"] == 40 and t["appliedSeq"] == 40, t
    assert c2.term() == 0, c2.stderr()


def checkpoint_keys(cdir):
    """The keys of the spool's checkpoints database (mdb_dump -p: key and value lines alternate)."""
    out = crrtest.run(["mdb_dump", "-p", "-s", "checkpoints", os.path.join(cdir, "spool")], check=0).stdout
    body = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].splitlines()
    return sorted(line[1:] for line in body[0::2])


def test_crash_after_move_checkpoint_deleted():
    agg, work, folder, cdir = setup("drm")
    c = watcher(cdir, agg, "drm", folder, "--collector.settle_time=1h",
                env={"CRR_CRASHPOINT": "drop_after_move"})
    drop(folder, "one.jsonl", lines(40))
    assert c.wait(60) == CRASH_EXIT, c.stderr()[-2000:]
    assert listing(folder) == ([], ["one.jsonl"], []), listing(folder)
    key = os.path.join(os.path.realpath(folder), "one.jsonl")
    assert checkpoint_keys(cdir) == [key]  # moved, its checkpoint left behind
    # a named input's checkpoint under DIR is not the folder's: kept
    named = os.path.join(folder, "named.txt")
    with open(named, "w") as f:
        f.write(lines(2, 40))
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--data-dir", cdir, "--aggregator", agg.ingest,
                     "--source-id", "drm", named], env=ENV, check=0)
    assert r.returncode == 0, r.stderr
    os.remove(named)
    named_key = os.path.join(os.path.realpath(folder), "named.txt")
    assert checkpoint_keys(cdir) == sorted([key, named_key])
    c2 = watcher(cdir, agg, "drm", folder, "--collector.settle_time=1h")
    crrtest.wait_until(lambda: "deleted the leftover checkpoint" in c2.stderr() or not c2.alive(),
                       what="leftover checkpoint deleted")
    assert checkpoint_keys(cdir) == [named_key], c2.stderr()
    # done/one.jsonl's inode reused by a new one.jsonl that starts with the same 40 lines (a
    # cumulative export): an old checkpoint would resume it after line 40; it is read whole
    with open(os.path.join(folder, "done", "one.jsonl"), "w") as f:
        f.write(lines(50))
    os.rename(os.path.join(folder, "done", "one.jsonl"), os.path.join(folder, "one.jsonl"))
    wait_done(folder, ["one.jsonl"], c2)
    t = agg.totals("drm")
    assert t["applied"] == 92 and t["appliedSeq"] == 92, t
    assert "resuming" not in c2.stderr(), c2.stderr()
    assert checkpoint_keys(cdir) == [named_key], c2.stderr()
    assert c2.term() == 0, c2.stderr()


def mark_keys(cdir):
    """The spool's marks ("mark:NAME" keys of its meta database, mdb_dump -p)."""
    out = crrtest.run(["mdb_dump", "-p", "-s", "meta", os.path.join(cdir, "spool")], check=0).stdout
    body = out.split("HEADER=END\n", 1)[1].split("DATA=END", 1)[0].splitlines()
    return sorted(line[1:] for line in body[0::2] if line[1:].startswith("mark:"))


def test_crash_after_mark_before_checkpoint():
    agg, work, folder, cdir = setup("drk")
    real = os.path.realpath(folder)
    # the file leaves the folder before the restart: its mark is swept
    c = watcher(cdir, agg, "drk", folder, "--collector.settle_time=1h",
                env={"CRR_CRASHPOINT": "drop_after_mark"})
    drop(folder, "gone.jsonl", lines(40))
    assert c.wait(60) == CRASH_EXIT, c.stderr()[-2000:]
    assert listing(folder) == (["gone.jsonl"], [], []), listing(folder)
    assert checkpoint_keys(cdir) == []
    assert mark_keys(cdir) == ["mark:drop:" + os.path.join(real, "gone.jsonl")]
    os.remove(os.path.join(folder, "gone.jsonl"))
    c2 = watcher(cdir, agg, "drk", folder, "--collector.settle_time=1h")
    crrtest.wait_until(lambda: "deleted the leftover mark" in c2.stderr() or not c2.alive(),
                       what="leftover mark deleted")
    assert mark_keys(cdir) == [] and checkpoint_keys(cdir) == [], c2.stderr()[-2000:]
    assert c2.term() == 0, c2.stderr()
    assert agg.totals("drk")["applied"] == 0
    # the file is still there after the restart: read once, whole, then done
    c3 = watcher(cdir, agg, "drk", folder, "--collector.settle_time=1h",
                 env={"CRR_CRASHPOINT": "drop_after_mark"})
    drop(folder, "kept.jsonl", lines(40))
    assert c3.wait(60) == CRASH_EXIT, c3.stderr()[-2000:]
    key = os.path.join(real, "kept.jsonl")
    assert mark_keys(cdir) == ["mark:drop:" + key] and checkpoint_keys(cdir) == []
    c4 = watcher(cdir, agg, "drk", folder, "--collector.settle_time=100ms")
    wait_done(folder, ["kept.jsonl"], c4)
    assert "leftover mark" not in c4.stderr(), c4.stderr()[-2000:]
    t = agg.totals("drk")
    assert t["applied"] == 40 and t["appliedSeq"] == 40, t
    crrtest.wait_until(lambda: mark_keys(cdir) == [] and checkpoint_keys(cdir) == [],
                       what="mark and checkpoint deleted after the move")
    assert listing(folder) == ([], ["kept.jsonl"], []), listing(folder)
    assert c4.term() == 0, c4.stderr()


def test_leftover_kept_while_unacknowledged_file_removed():
    agg = Aggregator()  # not started: nothing is acknowledged
    work = crrtest.tmpdir()
    folder = os.path.join(work, "drop")
    os.mkdir(folder)
    cdir = os.path.join(work, "coll")
    key = os.path.join(os.path.realpath(folder), "mid.jsonl")
    # groups of 10 lines; the crash (no cleanup, as kill -9) after the 3rd group's commit:
    # 30 events and the checkpoint after line 30 are spooled, none acknowledged
    c = watcher(cdir, agg, "drl", folder, "--collector.settle_time=1h", "--collector.group_lines=10",
                env={"CRR_CRASHPOINT": "collector_after_spool:3"})
    drop(folder, "mid.jsonl", lines(100))
    assert c.wait(60) == CRASH_EXIT, c.stderr()[-2000:]
    assert checkpoint_keys(cdir) == [key] and mark_keys(cdir) == ["mark:drop:" + key]
    # someone else takes the file away; a copy in done/ (written while the file still holds its
    # inode, so another one) is not our move
    copy = os.path.join(folder, "done", "mid.jsonl")
    with open(copy, "w") as f:
        f.write(lines(100))
    assert os.stat(copy).st_ino != os.stat(os.path.join(folder, "mid.jsonl")).st_ino
    os.remove(os.path.join(folder, "mid.jsonl"))
    # restart, aggregator still down: gone, not ours in done/, events unacknowledged: kept
    c2 = watcher(cdir, agg, "drl", folder, "--collector.settle_time=1h")
    crrtest.wait_until(lambda: "checkpoint of " + key + " kept" in c2.stderr() or not c2.alive(),
                       what="leftover checkpoint kept")
    assert c2.alive() and "deleted the leftover" not in c2.stderr(), c2.stderr()[-2000:]
    assert checkpoint_keys(cdir) == [key] and mark_keys(cdir) == ["mark:drop:" + key]
    # the aggregator comes up: the 30 spooled events arrive, once
    agg.start()
    crrtest.wait_until(lambda: agg.totals("drl")["appliedSeq"] == 30, what="30 applied")
    t = agg.totals("drl")
    assert t["applied"] == 30 and t["appliedSeq"] == 30, t
    assert checkpoint_keys(cdir) == [key], c2.stderr()[-2000:]  # swept only at a start
    assert c2.term() == 0, c2.stderr()
    assert "0 event(s) left in the spool" in c2.stderr(), c2.stderr()[-2000:]
    # the next start: everything acknowledged, the leftover goes
    c3 = watcher(cdir, agg, "drl", folder, "--collector.settle_time=1h")
    crrtest.wait_until(lambda: "deleted the leftover checkpoint of " + key in c3.stderr() or not c3.alive(),
                       what="leftover checkpoint deleted")
    assert "kept" not in c3.stderr(), c3.stderr()[-2000:]
    assert checkpoint_keys(cdir) == [] and mark_keys(cdir) == [], c3.stderr()[-2000:]
    assert c3.term() == 0, c3.stderr()
    t = agg.totals("drl")
    assert t["applied"] == 30 and t["appliedSeq"] == 30, t
    assert listing(folder) == ([], ["mid.jsonl"], []), listing(folder)


def test_leftover_in_done_deleted_while_other_events_unacknowledged():
    agg, work, folder, cdir = setup("drd")
    real = os.path.realpath(folder)
    key = os.path.join(real, "one.jsonl")
    c = watcher(cdir, agg, "drd", folder, "--collector.settle_time=1h")
    drop(folder, "one.jsonl", lines(10))
    wait_done(folder, ["one.jsonl"], c)
    assert c.term() == 0, c.stderr()
    # a second one.jsonl: moved to done/one.jsonl.1, the crash before its checkpoint's deletion
    c1 = watcher(cdir, agg, "drd", folder, "--collector.settle_time=1h",
                 env={"CRR_CRASHPOINT": "drop_after_move"})
    drop(folder, "one.jsonl", lines(40, 10))
    assert c1.wait(60) == CRASH_EXIT, c1.stderr()[-2000:]
    assert listing(folder) == ([], ["one.jsonl", "one.jsonl.1"], []), listing(folder)
    assert checkpoint_keys(cdir) == [key] and mark_keys(cdir) == ["mark:drop:" + key]
    assert agg.totals("drd")["appliedSeq"] == 50
    # the aggregator goes down; another file (a named input outside DIR) is spooled, not acknowledged
    agg.term()
    other = os.path.join(work, "other.jsonl")
    with open(other, "w") as f:
        f.write(lines(25, 50))
    n = crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", cdir, "--aggregator", agg.ingest,
                      "--source-id", "drd", "--collector.drain_timeout=100ms", other], env=ENV, name="named-drd")
    crrtest.wait_until(lambda: "end of input" in n.stderr() or not n.alive(), what="other file spooled")
    assert n.term() == 0, n.stderr()
    assert "25 event(s) left in the spool" in n.stderr(), n.stderr()[-2000:]
    other_key = os.path.realpath(other)
    assert checkpoint_keys(cdir) == sorted([key, other_key])
    # restart, aggregator still down: the leftover's file is in done/ (one.jsonl.1, its inode):
    # moved by us after its Acks, so deleted although the other file's events wait
    c2 = watcher(cdir, agg, "drd", folder, "--collector.settle_time=1h")
    crrtest.wait_until(lambda: "deleted the leftover checkpoint of " + key in c2.stderr() or not c2.alive(),
                       what="leftover checkpoint deleted")
    assert "kept" not in c2.stderr(), c2.stderr()[-2000:]
    assert checkpoint_keys(cdir) == [other_key] and mark_keys(cdir) == [], c2.stderr()[-2000:]
    # the aggregator comes back: the other file's 25 events arrive, once
    agg.restart()
    crrtest.wait_until(lambda: agg.totals("drd")["appliedSeq"] == 75, what="75 applied")
    t = agg.totals("drd")
    assert t["applied"] == 75 and t["appliedSeq"] == 75, t
    assert c2.term() == 0, c2.stderr()
    assert listing(folder) == ([], ["one.jsonl", "one.jsonl.1"], []), listing(folder)


if __name__ == "__main__":
    crrtest.main()
