"""Tests of the oracle itself (refimpl.py): worked examples with published
answers, and the edge cases of docs/DOMAIN.md that the end-to-end comparison
relies on. No process is started: this runs without any C binary."""
import math
import os

import crrtest
import refimpl as R

T = "2026-06-15T12:00:00Z"
DATA = os.path.join(crrtest.SRC, "data")
BOROUGHS = os.path.join(DATA, "london_boroughs.csv")
POPULATION = os.path.join(DATA, "population_ethnicity_census2021.csv")
B1, B2 = "E09000005", "E09000012"


def close(a, b, tol):
    assert a is not None and abs(a - b) <= tol, f"{a} != {b} (tolerance {tol})"


def ev(borough, at, typ, body, record_id=None):
    e = {"borough": borough, "occurredAt": at, typ: body}
    if record_id:
        e["recordId"] = record_id
    return e


def compute(events, windows=(30, 90, 365)):
    rows, _, _ = R.compute(events, T, windows, BOROUGHS, POPULATION)
    return rows


EARLY = "2025-06-01T00:00:00Z"  # before every window of T, inside the 395-day max age


def joined(borough, typ, body):
    """An event before every window: its borough then covers every window for that type."""
    return ev(borough, EARLY, typ, body)


def key(ind, borough, w, **dims):
    return (ind, borough, w, tuple(sorted(dims.items())))


def fb(trainer, quality, staff="STAFF_GROUP_OPERATIONAL"):
    return {"courseId": "C1", "sessionId": "S1", "trainerId": trainer, "staffGroup": staff, "overall": 3,
            "relevance": 4, "trainerQuality": quality, "purposeExplained": 2}


# ---------------------------------------------------------------- published answers


def test_wilson_40_of_50():
    # Wilson score interval for 40/50 (p = 0.8): 0.6696 - 0.8876 (e.g. Newcombe 1998's method 3;
    # epitools / statsmodels proportion_confint(40, 50, method="wilson")).
    r = R.stat_prop(40, 50)
    assert r["value"] == 0.8 and r["n"] == 50 and r["reliable"]
    close(r["ci_low"], 0.6696, 1e-4)
    close(r["ci_high"], 0.8876, 1e-4)


def test_rate_ratio_log_method():
    # 50 events in 10,000 vs 100 in 100,000: RR 5.0, 95% CI 3.6 - 7.0 (log method, SE = sqrt(1/50 + 1/100)).
    r = R.stat_rate_ratio(50, 10000, 100, 100000)
    close(r["value"], 5.0, 1e-12)
    close(r["ci_low"], 3.6, 0.05)
    close(r["ci_high"], 7.0, 0.05)
    close(r["ci_low"], 5.0 * math.exp(-R.Z * math.sqrt(0.03)), 1e-12)
    assert r["n"] == 50 and r["reliable"]


def test_byar_count_10():
    # Byar's approximation for an observed count of 10: 4.787 - 18.392 (exact Poisson: 4.795 - 18.390).
    lo, hi = R.byar(10)
    # (to the published 3 decimals; the formula gives 4.7875 and 18.3915, so allow 1e-3)
    close(lo, 4.787, 1e-3)
    close(hi, 18.392, 1e-3)
    r = R.stat_count(10)
    assert r["reliable"] and not R.stat_count(9)["reliable"]


def test_byar_zero_has_lower_bound_zero():
    lo, hi = R.byar(0)
    assert lo == 0.0
    close(hi, (1 - 1 / 9 + R.Z / 3) ** 3, 1e-12)  # about 3.69


def test_mean_interval_and_small_n():
    r = R.stat_mean([1, 2, 3, 4, 5])
    close(r["value"], 3.0, 1e-12)
    close(r["ci_high"] - r["value"], R.Z * math.sqrt(2.5) / math.sqrt(5), 1e-12)
    one = R.stat_mean([4])
    assert one["value"] == 4.0 and one["ci_low"] is None and one["ci_high"] is None and not one["reliable"]
    assert R.stat_mean([])["value"] is None


# ---------------------------------------------------------------- edge cases


def test_denominator_zero_is_absent():
    assert R.stat_prop(0, 0)["value"] is None and R.stat_prop(0, 0)["ci_low"] is None
    assert R.stat_rate(5, 0, 1000.0)["value"] is None
    assert R.stat_wprop([])["value"] is None and R.stat_wprop([])["n_eff"] is None
    # a borough with feedback but no attendance: response_rate absent, not 0
    rows = compute([ev(B1, "2026-06-10T10:00:00Z", "trainingFeedback", fb("t1", 4))])
    r = rows[key("feedback.response_rate", B1, 30)]
    assert r["value"] is None and r["n"] == 0 and not r["reliable"]
    assert rows[key("training.attendance_rate", B1, 30)]["value"] is None
    assert rows[key("feedback.responses", B1, 30)]["value"] == 1.0


def test_white_zero_makes_rate_ratio_absent():
    e = [ev(B1, "2026-06-10T10:00:00Z", "stopSearch", {"count": 20, "ethnicity": "ETHNICITY_BLACK",
                                                          "outcome": "OUTCOME_ARREST"})]
    rows = compute(e)
    r = rows[key("stop_search.disparity_ratio", B1, 30, ethnicity="BLACK")]
    assert r["value"] is None and r["ci_low"] is None and not r["reliable"]
    assert key("stop_search.disparity_ratio", B1, 30) not in rows  # no total row
    assert key("stop_search.disparity_ratio", B1, 30, ethnicity="WHITE") not in rows
    assert rows[key("stop_search.count", B1, 30)]["value"] == 20.0  # count 20 -> 20 searches


def test_ceiling_excluded_from_mean_gain():
    body = lambda pre, post: {"courseId": "C", "participantRef": f"p{pre}{post}", "preScore": pre,
                              "postScore": post, "maxScore": 10}
    e = [ev(B1, "2026-06-10T10:00:00Z", "learningAssessment", body(10, 10)),
         ev(B1, "2026-06-10T10:00:00Z", "learningAssessment", body(4, 7)),
         ev(B1, "2026-06-10T10:00:00Z", "learningAssessment", body(6, 10))]
    rows = compute(e)
    g = rows[key("learning.mean_gain", B1, 30)]
    assert g["n"] == 2
    close(g["value"], (0.5 + 1.0) / 2, 1e-12)
    assert rows[key("learning.ceiling_excluded", B1, 30)]["value"] == 1.0
    assert rows[key("learning.assessments", B1, 30)]["value"] == 3.0
    cg = rows[key("learning.class_gain", B1, 30)]
    close(cg["value"], (27 - 20) / (30 - 20), 1e-12)
    assert cg["n"] == 3


def test_trainer_in_two_boroughs_flagged_london_wide():
    e = [ev(B1 if i % 2 else B2, "2026-06-10T10:00:00Z", "trainingFeedback", fb("bad", 1 + (i % 3 == 0)))
         for i in range(24)]
    e += [ev(B1, "2026-06-10T10:00:00Z", "trainingFeedback", fb("good", 5)) for _ in range(25)]
    e += [joined(b, "trainingFeedback", fb("old", 3)) for b in (B1, B2)]
    rows = compute(e)
    f = rows[key("trainer.flagged", "LONDON", 30, trainer_id="bad")]
    assert f["value"] == 1.0 and f["n"] == 24 and f["reliable"] and f["ci_low"] is None
    assert rows[key("trainer.flagged", "LONDON", 30, trainer_id="good")]["value"] == 0.0
    assert not any(k[0] == "trainer.flagged" and k[1] != "LONDON" for k in rows)
    assert key("trainer.flagged", "LONDON", 30) not in rows  # no total
    # each borough alone has 12 reviews of "bad": London-wide n is what counts
    assert rows[key("trainer.quality_mean", B1, 30, trainer_id="bad")]["n"] == 12
    assert rows[key("trainer.quality_mean", "LONDON", 30, trainer_id="bad")]["n"] == 24
    # under 20 London-wide: not flagged however bad
    rows = compute(e[:19] + e[-2:])
    assert rows[key("trainer.flagged", "LONDON", 30, trainer_id="bad")]["value"] == 0.0


def survey(n, weight=None, eth="ETHNICITY_BLACK", gender="GENDER_FEMALE"):
    body = {"survey": "SURVEY_PAS", "ethnicity": eth, "gender": gender, "goodJob": 4}
    if weight is not None:
        body["weight"] = weight
    return [ev(B1, "2026-06-10T10:00:00Z", "surveyResponse", dict(body)) for _ in range(n)] + [
        joined(B1, "surveyResponse", dict(body))]


def test_survey_49_vs_50_flips_reliable():
    k = key("survey.good_job", B1, 30, ethnicity="BLACK", gender="FEMALE")
    r49 = compute(survey(49))[k]
    r50 = compute(survey(50))[k]
    assert r49["n"] == 49 and not r49["reliable"]
    assert r50["n"] == 50 and r50["reliable"]
    # weights whose squares do not add up exactly still give n_eff 50 and a reliable row
    r = compute(survey(50, weight=0.7))[k]
    close(r["n_eff"], 50.0, 1e-9)
    assert r["reliable"]


def test_equal_weights_neff_is_n():
    for w in (None, 1.0, 2.5, 0.3):
        r = R.stat_wprop([(1.0 if w is None else w, i % 3 == 0) for i in range(37)])
        close(r["n_eff"], 37.0, 1e-9)
        assert r["n"] == 37
    # unequal weights: n_eff < n
    r = R.stat_wprop([(1.0, True), (3.0, False)])
    close(r["n_eff"], 16 / 10, 1e-12)
    close(r["value"], 0.25, 1e-12)


def test_survey_rows_cells():
    e = survey(3) + survey(2, eth="ETHNICITY_WHITE", gender="GENDER_MALE")
    rows = compute(e)
    survey_keys = {k[3] for k in rows if k[0] == "survey.good_job" and k[1] == B1 and k[2] == 30}
    assert survey_keys == {(), (("ethnicity", "BLACK"),), (("ethnicity", "WHITE"),), (("gender", "FEMALE"),),
                           (("gender", "MALE"),), (("ethnicity", "BLACK"), ("gender", "FEMALE")),
                           (("ethnicity", "WHITE"), ("gender", "MALE"))}, survey_keys
    gap_keys = {k[3] for k in rows if k[0] == "survey.victim_suspect_gap" and k[1] == B1 and k[2] == 30}
    assert gap_keys == {(), (("ethnicity", "BLACK"),), (("ethnicity", "WHITE"),)}
    # nobody answered confident_as_victim: gap absent
    assert rows[key("survey.victim_suspect_gap", B1, 30)]["value"] is None


def test_window_boundary():
    # T = 2026-06-15: the 30-day window is 2026-05-17 .. 2026-06-15
    body = {"count": 1, "ethnicity": "ETHNICITY_WHITE", "outcome": "OUTCOME_ARREST"}
    rows = compute([ev(B1, "2026-05-17T00:00:00Z", "stopSearch", body)])
    assert rows[key("stop_search.count", B1, 30)]["value"] == 1.0
    rows = compute([ev(B1, "2026-05-16T23:59:59Z", "stopSearch", body)])
    assert rows[key("stop_search.count", B1, 30)]["value"] == 0.0
    assert rows[key("stop_search.count", B1, 90)]["value"] == 1.0
    # offsets are converted to UTC first: 2026-05-17T01:00+02:00 is 05-16 23:00 UTC
    rows = compute([ev(B1, "2026-05-17T01:00:00+02:00", "stopSearch", body)])
    assert rows[key("stop_search.count", B1, 30)]["value"] == 0.0


def test_future_and_too_old_rejected():
    body = {"ethnicity": "ETHNICITY_WHITE", "outcome": "OUTCOME_ARREST"}
    e = [ev(B1, "2026-06-15T12:04:59Z", "stopSearch", body),   # within 5 minutes: applied
         ev(B1, "2026-06-15T12:05:01Z", "stopSearch", body),   # future
         ev(B1, "2025-05-15T12:00:00Z", "stopSearch", body),   # 396 days old: too old
         ev(B1, "2025-05-17T12:00:00Z", "stopSearch", body)]   # 394 days: applied, in no window
    rows, applied, rejected = R.compute(e, T, (30, 90, 365), BOROUGHS, POPULATION)
    assert [r[1] for r in rejected] == ["future", "too_old"], rejected
    assert rows[key("stop_search.count", B1, 365)]["value"] == 1.0
    assert rows[key("pipeline.events", B1, 30)]["value"] == 2.0  # by arrival time, all at T


def test_duplicates_first_valid_copy_wins():
    ok = {"ethnicity": "ETHNICITY_WHITE", "outcome": "OUTCOME_ARREST", "count": 2}
    bad = {"ethnicity": "ETHNICITY_WHITE", "sdeCode": "B1", "outcome": "OUTCOME_ARREST", "count": 7}
    e = [ev(B1, "2026-06-10T10:00:00Z", "stopSearch", bad, "r1"),    # rejected: does not reserve r1
         ev(B1, "2026-06-10T10:00:00Z", "stopSearch", ok, "r1"),     # first valid copy
         ev(B1, "2026-06-10T10:00:00Z", "stopSearch", dict(ok, count=5), "r1"),  # duplicate
         ev(B2, "2026-06-10T10:00:00Z", "stopSearch", ok, "r1"),     # other borough: counts
         ev(B1, "2026-06-10T10:00:00Z", "complaint", {"category": "COMPLAINT_CATEGORY_OTHER"}, "r1"),  # other type
         ev(B1, "2026-05-01T00:00:00Z", "stopSearch", ok), ev(B2, "2026-05-01T00:00:00Z", "stopSearch", ok)]
    rows, applied, rejected = R.compute(e, T, (30,), BOROUGHS, POPULATION)
    assert [r[1] for r in rejected] == ["inconsistent", "duplicate"], rejected
    assert rows[key("stop_search.count", B1, 30)]["value"] == 2.0
    assert rows[key("stop_search.count", "LONDON", 30)]["value"] == 4.0
    assert rows[key("complaints.allegations", B1, 30)]["value"] == 1.0  # 0 -> 1


def test_headcount_latest_wins_tie_later_applied():
    hc = lambda n: {"staffGroup": "STAFF_GROUP_OPERATIONAL", "headcount": 1000, "inScope": n}
    att = {"courseId": "C", "sessionId": "S", "staffGroup": "STAFF_GROUP_OPERATIONAL", "booked": 60,
           "attended": 50, "mandatory": True}
    e = [ev(B1, "2026-06-01T00:00:00Z", "staffHeadcount", hc(200)),
         ev(B1, "2026-06-01T00:00:00Z", "staffHeadcount", hc(250)),  # tie: applied later wins
         ev(B1, "2026-05-01T00:00:00Z", "staffHeadcount", hc(999)),  # older, arrives last
         ev(B1, "2025-06-01T00:00:00Z", "staffHeadcount",            # other group, before every window
            {"staffGroup": "STAFF_GROUP_SUPERVISOR", "headcount": 100, "inScope": 50}),
         ev(B1, "2026-06-10T00:00:00Z", "attendance", att),
         joined(B1, "attendance", dict(att, mandatory=False))]
    rows = compute(e)
    c = rows[key("training.coverage", B1, 30)]
    assert c["n"] == 300 and c["reliable"] and c["ci_low"] is None
    close(c["value"], 50 / 300, 1e-12)


def test_rate_per_1000_annualised_and_population():
    pop = R.load_population(POPULATION)[B1]
    e = [ev(B1, "2026-06-10T10:00:00Z", "stopSearch",
            {"count": 12, "ethnicity": "ETHNICITY_BLACK", "outcome": "OUTCOME_ARREST"}),
         ev(B1, "2026-06-10T10:00:00Z", "stopSearch",
            {"count": 3, "ethnicity": "ETHNICITY_NOT_STATED", "outcome": "OUTCOME_ARREST"}),
         joined(B1, "stopSearch", {"ethnicity": "ETHNICITY_WHITE", "outcome": "OUTCOME_ARREST"})]
    rows = compute(e)
    r = rows[key("stop_search.rate_per_1000", B1, 30, ethnicity="BLACK")]
    close(r["value"], 12 / pop["BLACK"] * 1000 * 365 / 30, 1e-12)
    close(r["ci_low"], R.byar(12)[0] / pop["BLACK"] * 1000 * 365 / 30, 1e-12)
    assert r["n"] == 12 and r["reliable"]
    t = rows[key("stop_search.rate_per_1000", B1, 90)]
    close(t["value"], 15 / sum(pop.values()) * 1000 * 365 / 90, 1e-12)
    assert key("stop_search.rate_per_1000", B1, 30, ethnicity="NOT_STATED") not in rows
    assert key("stop_search.count", B1, 30, ethnicity="NOT_STATED") in rows
    close(rows[key("stop_search.ethnicity_recorded", B1, 30)]["value"], 12 / 15, 1e-12)



def test_london_from_covering_boroughs_only():
    """Coverage: three boroughs send stop and search; B1 since a year, B2 since 60 days, B3 since 10.
    LONDON's 30-day rate stands on B1 and B2 (their searches over their population), its 90-day rate
    on B1 alone; B3's rows keep their values but are never reliable."""
    pop = R.load_population(POPULATION)
    B3 = "E09000003"
    s = {"ethnicity": "ETHNICITY_WHITE", "outcome": "OUTCOME_ARREST", "count": 20}
    e = [joined(B1, "stopSearch", s), ev(B2, "2026-04-16T00:00:00Z", "stopSearch", s),
         ev(B3, "2026-06-05T00:00:00Z", "stopSearch", s)]
    e += [ev(b, "2026-06-10T10:00:00Z", "stopSearch", s) for b in (B1, B2, B3)]
    rows = compute(e)
    lon = rows[key("stop_search.rate_per_1000", "LONDON", 30)]
    close(lon["value"], 40 / (sum(pop[B1].values()) + sum(pop[B2].values())) * 1000 * 365 / 30, 1e-12)
    assert lon["boroughs_reporting"] == 2 and lon["reliable"]
    assert rows[key("stop_search.count", "LONDON", 90)]["value"] == 20.0
    assert rows[key("stop_search.count", "LONDON", 90)]["boroughs_reporting"] == 1
    assert rows[key("stop_search.count", "LONDON", 365)]["boroughs_reporting"] == 1
    rows = compute(e[1:])  # without B1: no borough covers 90 days, LONDON's ratios are absent
    assert rows[key("stop_search.count", "LONDON", 90)]["value"] == 0.0
    assert rows[key("stop_search.count", "LONDON", 90)]["boroughs_reporting"] == 0
    assert rows[key("stop_search.rate_per_1000", "LONDON", 90)]["value"] is None
    assert rows[key("stop_search.arrest_rate", "LONDON", 90)]["value"] is None
    b3 = rows[key("stop_search.count", B3, 30)]
    assert b3["value"] == 40.0 and b3["boroughs_reporting"] == 0 and not b3["reliable"]
    assert rows[key("stop_search.count", "E09000004", 30)]["boroughs_reporting"] == 0
    assert rows[key("pipeline.events", "LONDON", 30)]["boroughs_reporting"] == 3


crrtest.main()
