"""test_prune: two simulated years through the test clock; the store stays bounded.

A real crrmon-aggregator is restarted once per simulated month with a fixed
CRRMON_NOW at 23:00 UTC on the month's last day. Each start prunes (the first
prune runs at start-up, then every aggregator.prune_interval); then
`crrmon send` delivers a steady EVENTS_PER_DAY stop_search events for every
day of the month (occurred at 12:00 UTC, each with its own record id).

After each month the test reads GET /api/v1/stats ("store": day-bucket keys,
remembered record ids, pages) and checks, exactly:
- the day buckets of stop_search are the days with data no older than the
  longest window + 30 days (396 days with the default windows, T's day
  included), so they grow for the first ~13 months and then stay flat;
- the record ids likewise (EVENTS_PER_DAY per kept day);
- after month 24 the store's data pages and its file's high-water mark are no
  larger than after month 14, beyond a small tolerance;
- the windows' totals are exact: 30, 90 and 365 days of EVENTS_PER_DAY.

CRR_TEST_SCALE (the sanitizer pass sets 0.2) scales the events per day down.
"""
import calendar
import datetime
import json
import os
import urllib.request

import crrtest

SCALE = float(os.environ.get("CRR_TEST_SCALE", "1"))
EVENTS_PER_DAY = max(1, int(round(6 * SCALE)))
B = "E09000022"
START = datetime.date(2024, 1, 1)
MONTHS = 24
MAX_AGE = 365 + 30
DAY = 86400


def month_days(i):
    """The dates of simulated month i (1-based)."""
    y, m = START.year + (START.month - 1 + i - 1) // 12, (START.month - 1 + i - 1) % 12 + 1
    n = calendar.monthrange(y, m)[1]
    return [datetime.date(y, m, d) for d in range(1, n + 1)]


def iso(d, hh):
    return f"{d.isoformat()}T{hh:02d}:00:00Z"


def day_no(d):
    return (d - datetime.date(1970, 1, 1)).days


def events_for(days):
    lines = []
    for d in days:
        for i in range(EVENTS_PER_DAY):
            lines.append(json.dumps({"borough": B, "occurredAt": iso(d, 12), "recordId": f"ss-{d.isoformat()}-{i}",
                                     "stopSearch": {"ethnicity": "ETHNICITY_WHITE",
                                                    "outcome": "OUTCOME_NO_FURTHER_ACTION"}}))
    return "\n".join(lines) + "\n"


def stats(ep):
    with urllib.request.urlopen(f"http://{ep['http']}/api/v1/stats", timeout=5) as r:
        return json.load(r)


def start(agg_dir, now):
    """crrtest.start_aggregator at CRRMON_NOW=now, waited for until it pruned once at start."""
    agg = crrtest.start_aggregator(agg_dir, env={"CRRMON_NOW": now},
                                   args=["--aggregator.schedules=", "--aggregator.prune_interval=1h",
                                         "--aggregator.map_size=64M"],
                                   ready=lambda ep: stats(ep)["prunes"] >= 1)
    return agg, agg.ep


def test_two_simulated_years_stay_bounded():
    agg_dir = crrtest.tmpdir()
    sent_days = []
    seen = {}
    for month in range(1, MONTHS + 1):
        days = month_days(month)
        now = iso(days[-1], 23)
        agg, ep = start(agg_dir, now)
        r = crrtest.run([crrtest.binary("crrmon"), "send", "--aggregator", ep["ingest"], "--source-id", "steady", "-"],
                        env={"CRRMON_NOW": now}, input=events_for(days), check=0)
        assert f"sent {len(days) * EVENTS_PER_DAY} events" in r.stdout, r.stdout
        sent_days += days
        st = stats(ep)
        assert st["rejected"] == 0 and st["duplicates"] == 0, st
        # exact: the days kept are those with day >= T's day - max age (the prune at start used the same T)
        cutoff = day_no(days[-1]) - MAX_AGE
        kept = [d for d in sent_days if day_no(d) >= cutoff]
        # pipeline buckets are by arrival day: one per start (T's day) still within the max age
        arrivals = [month_days(k)[-1] for k in range(1, month + 1) if day_no(month_days(k)[-1]) >= cutoff]
        assert st["store"]["agg_keys"] == len(kept) + len(arrivals), (month, st["store"], len(kept), len(arrivals))
        assert st["store"]["record_ids"] == len(kept) * EVENTS_PER_DAY, (month, st["store"])
        seen[month] = st["store"]
        # the windows' totals are exact: every day of every window has its events
        q = crrtest.run([crrtest.binary("crrmon"), "query", "--data-dir", agg_dir, "--json", "--borough", B,
                         "--indicator", "stop_search.count"], env={"CRRMON_NOW": now}, check=0)
        totals = {(x["windowDays"]): x["value"] for x in map(json.loads, q.stdout.splitlines()) if not x["dims"]}
        for w in (30, 90, 365):
            want = min(w, len(sent_days)) * EVENTS_PER_DAY
            assert totals[w] == want, (month, w, totals, want)
        assert agg.term() == 0
    # growth stops once the oldest buckets fall past the max age (~13 months in)
    assert seen[6]["agg_keys"] < seen[12]["agg_keys"] <= seen[14]["agg_keys"] + 2, seen
    assert abs(seen[24]["agg_keys"] - seen[14]["agg_keys"]) <= 2, (seen[14], seen[24])
    assert seen[24]["record_ids"] == seen[14]["record_ids"], (seen[14], seen[24])
    tolerance = 1.10
    assert seen[24]["pages_used"] <= seen[14]["pages_used"] * tolerance + 4, (seen[14], seen[24])
    # The file's high-water mark also depends on when read transactions (the
    # stats calls, a loaded machine's scheduling) overlap commits: LMDB cannot
    # reuse pages a live reader may see, so the mark drifts more than the live
    # pages do (2 failures in 8 runs at 1.10 under load). Linear growth from
    # month 14 to 24 would be 24/14 = 1.71x; 1.35x still tells it apart.
    assert seen[24]["last_pgno"] <= seen[14]["last_pgno"] * 1.35 + 8, (seen[14], seen[24])


crrtest.main()
