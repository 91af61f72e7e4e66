/* test_iofault: a disk that fails a commit (common/iofault.h: the commit
 * aborts with EIO) on the aggregator store's group commit and the
 * collector's spool commit. A run of several transactions is repeated with
 * the n-th commit failing, for every n: the failed one leaves the whole LMDB
 * content, the sequences and the counters as they were, doing it again
 * succeeds, and the run ends exactly where a run without the fault ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_fixture.h"

#include "fault_fixture.h"
#include "iofault.h"
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The loops commit hundreds of times: their LMDB folders live in tmpfs,
 * where a commit's fdatasync costs nothing (what is checked is the content,
 * not the durability, which test_durability covers). */

/* ---- the store's group commit ------------------------------------------- */

enum { NB = 4 }; /* groups in a run */

/* Group g of a run: g 0..2 one batch of source src-a (6 lines each, group 1
 * with an event validation refuses), group 3 three batches of three sources
 * in one commit. Fills b (free with s_free_group) and jobs. */
static size_t s_group(char **lines, int g, Crrmon__V1__Batch **b, crr_store_job_t *jobs)
{
    size_t n = 1;
    if (g < 3) {
        uint64_t first = g == 0 ? 1 : g == 1 ? 7 : 14;
        b[0] = fx_batch("src-a", first, lines + 6 * g, 6, g == 1);
    } else {
        b[0] = fx_batch("src-a", 20, lines + 18, 2, 0);
        b[1] = fx_batch("src-b", 1, lines + 20, 2, 1);
        b[2] = fx_batch("src-c", 1, lines + 22, 2, 0);
        n = 3;
    }
    memset(jobs, 0, 3 * sizeof *jobs);
    for (size_t i = 0; i < n; i++) {
        jobs[i].batch = b[i];
        jobs[i].arrival_sec = NOW_SEC;
    }
    return n;
}

static void s_free_group(Crrmon__V1__Batch **b, crr_store_job_t *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        crr_store_job_reset(&jobs[i]);
        crr_codec_free(&b[i]->base);
    }
}

/* Runs the NB groups on s; with `point` armed, the commit that fails is
 * checked and the group applied again. Returns the fingerprint at the end
 * and fills acks[group][job] with what the successful apply answered. */
static uint64_t s_store_run(crr_store_t *s, char **lines, fx_ack_t acks[NB][3], int *eio_seen)
{
    for (int g = 0; g < NB; g++) {
        crr_store_job_t jobs[3];
        Crrmon__V1__Batch *b[3];
        size_t n = s_group(lines, g, b, jobs);
        uint64_t before = fx_fingerprint(crr_store_env(s));
        uint64_t seq_a = fx_applied_seq(s, "src-a"), seq_b = fx_applied_seq(s, "src-b");
        int rc = crr_store_apply(s, jobs, n);
        if (rc == EIO) {
            (*eio_seen)++;
            for (size_t i = 0; i < n; i++) { /* the group's failure: no job has an answer */
                assert_int_equal(jobs[i].error, 0);
                assert_int_equal(jobs[i].durable_seq, 0);
                assert_int_equal(jobs[i].n_applied, 0);
                assert_int_equal(jobs[i].n_rejected, 0);
                assert_null(jobs[i].rejected);
            }
            if (fx_fingerprint(crr_store_env(s)) != before)
                fail_msg("group %d: the failed commit changed the store", g);
            assert_int_equal(fx_applied_seq(s, "src-a"), seq_a);
            assert_int_equal(fx_applied_seq(s, "src-b"), seq_b);
            rc = crr_store_apply(s, jobs, n); /* the sender resends: the same answer */
        }
        assert_int_equal(rc, 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(jobs[i].error, 0);
            acks[g][i] = fx_ack(&jobs[i]);
        }
        s_free_group(b, jobs, n);
    }
    return fx_fingerprint(crr_store_env(s));
}

static void test_store_commit_eio(void **state)
{
    (void)state;
    char *lines[FX_LINES];
    fx_lines(lines);
    char rdir[] = "/dev/shm/crr_eio_ref_XXXXXX";
    assert_non_null(mkdtemp(rdir));
    crr_store_t *ref = NULL;
    assert_int_equal(crr_store_open(rdir, NULL, &ref), 0);
    fx_ack_t want[NB][3], got[NB][3];
    memset(want, 0, sizeof want);
    int eio = 0;
    uint64_t want_fp = s_store_run(ref, lines, want, &eio);
    assert_int_equal(eio, 0);
    assert_int_equal(want[1][0].n_rejected, 1);
    assert_int_equal(want[2][0].durable_seq, 19);
    assert_int_equal(want[3][0].durable_seq, 21);
    assert_int_equal(want[3][1].durable_seq, 3);
    crr_store_close(&ref);
    s_rm_rf(rdir);

    for (long n = 1; n <= NB + 1; n++) {
        char dir[] = "/dev/shm/crr_eio_store_XXXXXX";
        assert_non_null(mkdtemp(dir));
        crr_store_t *s = NULL;
        assert_int_equal(crr_store_open(dir, NULL, &s), 0);
        memset(got, 0, sizeof got);
        eio = 0;
        crr_iofault_arm("store_commit", n);
        uint64_t fp = s_store_run(s, lines, got, &eio);
        crr_iofault_off();
        assert_int_equal(eio, n <= NB ? 1 : 0);
        if (fp != want_fp)
            fail_msg("n=%ld: the store differs from a run without the fault", n);
        for (int g = 0; g < NB; g++)
            for (int i = 0; i < 3; i++)
                fx_ack_equal(&got[g][i], &want[g][i]);
        crr_store_close(&s);
        s_rm_rf(dir);
    }
    fx_lines_free(lines);
}

/* ---- the spool's commit ------------------------------------------------- */

typedef struct spool_state {
    uint64_t next_seq, acked_seq, count, bytes, rejects, fp;
} spool_state_t;

static spool_state_t s_spool_state(crr_spool_t *sp)
{
    spool_state_t x = {crr_spool_next_seq(sp),
                       crr_spool_acked_seq(sp),
                       crr_spool_count(sp),
                       crr_spool_bytes(sp),
                       0,
                       fx_fingerprint(crr_spool_env(sp))};
    assert_int_equal(crr_spool_rejects_count(sp, &x.rejects), 0);
    return x;
}

/* Step k of a run: 0, 1, 3 spool 8 lines of a file (a new file each, so the
 * failed txn created its file id; step 1 with a line the edge rejects), 2
 * and 4 release up to a seq (their own commit). */
static int s_spool_step(crr_spool_t *sp, char **lines, int k)
{
    static const char *files[] = {"a.jsonl", "b.jsonl", "", "c.jsonl"};
    if (k == 2 || k == 4)
        return crr_spool_release(sp, k == 2 ? 5 : 20, NULL);
    int part = k == 3 ? 2 : k;
    crr_validate_opts_t vo = fx_vopts();
    int rc = crr_spool_begin(sp);
    if (rc)
        return rc;
    for (int i = 0; i < 8 && rc == 0; i++) {
        const char *l = part == 1 && i == 7 ? FX_BAD_EVENT : lines[8 * part + i];
        Crrmon__V1__Event *e = NULL;
        crr_diag_t d;
        rc = crr_edge_line(l, strlen(l), files[k], (uint64_t)i + 1, &vo, &e, &d);
        if (rc == 0) {
            rc = crr_spool_append(sp, e, files[k], (uint64_t)i + 1, NULL);
            crr_codec_free(&e->base);
        } else if (rc == CRR_EREJECT) {
            rc = crr_spool_reject(sp, &d, 0, l);
        }
    }
    crr_spool_ckpt_t cp = {.offset = 100, .line = 8};
    if (rc == 0)
        rc = crr_spool_checkpoint_set(sp, files[k], &cp);
    if (rc == 0)
        return crr_spool_commit(sp);
    crr_spool_abort(sp);
    return rc;
}

static int s_fetch_cb(void *ud, uint64_t seq, const uint8_t *ev, size_t len)
{
    uint64_t *h = ud;
    *h = fx_fnv(fx_fnv(*h, &seq, sizeof seq), ev, len);
    return 0;
}

/* What a run leaves: the counters, and the events with their origins. */
typedef struct spool_end {
    spool_state_t st;
    uint64_t events; /* hash of (seq, bytes) of every spooled event */
    char origin[24][16];
} spool_end_t;

static void s_spool_run(const char *dir, char **lines, spool_end_t *end, int *eio_seen)
{
    crr_spool_opts_t o = {.dir = dir, .source_id = "col-1", .max_bytes = 1 << 20};
    crr_spool_t *sp = NULL;
    assert_int_equal(crr_spool_open(&o, &sp), 0);
    for (int k = 0; k < 5; k++) {
        spool_state_t before = s_spool_state(sp);
        int rc = s_spool_step(sp, lines, k);
        if (rc == EIO) {
            (*eio_seen)++;
            assert_false(crr_spool_is_open(sp));
            spool_state_t now = s_spool_state(sp);
            assert_int_equal(now.next_seq, before.next_seq);
            assert_int_equal(now.acked_seq, before.acked_seq);
            assert_int_equal(now.count, before.count);
            assert_int_equal(now.bytes, before.bytes);
            assert_int_equal(now.rejects, before.rejects);
            if (now.fp != before.fp)
                fail_msg("step %d: the failed commit changed the spool", k);
            rc = s_spool_step(sp, lines, k); /* the collector tries again */
        }
        assert_int_equal(rc, 0);
    }
    end->st = s_spool_state(sp);
    end->events = 0;
    assert_int_equal(crr_spool_fetch(sp, 1, s_fetch_cb, &end->events), 0);
    for (uint64_t q = 21; q < end->st.next_seq; q++) {
        uint64_t line;
        assert_int_equal(
            crr_spool_origin(sp, q, end->origin[q - 21], sizeof end->origin[0], &line, NULL), 0);
    }
    crr_spool_close(&sp);
}

static void test_spool_commit_eio(void **state)
{
    (void)state;
    char *lines[FX_LINES];
    fx_lines(lines);
    char rdir[] = "/dev/shm/crr_eio_spref_XXXXXX";
    assert_non_null(mkdtemp(rdir));
    spool_end_t want, got;
    memset(&want, 0, sizeof want);
    int eio = 0;
    s_spool_run(rdir, lines, &want, &eio);
    assert_int_equal(eio, 0);
    assert_int_equal(want.st.next_seq, 24); /* 8 + 7 + 8 events */
    assert_int_equal(want.st.acked_seq, 20);
    assert_int_equal(want.st.count, 3);
    assert_int_equal(want.st.rejects, 1);
    assert_string_equal(want.origin[0], "c.jsonl");
    s_rm_rf(rdir);

    for (long n = 1; n <= 6; n++) { /* five commits, then one that never comes */
        char dir[] = "/dev/shm/crr_eio_spool_XXXXXX";
        assert_non_null(mkdtemp(dir));
        memset(&got, 0, sizeof got);
        eio = 0;
        crr_iofault_arm("spool_commit", n);
        s_spool_run(dir, lines, &got, &eio);
        crr_iofault_off();
        assert_int_equal(eio, n <= 5 ? 1 : 0);
        assert_int_equal(got.st.next_seq, want.st.next_seq);
        assert_int_equal(got.st.acked_seq, want.st.acked_seq);
        assert_int_equal(got.st.count, want.st.count);
        assert_int_equal(got.st.bytes, want.st.bytes);
        assert_int_equal(got.st.rejects, want.st.rejects);
        assert_true(got.events == want.events);
        for (int q = 0; q < 3; q++)
            assert_string_equal(got.origin[q], want.origin[q]);
        s_rm_rf(dir);
    }
    fx_lines_free(lines);
}

int main(void)
{
    setenv("CRRMON_NOW", NOW_TEXT, 1);
    crr_clock_reset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_commit_eio),
        cmocka_unit_test(test_spool_commit_eio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
