/* bench_e2e: end-to-end throughput of the protobuf path, as a collector runs
 * it: events generated in memory (tools/gen, no JSON), appended to a durable
 * LMDB spool (collector/spool, one txn per chunk, fsync'd), sent by the sender
 * engine (client/sender: DEALER, window, go-back-N) to a running aggregator,
 * released from the spool on each Ack. One thread, like crrmon-collector.
 *
 * Prints events/s over the whole run and the p50/p99 of the time from an
 * event's first send to the Ack that covers it. Generation happens before the
 * clock starts. Not a test: bench/run.sh starts the aggregator and records
 * the figures for docs/PERFORMANCE.md. */
#include "clock.h"
#include "codec.h"
#include "gen.h"
#include "log.h"
#include "sender.h"
#include "spool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

typedef struct {
    crr_spool_t *spool;
    uint64_t *sent_ms; /* first send time per seq (index seq) */
    uint32_t *lat_ms;  /* latency per acknowledged event */
    uint64_t nlat;
    uint64_t acked;
    uint64_t total;
} bench_t;

typedef struct {
    bench_t *b;
    crr_sender_batch_t *batch;
    uint64_t now;
} fetch_ctx_t;

static int s_add(void *ud, uint64_t seq, const uint8_t *ev, size_t len)
{
    fetch_ctx_t *f = ud;
    int rc = crr_sender_batch_add(f->batch, seq, ev, len);
    if (rc)
        return 1; /* frame full: stop */
    if (seq <= f->b->total && !f->b->sent_ms[seq])
        f->b->sent_ms[seq] = f->now;
    return 0;
}

static int s_fetch(void *ud, uint64_t from_seq, crr_sender_batch_t *batch)
{
    fetch_ctx_t f = {ud, batch, crr_clock_mono_ms()};
    bench_t *b = ud;
    int rc = crr_spool_fetch(b->spool, from_seq, s_add, &f);
    return rc < 0 ? rc : 0;
}

static int s_on_ack(void *ud, uint64_t durable, Crrmon__V1__Rejection *const *rej, size_t n)
{
    (void)rej;
    bench_t *b = ud;
    if (n)
        fprintf(stderr, "bench: %zu events rejected (generator bug?)\n", n);
    uint64_t now = crr_clock_mono_ms();
    for (uint64_t s = b->acked + 1; s <= durable && s <= b->total; s++)
        b->lat_ms[b->nlat++] = (uint32_t)(now - b->sent_ms[s]);
    if (durable > b->acked)
        b->acked = durable;
    return crr_spool_release(b->spool, durable, NULL);
}

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_e2e ENDPOINT SPOOL_DIR EVENTS [WINDOW_FRAMES BATCH_EVENTS "
                        "CHUNK TYPES DAYS]\n");
        return 64;
    }
    const char *endpoint = argv[1];
    const char *dir = argv[2];
    uint64_t n = strtoull(argv[3], NULL, 10);
    uint64_t window = argc > 4 ? strtoull(argv[4], NULL, 10) : 64;
    uint64_t per_batch = argc > 5 ? strtoull(argv[5], NULL, 10) : 2000;
    uint64_t chunk = argc > 6 ? strtoull(argv[6], NULL, 10) : 20000;
    const char *types = argc > 7 && *argv[7] ? argv[7] : NULL; /* e.g. "training_cost" */
    /* occurred_at spread: 300 days is a backfill (many distinct day buckets per
     * group); 1 day is live traffic (few buckets, updates coalesce) */
    int64_t days = argc > 8 ? strtoll(argv[8], NULL, 10) : 300;
    crr_log_set_component("bench");
    crr_log_set_level(CRR_LOG_WARN);

    /* generate first, outside the timed part */
    Crrmon__V1__Event **evs = calloc(n, sizeof *evs);
    crr_gen_t *gen = NULL;
    int64_t now = crr_clock_now_sec();
    crr_gen_opts_t go = {
        .seed = 42, .start_sec = now - days * 86400, .end_sec = now - 60, .types = types};
    if (!evs || crr_gen_new(&go, &gen))
        return 1;
    for (uint64_t i = 0; i < n; i++)
        if (crr_gen_next(gen, &evs[i]))
            return 1;
    crr_gen_destroy(&gen);

    bench_t b = {.total = n};
    b.sent_ms = calloc(n + 1, sizeof *b.sent_ms);
    b.lat_ms = calloc(n + 1, sizeof *b.lat_ms);
    crr_spool_opts_t so = {.dir = dir, .source_id = "bench", .max_bytes = (uint64_t)4 << 30};
    if (crr_spool_open(&so, &b.spool)) {
        fprintf(stderr, "bench: cannot open spool %s\n", dir);
        return 1;
    }
    void *ctx = zmq_ctx_new();
    crr_sender_source_t src = {.fetch = s_fetch, .on_ack = s_on_ack};
    crr_sender_opts_t o = {.endpoint = endpoint,
                           .source_id = "bench",
                           .epoch = crr_spool_epoch(b.spool),
                           .first_seq = 1,
                           .window_frames = window,
                           .batch_events = per_batch,
                           .max_frame_bytes = 8u << 20,
                           .resend_ms = 5000};
    crr_sender_t *snd = NULL;
    if (crr_sender_new(ctx, &o, &src, &b, &snd)) {
        fprintf(stderr, "bench: sender failed\n");
        return 1;
    }

    uint64_t t0 = crr_clock_mono_ms();
    uint64_t spooled = 0;
    while (b.acked < n) {
        /* keep the spool a little ahead of the window, like a reader would */
        if (spooled < n && spooled - b.acked < window * per_batch * 2) {
            crr_spool_begin(b.spool);
            uint64_t end = spooled + chunk < n ? spooled + chunk : n;
            for (; spooled < end; spooled++)
                if (crr_spool_append(b.spool, evs[spooled], NULL, 0, NULL))
                    return 1;
            if (crr_spool_commit(b.spool))
                return 1;
            crr_sender_process(snd);
            crr_sender_poll(snd, 0);
        } else {
            crr_sender_poll(snd, 50);
        }
    }
    uint64_t t1 = crr_clock_mono_ms();
    qsort(b.lat_ms, b.nlat, sizeof *b.lat_ms, s_cmp_u32);
    double secs = (double)(t1 - t0) / 1000.0;
    printf("events=%llu seconds=%.3f events_per_sec=%.0f p50_ms=%u p99_ms=%u window_frames=%llu "
           "batch_events=%llu\n",
           (unsigned long long)n, secs, (double)n / secs, b.lat_ms[b.nlat / 2],
           b.lat_ms[(size_t)((double)b.nlat * 0.99)], (unsigned long long)window,
           (unsigned long long)per_batch);

    crr_sender_destroy(&snd);
    zmq_ctx_term(ctx);
    crr_spool_close(&b.spool);
    for (uint64_t i = 0; i < n; i++)
        crr_codec_free(&evs[i]->base);
    free(evs);
    free(b.sent_ms);
    free(b.lat_ms);
    return 0;
}
