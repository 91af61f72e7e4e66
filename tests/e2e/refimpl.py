"""refimpl: an independent reference implementation (oracle) of docs/DOMAIN.md's
indicator catalogue, written from the text of docs/DOMAIN.md alone.

It is deliberately slow and plain: it keeps every applied event in a list and
recomputes each indicator by filtering that list, with no buckets and no
incremental sums, so that it shares no structure with the C engine
(state/indicators.c, state/stats.c), which it checks.

Input: events as dicts in the proto3 JSON mapping as crrmon writes them
(lowerCamelCase or snake_case names, enums by full name or number, uint64 and
int64 possibly as strings, defaults possibly left out, occurredAt RFC 3339),
in ARRIVAL order; the reference CSVs; the windows; the as-of instant T.

Assumptions of the oracle (documented here because docs/DOMAIN.md leaves them to
the clock of a running aggregator):
- every event arrives at NOW, i.e. the aggregator's clock reads NOW while
  it applies them (CRRMON_NOW fixed); NOW is T unless compute() is given
  another (a snapshot as of a past date). So the future/too_old rules compare
  with NOW, `pipeline.events` counts every applied event in the windows that
  contain NOW's day, and `pipeline.last_event_age_seconds` is T - NOW (0 when
  NOW is later);
- the events arrive in list order (first valid copy of a record id wins,
  staff_headcount ties go to the later one);
- "too old" means T - occurred_at > (longest window + 30) days; "future"
  means occurred_at > T + 300 s;
- every borough of the list gets rows (docs/DESIGN.md: "a snapshot is every
  indicator for every borough and London"), also one without any applied
  event: its totals (counts 0 with Byar's interval, shares absent) and no
  dimension rows. compute(..., only_with_data=True) restricts the scopes to
  boroughs with at least one applied event (LONDON always), for a sharded
  deployment's view;
- coverage (domain.md revision 2): the first-seen instant of a (borough,
  type) is the earliest occurred_at of the applied events of that type in
  that borough, in the whole list (the list is everything ever applied). A
  borough covers a window for an indicator when that instant is at or before
  00:00:00 UTC of the window's first day for every source type of the
  indicator (SOURCE_TYPES below). LONDON's rows of an indicator are computed
  as if only its covering boroughs existed (their events, statements and
  population) and carry their number as boroughs_reporting; a borough's rows
  carry 1 or 0. pipeline.* rows: a borough reports when an event arrived in
  the window; LONDON is every borough's events, as before, and reports how
  many boroughs had an arrival. A row reporting 0 is never reliable;
- LONDON's population is the sum over its covering boroughs, known only when
  every one of them has a known population (a partial sum would overstate
  London's rates): one of them missing makes LONDON's rates absent too, as
  it does the borough's own;
- V rows with no `n` in the catalogue (pipeline.last_event_age_seconds) get
  n = 0; a V row is reliable exactly when its value is present, except where
  the catalogue says otherwise (survey.victim_suspect_gap);
- an R row is reliable when its count is >= 10 and its value is present.

Output: compute() returns {key: row}, key = (indicator, borough, window_days,
tuple(sorted(dims.items()))), row = dict(value, n, n_eff, ci_low, ci_high,
reliable, boroughs_reporting) with None for an absent wrapper.
"""
import csv
import math
import re

Z = 1.959963984540054
FUTURE_SLACK_SEC = 300
DAY = 86400

# ------------------------------------------------------------------ enums
# Short names in number order from 1 (docs/DOMAIN.md); OfficerEthnicity has IC9 = 9.
ENUMS = {
    "StaffGroup": ("STAFF_GROUP", ["OPERATIONAL", "ADMINISTRATIVE", "SUPERVISOR", "SENIOR_MANAGER"]),
    "ObserverRole": ("OBSERVER_ROLE", ["SUPERVISOR", "PEER", "QUALITY_ASSURANCE", "COMMUNITY"]),
    "CostCategory": ("COST_CATEGORY", ["DESIGN", "DELIVERY", "TRAINER", "VENUE", "BACKFILL", "MATERIALS", "OTHER"]),
    "Ethnicity": ("ETHNICITY", ["WHITE", "MIXED", "ASIAN", "BLACK", "OTHER", "NOT_STATED"]),
    "OfficerEthnicity": ("OFFICER_ETHNICITY", ["IC1", "IC2", "IC3", "IC4", "IC5", "IC6", None, None, "IC9"]),
    "Legislation": ("LEGISLATION", ["PACE_S1", "MISUSE_OF_DRUGS_S23", "FIREARMS_S47", "CJPOA_S60",
                                    "TERRORISM_S47A", "OTHER"]),
    "Outcome": ("OUTCOME", ["NO_FURTHER_ACTION", "ARREST", "SUMMONS", "CAUTION", "PENALTY_NOTICE",
                            "COMMUNITY_RESOLUTION", "OTHER"]),
    "ComplaintCategory": ("COMPLAINT_CATEGORY", ["DISCRIMINATORY_BEHAVIOUR", "INCIVILITY", "USE_OF_FORCE",
                                                 "STOP_SEARCH_CONDUCT", "OTHER"]),
    "Survey": ("SURVEY", ["PAS", "ALG", "LOCAL"]),
    "Gender": ("GENDER", ["FEMALE", "MALE", "OTHER", "NOT_STATED"]),
    "Answer": ("ANSWER", ["YES", "NO", "DONT_KNOW"]),
    "EngagementFormat": ("ENGAGEMENT_FORMAT", ["INTERFACE_SESSION", "IMMERSION", "FOCUS_GROUP", "OTHER"]),
    "Venue": ("VENUE", ["POLICE_PREMISES", "COMMUNITY_VENUE"]),
}

# Per body type: field -> kind. Kinds: "str", "u32", "i64", "bool", "f64", or an enum name.
# An enum name ending in "?" is optional (0 = not recorded).
BODIES = {
    "training_feedback": dict(course_id="str", session_id="str", trainer_id="str", staff_group="StaffGroup",
                              overall="u32", relevance="u32", trainer_quality="u32", purpose_explained="u32",
                              community_interface="u32", would_recommend="bool"),
    "learning_assessment": dict(course_id="str", participant_ref="str", pre_score="u32", post_score="u32",
                                max_score="u32"),
    "behaviour_observation": dict(officer_ref="str", observer="ObserverRole", items_observed="u32",
                                  items_met="u32", trained="bool"),
    "attendance": dict(course_id="str", session_id="str", staff_group="StaffGroup", booked="u32",
                       attended="u32", senior="u32", mandatory="bool"),
    "training_cost": dict(course_id="str", category="CostCategory", amount_pence="i64"),
    "staff_headcount": dict(staff_group="StaffGroup", headcount="u32", in_scope="u32"),
    "stop_search": dict(count="u32", ethnicity="Ethnicity", sde_code="str", officer_ethnicity="OfficerEthnicity?",
                        legislation="Legislation?", outcome="Outcome", object_found="bool",
                        grounds_reviewed="bool", grounds_satisfactory="bool"),
    "complaint": dict(allegations="u32", category="ComplaintCategory", complainant_ethnicity="Ethnicity?",
                      linked_to_stop_search="bool"),
    "racist_incident": dict(count="u32", recorded_as_crime="bool", victim_ethnicity="Ethnicity?"),
    "survey_response": dict(survey="Survey", ethnicity="Ethnicity", gender="Gender", weight="f64",
                            good_job="u32", treats_everyone_fairly="u32", confident_as_victim="u32",
                            fair_as_suspect="u32", would_report="Answer?"),
    "community_engagement": dict(format="EngagementFormat", venue="Venue", police_participants="u32",
                                 community_participants="u32", pre_briefed="bool", debriefed="bool",
                                 police_rating="u32", community_rating="u32"),
}
SDE_GROUP = {"W": "WHITE", "M": "MIXED", "A": "ASIAN", "B": "BLACK", "O": "OTHER"}
SDE_CODES = "W1 W2 W3 W9 M1 M2 M3 M9 A1 A2 A3 A4 A9 B1 B2 B9 O2 O9 NS".split()


class Reject(Exception):
    """An event the aggregator must reject; args[0] is the reason code."""


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def enum_short(enum, v):
    """Short name of an enum value given by full name or number; None for 0/UNSPECIFIED."""
    prefix, names = ENUMS[enum]
    if v is None or v == 0 or v == f"{prefix}_UNSPECIFIED":
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        if 1 <= v <= len(names) and names[v - 1]:
            return names[v - 1]
        raise Reject("out_of_range")
    if isinstance(v, str) and v.startswith(prefix + "_") and v[len(prefix) + 1:] in names:
        return v[len(prefix) + 1:]
    raise Reject("out_of_range")


_TS = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_time(s):
    """RFC 3339 -> seconds since the epoch (float; exact enough: only days and ordering matter)."""
    m = _TS.match(s)
    if not m:
        raise Reject("malformed")
    y, mo, d, hh, mi, ss = (int(x) for x in m.groups()[:6])
    sec = days_from_civil(y, mo, d) * DAY + hh * 3600 + mi * 60 + ss
    off = m.group(8)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        sec -= sign * (int(off[1:3]) * 3600 + int(off[4:6]) * 60)
    frac = m.group(7)
    return sec + (int(frac[1:]) / 10 ** (len(frac) - 1) if frac else 0.0)


def load_boroughs(path):
    with open(path, newline="") as f:
        return [r["borough_code"] for r in csv.DictReader(f)]


def load_population(path):
    """{borough: {ethnicity: population}} (only boroughs with all five groups)."""
    pop = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            pop.setdefault(r["borough_code"], {})[r["ethnicity"]] = float(r["population"])
    return {b: g for b, g in pop.items() if len(g) == 5}


# ------------------------------------------------------------------ events


def normalize(ev):
    """proto3-JSON dict -> {borough, t, day, record_id, type, b: {field: value}} with defaults filled,
    enums as short names (None = not recorded). Raises Reject for what cannot be read."""
    ev = {snake(k): v for k, v in ev.items()}
    types = [k for k in ev if k in BODIES]
    if len(types) != 1:
        raise Reject("no_body")
    typ = types[0]
    raw = {snake(k): v for k, v in (ev[typ] or {}).items()}
    b = {}
    for field, kind in BODIES[typ].items():
        v = raw.get(field)
        if kind == "str":
            b[field] = v or ""
        elif kind in ("u32", "i64"):
            b[field] = int(v) if v is not None else 0
        elif kind == "bool":
            b[field] = bool(v)
        elif kind == "f64":
            b[field] = float(v) if v is not None else 0.0
        else:
            b[field] = enum_short(kind.rstrip("?"), v)
    if "occurred_at" not in ev or not ev["occurred_at"]:
        raise Reject("missing_field")
    t = parse_time(ev["occurred_at"])
    return dict(borough=ev.get("borough") or "", t=t, day=math.floor(t / DAY), record_id=ev.get("record_id") or "",
                type=typ, b=b)


def validate(e, now, max_age_days, boroughs):
    """Raises Reject(code) when docs/DOMAIN.md says the aggregator rejects e (a normalized event)."""
    if e["borough"] not in boroughs:
        raise Reject("unknown_borough")
    if e["t"] > now + FUTURE_SLACK_SEC:
        raise Reject("future")
    if now - e["t"] > max_age_days * DAY:
        raise Reject("too_old")
    typ, b = e["type"], e["b"]
    for field, kind in BODIES[typ].items():
        if kind == "str" and field != "sde_code" and not b[field]:
            raise Reject("missing_field")
        if kind in ENUMS and b[field] is None:
            raise Reject("missing_field")

    def rng(field, lo, hi):
        if not lo <= b[field] <= hi:
            raise Reject("out_of_range")

    if typ == "training_feedback":
        for f in ("overall", "relevance", "trainer_quality", "purpose_explained"):
            rng(f, 1, 5)
        rng("community_interface", 0, 5)
    elif typ == "learning_assessment":
        rng("max_score", 1, 2 ** 32 - 1)
        rng("pre_score", 0, b["max_score"])
        rng("post_score", 0, b["max_score"])
    elif typ == "behaviour_observation":
        rng("items_observed", 1, 2 ** 32 - 1)
        if b["items_met"] > b["items_observed"]:
            raise Reject("inconsistent")
    elif typ == "attendance":
        if b["attended"] > b["booked"] or b["senior"] > b["attended"]:
            raise Reject("inconsistent")
    elif typ == "training_cost":
        rng("amount_pence", 0, 2 ** 63 - 1)
    elif typ == "staff_headcount":
        if b["in_scope"] > b["headcount"]:
            raise Reject("inconsistent")
    elif typ == "stop_search":
        if b["sde_code"]:
            if b["sde_code"] not in SDE_CODES:
                raise Reject("out_of_range")
            if SDE_GROUP.get(b["sde_code"][0], "NOT_STATED") != b["ethnicity"]:
                raise Reject("inconsistent")
        if b["grounds_satisfactory"] and not b["grounds_reviewed"]:
            raise Reject("inconsistent")
    elif typ == "survey_response":
        if not (b["weight"] >= 0 and math.isfinite(b["weight"])):
            raise Reject("out_of_range")
        for f in ("good_job", "treats_everyone_fairly", "confident_as_victim", "fair_as_suspect"):
            rng(f, 0, 5)
    elif typ == "community_engagement":
        rng("police_rating", 0, 5)
        rng("community_rating", 0, 5)


def apply_events(raw_events, now, windows, boroughs):
    """Arrival order -> the applied events (normalized, with 'seq' = arrival index), and the rejects."""
    max_age = max(windows) + 30
    seen = set()
    applied, rejected = [], []
    for i, raw in enumerate(raw_events):
        try:
            e = normalize(raw)
            validate(e, now, max_age, boroughs)
        except (Reject, ValueError, TypeError) as x:
            rejected.append((i, x.args[0] if isinstance(x, Reject) else "malformed"))
            continue
        if e["record_id"]:
            key = (e["borough"], e["type"], e["record_id"])
            if key in seen:
                rejected.append((i, "duplicate"))
                continue
            seen.add(key)
        # "0 -> 1" defaults
        b = e["b"]
        if e["type"] in ("stop_search", "racist_incident") and b["count"] == 0:
            b["count"] = 1
        if e["type"] == "complaint" and b["allegations"] == 0:
            b["allegations"] = 1
        if e["type"] == "survey_response" and b["weight"] == 0:
            b["weight"] = 1.0
        e["seq"] = i
        applied.append(e)
    return applied, rejected


# ------------------------------------------------------------------ statistics


def byar(a):
    """Byar's approximation to the exact 95% Poisson interval of a count a (lower bound 0 at 0)."""
    lower = 0.0 if a == 0 else a * (1 - 1 / (9 * a) - Z / (3 * math.sqrt(a))) ** 3
    a1 = a + 1
    upper = a1 * (1 - 1 / (9 * a1) + Z / (3 * math.sqrt(a1))) ** 3
    return lower, upper


def wilson(p, n):
    """Wilson score interval of a proportion p observed on n (n may be an effective size)."""
    if not n > 0:
        return None, None
    z2 = Z * Z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return centre - half, centre + half


def row(value, n, lo=None, hi=None, reliable=False, n_eff=None):
    return dict(value=None if value is None else float(value), n=int(n), n_eff=n_eff,
                ci_low=lo, ci_high=hi, reliable=bool(reliable))


def stat_count(a):
    """C: a count with Byar's interval; reliable at >= 10."""
    lo, hi = byar(a)
    return row(a, a, lo, hi, a >= 10)


def stat_prop(x, m):
    """P: x / m with Wilson's interval; n = m; reliable at m >= 50."""
    if m == 0:
        return row(None, 0)
    p = x / m
    lo, hi = wilson(p, m)
    return row(p, m, lo, hi, m >= 50)


def stat_wprop(pairs):
    """W: pairs (weight, positive) of respondents who answered; Wilson on n_eff; reliable at n_eff >= 50 - 1e-9."""
    sw = sum(w for w, _ in pairs)
    if not pairs or sw <= 0:
        return row(None, len(pairs))
    sw2 = sum(w * w for w, _ in pairs)
    p = sum(w for w, y in pairs if y) / sw
    n_eff = sw * sw / sw2
    lo, hi = wilson(p, n_eff)
    return row(p, len(pairs), lo, hi, n_eff >= 50 - 1e-9, n_eff=n_eff)


def stat_mean(xs):
    """M: mean with mean +- z*s/sqrt(n), s the sample sd from sum x and sum x^2 (none when n < 2); reliable at n >= 30."""
    n = len(xs)
    if n == 0:
        return row(None, 0)
    sx = sum(xs)
    sxx = sum(x * x for x in xs)
    mean = sx / n
    if n < 2:
        return row(mean, n, reliable=False)
    s = math.sqrt(max(0.0, (sxx - sx * sx / n) / (n - 1)))
    h = Z * s / math.sqrt(n)
    return row(mean, n, mean - h, mean + h, n >= 30)


def stat_rate(count, base, scale):
    """R: count / base * scale with Byar's interval scaled the same way; None when base is 0 or unknown."""
    if not base:
        return row(None, count)
    lo, hi = byar(count)
    k = scale / base
    return row(count * k, count, lo * k, hi * k, count >= 10)


def stat_rate_ratio(a, pop_a, b, pop_b):
    """RR: (a/pop_a) / (b/pop_b) by the log method, SE = sqrt(1/a + 1/b); n = min(a, b); reliable when both >= 10."""
    n = min(a, b)
    if a == 0 or b == 0 or not pop_a or not pop_b:
        # a = 0: ratio 0 has no log interval; b = 0 (WHITE): absent (docs/DOMAIN.md)
        if b == 0 or not pop_a or not pop_b:
            return row(None, n)
        return row(0.0, n, reliable=False)
    rr = (a / pop_a) / (b / pop_b)
    se = math.sqrt(1 / a + 1 / b)
    return row(rr, n, rr * math.exp(-Z * se), rr * math.exp(Z * se), a >= 10 and b >= 10)


def stat_value(value, n, reliable=None):
    """V: a plain value; reliable when present unless the catalogue says otherwise."""
    return row(value, n, reliable=(value is not None) if reliable is None else reliable)


def ratio(x, m):
    return None if not m else x / m


# ------------------------------------------------------------------ indicators

SURVEY_ITEMS = ("good_job", "treats_everyone_fairly", "confident_as_victim", "fair_as_suspect")


def dim_str(v):
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def compute_scope(out, scope, window, evs, all_scope_evs, pop, in_scope_total, arrival_in_window=True, age=0.0):
    """Every catalogue row (but trainer.flagged) for one scope and window.
    evs: applied events of the scope with occurred day in the window; all_scope_evs: every applied event
    of the scope (pipeline.*, by arrival = NOW, which falls in the window when arrival_in_window; age = T - NOW);
    pop: {ethnicity: residents} or None; in_scope_total: training.coverage's base."""

    def put(ind, r, **dims):
        out[(ind, scope, window, tuple(sorted((k, dim_str(v)) for k, v in dims.items())))] = r

    def of(typ):
        return [e["b"] for e in evs if e["type"] == typ]

    def by(items, field):
        """The values of `field` that occur, in sorted order, each with its items."""
        groups = {}
        for it in items:
            groups.setdefault(it[field], []).append(it)
        return sorted(groups.items(), key=lambda kv: dim_str(kv[0]))

    annual = 365.0 / window

    # training
    att = of("attendance")
    attended = sum(a["attended"] for a in att)
    for dims, items in [({}, att)] + [({"staff_group": g}, it) for g, it in by(att, "staff_group")]:
        put("training.attended", stat_count(sum(a["attended"] for a in items)), **dims)
        put("training.attendance_rate", stat_prop(sum(a["attended"] for a in items),
                                                  sum(a["booked"] for a in items)), **dims)
    put("training.senior_share", stat_prop(sum(a["senior"] for a in att), attended))
    mandatory = sum(a["attended"] for a in att if a["mandatory"])
    put("training.coverage", stat_value(ratio(mandatory, in_scope_total), in_scope_total))

    # feedback and trainers
    fb = of("training_feedback")
    put("feedback.responses", stat_count(len(fb)))
    put("feedback.response_rate", stat_value(ratio(len(fb), attended), attended))
    for dims, items in [({}, fb)] + [({"staff_group": g}, it) for g, it in by(fb, "staff_group")]:
        put("feedback.overall_mean", stat_mean([f["overall"] for f in items]), **dims)
        put("feedback.relevance_positive", stat_prop(sum(f["relevance"] >= 4 for f in items), len(items)), **dims)
    put("feedback.purpose_explained_positive", stat_prop(sum(f["purpose_explained"] >= 4 for f in fb), len(fb)))
    put("feedback.community_interface_mean",
        stat_mean([f["community_interface"] for f in fb if f["community_interface"] > 0]))
    for dims, items in [({}, fb)] + [({"trainer_id": g}, it) for g, it in by(fb, "trainer_id")]:
        put("trainer.quality_mean", stat_mean([f["trainer_quality"] for f in items]), **dims)

    # learning
    la = of("learning_assessment")
    put("learning.assessments", stat_count(len(la)))
    put("learning.mean_gain", stat_mean([(a["post_score"] - a["pre_score"]) / (a["max_score"] - a["pre_score"])
                                         for a in la if a["pre_score"] < a["max_score"]]))
    put("learning.ceiling_excluded", stat_count(sum(a["pre_score"] == a["max_score"] for a in la)))
    put("learning.class_gain", stat_value(ratio(sum(a["post_score"] - a["pre_score"] for a in la),
                                                sum(a["max_score"] - a["pre_score"] for a in la)), len(la)))

    # behaviour
    bo = of("behaviour_observation")
    for dims, items in [({}, bo)] + [({"trained": g}, it) for g, it in by(bo, "trained")]:
        put("behaviour.compliance", stat_prop(sum(o["items_met"] for o in items),
                                              sum(o["items_observed"] for o in items)), **dims)

    # cost
    tc = of("training_cost")
    for dims, items in [({}, tc)] + [({"category": g}, it) for g, it in by(tc, "category")]:
        put("cost.total_pence", stat_value(sum(c["amount_pence"] for c in items), len(items)), **dims)
    put("cost.per_attendee_pence", stat_value(ratio(sum(c["amount_pence"] for c in tc), attended), attended))

    # stop and search
    ss = of("stop_search")
    searches = sum(s["count"] for s in ss)
    by_eth = by(ss, "ethnicity")
    cnt = {g: sum(s["count"] for s in it) for g, it in by_eth}
    total_pop = sum(pop.values()) if pop else None
    for dims, items in [({}, ss)] + [({"ethnicity": g}, it) for g, it in by_eth]:
        c = sum(s["count"] for s in items)
        put("stop_search.count", stat_count(c), **dims)
        put("stop_search.arrest_rate", stat_prop(sum(s["count"] for s in items if s["outcome"] == "ARREST"), c),
            **dims)
        put("stop_search.find_rate", stat_prop(sum(s["count"] for s in items if s["object_found"]), c), **dims)
        g = dims.get("ethnicity")
        if g != "NOT_STATED":
            base = total_pop if g is None else (pop.get(g) if pop else None)
            put("stop_search.rate_per_1000", stat_rate(c, base, 1000.0 * annual), **dims)
        if g in ("BLACK", "ASIAN", "MIXED", "OTHER"):
            put("stop_search.disparity_ratio",
                stat_rate_ratio(c, pop.get(g) if pop else None, cnt.get("WHITE", 0), pop.get("WHITE") if pop else None),
                **dims)
    put("stop_search.ethnicity_recorded", stat_prop(searches - cnt.get("NOT_STATED", 0), searches))
    put("stop_search.grounds_satisfactory",
        stat_prop(sum(s["count"] for s in ss if s["grounds_reviewed"] and s["grounds_satisfactory"]),
                  sum(s["count"] for s in ss if s["grounds_reviewed"])))

    # complaints
    cp = of("complaint")
    alleg = sum(c["allegations"] for c in cp)
    for dims, items in [({}, cp)] + [({"category": g}, it) for g, it in by(cp, "category")]:
        put("complaints.allegations", stat_count(sum(c["allegations"] for c in items)), **dims)
    put("complaints.discrimination_share",
        stat_prop(sum(c["allegations"] for c in cp if c["category"] == "DISCRIMINATORY_BEHAVIOUR"), alleg))
    linked = sum(c["allegations"] for c in cp if c["linked_to_stop_search"])
    r = stat_rate(linked, searches, 1000.0)
    r["n"] = searches  # the catalogue row's own n: searches; reliable on the allegations
    put("complaints.per_1000_searches", r)

    # racist incidents
    ri = of("racist_incident")
    for dims, items in [({}, ri)] + [({"recorded_as_crime": g}, it) for g, it in by(ri, "recorded_as_crime")]:
        put("racist_incidents.count", stat_count(sum(x["count"] for x in items)), **dims)
    put("racist_incidents.per_1000_residents", stat_rate(sum(x["count"] for x in ri), total_pop, 1000.0 * annual))

    # survey
    sv = of("survey_response")
    cells = [({}, sv)] + [({"ethnicity": g}, it) for g, it in by(sv, "ethnicity")]
    eth_cells = list(cells)
    cells += [({"gender": g}, it) for g, it in by(sv, "gender")]
    for g, it in by(sv, "ethnicity"):
        cells += [({"ethnicity": g, "gender": h}, it2) for h, it2 in by(it, "gender")]

    def w_item(items, item):
        return stat_wprop([(s["weight"], s[item] >= 4) for s in items if s[item] > 0])

    for dims, items in cells:
        for item in SURVEY_ITEMS:
            put("survey." + item, w_item(items, item), **dims)
    for dims, items in eth_cells:
        cav, fas = w_item(items, "confident_as_victim"), w_item(items, "fair_as_suspect")
        gap = None if cav["value"] is None or fas["value"] is None else (cav["value"] - fas["value"]) * 100.0
        put("survey.victim_suspect_gap",
            stat_value(gap, min(cav["n"], fas["n"]), gap is not None and cav["reliable"] and fas["reliable"]), **dims)
        put("survey.would_report", stat_wprop([(s["weight"], s["would_report"] == "YES")
                                               for s in items if s["would_report"] is not None]), **dims)

    # engagement
    ce = of("community_engagement")
    for dims, items in [({}, ce)] + [({"format": g}, it) for g, it in by(ce, "format")]:
        put("engagement.sessions", stat_count(len(items)), **dims)
    put("engagement.community_venue_share", stat_prop(sum(c["venue"] == "COMMUNITY_VENUE" for c in ce), len(ce)))
    put("engagement.briefed_share", stat_prop(sum(c["pre_briefed"] and c["debriefed"] for c in ce), len(ce)))

    # pipeline: by arrival time, and every event arrives at NOW (see the module comment)
    arrived = all_scope_evs if arrival_in_window else []
    types = {}
    for e in arrived:
        types[e["type"]] = types.get(e["type"], 0) + 1
    put("pipeline.events", stat_count(len(arrived)))
    for t, c in sorted(types.items()):
        put("pipeline.events", stat_count(c), type=t)
    put("pipeline.last_event_age_seconds", stat_value(max(0.0, age) if all_scope_evs else None, 0))


def latest_in_scope(evs, end_day):
    """Σ over (borough, staff_group) of the latest staff_headcount in_scope with occurred_at up to the end of
    UTC day end_day (tie: the one applied later)."""
    best = {}
    for e in evs:
        if e["type"] != "staff_headcount" or e["day"] > end_day:
            continue
        k = (e["borough"], e["b"]["staff_group"])
        if k not in best or (e["t"], e["seq"]) >= (best[k]["t"], best[k]["seq"]):
            best[k] = e
    return sum(e["b"]["in_scope"] for e in best.values())


# Source types of each indicator family (domain.md "Coverage"), and the four that read a second type.
FAMILY_TYPE = {"training": "attendance", "feedback": "training_feedback", "trainer": "training_feedback",
               "learning": "learning_assessment", "behaviour": "behaviour_observation", "cost": "training_cost",
               "stop_search": "stop_search", "complaints": "complaint", "racist_incidents": "racist_incident",
               "survey": "survey_response", "engagement": "community_engagement"}
SECOND_TYPE = {"training.coverage": "staff_headcount", "feedback.response_rate": "attendance",
               "cost.per_attendee_pence": "attendance", "complaints.per_1000_searches": "stop_search"}


def source_types(indicator):
    """The event types an indicator reads; () for pipeline.* (about arrival, not coverage)."""
    fam = indicator.split(".")[0]
    if fam == "pipeline":
        return ()
    return tuple(sorted({FAMILY_TYPE[fam], SECOND_TYPE.get(indicator, FAMILY_TYPE[fam])}))


def first_seen(applied):
    """{(borough, type): earliest occurred_at} over every applied event."""
    fs = {}
    for e in applied:
        k = (e["borough"], e["type"])
        fs[k] = min(fs.get(k, e["t"]), e["t"])
    return fs


def covering(boroughs, types, fs, start):
    """The boroughs first seen, for every type, at or before the instant start."""
    return [b for b in boroughs if all((b, t) in fs and fs[(b, t)] <= start for t in types)]


def sum_population(population, members):
    """{ethnicity: residents} summed over members, or None when one of them (or all: none) is unknown."""
    if not members or not all(b in population for b in members):
        return None
    pop = {}
    for b in members:
        for k, v in population[b].items():
            pop[k] = pop.get(k, 0.0) + v
    return pop


def compute(raw_events, as_of, windows=(30, 90, 365), boroughs_csv=None, population_csv=None,
            boroughs=None, population=None, only_with_data=False, now=None):
    """Every indicator row. as_of: T as an RFC 3339 string or epoch seconds; raw_events in arrival order;
    now: the aggregator's clock while it applies them (default T). Returns (rows, applied, rejected)."""
    as_of = parse_time(as_of) if isinstance(as_of, str) else float(as_of)
    now = as_of if now is None else (parse_time(now) if isinstance(now, str) else float(now))
    if boroughs is None:
        boroughs = load_boroughs(boroughs_csv)
    if population is None:
        population = load_population(population_csv) if population_csv else {}
    applied, rejected = apply_events(raw_events, now, windows, set(boroughs))
    fs = first_seen(applied)
    end_day = math.floor(as_of / DAY)
    now_day = math.floor(now / DAY)
    age = as_of - now
    by_borough = {b: [e for e in applied if e["borough"] == b] for b in boroughs}
    scopes = sorted({e["borough"] for e in applied} if only_with_data else set(boroughs))
    groups = {}  # source types -> indicator names (LONDON is computed once per group)
    for name in CATALOGUE_NAMES:
        groups.setdefault(source_types(name), []).append(name)
    out = {}
    for w in windows:
        first_day = end_day - w + 1
        start = first_day * DAY
        arrival_in_window = first_day <= now_day <= end_day

        def in_window(evs):
            return [e for e in evs if first_day <= e["day"] <= end_day]

        for b in scopes:
            evs = by_borough[b]
            rows = {}
            compute_scope(rows, b, w, in_window(evs), evs, population.get(b), latest_in_scope(evs, end_day),
                          arrival_in_window, age)
            for k, r in rows.items():
                types = source_types(k[0])
                ok = (bool(evs) and arrival_in_window) if not types else bool(covering([b], types, fs, start))
                out[k] = report(r, 1 if ok else 0)
        for types, names in groups.items():
            if types:
                members = covering(boroughs, types, fs, start)
                reporting = len(members)
            else:  # pipeline.*: every borough's events; reporting = boroughs with an arrival in the window
                members = list(boroughs)
                reporting = sum(1 for b in boroughs if by_borough[b]) if arrival_in_window else 0
            evs = [e for b in members for e in by_borough[b]]
            rows = {}
            compute_scope(rows, "LONDON", w, in_window(evs), evs, sum_population(population, members),
                          latest_in_scope(evs, end_day), arrival_in_window, age)
            for k, r in rows.items():
                if k[0] in names:
                    out[k] = report(r, reporting)
            if "trainer.flagged" in names:
                # LONDON only, per trainer, no total: over the covering boroughs' feedback
                fb = [e["b"] for e in in_window(evs) if e["type"] == "training_feedback"]
                for t in sorted({f["trainer_id"] for f in fb}):
                    m = stat_mean([f["trainer_quality"] for f in fb if f["trainer_id"] == t])
                    flagged = m["n"] >= 20 and m["ci_high"] is not None and m["ci_high"] < 3.0
                    out[("trainer.flagged", "LONDON", w, (("trainer_id", t),))] = report(
                        stat_value(1.0 if flagged else 0.0, m["n"]), reporting)
    return out, applied, rejected


def report(r, reporting):
    """r with its boroughs_reporting; a row that no borough's data covers is never reliable."""
    return dict(r, boroughs_reporting=reporting, reliable=bool(r["reliable"]) and reporting > 0)


CATALOGUE_NAMES = [
    "training.attended", "training.attendance_rate", "training.senior_share", "training.coverage",
    "feedback.responses", "feedback.response_rate", "feedback.overall_mean", "feedback.relevance_positive",
    "feedback.purpose_explained_positive", "feedback.community_interface_mean", "trainer.quality_mean",
    "trainer.flagged", "learning.assessments", "learning.mean_gain", "learning.ceiling_excluded",
    "learning.class_gain", "behaviour.compliance", "cost.total_pence", "cost.per_attendee_pence",
    "stop_search.count", "stop_search.rate_per_1000", "stop_search.disparity_ratio",
    "stop_search.ethnicity_recorded", "stop_search.arrest_rate", "stop_search.find_rate",
    "stop_search.grounds_satisfactory", "complaints.allegations", "complaints.discrimination_share",
    "complaints.per_1000_searches", "racist_incidents.count", "racist_incidents.per_1000_residents",
    "survey.good_job", "survey.treats_everyone_fairly", "survey.confident_as_victim", "survey.fair_as_suspect",
    "survey.victim_suspect_gap", "survey.would_report", "engagement.sessions",
    "engagement.community_venue_share", "engagement.briefed_share", "pipeline.events",
    "pipeline.last_event_age_seconds",
]


def row_key_str(key):
    ind, borough, w, dims = key
    return f"{ind} {borough} {w}d {{{', '.join(f'{k}={v}' for k, v in dims)}}}"
