"""test_dedup: record_id de-duplication through a real aggregator and `crrmon send`.

Re-importing yesterday's export, whose records carry their ids, together with
today's new records, counts nothing twice: every indicator equals what a
single import of the distinct records gives; each duplicate is acknowledged
(send exits 0), counted in `crrmon status` (per source and epoch) and in
/api/v1/stats, and NOT stored as a reject. The same id in another borough or
for another event type is a different record (docs/DOMAIN.md: "for the same
borough and type").
"""
import json
import os
import urllib.request

import crrtest

NOW = "2026-03-01T12:00:00Z"
ENV = {"CRRMON_NOW": NOW}


def crrmon(*args, check=None, input=None):
    return crrtest.run([crrtest.binary("crrmon"), *args], env=ENV, check=check, input=input)


def start_aggregator(data_dir):
    agg = crrtest.start_aggregator(data_dir, env=ENV)
    return agg, agg.ep


def search(day, i, borough="E09000022", rid=None):
    return {"borough": borough, "occurredAt": f"2026-02-{day:02d}T10:{i % 60:02d}:00Z",
            "recordId": rid or f"SS-{day}-{i}",
            "stopSearch": {"ethnicity": "ETHNICITY_BLACK", "outcome": "OUTCOME_ARREST" if i % 3 == 0 else
                           "OUTCOME_NO_FURTHER_ACTION"}}


def write(path, events):
    with open(path, "w") as f:
        f.write("".join(json.dumps(e) + "\n" for e in events))


def counts(agg_dir):
    rows = [json.loads(line) for line in crrmon("query", "--data-dir", agg_dir, "--json", "--window", "30d",
                                                 check=0).stdout.splitlines()]
    return {(r["indicator"], r["borough"], tuple(sorted(r["dims"].items()))): (r.get("value"), r["n"])
            for r in rows if not r["indicator"].startswith("pipeline.")}


def test_reimport_of_yesterdays_export_counts_nothing_twice():
    work = crrtest.tmpdir()
    yesterday = [search(27, i) for i in range(40)]
    today = [search(28, i) for i in range(25)]
    y_path, t_path = os.path.join(work, "export-0227.jsonl"), os.path.join(work, "export-0228.jsonl")
    write(y_path, yesterday)
    write(t_path, yesterday + today)  # today's export repeats yesterday's records

    agg_dir = crrtest.tmpdir()
    agg, ep = start_aggregator(agg_dir)
    r = crrmon("send", "--data-dir", agg_dir, "--source-id", "lambeth", y_path, check=0)
    assert "sent 40 events" in r.stdout, r.stdout
    r = crrmon("send", "--data-dir", agg_dir, "--source-id", "lambeth", t_path, check=0)  # exit 0: acknowledged
    assert "sent 65 events" in r.stdout, r.stdout
    got = counts(agg_dir)

    # the same distinct records imported once, into a fresh aggregator
    once_dir = crrtest.tmpdir()
    start_aggregator(once_dir)
    write(os.path.join(work, "once.jsonl"), yesterday + today)
    crrmon("send", "--data-dir", once_dir, "--source-id", "once", os.path.join(work, "once.jsonl"), check=0)
    assert got == counts(once_dir)
    assert got[("stop_search.count", "E09000022", ())] == (65.0, "65")
    # the borough was first seen inside the window: LONDON covers no borough (domain.md "Coverage")
    assert got[("stop_search.count", "LONDON", ())] == (0.0, "0")

    st = [json.loads(line) for line in crrmon("status", "--data-dir", agg_dir, "--json", check=0).stdout.splitlines()]
    assert sorted((s["applied"], s["duplicates"], s["rejected"]) for s in st) == [("25", "40", "0"),
                                                                                    ("40", "0", "0")], st
    table = crrmon("status", "--data-dir", agg_dir, check=0).stdout
    assert "duplicates" in table.splitlines()[0] and " 40 " in table, table
    assert "no rejects" in crrmon("rejects", "--data-dir", agg_dir, check=0).stdout  # not stored as rejects
    with urllib.request.urlopen(f"http://{ep['http']}/api/v1/stats", timeout=5) as resp:
        stats = json.load(resp)
    assert (stats["applied"], stats["duplicates"], stats["rejected"]) == (65, 40, 0), stats
    assert stats["store"]["record_ids"] == 65 and stats["store"]["rejects"] == 0, stats

    # the same id for another borough, or another event type, is another record
    other = [search(28, 0, borough="E09000007", rid="SS-27-0"),
             {"borough": "E09000022", "occurredAt": "2026-02-28T11:00:00Z", "recordId": "SS-27-1",
              "racistIncident": {"recordedAsCrime": True}}]
    write(os.path.join(work, "other.jsonl"), other)
    crrmon("send", "--data-dir", agg_dir, "--source-id", "other", os.path.join(work, "other.jsonl"), check=0)
    got = counts(agg_dir)
    assert got[("stop_search.count", "E09000007", ())] == (1.0, "1")
    assert got[("racist_incidents.count", "E09000022", ())] == (1.0, "1")
    assert got[("stop_search.count", "LONDON", ())] == (0.0, "0")
    assert agg.term() == 0


crrtest.main()
