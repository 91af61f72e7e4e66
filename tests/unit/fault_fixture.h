/* fault_fixture: what the fault-hook tests share (test_mem.c, test_iofault.c):
 * JSON lines of every event type (from the generator, dumped once), a batch
 * built from lines through the edge function, and a fingerprint of an LMDB
 * environment's whole content so that "nothing changed" and "the same as a
 * run without faults" are exact. Included after cmocka.h and
 * store_fixture.h; everything is static inline. */
#ifndef CRR_FAULT_FIXTURE_H
#define CRR_FAULT_FIXTURE_H

#include "codec.h"
#include "edge.h"
#include "gen.h"
#include "json.h"
#include "rejects.h"

#include <lmdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FX_LINES 24 /* every one of the eleven types at least twice */

/* A bad line of each kind: JSON the codec refuses, an event validation refuses. */
#define FX_BAD_JSON "{\"borough\":\"E09000001\",\"stopSearch\":{\"count\":\"lots\"}}"
#define FX_BAD_EVENT                                                                               \
    "{\"borough\":\"E09000099\",\"occurredAt\":\"2026-02-01T00:00:00Z\","                          \
    "\"racistIncident\":{\"count\":1}}"

/* FX_LINES generated events as JSON lines (malloc'd; free with fx_lines_free). */
static inline void fx_lines(char **lines)
{
    crr_gen_opts_t o = {.seed = 8, .start_sec = NOW_SEC - 300 * 86400LL, .end_sec = NOW_SEC};
    crr_gen_t *g = NULL;
    assert_int_equal(crr_gen_new(&o, &g), 0);
    for (int i = 0; i < FX_LINES; i++) {
        Crrmon__V1__Event *e = NULL;
        assert_int_equal(crr_gen_next(g, &e), 0);
        assert_non_null(lines[i] = crr_json_dumps(&e->base, 0));
        crr_codec_free(&e->base);
    }
    crr_gen_destroy(&g);
}

static inline void fx_lines_free(char **lines)
{
    for (int i = 0; i < FX_LINES; i++)
        free(lines[i]);
}

static inline crr_validate_opts_t fx_vopts(void)
{
    crr_validate_opts_t vo = {.now_sec = NOW_SEC, .future_slack_sec = 300};
    return vo;
}

/* A heap batch (free with crr_codec_free) of source src, epoch 1, holding
 * the events of lines[0..n) with seqs first_seq.. (each line must pass the
 * edge), plus, when bad, one event validation refuses (its own seq, last). */
static inline Crrmon__V1__Batch *fx_batch(const char *src, uint64_t first_seq, char **lines,
                                          size_t n, int bad)
{
    Crrmon__V1__Batch *b = calloc(1, sizeof *b);
    crrmon__v1__batch__init(b);
    b->source_id = strdup(src);
    b->epoch = 1;
    b->events = calloc(n + 1, sizeof *b->events);
    crr_validate_opts_t vo = fx_vopts();
    crr_diag_t d;
    for (size_t i = 0; i < n; i++) {
        Crrmon__V1__Event *e = NULL;
        assert_int_equal(crr_edge_line(lines[i], strlen(lines[i]), "f", i + 1, &vo, &e, &d), 0);
        e->seq = first_seq + i;
        e->source_id = strdup(src);
        b->events[b->n_events++] = e;
    }
    if (bad) {
        /* valid JSON for the codec, refused by the aggregator's validation */
        ProtobufCMessage *m = NULL;
        assert_int_equal(crr_json_parse(&crrmon__v1__event__descriptor, FX_BAD_EVENT,
                                        strlen(FX_BAD_EVENT), &m, NULL),
                         0);
        Crrmon__V1__Event *e = (Crrmon__V1__Event *)m;
        e->seq = first_seq + n;
        e->source_id = strdup(src);
        b->events[b->n_events++] = e;
    }
    return b;
}

/* FNV-1a over bytes, continued from h. */
static inline uint64_t fx_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ULL;
    return h;
}

/* A hash of every named database's name, keys and values in env (not of
 * LMDB's own bookkeeping: page numbers may differ between equal contents),
 * leaving out the database named skip (NULL = none). */
static inline uint64_t fx_fingerprint_skip(MDB_env *env, const char *skip)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    MDB_txn *txn;
    MDB_dbi main_db;
    MDB_cursor *mc, *c;
    MDB_val k, v, dk, dv;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &main_db), 0);
    assert_int_equal(mdb_cursor_open(txn, main_db, &mc), 0);
    while (mdb_cursor_get(mc, &k, &v, MDB_NEXT) == 0) {
        char name[128];
        assert_true(k.mv_size < sizeof name);
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        h = fx_fnv(h, name, k.mv_size + 1);
        MDB_dbi dbi;
        if (skip && strcmp(name, skip) == 0)
            continue;
        if (mdb_dbi_open(txn, name, 0, &dbi) != 0) { /* a plain key of the main db */
            h = fx_fnv(h, v.mv_data, v.mv_size);
            continue;
        }
        assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
        while (mdb_cursor_get(c, &dk, &dv, MDB_NEXT) == 0) {
            h = fx_fnv(h, &dk.mv_size, sizeof dk.mv_size);
            h = fx_fnv(h, dk.mv_data, dk.mv_size);
            h = fx_fnv(h, &dv.mv_size, sizeof dv.mv_size);
            h = fx_fnv(h, dv.mv_data, dv.mv_size);
        }
        mdb_cursor_close(c);
    }
    mdb_cursor_close(mc);
    mdb_txn_abort(txn);
    return h;
}

static inline uint64_t fx_fingerprint(MDB_env *env)
{
    return fx_fingerprint_skip(env, NULL);
}

/* A hash of the records of env's rejects database (common/rejects.h) with
 * their "raw" member left out (the part a reject must never lose), and
 * member drop too when not NULL; checks each has its code and reason. */
static inline uint64_t fx_rejects_but_raw(MDB_env *env, const char *drop)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, CRR_REJECTS_DB, 0, &dbi), 0);
    assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
    while (mdb_cursor_get(c, &k, &v, MDB_NEXT) == 0) {
        json_t *o = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        assert_non_null(o);
        assert_non_null(json_object_get(o, "code"));
        assert_non_null(json_object_get(o, "reason"));
        json_object_del(o, "raw");
        if (drop)
            json_object_del(o, drop);
        char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        h = fx_fnv(fx_fnv(h, k.mv_data, k.mv_size), t, strlen(t) + 1);
        free(t);
        json_decref(o);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return h;
}

/* Entries in env's database name. */
static inline size_t fx_entries(MDB_env *env, const char *name)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, name, 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

/* What an Ack would say about a job, for comparing two runs. */
typedef struct fx_ack {
    uint64_t durable_seq, n_applied, n_duplicate, n_rejected, total_applied, total_rejected;
    int error;
} fx_ack_t;

static inline fx_ack_t fx_ack(const crr_store_job_t *j)
{
    fx_ack_t a = {j->durable_seq,   j->n_applied,      j->n_duplicate, j->n_rejected,
                  j->total_applied, j->total_rejected, j->error};
    return a;
}

static inline void fx_ack_equal(const fx_ack_t *a, const fx_ack_t *b)
{
    assert_int_equal(a->durable_seq, b->durable_seq);
    assert_int_equal(a->n_applied, b->n_applied);
    assert_int_equal(a->n_duplicate, b->n_duplicate);
    assert_int_equal(a->n_rejected, b->n_rejected);
    assert_int_equal(a->total_applied, b->total_applied);
    assert_int_equal(a->total_rejected, b->total_rejected);
    assert_int_equal(a->error, b->error);
}

/* applied_seq of (src, 1) in s, 0 when the source is unknown. */
typedef struct fx_src {
    const char *id;
    uint64_t applied_seq;
} fx_src_t;

static inline int fx_src_cb(const crr_source_info_t *i, void *ud)
{
    fx_src_t *x = ud;
    if (strcmp(i->source_id, x->id) == 0 && i->epoch == 1)
        x->applied_seq = i->applied_seq;
    return 0;
}

static inline uint64_t fx_applied_seq(crr_store_t *s, const char *src)
{
    fx_src_t x = {src, 0};
    assert_int_equal(crr_store_sources_foreach(s, fx_src_cb, &x), 0);
    return x.applied_seq;
}

#endif
