"""test_csv_inputs: CSV files through crrmon-collector and a real aggregator.

  - the same events as JSON Lines and as CSV (quoted cells, CRLF, a byte-order
    mark, blank lines) give identical `crrmon query` rows;
  - 100,000 records with 1% bad: exactly the good ones are applied and the
    error report (--errors) lists exactly the bad lines, every problem of each;
    the aggregator's own rejections go into the report too;
  - an unknown column refuses the whole file: nothing of it is applied, the
    report says why, exit 2;
  - a rejected record spanning three physical lines is kept whole in the
    collector's rejects (`crrmon rejects --json`: all its lines with their
    line ends, at the line it starts on, as the error report says), and the
    good multi-line records around it arrive;
  - kill -9 in the middle of a CSV whose records span lines (quoted newlines),
    restart: every record applied exactly once (no record_id, so a record read
    twice would count twice);
  - a quoted record whose middle physical line is longer than
    collector.max_line is rejected whole, once, at its first line; the
    records after it arrive as if it were not there (same `crrmon query`
    rows as the file without it), and the run's report, the drop folder's
    rejected/NAME.errors.csv and --check say the same row;
  - --check: exit 0 and an empty report for good files, 2 and one row per
    problem for bad ones (JSON Lines too), and no aggregator needed;
  - `crrmon generate --format csv` and the default JSON Lines of the same seed
    ingest to identical `crrmon query` rows (every type, every column), and
    its header is type, the envelope, then the chosen types' fields;
  - every example of docs/formats/ ingests with no rejection;
  - `crrmon send` takes CSV: on a terminal a status line (percent, events/s,
    rejected) for a large file, nothing of it when stderr is a pipe; both end
    with the accepted / duplicate / rejected counts.
"""
import csv
import glob
import io
import json
import os
import pty
import re
import select
import subprocess
import time

import crrtest
from test_collector import ENV, Aggregator, collector

CRRMON = None


def crrmon(*args, check=0, **kw):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check, **kw)


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def generate(n, seed=7):
    r = crrmon("generate", "--count", str(n), "--seed", str(seed), "--days", "20")
    return [json.loads(line) for line in r.stdout.splitlines()]


def to_rows(events):
    """Events (proto3 JSON dicts) as CSV rows: type, envelope, body by proto names."""
    rows = []
    for e in events:
        body_key = next(k for k in e if k not in ("borough", "occurredAt", "recordId", "sourceId"))
        row = {"type": snake(body_key), "borough": e["borough"], "occurred_at": e["occurredAt"]}
        if "recordId" in e:
            row["record_id"] = e["recordId"]
        for k, v in e[body_key].items():
            row[snake(k)] = ("true" if v else "false") if isinstance(v, bool) else str(v)
        rows.append(row)
    return rows


def write_csv(path, rows, bom=True, crlf=True):
    cols = ["type", "borough", "occurred_at", "record_id"]
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\r\n" if crlf else "\n")
    w.writeheader()
    w.writerows(rows)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(("\ufeff" if bom else "") + buf.getvalue() + ("\r\n\r\n" if crlf else "\n\n"))
    return path


def run(agg, cdir, sid, *args, code=0):
    c = collector(cdir, agg.ingest, sid, "--give-up-after", "60s", *args)
    rc = c.wait(120)
    assert rc == code, (rc, c.stderr()[-3000:])
    return c.stderr()


def query_rows(agg):
    r = crrmon("query", "--data-dir", agg.dir, "--json")
    assert r.returncode == 0, r.stderr
    return sorted(r.stdout.splitlines())


def read_report(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_same_events_as_jsonl_and_csv_same_snapshot():
    work = crrtest.tmpdir()
    events = generate(3000)
    # record ids with commas, quotes and newlines exercise the quoting
    for i, e in enumerate(events):
        if i % 7 == 0:
            e["recordId"] = 'r,%d "q"\nline two' % i
    jl = os.path.join(work, "all.jsonl")
    with open(jl, "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in events)
    cs = write_csv(os.path.join(work, "all.csv"), to_rows(events))
    a, b = Aggregator().start(), Aggregator().start()
    run(a, os.path.join(work, "ca"), "jsonl", jl)
    run(b, os.path.join(work, "cb"), "csv", cs)
    assert a.totals("jsonl")["applied"] == 3000
    assert b.totals("csv")["applied"] == 3000
    ra, rb = query_rows(a), query_rows(b)
    assert len(ra) > 100 and ra == rb
    a.term()
    b.term()


def test_generate_csv_same_rows_as_jsonl():
    work = crrtest.tmpdir()
    args = ("generate", "--count", "5000", "--seed", "11", "--days", "20")
    jl, cs = os.path.join(work, "gen.jsonl"), os.path.join(work, "gen.csv")
    with open(jl, "w") as f:
        f.write(crrmon(*args).stdout)
    with open(cs, "w", newline="") as f:
        f.write(crrmon(*args, "--format", "csv").stdout)
    with open(cs, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 5001 and rows[0][:4] == ["type", "borough", "occurred_at", "record_id"]
    assert len({r[0] for r in rows[1:]}) == 11  # every type, in one file
    a, b = Aggregator().start(), Aggregator().start()
    run(a, os.path.join(work, "ca"), "gen-jsonl", jl)
    run(b, os.path.join(work, "cb"), "gen-csv", cs)
    assert a.totals("gen-jsonl")["applied"] == 5000
    assert b.totals("gen-csv")["applied"] == 5000
    ra, rb = query_rows(a), query_rows(b)
    assert len(ra) > 100 and ra == rb
    a.term()
    b.term()
    # --types: only those types' fields are columns
    r = crrmon("generate", "--count", "3", "--types", "complaint", "--format", "csv")
    assert r.stdout.splitlines()[0] == ("type,borough,occurred_at,record_id,allegations,category,"
                                        "complainant_ethnicity,linked_to_stop_search"), r.stdout
    r = crrmon("generate", "--format", "csv", "--source-id", "x", check=None)
    assert r.returncode == 64 and "--source-id" in r.stderr, r.stderr


def test_100k_records_1pct_bad_exact_report():
    work = crrtest.tmpdir()
    path = os.path.join(work, "racist_incident-2026-02.csv")
    bad = set()
    with open(path, "w", newline="") as f:
        f.write("borough,occurred_at,count,recorded_as_crime\n")
        for i in range(100000):
            line = i + 2
            if i % 100 == 37:
                bad.add(line)
                # two problems on one line: an unknown borough and a bad boolean
                f.write("E09000099,2026-02-%02dT10:00:00Z,1,maybe\n" % (i % 28 + 1))
            else:
                f.write("E09000%03d,2026-02-%02dT10:00:00Z,1,%s\n" % (i % 33 + 1, i % 28 + 1,
                                                                      "yes" if i % 2 else "0"))
    report = os.path.join(work, "errors.csv")
    agg = Aggregator().start()
    run(agg, os.path.join(work, "c"), "big", "--errors", report, path, code=2)
    t = agg.totals("big")
    assert t["applied"] == 99000 and t["rejected"] == 0, t
    rows = read_report(report)
    assert len(rows) == 2 * len(bad)
    assert {int(r["line"]) for r in rows} == bad
    fields = sorted({(r["field"], r["value"], r["code"]) for r in rows})
    assert fields == [("borough", "E09000099", "unknown_borough"),
                      ("racist_incident.recorded_as_crime", "maybe", "malformed")], fields
    assert all(r["file"] == path for r in rows)
    agg.term()


def test_report_lists_the_aggregators_rejections_too():
    # the collector's edge leaves too_old to the aggregator (max_age 0): the
    # aggregator's rejection comes back in an Ack and goes into the report
    work = crrtest.tmpdir()
    path = os.path.join(work, "complaint.csv")
    with open(path, "w") as f:
        f.write("borough,occurred_at,category\n"
                "E09000001,2026-02-01T10:00:00Z,OTHER\n"
                "E09000001,2024-02-01T10:00:00Z,OTHER\n")
    report = os.path.join(work, "errors.csv")
    agg = Aggregator().start()
    run(agg, os.path.join(work, "c"), "old", "--errors", report, path, code=2)
    rows = read_report(report)
    assert [(r["line"], r["field"], r["code"]) for r in rows] == [("3", "occurred_at", "too_old")], rows
    assert rows[0]["reason"].endswith("(rejected by the aggregator)"), rows
    agg.term()


def test_unknown_column_refuses_whole_file():
    work = crrtest.tmpdir()
    path = os.path.join(work, "complaint.csv")
    with open(path, "w") as f:
        f.write("borough,occurred_at,category,colour\n")
        f.write("E09000001,2026-02-01T10:00:00Z,DISCRIMINATORY_BEHAVIOUR,red\n")
    good = os.path.join(work, "complaint-ok.csv")
    with open(good, "w") as f:
        f.write("borough,occurred_at,category\nE09000001,2026-02-01T10:00:00Z,OTHER\n")
    report = os.path.join(work, "errors.csv")
    agg = Aggregator().start()
    err = run(agg, os.path.join(work, "c"), "unk", "--errors", report, path, good, code=2)
    assert 'unknown column "colour" (column 4)' in err, err
    assert agg.totals("unk")["applied"] == 1  # only the other file's record
    rows = read_report(report)
    assert len(rows) == 1 and rows[0]["line"] == "1" and rows[0]["value"] == "colour", rows
    # a restart does not refuse it again: its checkpoint is at its end
    err = run(agg, os.path.join(work, "c"), "unk", "--errors", report, path, good)
    assert "unknown column" not in err, err
    assert read_report(report) == []
    assert agg.totals("unk")["applied"] == 1
    agg.term()


def test_multiline_reject_stored_whole_at_its_first_line():
    work = crrtest.tmpdir()
    path = os.path.join(work, "complaint.csv")
    with open(path, "w", newline="") as f:
        f.write("borough,occurred_at,record_id,category\n"                     # line 1
                "E09000001,2026-02-01T10:00:00Z,ml-1,OTHER\n"                  # line 2
                'E09000002,2026-02-01T11:00:00Z,"ml-2\nsecond\nthird",OTHER\n'  # lines 3-5
                'E09000099,2026-02-01T12:00:00Z,"ml-3\r\nsecond\r\nthird",OTHER\r\n'  # 6-8: bad
                'E09000003,2026-02-01T13:00:00Z,"ml-4\nsecond",OTHER\n')       # lines 9-10
    report = os.path.join(work, "errors.csv")
    cdir = os.path.join(work, "c")
    agg = Aggregator().start()
    run(agg, cdir, "mlrej", "--errors", report, path, code=2)
    t = agg.totals("mlrej")
    assert t["applied"] == 3 and t["rejected"] == 0, t
    rows = read_report(report)
    assert [(r["line"], r["field"], r["code"]) for r in rows] == [("6", "borough", "unknown_borough")], rows
    r = crrmon("rejects", "--data-dir", cdir, "--json")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["file"], x["line"], x["code"]) for x in recs] == [(path, 6, "unknown_borough")], recs
    # the whole record as in the file, its last line end left out (as a JSON line's)
    assert recs[0]["raw"] == 'E09000099,2026-02-01T12:00:00Z,"ml-3\r\nsecond\r\nthird",OTHER', recs
    agg.term()


def test_huge_multiline_reject_raw_is_capped():
    # a record of many long lines: its stored text is cut at the rejects' cap
    # (common/rejects.h CRR_REJECTS_RAW_MAX, 4096 bytes), as a long JSON line's is
    work = crrtest.tmpdir()
    path = os.path.join(work, "complaint.csv")
    long_id = "\n".join("x" * 1000 for _ in range(50))
    with open(path, "w", newline="") as f:
        f.write("borough,occurred_at,record_id,category\n"
                'E09000099,2026-02-01T12:00:00Z,"%s",OTHER\n'
                "E09000001,2026-02-01T10:00:00Z,ok-1,OTHER\n" % long_id)
    cdir = os.path.join(work, "c")
    agg = Aggregator().start()
    run(agg, cdir, "mlcap", path, code=2)
    assert agg.totals("mlcap")["applied"] == 1
    r = crrmon("rejects", "--data-dir", cdir, "--json")
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["line"], x["code"]) for x in recs] == [(2, "unknown_borough")], recs
    want = 'E09000099,2026-02-01T12:00:00Z,"' + long_id
    assert recs[0]["raw"] == want[:4096], len(recs[0]["raw"])
    agg.term()


def test_kill9_mid_csv_with_multiline_records_exact():
    work = crrtest.tmpdir()
    n = 200000
    path = os.path.join(work, "training_feedback.csv")
    with open(path, "w", newline="") as f:
        f.write("borough,occurred_at,course_id,session_id,trainer_id,staff_group,overall,"
                "relevance,trainer_quality,purpose_explained\r\n")
        for i in range(n):
            f.write('E09000%03d,2026-02-%02dT10:00:00Z,"CRR\r\nBASICS, part %d",S%d,T1,'
                    'OPERATIONAL,5,4,3,2\r\n' % (i % 33 + 1, i % 28 + 1, i % 3, i % 50))
    agg = Aggregator().start()
    cdir = os.path.join(work, "c")
    c = collector(cdir, agg.ingest, "k9", "--give-up-after", "120s", "--collector.group_lines=997",
                  path)
    crrtest.wait_until(lambda: agg.totals("k9")["applied"] > 0 or not c.alive(), timeout=60,
                       what="first events applied", interval=0.005)
    assert c.alive(), "collector finished before it could be killed: " + c.stderr()[-2000:]
    c.kill9()
    before = agg.totals("k9")["applied"]
    assert 0 < before < n, before
    c2 = collector(cdir, agg.ingest, "k9", "--give-up-after", "120s", path)
    assert c2.wait(180) == 0, c2.stderr()[-3000:]
    assert "resuming after line" in c2.stderr(), c2.stderr()[-3000:]
    t = agg.totals("k9")
    assert t["applied"] == n and t["appliedSeq"] == n, (t, before)
    agg.term()


def test_spool_full_mid_multiline_csv_drops_nothing():
    # a full spool puts the input back at the refused record's first line:
    # records whose quoted cells span lines are neither cut nor doubled
    agg = Aggregator()
    work = crrtest.tmpdir()
    n = 3000
    path = os.path.join(work, "training_feedback.csv")
    with open(path, "w", newline="") as f:
        f.write("borough,occurred_at,course_id,session_id,trainer_id,staff_group,overall,"
                "relevance,trainer_quality,purpose_explained\n")
        for i in range(n):
            f.write('E09000%03d,2026-02-%02dT10:00:00Z,"C\n%d\n",S,T,1,5,4,3,2\n'
                    % (i % 33 + 1, i % 28 + 1, i % 5))
    cdir = os.path.join(work, "coll")
    c = collector(cdir, agg.ingest, "full", "--spool-size", "64k", "--give-up-after", "120s", path)
    crrtest.wait_until(lambda: "spool full" in c.stderr(), timeout=30, what="spool full message")
    assert c.alive()
    agg.start()
    assert c.wait(120) == 0, c.stderr()[-3000:]
    t = agg.totals("full")
    assert t["applied"] == n and t["appliedSeq"] == n, t
    agg.term()


def check(*args, code):
    r = crrtest.run([crrtest.binary("crrmon-collector"), "--check", *args], env=ENV, check=code)
    return r


def test_check_dry_run_exit_codes_and_report():
    work = crrtest.tmpdir()
    good = write_csv(os.path.join(work, "good.csv"), to_rows(generate(50)))
    r = check(good, code=0)
    assert r.stdout == "file,line,field,value,reason,code\n", r.stdout
    empty = os.path.join(work, "stop_search-empty.csv")
    open(empty, "w").close()
    header_only = os.path.join(work, "stop_search-h.csv")
    with open(header_only, "w") as f:
        f.write("borough,occurred_at,ethnicity,outcome\r\n\r\n")
    check(empty, header_only, code=0)
    bad = os.path.join(work, "stop_search-bad.csv")
    with open(bad, "wb") as f:
        f.write(b"borough,occurred_at,ethnicity,outcome\n"
                b"E09000001,2026-02-01T10:00:00Z,WHITE,ARREST\n"
                b"E09000001,yesterday,WHITE,12\n"            # wrong types: a date, an enum number
                b"E09000001,2026-02-01T10:00:00Z,WH\xffTE,ARREST\n"  # invalid UTF-8
                b'E09000001,2026-02-01T10:00:00Z,"WHITE\n')  # a quote never closed
    jl = os.path.join(work, "x.jsonl")
    with open(jl, "w") as f:
        f.write('{"borough":"X","occurredAt":"2026-02-01T10:00:00Z","attendance":{}}\nnot json\n')
    out = os.path.join(work, "report.csv")
    r = check("--errors", out, bad, jl, code=2)
    assert r.stdout == ""
    rows = read_report(out)
    got = [(os.path.basename(x["file"]), x["line"], x["field"], x["code"]) for x in rows]
    assert got == [
        ("stop_search-bad.csv", "3", "stop_search.outcome", "malformed"),
        ("stop_search-bad.csv", "3", "occurred_at", "malformed"),
        ("stop_search-bad.csv", "4", "stop_search.ethnicity", "malformed"),
        ("stop_search-bad.csv", "5", "", "malformed"),
        ("x.jsonl", "1", "borough", "unknown_borough"),
        ("x.jsonl", "1", "attendance.course_id", "missing_field"),
        ("x.jsonl", "1", "attendance.session_id", "missing_field"),
        ("x.jsonl", "1", "attendance.staff_group", "missing_field"),
        ("x.jsonl", "2", "", "malformed"),
    ], got


LONG_REASON = ("line 4 of the record on lines 3-5 is longer than 256 bytes (collector.max_line): "
               "the whole record is rejected")


def long_line_csv(path, with_bad=True):
    """A good record, a quoted record whose middle line is over 256 bytes (lines
    3-5: without that line, lines 3 and 5 would make a good record), then two
    good records, one of two lines."""
    bad = 'E09000002,2026-02-01T11:00:00Z,"long-1\n' + "y" * 400 + '\n",OTHER\n'
    with open(path, "w", newline="") as f:
        f.write("borough,occurred_at,record_id,category\n"
                "E09000001,2026-02-01T10:00:00Z,ok-1,OTHER\n" + (bad if with_bad else "") +
                "E09000003,2026-02-01T12:00:00Z,ok-2,OTHER\n"
                'E09000004,2026-02-01T13:00:00Z,"ok-3\nsecond",OTHER\n')
    return path


def report_rows(path):
    return [(os.path.basename(r["file"]), r["line"], r["field"], r["value"], r["reason"], r["code"])
            for r in read_report(path)]


def test_long_line_inside_a_record_rejects_it_whole():
    from test_dropfolder import listing, wait_done, watcher
    work = crrtest.tmpdir()
    path = long_line_csv(os.path.join(work, "complaint.csv"))
    good = long_line_csv(os.path.join(work, "complaint-good.csv"), with_bad=False)
    want = [("complaint.csv", "3", "", "", LONG_REASON, "malformed")]
    a, b = Aggregator().start(), Aggregator().start()
    report = os.path.join(work, "errors.csv")
    run(a, os.path.join(work, "ca"), "long", "--collector.max_line=256b", "--errors", report, path,
        code=2)
    run(b, os.path.join(work, "cb"), "good", "--collector.max_line=256b", good)
    ta = a.totals("long")
    assert ta["applied"] == 3 and ta["rejected"] == 0, ta
    assert query_rows(a) == query_rows(b)
    assert report_rows(report) == want, read_report(report)
    r = crrmon("rejects", "--data-dir", os.path.join(work, "ca"), "--json")
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["file"], x["line"], x["code"]) for x in recs] == [(path, 3, "malformed")], recs
    # the dry run says the same
    out = os.path.join(work, "check.csv")
    check("--collector.max_line=256b", "--errors", out, path, code=2)
    assert report_rows(out) == want, read_report(out)
    a.term()
    b.term()
    # and the drop folder's report (a fresh aggregator: the record ids are seen in a)
    a = Aggregator().start()
    folder = os.path.join(work, "drop")
    os.mkdir(folder)
    c = watcher(os.path.join(work, "cd"), a, "drop", folder, "--collector.max_line=256b",
                "--collector.settle_time=1h")
    long_line_csv(os.path.join(folder, ".complaint.csv.tmp"))
    os.rename(os.path.join(folder, ".complaint.csv.tmp"), os.path.join(folder, "complaint.csv"))
    wait_done(folder, ["complaint.csv"], c)
    crrtest.wait_until(lambda: a.totals("drop")["applied"] == 3, what="3 applied")
    assert listing(folder) == ([], ["complaint.csv"], ["complaint.csv.errors.csv"]), listing(folder)
    assert report_rows(os.path.join(folder, "rejected", "complaint.csv.errors.csv")) == want
    assert c.term() == 0, c.stderr()
    a.term()


def test_docs_format_examples_ingest():
    examples = sorted(glob.glob(os.path.join(crrtest.SRC, "docs", "formats", "*.csv")))
    types = ["training_feedback", "learning_assessment", "behaviour_observation", "attendance",
             "training_cost", "staff_headcount", "stop_search", "complaint", "racist_incident",
             "survey_response", "community_engagement"]
    names = [os.path.basename(p) for p in examples]
    assert names == sorted(t + ".csv" for t in types), names
    work = crrtest.tmpdir()
    check(*examples, code=0)
    agg = Aggregator().start()
    run(agg, os.path.join(work, "c"), "docs", *examples)
    want = 0
    for p in examples:
        with open(p, newline="", encoding="utf-8-sig") as f:
            want += len(list(csv.DictReader(f)))
    t = agg.totals("docs")
    assert t["applied"] == want and t["rejected"] == 0, (t, want)
    agg.term()


def big_csv(path, n=40000, bad_every=1000):
    with open(path, "w", newline="") as f:
        f.write("borough,occurred_at,record_id,count\r\n")
        for i in range(n):
            borough = "E09000099" if i % bad_every == 1 else "E09000%03d" % (i % 33 + 1)
            f.write("%s,2026-02-%02dT10:00:00Z,\"big-%d, x\",1\r\n" % (borough, i % 28 + 1, i))
    return path


def test_send_csv_progress_on_a_terminal_only():
    work = crrtest.tmpdir()
    path = big_csv(os.path.join(work, "racist_incident-big.csv"))
    assert os.path.getsize(path) >= 1 << 20
    agg = Aggregator().start()
    base = [crrtest.binary("crrmon"), "send", "--insecure", "--aggregator", agg.ingest]
    # not a terminal: no status line, only the rejects and the summary
    r = crrtest.run(base + ["--source-id", "pipe", path], env=ENV, check=2)
    assert "\r" not in r.stderr and "events/s" not in r.stderr, r.stderr[-500:]
    assert r.stderr.count("(unknown_borough)") == 40, r.stderr[-500:]
    assert "39960 accepted, 0 duplicate, 0 rejected by the aggregator, 40 input lines rejected" \
        in r.stdout, r.stdout
    # a terminal (a pty) on stderr: the status line is drawn
    master, slave = pty.openpty()
    env = dict(os.environ, **ENV)
    p = subprocess.Popen(base + ["--source-id", "tty", path], env=env, stdout=subprocess.PIPE,
                         stderr=slave, text=True)
    os.close(slave)
    chunks = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not b:
                break
            chunks.append(b)
        out, _ = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    tty = b"".join(chunks).decode("utf-8", "replace")
    assert p.returncode == 2, (p.returncode, tty[-500:])
    assert "events/s" in tty and "%" in tty and "rejected" in tty, tty[-500:]
    # every record is a duplicate of the first run's (same record ids)
    assert "0 accepted, 39960 duplicate, 0 rejected by the aggregator, 40 input lines rejected" \
        in out, out
    agg.term()


if __name__ == "__main__":
    crrtest.main()
