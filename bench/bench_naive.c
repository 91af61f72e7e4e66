/* bench_naive: the naive stack that issue 12's speed target is measured
 * against, built from the same libraries without any of crrmon's design:
 *   generated events (tools/gen, in memory, before the clock starts)
 *   -> protobuf-c pack, one ZeroMQ message per event, DEALER -> ROUTER on
 *   loopback TCP -> protobuf-c unpack -> LMDB put (key: big-endian sequence
 *   number, value: the packed event), one durable commit per 1,000 events.
 * No spool on the sending side, no batching into frames, no window, no
 * Acks, no validation, no aggregates: the floor a quick hand-rolled pipeline
 * would reach. Two threads (sender, receiver) in one process, as the JSONL
 * path's two processes share the same two cores.
 *
 * With a 4th argument "aggregate", the receiver also does crrmon's job the
 * naive way: per event, the record id put (MDB_NOOVERWRITE) and, for every
 * bucket crr_accumulate names (the same rules and bucket layout as the
 * store), an mdb_get, the addition and an mdb_put at once: no coalescing,
 * no key order, no validation. The quick hand-rolled pipeline that keeps
 * the same aggregates.
 *
 * Prints events/s from the first send to the last commit. Not a test:
 * bench/run.sh runs it beside the JSONL path for docs/PERFORMANCE.md. */
#include "accumulate.h"
#include "boroughs.h"
#include "clock.h"
#include "codec.h"
#include "gen.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

/* Events per durable LMDB commit. */
#define S_COMMIT_EVERY 1000

typedef struct {
    void *ctx;          /* zmq context */
    char endpoint[128]; /* the ROUTER's bound endpoint */
    const char *dir;    /* LMDB folder */
    uint64_t n;         /* events to receive */
    uint64_t done_ms;   /* when the last commit returned */
    int rc;             /* receiver's result */
    pthread_mutex_t mu; /* guards ready */
    pthread_cond_t cv;  /* signals ready */
    int ready;          /* 1 bound, -1 failed */
    int aggregate;      /* also keep the aggregates, naively (see the top) */
} s_bench_t;

/* The naive aggregate: each bucket read, added to and written back at once. */
typedef struct {
    MDB_txn *txn;               /* the open transaction */
    MDB_dbi agg, gauge;         /* buckets, headcount statements */
    const Crrmon__V1__Event *e; /* the event being added */
    int64_t day, arrival_day;   /* its days */
    uint8_t key[14];            /* the pending bucket's key */
    double m[CRR_AGG_MAXM];     /* its sums, being added to */
    unsigned nm;                /* its metrics, 0 = none pending */
    uint64_t order;             /* headcount statement counter */
} s_naive_agg_t;

/* Writes the pending bucket back. */
static int s_put_pending(s_naive_agg_t *g)
{
    if (!g->nm)
        return 0;
    MDB_val k = {sizeof g->key, g->key}, v = {g->nm * sizeof(double), g->m};
    g->nm = 0;
    return mdb_put(g->txn, g->agg, &k, &v, 0);
}

static int s_naive_sums(void *ctx, unsigned fam, const uint8_t cell[CRR_AGG_CELL], int by_arrival,
                        const char *name, size_t len, double **m)
{
    (void)name;
    (void)len;
    s_naive_agg_t *g = ctx;
    int rc = s_put_pending(g);
    if (rc)
        return rc;
    uint32_t day = (uint32_t)((by_arrival ? g->arrival_day : g->day) + 100000);
    g->key[0] = (uint8_t)crr_borough_index(g->e->borough);
    g->key[1] = (uint8_t)fam;
    for (int i = 0; i < 4; i++)
        g->key[2 + i] = (uint8_t)(day >> (24 - 8 * i));
    memcpy(g->key + 6, cell, CRR_AGG_CELL);
    g->nm = crr_fam_nmetrics(fam);
    MDB_val k = {sizeof g->key, g->key}, v;
    rc = mdb_get(g->txn, g->agg, &k, &v);
    if (rc == 0 && v.mv_size == g->nm * sizeof(double))
        memcpy(g->m, v.mv_data, v.mv_size);
    else
        memset(g->m, 0, sizeof g->m);
    *m = g->m;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int s_naive_headcount(void *ctx, unsigned group, uint32_t headcount, uint32_t in_scope)
{
    s_naive_agg_t *g = ctx;
    uint8_t k[10], v[8];
    k[0] = (uint8_t)crr_borough_index(g->e->borough);
    k[1] = (uint8_t)group;
    g->order++;
    for (int i = 0; i < 8; i++)
        k[2 + i] = (uint8_t)(g->order >> (56 - 8 * i));
    memcpy(v, &headcount, 4);
    memcpy(v + 4, &in_scope, 4);
    MDB_val kk = {sizeof k, k}, vv = {sizeof v, v};
    return mdb_put(g->txn, g->gauge, &kk, &vv, 0);
}

/* The record id, then every bucket of e, the naive way. */
static int s_naive_apply(s_naive_agg_t *g, MDB_dbi records, const Crrmon__V1__Event *e)
{
    if (e->record_id && e->record_id[0]) {
        MDB_val k = {strlen(e->record_id), e->record_id}, v = {0, ""};
        int rc = mdb_put(g->txn, records, &k, &v, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST)
            return 0;
        if (rc)
            return rc;
    }
    g->e = e;
    g->day = crr_day_of(e->occurred_at->seconds);
    crr_acc_ops_t ops = {.sums = s_naive_sums, .headcount = s_naive_headcount, .ctx = g};
    int rc = crr_accumulate(e, &ops);
    return rc ? rc : s_put_pending(g);
}

static void s_ready(s_bench_t *b, int v)
{
    pthread_mutex_lock(&b->mu);
    b->ready = v;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Receiver: ROUTER, unpack, put, commit every S_COMMIT_EVERY events. */
static void *s_receiver(void *arg)
{
    s_bench_t *b = arg;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi, records;
    s_naive_agg_t g = {.arrival_day = crr_day_of(crr_clock_now_sec())};
    void *router = zmq_socket(b->ctx, ZMQ_ROUTER);
    size_t elen = sizeof b->endpoint;
    if (!router || zmq_bind(router, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, b->endpoint, &elen) != 0 ||
        mdb_env_create(&env) || mdb_env_set_mapsize(env, (size_t)8 << 30) ||
        mdb_env_set_maxdbs(env, 4) || mdb_env_open(env, b->dir, 0, 0644) ||
        mdb_txn_begin(env, NULL, 0, &txn) || mdb_dbi_open(txn, "events", MDB_CREATE, &dbi) ||
        mdb_dbi_open(txn, "agg", MDB_CREATE, &g.agg) ||
        mdb_dbi_open(txn, "gauge", MDB_CREATE, &g.gauge) ||
        mdb_dbi_open(txn, "records", MDB_CREATE, &records)) {
        b->rc = 1;
        s_ready(b, -1);
        goto out;
    }
    s_ready(b, 1);
    zmq_msg_t id, body;
    zmq_msg_init(&id);
    zmq_msg_init(&body);
    for (uint64_t seq = 1; seq <= b->n; seq++) {
        if (zmq_msg_recv(&id, router, 0) < 0 || zmq_msg_recv(&body, router, 0) < 0) {
            b->rc = 1;
            break;
        }
        Crrmon__V1__Event *e =
            crrmon__v1__event__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        if (!e) {
            fprintf(stderr, "bench_naive: event %llu does not unpack\n", (unsigned long long)seq);
            b->rc = 1;
            break;
        }
        g.txn = txn;
        int arc = b->aggregate ? s_naive_apply(&g, records, e) : 0;
        crrmon__v1__event__free_unpacked(e, NULL);
        if (arc) {
            fprintf(stderr, "bench_naive: aggregate: %s\n", mdb_strerror(arc));
            b->rc = 1;
            break;
        }
        uint8_t k[8];
        for (int i = 0; i < 8; i++)
            k[i] = (uint8_t)(seq >> (56 - 8 * i));
        MDB_val key = {sizeof k, k}, val = {zmq_msg_size(&body), zmq_msg_data(&body)};
        int mrc = mdb_put(txn, dbi, &key, &val, MDB_APPEND);
        if (mrc) {
            fprintf(stderr, "bench_naive: mdb_put: %s\n", mdb_strerror(mrc));
            b->rc = 1;
            break;
        }
        if (seq % S_COMMIT_EVERY == 0 || seq == b->n) {
            int crc = mdb_txn_commit(txn);
            txn = NULL;
            if (crc || (seq < b->n && mdb_txn_begin(env, NULL, 0, &txn))) {
                b->rc = 1;
                break;
            }
        }
    }
    zmq_msg_close(&id);
    zmq_msg_close(&body);
    b->done_ms = crr_clock_mono_ms();
out:
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    if (router)
        zmq_close(router);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_naive LMDB_DIR EVENTS [DAYS [aggregate]]\n");
        return 64;
    }
    s_bench_t b = {.dir = argv[1], .n = strtoull(argv[2], NULL, 10)};
    int64_t days = argc > 3 ? strtoll(argv[3], NULL, 10) : 365;
    b.aggregate = argc > 4 && strcmp(argv[4], "aggregate") == 0;
    if (b.n == 0 || (mkdir(b.dir, 0755) != 0 && errno != EEXIST))
        return 64;

    /* generation is outside the timed part; packing is the sending side's
     * work and is timed */
    Crrmon__V1__Event **evs = calloc(b.n, sizeof *evs);
    crr_gen_t *gen = NULL;
    int64_t now = crr_clock_now_sec();
    crr_gen_opts_t go = {.seed = 7, .start_sec = now - days * 86400, .end_sec = now - 60};
    if (!evs || crr_gen_new(&go, &gen))
        return 1;
    for (uint64_t i = 0; i < b.n; i++)
        if (crr_gen_next(gen, &evs[i]))
            return 1;
    crr_gen_destroy(&gen);

    pthread_mutex_init(&b.mu, NULL);
    pthread_cond_init(&b.cv, NULL);
    b.ctx = zmq_ctx_new();
    pthread_t th;
    if (!b.ctx || pthread_create(&th, NULL, s_receiver, &b))
        return 1;
    pthread_mutex_lock(&b.mu);
    while (!b.ready)
        pthread_cond_wait(&b.cv, &b.mu);
    pthread_mutex_unlock(&b.mu);
    if (b.ready < 0) {
        pthread_join(th, NULL);
        fprintf(stderr, "bench_naive: receiver failed to start (%s)\n", b.dir);
        return 1;
    }
    void *dealer = zmq_socket(b.ctx, ZMQ_DEALER);
    int sndtimeo = 10000; /* a receiver that failed must not leave the sender blocked */
    if (!dealer || zmq_setsockopt(dealer, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo) != 0 ||
        zmq_connect(dealer, b.endpoint) != 0)
        return 1;

    uint64_t t0 = crr_clock_mono_ms();
    uint8_t buf[65536];
    for (uint64_t i = 0; i < b.n; i++) {
        size_t len = protobuf_c_message_get_packed_size(&evs[i]->base);
        if (len > sizeof buf)
            return 1;
        protobuf_c_message_pack(&evs[i]->base, buf);
        if (zmq_send(dealer, buf, len, 0) < 0) {
            fprintf(stderr, "bench_naive: send: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
    }
    pthread_join(th, NULL);
    uint64_t t1 = b.done_ms;
    double secs = (double)(t1 - t0) / 1000.0;
    if (b.rc) {
        fprintf(stderr, "bench_naive: receiver failed\n");
        return 1;
    }
    printf("%s events=%llu seconds=%.3f events_per_sec=%.0f commit_every=%d\n",
           b.aggregate ? "naive_aggregate" : "naive", (unsigned long long)b.n, secs,
           (double)b.n / secs, S_COMMIT_EVERY);
    zmq_close(dealer);
    zmq_ctx_term(b.ctx);
    for (uint64_t i = 0; i < b.n; i++)
        crr_codec_free(&evs[i]->base);
    free(evs);
    return 0;
}
