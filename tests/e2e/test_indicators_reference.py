"""End-to-end comparison of the C indicator engine with the oracle (refimpl.py).

Builds a deterministic dataset (several boroughs, all eleven event types,
survey weights, late events, duplicate record ids, events that must be
rejected, staff_headcount statements out of order, boroughs that joined
during the windows or never sent some types, so that coverage differs per
indicator and window), feeds it to a real
aggregator whose clock stands still at T (CRRMON_NOW), takes a snapshot over
HTTP, reads the JSONL snapshot file and compares every row and every field
with refimpl.compute(): the same set of rows (key = indicator, borough,
window, sorted dims), numbers equal to 1e-9 relative, flags and
boroughs_reporting equal.

On a difference the test prints, per indicator, how many rows match, which
are missing or extra, and a sample of differing fields, then fails.
CRR_REF_REPORT=FILE also writes that report to FILE.
"""
import json
import math
import os
import random
import urllib.error
import urllib.request

import crrtest
import refimpl as R

T = "2026-06-15T12:00:00Z"
T_SEC = R.parse_time(T)
WINDOWS = (30, 90, 365)
DATA = os.path.join(crrtest.SRC, "data")
BOROUGHS_CSV = os.path.join(DATA, "london_boroughs.csv")
POPULATION_CSV = os.path.join(DATA, "population_ethnicity_census2021.csv")
BOROUGHS = ["E09000001", "E09000005", "E09000012", "E09000022", "E09000025", "E09000030"]
LATE = ["E09000014", "E09000017"]  # boroughs that joined during the windows
REL_TOL = 1e-9
ABS_TOL = 1e-12

# ---------------------------------------------------------------- the dataset


def ts(sec):
    """RFC 3339 with Z, milliseconds when not whole (as crrmon writes)."""
    day, rem = divmod(int(sec), R.DAY)
    # civil from days (inverse of days_from_civil)
    z = day + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    y = yoe + era * 400 + (m <= 2)
    ms = int(round((sec - int(sec)) * 1000))
    frac = f".{ms:03d}" if ms else ""
    return f"{y:04d}-{m:02d}-{d:02d}T{rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}{frac}Z"


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


class Gen:
    """Deterministic events in the proto3 JSON mapping (defaults often left out, as json_format does)."""

    def __init__(self, seed):
        self.r = random.Random(seed)
        self.n = 0

    def when(self):
        """occurred_at: mostly recent, some late (months ago), a few outside every window."""
        u = self.r.random()
        if u < 0.55:
            age = self.r.uniform(0, 30)
        elif u < 0.8:
            age = self.r.uniform(30, 90)
        elif u < 0.97:
            age = self.r.uniform(90, 365)
        else:
            age = self.r.uniform(366, 393)
        return T_SEC - age * R.DAY + (self.r.randint(0, 999) / 1000 if self.r.random() < 0.2 else 0)

    def event(self, borough, typ, body, at=None, record_id=None):
        out = {}
        for k, v in body.items():
            if v in (0, False, "", None) and self.r.random() < 0.8:
                continue  # proto3: defaults are usually left out
            out[camel(k)] = v
        e = {"borough": borough, "occurredAt": ts(self.when() if at is None else at), camel(typ): out}
        if record_id is None and self.r.random() < 0.5:
            self.n += 1
            record_id = f"rec-{self.n}"
        if record_id:
            e["recordId"] = record_id
        return e

    def pick(self, enum, weights=None):
        prefix, names = R.ENUMS[enum]
        names = [x for x in names if x]
        return f"{prefix}_{self.r.choices(names, weights)[0]}"

    def body(self, typ, trainer=None):
        r = self.r
        if typ == "training_feedback":
            q = r.choice([1, 1, 2, 2, 3]) if trainer == "T-BAD" else r.randint(1, 5)
            return dict(course_id=f"C{r.randint(1, 4)}", session_id=f"S{r.randint(1, 40)}",
                        trainer_id=trainer or f"T-{r.randint(1, 7)}", staff_group=self.pick("StaffGroup"),
                        overall=r.randint(1, 5), relevance=r.randint(1, 5), trainer_quality=q,
                        purpose_explained=r.randint(1, 5), community_interface=r.randint(0, 5),
                        would_recommend=r.random() < 0.6)
        if typ == "learning_assessment":
            mx = r.choice([10, 20, 25])
            pre = mx if r.random() < 0.1 else r.randint(0, mx)
            return dict(course_id=f"C{r.randint(1, 4)}", participant_ref=f"P{r.randint(1, 10 ** 6)}",
                        pre_score=pre, post_score=r.randint(max(0, pre - 3), mx), max_score=mx)
        if typ == "behaviour_observation":
            obs = r.randint(1, 12)
            return dict(officer_ref=f"O{r.randint(1, 500)}", observer=self.pick("ObserverRole"),
                        items_observed=obs, items_met=r.randint(0, obs), trained=r.random() < 0.6)
        if typ == "attendance":
            booked = r.randint(0, 30)
            att = r.randint(0, booked)
            return dict(course_id=f"C{r.randint(1, 4)}", session_id=f"S{r.randint(1, 40)}",
                        staff_group=self.pick("StaffGroup"), booked=booked, attended=att,
                        senior=r.randint(0, att // 4), mandatory=r.random() < 0.7)
        if typ == "training_cost":
            return dict(course_id=f"C{r.randint(1, 4)}", category=self.pick("CostCategory"),
                        amount_pence=str(r.randint(0, 5_000_000)))  # int64: a string in proto3 JSON
        if typ == "staff_headcount":
            hc = r.randint(50, 3000)
            return dict(staff_group=self.pick("StaffGroup"), headcount=hc, in_scope=r.randint(0, hc))
        if typ == "stop_search":
            eth = self.pick("Ethnicity", [40, 8, 20, 25, 5, 6])
            short = eth[len("ETHNICITY_"):]
            sde = ""
            if r.random() < 0.5:
                sde = r.choice([c for c in R.SDE_CODES if R.SDE_GROUP.get(c[0], "NOT_STATED") == short])
            reviewed = r.random() < 0.4
            return dict(count=r.choice([0, 1, 1, 1, 2, 3]), ethnicity=eth, sde_code=sde,
                        officer_ethnicity=r.choice([0, "OFFICER_ETHNICITY_IC1", "OFFICER_ETHNICITY_IC3",
                                                    "OFFICER_ETHNICITY_IC9"]),
                        legislation=r.choice([0, "LEGISLATION_PACE_S1", "LEGISLATION_MISUSE_OF_DRUGS_S23"]),
                        outcome=self.pick("Outcome", [70, 12, 3, 2, 3, 8, 2]),
                        object_found=r.random() < 0.2, grounds_reviewed=reviewed,
                        grounds_satisfactory=reviewed and r.random() < 0.8)
        if typ == "complaint":
            return dict(allegations=r.choice([0, 1, 1, 2, 4]), category=self.pick("ComplaintCategory"),
                        complainant_ethnicity=r.choice([0, self.pick("Ethnicity")]),
                        linked_to_stop_search=r.random() < 0.4)
        if typ == "racist_incident":
            return dict(count=r.choice([0, 1, 1, 2]), recorded_as_crime=r.random() < 0.6,
                        victim_ethnicity=r.choice([0, self.pick("Ethnicity")]))
        if typ == "survey_response":
            w = r.choice([0, 1.0, round(r.uniform(0.2, 3.0), 4), r.uniform(0.2, 3.0)])
            return dict(survey=self.pick("Survey"), ethnicity=self.pick("Ethnicity", [45, 6, 20, 18, 5, 6]),
                        gender=self.pick("Gender", [48, 48, 2, 2]), weight=w,
                        good_job=r.randint(0, 5), treats_everyone_fairly=r.randint(0, 5),
                        confident_as_victim=r.randint(0, 5), fair_as_suspect=r.randint(0, 5),
                        would_report=r.choice([0, "ANSWER_YES", "ANSWER_YES", "ANSWER_NO", "ANSWER_DONT_KNOW"]))
        if typ == "community_engagement":
            return dict(format=self.pick("EngagementFormat"), venue=self.pick("Venue"),
                        police_participants=r.randint(0, 20), community_participants=r.randint(0, 40),
                        pre_briefed=r.random() < 0.7, debriefed=r.random() < 0.6,
                        police_rating=r.randint(0, 5), community_rating=r.randint(0, 5))
        raise ValueError(typ)


PER_BOROUGH = dict(training_feedback=90, learning_assessment=50, behaviour_observation=40, attendance=40,
                   training_cost=20, stop_search=140, complaint=40, racist_incident=30, survey_response=160,
                   community_engagement=15)


def build_dataset(seed=20260615):
    """The events in arrival order (list of proto3-JSON dicts)."""
    g = Gen(seed)
    r = g.r
    evs = []
    for bi, b in enumerate(BOROUGHS):
        for typ, n in PER_BOROUGH.items():
            # City of London gets a thin sample: small cells, unreliable rows, absent values
            for _ in range(n if bi else max(3, n // 8)):
                evs.append(g.event(b, typ, g.body(typ)))
        # staff_headcount: a few statements per group, out of order, some before every window
        hcs = []
        for grp in ("STAFF_GROUP_OPERATIONAL", "STAFF_GROUP_ADMINISTRATIVE", "STAFF_GROUP_SUPERVISOR"):
            for _ in range(3):
                body = g.body("staff_headcount")
                body["staff_group"] = grp
                hcs.append(g.event(b, "staff_headcount", body, at=T_SEC - r.uniform(0, 390) * R.DAY))
        r.shuffle(hcs)
        evs += hcs
        # a tie on occurred_at: the one applied later wins
        tie = T_SEC - 3 * R.DAY
        for n in (111, 222):
            evs.append(g.event(b, "staff_headcount", dict(staff_group="STAFF_GROUP_SENIOR_MANAGER",
                                                          headcount=500, in_scope=n), at=tie, record_id=""))
    # a trainer with consistently bad reviews, seen in two boroughs (flagged London-wide only)
    for i in range(26):
        body = g.body("training_feedback", trainer="T-BAD")
        evs.append(g.event(BOROUGHS[1 + i % 2], "training_feedback", body, at=T_SEC - r.uniform(0, 29) * R.DAY))
    # coverage: a borough that joined 45 days ago (covers the 30-day window only) and never sent
    # staff_headcount, and one that joined 5 days ago sending two types only (covers nothing)
    for b, since, types in ((LATE[0], 45, list(PER_BOROUGH)), (LATE[1], 5, ["stop_search", "complaint"])):
        for typ in types:
            for _ in range(max(4, PER_BOROUGH[typ] // 4)):
                evs.append(g.event(b, typ, g.body(typ), at=T_SEC - r.uniform(0, since) * R.DAY))
    r.shuffle(evs)  # arrival order is not occurrence order (late events)

    # window edges: 00:00:00 of the 30-day window's first day is in, 23:59:59 the day before is out
    first = (math.floor(T_SEC / R.DAY) - 29) * R.DAY
    for at in (first, first - 1, first - 60 * R.DAY, first - 60 * R.DAY - 1):  # 30- and 90-day edges
        evs.append(g.event(BOROUGHS[2], "stop_search", dict(count=5, ethnicity="ETHNICITY_BLACK",
                                                            outcome="OUTCOME_ARREST"), at=at))
    # near the future limit: T + 4 min is applied (on T's day), T + 10 min is rejected
    evs.append(g.event(BOROUGHS[3], "complaint", dict(allegations=3, category="COMPLAINT_CATEGORY_INCIVILITY"),
                       at=T_SEC + 240))
    evs.append(g.event(BOROUGHS[3], "complaint", dict(allegations=9, category="COMPLAINT_CATEGORY_INCIVILITY"),
                       at=T_SEC + 600))
    # too old (more than 365 + 30 days), and one just inside the limit
    evs.append(g.event(BOROUGHS[4], "racist_incident", dict(count=4), at=T_SEC - 400 * R.DAY))
    evs.append(g.event(BOROUGHS[4], "racist_incident", dict(count=4), at=T_SEC - 394 * R.DAY))
    # a rejected record does not reserve its id: the valid copy that follows counts
    evs.append(g.event(BOROUGHS[1], "attendance", dict(course_id="C1", session_id="SX", booked=5, attended=9,
                                                       staff_group="STAFF_GROUP_OPERATIONAL"),
                       at=T_SEC - R.DAY, record_id="att-x"))
    evs.append(g.event(BOROUGHS[1], "attendance", dict(course_id="C1", session_id="SX", booked=9, attended=9,
                                                       staff_group="STAFF_GROUP_OPERATIONAL", mandatory=True),
                       at=T_SEC - R.DAY, record_id="att-x"))
    # duplicates by record id: a later copy (other content, other time) is not counted again
    with_ids = [e for e in evs if e.get("recordId")]
    for e in r.sample(with_ids, 60):
        d = json.loads(json.dumps(e))
        typ = next(k for k in d if k not in ("borough", "occurredAt", "recordId"))
        body = d[typ]
        for k in ("count", "allegations"):
            if k in R.BODIES[R.snake(typ)]:
                body[k] = 7  # other content: counting the copy (or taking it instead) shows
        d["occurredAt"] = ts(g.when())
        evs.append(d)
    # the same record id in another borough or type is not a duplicate
    evs.append(g.event(BOROUGHS[5], "stop_search", dict(count=2, ethnicity="ETHNICITY_WHITE",
                                                        outcome="OUTCOME_ARREST"), at=T_SEC - 2 * R.DAY,
                       record_id="shared-1"))
    evs.append(g.event(BOROUGHS[4], "stop_search", dict(count=2, ethnicity="ETHNICITY_WHITE",
                                                        outcome="OUTCOME_ARREST"), at=T_SEC - 2 * R.DAY,
                       record_id="shared-1"))
    evs.append(g.event(BOROUGHS[5], "complaint", dict(category="COMPLAINT_CATEGORY_OTHER"), at=T_SEC - 2 * R.DAY,
                       record_id="shared-1"))
    return evs


# ---------------------------------------------------------------- comparison


def read_snapshot(path):
    """(header, {key: row}, duplicate keys) from a JSONL snapshot file."""
    rows, dups = {}, []
    with open(path) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    header = json.loads(lines[0])
    for ln in lines[1:]:
        o = json.loads(ln)
        key = (o["indicator"], o["borough"], int(o.get("windowDays", 0)),
               tuple(sorted((o.get("dims") or {}).items())))
        if key in rows:
            dups.append(key)
        rows[key] = dict(value=o.get("value"), n=int(o.get("n", "0")), n_eff=o.get("nEff"),
                         ci_low=o.get("ciLow"), ci_high=o.get("ciHigh"), reliable=o.get("reliable", False),
                         boroughs_reporting=o.get("boroughsReporting"), raw=o)
    return header, rows, dups


def same_number(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=ABS_TOL)


def diff_row(want, got):
    """The fields that differ, as 'field: want X, got Y' strings."""
    out = []
    for f in ("value", "n_eff", "ci_low", "ci_high"):
        if not same_number(want[f], got[f]):
            out.append(f"{f}: want {want[f]!r}, got {got[f]!r}")
    if want["n"] != got["n"]:
        out.append(f"n: want {want['n']}, got {got['n']}")
    if bool(want["reliable"]) != bool(got["reliable"]):
        out.append(f"reliable: want {want['reliable']}, got {got['reliable']}")
    if want["boroughs_reporting"] != got["boroughs_reporting"]:
        out.append(f"boroughs_reporting: want {want['boroughs_reporting']}, got {got['boroughs_reporting']}")
    return out


def compare(want, got, samples=3):
    """Per-indicator report; returns (report text, {indicator: (ok, missing, extra, differing)})."""
    names = sorted({k[0] for k in want} | {k[0] for k in got})
    summary, lines = {}, []
    for name in names:
        w = {k: v for k, v in want.items() if k[0] == name}
        g = {k: v for k, v in got.items() if k[0] == name}
        missing = sorted(set(w) - set(g), key=str)
        extra = sorted(set(g) - set(w), key=str)
        differing = [(k, diff_row(w[k], g[k])) for k in sorted(set(w) & set(g), key=str)]
        differing = [(k, d) for k, d in differing if d]
        ok = len(set(w) & set(g)) - len(differing)
        summary[name] = (ok, len(missing), len(extra), len(differing))
        status = "MATCH" if not (missing or extra or differing) else "DIFFER"
        lines.append(f"{status:6} {name}: {ok}/{len(w)} rows match, {len(missing)} missing, {len(extra)} extra, "
                     f"{len(differing)} differing")
        for k in missing[:samples]:
            lines.append(f"         missing {R.row_key_str(k)}  want {w[k]}")
        for k in extra[:samples]:
            lines.append(f"         extra   {R.row_key_str(k)}  got {g[k]['raw']}")
        for k, d in differing[:samples]:
            lines.append(f"         differ  {R.row_key_str(k)}: " + "; ".join(d))
    return "\n".join(lines), summary


# ---------------------------------------------------------------- the run


def run_pipeline(events, workdir, windows=WINDOWS, as_of=None, before_stop=None):
    """Feeds events (arrival order) to a real aggregator at CRRMON_NOW=T; returns the snapshot file's path.
    as_of: a date for `crrmon snapshot --as-of` (default: now); before_stop(http_addr) runs last."""
    env = {"CRRMON_NOW": T}
    data_dir = os.path.join(workdir, "agg")
    path = os.path.join(workdir, "events.jsonl")
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    cli = os.path.join(crrtest.BIN, "crrmon")
    if not os.path.exists(cli):
        cli = None  # fall back to crrmon-collector and a plain HTTP POST (same wire and API)
    agg = crrtest.start_aggregator(data_dir, env=env, args=[f"--aggregator.ref_boroughs={BOROUGHS_CSV}",
                                                            f"--aggregator.ref_population={POPULATION_CSV}",
                                                            "--aggregator.windows=" + ",".join(map(str, windows)),
                                                            "--aggregator.schedules="])
    ep = agg.ep
    ingest = ep["ingest"].replace("tcp://*:", "tcp://127.0.0.1:").replace("tcp://0.0.0.0:", "tcp://127.0.0.1:")
    http = ep["http"].replace("http://", "").rstrip("/")
    if cli:
        send = [cli, "send", "--aggregator", ingest, "--source-id", "refimpl", "--quiet", path]
    else:
        send = [crrtest.binary("crrmon-collector"), "--data-dir", os.path.join(workdir, "coll"),
                "--aggregator", ingest, "--source-id", "refimpl", "--give-up-after", "60s", path]
    r = crrtest.run(send, env=env, timeout=300)
    # 2 = some events were rejected (we send some on purpose); all others were acknowledged
    assert r.returncode in (0, 2), f"{send[:2]} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    if cli:
        r = crrtest.run([cli, "snapshot", "--http", http, "--json", *(["--as-of", as_of] if as_of else [])],
                        env=env, timeout=120, check=0)
        ans = json.loads(r.stdout)
    else:
        req = urllib.request.Request(f"http://{http}/api/v1/snapshots", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=120) as resp:
            ans = json.loads(resp.read())
    snap = ans["file"]
    if not os.path.isabs(snap):
        for base in (data_dir, os.path.join(data_dir, "snapshots")):
            if os.path.exists(os.path.join(base, snap)):
                snap = os.path.join(base, snap)
                break
    assert os.path.exists(snap), f"snapshot file {snap} not found (answer {ans})"
    if before_stop:
        before_stop(http)
    agg.term()
    return snap


def test_oracle_dataset_is_what_it_says():
    """The dataset exercises what it claims (guards the comparison against a silently weak dataset)."""
    events = build_dataset()
    rows, applied, rejected = R.compute(events, T, WINDOWS, BOROUGHS_CSV, POPULATION_CSV)
    reasons = sorted({x[1] for x in rejected})
    assert reasons == ["duplicate", "future", "inconsistent", "too_old"], reasons
    assert {e["type"] for e in applied} == set(R.BODIES), "every event type is applied"
    assert rows[("trainer.flagged", "LONDON", 30, (("trainer_id", "T-BAD"),))]["value"] == 1.0
    assert any(e["day"] < math.floor(T_SEC / R.DAY) - 364 for e in applied), "events outside every window"
    assert any(r["reliable"] for k, r in rows.items() if k[0] == "survey.good_job" and k[1] != "LONDON")
    assert any(not r["reliable"] for k, r in rows.items() if k[0] == "survey.good_job")
    # coverage differs by indicator and window, and LONDON stands on fewer boroughs than send data
    rep = {w: rows[("stop_search.count", "LONDON", w, ())]["boroughs_reporting"] for w in WINDOWS}
    assert rep[30] > rep[365] and rep[30] < len(BOROUGHS) + len(LATE), rep
    assert rows[("training.coverage", LATE[0], 30, ())]["boroughs_reporting"] == 0
    assert rows[("training.attended", LATE[0], 30, ())]["boroughs_reporting"] == 1
    late = rows[("stop_search.count", LATE[1], 30, ())]
    assert late["boroughs_reporting"] == 0 and late["value"] >= 10 and not late["reliable"], late
    assert rows[("pipeline.events", "LONDON", 30, ())]["boroughs_reporting"] == len(BOROUGHS) + len(LATE)


def write_snapshot(path, rows):
    """rows as a JSONL snapshot, the way the contract says the sink writes them (for the self-test)."""
    with open(path, "w") as f:
        f.write(json.dumps({"id": "self", "asOf": T, "takenAt": T, "schedule": "on-demand"}) + "\n")
        for (ind, b, w, dims), r in rows.items():
            o = {"indicator": ind, "borough": b, "windowDays": w, "dims": dict(dims)}
            for f_, j in (("value", "value"), ("n_eff", "nEff"), ("ci_low", "ciLow"), ("ci_high", "ciHigh")):
                if r[f_] is not None:
                    o[j] = r[f_]
            o["n"] = str(r["n"])
            o["reliable"] = r["reliable"]
            o["boroughsReporting"] = r["boroughs_reporting"]
            f.write(json.dumps(o) + "\n")


def test_comparison_finds_differences():
    """The comparison itself: the oracle against its own rows matches; each kind of difference is reported."""
    want, _, _ = R.compute(build_dataset(), T, WINDOWS, BOROUGHS_CSV, POPULATION_CSV)
    path = os.path.join(crrtest.tmpdir("crrref-"), "self.jsonl")
    write_snapshot(path, want)
    header, got, dups = read_snapshot(path)
    report, summary = compare(want, got)
    assert not dups and all(not (m or x or d) for ok, m, x, d in summary.values()), report
    bad = dict(want)
    k_val = ("stop_search.count", "LONDON", 30, ())
    k_flag = ("survey.good_job", "LONDON", 365, ())
    k_gone = ("learning.mean_gain", "LONDON", 90, ())
    bad[k_val] = dict(want[k_val], value=want[k_val]["value"] * (1 + 1e-8))
    bad[k_flag] = dict(want[k_flag], reliable=not want[k_flag]["reliable"])
    del bad[k_gone]
    k_rep = ("stop_search.count", "LONDON", 90, ())
    bad[k_rep] = dict(want[k_rep], boroughs_reporting=want[k_rep]["boroughs_reporting"] + 1)
    bad[("pipeline.events", "E09000099", 30, ())] = R.report(R.stat_count(1), 1)
    write_snapshot(path, bad)
    _, got, _ = read_snapshot(path)
    report, summary = compare(want, got)
    assert summary["stop_search.count"][3] == 2 and summary["survey.good_job"][3] == 1, report
    assert summary["learning.mean_gain"][1] == 1 and summary["pipeline.events"][2] == 1, report
    assert sum(d for ok, m, x, d in summary.values()) == 3, report
    # within 1e-9 relative is equal
    bad = dict(want)
    bad[k_val] = dict(want[k_val], value=want[k_val]["value"] * (1 + 1e-11))
    write_snapshot(path, bad)
    _, got, _ = read_snapshot(path)
    assert not compare(want, got)[1]["stop_search.count"][3]


def check_engine(events, windows, report_suffix="", as_of=None, before_stop=None):
    """as_of: a past date (YYYY-MM-DD) for the snapshot, the events still arriving at T."""
    t = T if as_of is None else as_of + "T23:59:59Z"
    want, applied, rejected = R.compute(events, t, windows, BOROUGHS_CSV, POPULATION_CSV, now=T)
    snap = run_pipeline(events, crrtest.tmpdir("crrref-"), windows, as_of, before_stop)
    header, got, dups = read_snapshot(snap)
    report, summary = compare(want, got)
    head = [f"windows {windows}: {len(events)} events sent, {len(applied)} applied, {len(rejected)} "
            f"rejected/duplicate; {len(want)} rows expected, {len(got)} rows in {snap}"]
    if dups:
        head.append(f"snapshot repeats {len(dups)} row keys, e.g. {R.row_key_str(dups[0])}")
    got_as_of = header.get("asOf")
    if got_as_of is None or R.parse_time(got_as_of) != R.parse_time(t):
        head.append(f"snapshot asOf {got_as_of!r}, want {t}")
    text = "\n".join(head) + "\n" + report
    print(text, flush=True)
    if os.environ.get("CRR_REF_REPORT"):
        with open(os.environ["CRR_REF_REPORT"] + report_suffix, "w") as f:
            f.write(text + "\n")
    bad = [n for n, (ok, m, x, d) in summary.items() if m or x or d]
    assert not bad and not dups and len(head) == 1, f"{len(bad)} indicators differ from the oracle: {bad}"


def test_engine_matches_oracle():
    check_engine(build_dataset(), WINDOWS)


def test_past_date_snapshot_matches_oracle():
    """A snapshot as of a past date inside the kept range (20 days before T; buckets are kept 395 days,
    so the earliest date for the 365-day window is T's day - 30): recorded with that as_of and its own
    id, computed from every event applied by T (late arrivals included) whose occurred_at falls in the
    windows ending that date; pipeline.* counts arrivals (all at T, outside those windows). Dates the
    buckets cannot serve, or after T, are refused with HTTP 400 naming the earliest date allowed, and by
    `crrmon snapshot --as-of` with exit 64."""
    cli = os.path.join(crrtest.BIN, "crrmon")

    def refusals(http):
        for bad, words in (("2026-05-15", "earliest date allowed is 2026-05-16"),
                           ("2026-06-16", "later than now"), ("2026-06-15T12:00:01Z", "later than now"),
                           ("yesterday", "RFC 3339")):
            req = urllib.request.Request(f"http://{http}/api/v1/snapshots?as_of={bad}", data=b"", method="POST")
            try:
                urllib.request.urlopen(req, timeout=60)
                raise AssertionError(f"as_of={bad} was accepted")
            except urllib.error.HTTPError as e:
                body = json.loads(e.read())
                assert e.code == 400 and words in body["error"], (bad, e.code, body)
        r = crrtest.run([cli, "snapshot", "--http", http, "--as-of", "2026-05-15"], env={"CRRMON_NOW": T})
        assert r.returncode == 64 and "earliest date allowed is 2026-05-16" in r.stderr, (r.returncode, r.stderr)
        r = crrtest.run([cli, "snapshot", "--http", http, "--as-of", "2026-05-16", "--json"], env={"CRRMON_NOW": T})
        ans = json.loads(r.stdout)
        assert r.returncode == 0 and ans["id"].startswith("20260516T235959Z-"), (r.returncode, r.stdout)
        assert ans["as_of"] == "2026-05-16T23:59:59Z", ans

    check_engine(build_dataset(), WINDOWS, ".past", as_of="2026-05-26", before_stop=refusals)


def test_engine_matches_oracle_other_windows():
    """Another seed and other windows: a 1-day window (T's day only), and a longest window of 400 days,
    which moves the too_old limit to 430 days (the 400-day-old event is now applied and counted)."""
    check_engine(build_dataset(seed=7), (1, 7, 400), ".other")


crrtest.main()
