/* test_mem: SQLite-style out-of-memory loops through the allocation hook
 * (common/mem.h) over the JSON codec, the aggregator's apply path and the
 * collector's spool, and the protobuf codec's answer when malloc fails. For
 * n = 0, 1, 2... the n-th allocation and every one after it fail (or, in the
 * second run of each test, the n-th alone); the operation must fail cleanly
 * (-ENOMEM or the job's error, never a wrong answer; ASan checks nothing
 * leaks) and leave the state as it was (the whole LMDB content, the
 * sequences, the counters), until at some n it runs with no failure injected
 * and gives exactly what a run without the hook gives. The codec's own loop
 * over allocation budgets is in test_base.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "fault_fixture.h"
#include "indicators.h"
#include "mem.h"
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The loops commit hundreds of times: their LMDB folders live in tmpfs,
 * where a commit's fdatasync costs nothing (what is checked is the content,
 * not the durability, which test_durability covers). */

enum { MAX_N = 100000 }; /* a loop that does not end by then is a failure */

/* The two modes of each loop (the test's prestate): from the n-th
 * allocation on every one fails (s_persist), or the n-th alone does (s_once). */
static int s_persist = 0, s_once = 1;

static void s_arm(void **state, long n)
{
    if (*(int *)*state)
        crr_mem_fail_once(n);
    else
        crr_mem_fail_after(n);
}

/* ---- the JSON codec ----------------------------------------------------- */

/* Each line, parsed through the edge function: every failure is -ENOMEM
 * (never a reject of a valid line), and once parsing succeeds the Event is
 * byte for byte the one parsed without the hook. */
static void test_json_parse_oom(void **state)
{
    char *lines[FX_LINES];
    fx_lines(lines);
    crr_validate_opts_t vo = fx_vopts();
    for (int i = 0; i < FX_LINES; i++) {
        Crrmon__V1__Event *ref = NULL;
        crr_diag_t d;
        assert_int_equal(crr_edge_line(lines[i], strlen(lines[i]), "f", 1, &vo, &ref, &d), 0);
        uint8_t *want;
        size_t want_len;
        assert_int_equal(crr_codec_pack(&ref->base, &want, &want_len), 0);
        crr_codec_free(&ref->base);
        long n;
        for (n = 0; n < MAX_N; n++) {
            Crrmon__V1__Event *e = (Crrmon__V1__Event *)&n; /* must be set to NULL */
            s_arm(state, n);
            int rc = crr_edge_line(lines[i], strlen(lines[i]), "f", 1, &vo, &e, &d);
            long failed = crr_mem_failed();
            crr_mem_fail_off();
            if (rc != 0) {
                if (rc != -ENOMEM)
                    fail_msg("line %d, n=%ld: rc %d (%s: %s) instead of -ENOMEM", i, n, rc, d.field,
                             d.reason);
                assert_null(e);
                assert_true(failed > 0);
                continue;
            }
            uint8_t *got;
            size_t got_len;
            assert_int_equal(crr_codec_pack(&e->base, &got, &got_len), 0);
            assert_int_equal(got_len, want_len);
            assert_memory_equal(got, want, want_len);
            free(got);
            crr_codec_free(&e->base);
            if (failed == 0)
                break;
        }
        assert_true(n > 0 && n < MAX_N); /* parsing allocates, and ends */
        free(want);
    }
    fx_lines_free(lines);
}

/* A line the codec refuses stays refused (CRR_EREJECT, MALFORMED) or fails
 * with -ENOMEM; it never turns into an Event. */
static void test_json_reject_oom(void **state)
{
    crr_validate_opts_t vo = fx_vopts();
    const char *bad[] = {FX_BAD_JSON, "{\"borough\": ", FX_BAD_EVENT};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long n;
        for (n = 0; n < MAX_N; n++) {
            Crrmon__V1__Event *e = NULL;
            crr_diag_t d;
            s_arm(state, n);
            int rc = crr_edge_line(bad[i], strlen(bad[i]), "f", 1, &vo, &e, &d);
            long failed = crr_mem_failed();
            crr_mem_fail_off();
            assert_null(e);
            if (rc == -ENOMEM)
                continue;
            assert_int_equal(rc, CRR_EREJECT);
            assert_true(d.code > 0);
            if (failed == 0)
                break;
        }
        assert_true(n < MAX_N);
    }
}

/* Writing: NULL when out of memory, else exactly the text written without the hook. */
static void test_json_dump_oom(void **state)
{
    char *lines[FX_LINES];
    fx_lines(lines);
    crr_validate_opts_t vo = fx_vopts();
    for (int i = 0; i < FX_LINES; i++) {
        Crrmon__V1__Event *e = NULL;
        crr_diag_t d;
        assert_int_equal(crr_edge_line(lines[i], strlen(lines[i]), "f", 1, &vo, &e, &d), 0);
        long n;
        for (n = 0; n < MAX_N; n++) {
            s_arm(state, n);
            char *text = crr_json_dumps(&e->base, CRR_JSON_EMIT_DEFAULTS);
            long failed = crr_mem_failed();
            crr_mem_fail_off();
            if (!text) {
                assert_true(failed > 0);
                continue;
            }
            char *want = crr_json_dumps(&e->base, CRR_JSON_EMIT_DEFAULTS);
            assert_string_equal(text, want);
            free(want);
            free(text);
            if (failed == 0)
                break;
        }
        assert_true(n > 0 && n < MAX_N);
        crr_codec_free(&e->base);
    }
    fx_lines_free(lines);
}

/* ---- the protobuf codec: what malloc failing means ---------------------- */

/* A frame unpacked while malloc fails is -ENOMEM, not CRR_EPARSE (the frame
 * is fine: the aggregator must not answer it MALFORMED), on the heap and in
 * the aggregator's group arena; once it unpacks, it is the same Batch. */
static void test_codec_nomem(void **state)
{
    char *lines[FX_LINES];
    fx_lines(lines);
    Crrmon__V1__Batch *b = fx_batch("src-a", 1, lines, FX_LINES, 1);
    uint8_t *buf, *got;
    size_t len, got_len;
    assert_int_equal(crr_codec_pack(&b->base, &buf, &len), 0);
    crr_codec_free(&b->base);
    for (int arena = 0; arena < 2; arena++) {
        long n;
        for (n = 0; n < MAX_N; n++) {
            crr_codec_arena_t *a = NULL;
            assert_int_equal(crr_codec_arena_new(&a), 0);
            Crrmon__V1__Batch *m = NULL;
            s_arm(state, n);
            int rc = arena ? crr_codec_unpack_batch_arena(a, buf, len, len, &m)
                           : crr_codec_unpack_batch(buf, len, len, &m);
            long failed = crr_mem_failed();
            crr_mem_fail_off();
            if (rc == 0) {
                assert_int_equal(crr_codec_pack(&m->base, &got, &got_len), 0);
                assert_int_equal(got_len, len);
                assert_memory_equal(got, buf, len);
                free(got);
            } else {
                if (rc != -ENOMEM)
                    fail_msg("arena %d, n=%ld: %d (%s) instead of -ENOMEM", arena, n, rc,
                             crr_strerror(rc));
                assert_null(m);
            }
            if (!arena && m)
                crr_codec_free(&m->base);
            crr_codec_arena_destroy(&a);
            if (failed == 0)
                break;
        }
        assert_true(n > 0 && n < MAX_N);
    }
    free(buf);
    fx_lines_free(lines);
}

/* ---- the aggregator's apply path ---------------------------------------- */

/* The batch under the hook: lines[0..12) (every type but one), then one
 * event validation refuses (a stored reject, a Rejection in the Ack), then
 * line 0 again under a new seq (a duplicate record id). */
static Crrmon__V1__Batch *s_the_batch(char **lines, uint64_t first_seq)
{
    Crrmon__V1__Batch *b = fx_batch("src-a", first_seq, lines, 12, 1);
    b->events = realloc(b->events, (b->n_events + 1) * sizeof *b->events);
    Crrmon__V1__Batch *again = fx_batch("src-a", first_seq + b->n_events, lines, 1, 0);
    b->events[b->n_events++] = again->events[0];
    again->n_events = 0;
    crr_codec_free(&again->base);
    return b;
}

/* Applies batch b (borrowed) to s alone; fills *ack; returns crr_store_apply's code. */
static int s_apply(crr_store_t *s, const Crrmon__V1__Batch *b, fx_ack_t *ack)
{
    crr_store_job_t j;
    memset(&j, 0, sizeof j);
    j.batch = b;
    j.arrival_sec = NOW_SEC;
    int rc = crr_store_apply(s, &j, 1);
    *ack = fx_ack(&j);
    crr_store_job_reset(&j);
    return rc;
}

/* A store in a new temp folder (dir: a "/dev/shm/..._XXXXXX" buffer) that
 * stores one reject per source and hour: a failed apply must not use it up. */
static crr_store_t *s_store(char *dir)
{
    assert_non_null(mkdtemp(dir));
    crr_store_t *s = NULL;
    crr_store_opts_t o = {.reject_cap_source = 1};
    assert_int_equal(crr_store_open(dir, &o, &s), 0);
    return s;
}

/* A store in dir (a "/dev/shm/..._XXXXXX" template, refilled) that applied b1. */
static crr_store_t *s_fresh(char *dir, const Crrmon__V1__Batch *b1)
{
    strcpy(dir + strlen(dir) - 6, "XXXXXX");
    crr_store_t *s = s_store(dir);
    fx_ack_t ack;
    assert_int_equal(s_apply(s, b1, &ack), 0);
    assert_int_equal(ack.durable_seq, 12);
    return s;
}

/* A first batch applied cleanly, then a second batch under the hook at every
 * n: each failed apply leaves the store's content and the source's applied
 * seq as they were, and the one that succeeds leaves exactly the content of
 * a store that applied both batches without faults. With one failure only,
 * an apply may also succeed in spite of it: then only as the design allows,
 * a reject stored without the event's text (the next n gets a fresh store). */
static void test_apply_oom(void **state)
{
    char *lines[FX_LINES];
    fx_lines(lines);
    Crrmon__V1__Batch *b1 = fx_batch("src-a", 1, lines + 12, 12, 0);
    Crrmon__V1__Batch *b2 = s_the_batch(lines, 13);

    char rdir[] = "/dev/shm/crr_mem_ref_XXXXXX";
    crr_store_t *ref = s_store(rdir);
    fx_ack_t ack, want;
    assert_int_equal(s_apply(ref, b1, &ack), 0);
    assert_int_equal(s_apply(ref, b2, &want), 0);
    assert_int_equal(want.error, 0);
    assert_int_equal(want.durable_seq, 13 + 12 + 1);
    assert_int_equal(want.n_rejected, 1);
    assert_int_equal(want.n_duplicate, 1);
    uint64_t want_fp = fx_fingerprint(crr_store_env(ref));
    uint64_t want_fp_text = fx_fingerprint_skip(crr_store_env(ref), CRR_REJECTS_DB);
    uint64_t want_rejects = fx_rejects_but_raw(crr_store_env(ref), NULL);

    int once = *(int *)*state;
    char dir[] = "/dev/shm/crr_mem_store_XXXXXX";
    crr_store_t *s = s_fresh(dir, b1);
    uint64_t before = fx_fingerprint(crr_store_env(s));
    long n, failures = 0;
    int dirty = 0; /* the last run went on after its failure and applied b2 */
    for (n = 0; n < MAX_N; n++) {
        if (dirty) {
            crr_store_close(&s);
            s_rm_rf(dir);
            s = s_fresh(dir, b1);
            dirty = 0;
        }
        s_arm(state, n);
        int rc = s_apply(s, b2, &ack);
        long failed = crr_mem_failed();
        crr_mem_fail_off();
        if (failed == 0) {
            assert_int_equal(rc, 0);
            fx_ack_equal(&ack, &want);
            break;
        }
        failures++;
        if (once && rc == 0 && ack.error == 0) { /* what succeeds is exact, but for texts */
            fx_ack_equal(&ack, &want);
            assert_int_equal(fx_applied_seq(s, "src-a"), 13 + 12 + 1);
            assert_true(fx_rejects_but_raw(crr_store_env(s), NULL) == want_rejects);
            if (fx_fingerprint_skip(crr_store_env(s), CRR_REJECTS_DB) != want_fp_text)
                fail_msg("n=%ld: an apply that went on after a failure differs", n);
            dirty = 1;
            continue;
        }
        /* the group failed, or this batch alone did: nothing of it applied */
        if (rc == 0) {
            assert_int_equal(ack.error, -ENOMEM);
            assert_int_equal(ack.n_applied, 0);
            assert_int_equal(ack.durable_seq, 0);
        } else {
            assert_int_equal(rc, -ENOMEM);
        }
        assert_int_equal(fx_applied_seq(s, "src-a"), 12);
        if (fx_fingerprint(crr_store_env(s)) != before)
            fail_msg("n=%ld: a failed apply changed the store", n);
    }
    assert_true(failures > 5 && n < MAX_N);
    assert_int_equal(fx_applied_seq(s, "src-a"), 13 + 12 + 1);
    if (fx_fingerprint(crr_store_env(s)) != want_fp)
        fail_msg("the store differs from one that applied the batches without faults");
    /* and it answers queries as the reference does */
    crr_query_t q = {.as_of_sec = NOW_SEC, .indicator = "stop_search.count"};
    Crrmon__V1__IndicatorValue **v, **rv;
    size_t nv, nr;
    assert_int_equal(crr_indicators_compute(s, &q, &v, &nv), 0);
    assert_int_equal(crr_indicators_compute(ref, &q, &rv, &nr), 0);
    assert_int_equal(nv, nr);
    assert_true(nv > 0);
    for (size_t i = 0; i < nv; i++)
        assert_true(v[i]->value && rv[i]->value && v[i]->value->value == rv[i]->value->value);
    crr_indicators_free(&v, nv);
    crr_indicators_free(&rv, nr);

    crr_codec_free(&b1->base);
    crr_codec_free(&b2->base);
    fx_lines_free(lines);
    crr_store_close(&s);
    crr_store_close(&ref);
    s_rm_rf(dir);
    s_rm_rf(rdir);
}

/* ---- the collector's spool ---------------------------------------------- */

/* The collector's unit of work on lines[0..n) plus two bad lines: each line
 * through the edge, appended or its reject recorded, the file's checkpoint,
 * one commit. Returns 0, or the first error (the txn then aborted). */
static int s_spool_lines(crr_spool_t *sp, char **lines, size_t n)
{
    const char *extra[] = {FX_BAD_JSON, FX_BAD_EVENT};
    crr_validate_opts_t vo = fx_vopts();
    int rc = crr_spool_begin(sp);
    if (rc)
        return rc;
    for (size_t i = 0; i < n + 2 && rc == 0; i++) {
        const char *l = i < n ? lines[i] : extra[i - n];
        Crrmon__V1__Event *e = NULL;
        crr_diag_t d;
        rc = crr_edge_line(l, strlen(l), "in.jsonl", i + 1, &vo, &e, &d);
        if (rc == 0) {
            rc = crr_spool_append(sp, e, "in.jsonl", i + 1, NULL);
            crr_codec_free(&e->base);
        } else if (rc == CRR_EREJECT) {
            rc = crr_spool_reject(sp, &d, 0, l);
        }
    }
    crr_spool_ckpt_t cp = {.offset = 4096, .line = n + 2};
    if (rc == 0)
        rc = crr_spool_checkpoint_set(sp, "in.jsonl", &cp);
    if (rc == 0)
        return crr_spool_commit(sp);
    crr_spool_abort(sp);
    return rc;
}

typedef struct spool_seen {
    uint64_t next_seq, count, bytes, rejects, fp;
} spool_seen_t;

static spool_seen_t s_spool_seen(crr_spool_t *sp)
{
    spool_seen_t x = {crr_spool_next_seq(sp), crr_spool_count(sp), crr_spool_bytes(sp), 0,
                      fx_fingerprint(crr_spool_env(sp))};
    assert_int_equal(crr_spool_rejects_count(sp, &x.rejects), 0);
    return x;
}

static int s_fetch_cb(void *ud, uint64_t seq, const uint8_t *ev, size_t len)
{
    uint64_t *h = ud;
    *h = fx_fnv(fx_fnv(*h, &seq, sizeof seq), ev, len);
    return 0;
}

/* A spool in o->dir (a "/dev/shm/..._XXXXXX" template, refilled) that spooled
 * a first unit of work. */
static crr_spool_t *s_spool_fresh(char *dir, crr_spool_opts_t *o, char **lines)
{
    strcpy(dir + strlen(dir) - 6, "XXXXXX");
    assert_non_null(mkdtemp(dir));
    o->dir = dir;
    crr_spool_t *sp = NULL;
    assert_int_equal(crr_spool_open(o, &sp), 0);
    assert_int_equal(s_spool_lines(sp, lines, 12), 0);
    return sp;
}

/* What a spool must hold after both units of work. */
static void s_spool_is(crr_spool_t *sp, const spool_seen_t *want, uint64_t want_ev,
                       uint64_t want_rejects)
{
    spool_seen_t got = s_spool_seen(sp);
    assert_int_equal(got.next_seq, want->next_seq);
    assert_int_equal(got.count, want->count);
    assert_int_equal(got.bytes, want->bytes);
    assert_int_equal(got.rejects, want->rejects);
    uint64_t got_ev = 0;
    assert_int_equal(crr_spool_fetch(sp, 1, s_fetch_cb, &got_ev), 0);
    assert_true(got_ev == want_ev); /* the same events under the same seqs */
    assert_true(fx_rejects_but_raw(crr_spool_env(sp), "epoch") == want_rejects);
    crr_spool_ckpt_t cp;
    assert_int_equal(crr_spool_checkpoint_get(sp, "in.jsonl", &cp), 0);
    assert_int_equal(cp.line, 14);
}

/* One unit of work spooled cleanly, then a second under the hook at every n:
 * a failure leaves next_seq, the counters, the rejects and the whole spool
 * content as they were; the one that succeeds spools exactly what a run
 * without the hook spools. With one failure only, a unit may also succeed
 * in spite of it: then only as the design allows, a reject stored without
 * the line's text (the next n gets a fresh spool). */
static void test_spool_oom(void **state)
{
    char *lines[FX_LINES];
    fx_lines(lines);
    char dir[] = "/dev/shm/crr_mem_spool_XXXXXX", rdir[] = "/dev/shm/crr_mem_spref_XXXXXX";
    assert_non_null(mkdtemp(rdir));
    crr_spool_opts_t o = {.dir = rdir, .source_id = "col-1", .max_bytes = 1 << 20};
    crr_spool_t *ref = NULL, *sp = NULL;
    assert_int_equal(crr_spool_open(&o, &ref), 0);
    assert_int_equal(s_spool_lines(ref, lines, 12), 0);
    assert_int_equal(s_spool_lines(ref, lines + 12, 12), 0);
    spool_seen_t want = s_spool_seen(ref);
    assert_int_equal(want.next_seq, 25);
    assert_int_equal(want.count, 24);
    assert_int_equal(want.rejects, 4);
    uint64_t want_ev = 0;
    assert_int_equal(crr_spool_fetch(ref, 1, s_fetch_cb, &want_ev), 0);
    uint64_t want_rejects = fx_rejects_but_raw(crr_spool_env(ref), "epoch"); /* epoch: random */

    int once = *(int *)*state;
    sp = s_spool_fresh(dir, &o, lines);
    spool_seen_t before = s_spool_seen(sp);
    long n, failures = 0;
    int dirty = 0; /* the last run went on after its failure and committed */
    for (n = 0; n < MAX_N; n++) {
        if (dirty) {
            crr_spool_close(&sp);
            s_rm_rf(dir);
            sp = s_spool_fresh(dir, &o, lines);
            before = s_spool_seen(sp);
            dirty = 0;
        }
        s_arm(state, n);
        int rc = s_spool_lines(sp, lines + 12, 12);
        long failed = crr_mem_failed();
        crr_mem_fail_off();
        if (failed == 0) {
            assert_int_equal(rc, 0);
            break;
        }
        failures++;
        if (once && rc == 0) { /* what succeeds is exact, but for texts */
            s_spool_is(sp, &want, want_ev, want_rejects);
            dirty = 1;
            continue;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_false(crr_spool_is_open(sp));
        spool_seen_t now = s_spool_seen(sp);
        assert_int_equal(now.next_seq, before.next_seq);
        assert_int_equal(now.count, before.count);
        assert_int_equal(now.bytes, before.bytes);
        assert_int_equal(now.rejects, before.rejects);
        if (now.fp != before.fp)
            fail_msg("n=%ld: a failed unit of work changed the spool", n);
    }
    assert_true(failures > 5 && n < MAX_N);
    s_spool_is(sp, &want, want_ev, want_rejects);

    crr_spool_close(&sp);
    crr_spool_close(&ref);
    s_rm_rf(dir);
    s_rm_rf(rdir);
    fx_lines_free(lines);
}

/* Opening an existing spool while allocations fail: -ENOMEM and nothing
 * leaked, until it opens with the same identity and counters. */
static void test_spool_open_oom(void **state)
{
    char *lines[FX_LINES];
    fx_lines(lines);
    char dir[] = "/dev/shm/crr_mem_spopen_XXXXXX";
    crr_spool_opts_t o = {.source_id = "col-1", .max_bytes = 1 << 20};
    crr_spool_t *sp = s_spool_fresh(dir, &o, lines);
    spool_seen_t want = s_spool_seen(sp);
    uint64_t epoch = crr_spool_epoch(sp);
    crr_spool_close(&sp);
    long n;
    for (n = 0; n < MAX_N; n++) {
        s_arm(state, n);
        int rc = crr_spool_open(&o, &sp);
        long failed = crr_mem_failed();
        crr_mem_fail_off();
        if (rc == 0) {
            assert_true(crr_spool_epoch(sp) == epoch);
            spool_seen_t got = s_spool_seen(sp);
            assert_int_equal(got.next_seq, want.next_seq);
            assert_int_equal(got.count, want.count);
            assert_true(got.fp == want.fp);
            crr_spool_close(&sp);
            if (failed == 0)
                break;
            continue;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(sp);
    }
    assert_true(n > 0 && n < MAX_N);
    s_rm_rf(dir);
    fx_lines_free(lines);
}

int main(void)
{
    setenv("CRRMON_NOW", NOW_TEXT, 1);
    crr_clock_reset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_json_parse_oom, &s_persist),
        cmocka_unit_test_prestate(test_json_parse_oom, &s_once),
        cmocka_unit_test_prestate(test_json_reject_oom, &s_persist),
        cmocka_unit_test_prestate(test_json_reject_oom, &s_once),
        cmocka_unit_test_prestate(test_json_dump_oom, &s_persist),
        cmocka_unit_test_prestate(test_json_dump_oom, &s_once),
        cmocka_unit_test_prestate(test_codec_nomem, &s_persist),
        cmocka_unit_test_prestate(test_codec_nomem, &s_once),
        cmocka_unit_test_prestate(test_apply_oom, &s_persist),
        cmocka_unit_test_prestate(test_apply_oom, &s_once),
        cmocka_unit_test_prestate(test_spool_oom, &s_persist),
        cmocka_unit_test_prestate(test_spool_oom, &s_once),
        cmocka_unit_test_prestate(test_spool_open_oom, &s_persist),
        cmocka_unit_test_prestate(test_spool_open_oom, &s_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
