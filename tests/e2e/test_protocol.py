"""test_protocol: the ingest protocol's edges, end to end with real processes.

  - honest counts: a second send of the same 2,000 events (with record ids)
    reports 0 accepted and 2,000 duplicate, in `crrmon send`, in the
    collector's final log line and in `crrmon status`;
  - lost aggregator state: the aggregator's store replaced by an older copy
    (or emptied) while a collector's spool is ahead of it: the collector says
    so in its log and carries on under a fresh epoch, and its new events
    arrive;
  - cloned spool: two collectors with a copy of the same data folder send
    different files under the same (source_id, epoch): one succeeds, the
    other stops loudly (exit 1, events kept in its spool); nothing is
    acknowledged as a duplicate of an event it is not.
"""
import json
import os
import shutil

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW + "+"}


class Aggregator(crrtest.Aggregator):
    """crrmon-aggregator on a fixed ingest port (so it can be restarted there); start() as
    crrtest.Aggregator."""

    def __init__(self, data_dir=None):
        super().__init__(data_dir, ingest=f"tcp://127.0.0.1:{crrtest.free_port()}", env=ENV)

    def stop(self):
        assert self.proc.term() == 0, self.proc.stderr()

    def status(self):
        r = crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", self.dir, "--json"], env=ENV,
                        check=0)
        return [json.loads(line) for line in r.stdout.splitlines()]


def write_events(path, n, first=1, tag="r"):
    """n valid events with record ids tag1.. (one borough per record, spread over February)."""
    with open(path, "w") as f:
        for i in range(first, first + n):
            f.write(json.dumps({"borough": "E09000%03d" % (i % 33 + 1),
                                "occurredAt": "2026-02-%02dT10:00:00Z" % (i % 28 + 1),
                                "recordId": f"{tag}{i}",
                                "racistIncident": {"count": 1, "recordedAsCrime": i % 2 == 0}}) + "\n")
    return path


def collector(data_dir, ingest, source_id, *args):
    return crrtest.Proc([crrtest.binary("crrmon-collector"), "--data-dir", data_dir, "--aggregator", ingest,
                         "--source-id", source_id, *args], env=ENV, name=f"collector-{source_id}")


def send(agg, path, source_id="sender"):
    return crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", agg.ingest, "--source-id", source_id,
                        path], env=ENV)


# ------------------------------------------------------------------ tests

def test_second_send_counts_duplicates_not_accepted():
    work = crrtest.tmpdir()
    path = write_events(os.path.join(work, "export.jsonl"), 2000)
    agg = Aggregator().start()
    r = send(agg, path)
    assert r.returncode == 0, r.stderr
    assert ": 2000 accepted, 0 duplicate, 0 rejected by the aggregator, 0 input lines rejected" in r.stdout, r.stdout
    r = send(agg, path)
    assert r.returncode == 0, r.stderr
    assert ": 0 accepted, 2000 duplicate, 0 rejected by the aggregator, 0 input lines rejected" in r.stdout, r.stdout

    # the collector's final line says the same for a third copy
    c = collector(crrtest.tmpdir("crrcoll-"), agg.ingest, "coll", path)
    assert c.wait(120) == 0, c.stderr()
    assert ("done: 2000 event(s) spooled and acknowledged in this run, 0 line(s) rejected; aggregator "
            "totals for source=coll epoch=") in c.stderr(), c.stderr()
    assert ": 0 accepted, 2000 duplicate, 0 rejected" in c.stderr(), c.stderr()

    rows = sorted((s["sourceId"], s["applied"], s["duplicates"], s["rejected"]) for s in agg.status())
    assert rows == [("coll", "0", "2000", "0"), ("sender", "0", "2000", "0"), ("sender", "2000", "0", "0")], rows
    table = crrtest.run([crrtest.binary("crrmon"), "status", "--data-dir", agg.dir], env=ENV, check=0).stdout
    header = table.splitlines()[0].split()
    assert header[-4:] == ["applied", "duplicates", "rejected", "resent"], table



def _lost_state(replace_store):
    """Sends 50 + 50 events, then replace_store(agg, older_copy), then 30 more."""
    work = crrtest.tmpdir()
    agg = Aggregator().start()
    coll_dir = crrtest.tmpdir("crrcoll-")
    c = collector(coll_dir, agg.ingest, "lambeth", write_events(os.path.join(work, "a1.jsonl"), 50, 1))
    assert c.wait(60) == 0, c.stderr()
    agg.stop()
    older = os.path.join(work, "store-backup")
    shutil.copytree(os.path.join(agg.dir, "store"), older)
    agg.start()
    c = collector(coll_dir, agg.ingest, "lambeth", write_events(os.path.join(work, "a2.jsonl"), 50, 51))
    assert c.wait(60) == 0, c.stderr()
    assert [(s["appliedSeq"], s["applied"]) for s in agg.status()] == [("100", "100")]
    old_epoch = agg.status()[0]["epoch"]
    agg.stop()
    replace_store(agg, older)
    agg.start()
    c = collector(coll_dir, agg.ingest, "lambeth", write_events(os.path.join(work, "a3.jsonl"), 30, 101))
    assert c.wait(60) == 0, c.stderr()
    err = c.stderr()
    assert (f"the aggregator at {agg.ingest} lost the state of source=lambeth epoch={old_epoch}: it expects seq="
            in err), err
    assert "acknowledged up to seq=100 before" in err, err
    assert "Events up to seq=100 were acknowledged and released from the spool and are NOT recoverable" in err, err
    assert "Continuing under a fresh epoch from the first unacknowledged event (seq=101, 30 event(s)" in err, err
    new = [s for s in agg.status() if s["epoch"] != old_epoch]
    assert [(s["appliedSeq"], s["applied"]) for s in new] == [("30", "30")], agg.status()
    return agg, old_epoch


def test_store_restored_from_older_backup_new_epoch():
    def restore(agg, older):
        shutil.rmtree(os.path.join(agg.dir, "store"))
        shutil.copytree(older, os.path.join(agg.dir, "store"))
    agg, old_epoch = _lost_state(restore)
    old = [s for s in agg.status() if s["epoch"] == old_epoch]
    assert [(s["appliedSeq"], s["applied"]) for s in old] == [("50", "50")], old


def test_store_emptied_new_epoch():
    agg, old_epoch = _lost_state(lambda agg, older: shutil.rmtree(os.path.join(agg.dir, "store")))
    # the old epoch is known again only by the batch it refused
    old = [s for s in agg.status() if s["epoch"] == old_epoch]
    assert [(s["appliedSeq"], s["applied"]) for s in old] == [("0", "0")], old



def test_cloned_spool_second_collector_stops_loudly():
    work = crrtest.tmpdir()
    agg = Aggregator().start()
    first = crrtest.tmpdir("crrcoll-")
    c = collector(first, agg.ingest, "camden", write_events(os.path.join(work, "day1.jsonl"), 10, 1, "d"))
    assert c.wait(60) == 0, c.stderr()
    clone = os.path.join(crrtest.tmpdir("crrclone-"), "data")
    shutil.copytree(first, clone)  # a cloned VM: same source id, same epoch, same acknowledged seq
    a = collector(first, agg.ingest, "camden", write_events(os.path.join(work, "a.jsonl"), 300, 1, "a"))
    assert a.wait(60) == 0, a.stderr()
    b = collector(clone, agg.ingest, "camden", write_events(os.path.join(work, "b.jsonl"), 300, 1, "b"))
    assert b.wait(60) == 1, b.stderr()
    err = b.stderr()
    assert "REJECT_CODE_SEQUENCE_CONFLICT" not in err  # said in words, not as a code
    assert "seq 11 of source camden epoch " in err and "was applied before with another event" in err, err
    assert f"stopped: the aggregator at {agg.ingest} holds different events under source=camden" in err, err
    assert f"300 event(s) stay in the spool ({clone}/spool)" in err, err
    assert "done:" not in err, err
    # nothing of b was taken for a duplicate or resend of a: the totals are a's alone
    [st] = agg.status()
    assert (st["appliedSeq"], st["applied"], st["duplicates"], st["resent"], st["rejected"]) == \
        ("310", "310", "0", "0", "0"), st
    # and it stays stopped on the next start, its events still spooled
    b = collector(clone, agg.ingest, "camden")
    assert b.wait(60) == 1, b.stderr()
    assert "300 event(s) stay in the spool" in b.stderr(), b.stderr()
    assert agg.status()[0]["applied"] == "310"


if __name__ == "__main__":
    crrtest.main()
