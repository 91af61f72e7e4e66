/* test_spool: collector/spool against a real LMDB environment in a mkdtemp
 * folder: identity (epoch kept across reopen, wrong source refused), append /
 * fetch / release, checkpoint atomicity with the events of the same txn,
 * the size bound (refuses, keeps the txn usable, frees on release), origins
 * of events (file, line) and rejects; the on-disk format version (recorded
 * at creation, recorded in a spool written before it, a newer one refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "lmdbx.h"
#include "spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];   /* the temp folder */
    crr_spool_t *s; /* the spool under test */
} fix_t;

static int s_rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static crr_spool_t *s_open(const char *dir, const char *source, uint64_t max)
{
    crr_spool_opts_t o = {.dir = dir, .source_id = source, .max_bytes = max};
    crr_spool_t *s = NULL;
    assert_int_equal(crr_spool_open(&o, &s), 0);
    assert_non_null(s);
    return s;
}

static int setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;
    crr_spool_close(&f->s);
    crr_spool_close(&f->s); /* idempotent */
    s_rm_rf(f->dir);
    free(f);
    return 0;
}

/* A small event: the spool stores whatever it is given. Built by hand, not
 * through the edge (event_fixture.h): it has no body, which the edge rejects,
 * and it stays as small as possible for the tests that fill a map. */
static void s_event(Crrmon__V1__Event *e, Google__Protobuf__Timestamp *ts, const char *rid)
{
    crrmon__v1__event__init(e);
    google__protobuf__timestamp__init(ts);
    ts->seconds = 1767225600;
    e->borough = "E09000001";
    e->occurred_at = ts;
    e->record_id = (char *)rid;
}

static void s_append_n(crr_spool_t *s, int n, const char *file, uint64_t line0)
{
    assert_int_equal(crr_spool_begin(s), 0);
    for (int i = 0; i < n; i++) {
        Crrmon__V1__Event e;
        Google__Protobuf__Timestamp ts;
        s_event(&e, &ts, "r");
        uint64_t seq = 0;
        assert_int_equal(crr_spool_append(s, &e, file, line0 + (uint64_t)i, &seq), 0);
        assert_int_equal(e.seq, seq);
        assert_string_equal(e.source_id, ""); /* restored */
    }
    assert_int_equal(crr_spool_commit(s), 0);
}

typedef struct {
    uint64_t seqs[256]; /* seqs seen */
    int n;              /* how many */
    int stop_after;     /* stop after this many (0 = never) */
} collect_t;

static int s_collect(void *ud, uint64_t seq, const uint8_t *ev, size_t len)
{
    collect_t *c = ud;
    Crrmon__V1__Event *e = NULL;
    assert_int_equal(crr_codec_unpack_event(ev, len, len, &e), 0);
    assert_int_equal(e->seq, seq);
    assert_string_equal(e->source_id, "borough-a");
    crr_codec_free(&e->base);
    c->seqs[c->n++] = seq;
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static void test_identity(void **state)
{
    fix_t *f = *state;
    uint64_t epoch = crr_spool_epoch(f->s);
    assert_true(epoch != 0);
    assert_string_equal(crr_spool_source_id(f->s), "borough-a");
    assert_int_equal(crr_spool_next_seq(f->s), 1);
    assert_int_equal(crr_spool_acked_seq(f->s), 0);
    assert_non_null(crr_spool_env(f->s));
    crr_spool_close(&f->s);
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    assert_true(crr_spool_epoch(f->s) == epoch);
    crr_spool_t *other = NULL;
    crr_spool_opts_t o = {.dir = f->dir, .source_id = "borough-b", .max_bytes = 1 << 20};
    crr_spool_close(&f->s); /* one env per process and folder */
    assert_int_equal(crr_spool_open(&o, &other), CRR_ECONFIG);
    assert_null(other);
    o.max_bytes = 0;
    assert_int_equal(crr_spool_open(&o, &other), CRR_EINVAL);
    f->s = s_open(f->dir, "borough-a", 1 << 20);

    /* a new folder gets another epoch */
    char dir2[64];
    snprintf(dir2, sizeof dir2, "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(dir2));
    crr_spool_t *s2 = s_open(dir2, "borough-a", 1 << 20);
    assert_true(crr_spool_epoch(s2) != epoch);
    crr_spool_close(&s2);
    s_rm_rf(dir2);
}

static void test_append_fetch_release(void **state)
{
    fix_t *f = *state;
    s_append_n(f->s, 10, "a.jsonl", 1);
    assert_int_equal(crr_spool_next_seq(f->s), 11);
    assert_int_equal(crr_spool_count(f->s), 10);
    assert_true(crr_spool_bytes(f->s) > 10 * CRR_SPOOL_EVENT_HDR);

    collect_t c = {0};
    assert_int_equal(crr_spool_fetch(f->s, 1, s_collect, &c), 0);
    assert_int_equal(c.n, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(c.seqs[i], (uint64_t)i + 1);
    memset(&c, 0, sizeof c);
    c.stop_after = 3;
    assert_int_equal(crr_spool_fetch(f->s, 4, s_collect, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.seqs[0], 4);

    uint64_t bytes = crr_spool_bytes(f->s), deleted = 0;
    assert_int_equal(crr_spool_release(f->s, 4, &deleted), 0);
    assert_int_equal(deleted, 4);
    assert_int_equal(crr_spool_acked_seq(f->s), 4);
    assert_int_equal(crr_spool_count(f->s), 6);
    assert_true(crr_spool_bytes(f->s) < bytes);
    /* an Ack beyond anything spooled releases nothing and wraps nothing */
    assert_int_equal(crr_spool_release(f->s, UINT64_MAX, &deleted), CRR_EINVAL);
    assert_int_equal(crr_spool_release(f->s, 11, &deleted), CRR_EINVAL);
    assert_int_equal(deleted, 0);
    assert_int_equal(crr_spool_next_seq(f->s), 11);
    assert_int_equal(crr_spool_acked_seq(f->s), 4);
    /* a repeated (duplicate) Ack changes nothing */
    assert_int_equal(crr_spool_release(f->s, 3, &deleted), 0);
    assert_int_equal(deleted, 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(crr_spool_fetch(f->s, 1, s_collect, &c), 0);
    assert_int_equal(c.n, 6);
    assert_int_equal(c.seqs[0], 5);

    /* counters survive a reopen */
    bytes = crr_spool_bytes(f->s);
    crr_spool_close(&f->s);
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    assert_int_equal(crr_spool_next_seq(f->s), 11);
    assert_int_equal(crr_spool_acked_seq(f->s), 4);
    assert_int_equal(crr_spool_count(f->s), 6);
    assert_int_equal(crr_spool_bytes(f->s), bytes);

    /* release inside an open txn is aborted with it */
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_release(f->s, 10, &deleted), 0);
    assert_int_equal(deleted, 6);
    assert_int_equal(crr_spool_count(f->s), 0);
    crr_spool_abort(f->s);
    assert_int_equal(crr_spool_count(f->s), 6);
    assert_int_equal(crr_spool_acked_seq(f->s), 4);
    assert_int_equal(crr_spool_release(f->s, 10, &deleted), 0);
    assert_int_equal(crr_spool_count(f->s), 0);
    assert_int_equal(crr_spool_bytes(f->s), 0);
    memset(&c, 0, sizeof c);
    assert_int_equal(crr_spool_fetch(f->s, 1, s_collect, &c), 0);
    assert_int_equal(c.n, 0);
}

/* crr_spool_checkpoint_foreach's callback: keys joined by ' ', stops at "stop". */
typedef struct {
    char keys[512];
    uint64_t offsets;
} s_keys_t;

static int s_key(void *ud, const char *key, const crr_spool_ckpt_t *cp)
{
    s_keys_t *k = ud;
    size_t n = strlen(k->keys);
    snprintf(k->keys + n, sizeof k->keys - n, "%s%s", n ? " " : "", key);
    k->offsets += cp->offset;
    return strstr(key, "stop") ? 7 : 0;
}

static void test_checkpoint_foreach(void **state)
{
    fix_t *f = *state;
    static const char *const keys[] = {"/drop/b.jsonl", "/drop/a.jsonl", "/dropped/c.jsonl",
                                       "/d/x.jsonl", "/drop/done/z.jsonl"};
    assert_int_equal(crr_spool_begin(f->s), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(
            crr_spool_checkpoint_set(f->s, keys[i], &(crr_spool_ckpt_t){(uint64_t)i + 1, 1}), 0);
    assert_int_equal(crr_spool_commit(f->s), 0);
    s_keys_t k = {0};
    /* under the prefix only, in key order */
    assert_int_equal(crr_spool_checkpoint_foreach(f->s, "/drop/", s_key, &k), 0);
    assert_string_equal(k.keys, "/drop/a.jsonl /drop/b.jsonl /drop/done/z.jsonl");
    assert_int_equal(k.offsets, 2 + 1 + 5);
    memset(&k, 0, sizeof k);
    assert_int_equal(crr_spool_checkpoint_foreach(f->s, "", s_key, &k), 0);
    assert_string_equal(
        k.keys, "/d/x.jsonl /drop/a.jsonl /drop/b.jsonl /drop/done/z.jsonl /dropped/c.jsonl");
    memset(&k, 0, sizeof k);
    assert_int_equal(crr_spool_checkpoint_foreach(f->s, "/nothing/", s_key, &k), 0);
    assert_string_equal(k.keys, "");
    /* fn's non-zero value stops the walk and is returned */
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_checkpoint_set(f->s, "/drop/stop.jsonl", &(crr_spool_ckpt_t){9, 1}),
                     0);
    memset(&k, 0, sizeof k);
    assert_int_equal(crr_spool_checkpoint_foreach(f->s, "/drop/", s_key, &k), 7);
    assert_string_equal(k.keys, "/drop/a.jsonl /drop/b.jsonl /drop/done/z.jsonl /drop/stop.jsonl");
    crr_spool_abort(f->s);
}

static void test_checkpoint_atomic(void **state)
{
    fix_t *f = *state;
    crr_spool_ckpt_t cp;
    assert_int_equal(crr_spool_checkpoint_get(f->s, "/data/a.jsonl", &cp), CRR_ENOTFOUND);
    assert_int_equal(crr_spool_checkpoint_set(f->s, "/data/a.jsonl", &(crr_spool_ckpt_t){1, 1}),
                     CRR_EINVAL); /* no txn */

    /* events and checkpoint in one txn: an abort drops both */
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_begin(f->s), CRR_EINVAL);
    assert_true(crr_spool_is_open(f->s));
    Crrmon__V1__Event e;
    Google__Protobuf__Timestamp ts;
    s_event(&e, &ts, "x");
    assert_int_equal(crr_spool_append(f->s, &e, "a.jsonl", 1, NULL), 0);
    assert_int_equal(crr_spool_append(f->s, &e, "a.jsonl", 2, NULL), 0);
    assert_int_equal(crr_spool_checkpoint_set(f->s, "/data/a.jsonl", &(crr_spool_ckpt_t){200, 2}),
                     0);
    assert_int_equal(crr_spool_checkpoint_get(f->s, "/data/a.jsonl", &cp), 0);
    assert_int_equal(cp.offset, 200);
    crr_spool_abort(f->s);
    assert_false(crr_spool_is_open(f->s));
    assert_int_equal(crr_spool_checkpoint_get(f->s, "/data/a.jsonl", &cp), CRR_ENOTFOUND);
    assert_int_equal(crr_spool_next_seq(f->s), 1);
    assert_int_equal(crr_spool_count(f->s), 0);

    /* committed: both visible, also after a reopen */
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_append(f->s, &e, "a.jsonl", 1, NULL), 0);
    crr_spool_ckpt_t id = {.offset = 100,
                           .line = 1,
                           .has_identity = 1,
                           .dev = 0x801,
                           .ino = 1234567,
                           .fp_len = 100,
                           .fp_hash = 0xfeedfacecafebeefull};
    assert_int_equal(crr_spool_checkpoint_set(f->s, "/data/a.jsonl", &id), 0);
    assert_int_equal(crr_spool_commit(f->s), 0);
    assert_int_equal(crr_spool_commit(f->s), CRR_EINVAL);
    crr_spool_close(&f->s);
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    assert_int_equal(crr_spool_checkpoint_get(f->s, "/data/a.jsonl", &cp), 0);
    assert_int_equal(cp.offset, 100);
    assert_int_equal(cp.line, 1);
    assert_int_equal(cp.has_identity, 1);
    assert_int_equal(cp.dev, 0x801);
    assert_int_equal(cp.ino, 1234567);
    assert_int_equal(cp.fp_len, 100);
    assert_true(cp.fp_hash == 0xfeedfacecafebeefull);
    assert_int_equal(crr_spool_next_seq(f->s), 2);
    assert_int_equal(crr_spool_count(f->s), 1);
}

/* A spool written before identities were kept holds 16-byte checkpoints
 * (offset, line): it still opens and reads them, without identity. */
static void test_checkpoint_without_identity(void **state)
{
    fix_t *f = *state;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(crr_spool_env(f->s), NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "checkpoints", 0, &dbi), 0);
    uint8_t v[16] = {0};
    v[7] = 200; /* offset 200 */
    v[15] = 4;  /* line 4 */
    MDB_val k = {13, "/data/old.txt"}, d = {16, v};
    assert_int_equal(mdb_put(txn, dbi, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    crr_spool_close(&f->s);
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    crr_spool_ckpt_t cp;
    memset(&cp, 0xff, sizeof cp);
    assert_int_equal(crr_spool_checkpoint_get(f->s, "/data/old.txt", &cp), 0);
    assert_int_equal(cp.offset, 200);
    assert_int_equal(cp.line, 4);
    assert_int_equal(cp.has_identity, 0);
    assert_int_equal(cp.ino, 0);
    assert_int_equal(cp.fp_len, 0);
}

static void test_full_refuses(void **state)
{
    fix_t *f = *state;
    crr_spool_close(&f->s);
    s_rm_rf(f->dir);
    f->s = s_open(f->dir, "borough-a", 400);
    Crrmon__V1__Event e;
    Google__Protobuf__Timestamp ts;
    s_event(&e, &ts, "rec");
    assert_int_equal(crr_spool_append(f->s, &e, NULL, 0, NULL), CRR_EINVAL); /* no txn */
    assert_int_equal(crr_spool_begin(f->s), 0);
    int n = 0, rc;
    while ((rc = crr_spool_append(f->s, &e, "a.jsonl", (uint64_t)n + 1, NULL)) == 0)
        n++;
    assert_int_equal(rc, CRR_ESPOOLFULL);
    assert_true(n > 0);
    assert_true(crr_spool_bytes(f->s) <= crr_spool_max_bytes(f->s));
    /* the txn is still usable: the checkpoint before the refused line commits */
    assert_int_equal(crr_spool_checkpoint_set(f->s, "k", &(crr_spool_ckpt_t){10, (uint64_t)n}), 0);
    assert_int_equal(crr_spool_commit(f->s), 0);
    assert_int_equal(crr_spool_count(f->s), (uint64_t)n);
    assert_int_equal(crr_spool_next_seq(f->s), (uint64_t)n + 1);
    /* still full in a new txn */
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_append(f->s, &e, NULL, 0, NULL), CRR_ESPOOLFULL);
    crr_spool_abort(f->s);
    /* an Ack frees room */
    assert_int_equal(crr_spool_release(f->s, 1, NULL), 0);
    assert_int_equal(crr_spool_begin(f->s), 0);
    uint64_t seq = 0;
    assert_int_equal(crr_spool_append(f->s, &e, NULL, 0, &seq), 0);
    assert_int_equal(seq, (uint64_t)n + 1);
    assert_int_equal(crr_spool_commit(f->s), 0);
}

static void test_origin_and_rejects(void **state)
{
    fix_t *f = *state;
    s_append_n(f->s, 3, "in/a.jsonl", 7);
    s_append_n(f->s, 2, "in/b.jsonl", 1);
    s_append_n(f->s, 1, NULL, 0);
    char file[64];
    uint64_t line = 0;
    Crrmon__V1__Event *ev = NULL;
    assert_int_equal(crr_spool_origin(f->s, 2, file, sizeof file, &line, &ev), 0);
    assert_string_equal(file, "in/a.jsonl");
    assert_int_equal(line, 8);
    assert_non_null(ev);
    assert_int_equal(ev->seq, 2);
    assert_string_equal(ev->borough, "E09000001");
    crr_codec_free(&ev->base);
    assert_int_equal(crr_spool_origin(f->s, 5, file, sizeof file, &line, NULL), 0);
    assert_string_equal(file, "in/b.jsonl");
    assert_int_equal(line, 2);
    assert_int_equal(crr_spool_origin(f->s, 6, file, sizeof file, &line, NULL), 0);
    assert_string_equal(file, "");
    assert_int_equal(crr_spool_origin(f->s, 99, file, sizeof file, &line, NULL), CRR_ENOTFOUND);

    uint64_t n = 9;
    assert_int_equal(crr_spool_rejects_count(f->s, &n), 0);
    assert_int_equal(n, 0);
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "in/a.jsonl");
    d.line = 4;
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH, "borough", "no such");
    assert_int_equal(crr_spool_reject(f->s, &d, 0, "{}"), CRR_EINVAL); /* no txn */
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_reject(f->s, &d, 0, "{\"borough\":\"X\"}"), 0);
    assert_int_equal(crr_spool_commit(f->s), 0);
    assert_int_equal(crr_spool_rejects_count(f->s, &n), 0);
    assert_int_equal(n, 1);
}

/* crr_spool_rejects_next_id, crr_spool_rejects_foreach and the marks (the
 * drop folder's first reject id per file): set/del only in a txn, kept
 * across a reopen, del of a missing mark is fine. */
static int s_count_rejects(const char *json, size_t len, void *ud)
{
    (void)json;
    (void)len;
    (*(int *)ud)++;
    return 0;
}

static void test_marks_and_reject_ids(void **state)
{
    fix_t *f = *state;
    uint64_t id = 0, v = 0;
    assert_int_equal(crr_spool_rejects_next_id(f->s, &id), 0);
    assert_int_equal(id, 1);
    assert_int_equal(crr_spool_mark_set(f->s, "drop:/x/a.jsonl", 1), CRR_EINVAL); /* no txn */
    assert_int_equal(crr_spool_mark_get(f->s, "drop:/x/a.jsonl", &v), CRR_ENOTFOUND);
    crr_diag_t d;
    crr_diag_clear(&d);
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "", "bad");
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_reject(f->s, &d, 0, NULL), 0);
    assert_int_equal(crr_spool_reject(f->s, &d, 0, NULL), 0);
    assert_int_equal(crr_spool_rejects_next_id(f->s, &id), 0); /* the open txn's view */
    assert_int_equal(id, 3);
    assert_int_equal(crr_spool_mark_set(f->s, "drop:/x/a.jsonl", id), 0);
    assert_int_equal(crr_spool_reject(f->s, &d, 0, NULL), 0);
    assert_int_equal(crr_spool_commit(f->s), 0);
    crr_spool_close(&f->s);
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    assert_int_equal(crr_spool_mark_get(f->s, "drop:/x/a.jsonl", &v), 0);
    assert_int_equal(v, 3);
    int n = 0;
    assert_int_equal(crr_spool_rejects_foreach(f->s, v, s_count_rejects, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_mark_del(f->s, "drop:/x/a.jsonl"), 0);
    assert_int_equal(crr_spool_mark_del(f->s, "drop:/x/none"), 0);
    assert_int_equal(crr_spool_mark_set(f->s, "", 1), CRR_EINVAL);
    assert_int_equal(crr_spool_commit(f->s), 0);
    assert_int_equal(crr_spool_mark_get(f->s, "drop:/x/a.jsonl", &v), CRR_ENOTFOUND);
}

/* crr_spool_mark_foreach: the marks under a prefix, in name order, with
 * their values; other meta keys and marks are not visited. */
typedef struct {
    char names[4][64];
    uint64_t values[4];
    int n;
} s_marks_t;

static int s_collect_mark(void *ud, const char *name, uint64_t value)
{
    s_marks_t *m = ud;
    if (m->n < 4) {
        snprintf(m->names[m->n], sizeof m->names[0], "%s", name);
        m->values[m->n] = value;
    }
    m->n++;
    return 0;
}

static void test_mark_foreach(void **state)
{
    fix_t *f = *state;
    assert_int_equal(crr_spool_begin(f->s), 0);
    assert_int_equal(crr_spool_mark_set(f->s, "drop:/x/b.csv", 7), 0);
    assert_int_equal(crr_spool_mark_set(f->s, "drop:/x/a.jsonl", 5), 0);
    assert_int_equal(crr_spool_mark_set(f->s, "drop:/xy/c.jsonl", 9), 0);
    assert_int_equal(crr_spool_mark_set(f->s, "other", 1), 0);
    assert_int_equal(crr_spool_commit(f->s), 0);
    s_marks_t m = {0};
    assert_int_equal(crr_spool_mark_foreach(f->s, "drop:/x/", s_collect_mark, &m), 0);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.names[0], "drop:/x/a.jsonl");
    assert_int_equal(m.values[0], 5);
    assert_string_equal(m.names[1], "drop:/x/b.csv");
    assert_int_equal(m.values[1], 7);
    memset(&m, 0, sizeof m);
    assert_int_equal(crr_spool_mark_foreach(f->s, "", s_collect_mark, &m), 0);
    assert_int_equal(m.n, 4); /* every mark, and no other meta key */
    memset(&m, 0, sizeof m);
    assert_int_equal(crr_spool_mark_foreach(f->s, "none:", s_collect_mark, &m), 0);
    assert_int_equal(m.n, 0);
}

/* A fresh epoch after the aggregator lost state: the waiting events become
 * seq 1.. (packed seq too), keep their origin, and it survives a reopen. */
static void test_new_epoch_renumbers(void **state)
{
    fix_t *f = *state;
    s_append_n(f->s, 200, "in/a.jsonl", 1);
    assert_int_equal(crr_spool_release(f->s, 150, NULL), 0);
    uint64_t old = crr_spool_epoch(f->s), prev = 0, bytes = crr_spool_bytes(f->s);
    assert_int_equal(crr_spool_new_epoch(f->s, &prev), 0);
    assert_int_equal(prev, old);
    assert_true(crr_spool_epoch(f->s) != old);
    assert_int_equal(crr_spool_acked_seq(f->s), 0);
    assert_int_equal(crr_spool_next_seq(f->s), 51);
    assert_int_equal(crr_spool_count(f->s), 50);
    assert_true(crr_spool_bytes(f->s) < bytes); /* seq 1..50 packs shorter than 151..200 */
    collect_t c = {0};
    assert_int_equal(crr_spool_fetch(f->s, 1, s_collect, &c), 0); /* checks packed seq == key */
    assert_int_equal(c.n, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(c.seqs[i], (uint64_t)i + 1);
    char file[64];
    uint64_t line = 0;
    assert_int_equal(crr_spool_origin(f->s, 1, file, sizeof file, &line, NULL), 0);
    assert_string_equal(file, "in/a.jsonl");
    assert_int_equal(line, 151);
    uint64_t epoch = crr_spool_epoch(f->s);
    bytes = crr_spool_bytes(f->s);
    crr_spool_close(&f->s);
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    assert_int_equal(crr_spool_epoch(f->s), epoch);
    assert_int_equal(crr_spool_next_seq(f->s), 51);
    assert_int_equal(crr_spool_bytes(f->s), bytes);
    s_append_n(f->s, 1, NULL, 0);
    assert_int_equal(crr_spool_next_seq(f->s), 52);
}

/* The spool's meta "format" value, in one txn on the spool's env (no spool
 * txn is open): set (v NULL: deleted) when set is 1, then read back
 * (UINT32_MAX when absent). */
static uint32_t s_format(crr_spool_t *s, int set, const uint32_t *v)
{
    MDB_env *env = crr_spool_env(s);
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {strlen(CRR_SPOOL_META_FORMAT), CRR_SPOOL_META_FORMAT}, d;
    uint8_t b[4];
    if (set && v) {
        crr_be32_put(b, *v);
        d.mv_size = 4;
        d.mv_data = b;
        assert_int_equal(mdb_put(txn, meta, &k, &d, 0), 0);
    } else if (set) {
        int rc = mdb_del(txn, meta, &k, NULL);
        assert_true(rc == 0 || rc == MDB_NOTFOUND);
    }
    uint32_t out = UINT32_MAX;
    if (mdb_get(txn, meta, &k, &d) == 0) {
        assert_int_equal(d.mv_size, 4);
        out = crr_be32_get(d.mv_data);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    return out;
}

/* Writes raw bytes as the format value of the spool in dir (no spool open). */
static void s_format_raw(const char *dir, const void *p, size_t n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    MDB_val k = {strlen(CRR_SPOOL_META_FORMAT), CRR_SPOOL_META_FORMAT}, d = {n, (void *)p};
    assert_int_equal(mdb_put(txn, meta, &k, &d, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_format_version(void **state)
{
    fix_t *f = *state;
    s_append_n(f->s, 3, "in/a.jsonl", 1);
    uint64_t epoch = crr_spool_epoch(f->s);
    /* a new spool records the version */
    assert_int_equal(s_format(f->s, 0, NULL), CRR_SPOOL_FORMAT_VERSION);

    /* a spool written before versions were kept (no key) reads as version 1
     * and gets the key at open; everything else as it was */
    assert_int_equal(s_format(f->s, 1, NULL), UINT32_MAX);
    crr_spool_close(&f->s);
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    assert_int_equal(s_format(f->s, 0, NULL), CRR_SPOOL_FORMAT_VERSION);
    assert_true(crr_spool_epoch(f->s) == epoch);
    assert_int_equal(crr_spool_next_seq(f->s), 4);
    assert_int_equal(crr_spool_count(f->s), 3);

    /* a newer version is refused (the collector exits 78) and left as it is */
    uint32_t newer = CRR_SPOOL_FORMAT_VERSION + 1;
    assert_int_equal(s_format(f->s, 1, &newer), newer);
    crr_spool_close(&f->s);
    crr_spool_opts_t o = {.dir = f->dir, .source_id = "borough-a", .max_bytes = 1 << 20};
    crr_spool_t *s = NULL;
    assert_int_equal(crr_spool_open(&o, &s), CRR_EVERSION);
    assert_null(s);
    assert_true(crr_err_bad_data(CRR_EVERSION));
    assert_int_equal(crr_spool_open(&o, &s), CRR_EVERSION); /* not downgraded by the first */
    uint8_t back[4];
    crr_be32_put(back, CRR_SPOOL_FORMAT_VERSION);
    s_format_raw(f->dir, back, 4); /* the refused open wrote nothing: reopening works */
    f->s = s_open(f->dir, "borough-a", 1 << 20);
    assert_int_equal(crr_spool_count(f->s), 3);
    crr_spool_close(&f->s);

    /* a value that is not 4 bytes is damage, refused as such */
    s_format_raw(f->dir, "\0\1", 2);
    assert_int_equal(crr_spool_open(&o, &s), MDB_CORRUPTED);
    assert_null(s);
}

/* Appends txns of `per` events (1,000-byte record ids, so that the spool
 * spans many pages) until the map refuses; returns how many events committed. */
static int s_fill_map(crr_spool_t *s, int per, int *last_rc)
{
    static char rid[1001];
    memset(rid, 'r', sizeof rid - 1);
    int n = 0;
    for (;;) {
        assert_int_equal(crr_spool_begin(s), 0);
        int rc = 0, i;
        for (i = 0; i < per && rc == 0; i++) {
            Crrmon__V1__Event e;
            Google__Protobuf__Timestamp ts;
            s_event(&e, &ts, rid);
            rc = crr_spool_append(s, &e, "a.jsonl", (uint64_t)(n + i) + 1, NULL);
        }
        if (rc == 0)
            rc = crr_spool_checkpoint_set(s, "k", &(crr_spool_ckpt_t){10, (uint64_t)(n + i)});
        if (rc == 0)
            rc = crr_spool_commit(s);
        else
            crr_spool_abort(s);
        if (rc) {
            *last_rc = rc;
            return n;
        }
        n += per;
    }
}

/* A spool whose map (as a disk) is full to the last page still deletes what
 * was acknowledged, and reads into the freed pages: before the reserve, the
 * release itself needed pages nobody had (LMDB copies what it changes and
 * records what it frees), and the collector stalled for ever with every
 * event acknowledged. */
static void test_full_map_still_releases(void **state)
{
    fix_t *f = *state;
    crr_spool_close(&f->s);
    s_rm_rf(f->dir);
    crr_spool_opts_t o = {
        .dir = f->dir, .source_id = "borough-a", .max_bytes = 1ull << 30, .map_size = 8u << 20};
    assert_int_equal(crr_spool_open(&o, &f->s), 0);
    int rc = 0;
    int n = s_fill_map(f->s, 200, &rc);
    assert_int_equal(rc, MDB_MAP_FULL);
    n += s_fill_map(f->s, 1, &rc); /* to the last page */
    assert_int_equal(rc, MDB_MAP_FULL);
    assert_true(n > 4000);
    assert_int_equal(crr_spool_count(f->s), (uint64_t)n);
    /* every event acknowledged: a release deletes them all (in two steps, as
     * the collector does on a full disk: LMDB reuses the pages a commit
     * frees only from the commit after the next one) */
    uint64_t deleted = 0;
    assert_int_equal(crr_spool_release(f->s, (uint64_t)n - 1, &deleted), 0);
    assert_int_equal(deleted, (uint64_t)n - 1);
    assert_int_equal(crr_spool_release(f->s, (uint64_t)n, &deleted), 0);
    assert_int_equal(deleted, 1);
    assert_int_equal(crr_spool_count(f->s), 0);
    /* and the freed pages take new events, numbered on */
    int m = s_fill_map(f->s, 200, &rc);
    assert_int_equal(rc, MDB_MAP_FULL);
    assert_true(m > n / 2);
    assert_int_equal(crr_spool_next_seq(f->s), (uint64_t)(n + m) + 1);
    assert_int_equal(crr_spool_release(f->s, (uint64_t)(n + m), &deleted), 0);
    assert_int_equal(deleted, (uint64_t)m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_fetch_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_foreach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_without_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_map_still_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origin_and_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_epoch_renumbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks_and_reject_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_foreach, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
