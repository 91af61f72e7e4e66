/* test_indicators: the indicator engine's edge cases (state/indicators over
 * state/store, a real LMDB in a mkdtemp folder), each with exact expected
 * values: a denominator of 0 (absent, never NaN or 0), pre = max in learning
 * (excluded from mean_gain, counted in ceiling_excluded), a trainer seen in
 * two boroughs (flagged London-wide only), a survey cell of 49 vs 50
 * respondents (reliable flips), the window boundary (00:00:00 UTC of the
 * first day inside, 23:59:59 the day before outside), equal weights
 * (n_eff = n); pipeline.last_event_age_seconds with boroughs whose events
 * arrived at three different instants (LONDON = the smallest age, i.e. the
 * latest arrival of any borough); the monthly series (state/series: each calendar
 * month its own window, edges at 00:00:00 of the 1st and 23:59:59 of the last
 * day, across a year's end); and the configuration the store records for the CLI
 * (crr_store_record_config, crr_store_refdata, crr_store_stat). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"
#include "codec.h"
#include "event_fixture.h"
#include "indicators.h"
#include "refdata.h"
#include "series.h"
#include "store.h"
#include "store_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JAN31_SEC 1769817600LL /* 2026-01-31T00:00:00Z: first day of the 30-day window */
#define Z 1.959963984540054

/* ---- fixtures ---------------------------------------------------------- */

/* Each event is one JSON line through the edge (event_fixture.h), from the
 * fixture's source "t". */
static Crrmon__V1__Event *s_from(Crrmon__V1__Event *e)
{
    e->source_id = fx_dup("t");
    return e;
}

static Crrmon__V1__Event *s_search(const char *borough, int64_t at)
{
    char t[40];
    return s_from(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"stopSearch\":{"
                           "\"ethnicity\":\"ETHNICITY_WHITE\","
                           "\"outcome\":\"OUTCOME_NO_FURTHER_ACTION\"}}",
                           borough, fx_time(at, t, sizeof t)));
}

static Crrmon__V1__Event *s_learning(const char *borough, unsigned pre, unsigned post, unsigned max)
{
    char t[40];
    return s_from(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"learningAssessment\":{"
                           "\"courseId\":\"C1\",\"participantRef\":\"P1\",\"preScore\":%u,"
                           "\"postScore\":%u,\"maxScore\":%u}}",
                           borough, fx_time(NOW_SEC - 3600, t, sizeof t), pre, post, max));
}

static Crrmon__V1__Event *s_feedback(const char *borough, const char *trainer, unsigned tq)
{
    char t[40];
    return s_from(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"trainingFeedback\":{"
                           "\"courseId\":\"C1\",\"sessionId\":\"S1\",\"trainerId\":\"%s\","
                           "\"staffGroup\":\"STAFF_GROUP_OPERATIONAL\",\"overall\":3,"
                           "\"relevance\":3,\"purposeExplained\":3,\"trainerQuality\":%u}}",
                           borough, fx_time(NOW_SEC - 3600, t, sizeof t), trainer, tq));
}

static Crrmon__V1__Event *s_attendance(const char *borough, unsigned booked, unsigned attended)
{
    char t[40];
    return s_from(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"attendance\":{"
                           "\"courseId\":\"C1\",\"sessionId\":\"S1\","
                           "\"staffGroup\":\"STAFF_GROUP_OPERATIONAL\",\"booked\":%u,"
                           "\"attended\":%u}}",
                           borough, fx_time(NOW_SEC - 3600, t, sizeof t), booked, attended));
}

static Crrmon__V1__Event *s_survey(const char *borough, double weight, unsigned good_job)
{
    char t[40];
    return s_from(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"surveyResponse\":{"
                           "\"survey\":\"SURVEY_PAS\",\"ethnicity\":\"ETHNICITY_BLACK\","
                           "\"gender\":\"GENDER_FEMALE\",\"weight\":%.17g,\"goodJob\":%u}}",
                           borough, fx_time(NOW_SEC - 3600, t, sizeof t), weight, good_job));
}

/* Applies events (owned, freed) as one batch of the fixture's source; all must apply. */
static void s_apply(fx_t *f, Crrmon__V1__Event **ev, size_t n)
{
    Crrmon__V1__Batch *b = malloc(sizeof *b);
    crrmon__v1__batch__init(b);
    b->source_id = s_dup("t");
    b->epoch = 1;
    b->n_events = n;
    b->events = malloc(n * sizeof *b->events);
    for (size_t i = 0; i < n; i++) {
        ev[i]->seq = f->seq++;
        b->events[i] = ev[i];
    }
    crr_store_job_t j;
    memset(&j, 0, sizeof j);
    j.batch = b;
    assert_int_equal(crr_store_apply(f->s, &j, 1), 0);
    assert_int_equal(j.n_rejected, 0);
    assert_int_equal(j.n_applied, n);
    crr_store_job_reset(&j);
    crr_codec_free(&b->base);
}

/* Moves e to sec (returns e). */
static Crrmon__V1__Event *s_at(Crrmon__V1__Event *e, int64_t sec, int32_t nanos)
{
    e->occurred_at->seconds = sec;
    e->occurred_at->nanos = nanos;
    return e;
}

/* e moved before every window (380 days before NOW, inside the 395-day max
 * age): its borough is then first seen early enough to cover every window. */
static Crrmon__V1__Event *s_early(Crrmon__V1__Event *e)
{
    return s_at(e, NOW_SEC - 380 * 86400LL, 0);
}

static void s_compute(fx_t *f, const char *ind, Crrmon__V1__IndicatorValue ***v, size_t *n)
{
    crr_query_t q = {.as_of_sec = NOW_SEC, .indicator = ind};
    assert_int_equal(crr_indicators_compute(f->s, &q, v, n), 0);
}

/* Asserts a row with no value and no interval (absent, not NaN, not 0). */
static void s_absent(const Crrmon__V1__IndicatorValue *r, uint64_t n)
{
    assert_null(r->value);
    assert_null(r->ci_low);
    assert_null(r->ci_high);
    assert_int_equal(r->n, n);
    assert_false(r->reliable);
}

/* ---- tests ------------------------------------------------------------- */

static void test_denominator_zero_is_absent(void **state)
{
    fx_t *f = *state;
    Crrmon__V1__Event *ev[] = {s_attendance(B1, 0, 0), s_learning(B1, 10, 10, 10)};
    s_apply(f, ev, 2);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f, NULL, &v, &n);
    s_absent(s_must(v, n, "training.attendance_rate", B1, 30, ""), 0); /* 0/0 */
    s_absent(s_must(v, n, "training.attendance_rate", B1, 30, "staff_group=OPERATIONAL"), 0);
    s_absent(s_must(v, n, "training.senior_share", B1, 30, ""), 0);
    s_absent(s_must(v, n, "feedback.response_rate", B1, 30, ""), 0); /* 0 responses / 0 attended */
    s_absent(s_must(v, n, "cost.per_attendee_pence", B1, 30, ""), 0);
    s_absent(s_must(v, n, "learning.class_gain", B1, 30, ""), 1);     /* sum max - sum pre = 0 */
    s_absent(s_must(v, n, "learning.mean_gain", B1, 30, ""), 0);      /* no pre < max */
    s_absent(s_must(v, n, "stop_search.arrest_rate", B2, 30, ""), 0); /* a borough without data */
    s_absent(s_must(v, n, "complaints.per_1000_searches", B2, 30, ""), 0);
    s_absent(s_must(v, n, "stop_search.rate_per_1000", B1, 30, ""), 0); /* no population */
    /* a count over nothing is 0 with Byar's lower bound 0 */
    const Crrmon__V1__IndicatorValue *c = s_must(v, n, "training.attended", B1, 30, "");
    assert_non_null(c->value);
    assert_true(c->value->value == 0 && c->ci_low->value == 0);
    for (size_t i = 0; i < n; i++) {
        if (v[i]->value)
            assert_false(isnan(v[i]->value->value));
        if (v[i]->ci_low)
            assert_false(isnan(v[i]->ci_low->value) || isnan(v[i]->ci_high->value));
    }
    crr_indicators_free(&v, n);
}

static void test_learning_ceiling_excluded(void **state)
{
    fx_t *f = *state;
    /* gains (7-4)/(10-4) = 0.5 and (8-2)/(10-2) = 0.75; pre = max excluded */
    Crrmon__V1__Event *ev[] = {s_learning(B1, 10, 10, 10), s_learning(B1, 4, 7, 10),
                               s_learning(B1, 2, 8, 10), s_early(s_learning(B1, 1, 1, 2))};
    s_apply(f, ev, 4);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f, NULL, &v, &n);
    const Crrmon__V1__IndicatorValue *r = s_must(v, n, "learning.mean_gain", B1, 30, "");
    assert_int_equal(r->n, 2);
    assert_true(fabs(r->value->value - 0.625) < 1e-15);
    /* s = sqrt(((0.5-0.625)^2 + (0.75-0.625)^2) / 1) = 0.125*sqrt(2); half = z s / sqrt(2) */
    assert_true(fabs(r->ci_low->value - (0.625 - Z * 0.125)) < 1e-12);
    assert_true(fabs(r->ci_high->value - (0.625 + Z * 0.125)) < 1e-12);
    assert_false(r->reliable);
    r = s_must(v, n, "learning.ceiling_excluded", B1, 30, "");
    assert_true(r->value->value == 1 && r->n == 1);
    r = s_must(v, n, "learning.assessments", B1, 30, "");
    assert_true(r->value->value == 3 && r->n == 3);
    r = s_must(v, n, "learning.class_gain", B1, 30, ""); /* (25 - 16) / (30 - 16) */
    assert_true(fabs(r->value->value - 9.0 / 14.0) < 1e-15 && r->n == 3 && r->reliable);
    r = s_must(v, n, "learning.ceiling_excluded", "LONDON", 365, "");
    assert_true(r->value->value == 1);
    crr_indicators_free(&v, n);
}

static void test_trainer_in_two_boroughs_flagged_london_wide(void **state)
{
    fx_t *f = *state;
    /* 12 + 12 reviews of quality 1: under 20 in each borough, 24 London-wide */
    Crrmon__V1__Event *ev[26];
    for (int i = 0; i < 12; i++) {
        ev[i] = s_feedback(B1, "T-X", 1);
        ev[12 + i] = s_feedback(B2, "T-X", 1);
    }
    ev[24] = s_feedback(B1, "T-OK", 5);
    ev[25] = s_feedback(B1, "T-OK", 4);
    s_apply(f, ev, 26);
    Crrmon__V1__Event *early[] = {s_early(s_feedback(B1, "T-OLD", 3)),
                                  s_early(s_feedback(B2, "T-OLD", 3))};
    s_apply(f, early, 2);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f, NULL, &v, &n);
    const Crrmon__V1__IndicatorValue *r =
        s_must(v, n, "trainer.flagged", "LONDON", 30, "trainer_id=T-X");
    assert_true(r->value->value == 1 && r->n == 24 && r->reliable);
    assert_null(r->ci_low);
    r = s_must(v, n, "trainer.flagged", "LONDON", 30, "trainer_id=T-OK");
    assert_true(r->value->value == 0 && r->n == 2);
    assert_null(s_row(v, n, "trainer.flagged", B1, 30, "trainer_id=T-X")); /* LONDON only */
    assert_null(s_row(v, n, "trainer.flagged", B2, 30, "trainer_id=T-X"));
    assert_null(s_row(v, n, "trainer.flagged", "LONDON", 30, "")); /* no total */
    r = s_must(v, n, "trainer.quality_mean", B1, 30, "trainer_id=T-X");
    assert_true(r->value->value == 1 && r->n == 12 && r->ci_low->value == 1 &&
                r->ci_high->value == 1);
    r = s_must(v, n, "trainer.quality_mean", "LONDON", 30, "trainer_id=T-X");
    assert_true(r->value->value == 1 && r->n == 24);
    crr_indicators_free(&v, n);
}

static void test_survey_49_vs_50_and_equal_weights(void **state)
{
    fx_t *f = *state;
    /* B1: 49 respondents of weight 1; B2: 50 of weight 0.7 (equal weights: n_eff = n) */
    Crrmon__V1__Event *ev[99];
    for (int i = 0; i < 49; i++)
        ev[i] = s_survey(B1, 1.0, 5);
    for (int i = 0; i < 50; i++)
        ev[49 + i] = s_survey(B2, 0.7, 4);
    s_apply(f, ev, 99);
    Crrmon__V1__Event *early[] = {s_early(s_survey(B1, 1, 1)), s_early(s_survey(B2, 1, 1))};
    s_apply(f, early, 2);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f, "survey.good_job", &v, &n);
    const char *cells[] = {"", "ethnicity=BLACK", "gender=FEMALE", "ethnicity=BLACK,gender=FEMALE"};
    for (size_t k = 0; k < 4; k++) {
        const Crrmon__V1__IndicatorValue *r = s_must(v, n, "survey.good_job", B1, 30, cells[k]);
        assert_int_equal(r->n, 49);
        assert_true(r->n_eff && r->n_eff->value == 49);
        assert_false(r->reliable);
        assert_true(r->value->value == 1);
        /* Wilson at p = 1: low = 1 / (1 + z^2/n), high = 1 */
        assert_true(fabs(r->ci_low->value - 1 / (1 + Z * Z / 49)) < 1e-12);
        assert_true(fabs(r->ci_high->value - 1) < 1e-12);
        r = s_must(v, n, "survey.good_job", B2, 30, cells[k]);
        assert_int_equal(r->n, 50);
        assert_true(fabs(r->n_eff->value - 50) < 1e-9);
        assert_true(r->reliable);
        assert_true(fabs(r->ci_low->value - 1 / (1 + Z * Z / 50)) < 1e-9);
    }
    /* LONDON: 99 respondents, weights 1 and 0.7: n_eff = (49 + 35)^2 / (49 + 24.5) */
    const Crrmon__V1__IndicatorValue *r = s_must(v, n, "survey.good_job", "LONDON", 30, "");
    assert_int_equal(r->n, 99);
    assert_true(fabs(r->n_eff->value - 84.0 * 84.0 / 73.5) < 1e-9);
    assert_true(r->reliable);
    crr_indicators_free(&v, n);
}

static void test_window_boundary(void **state)
{
    fx_t *f = *state;
    Crrmon__V1__Event *ev[] = {s_search(B1, JAN31_SEC), s_search(B1, JAN31_SEC - 1),
                               s_search(B1, NOW_SEC)};
    s_apply(f, ev, 3);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f, "stop_search.count", &v, &n);
    /* 30 days as of 2026-03-01: 2026-01-31 00:00:00 is inside, 2026-01-30 23:59:59 is not */
    assert_true(s_must(v, n, "stop_search.count", B1, 30, "")->value->value == 2);
    assert_true(s_must(v, n, "stop_search.count", B1, 90, "")->value->value == 3);
    assert_true(s_must(v, n, "stop_search.count", "LONDON", 30, "")->value->value == 2);
    crr_indicators_free(&v, n);
    /* as of the end of 2026-01-30 (a 1-day window): only the 23:59:59 event */
    unsigned one = 1;
    crr_query_t q = {.as_of_sec = JAN31_SEC - 1,
                     .indicator = "stop_search.count",
                     .windows = &one,
                     .nwindows = 1,
                     .borough = B1};
    assert_int_equal(crr_indicators_compute(f->s, &q, &v, &n), 0);
    assert_true(s_must(v, n, "stop_search.count", B1, 1, "")->value->value == 1);
    assert_int_equal(n, 2); /* the total and WHITE */
    crr_indicators_free(&v, n);
}

/* Coverage (domain "Coverage"): three boroughs at three joining times. B1
 * first seen 100 days ago covers the 30- and 90-day windows; B2 first seen
 * at exactly 00:00:00 of the 30-day window's first day covers it (at or
 * before); B3 first seen half a second later covers nothing. LONDON's count
 * and rate stand on B1 and B2 only, with their population; B3's own rows keep
 * their values but are never reliable. */
static void test_coverage_london_from_covering_boroughs(void **state)
{
    fx_t *f = *state;
    const char *B3 = "E09000003";
    Crrmon__V1__Event *ev[45];
    size_t k = 0;
    ev[k++] = s_at(s_search(B1, 0), NOW_SEC - 100 * 86400LL, 0);
    for (int i = 0; i < 10; i++)
        ev[k++] = s_search(B1, NOW_SEC - 3600);
    ev[k++] = s_at(s_search(B2, 0), JAN31_SEC, 0);
    for (int i = 0; i < 19; i++)
        ev[k++] = s_search(B2, NOW_SEC - 3600);
    ev[k++] = s_at(s_search(B3, 0), JAN31_SEC, 500000000);
    for (int i = 0; i < 13; i++)
        ev[k++] = s_search(B3, NOW_SEC - 3600);
    s_apply(f, ev, k);
    crr_refdata_t *ref = calloc(1, sizeof *ref);
    crr_refdata_clear(ref);
    for (int b = 0; b < 33; b++) {
        ref->have_population[b] = 1;
        for (int e = 1; e <= 5; e++)
            ref->population[b][e] = 1000.0 * (b + 1);
    }
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    crr_query_t q = {.as_of_sec = NOW_SEC, .ref = ref};
    assert_int_equal(crr_indicators_compute(f->s, &q, &v, &n), 0);
    const Crrmon__V1__IndicatorValue *r = s_must(v, n, "stop_search.count", "LONDON", 30, "");
    assert_true(r->value->value == 10 + 20 && r->boroughs_reporting == 2 && r->reliable);
    r = s_must(v, n, "stop_search.count", "LONDON", 30, "ethnicity=WHITE");
    assert_true(r->value->value == 30 && r->boroughs_reporting == 2);
    /* rate: 30 searches over B1's and B2's 5 x 1,000 + 5 x 2,000 residents, annualised */
    r = s_must(v, n, "stop_search.rate_per_1000", "LONDON", 30, "");
    assert_true(fabs(r->value->value - 30.0 / 15000.0 * 1000.0 * 365.0 / 30.0) < 1e-12);
    r = s_must(v, n, "stop_search.rate_per_1000", "LONDON", 30, "ethnicity=WHITE");
    assert_true(fabs(r->value->value - 30.0 / 3000.0 * 1000.0 * 365.0 / 30.0) < 1e-12);
    r = s_must(v, n, "stop_search.count", "LONDON", 90, "");
    assert_true(r->value->value == 10 &&
                r->boroughs_reporting == 1); /* B1 only (its first search is 100 days old) */
    r = s_must(v, n, "stop_search.count", "LONDON", 365, "");
    assert_true(r->value->value == 0 && r->boroughs_reporting == 0 && !r->reliable);
    assert_null(s_row(v, n, "stop_search.count", "LONDON", 365, "ethnicity=WHITE"));
    assert_null(s_must(v, n, "stop_search.arrest_rate", "LONDON", 365, "")->value);
    r = s_must(v, n, "stop_search.count", B1, 30, "");
    assert_true(r->value->value == 10 && r->boroughs_reporting == 1 && r->reliable);
    r = s_must(v, n, "stop_search.count", B2, 30, "");
    assert_true(r->value->value == 20 && r->boroughs_reporting == 1 && r->reliable);
    r = s_must(v, n, "stop_search.count", B3, 30, "");
    assert_true(r->value->value == 14 && r->boroughs_reporting == 0 && !r->reliable);
    r = s_must(v, n, "stop_search.count", B2, 90, "");
    assert_true(r->value->value == 20 && r->boroughs_reporting == 0 && !r->reliable);
    /* a borough that never sent the type: 0 there means no data */
    r = s_must(v, n, "stop_search.count", "E09000004", 30, "");
    assert_true(r->value->value == 0 && r->boroughs_reporting == 0);
    /* another type: nobody covers it; pipeline.* counts arrivals (all today) */
    assert_int_equal(s_must(v, n, "complaints.allegations", "LONDON", 30, "")->boroughs_reporting,
                     0);
    r = s_must(v, n, "complaints.per_1000_searches", "LONDON", 30, ""); /* reads both types */
    assert_true(r->boroughs_reporting == 0 && !r->value && r->n == 0);
    r = s_must(v, n, "pipeline.events", "LONDON", 30, "");
    assert_true(r->value->value == 45 && r->boroughs_reporting == 3);
    assert_int_equal(s_must(v, n, "pipeline.events", B3, 30, "")->boroughs_reporting, 1);
    assert_int_equal(s_must(v, n, "pipeline.events", "E09000004", 30, "")->boroughs_reporting, 0);
    crr_indicators_free(&v, n);
    free(ref);
}

static void test_recorded_config_and_stat(void **state)
{
    fx_t *f = *state;
    crr_store_close(&f->s);
    unsigned w[] = {7, 45};
    crr_store_opts_t o = {.windows = w, .nwindows = 2};
    assert_int_equal(crr_store_open(f->dir, &o, &f->s), 0);
    assert_null(crr_store_refdata(f->s));
    crr_refdata_t *ref = calloc(1, sizeof *ref);
    crr_refdata_clear(ref);
    ref->have_population[0] = 1;
    for (int e = 1; e <= 5; e++)
        ref->population[0][e] = 1000.5 * e;
    ref->have_borough[0] = 1;
    strcpy(ref->borough_name[0], "City of London");
    assert_int_equal(crr_store_record_config(f->s, ref), 0);
    assert_memory_equal(crr_store_refdata(f->s), ref, sizeof *ref);
    Crrmon__V1__Event *ev[] = {s_search(B1, NOW_SEC - 60), s_search(B1, NOW_SEC - 86400)};
    s_apply(f, ev, 2);
    crr_store_stat_t st;
    assert_int_equal(crr_store_stat(f->s, &st), 0);
    assert_int_equal(st.agg_keys, 3); /* two occurred days + one pipeline arrival day */
    assert_int_equal(st.record_ids, 0);
    assert_true(st.pages_used > 0 && st.page_size >= 4096 && st.last_pgno > 0);
    crr_store_close(&f->s);

    /* a read-only open (the CLI) takes what was recorded */
    crr_store_opts_t ro = {.readonly = 1};
    assert_int_equal(crr_store_open(f->dir, &ro, &f->s), 0);
    size_t nw;
    const unsigned *got = crr_store_windows(f->s, &nw);
    assert_int_equal(nw, 2);
    assert_true(got[0] == 7 && got[1] == 45);
    assert_int_equal(crr_store_max_age_days(f->s), 75);
    assert_memory_equal(crr_store_refdata(f->s), ref, sizeof *ref);
    assert_int_equal(crr_store_record_config(f->s, NULL), CRR_EINVAL);
    crr_store_close(&f->s);

    /* recording "no reference data" replaces it */
    assert_int_equal(crr_store_open(f->dir, &o, &f->s), 0);
    assert_non_null(crr_store_refdata(f->s));
    assert_int_equal(crr_store_record_config(f->s, NULL), 0);
    assert_null(crr_store_refdata(f->s));
    free(ref);
}

/* Applies e with the clock (CRRMON_NOW) at arrival: the store stamps the
 * arrival instant from it. */
static void s_apply_arrived_at(fx_t *f, Crrmon__V1__Event *e, const char *arrival)
{
    setenv("CRRMON_NOW", arrival, 1);
    crr_clock_reset();
    s_apply(f, &e, 1);
    setenv("CRRMON_NOW", NOW_TEXT, 1);
    crr_clock_reset();
}

/* pipeline.last_event_age_seconds: three boroughs, three arrival instants,
 * the latest in the middle borough (neither the first nor the last code),
 * so LONDON taken from the oldest arrival, the first borough or the last
 * borough all give another number than the right one (the smallest age). */
static void test_last_event_age_london_is_the_smallest(void **state)
{
    fx_t *f = *state;
    const char *B15 = "E09000015", *B33 = "E09000033";
    s_apply_arrived_at(f, s_search(B1, NOW_SEC - 7200), "2026-03-01T11:10:00Z");  /* age 3000 */
    s_apply_arrived_at(f, s_search(B15, NOW_SEC - 7200), "2026-03-01T11:43:20Z"); /* age 1000 */
    s_apply_arrived_at(f, s_search(B33, NOW_SEC - 7200), "2026-03-01T11:26:40Z"); /* age 2000 */
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f, "pipeline.last_event_age_seconds", &v, &n);
    const char *ind = "pipeline.last_event_age_seconds";
    assert_true(s_must(v, n, ind, B1, 30, "")->value->value == 3000);
    assert_true(s_must(v, n, ind, B15, 30, "")->value->value == 1000);
    assert_true(s_must(v, n, ind, B33, 30, "")->value->value == 2000);
    for (unsigned i = 0; i < 3; i++) {
        unsigned w = (unsigned[]){30, 90, 365}[i];
        assert_true(s_must(v, n, ind, "LONDON", w, "")->value->value == 1000);
    }
    /* a borough with no event has no age */
    const Crrmon__V1__IndicatorValue *r = s_row(v, n, ind, B2, 30, "");
    assert_true(r == NULL || r->value == NULL);
    crr_indicators_free(&v, n);
}

/* crr_series_monthly as of 2026-03-01T12:00:00Z: April 2025 .. March 2026,
 * one stop search on each side of three month edges (a year's end among
 * them) and one just before the first month: each month counts its own. */
static void test_series_monthly(void **state)
{
    fx_t *f = *state;
    const int64_t MAR1 = NOW_SEC - 12 * 3600, FEB1 = MAR1 - 28 * 86400, JAN1 = FEB1 - 31 * 86400;
    const int64_t APR1_2025 = JAN1 - 275 * 86400; /* Apr 30 + ... + Dec 31 days */
    Crrmon__V1__Event *ev[] = {s_search(B1, MAR1),          s_search(B1, MAR1 - 1),
                               s_search(B1, MAR1 + 3600),   s_search(B1, JAN1),
                               s_search(B1, JAN1 - 1),      s_search(B1, APR1_2025),
                               s_search(B1, APR1_2025 - 1), s_search(B2, FEB1)};
    s_apply(f, ev, 8);
    crr_series_month_t m[CRR_SERIES_MONTHS];
    assert_int_equal(crr_series_monthly(f->s, NULL, "stop_search.count", B1, NOW_SEC, m), 0);
    static const int want[CRR_SERIES_MONTHS] = {1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2};
    for (int i = 0; i < CRR_SERIES_MONTHS; i++) {
        assert_int_equal(m[i].year * 100 + m[i].month, i < 9 ? 202504 + i : 202601 + i - 9);
        assert_true(m[i].kept && m[i].have_value);
        assert_true(m[i].value == want[i]);
        assert_int_equal(m[i].n, want[i]);
    }
    assert_int_equal(crr_series_monthly(f->s, NULL, "stop_search.count", "LONDON", NOW_SEC, m), 0);
    /* February: B1's 23:59:59 on the 28th and B2's at 00:00:00 on the 1st (B2 covers from then) */
    assert_true(m[9].value == 1 && m[10].value == 2 && m[11].value == 2);
    assert_int_equal(crr_series_monthly(f->s, NULL, "nope", B1, NOW_SEC, m), CRR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_denominator_zero_is_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_learning_ceiling_excluded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trainer_in_two_boroughs_flagged_london_wide, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_survey_49_vs_50_and_equal_weights, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_series_monthly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coverage_london_from_covering_boroughs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_recorded_config_and_stat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_event_age_london_is_the_smallest, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
