/* test_sender: client/sender against a real ROUTER socket on loopback TCP
 * that the test drives by hand: frames are valid Batches within the window
 * and the size limit, cumulative Acks release frames, duplicate Acks are
 * harmless, expected_seq makes it go back once (no storm), rejections reach
 * the owner, a timeout resends, an error Ack is counted, a frame answered
 * store_failed (the aggregator could not unpack or store it) is sent again
 * with the same seqs and released only by a later Ack, and a key refused
 * by the aggregator's ZAP handler gets through once admitted. The owner is an
 * in-memory array of packed events, as `crrmon send` keeps them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "clock.h"
#include "event_fixture.h"
#include "sender.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define N_EVENTS 100

typedef struct {
    uint8_t *ev[N_EVENTS + 1]; /* packed events by seq (1-based) */
    size_t len[N_EVENTS + 1];  /* their sizes */
    uint64_t durable;          /* last durable_seq given to on_ack */
    int acks;                  /* on_ack calls */
    uint64_t rej_seq;          /* last rejection's seq */
    char rej_field[64];        /* and field */
    int bad_seq;               /* fetch: skip a seq to provoke EINVAL */
    int add_rc;                /* fetch: last non-zero batch_add result */
} owner_t;

typedef struct {
    void *ctx;          /* zmq context */
    void *router;       /* the test's aggregator */
    char endpoint[64];  /* where it listens */
    owner_t own;        /* the event owner */
    crr_sender_t *s;    /* sender under test */
    uint8_t ident[256]; /* the DEALER's routing id */
    size_t ident_len;   /* its length */
    void *extra[2];     /* sockets a test opened beyond these (closed by teardown) */
} fix_t;

static int s_fetch(void *ud, uint64_t from, crr_sender_batch_t *b)
{
    owner_t *o = ud;
    for (uint64_t q = from; q <= N_EVENTS; q++) {
        uint64_t use = (o->bad_seq && q == 3) ? 5 : q;
        int rc = crr_sender_batch_add(b, use, o->ev[use], o->len[use]);
        if (rc) {
            o->add_rc = rc;
            break;
        }
    }
    return 0;
}

static int s_on_ack(void *ud, uint64_t durable, Crrmon__V1__Rejection *const *rej, size_t n)
{
    owner_t *o = ud;
    o->durable = durable;
    o->acks++;
    if (n) {
        o->rej_seq = rej[n - 1]->seq;
        snprintf(o->rej_field, sizeof o->rej_field, "%s", rej[n - 1]->field);
    }
    return 0;
}

static uint64_t s_depth(void *ud)
{
    owner_t *o = ud;
    return N_EVENTS - o->durable;
}

static const crr_sender_source_t s_src = {s_fetch, s_on_ack, s_depth};

static int setup(void **state)
{
    fix_t *f = calloc(1, sizeof *f);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(f->router, "tcp://127.0.0.1:*"), 0);
    size_t sz = sizeof f->endpoint;
    zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &sz);
    for (int i = 1; i <= N_EVENTS; i++) {
        Crrmon__V1__Event *e = fx_event("{\"borough\":\"E09000001\",\"occurredAt\":"
                                        "\"2026-03-01T12:00:00Z\",\"recordId\":\"record-%d\","
                                        "\"racistIncident\":{}}",
                                        i);
        e->source_id = fx_dup("src");
        e->seq = (uint64_t)i;
        assert_int_equal(crr_codec_pack(&e->base, &f->own.ev[i], &f->own.len[i]), 0);
        crr_codec_free(&e->base);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fix_t *f = *state;
    crr_sender_destroy(&f->s);
    crr_sender_destroy(&f->s);
    for (int i = 0; i < 2; i++)
        if (f->extra[i])
            zmq_close(f->extra[i]); /* a failed test leaves them open: ctx_term would hang */
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    for (int i = 1; i <= N_EVENTS; i++)
        free(f->own.ev[i]);
    free(f);
    return 0;
}

static void s_start(fix_t *f, uint64_t window, uint64_t batch, uint64_t max_frame, int64_t resend)
{
    crr_sender_opts_t o = {
        .endpoint = f->endpoint,
        .source_id = "src",
        .epoch = 77,
        .first_seq = 1,
        .window_frames = window,
        .batch_events = batch,
        .max_frame_bytes = max_frame,
        .resend_ms = resend,
    };
    assert_int_equal(crr_sender_new(f->ctx, &o, &s_src, &f->own, &f->s), 0);
}

/* Sends Ack a to the sender under test, as the aggregator's ROUTER would. */
static void s_send_ack(fix_t *f, const Crrmon__V1__Ack *a)
{
    uint8_t *buf;
    size_t len;
    assert_int_equal(crr_codec_pack(&a->base, &buf, &len), 0);
    assert_true(zmq_send(f->router, f->ident, f->ident_len, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(f->router, buf, len, 0) >= 0);
    free(buf);
}

/* Drives the sender until the router has a frame (returned, caller frees
 * with crr_codec_free) or timeout_ms passes (NULL). *raw_len gets its size. */
static Crrmon__V1__Batch *s_next_batch(fix_t *f, long timeout_ms, size_t *raw_len)
{
    uint64_t deadline = crr_clock_mono_ms() + (uint64_t)timeout_ms;
    while (crr_clock_mono_ms() < deadline) {
        assert_int_equal(crr_sender_poll(f->s, 5), 0);
        zmq_msg_t id, m;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, f->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            continue;
        }
        f->ident_len = zmq_msg_size(&id);
        memcpy(f->ident, zmq_msg_data(&id), f->ident_len);
        zmq_msg_close(&id);
        zmq_msg_init(&m);
        assert_true(zmq_msg_recv(&m, f->router, 0) >= 0);
        Crrmon__V1__Batch *b = NULL;
        if (raw_len)
            *raw_len = zmq_msg_size(&m);
        assert_int_equal(crr_codec_unpack_batch(zmq_msg_data(&m), zmq_msg_size(&m), 1 << 24, &b),
                         0);
        zmq_msg_close(&m);
        return b;
    }
    return NULL;
}

static void s_ack(fix_t *f, uint64_t durable, uint64_t expected, Crrmon__V1__Rejection *rej,
                  int error)
{
    Crrmon__V1__Ack a = CRRMON__V1__ACK__INIT;
    a.source_id = "src";
    a.epoch = 77;
    a.durable_seq = durable;
    a.expected_seq = expected;
    Crrmon__V1__Rejection *list[1] = {rej};
    if (rej) {
        a.rejected = list;
        a.n_rejected = 1;
    }
    if (error) {
        a.error = CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED;
        a.error_text = "garbage";
    }
    s_send_ack(f, &a);
}

/* Which counter s_wait_stat polls. */
typedef enum { W_CONNECTED, W_ACKS, W_RESENDS } wait_on_t;

static uint64_t s_stat_of(const crr_sender_stats_t *st, wait_on_t w)
{
    return w == W_CONNECTED ? (uint64_t)st->connected : w == W_ACKS ? st->acks : st->resends;
}

/* Drives the sender until counter w reaches at least want (deadline 10 s:
 * a polled condition, never a fixed wait); returns the stats then. */
static crr_sender_stats_t s_wait_stat(fix_t *f, wait_on_t w, uint64_t want)
{
    crr_sender_stats_t st;
    uint64_t deadline = crr_clock_mono_ms() + 10000;
    for (;;) {
        crr_sender_stats(f->s, &st);
        if (s_stat_of(&st, w) >= want)
            return st;
        assert_true(crr_clock_mono_ms() < deadline);
        assert_int_equal(crr_sender_poll(f->s, 5), 0);
    }
}

/* Runs the sender's work loop a number of times without waiting: whatever it
 * would send on its own (window not full, timers) it sends here. */
static void s_run_idle(fix_t *f)
{
    for (int i = 0; i < 20; i++)
        assert_int_equal(crr_sender_process(f->s), 0);
}

static void s_check(const Crrmon__V1__Batch *b, uint64_t first, size_t n)
{
    assert_non_null(b);
    assert_string_equal(b->source_id, "src");
    assert_int_equal(b->epoch, 77);
    assert_int_equal(b->n_events, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b->events[i]->seq, first + i);
}

static void test_window_and_cumulative_ack(void **state)
{
    fix_t *f = *state;
    s_start(f, 3, 10, 1 << 20, 60000);
    for (uint64_t k = 0; k < 3; k++) {
        Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
        s_check(b, 1 + k * 10, 10);
        assert_int_equal(b->spool_depth, N_EVENTS);
        crr_codec_free(&b->base);
    }
    /* However late the monitor reports the (first) connection, it is not a
     * reason to resend: the frames went out on that connection. */
    crr_sender_stats_t st = s_wait_stat(f, W_CONNECTED, 1);
    /* the window is full: nothing more without an Ack */
    s_run_idle(f);
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.frames_inflight, 3);
    assert_int_equal(st.frames_sent, 3);
    assert_int_equal(st.events_sent, 30);
    assert_int_equal(st.resends, 0);

    s_ack(f, 20, 0, NULL, 0); /* covers two frames */
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 31, 10);
    crr_codec_free(&b->base);
    b = s_next_batch(f, 5000, NULL);
    s_check(b, 41, 10);
    crr_codec_free(&b->base);
    assert_int_equal(f->own.durable, 20);
    assert_int_equal(crr_sender_acked_seq(f->s), 20);
    s_run_idle(f);
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.frames_sent, 5);

    /* a duplicate Ack changes nothing and is not passed on again */
    int acks = f->own.acks;
    s_ack(f, 20, 0, NULL, 0);
    st = s_wait_stat(f, W_ACKS, 2);
    assert_int_equal(f->own.acks, acks);
    assert_int_equal(st.frames_inflight, 3);
    assert_int_equal(st.frames_sent, 5);
    assert_int_equal(st.acks, 2);
}

static void test_expected_seq_goes_back_once(void **state)
{
    fix_t *f = *state;
    s_start(f, 4, 10, 1 << 20, 60000);
    for (int k = 0; k < 4; k++) {
        Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
        assert_non_null(b);
        crr_codec_free(&b->base);
    }
    /* the aggregator lost nothing durable beyond 10 and wants 11 again:
     * every later frame of the old window reports the same gap */
    s_ack(f, 10, 11, NULL, 0);
    s_ack(f, 10, 11, NULL, 0);
    s_ack(f, 10, 11, NULL, 0);
    for (uint64_t k = 0; k < 4; k++) { /* one new window: 11..50 */
        Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
        s_check(b, 11 + k * 10, 10);
        crr_codec_free(&b->base);
    }
    /* every repeated gap has been read, and none started another window */
    crr_sender_stats_t st = s_wait_stat(f, W_ACKS, 3);
    s_run_idle(f);
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.frames_sent, 8);
    assert_int_equal(st.resends, 1);
    assert_int_equal(st.acked_seq, 10);
}

static void test_rejections_and_error_ack(void **state)
{
    fix_t *f = *state;
    s_start(f, 1, 10, 1 << 20, 60000);
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 10);
    crr_codec_free(&b->base);
    Crrmon__V1__Rejection r = CRRMON__V1__REJECTION__INIT;
    r.seq = 4;
    r.code = CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH;
    r.field = "borough";
    r.reason = "not a London borough";
    s_ack(f, 0, 0, NULL, 1); /* an error Ack: counted, nothing released */
    s_ack(f, 10, 0, &r, 0);
    b = s_next_batch(f, 5000, NULL);
    s_check(b, 11, 10);
    crr_codec_free(&b->base);
    assert_int_equal(f->own.rej_seq, 4);
    assert_string_equal(f->own.rej_field, "borough");
    crr_sender_stats_t st;
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.ack_errors, 1);
    assert_int_equal(st.rejections, 1);
    assert_int_equal(f->own.durable, 10);
}

static void test_timeout_resends(void **state)
{
    fix_t *f = *state;
    s_start(f, 2, 10, 1 << 20, 200);
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 10);
    crr_codec_free(&b->base);
    b = s_next_batch(f, 5000, NULL);
    s_check(b, 11, 10);
    crr_codec_free(&b->base);
    /* no Ack: after the timeout the window is sent again from seq 1 */
    b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 10);
    crr_codec_free(&b->base);
    crr_sender_stats_t st;
    crr_sender_stats(f->s, &st);
    assert_true(st.resends >= 1); /* more than one if this thread was held up past 200 ms */
}

/* The Ack the aggregator sends for a frame it could not unpack for lack of
 * memory (aggregator/ingest.c): error = STORE_FAILED, no source (the batch
 * was never read). */
static void s_store_failed_ack(fix_t *f)
{
    Crrmon__V1__Ack a = CRRMON__V1__ACK__INIT;
    a.error = CRRMON__V1__REJECT_CODE__REJECT_CODE_STORE_FAILED;
    a.error_text =
        "the aggregator could not unpack this batch: Cannot allocate memory: resend later";
    s_send_ack(f, &a);
}

/* A frame answered store_failed is not released: it is sent again, the same
 * seqs, after the resend timeout, and only a later Ack releases it. */
static void test_store_failed_ack_resends(void **state)
{
    fix_t *f = *state;
    s_start(f, 1, 10, 1 << 20, 200);
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 10);
    crr_codec_free(&b->base);
    s_store_failed_ack(f);
    b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 10); /* the same frame again */
    crr_codec_free(&b->base);
    assert_int_equal(f->own.acks, 0); /* nothing released by the error Ack */
    s_ack(f, 10, 0, NULL, 0);
    /* more copies of seq 1-10 if this thread was held up past 200 ms; then 11-20 */
    while ((b = s_next_batch(f, 5000, NULL)) != NULL && b->n_events && b->events[0]->seq == 1)
        crr_codec_free(&b->base);
    s_check(b, 11, 10);
    crr_codec_free(&b->base);
    assert_int_equal(f->own.durable, 10);
    crr_sender_stats_t st;
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.ack_errors, 1);
    assert_true(st.resends >= 1);
}

/* The aggregator goes away and comes back on the same port: the frames in
 * flight on the old connection are sent again from the first unacknowledged
 * seq, without waiting for the resend timeout. */
static void test_reconnect_resends(void **state)
{
    fix_t *f = *state;
    s_start(f, 2, 10, 1 << 20, 600000);
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 10);
    crr_codec_free(&b->base);
    s_ack(f, 10, 0, NULL, 0);
    for (uint64_t k = 0; k < 2; k++) {
        b = s_next_batch(f, 5000, NULL);
        s_check(b, 11 + k * 10, 10);
        crr_codec_free(&b->base);
    }
    s_wait_stat(f, W_CONNECTED, 1);
    zmq_close(f->router);
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    /* the old listener is closed by libzmq's I/O thread: retry until the port is free */
    uint64_t deadline = crr_clock_mono_ms() + 10000;
    while (zmq_bind(f->router, f->endpoint) != 0) {
        assert_int_equal(zmq_errno(), EADDRINUSE);
        assert_true(crr_clock_mono_ms() < deadline);
        assert_int_equal(crr_sender_poll(f->s, 5), 0);
    }
    b = s_next_batch(f, 10000, NULL);
    s_check(b, 11, 10);
    crr_codec_free(&b->base);
    crr_sender_stats_t st;
    crr_sender_stats(f->s, &st);
    assert_true(st.resends >= 1);
    assert_int_equal(st.acked_seq, 10);
}

/* A CURVE aggregator for the refusal test: a ROUTER with a ZAP handler
 * (REP) answered on the test thread between two turns of the sender. */
typedef struct {
    void *router, *zap;     /* CURVE server ROUTER; REP on the ZAP endpoint */
    char endpoint[64];      /* where the ROUTER listens */
    int admit;              /* the ZAP handler's answer: 200 when set, else 400 */
    int requests;           /* ZAP requests answered */
    crr_curve_client_t key; /* the sender's keys */
} curve_fix_t;

static void s_zap_answer(curve_fix_t *c)
{
    zmq_msg_t f[7];
    int n = 0, more = 1;
    while (more && n < 7) {
        zmq_msg_init(&f[n]);
        assert_true(zmq_msg_recv(&f[n], c->zap, 0) >= 0);
        more = zmq_msg_more(&f[n++]);
    }
    assert_int_equal(n, 7);
    const char *status = c->admit ? "200" : "400";
    zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(c->zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
    zmq_send(c->zap, status, 3, ZMQ_SNDMORE);
    zmq_send(c->zap, "", 0, ZMQ_SNDMORE);
    zmq_send(c->zap, "user", 4, ZMQ_SNDMORE);
    zmq_send(c->zap, "", 0, 0);
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    c->requests++;
}

/* Drives the sender and answers ZAP until the CURVE router holds a frame
 * (returns its first seq) or, with want_frame 0, until zap_requests were
 * answered (returns 0). Fails after 15 s. */
static uint64_t s_drive_curve(fix_t *f, curve_fix_t *c, int want_frame, int zap_requests)
{
    uint64_t deadline = crr_clock_mono_ms() + 15000;
    for (;;) {
        assert_true(crr_clock_mono_ms() < deadline);
        assert_int_equal(crr_sender_poll(f->s, 5), 0);
        zmq_pollitem_t it = {c->zap, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 0) > 0)
            s_zap_answer(c);
        if (!want_frame && c->requests >= zap_requests)
            return 0;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            continue;
        }
        assert_true(zmq_msg_more(&m)); /* routing id, then the Batch */
        assert_true(zmq_msg_recv(&m, c->router, 0) >= 0);
        Crrmon__V1__Batch *b = NULL;
        assert_int_equal(crr_codec_unpack_batch(zmq_msg_data(&m), zmq_msg_size(&m), 1 << 24, &b),
                         0);
        zmq_msg_close(&m);
        assert_true(want_frame); /* nothing may pass while the key is refused */
        uint64_t first = b->events[0]->seq;
        crr_codec_free(&b->base);
        return first;
    }
}

/* The aggregator's ZAP handler refuses the key (unknown or revoked): libzmq
 * does not reconnect after such a refusal, so the sender must connect again
 * by itself; once the key is admitted its first frame goes through. */
static void test_refused_key_connects_again_once_admitted(void **state)
{
    fix_t *f = *state;
    curve_fix_t c = {0};
    char spub[41], ssec[41], cpub[41], csec[41];
    assert_int_equal(zmq_curve_keypair(spub, ssec), 0);
    assert_int_equal(zmq_curve_keypair(cpub, csec), 0);
    c.key.on = 1;
    zmq_z85_decode(c.key.pub, cpub);
    zmq_z85_decode(c.key.sec, csec);
    zmq_z85_decode(c.key.server, spub);
    int zero = 0, one = 1;
    c.zap = f->extra[0] = zmq_socket(f->ctx, ZMQ_REP);
    zmq_setsockopt(c.zap, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(c.zap, "inproc://zeromq.zap.01"), 0);
    c.router = f->extra[1] = zmq_socket(f->ctx, ZMQ_ROUTER);
    zmq_setsockopt(c.router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c.router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(c.router, ZMQ_CURVE_SECRETKEY, ssec, 40);
    assert_int_equal(zmq_bind(c.router, "tcp://127.0.0.1:*"), 0);
    size_t sz = sizeof c.endpoint;
    zmq_getsockopt(c.router, ZMQ_LAST_ENDPOINT, c.endpoint, &sz);
    crr_sender_opts_t o = {
        .endpoint = c.endpoint,
        .source_id = "src",
        .epoch = 77,
        .first_seq = 1,
        .window_frames = 2,
        .batch_events = 10,
        .max_frame_bytes = 1 << 20,
        .resend_ms = 600000,
        .curve = &c.key,
    };
    assert_int_equal(crr_sender_new(f->ctx, &o, &s_src, &f->own, &f->s), 0);
    s_drive_curve(f, &c, 0, 2); /* refused, and it tried again by itself */
    crr_sender_stats_t st;
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.connected, 0);
    assert_int_equal(st.frames_sent, 0);
    c.admit = 1; /* the operator admits the key */
    assert_int_equal(s_drive_curve(f, &c, 1, 0), 1);
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.connected, 1);
}

static void test_frame_size_limit(void **state)
{
    fix_t *f = *state;
    size_t max = 200;
    s_start(f, 64, 1000, max, 60000);
    uint64_t next = 1;
    while (next <= N_EVENTS) {
        size_t raw = 0;
        Crrmon__V1__Batch *b = s_next_batch(f, 5000, &raw);
        assert_non_null(b);
        assert_true(raw <= max);
        assert_true(b->n_events >= 1);
        s_check(b, next, b->n_events);
        next += b->n_events;
        crr_codec_free(&b->base);
    }
    assert_int_equal(f->own.add_rc, CRR_ETOOBIG);
    /* bad options are refused */
    crr_sender_t *s2 = NULL;
    crr_sender_opts_t o = {.endpoint = f->endpoint,
                           .source_id = "src",
                           .epoch = 1,
                           .first_seq = 1,
                           .window_frames = 1,
                           .batch_events = 1,
                           .max_frame_bytes = 10,
                           .resend_ms = 100};
    assert_int_equal(crr_sender_new(f->ctx, &o, &s_src, &f->own, &s2), CRR_EINVAL);
    o.max_frame_bytes = 4096;
    o.first_seq = 0;
    assert_int_equal(crr_sender_new(f->ctx, &o, &s_src, &f->own, &s2), CRR_EINVAL);
    assert_null(s2);
}

/* A fake aggregator answers with sequences that were never sent: durable_seq
 * 2^64-1, then a rejection of seq 2^64-1, then one of seq 0. Each Ack is
 * ignored whole (logged, counted): nothing reaches the owner, nothing is
 * released, and a genuine Ack still works afterwards. */
static void test_untrusted_acks_ignored(void **state)
{
    fix_t *f = *state;
    s_start(f, 2, 10, 1 << 20, 600000);
    for (uint64_t k = 0; k < 2; k++) {
        Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
        s_check(b, 1 + k * 10, 10);
        crr_codec_free(&b->base);
    }
    Crrmon__V1__Rejection r = CRRMON__V1__REJECTION__INIT;
    r.code = CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH;
    r.field = "borough";
    r.reason = "x";
    s_ack(f, UINT64_MAX, 0, NULL, 0);
    r.seq = UINT64_MAX;
    s_ack(f, 10, 0, &r, 0);
    r.seq = 0;
    s_ack(f, 10, 0, &r, 0);
    s_ack(f, 21, 0, NULL, 0); /* one past the last seq sent (20) */
    crr_sender_stats_t st = s_wait_stat(f, W_ACKS, 4);
    s_run_idle(f);
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.ack_errors, 4);
    assert_int_equal(st.acked_seq, 0);
    assert_int_equal(st.rejections, 0);
    assert_int_equal(st.frames_inflight, 2);
    assert_int_equal(st.next_seq, 21);
    assert_int_equal(f->own.acks, 0);
    /* the real aggregator's Ack is applied as usual */
    s_ack(f, 20, 0, NULL, 0);
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 21, 10);
    crr_codec_free(&b->base);
    assert_int_equal(f->own.durable, 20);
    assert_int_equal(crr_sender_acked_seq(f->s), 20);
}

/* The aggregator's store went back in time: after acknowledging 20 it
 * expects seq 5. The sender halts (LOST_STATE, seq 5) instead of ignoring it
 * forever: nothing more is sent, no Ack reaches the owner any more. */
static void test_lost_state_halts(void **state)
{
    fix_t *f = *state;
    s_start(f, 2, 10, 1 << 20, 600000);
    for (uint64_t k = 0; k < 2; k++) {
        Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
        s_check(b, 1 + k * 10, 10);
        crr_codec_free(&b->base);
    }
    s_ack(f, 20, 0, NULL, 0);
    for (uint64_t k = 0; k < 2; k++) {
        Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
        s_check(b, 21 + k * 10, 10);
        crr_codec_free(&b->base);
    }
    assert_int_equal(crr_sender_halted(f->s, NULL), CRR_SENDER_RUNNING);
    s_ack(f, 4, 5, NULL, 0);
    s_ack(f, 40, 0, NULL, 0); /* ignored once halted */
    crr_sender_stats_t st = s_wait_stat(f, W_ACKS, 3);
    s_run_idle(f);
    uint64_t seq = 0;
    assert_int_equal(crr_sender_halted(f->s, &seq), CRR_SENDER_LOST_STATE);
    assert_int_equal(seq, 5);
    crr_sender_stats(f->s, &st);
    assert_int_equal(st.frames_sent, 4);
    assert_int_equal(st.acked_seq, 20);
    assert_int_equal(f->own.durable, 20);
    assert_int_equal(f->own.acks, 1);
}

/* Sends an Ack refusing the frame as a sequence conflict for epoch. */
static void s_conflict_ack(fix_t *f, uint64_t epoch)
{
    Crrmon__V1__Ack a = CRRMON__V1__ACK__INIT;
    a.source_id = "src";
    a.epoch = epoch;
    a.durable_seq = 10;
    a.error = CRRMON__V1__REJECT_CODE__REJECT_CODE_SEQUENCE_CONFLICT;
    a.error_text = "seq 1 was applied before with another event";
    s_send_ack(f, &a);
}

/* Another sender holds this (source, epoch) at the aggregator: a conflict
 * for another epoch is only counted, one for ours halts the sender, and its
 * durable_seq releases nothing. */
static void test_sequence_conflict_halts(void **state)
{
    fix_t *f = *state;
    s_start(f, 1, 10, 1 << 20, 600000);
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 10);
    crr_codec_free(&b->base);
    s_conflict_ack(f, 78);
    s_wait_stat(f, W_ACKS, 1);
    assert_int_equal(crr_sender_halted(f->s, NULL), CRR_SENDER_RUNNING);
    s_conflict_ack(f, 77);
    crr_sender_stats_t st = s_wait_stat(f, W_ACKS, 2);
    s_run_idle(f);
    crr_sender_stats(f->s, &st);
    assert_int_equal(crr_sender_halted(f->s, NULL), CRR_SENDER_CONFLICT);
    assert_int_equal(st.ack_errors, 2);
    assert_int_equal(st.acked_seq, 0);
    assert_int_equal(st.frames_sent, 1);
    assert_int_equal(f->own.acks, 0);
}

static void test_non_consecutive_refused(void **state)
{
    fix_t *f = *state;
    f->own.bad_seq = 1;
    s_start(f, 1, 10, 1 << 20, 60000);
    Crrmon__V1__Batch *b = s_next_batch(f, 5000, NULL);
    s_check(b, 1, 2); /* 1, 2, then 5 in place of 3 is refused */
    crr_codec_free(&b->base);
    assert_int_equal(f->own.add_rc, CRR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_window_and_cumulative_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expected_seq_goes_back_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections_and_error_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_failed_ack_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_key_connects_again_once_admitted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_untrusted_acks_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_state_halts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_conflict_halts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_frame_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_consecutive_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
