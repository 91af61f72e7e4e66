/* test_store: state/store and state/indicators against a real LMDB in a
 * mkdtemp folder: sequence rules, duplicates, record ids, rejects, windows,
 * MDB_MAP_FULL, exact indicator values, snapshots, prune, the on-disk format
 * version (a store written before coverage is migrated, a newer one is
 * refused); plus a timing printout of crr_store_apply (not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"
#include "codec.h"
#include "event_fixture.h"
#include "gen.h"
#include "indicators.h"
#include "store.h"
#include "store_fixture.h"
#include "lmdbx.h"
#include "store_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400LL

/* ---- fixtures ---------------------------------------------------------- */

/* The events below are built from one JSON line each through the edge
 * (event_fixture.h); the edge leaves seq to the sender, so it is set here. */
static Crrmon__V1__Event *s_seq(Crrmon__V1__Event *e, uint64_t seq)
{
    e->seq = seq;
    return e;
}

/* ',"recordId":"ID"' or "" (buf: 320 bytes). */
static const char *s_rid(const char *record_id, char *buf, size_t len)
{
    if (!record_id)
        return "";
    snprintf(buf, len, ",\"recordId\":\"%s\"", record_id);
    return buf;
}

static Crrmon__V1__Event *s_search(uint64_t seq, const char *borough, int64_t at,
                                   const char *record_id, int ethnicity, unsigned count)
{
    char t[40], r[320];
    return s_seq(
        fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\"%s,\"stopSearch\":{\"ethnicity\":%d,"
                 "\"outcome\":\"OUTCOME_NO_FURTHER_ACTION\",\"count\":%u}}",
                 borough, fx_time(at, t, sizeof t), s_rid(record_id, r, sizeof r), ethnicity,
                 count),
        seq);
}

/* e with a borough no London borough has: an event the edge rejects
 * (UNKNOWN_BOROUGH), so it is changed by hand after the edge built it, for
 * the tests of the store's own reject. */
static Crrmon__V1__Event *s_unknown_borough(Crrmon__V1__Event *e, const char *borough)
{
    free(e->borough);
    e->borough = s_dup(borough);
    return e;
}

static Crrmon__V1__Event *s_feedback(uint64_t seq, const char *borough, int64_t at, int group,
                                     unsigned overall, const char *trainer)
{
    char t[40];
    return s_seq(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"trainingFeedback\":{"
                          "\"courseId\":\"C1\",\"sessionId\":\"S1\",\"trainerId\":\"%s\","
                          "\"staffGroup\":%d,\"overall\":%u,\"relevance\":%u,"
                          "\"trainerQuality\":%u,\"purposeExplained\":3}}",
                          borough, fx_time(at, t, sizeof t), trainer, group, overall, overall,
                          overall),
                 seq);
}

static Crrmon__V1__Event *s_attendance(uint64_t seq, const char *borough, int64_t at, int group,
                                       unsigned booked, unsigned attended, int mandatory)
{
    char t[40];
    return s_seq(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"attendance\":{"
                          "\"courseId\":\"C1\",\"sessionId\":\"S1\",\"staffGroup\":%d,"
                          "\"booked\":%u,\"attended\":%u,\"mandatory\":%s}}",
                          borough, fx_time(at, t, sizeof t), group, booked, attended,
                          mandatory ? "true" : "false"),
                 seq);
}

static Crrmon__V1__Event *s_headcount(uint64_t seq, const char *borough, int64_t at, int group,
                                      unsigned headcount, unsigned in_scope)
{
    char t[40];
    return s_seq(fx_event("{\"borough\":\"%s\",\"occurredAt\":\"%s\",\"staffHeadcount\":{"
                          "\"staffGroup\":%d,\"headcount\":%u,\"inScope\":%u}}",
                          borough, fx_time(at, t, sizeof t), group, headcount, in_scope),
                 seq);
}

/* A heap batch owning its events (freed with crr_codec_free). */
static Crrmon__V1__Batch *s_batch(const char *src, uint64_t epoch, Crrmon__V1__Event **ev, size_t n)
{
    Crrmon__V1__Batch *b = malloc(sizeof *b);
    crrmon__v1__batch__init(b);
    b->source_id = s_dup(src);
    b->epoch = epoch;
    b->spool_depth = 7;
    b->n_events = n;
    b->events = malloc((n ? n : 1) * sizeof *b->events);
    for (size_t i = 0; i < n; i++) {
        b->events[i] = ev[i];
        b->events[i]->source_id = s_dup(src);
    }
    return b;
}

/* Applies one batch and frees it; fills *j (caller resets). */
static int s_apply1(crr_store_t *s, Crrmon__V1__Batch *b, crr_store_job_t *j)
{
    memset(j, 0, sizeof *j);
    j->batch = b;
    int rc = crr_store_apply(s, j, 1);
    j->batch = NULL;
    crr_codec_free(&b->base);
    return rc;
}

typedef struct src_seen {
    uint64_t epoch, applied_seq, spool_depth, duplicates, applied, resent, totals[3];
    int found;
} src_seen_t;

static int s_src_cb(const crr_source_info_t *i, void *ud)
{
    src_seen_t *x = ud;
    if (strcmp(i->source_id, "src-a") == 0 && i->epoch == x->epoch) {
        x->found = 1;
        x->applied_seq = i->applied_seq;
        x->spool_depth = i->spool_depth;
        x->duplicates = i->duplicates;
        x->applied = i->applied;
        x->resent = i->resent;
    }
    return 0;
}

static src_seen_t s_source(crr_store_t *s, uint64_t epoch)
{
    src_seen_t x = {.epoch = epoch};
    assert_int_equal(crr_store_sources_foreach(s, s_src_cb, &x), 0);
    return x;
}

static double s_value(Crrmon__V1__IndicatorValue **v, size_t n, const char *ind,
                      const char *borough, unsigned window, const char *dims)
{
    const Crrmon__V1__IndicatorValue *r = s_must(v, n, ind, borough, window, dims);
    return r->value ? r->value->value : NAN;
}

static void s_compute(crr_store_t *s, const char *ind, Crrmon__V1__IndicatorValue ***v, size_t *n)
{
    crr_query_t q = {.as_of_sec = NOW_SEC, .indicator = ind};
    assert_int_equal(crr_indicators_compute(s, &q, v, n), 0);
}

/* ---- tests ------------------------------------------------------------- */

static void test_apply_dup_gap_epoch(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[3];
    for (int i = 0; i < 3; i++)
        ev[i] = s_search((uint64_t)i + 1, B1, NOW_SEC - 3600, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 11, ev, 3), &j), 0);
    assert_int_equal(j.n_applied, 3);
    assert_int_equal(j.durable_seq, 3);
    assert_int_equal(j.expected_seq, 0);
    assert_int_equal(j.n_rejected, 0);
    crr_store_job_reset(&j);

    /* the same batch again: acknowledged, counted once (resent, not duplicates:
     * the Ack's totals still say 3 applied, 0 duplicates) */
    for (int i = 0; i < 3; i++)
        ev[i] = s_search((uint64_t)i + 1, B1, NOW_SEC - 3600, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 11, ev, 3), &j), 0);
    assert_int_equal(j.n_applied, 0);
    assert_int_equal(j.n_duplicate, 0);
    assert_int_equal(j.n_resent, 3);
    assert_int_equal(j.durable_seq, 3);
    assert_int_equal(j.total_applied, 3);
    assert_int_equal(j.total_duplicates, 0);
    assert_int_equal(j.total_rejected, 0);
    crr_store_job_reset(&j);

    /* a gap: nothing applied, expected_seq says where to resend from */
    ev[0] = s_search(10, B1, NOW_SEC - 3600, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 11, ev, 1), &j), 0);
    assert_int_equal(j.n_applied, 0);
    assert_int_equal(j.durable_seq, 3);
    assert_int_equal(j.expected_seq, 4);
    crr_store_job_reset(&j);

    /* a new epoch of the same source id starts from 1, separately */
    ev[0] = s_search(1, B1, NOW_SEC - 3600, NULL, 1, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 12, ev, 1), &j), 0);
    assert_int_equal(j.n_applied, 1);
    assert_int_equal(j.durable_seq, 1);
    crr_store_job_reset(&j);

    src_seen_t x = s_source(f->s, 11);
    assert_true(x.found);
    assert_int_equal(x.applied_seq, 3);
    assert_int_equal(x.spool_depth, 7);
    assert_int_equal(x.duplicates, 0);
    assert_int_equal(x.resent, 3);
    assert_int_equal(x.applied, 3);
    assert_int_equal(s_source(f->s, 12).applied_seq, 1);

    /* overlapping batch 3..5 applies only 4 and 5 */
    for (int i = 0; i < 3; i++)
        ev[i] = s_search((uint64_t)i + 3, B1, NOW_SEC - 3600, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 11, ev, 3), &j), 0);
    assert_int_equal(j.n_applied, 2);
    assert_int_equal(j.n_resent, 1);
    assert_int_equal(j.durable_seq, 5);
    crr_store_job_reset(&j);

    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f->s, "stop_search.count", &v, &n);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 30, "") - 6) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 30, "ethnicity=BLACK") - 5) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 30, "ethnicity=WHITE") - 1) < 1e-9);
    assert_null(s_row(v, n, "stop_search.count", B1, 30, "ethnicity=ASIAN"));
    /* coverage: B1 was first seen inside the window, so LONDON stands on no borough */
    assert_true(fabs(s_value(v, n, "stop_search.count", "LONDON", 30, "") - 0) < 1e-9);
    assert_int_equal(s_row(v, n, "stop_search.count", "LONDON", 30, "")->boroughs_reporting, 0);
    assert_int_equal(s_row(v, n, "stop_search.count", B1, 30, "")->boroughs_reporting, 0);
    /* no data: the total row still (every borough), a count of 0, no dimension rows */
    const Crrmon__V1__IndicatorValue *z = s_row(v, n, "stop_search.count", B2, 30, "");
    assert_non_null(z);
    assert_true(z->value && z->value->value == 0 && z->n == 0 && !z->reliable);
    assert_true(z->ci_low && z->ci_low->value == 0);
    assert_null(s_row(v, n, "stop_search.count", B2, 30, "ethnicity=BLACK"));
    crr_indicators_free(&v, n);
    assert_null(v);
}

static void test_two_jobs_same_source_one_call(void **state)
{
    fx_t *f = *state;
    Crrmon__V1__Event *e1[2] = {s_search(1, B1, NOW_SEC, NULL, 4, 2),
                                s_search(2, B1, NOW_SEC, NULL, 4, 0)};
    Crrmon__V1__Event *e2[2] = {s_search(3, B1, NOW_SEC, NULL, 4, 0),
                                s_search(4, B2, NOW_SEC, NULL, 4, 0)};
    crr_store_job_t j[3] = {{.batch = s_batch("src-a", 1, e1, 2)},
                            {.batch = s_batch("src-a", 1, e2, 2)},
                            {.batch = NULL}};
    Crrmon__V1__Event *e3[1] = {s_search(1, B1, NOW_SEC, NULL, 4, 2)};
    j[2].batch = s_batch("src-a", 1, e3, 1); /* stale resend inside the same group */
    assert_int_equal(crr_store_apply(f->s, j, 3), 0);
    assert_int_equal(j[0].durable_seq, 2);
    assert_int_equal(j[1].durable_seq, 4);
    assert_int_equal(j[2].durable_seq, 4);
    assert_int_equal(j[2].n_resent, 1);
    for (int i = 0; i < 3; i++) {
        crr_codec_free((ProtobufCMessage *)j[i].batch);
        crr_store_job_reset(&j[i]);
    }
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f->s, "stop_search.count", &v, &n);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 30, "") - 4) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B2, 30, "") - 1) < 1e-9);
    crr_indicators_free(&v, n);
}

static int s_count_rejects(const char *json, size_t len, void *ud)
{
    (void)len;
    int *c = ud;
    if (strstr(json, "\"code\""))
        (*c)++;
    return 0;
}

static void test_record_id_and_rejects(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[4];
    /* seq 1 rejected (unknown borough) with record R1: does not reserve R1 */
    ev[0] = s_unknown_borough(s_search(1, B1, NOW_SEC, "R1", 4, 0), "E09000099");
    ev[1] = s_search(2, B1, NOW_SEC, "R1", 4, 0);
    ev[2] = s_search(3, B1, NOW_SEC, "R1", 4, 0); /* repeat: duplicate */
    ev[3] = s_search(4, B2, NOW_SEC, "R1", 4, 0); /* other borough: its own id */
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 4), &j), 0);
    assert_int_equal(j.n_applied, 2);
    assert_int_equal(j.n_duplicate, 1);
    assert_int_equal(j.n_rejected, 1);
    assert_int_equal(j.rejected[0]->seq, 1);
    assert_int_equal(j.rejected[0]->code, CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH);
    assert_string_equal(j.rejected[0]->field, "borough");
    assert_int_equal(j.durable_seq, 4); /* rejects advance applied_seq */
    crr_store_job_reset(&j);
    assert_null(j.rejected);

    /* a later batch repeating R1 in B1: duplicate */
    ev[0] = s_search(5, B1, NOW_SEC - DAY, "R1", 1, 0);
    /* a future event: rejected */
    ev[1] = s_search(6, B1, NOW_SEC + 3600, "R2", 1, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 2), &j), 0);
    assert_int_equal(j.n_applied, 0);
    assert_int_equal(j.n_duplicate, 1);
    assert_int_equal(j.n_rejected, 1);
    assert_int_equal(j.rejected[0]->code, CRRMON__V1__REJECT_CODE__REJECT_CODE_FUTURE);
    crr_store_job_reset(&j);

    /* broken sequence inside a batch: 7, 8 applied; 10, 11 rejected; applied stops at 8 */
    ev[0] = s_search(7, B1, NOW_SEC, NULL, 1, 0);
    ev[1] = s_search(8, B1, NOW_SEC, NULL, 1, 0);
    ev[2] = s_search(10, B1, NOW_SEC, NULL, 1, 0);
    ev[3] = s_search(11, B1, NOW_SEC, NULL, 1, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 4), &j), 0);
    assert_int_equal(j.n_applied, 2);
    assert_int_equal(j.n_rejected, 2);
    assert_int_equal(j.rejected[0]->code, CRRMON__V1__REJECT_CODE__REJECT_CODE_BAD_SEQUENCE);
    assert_int_equal(j.rejected[1]->seq, 11);
    assert_int_equal(j.durable_seq, 8);
    crr_store_job_reset(&j);

    int nrej = 0;
    assert_int_equal(crr_store_rejects_foreach(f->s, 0, s_count_rejects, &nrej), 0);
    assert_int_equal(nrej, 4);

    crr_diag_t d;
    crr_diag_clear(&d);
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "", "not a Batch");
    assert_int_equal(crr_store_reject_frame(f->s, &d, NULL, "deadbeef"), 0);
    nrej = 0;
    assert_int_equal(crr_store_rejects_foreach(f->s, 0, s_count_rejects, &nrej), 0);
    assert_int_equal(nrej, 5);

    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f->s, "stop_search.count", &v, &n);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 30, "") - 3) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B2, 30, "") - 1) < 1e-9);
    crr_indicators_free(&v, n);
}

/* The apply reads the stored sums of every bucket a group's valid events
 * will touch before it knows which are duplicates: the buckets of an event
 * skipped as a duplicate (here on days nothing else touched) must not be
 * written, not even as zeros, and the applied ones must be exact. */
static void test_skipped_event_buckets_stay_unwritten(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[3];
    ev[0] = s_search(1, B1, NOW_SEC, "dup-1", 4, 2);
    assert_int_equal(s_apply1(f->s, s_batch("src-pf", 1, ev, 1), &j), 0);
    crr_store_job_reset(&j);
    crr_store_stat_t st0, st1;
    assert_int_equal(crr_store_stat(f->s, &st0), 0);
    /* a duplicate dated 5 days earlier, then a new event on NOW's buckets */
    ev[0] = s_search(2, B1, NOW_SEC - 5 * 86400, "dup-1", 3, 1);
    ev[1] = s_search(3, B1, NOW_SEC, "new-2", 4, 5);
    assert_int_equal(s_apply1(f->s, s_batch("src-pf", 1, ev, 2), &j), 0);
    assert_int_equal(j.n_duplicate, 1);
    assert_int_equal(j.n_applied, 1);
    crr_store_job_reset(&j);
    assert_int_equal(crr_store_stat(f->s, &st1), 0);
    assert_int_equal(st1.agg_keys, st0.agg_keys);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f->s, "stop_search.count", &v, &n);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 30, "") - 7) < 1e-9);
    crr_indicators_free(&v, n);
}

/* As s_apply1, with each event's hash as received (crr_store_job_t.event_hash). */
static int s_apply1h(crr_store_t *s, Crrmon__V1__Batch *b, const uint64_t *h, crr_store_job_t *j)
{
    memset(j, 0, sizeof *j);
    j->batch = b;
    j->event_hash = h;
    int rc = crr_store_apply(s, j, 1);
    j->batch = NULL;
    crr_codec_free(&b->base);
    return rc;
}

/* The resend hash is of the bytes as received (no packing per event); a
 * store written before (hashes of the event packed again) still checks
 * resends, and an event matching either hash passes. */
static void test_resend_hash_as_received(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[3];
    for (int i = 0; i < 3; i++) /* stored as before: packed hashes */
        ev[i] = s_search((uint64_t)i + 1, B1, NOW_SEC, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-h", 5, ev, 3), &j), 0);
    crr_store_job_reset(&j);
    /* the same events in other bytes (another sender's field order), plus a new 4 */
    const uint64_t other[3] = {111, 222, 333};
    for (int i = 0; i < 3; i++)
        ev[i] = s_search((uint64_t)i + 2, B1, NOW_SEC, NULL, 4, 0);
    assert_int_equal(s_apply1h(f->s, s_batch("src-h", 5, ev, 3), other, &j), 0);
    assert_int_equal(j.conflict_seq, 0);
    assert_int_equal(j.n_resent, 2);
    assert_int_equal(j.n_applied, 1);
    crr_store_job_reset(&j);
    /* seq 4 was stored with its received hash: the same bytes pass ... */
    ev[0] = s_search(4, B1, NOW_SEC, NULL, 4, 0);
    assert_int_equal(s_apply1h(f->s, s_batch("src-h", 5, ev, 1), other + 2, &j), 0);
    assert_int_equal(j.conflict_seq, 0);
    assert_int_equal(j.n_resent, 1);
    crr_store_job_reset(&j);
    /* ... other bytes whose packed form is not those bytes either conflict */
    const uint64_t changed = 444;
    ev[0] = s_search(4, B1, NOW_SEC, NULL, 4, 9);
    assert_int_equal(s_apply1h(f->s, s_batch("src-h", 5, ev, 1), &changed, &j), 0);
    assert_int_equal(j.conflict_seq, 4);
    assert_int_equal(j.n_applied, 0);
    crr_store_job_reset(&j);
}

/* An Ack lost after the commit: the resent batch is all duplicates, and the
 * rejection must come back in its Ack, or the sender never learns of it. */
/* Two senders under one (source, epoch) (a copied spool): a resent seq with
 * another event is refused whole (conflict_seq), nothing of its batch is
 * applied, and the real resend still passes. */
static void test_resend_with_other_content_conflicts(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[3];
    for (int i = 0; i < 3; i++)
        ev[i] = s_search((uint64_t)i + 1, B1, NOW_SEC, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-c", 9, ev, 3), &j), 0);
    assert_int_equal(j.n_applied, 3);
    crr_store_job_reset(&j);
    /* the clone's 2..4: seq 2 is another event (other borough), 4 would be new */
    ev[0] = s_search(2, B2, NOW_SEC, NULL, 4, 0);
    ev[1] = s_search(3, B1, NOW_SEC, NULL, 4, 0);
    ev[2] = s_search(4, B1, NOW_SEC, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-c", 9, ev, 3), &j), 0);
    assert_int_equal(j.conflict_seq, 2);
    assert_int_equal(j.n_applied, 0);
    assert_int_equal(j.n_resent, 0);
    assert_int_equal(j.durable_seq, 3);
    assert_int_equal(j.total_applied, 3);
    crr_store_job_reset(&j);
    /* a difference in any field counts (here the count inside the body) */
    ev[0] = s_search(3, B1, NOW_SEC, NULL, 4, 7);
    assert_int_equal(s_apply1(f->s, s_batch("src-c", 9, ev, 1), &j), 0);
    assert_int_equal(j.conflict_seq, 3);
    crr_store_job_reset(&j);
    /* the genuine resend of 2..3 plus a new 4 */
    ev[0] = s_search(2, B1, NOW_SEC, NULL, 4, 0);
    ev[1] = s_search(3, B1, NOW_SEC, NULL, 4, 0);
    ev[2] = s_search(4, B1, NOW_SEC, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-c", 9, ev, 3), &j), 0);
    assert_int_equal(j.conflict_seq, 0);
    assert_int_equal(j.n_resent, 2);
    assert_int_equal(j.n_applied, 1);
    assert_int_equal(j.durable_seq, 4);
    crr_store_job_reset(&j);
    /* another epoch's seq 2 is its own */
    ev[0] = s_search(1, B2, NOW_SEC, NULL, 4, 0);
    ev[1] = s_search(2, B2, NOW_SEC, NULL, 4, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-c", 10, ev, 2), &j), 0);
    assert_int_equal(j.conflict_seq, 0);
    assert_int_equal(j.n_applied, 2);
    crr_store_job_reset(&j);
}

static void test_resend_rereports_rejections(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[3];
    for (int round = 0; round < 2; round++) {
        ev[0] = s_search(1, B1, NOW_SEC, NULL, 1, 0);
        ev[1] = s_search(2, B1, NOW_SEC + 3600, NULL, 1, 0); /* future: rejected */
        ev[2] = s_unknown_borough(s_search(3, B1, NOW_SEC, NULL, 1, 0), "E09000099");
        assert_int_equal(s_apply1(f->s, s_batch("src-r", 5, ev, 3), &j), 0);
        assert_int_equal(j.n_applied, round == 0 ? 1 : 0);
        assert_int_equal(j.n_resent, round == 0 ? 0 : 3);
        assert_int_equal(j.total_rejected, 2); /* counted once */
        assert_int_equal(j.durable_seq, 3);
        assert_int_equal(j.n_rejected, 2);
        assert_int_equal(j.rejected[0]->seq, 2);
        assert_int_equal(j.rejected[0]->code, CRRMON__V1__REJECT_CODE__REJECT_CODE_FUTURE);
        assert_string_equal(j.rejected[0]->field, "occurred_at");
        assert_int_equal(j.rejected[1]->seq, 3);
        assert_int_equal(j.rejected[1]->code, CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH);
        assert_string_equal(j.rejected[1]->field, "borough");
        assert_non_null(strstr(j.rejected[1]->reason, "E09000099"));
        crr_store_job_reset(&j);
    }
    /* stored once, re-reported, not stored again */
    int nrej = 0;
    assert_int_equal(crr_store_rejects_foreach(f->s, 0, s_count_rejects, &nrej), 0);
    assert_int_equal(nrej, 2);
    /* another epoch's seq 2 is its own */
    ev[0] = s_search(1, B1, NOW_SEC, NULL, 1, 0);
    ev[1] = s_search(2, B1, NOW_SEC, NULL, 1, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-r", 6, ev, 2), &j), 0);
    assert_int_equal(j.n_rejected, 0);
    crr_store_job_reset(&j);
    /* pruned with the rejects: afterwards a resend is a plain duplicate */
    assert_int_equal(crr_store_prune(f->s, NOW_SEC + 10, 0, 1), 0);
    ev[0] = s_search(2, B1, NOW_SEC + 3600, NULL, 1, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-r", 5, ev, 1), &j), 0);
    assert_int_equal(j.n_resent, 1);
    assert_int_equal(j.n_rejected, 0);
    crr_store_job_reset(&j);
}

/* A store written before the rejseq index existed still opens read-only
 * (crrmon query/status on an older data folder). */
static void test_readonly_open_of_older_store(void **state)
{
    fx_t *f = *state;
    MDB_env *env = crr_store_env(f->s);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "rejseq", 0, &dbi), 0);
    assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    crr_store_close(&f->s);
    crr_store_opts_t ro = {.readonly = 1};
    assert_int_equal(crr_store_open(f->dir, &ro, &f->s), 0);
    crr_store_close(&f->s);
    /* and the aggregator recreates it */
    assert_int_equal(crr_store_open(f->dir, NULL, &f->s), 0);
}

static void test_windows(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[5];
    ev[0] = s_search(1, B1, NOW_SEC - 40 * DAY, NULL, 4, 0);             /* 90d, 365d only */
    ev[1] = s_search(2, B1, NOW_SEC - 29 * DAY - 11 * 3600, NULL, 4, 0); /* first day of 30d */
    ev[2] = s_search(3, B1, NOW_SEC - 30 * DAY, NULL, 4, 0);             /* day before: not 30d */
    ev[3] = s_search(4, B1, NOW_SEC - 12 * 3600, NULL, 4, 0);            /* as_of's day, 00:00 */
    ev[4] = s_search(5, B1, NOW_SEC - 400 * DAY, NULL, 4, 0);            /* too old: rejected */
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 5), &j), 0);
    assert_int_equal(j.n_applied, 4);
    assert_int_equal(j.n_rejected, 1);
    assert_int_equal(j.rejected[0]->code, CRRMON__V1__REJECT_CODE__REJECT_CODE_TOO_OLD);
    crr_store_job_reset(&j);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f->s, "stop_search.count", &v, &n);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 30, "") - 2) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 90, "") - 4) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 365, "") - 4) < 1e-9);
    const Crrmon__V1__IndicatorValue *r = s_row(v, n, "stop_search.count", B1, 30, "");
    assert_int_equal(r->n, 2);
    assert_false(r->reliable);
    assert_non_null(r->ci_low);
    crr_indicators_free(&v, n);

    /* 60 days on, the 90d window starts 29 days before NOW: the 40- and 30-day-old events leave */
    crr_query_t q = {
        .as_of_sec = NOW_SEC + 60 * DAY, .indicator = "stop_search.count", .borough = B1};
    assert_int_equal(crr_indicators_compute(f->s, &q, &v, &n), 0);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 90, "") - 2) < 1e-9);
    assert_null(s_row(v, n, "stop_search.count", "LONDON", 90, ""));
    crr_indicators_free(&v, n);
}

static void test_map_full(void **state)
{
    (void)state;
    char dir[] = "/tmp/crr_store_full_XXXXXX";
    assert_non_null(mkdtemp(dir));
    crr_store_opts_t o = {.map_size = 256 * 1024};
    crr_store_t *s;
    assert_int_equal(crr_store_open(dir, &o, &s), 0);
    crr_store_job_t j;
    Crrmon__V1__Event *one[1] = {s_search(1, B1, NOW_SEC, "first", 4, 0)};
    assert_int_equal(s_apply1(s, s_batch("src-a", 1, one, 1), &j), 0);
    crr_store_job_reset(&j);
    /* a batch with many distinct record ids cannot fit in 256 KiB */
    enum { N = 20000 };
    Crrmon__V1__Event **ev = malloc(N * sizeof *ev);
    char rid[64];
    for (int i = 0; i < N; i++) {
        snprintf(rid, sizeof rid, "record-%06d-padding-padding-padding-padding", i);
        ev[i] = s_search((uint64_t)i + 2, B1, NOW_SEC - (i % 300) * DAY, rid, 1 + i % 6, 0);
    }
    int rc = s_apply1(s, s_batch("src-a", 1, ev, N), &j);
    free(ev);
    assert_int_equal(rc, 0); /* the group (of this batch alone) fails without it */
    assert_int_equal(j.error, MDB_MAP_FULL);
    assert_int_equal(j.n_applied, 0);
    assert_int_equal(j.durable_seq, 0);
    assert_null(j.rejected);
    assert_int_equal(s_source(s, 1).applied_seq, 1);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    crr_query_t q = {.as_of_sec = NOW_SEC, .indicator = "stop_search.count", .borough = B1};
    assert_int_equal(crr_indicators_compute(s, &q, &v, &n), 0);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 365, "") - 1) < 1e-9);
    /* the failed batch's earlier occurred_at did not move B1's first-seen instant */
    assert_int_equal(s_row(v, n, "stop_search.count", B1, 365, "")->boroughs_reporting, 0);
    crr_indicators_free(&v, n);
    /* still usable after the failure */
    one[0] = s_search(2, B1, NOW_SEC, "second", 4, 0);
    assert_int_equal(s_apply1(s, s_batch("src-a", 1, one, 1), &j), 0);
    assert_int_equal(j.durable_seq, 2);
    crr_store_job_reset(&j);
    crr_store_close(&s);
    s_rm_rf(dir);
}

/* Poison 2: one batch that cannot be applied (here too big for the map)
 * must not fail the other batches of its group. */
static void test_one_batch_fails_alone(void **state)
{
    (void)state;
    char dir[] = "/tmp/crr_store_alone_XXXXXX";
    assert_non_null(mkdtemp(dir));
    crr_store_opts_t o = {.map_size = 256 * 1024};
    crr_store_t *s;
    assert_int_equal(crr_store_open(dir, &o, &s), 0);
    enum { N = 20000 };
    Crrmon__V1__Event **ev = malloc(N * sizeof *ev);
    char rid[64];
    for (int i = 0; i < N; i++) {
        snprintf(rid, sizeof rid, "record-%06d-padding-padding-padding-padding", i);
        ev[i] = s_search((uint64_t)i + 1, B1, NOW_SEC - (i % 300) * DAY, rid, 1 + i % 6, 0);
    }
    Crrmon__V1__Event *b1[2] = {s_search(1, B1, NOW_SEC, "b1", 4, 0),
                                s_search(2, B1, NOW_SEC - 400 * DAY, "b2", 4, 0)};
    Crrmon__V1__Event *c1[1] = {s_search(1, B2, NOW_SEC, "c1", 4, 0)};
    crr_store_job_t jobs[3];
    memset(jobs, 0, sizeof jobs);
    jobs[0].batch = s_batch("src-b", 1, b1, 2);
    jobs[1].batch = s_batch("src-a", 5, ev, N);
    jobs[2].batch = s_batch("src-c", 1, c1, 1);
    free(ev);
    assert_int_equal(crr_store_apply(s, jobs, 3), 0);
    assert_int_equal(jobs[0].error, 0);
    assert_int_equal(jobs[0].durable_seq, 2);
    assert_int_equal(jobs[0].n_applied, 1);
    assert_int_equal(jobs[0].n_rejected, 1); /* its too_old event, as usual */
    assert_int_equal(jobs[1].error, MDB_MAP_FULL);
    assert_int_equal(jobs[1].n_applied, 0);
    assert_int_equal(jobs[1].durable_seq, 0);
    assert_null(jobs[1].rejected);
    assert_int_equal(jobs[2].error, 0);
    assert_int_equal(jobs[2].durable_seq, 1);
    assert_int_equal(s_source(s, 5).applied_seq, 0); /* src-a: nothing */
    for (int i = 0; i < 3; i++) {
        crr_store_job_reset(&jobs[i]);
        crr_codec_free((ProtobufCMessage *)&jobs[i].batch->base);
    }
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    /* one search each in B1 and B2 (borough rows: LONDON counts covering boroughs only) */
    crr_query_t q = {.as_of_sec = NOW_SEC, .indicator = "stop_search.count"};
    assert_int_equal(crr_indicators_compute(s, &q, &v, &n), 0);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 365, "") - 1) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B2, 365, "") - 1) < 1e-9);
    crr_indicators_free(&v, n);
    crr_store_close(&s);
    s_rm_rf(dir);
}

/* Poison 3: rejects are all listed and counted, but only a sample is stored:
 * per batch and per source_id in each window. */
static void test_reject_caps(void **state)
{
    (void)state;
    char dir[] = "/tmp/crr_store_caps_XXXXXX";
    assert_non_null(mkdtemp(dir));
    crr_store_opts_t o = {
        .reject_cap_batch = 3, .reject_cap_source = 5, .reject_cap_window_sec = 60};
    crr_store_t *s;
    assert_int_equal(crr_store_open(dir, &o, &s), 0);
    /* arrival times: three batches in one window, the fourth in the next */
    const int64_t at[4] = {NOW_SEC - NOW_SEC % 60, NOW_SEC - NOW_SEC % 60 + 1,
                           NOW_SEC - NOW_SEC % 60 + 2, NOW_SEC - NOW_SEC % 60 + 60};
    const uint64_t unstored[4] = {7, 8, 10, 7};
    const int hit[4] = {0, 1, 0, 0};
    uint64_t seq = 1;
    for (int b = 0; b < 4; b++) {
        Crrmon__V1__Event *ev[10];
        for (int i = 0; i < 10; i++)
            ev[i] = s_search(seq++, B1, NOW_SEC - 400 * DAY, NULL, 4, 0);
        crr_store_job_t j;
        memset(&j, 0, sizeof j);
        j.batch = s_batch("src-old", 1, ev, 10);
        j.arrival_sec = at[b];
        assert_int_equal(crr_store_apply(s, &j, 1), 0);
        assert_int_equal(j.n_rejected, 10); /* every one listed in the Ack */
        assert_int_equal(j.rejected_by_code[CRRMON__V1__REJECT_CODE__REJECT_CODE_TOO_OLD], 10);
        assert_int_equal(j.n_unstored, unstored[b]);
        assert_int_equal(j.source_cap_hit, hit[b]);
        assert_int_equal(j.durable_seq, seq - 1);
        crr_store_job_reset(&j);
        crr_codec_free((ProtobufCMessage *)&j.batch->base);
    }
    crr_store_stat_t st;
    assert_int_equal(crr_store_stat(s, &st), 0);
    assert_int_equal(st.rejects, 3 + 2 + 0 + 3);
    /* a resend of the first batch re-reports all ten, the unstored ones too */
    Crrmon__V1__Event *ev[10];
    for (int i = 0; i < 10; i++)
        ev[i] = s_search((uint64_t)i + 1, B1, NOW_SEC - 400 * DAY, NULL, 4, 0);
    crr_store_job_t j;
    memset(&j, 0, sizeof j);
    j.batch = s_batch("src-old", 1, ev, 10);
    assert_int_equal(crr_store_apply(s, &j, 1), 0);
    assert_int_equal(j.n_rejected, 10);
    assert_int_equal(j.n_rereported, 10);
    for (size_t i = 0; i < 10; i++)
        assert_non_null(strstr(j.rejected[i]->reason, "too old"));
    crr_store_job_reset(&j);
    crr_codec_free((ProtobufCMessage *)&j.batch->base);
    /* malformed frames (no source) have a budget of their own */
    crr_diag_t d;
    crr_diag_clear(&d);
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "", "garbage");
    for (int i = 0; i < 5; i++)
        assert_int_equal(crr_store_reject_frame(s, &d, NULL, "ff"), 0);
    assert_int_equal(crr_store_reject_frame(s, &d, NULL, "ff"), 1);
    assert_int_equal(crr_store_stat(s, &st), 0);
    assert_int_equal(st.rejects, 8 + 5);
    crr_store_close(&s);
    s_rm_rf(dir);
}

static Crrmon__V1__Event *s_survey(uint64_t seq, double weight)
{
    char t[40];
    return s_seq(fx_event("{\"borough\":\"" B1 "\",\"occurredAt\":\"%s\",\"surveyResponse\":{"
                          "\"survey\":1,\"ethnicity\":1,\"gender\":1,\"weight\":%.17g,"
                          "\"goodJob\":4}}",
                          fx_time(NOW_SEC - 3600, t, sizeof t), weight),
                 seq);
}

/* Copies every (key, value) of the agg database, concatenated, into *out. */
static size_t s_agg_bytes(crr_store_t *s, uint8_t **out)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    assert_int_equal(mdb_txn_begin(crr_store_env(s), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "agg", 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    MDB_val k, v;
    size_t len = 0;
    *out = NULL;
    while (mdb_cursor_get(cur, &k, &v, len ? MDB_NEXT : MDB_FIRST) == 0) {
        *out = realloc(*out, len + k.mv_size + v.mv_size);
        memcpy(*out + len, k.mv_data, k.mv_size);
        memcpy(*out + len + k.mv_size, v.mv_data, v.mv_size);
        len += k.mv_size + v.mv_size;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return len;
}

/* Smaller poison: the same events give the same sums, to the bit, whatever
 * the group boundaries (0.1 + (0.2 + 0.3) != (0.1 + 0.2) + 0.3). */
static void test_sums_independent_of_groups(void **state)
{
    (void)state;
    static const double w[] = {0.1, 0.2, 0.3};
    enum { N = sizeof w / sizeof w[0] };
    /* group splits: all events in one call; each alone; {1}, {2, 3} */
    static const size_t splits[3][N + 1] = {{N}, {1, 1, 1}, {1, N - 1}};
    uint8_t *bytes[3];
    size_t len[3];
    for (int v = 0; v < 3; v++) {
        char dir[] = "/tmp/crr_store_sums_XXXXXX";
        assert_non_null(mkdtemp(dir));
        crr_store_t *s;
        assert_int_equal(crr_store_open(dir, NULL, &s), 0);
        uint64_t seq = 1;
        for (size_t g = 0; splits[v][g]; g++) {
            Crrmon__V1__Event *ev[N];
            size_t n = splits[v][g];
            for (size_t i = 0; i < n; i++, seq++)
                ev[i] = s_survey(seq, w[seq - 1]);
            crr_store_job_t j;
            memset(&j, 0, sizeof j);
            j.batch = s_batch("src-w", 1, ev, n);
            j.arrival_sec = NOW_SEC;
            assert_int_equal(crr_store_apply(s, &j, 1), 0);
            assert_int_equal(j.n_applied, n);
            crr_store_job_reset(&j);
            crr_codec_free((ProtobufCMessage *)&j.batch->base);
        }
        len[v] = s_agg_bytes(s, &bytes[v]);
        crr_store_close(&s);
        s_rm_rf(dir);
    }
    assert_true(len[0] > 0);
    for (int v = 1; v < 3; v++) {
        assert_int_equal(len[v], len[0]);
        assert_memory_equal(bytes[v], bytes[0], len[0]);
    }
    for (int v = 0; v < 3; v++)
        free(bytes[v]);
}

static void test_indicator_values(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[10];
    const int OP = CRRMON__V1__STAFF_GROUP__STAFF_GROUP_OPERATIONAL;
    const int AD = CRRMON__V1__STAFF_GROUP__STAFF_GROUP_ADMINISTRATIVE;
    ev[0] = s_feedback(1, B1, NOW_SEC - DAY, OP, 5, "T1");
    ev[1] = s_feedback(2, B1, NOW_SEC - DAY, OP, 3, "T1");
    ev[2] = s_feedback(3, B1, NOW_SEC - DAY, AD, 4, "T2");
    ev[3] = s_feedback(4, B2, NOW_SEC - DAY, AD, 2, "T2");
    ev[4] = s_attendance(5, B1, NOW_SEC - DAY, OP, 10, 8, 1);
    ev[5] = s_attendance(6, B1, NOW_SEC - DAY, AD, 10, 4, 0);
    ev[6] = s_attendance(7, B2, NOW_SEC - DAY, AD, 5, 5, 1);
    ev[7] = s_headcount(8, B1, NOW_SEC - 100 * DAY, OP, 100, 50);
    ev[8] = s_headcount(9, B1, NOW_SEC - 2 * DAY, OP, 100, 40);
    ev[9] = s_headcount(10, B1, NOW_SEC + 60, OP, 100, 30); /* later today: counts */
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 10), &j), 0);
    assert_int_equal(j.n_applied, 10);
    crr_store_job_reset(&j);
    /* coverage: both boroughs sent feedback and attendance before the 30-day window */
    ev[0] = s_feedback(11, B1, NOW_SEC - 40 * DAY, OP, 1, "T9");
    ev[1] = s_feedback(12, B2, NOW_SEC - 40 * DAY, OP, 1, "T9");
    ev[2] = s_attendance(13, B1, NOW_SEC - 40 * DAY, OP, 1, 1, 0);
    ev[3] = s_attendance(14, B2, NOW_SEC - 40 * DAY, OP, 1, 1, 0);
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 4), &j), 0);
    assert_int_equal(j.n_applied, 4);
    crr_store_job_reset(&j);

    Crrmon__V1__IndicatorValue **v;
    size_t n;
    crr_query_t q = {.as_of_sec = NOW_SEC};
    assert_int_equal(crr_indicators_compute(f->s, &q, &v, &n), 0);
    /* feedback.responses */
    assert_true(fabs(s_value(v, n, "feedback.responses", B1, 30, "") - 3) < 1e-9);
    assert_true(fabs(s_value(v, n, "feedback.responses", "LONDON", 30, "") - 4) < 1e-9);
    /* feedback.overall_mean with staff_group */
    assert_true(fabs(s_value(v, n, "feedback.overall_mean", B1, 30, "") - 4) < 1e-9);
    assert_true(
        fabs(s_value(v, n, "feedback.overall_mean", B1, 30, "staff_group=OPERATIONAL") - 4) < 1e-9);
    const Crrmon__V1__IndicatorValue *r =
        s_row(v, n, "feedback.overall_mean", B1, 30, "staff_group=OPERATIONAL");
    assert_int_equal(r->n, 2);
    /* s = sqrt(2): 4 +- z * sqrt(2) / sqrt(2) */
    assert_true(fabs(r->ci_low->value - (4 - 1.959963984540054)) < 1e-9);
    r = s_row(v, n, "feedback.overall_mean", B1, 30, "staff_group=ADMINISTRATIVE");
    assert_int_equal(r->n, 1);
    assert_null(r->ci_low); /* n < 2: no interval */
    assert_true(fabs(r->value->value - 4) < 1e-9);
    assert_true(fabs(s_value(v, n, "feedback.overall_mean", "LONDON", 30, "") - 3.5) < 1e-9);
    /* training.attendance_rate: 12/20 in B1; London 17/25 (from sums) */
    assert_true(fabs(s_value(v, n, "training.attendance_rate", B1, 30, "") - 0.6) < 1e-9);
    assert_true(fabs(s_value(v, n, "training.attendance_rate", B1, 30, "staff_group=OPERATIONAL") -
                     0.8) < 1e-9);
    assert_true(fabs(s_value(v, n, "training.attendance_rate", "LONDON", 30, "") - 17.0 / 25) <
                1e-9);
    r = s_row(v, n, "training.attendance_rate", "LONDON", 30, "");
    assert_int_equal(r->n, 25);
    assert_false(r->reliable);
    r = s_row(v, n, "training.attendance_rate", "E09000003", 30, ""); /* no data: absent */
    assert_non_null(r);
    assert_null(r->value);
    assert_int_equal(r->n, 0);
    /* no learning assessments anywhere: value absent, never NaN or 0 */
    r = s_row(v, n, "learning.mean_gain", B1, 30, "");
    assert_non_null(r);
    assert_null(r->value);
    assert_null(r->ci_low);
    /* pipeline.events by arrival */
    assert_true(fabs(s_value(v, n, "pipeline.events", B1, 30, "") - 10) < 1e-9);
    assert_true(fabs(s_value(v, n, "pipeline.events", B1, 30, "type=attendance") - 3) < 1e-9);
    assert_true(fabs(s_value(v, n, "pipeline.events", "LONDON", 30, "type=training_feedback") - 6) <
                1e-9);
    assert_int_equal(s_row(v, n, "pipeline.events", "LONDON", 30, "")->boroughs_reporting, 2);
    assert_int_equal(s_row(v, n, "feedback.responses", "LONDON", 30, "")->boroughs_reporting, 2);
    /* training.coverage also reads staff_headcount, which B1 sent 100 days ago and B2 never */
    assert_int_equal(s_row(v, n, "training.coverage", B1, 30, "")->boroughs_reporting, 1);
    assert_int_equal(s_row(v, n, "training.coverage", B2, 30, "")->boroughs_reporting, 0);
    assert_int_equal(s_row(v, n, "training.coverage", "LONDON", 30, "")->boroughs_reporting, 1);
    /* training.coverage: mandatory attended 8 (B1) / latest in_scope (30, later today) */
    assert_true(fabs(s_value(v, n, "training.coverage", B1, 30, "") - 8.0 / 30) < 1e-9);
    r = s_row(v, n, "training.coverage", B1, 30, "");
    assert_int_equal(r->n, 30);
    /* trainer.quality_mean per trainer and trainer.flagged for London only */
    assert_true(fabs(s_value(v, n, "trainer.quality_mean", "LONDON", 30, "trainer_id=T2") - 3) <
                1e-9);
    assert_true(fabs(s_value(v, n, "trainer.flagged", "LONDON", 30, "trainer_id=T2") - 0) < 1e-9);
    assert_null(s_row(v, n, "trainer.flagged", B1, 30, "trainer_id=T2"));
    crr_indicators_free(&v, n);

    /* as of 10 days ago: the headcount of 100 days ago is the latest */
    q.as_of_sec = NOW_SEC - 10 * DAY;
    q.indicator = "training.coverage";
    q.borough = B1;
    assert_int_equal(crr_indicators_compute(f->s, &q, &v, &n), 0);
    r = s_row(v, n, "training.coverage", B1, 30, "");
    assert_int_equal(r->n, 50);
    assert_true(fabs(r->value->value - 0) < 1e-9);
    crr_indicators_free(&v, n);

    crr_query_t bad = {.as_of_sec = NOW_SEC, .indicator = "no.such"};
    assert_int_equal(crr_indicators_compute(f->s, &bad, &v, &n), CRR_EINVAL);
    bad.indicator = NULL;
    bad.borough = "E09000099";
    assert_int_equal(crr_indicators_compute(f->s, &bad, &v, &n), CRR_EINVAL);
}

static int s_snap_cb(const char *id, int64_t taken, void *ud)
{
    (void)id;
    (void)taken;
    (*(int *)ud)++;
    return 0;
}

/* The store alone numbers and stores snapshots: ids from as_of and the
 * counter, the counter unchanged by a refused put, a read-only store
 * refusing. And the narrow read the indicator engine uses: nothing there in
 * an empty store. */
static void test_snapshot_put_and_read(void **state)
{
    fx_t *f = *state;
    Crrmon__V1__Snapshot a = CRRMON__V1__SNAPSHOT__INIT, b = CRRMON__V1__SNAPSHOT__INIT;
    assert_int_equal(crr_store_snapshot_put(f->s, &a, NOW_SEC, NOW_SEC + 5), 0);
    assert_string_equal(a.id, "20260301T120000Z-000001");
    assert_int_equal(crr_store_snapshot_put(f->s, &b, NOW_SEC - DAY, NOW_SEC), 0);
    assert_string_equal(b.id, "20260228T120000Z-000002");
    free(a.id);
    free(b.id);
    crr_store_read_t *rd;
    assert_int_equal(crr_store_read_begin(f->s, &rd), 0);
    int64_t t;
    int32_t ns;
    size_t n;
    double sc = -1;
    assert_int_equal(crr_store_read_last_arrival(rd, 0, &t), MDB_NOTFOUND);
    assert_int_equal(crr_store_read_first_seen(rd, 0, 1, &t, &ns), MDB_NOTFOUND);
    assert_int_equal(crr_store_read_in_scope(rd, 0, NOW_SEC, &sc), 0);
    assert_true(sc == 0);
    assert_null(crr_store_read_name(rd, 42, &n));
    crr_store_read_end(&rd);
    crr_store_read_end(&rd); /* idempotent */
    assert_null(rd);
    crr_store_close(&f->s);
    crr_store_opts_t ro = {.readonly = 1};
    assert_int_equal(crr_store_open(f->dir, &ro, &f->s), 0);
    assert_int_equal(crr_store_is_readonly(f->s), 1);
    Crrmon__V1__Snapshot c = CRRMON__V1__SNAPSHOT__INIT;
    char *unset = c.id;
    assert_int_equal(crr_store_snapshot_put(f->s, &c, NOW_SEC, NOW_SEC), CRR_EINVAL);
    assert_ptr_equal(c.id, unset);
}

static void test_snapshot_and_prune(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    Crrmon__V1__Event *ev[2] = {s_search(1, B1, NOW_SEC, "X", 4, 3),
                                s_search(2, B2, NOW_SEC - 200 * DAY, "Y", 1, 0)};
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 2), &j), 0);
    crr_store_job_reset(&j);
    Crrmon__V1__Snapshot *a, *b, *got;
    assert_int_equal(crr_snapshot_take(f->s, NOW_SEC, NULL, NULL, &a), 0);
    assert_int_equal(crr_snapshot_take(f->s, NOW_SEC, "daily", NULL, &b), 0);
    assert_string_not_equal(a->id, b->id);
    assert_string_equal(a->schedule, "on-demand");
    assert_true(a->n_values > 300); /* LONDON, B1, B2: every indicator, 3 windows */
    assert_int_equal(crr_store_snapshot_get(f->s, a->id, &got), 0);
    assert_string_equal(got->id, a->id);
    assert_int_equal(got->n_values, a->n_values);
    crr_codec_free(&got->base);
    assert_int_equal(crr_store_snapshot_get(f->s, "nope", &got), CRR_ENOTFOUND);
    assert_int_equal(crr_store_snapshot_head(f->s, b->id, &got), 0); /* the header alone */
    assert_string_equal(got->id, b->id);
    assert_string_equal(got->schedule, "daily");
    assert_non_null(got->as_of);
    assert_int_equal(got->as_of->seconds, NOW_SEC);
    assert_int_equal(got->n_values, 0);
    crr_codec_free(&got->base);
    assert_int_equal(crr_store_snapshot_head(f->s, "nope", &got), CRR_ENOTFOUND);
    int cnt = 0;
    assert_int_equal(crr_store_snapshots_foreach(f->s, s_snap_cb, &cnt), 0);
    assert_int_equal(cnt, 2);
    crr_codec_free(&a->base);
    crr_codec_free(&b->base);

    /* prune 300 days on: buckets of 200+395 days ago go, snapshots older than 1 day go */
    assert_int_equal(crr_store_prune(f->s, NOW_SEC + 300 * DAY, DAY, DAY), 0);
    cnt = 0;
    assert_int_equal(crr_store_snapshots_foreach(f->s, s_snap_cb, &cnt), 0);
    assert_int_equal(cnt, 0);
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f->s, "stop_search.count", &v, &n);
    assert_true(fabs(s_value(v, n, "stop_search.count", B1, 365, "") - 3) < 1e-9);
    assert_true(fabs(s_value(v, n, "stop_search.count", B2, 365, "") - 0) < 1e-9);
    /* first seen is never pruned: B2 (first seen 200 days before NOW) still covers 90 days */
    assert_int_equal(s_row(v, n, "stop_search.count", B2, 90, "")->boroughs_reporting, 1);
    assert_int_equal(s_row(v, n, "stop_search.count", B1, 90, "")->boroughs_reporting, 0);
    assert_int_equal(s_row(v, n, "stop_search.count", "LONDON", 90, "")->boroughs_reporting, 1);
    crr_indicators_free(&v, n);
    /* record id Y (200 days before NOW) is forgotten 300 days later; X is kept */
    setenv("CRRMON_NOW", "2026-12-26T12:00:00Z", 1);
    crr_clock_reset();
    Crrmon__V1__Event *ev2[2] = {s_search(3, B1, NOW_SEC + 299 * DAY, "X", 4, 0),
                                 s_search(4, B2, NOW_SEC + 299 * DAY, "Y", 4, 0)};
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev2, 2), &j), 0);
    assert_int_equal(j.n_duplicate, 1);
    assert_int_equal(j.n_applied, 1);
    crr_store_job_reset(&j);
}

/* Rewrites meta as a store written before coverage looks (format 1: no
 * "format" key and no first-seen keys), or with format version `version`. */
static void s_set_format(crr_store_t *s, uint32_t version)
{
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_txn_begin(crr_store_env(s), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(txn, meta, &cur), 0);
    MDB_val k, v;
    int deleted = 0;
    while (mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0)
        if (version == 1 && k.mv_size == 3 && ((const uint8_t *)k.mv_data)[0] == 'F') {
            assert_int_equal(mdb_cursor_del(cur, 0), 0);
            deleted++;
        }
    mdb_cursor_close(cur);
    assert_true(version != 1 || deleted > 0);
    MDB_val fk = {sizeof CRR_META_FORMAT - 1, CRR_META_FORMAT};
    if (version == 1) {
        assert_int_equal(mdb_del(txn, meta, &fk, NULL), 0);
    } else {
        uint8_t v4[4] = {0, 0, 0, (uint8_t)version};
        MDB_val fv = {4, v4};
        assert_int_equal(mdb_put(txn, meta, &fk, &fv, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
}

/* The recorded format version of the store in dir (1 when none), read raw. */
static uint32_t s_get_format(const char *dir)
{
    uint32_t version = 1; /* plain LMDB: a store of a newer version refuses crr_store_open */
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {sizeof CRR_META_FORMAT - 1, CRR_META_FORMAT}, v;
    if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == 4)
        version = crr_be32_get(v.mv_data);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return version;
}

/* The first-seen instant of (borough index b, type) as the store answers it. */
static void s_first(crr_store_t *s, unsigned b, unsigned type, int64_t *sec, int32_t *ns)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(crr_store_env(s), NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(crr_store_first_seen(s, txn, b, type, sec, ns), 0);
    mdb_txn_abort(txn);
}

static void test_format_version_migration(void **state)
{
    fx_t *f = *state;
    crr_store_job_t j;
    const int OP = CRRMON__V1__STAFF_GROUP__STAFF_GROUP_OPERATIONAL;
    /* B1: a search 100 days ago at 12:00 and today; a headcount 50 days ago; B2: today only */
    Crrmon__V1__Event *ev[4] = {s_search(1, B1, NOW_SEC - 100 * DAY, NULL, 4, 0),
                                s_search(2, B1, NOW_SEC - 60, NULL, 4, 0),
                                s_headcount(3, B1, NOW_SEC - 50 * DAY + 7, OP, 100, 50),
                                s_search(4, B2, NOW_SEC - 60, NULL, 4, 0)};
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev, 4), &j), 0);
    crr_store_job_reset(&j);
    assert_int_equal(s_get_format(f->dir), CRR_STORE_FORMAT_VERSION);
    int64_t sec;
    int32_t ns;
    s_first(f->s, 0, 7, &sec, &ns); /* stop_search is type 7 */
    assert_true(sec == NOW_SEC - 100 * DAY && ns == 0);
    s_set_format(f->s, 1);
    crr_store_close(&f->s);
    assert_int_equal(s_get_format(f->dir), 1);

    /* read-only (crrmon query on an old data folder): derived in memory, file untouched */
    crr_store_opts_t ro = {.readonly = 1};
    assert_int_equal(crr_store_open(f->dir, &ro, &f->s), 0);
    const int64_t day_end = (NOW_SEC / DAY - 100) * DAY + DAY - 1; /* 100 days ago, 23:59:59 */
    s_first(f->s, 0, 7, &sec, &ns);
    assert_true(sec == day_end && ns == 999999999); /* the day is known, not the instant */
    Crrmon__V1__IndicatorValue **v;
    size_t n;
    s_compute(f->s, "stop_search.count", &v, &n);
    assert_int_equal(s_row(v, n, "stop_search.count", B1, 90, "")->boroughs_reporting, 1);
    assert_int_equal(s_row(v, n, "stop_search.count", B2, 90, "")->boroughs_reporting, 0);
    assert_int_equal(s_row(v, n, "stop_search.count", "LONDON", 90, "")->boroughs_reporting, 1);
    crr_indicators_free(&v, n);
    crr_store_close(&f->s);
    assert_int_equal(s_get_format(f->dir), 1);

    /* writable (the aggregator): migrated in the open's transaction, version recorded */
    assert_int_equal(crr_store_open(f->dir, NULL, &f->s), 0);
    assert_int_equal(s_get_format(f->dir), CRR_STORE_FORMAT_VERSION);
    s_first(f->s, 0, 7, &sec, &ns);
    assert_true(sec == day_end && ns == 999999999);
    s_first(f->s, 0, 6, &sec, &ns); /* staff_headcount: exact, from the statement itself */
    assert_true(sec == NOW_SEC - 50 * DAY + 7 && ns == 0);
    s_first(f->s, 1, 7, &sec, &ns);
    assert_true(sec == (NOW_SEC / DAY) * DAY + DAY - 1); /* B2: only today's bucket */
    /* applying keeps working on the migrated store, and moves first seen earlier */
    Crrmon__V1__Event *ev2[1] = {s_search(5, B1, NOW_SEC - 100 * DAY + 3600, NULL, 4, 0)};
    assert_int_equal(s_apply1(f->s, s_batch("src-a", 1, ev2, 1), &j), 0);
    crr_store_job_reset(&j);
    s_first(f->s, 0, 7, &sec, &ns);
    assert_true(sec == NOW_SEC - 100 * DAY + 3600 && ns == 0);

    /* a newer format is refused, writable or not */
    s_set_format(f->s, CRR_STORE_FORMAT_VERSION + 1);
    crr_store_close(&f->s);
    assert_int_equal(crr_store_open(f->dir, NULL, &f->s), CRR_EVERSION);
    assert_null(f->s);
    assert_int_equal(crr_store_open(f->dir, &ro, &f->s), CRR_EVERSION);
    assert_int_equal(s_get_format(f->dir), CRR_STORE_FORMAT_VERSION + 1); /* left as it was */
}

/* Timing printout (not asserted): generated events through crr_store_apply. */
static void test_apply_throughput(void **state)
{
    fx_t *f = *state;
    enum { PER_BATCH = 500, BATCHES_PER_GROUP = 40, GROUPS = 10 };
    crr_gen_opts_t go = {.seed = 42, .start_sec = NOW_SEC - 300 * DAY, .end_sec = NOW_SEC};
    crr_gen_t *g;
    assert_int_equal(crr_gen_new(&go, &g), 0);
    size_t nb = (size_t)BATCHES_PER_GROUP * GROUPS;
    Crrmon__V1__Batch **bs = calloc(nb, sizeof *bs);
    uint64_t seq = 0;
    for (size_t b = 0; b < nb; b++) {
        Crrmon__V1__Event *ev[PER_BATCH];
        for (int i = 0; i < PER_BATCH; i++) {
            assert_int_equal(crr_gen_next(g, &ev[i]), 0);
            ev[i]->seq = ++seq;
        }
        bs[b] = s_batch("bench", 99, ev, PER_BATCH);
    }
    crr_gen_destroy(&g);
    crr_store_job_t jobs[BATCHES_PER_GROUP];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t applied = 0;
    for (int gi = 0; gi < GROUPS; gi++) {
        memset(jobs, 0, sizeof jobs);
        for (int k = 0; k < BATCHES_PER_GROUP; k++)
            jobs[k].batch = bs[gi * BATCHES_PER_GROUP + k];
        assert_int_equal(crr_store_apply(f->s, jobs, BATCHES_PER_GROUP), 0);
        for (int k = 0; k < BATCHES_PER_GROUP; k++) {
            applied += jobs[k].n_applied;
            crr_store_job_reset(&jobs[k]);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf(
        "crr_store_apply: %llu events in %.3f s = %.0f events/s (groups of %d events, durable)\n",
        (unsigned long long)applied, secs, applied / secs, PER_BATCH * BATCHES_PER_GROUP);
    assert_int_equal(applied, (uint64_t)nb * PER_BATCH);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    Crrmon__V1__Snapshot *snap;
    assert_int_equal(crr_snapshot_take(f->s, NOW_SEC, "bench", NULL, &snap), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("crr_snapshot_take: %zu rows in %.3f s\n", snap->n_values, secs);
    crr_codec_free(&snap->base);
    for (size_t b = 0; b < nb; b++)
        crr_codec_free(&bs[b]->base);
    free(bs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_dup_gap_epoch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_jobs_same_source_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_id_and_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_with_other_content_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_hash_as_received, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skipped_event_buckets_stay_unwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_rereports_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open_of_older_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_batch_fails_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reject_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sums_independent_of_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indicator_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_put_and_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_and_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_version_migration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_throughput, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
