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
 * Prints events/s from the first send to the last commit. Not a test:
 * bench/run.sh runs it beside the JSONL path for docs/PERFORMANCE.md. */
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
} s_bench_t;

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
    MDB_dbi dbi;
    void *router = zmq_socket(b->ctx, ZMQ_ROUTER);
    size_t elen = sizeof b->endpoint;
    if (!router || zmq_bind(router, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, b->endpoint, &elen) != 0 ||
        mdb_env_create(&env) || mdb_env_set_mapsize(env, (size_t)8 << 30) ||
        mdb_env_open(env, b->dir, 0, 0644) || mdb_txn_begin(env, NULL, 0, &txn) ||
        mdb_dbi_open(txn, NULL, 0, &dbi)) {
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
        crrmon__v1__event__free_unpacked(e, NULL);
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
        fprintf(stderr, "usage: bench_naive LMDB_DIR EVENTS [DAYS]\n");
        return 64;
    }
    s_bench_t b = {.dir = argv[1], .n = strtoull(argv[2], NULL, 10)};
    int64_t days = argc > 3 ? strtoll(argv[3], NULL, 10) : 365;
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
    printf("naive events=%llu seconds=%.3f events_per_sec=%.0f commit_every=%d\n",
           (unsigned long long)b.n, secs, (double)b.n / secs, S_COMMIT_EVERY);
    zmq_close(dealer);
    zmq_ctx_term(b.ctx);
    for (uint64_t i = 0; i < b.n; i++)
        crr_codec_free(&evs[i]->base);
    free(evs);
    return 0;
}
