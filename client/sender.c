/* sender: DEALER window / Ack / resend engine (see sender.h for the protocol).
 *
 * Design:
 * - Frames are built by concatenation, not by packing a Crrmon__V1__Batch: a
 *   Batch is field 1 (source_id), 2 (epoch), 3 (repeated Event) and 4
 *   (spool_depth), and protobuf's wire format lets a message be the
 *   concatenation of its fields in any order, with an embedded message written
 *   as tag 0x1A + varint length + its packed bytes. The owner already holds
 *   each event packed (the spool stores packed Events), so unpacking and
 *   repacking them would only burn CPU. The result is byte-for-byte what
 *   protobuf_c_message_pack would produce for the same Batch, except that
 *   field 4 is written last.
 * - Go-back-N: the window records only (first, last) of each frame; a resend
 *   re-fetches from the owner. After a go-back, Acks of the older frames
 *   still arrive; their durable_seq is cumulative and harmless, and repeated
 *   expected_seq values for the target already being resent are ignored for
 *   one timeout so that one gap does not cause a resend storm.
 * - ZMQ_IMMEDIATE: frames are queued only on a completed connection, so an
 *   unreachable aggregator makes sends fail with EAGAIN (retried on a timer)
 *   instead of piling duplicates into a queue. The socket monitor reports
 *   handshakes and disconnects; a disconnect, and the handshake of a
 *   re-connection, mean a resend from the first unacknowledged seq (the first
 *   handshake does not: see sender.h).
 * Invariants: acked_seq < next_seq; window frames are ascending and
 * contiguous, ending at next_seq - 1; frames <= window_frames.
 * Threading: one thread. Does not store events, decide when to give up, or
 * know about files: the owner does. */
#include "sender.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room kept at the end of every frame for field 4 (tag + 10-byte varint). */
#define S_TRAILER_MAX 11
/* Retry interval for a send refused because no connection is up. */
#define S_RETRY_MS 50
/* After a refused handshake libzmq does not reconnect by itself (libzmq 4.3:
 * the connecting session ends on a protocol error or ZAP refusal); the
 * sender connects again after this long, doubling up to S_REJOIN_MAX_MS. */
#define S_REJOIN_MIN_MS 1000
#define S_REJOIN_MAX_MS 10000
/* Largest Ack we accept. */
#define S_ACK_MAX (16u << 20)

struct crr_sender_batch {
    uint8_t *buf;      /* frame bytes */
    size_t len;        /* bytes used */
    size_t cap;        /* max_frame_bytes */
    size_t n;          /* events added */
    size_t max_events; /* batch_events */
    uint64_t first;    /* seq of the first event, 0 if none */
    uint64_t last;     /* seq of the last event */
    size_t head_len;   /* bytes of fields 1 and 2 */
    int warned_big;    /* an oversized event was reported */
};

typedef struct {
    uint64_t first; /* first seq of the frame */
    uint64_t last;  /* last seq */
} s_frame_t;

struct crr_sender {
    void *sock;               /* DEALER to the aggregator */
    void *mon;                /* PAIR receiving the DEALER's monitor events */
    crr_sender_source_t src;  /* the owner's callbacks */
    void *ud;                 /* the owner's data */
    char *endpoint;           /* owned copy */
    char *source_id;          /* owned copy */
    uint64_t epoch;           /* Batch.epoch */
    uint64_t window;          /* max frames in flight */
    int64_t resend_ms;        /* timeout without progress */
    s_frame_t *frames;        /* ring of window frames in flight */
    uint64_t head, nframes;   /* ring start and length */
    uint64_t acked_seq;       /* highest durable seq */
    uint64_t next_seq;        /* next seq for a new frame */
    uint64_t progress_ms;     /* last ack progress or window start */
    uint64_t retry_at_ms;     /* when a refused send may be retried (0 = now) */
    uint64_t goback_seq;      /* target of the last go-back */
    uint64_t goback_ms;       /* when it happened */
    int lost_conn;            /* a disconnect was seen since the last handshake */
    int handshake_failed;     /* the last handshake failed: ZMQ_EVENT_HANDSHAKE_FAILED_*, or 0 */
    uint64_t rejoin_at_ms;    /* connect again at this time after a refusal (0 = not due) */
    uint64_t rejoin_ms;       /* the current wait before connecting again */
    char key[CRR_CERT_Z85];   /* this sender's CURVE public key (Z85), "" in plain TCP */
    uint64_t max_sent;        /* highest seq put in a frame in this run */
    crr_sender_halt_t halted; /* why sending stopped for good, or RUNNING */
    uint64_t halt_seq;        /* the seq that goes with it */
    crr_sender_batch_t batch; /* the frame buffer, reused */
    crr_sender_stats_t st;    /* counters */
};

static size_t s_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t s_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int crr_sender_batch_add(crr_sender_batch_t *b, uint64_t seq, const uint8_t *ev, size_t len)
{
    if (b->n && seq != b->last + 1)
        return CRR_EINVAL;
    if (b->n >= b->max_events)
        return CRR_ETOOBIG;
    size_t need = 1 + s_varint_size(len) + len;
    if (b->len + need + S_TRAILER_MAX > b->cap) {
        if (b->n == 0 && !b->warned_big) {
            b->warned_big = 1;
            CRR_ERROR("event seq=%llu is %zu bytes, more than the frame limit %zu: it cannot be "
                      "sent (raise sender.max_frame_bytes)",
                      (unsigned long long)seq, len, b->cap);
        }
        return CRR_ETOOBIG;
    }
    uint8_t *p = b->buf + b->len;
    *p++ = 0x1A; /* field 3, wire type 2: an embedded Event */
    p += s_varint(p, len);
    memcpy(p, ev, len);
    b->len += need;
    if (b->n++ == 0)
        b->first = seq;
    b->last = seq;
    return 0;
}

static void s_batch_reset(crr_sender_batch_t *b)
{
    b->len = b->head_len;
    b->n = 0;
    b->first = b->last = 0;
}

static int s_batch_init(crr_sender_batch_t *b, const crr_sender_opts_t *o)
{
    size_t idlen = strlen(o->source_id);
    size_t head = 1 + s_varint_size(idlen) + idlen + 1 + s_varint_size(o->epoch);
    if (o->max_frame_bytes < head + S_TRAILER_MAX + 64)
        return CRR_EINVAL;
    b->cap = (size_t)o->max_frame_bytes;
    b->max_events = (size_t)o->batch_events;
    if (!(b->buf = malloc(b->cap)))
        return -ENOMEM;
    uint8_t *p = b->buf;
    *p++ = 0x0A; /* field 1, length-delimited: source_id */
    p += s_varint(p, idlen);
    memcpy(p, o->source_id, idlen);
    p += idlen;
    *p++ = 0x10; /* field 2, varint: epoch */
    p += s_varint(p, o->epoch);
    b->head_len = (size_t)(p - b->buf);
    s_batch_reset(b);
    return 0;
}

int crr_sender_new(void *ctx, const crr_sender_opts_t *o, const crr_sender_source_t *src, void *ud,
                   crr_sender_t **out)
{
    *out = NULL;
    if (!ctx || !o || !src || !src->fetch || !src->on_ack || !o->endpoint || !o->source_id ||
        !*o->source_id || o->first_seq == 0 || o->window_frames == 0 || o->batch_events == 0 ||
        o->resend_ms <= 0)
        return CRR_EINVAL;
    crr_sender_t *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int rc = -ENOMEM;
    s->src = *src;
    s->ud = ud;
    s->epoch = o->epoch;
    s->window = o->window_frames;
    s->resend_ms = o->resend_ms;
    s->acked_seq = o->first_seq - 1;
    s->next_seq = o->first_seq;
    if (!(s->endpoint = strdup(o->endpoint)) || !(s->source_id = strdup(o->source_id)) ||
        !(s->frames = calloc((size_t)s->window, sizeof *s->frames)))
        goto fail;
    if ((rc = s_batch_init(&s->batch, o)))
        goto fail;

    if (!(s->sock = zmq_socket(ctx, ZMQ_DEALER)))
        goto fail_zmq;
    /* CURVE keys are set below (crr_curve_client_apply), before zmq_connect */
    int one = 1, zero = 0;
    int ivl = 100, ivl_max = 2000, hb = 2000, hb_timeout = 6000;
    int hwm = (int)(s->window * 2 + 16);
    int64_t maxmsg = S_ACK_MAX;
    if (zmq_setsockopt(s->sock, ZMQ_IMMEDIATE, &one, sizeof one) ||
        zmq_setsockopt(s->sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(s->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) ||
        zmq_setsockopt(s->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max) ||
        zmq_setsockopt(s->sock, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb) ||
        zmq_setsockopt(s->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout) ||
        zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg))
        goto fail_zmq;
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://crr-sender-mon-%p", (void *)s);
    if (zmq_socket_monitor(s->sock, mon_ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) ||
        !(s->mon = zmq_socket(ctx, ZMQ_PAIR)) ||
        zmq_setsockopt(s->mon, ZMQ_LINGER, &zero, sizeof zero) || zmq_connect(s->mon, mon_ep))
        goto fail_zmq;
    if (o->curve && o->curve->on)
        zmq_z85_encode(s->key, o->curve->pub, CRR_CERT_KEY);
    if ((rc = crr_curve_client_apply(o->curve, s->sock)) != 0) {
        CRR_ERROR("sender: cannot set the CURVE keys: %s", zmq_strerror(-rc));
        goto fail;
    }
    if (zmq_connect(s->sock, s->endpoint)) {
        CRR_ERROR("sender: cannot connect to %s: %s", s->endpoint, zmq_strerror(zmq_errno()));
        goto fail_zmq;
    }
    s->st.last_ack_ms = 0;
    CRR_INFO("sender: connecting to %s source=%s epoch=%llu from seq=%llu", s->endpoint,
             s->source_id, (unsigned long long)s->epoch, (unsigned long long)s->next_seq);
    *out = s;
    return 0;
fail_zmq:
    rc = -zmq_errno();
    if (rc == 0)
        rc = CRR_EINVAL;
fail:
    crr_sender_destroy(&s);
    return rc;
}

void crr_sender_destroy(crr_sender_t **sp)
{
    if (!sp || !*sp)
        return;
    crr_sender_t *s = *sp;
    if (s->sock) {
        zmq_socket_monitor(s->sock, NULL, 0);
        zmq_close(s->sock);
    }
    if (s->mon)
        zmq_close(s->mon);
    free(s->batch.buf);
    free(s->frames);
    free(s->endpoint);
    free(s->source_id);
    free(s);
    *sp = NULL;
}

/* Forgets the window and resends from seq (>= acked_seq + 1). */
static void s_goback(crr_sender_t *s, uint64_t seq, const char *why)
{
    if (seq <= s->acked_seq)
        seq = s->acked_seq + 1;
    if (s->nframes || seq != s->next_seq) {
        s->st.resends++;
        CRR_INFO("sender: resending from seq=%llu (%s; %llu frame(s) were in flight)",
                 (unsigned long long)seq, why, (unsigned long long)s->nframes);
    }
    s->next_seq = seq;
    s->head = 0;
    s->nframes = 0;
    s->retry_at_ms = 0;
    s->goback_seq = seq;
    s->goback_ms = crr_clock_mono_ms();
}

/* A failed handshake (monitor event ev, value v): logged once per change of
 * cause, so a sender refused for hours says so once, not at every retry.
 * libzmq keeps reconnecting; the owner keeps its events. */
static void s_handshake_failed(crr_sender_t *s, uint16_t ev, uint32_t v)
{
    if (ev != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
        /* libzmq gave this connection up: try again later (crr_sender_process) */
        s->rejoin_ms = s->rejoin_ms ? s->rejoin_ms * 2 : S_REJOIN_MIN_MS;
        if (s->rejoin_ms > S_REJOIN_MAX_MS)
            s->rejoin_ms = S_REJOIN_MAX_MS;
        s->rejoin_at_ms = crr_clock_mono_ms() + s->rejoin_ms;
    }
    if (s->handshake_failed == ev)
        return;
    s->handshake_failed = ev;
    if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        CRR_ERROR("sender: the aggregator at %s refuses this client's key (CURVE public key %s; "
                  "ZAP status %u): it is not among its admitted certificates, or was revoked. "
                  "Ask its operator to admit it; unacknowledged events are kept (a collector's "
                  "stay in its spool) and are sent once it does",
                  s->endpoint, s->key[0] ? s->key : "none", (unsigned)v);
    else if (v == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
        CRR_ERROR("sender: the handshake with %s failed: the aggregator runs %s; use the same "
                  "[security] settings on both sides (unacknowledged events are kept)",
                  s->endpoint,
                  s->key[0] ? "plain TCP (--insecure) and this client CURVE"
                            : "CURVE and this client plain TCP (--insecure)");
    else if (!s->key[0])
        CRR_ERROR("sender: the handshake with %s failed (%s 0x%x): this client runs plain TCP "
                  "(--insecure); if the aggregator runs CURVE, set [security] client_cert and "
                  "server_key (unacknowledged events are kept)",
                  s->endpoint,
                  ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "no detail",
                  (unsigned)v);
    else
        CRR_ERROR("sender: the handshake with %s failed (%s 0x%x): is [security] server_key the "
                  "public certificate of the aggregator at this endpoint? (unacknowledged events "
                  "are kept; libzmq keeps retrying)",
                  s->endpoint,
                  ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "protocol error" : "no detail",
                  (unsigned)v);
}

static void s_on_monitor(crr_sender_t *s)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        uint16_t ev = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&m) >= 6) {
            memcpy(&ev, zmq_msg_data(&m), sizeof ev);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&m) + 2, sizeof value);
        }
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s->mon, 0) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            s->st.connected = 1;
            if (s->handshake_failed)
                CRR_INFO("sender: connected to %s: the aggregator accepts this client again",
                         s->endpoint);
            else
                CRR_INFO("sender: connected to %s", s->endpoint);
            s->handshake_failed = 0;
            s->rejoin_ms = 0;
            /* a first connection carries every frame sent so far (ZMQ_IMMEDIATE
             * queues nothing before it): however late its event is read, there
             * is nothing to resend. A re-connection may follow frames that went
             * into the dying pipe of the old one: resend those. */
            if (s->lost_conn)
                s_goback(s, s->acked_seq + 1, "reconnected");
            s->lost_conn = 0;
        } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
                   ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            s_handshake_failed(s, ev, value);
        } else if (ev == ZMQ_EVENT_DISCONNECTED) {
            s->st.connected = 0;
            s->lost_conn = 1;
            if (s->handshake_failed) /* the end of a refused attempt: said once above */
                CRR_DEBUG("sender: disconnected from %s after a failed handshake", s->endpoint);
            else
                CRR_WARN("sender: disconnected from %s; will resend unacknowledged events",
                         s->endpoint);
            /* frames queued on the old connection are gone with it */
            s_goback(s, s->acked_seq + 1, "disconnected");
        }
    }
}

/* Highest seq an Ack may name: what the owner ever handed out, at least what
 * this run sent and what was acknowledged when it started. */
static uint64_t s_seq_bound(const crr_sender_t *s)
{
    uint64_t b = s->src.last_seq ? s->src.last_seq(s->ud) : 0;
    if (b < s->max_sent)
        b = s->max_sent;
    return b < s->acked_seq ? s->acked_seq : b;
}

/* Whether the Ack names only sequences that exist (logged when not). */
static int s_ack_trusted(crr_sender_t *s, const Crrmon__V1__Ack *ack)
{
    uint64_t bound = s_seq_bound(s);
    const char *what = NULL;
    uint64_t seq = ack->durable_seq;
    if (ack->durable_seq > bound)
        what = "durable_seq";
    for (size_t i = 0; !what && i < ack->n_rejected; i++) {
        seq = ack->rejected[i]->seq;
        if (seq == 0 || seq > bound)
            what = "a rejection's seq";
    }
    if (!what)
        return 1;
    s->st.ack_errors++;
    CRR_ERROR("sender: ignoring an Ack from %s whose %s is %llu, but seq %llu is the highest "
              "ever sent by source=%s epoch=%llu: nothing is released for it (a wrong or "
              "hostile endpoint?)",
              s->endpoint, what, (unsigned long long)seq, (unsigned long long)bound, s->source_id,
              (unsigned long long)s->epoch);
    return 0;
}

/* Stops sending for good (the owner decides what comes next). */
static void s_halt(crr_sender_t *s, crr_sender_halt_t why, uint64_t seq)
{
    s->halted = why;
    s->halt_seq = seq;
    s->nframes = 0;
    s->head = 0;
    s->retry_at_ms = 0;
    CRR_ERROR("sender: stopped sending source=%s epoch=%llu to %s: %s", s->source_id,
              (unsigned long long)s->epoch, s->endpoint,
              why == CRR_SENDER_LOST_STATE ? "the aggregator lost this epoch's state"
                                           : "another sender uses this (source_id, epoch)");
}

crr_sender_halt_t crr_sender_halted(const crr_sender_t *s, uint64_t *seq)
{
    if (seq)
        *seq = s->halt_seq;
    return s->halted;
}

/* Keeps the highest totals: they are cumulative, an older Ack has lower ones. */
static void s_take_totals(crr_sender_stats_t *st, const Crrmon__V1__Ack *ack)
{
    if (ack->total_applied > st->total_applied)
        st->total_applied = ack->total_applied;
    if (ack->total_duplicates > st->total_duplicates)
        st->total_duplicates = ack->total_duplicates;
    if (ack->total_rejected > st->total_rejected)
        st->total_rejected = ack->total_rejected;
}

static void s_on_ack(crr_sender_t *s, const uint8_t *data, size_t len)
{
    Crrmon__V1__Ack *ack = NULL;
    int rc = crr_codec_unpack_ack(data, len, S_ACK_MAX, &ack);
    s->st.acks++;
    if (rc == 0 && s->halted)
        goto done; /* nothing more is sent or released under this epoch */
    if (rc) {
        s->st.ack_errors++;
        CRR_WARN("sender: an Ack from %s does not parse (%s)", s->endpoint, crr_strerror(rc));
        return;
    }
    if (ack->error == CRRMON__V1__REJECT_CODE__REJECT_CODE_SEQUENCE_CONFLICT &&
        strcmp(ack->source_id ? ack->source_id : "", s->source_id) == 0 && ack->epoch == s->epoch) {
        s->st.ack_errors++;
        CRR_ERROR("sender: aggregator refused a frame: %s",
                  ack->error_text ? ack->error_text : "sequence conflict");
        s_halt(s, CRR_SENDER_CONFLICT, 0);
        goto done;
    }
    if (ack->error) {
        s->st.ack_errors++;
        CRR_WARN("sender: aggregator refused a frame: %s: %s",
                 crr_reject_code_name((int)ack->error), ack->error_text ? ack->error_text : "");
        goto done;
    }
    if (strcmp(ack->source_id ? ack->source_id : "", s->source_id) != 0 || ack->epoch != s->epoch) {
        CRR_DEBUG("sender: ignoring Ack for source=%s epoch=%llu", ack->source_id,
                  (unsigned long long)ack->epoch);
        goto done;
    }
    if (!s_ack_trusted(s, ack))
        goto done;
    s_take_totals(&s->st, ack);
    uint64_t now = crr_clock_mono_ms();
    int advanced = ack->durable_seq > s->acked_seq;
    if (advanced) {
        s->acked_seq = ack->durable_seq;
        s->progress_ms = now;
        s->st.last_ack_ms = now;
        while (s->nframes && s->frames[s->head].last <= s->acked_seq) {
            s->head = (s->head + 1) % s->window;
            s->nframes--;
        }
        if (s->nframes && s->frames[s->head].first <= s->acked_seq)
            s->frames[s->head].first = s->acked_seq + 1;
        if (s->next_seq <= s->acked_seq) {
            /* the aggregator holds more than we sent in this run (acks lost
             * before a restart): skip ahead */
            s->next_seq = s->acked_seq + 1;
            s->head = 0;
            s->nframes = 0;
        }
    }
    s->st.rejections += ack->n_rejected;
    if (advanced || ack->n_rejected) {
        rc = s->src.on_ack(s->ud, s->acked_seq, ack->rejected, ack->n_rejected);
        if (rc)
            CRR_ERROR("sender: owner failed to apply Ack durable_seq=%llu: %s",
                      (unsigned long long)s->acked_seq, crr_strerror(rc));
    }
    if (ack->expected_seq && ack->expected_seq <= s->acked_seq) {
        /* it acknowledged more before: its state is older than ours */
        s_halt(s, CRR_SENDER_LOST_STATE, ack->expected_seq);
    } else if (ack->expected_seq) {
        uint64_t e = ack->expected_seq;
        /* later frames of the old window all report the same gap; go back
         * once per target and timeout */
        int repeat = e == s->goback_seq && now - s->goback_ms < (uint64_t)s->resend_ms;
        if (!repeat && e > s->acked_seq && e < s->next_seq)
            s_goback(s, e, "aggregator expects an earlier seq");
        else if (!repeat && e >= s->next_seq)
            CRR_WARN("sender: aggregator expects seq=%llu beyond what was sent (%llu); ignored",
                     (unsigned long long)e, (unsigned long long)s->next_seq);
    }
done:
    crr_codec_free(&ack->base);
}

typedef struct {
    crr_sender_batch_t *b; /* the frame */
    int rc;                /* first error of batch_add other than ETOOBIG */
} s_fetch_t;

/* Fills the window; stops at the window size, when the owner has no more
 * events, or when no connection takes the frame. */
static int s_pump(crr_sender_t *s)
{
    uint64_t now = crr_clock_mono_ms();
    if (s->retry_at_ms && now < s->retry_at_ms)
        return 0;
    s->retry_at_ms = 0;
    while (s->nframes < s->window) {
        crr_sender_batch_t *b = &s->batch;
        s_batch_reset(b);
        int rc = s->src.fetch(s->ud, s->next_seq, b);
        if (rc < 0) {
            CRR_ERROR("sender: fetching events from seq=%llu failed: %s",
                      (unsigned long long)s->next_seq, crr_strerror(rc));
            s->retry_at_ms = now + S_RETRY_MS;
            return 0;
        }
        if (b->n == 0)
            return 0;
        if (b->first != s->next_seq) {
            /* the owner no longer has next_seq (released already, or a gap) */
            CRR_WARN("sender: wanted seq=%llu, owner starts at seq=%llu",
                     (unsigned long long)s->next_seq, (unsigned long long)b->first);
            if (b->first < s->next_seq) {
                s->retry_at_ms = now + S_RETRY_MS;
                return 0;
            }
        }
        uint64_t depth = s->src.depth ? s->src.depth(s->ud) : 0;
        uint8_t *p = b->buf + b->len;
        *p++ = 0x20; /* field 4, varint: spool_depth */
        p += s_varint(p, depth);
        size_t flen = (size_t)(p - b->buf);
        if (zmq_send(s->sock, b->buf, flen, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            if (e == EAGAIN || e == EINTR) {
                /* no connection (ZMQ_IMMEDIATE) or full: retry on a timer */
                s->retry_at_ms = now + S_RETRY_MS;
                return 0;
            }
            CRR_ERROR("sender: send to %s failed: %s", s->endpoint, zmq_strerror(e));
            return -e;
        }
        if (s->nframes == 0)
            s->progress_ms = now;
        s->frames[(s->head + s->nframes) % s->window] = (s_frame_t){b->first, b->last};
        s->nframes++;
        s->next_seq = b->last + 1;
        if (b->last > s->max_sent)
            s->max_sent = b->last;
        s->st.frames_sent++;
        s->st.events_sent += b->n;
    }
    return 0;
}

int crr_sender_pollitems(crr_sender_t *s, zmq_pollitem_t *items)
{
    items[0] = (zmq_pollitem_t){.socket = s->sock, .events = ZMQ_POLLIN};
    items[1] = (zmq_pollitem_t){.socket = s->mon, .events = ZMQ_POLLIN};
    return CRR_SENDER_POLLITEMS;
}

/* Connects again once the wait after a refused handshake is over. */
static void s_rejoin(crr_sender_t *s)
{
    if (!s->rejoin_at_ms || crr_clock_mono_ms() < s->rejoin_at_ms)
        return;
    s->rejoin_at_ms = 0;
    (void)zmq_disconnect(s->sock, s->endpoint); /* ENOENT when libzmq forgot it already */
    if (zmq_connect(s->sock, s->endpoint) != 0) {
        CRR_ERROR("sender: cannot connect to %s again: %s", s->endpoint, zmq_strerror(zmq_errno()));
        s->rejoin_at_ms = crr_clock_mono_ms() + S_REJOIN_MAX_MS;
        return;
    }
    CRR_DEBUG("sender: connecting to %s again after a refused handshake", s->endpoint);
}

long crr_sender_timeout(const crr_sender_t *s)
{
    uint64_t now = crr_clock_mono_ms();
    long t = 1000;
    if (s->retry_at_ms)
        t = s->retry_at_ms > now ? (long)(s->retry_at_ms - now) : 0;
    if (s->rejoin_at_ms) {
        long left = s->rejoin_at_ms > now ? (long)(s->rejoin_at_ms - now) : 0;
        if (left < t)
            t = left;
    }
    if (s->nframes) {
        uint64_t due = s->progress_ms + (uint64_t)s->resend_ms;
        long left = due > now ? (long)(due - now) : 0;
        if (left < t)
            t = left;
    }
    /* new events at the owner are picked up at least this often */
    return t < S_RETRY_MS * 2 ? t : S_RETRY_MS * 2;
}

int crr_sender_process(crr_sender_t *s)
{
    s_on_monitor(s);
    s_rejoin(s);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s->sock, ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            if (e == EAGAIN || e == EINTR)
                break;
            return -e;
        }
        if (zmq_msg_more(&m)) {
            /* Acks are single frames; drop the rest of a multi-frame message */
            s->st.ack_errors++;
            CRR_WARN("sender: multi-frame message from %s ignored", s->endpoint);
            while (zmq_msg_more(&m)) {
                zmq_msg_close(&m);
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, s->sock, 0) < 0)
                    break;
            }
            zmq_msg_close(&m);
            continue;
        }
        s_on_ack(s, zmq_msg_data(&m), zmq_msg_size(&m));
        zmq_msg_close(&m);
    }
    if (s->halted)
        return 0;
    uint64_t now = crr_clock_mono_ms();
    if (s->nframes && now - s->progress_ms >= (uint64_t)s->resend_ms) {
        char why[64];
        snprintf(why, sizeof why, "no Ack progress for %lldms", (long long)s->resend_ms);
        s_goback(s, s->acked_seq + 1, why);
    }
    return s_pump(s);
}

int crr_sender_poll(crr_sender_t *s, long timeout_ms)
{
    zmq_pollitem_t items[CRR_SENDER_POLLITEMS];
    int n = crr_sender_pollitems(s, items);
    long t = crr_sender_timeout(s);
    if (timeout_ms >= 0 && timeout_ms < t)
        t = timeout_ms;
    if (zmq_poll(items, n, t) < 0) {
        int e = zmq_errno();
        if (e != EINTR)
            return -e;
    }
    return crr_sender_process(s);
}

void crr_sender_stats(const crr_sender_t *s, crr_sender_stats_t *st)
{
    *st = s->st;
    st->acked_seq = s->acked_seq;
    st->next_seq = s->next_seq;
    st->frames_inflight = s->nframes;
}

uint64_t crr_sender_acked_seq(const crr_sender_t *s)
{
    return s->acked_seq;
}
