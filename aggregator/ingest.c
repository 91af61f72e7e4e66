/* ingest: the ROUTER socket, its monitor and group commit.
 *
 * The poll loop (loop.c) calls crr_ingest_group when the ROUTER is readable.
 * A group is handled in three steps, in this order:
 *   receive      take frames without blocking: up to group_max_events events,
 *                group_max_ms after the first frame, or until the queue is
 *                empty (no lingering: a sender whose window is full sends
 *                nothing more until it is acknowledged, so waiting would only
 *                add latency; the time spent committing lets the next group
 *                build up by itself). Each frame is unpacked as a Batch; a
 *                frame that is not one (garbage, truncated protobuf, empty,
 *                multi-frame, no source_id) is stored as a reject and
 *                answered with error = REJECT_CODE_MALFORMED. A frame that
 *                could not be unpacked for a fault of ours (memory ran out)
 *                is not the frame's fault: no reject, counted as a batch
 *                failure, answered with error = REJECT_CODE_STORE_FAILED,
 *                and its sender resends it.
 *   apply        crr_store_apply applies every batch of the group in ONE
 *                durable transaction. A batch whose own apply failed is left
 *                out of the group by the store (the others are applied).
 *   acknowledge  only THEN is each batch acknowledged (durable_seq,
 *                rejections, expected_seq); a batch left out is answered with
 *                error = REJECT_CODE_STORE_FAILED. If the apply failed as a
 *                whole (the commit, MDB_MAP_FULL batch after batch, I/O)
 *                nothing of the group is acknowledged: senders resend, and
 *                the loop keeps serving.
 * Then the feed is told of the committed group and the buffers are reused.
 * This module never decides when the loop stops.
 *
 * Backpressure: nothing is read while a group is applied, so the ROUTER's
 * RCVHWM fills and libzmq stops reading from the senders' TCP connections.
 * Oversized frames never reach us (ZMQ_MAXMSGSIZE: libzmq drops the
 * connection); the socket monitor counts the disconnects.
 *
 * Hot path: no per-event logging or allocation beyond protobuf-c's unpack;
 * slots, jobs and the Ack buffer are reused from group to group. */
#include "aggregator.h"
#include "api.h"

#include "clock.h"
#include "codec.h"
#include "crashpoint.h"
#include "log.h"
#include "validate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_MONITOR_EP "inproc://crr-agg-monitor"
#define S_LINGER_MS 2000

#define S_ADD(field, v)                                                                            \
    atomic_fetch_add_explicit(&a->stats.field, (uint64_t)(v), memory_order_relaxed)

int crr_ingest_open(crr_aggregator_t *a)
{
    int rc;
    a->router = zmq_socket(a->zctx, ZMQ_ROUTER);
    if (!a->router)
        return -errno;
    int64_t maxmsg = (int64_t)a->cfg.max_msg_size;
    int rcvhwm = (int)a->cfg.rcvhwm, sndhwm = (int)a->cfg.sndhwm, one = 1, linger = S_LINGER_MS;
    if (zmq_setsockopt(a->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(a->router, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) ||
        zmq_setsockopt(a->router, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) ||
        zmq_setsockopt(a->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
        zmq_setsockopt(a->router, ZMQ_LINGER, &linger, sizeof linger))
        goto fail;
    if (crr_zap_socket(a, a->router, "ingest")) /* CURVE server, ZAP domain "ingest" */
        goto fail;
    if (zmq_socket_monitor(a->router, S_MONITOR_EP,
                           ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))
        goto fail;
    a->monitor = zmq_socket(a->zctx, ZMQ_PAIR);
    if (!a->monitor || zmq_setsockopt(a->monitor, ZMQ_LINGER, &(int){0}, sizeof(int)) ||
        zmq_connect(a->monitor, S_MONITOR_EP))
        goto fail;
    if (zmq_bind(a->router, a->cfg.ingest)) {
        rc = -errno;
        CRR_ERROR("cannot bind ingest endpoint %s: %s", a->cfg.ingest, zmq_strerror(errno));
        return rc;
    }
    size_t len = sizeof a->ingest_ep;
    if (zmq_getsockopt(a->router, ZMQ_LAST_ENDPOINT, a->ingest_ep, &len))
        goto fail;
    a->slots = calloc(CRR_AGG_MAX_FRAMES, sizeof *a->slots);
    a->jobs = calloc(CRR_AGG_MAX_FRAMES, sizeof *a->jobs);
    a->job_slot = calloc(CRR_AGG_MAX_FRAMES, sizeof *a->job_slot);
    a->ackcap = 4096;
    a->ackbuf = malloc(a->ackcap);
    if (!a->slots || !a->jobs || !a->job_slot || !a->ackbuf || crr_codec_arena_new(&a->arena))
        return -ENOMEM;
    return 0;
fail:
    rc = -errno;
    CRR_ERROR("cannot set up the ingest socket: %s", zmq_strerror(errno));
    return rc;
}

void crr_ingest_close(crr_aggregator_t *a)
{
    if (a->router) {
        zmq_socket_monitor(a->router, NULL, 0);
        zmq_close(a->router);
        a->router = NULL;
    }
    if (a->monitor) {
        zmq_close(a->monitor);
        a->monitor = NULL;
    }
    crr_codec_arena_destroy(&a->arena);
    free(a->slots);
    free(a->jobs);
    free(a->job_slot);
    free(a->ackbuf);
    a->slots = NULL;
    a->jobs = NULL;
    a->job_slot = NULL;
    a->ackbuf = NULL;
}

void crr_ingest_monitor_drain(crr_aggregator_t *a)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, a->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        uint16_t id = 0;
        if (zmq_msg_size(&ev) >= 2)
            memcpy(&id, zmq_msg_data(&ev), 2);
        int more = zmq_msg_more(&ev);
        zmq_msg_close(&ev);
        if (more) {
            zmq_msg_init(&addr);
            zmq_msg_recv(&addr, a->monitor, 0);
            zmq_msg_close(&addr);
        }
        if (id == ZMQ_EVENT_DISCONNECTED)
            S_ADD(disconnects, 1);
        else if (id & (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
            S_ADD(protocol_errors, 1);
        else if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            S_ADD(auth_failures, 1);
    }
}

/* CLOCK_MONOTONIC in nanoseconds (the Ack latency histogram). */
static uint64_t s_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sends one Ack to the sender of slot; never blocks. A sent Ack's latency
 * since its frame was received goes to crrmon_ack_latency_seconds. */
static void s_send_ack(crr_aggregator_t *a, const crr_agg_slot_t *slot, const Crrmon__V1__Ack *ack)
{
    const uint8_t *id = slot->id;
    size_t id_len = slot->id_len;
    long len;
    while ((len = crr_codec_pack_into(&ack->base, a->ackbuf, a->ackcap)) == CRR_ETOOBIG) {
        size_t cap = a->ackcap * 2;
        uint8_t *nb = realloc(a->ackbuf, cap);
        if (!nb) {
            S_ADD(ack_failures, 1);
            return;
        }
        a->ackbuf = nb;
        a->ackcap = cap;
    }
    if (len < 0 || zmq_send(a->router, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(a->router, a->ackbuf, (size_t)len, ZMQ_DONTWAIT) < 0) {
        /* EHOSTUNREACH: the sender left (ROUTER_MANDATORY); EAGAIN: its queue is full.
         * Either way it resends after reconnecting or timing out: nothing is lost. */
        S_ADD(ack_failures, 1);
        CRR_DEBUG("ack not delivered: %s", zmq_strerror(errno));
        return;
    }
    S_ADD(acks, 1);
    crr_api_ack_observe(a, s_mono_ns() - slot->recv_ns);
}

/* Writes up to 128 bytes of data as hex into out (for the reject's raw text). */
static void s_hex(const uint8_t *data, size_t len, char *out, size_t cap)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = len < 128 ? len : 128, o = 0;
    for (size_t i = 0; i < n && o + 3 < cap; i++) {
        out[o++] = digits[data[i] >> 4];
        out[o++] = digits[data[i] & 15];
    }
    out[o] = '\0';
}

/* A frame whose unpack failed for a fault of ours (rc: -ENOMEM), not of the
 * frame: answered like a batch left out of its group (slot->refused =
 * STORE_FAILED, the sender resends it later), counted, logged, never stored
 * as a reject. Returns NULL (no batch). */
static Crrmon__V1__Batch *s_unpack_failed(crr_aggregator_t *a, crr_agg_slot_t *slot, size_t len,
                                          int rc)
{
    snprintf(slot->error, sizeof slot->error,
             "the aggregator could not unpack this batch (frame of %zu bytes): %s: resend later",
             len, crr_strerror(rc));
    slot->refused = CRRMON__V1__REJECT_CODE__REJECT_CODE_STORE_FAILED;
    S_ADD(batch_failures, 1);
    CRR_WARN("batch not unpacked: %s; frame of %zu bytes, not stored as a reject: its sender gets "
             "error=store_failed and resends",
             crr_strerror(rc), len);
    return NULL;
}

/* Receives the rest of a frame whose first part is in body; classifies it.
 * Returns the batch, or NULL with slot->error set: a malformed frame's
 * reject stored, or slot->refused set (s_unpack_failed). */
static Crrmon__V1__Batch *s_take_frame(crr_aggregator_t *a, crr_agg_slot_t *slot, zmq_msg_t *body)
{
    Crrmon__V1__Batch *b = NULL;
    crr_diag_t d;
    const uint8_t *data = zmq_msg_data(body);
    size_t len = zmq_msg_size(body);
    char raw[300] = "";
    slot->event_hash = NULL;
    if (zmq_msg_more(body)) {
        int parts = 1;
        s_hex(data, len, raw, sizeof raw);
        while (zmq_msg_more(body)) {
            if (zmq_msg_recv(body, a->router, 0) < 0)
                break;
            parts++;
        }
        snprintf(slot->error, sizeof slot->error,
                 "multi-frame message (%d frames): send each Batch as one frame", parts);
    } else if (len == 0) {
        snprintf(slot->error, sizeof slot->error, "empty frame: expected a crrmon.v1.Batch");
    } else if (crr_codec_batch_count_events(data, len, CRR_VALIDATE_MAX_BATCH_EVENTS) >
               CRR_VALIDATE_MAX_BATCH_EVENTS) {
        s_hex(data, len, raw, sizeof raw);
        snprintf(slot->error, sizeof slot->error,
                 "batch of more than %d events (frame of %zu bytes); at most %d per batch",
                 CRR_VALIDATE_MAX_BATCH_EVENTS, len, CRR_VALIDATE_MAX_BATCH_EVENTS);
        S_ADD(oversized, 1);
    } else {
        int rc = crr_codec_unpack_batch_arena(a->arena, data, len, (size_t)a->cfg.max_msg_size, &b);
        if (rc && rc != CRR_ETOOBIG && rc != CRR_EPARSE)
            return s_unpack_failed(a, slot, len, rc); /* -ENOMEM: not the frame's fault */
        if (rc == CRR_ETOOBIG)
            S_ADD(oversized, 1);
        if (rc) {
            s_hex(data, len, raw, sizeof raw);
            snprintf(slot->error, sizeof slot->error,
                     "frame of %zu bytes does not parse as a crrmon.v1.Batch: %s", len,
                     crr_strerror(rc));
        } else if (crr_validate_source_id(b->source_id, &d) != 0) {
            /* longer ids would collide in the store's keys; bad UTF-8 breaks every reader */
            s_hex(data, len, raw, sizeof raw);
            if (!b->source_id || !*b->source_id)
                snprintf(slot->error, sizeof slot->error, "batch without source_id");
            else
                snprintf(slot->error, sizeof slot->error, "batch source_id: %.200s", d.reason);
            b = NULL; /* it stays in the group's arena */
        } else {
            /* each event's resend hash from its bytes as received (NULL on
             * -ENOMEM: the store then packs each event again to hash it) */
            if (crr_codec_batch_event_hashes(a->arena, data, len, b->n_events, &slot->event_hash))
                slot->event_hash = NULL;
            return b;
        }
    }
    crr_diag_clear(&d);
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "", "%s", slot->error);
    int rc = crr_store_reject_frame(a->store, &d, NULL, raw[0] ? raw : NULL);
    if (rc == 1)
        S_ADD(rejects_unstored, 1); /* a flood of bad frames: counted, not stored */
    else if (rc)
        CRR_ERROR("cannot store the reject of a malformed frame: %s", crr_strerror(rc));
    S_ADD(malformed, 1);
    CRR_DEBUG("malformed frame: %s", slot->error);
    return NULL;
}

/* Counts the rejections a job did not store (caps) and logs, once per source
 * and window, that its cap was reached. */
static void s_log_unstored(crr_aggregator_t *a, const crr_store_job_t *job)
{
    if (!job->n_unstored)
        return;
    S_ADD(rejects_unstored, job->n_unstored);
    if (job->source_cap_hit)
        CRR_WARN("reject storage cap reached: source=%s stored %d rejects in this %ds window; "
                 "its further rejections are acknowledged and counted "
                 "(crrmon_rejects_not_stored_total) but not stored until the window ends",
                 job->batch->source_id, CRR_STORE_REJECT_CAP_SOURCE,
                 CRR_STORE_REJECT_CAP_WINDOW_SEC);
    else
        CRR_DEBUG("source=%s: %llu rejections of one batch past the per-batch storage cap",
                  job->batch->source_id, (unsigned long long)job->n_unstored);
}

/* Logs a batch that crr_store_apply left out of its group and counts it. */
static void s_log_left_out(crr_aggregator_t *a, const crr_store_job_t *job)
{
    S_ADD(batch_failures, 1);
    CRR_ERROR("batch not applied: %s%s; source=%s epoch=%llu first_seq=%llu events=%zu; the rest "
              "of the group was applied, this sender gets error=store_failed and resends",
              crr_strerror(job->error),
              job->error == MDB_MAP_FULL ? " (MDB_MAP_FULL: the LMDB map is full, raise map_size)"
                                         : "",
              job->batch->source_id, (unsigned long long)job->batch->epoch,
              (unsigned long long)(job->batch->n_events ? job->batch->events[0]->seq : 0),
              job->batch->n_events);
}

/* A batch refused because a resent seq carries another event: the Ack says
 * so as a whole-frame error (an older sender then keeps its events and
 * retries instead of releasing them), and the operator is told. */
static void s_conflict(crr_aggregator_t *a, crr_agg_slot_t *slot, const crr_store_job_t *job,
                       Crrmon__V1__Ack *ack)
{
    snprintf(slot->error, sizeof slot->error,
             "seq %llu of source %.64s epoch %llu was applied before with another event: two "
             "senders use this (source_id, epoch) (a copied spool?); batch refused",
             (unsigned long long)job->conflict_seq, slot->batch->source_id,
             (unsigned long long)slot->batch->epoch);
    CRR_ERROR("%s", slot->error);
    ack->error = CRRMON__V1__REJECT_CODE__REJECT_CODE_SEQUENCE_CONFLICT;
    ack->error_text = slot->error;
    S_ADD(rejected_by_code[CRRMON__V1__REJECT_CODE__REJECT_CODE_SEQUENCE_CONFLICT], 1);
}

/* One group in hand: counts and times shared by its three steps. */
typedef struct s_group {
    size_t ns;        /* frames received (slots[0..ns)) */
    size_t nj;        /* of them, batches to apply (jobs[0..nj)) */
    int64_t events;   /* events in those batches */
    uint64_t t0;      /* monotonic ms of the first frame */
    uint64_t t_apply; /* monotonic ms when the apply began */
    int applied_ok;   /* the group's transaction committed */
} s_group_t;

/* Fills slot from the next waiting frame (routing id + body); a batch that
 * parses becomes the next job. Returns 0, or -1 when the queue is empty. */
static int s_receive_frame(crr_aggregator_t *a, s_group_t *g, zmq_msg_t *msg)
{
    if (zmq_msg_recv(msg, a->router, ZMQ_DONTWAIT) < 0)
        return errno == EINTR ? 0 : -1; /* EAGAIN: the queue is empty, close the group */
    if (!g->t0)
        g->t0 = crr_clock_mono_ms();
    crr_agg_slot_t *slot = &a->slots[g->ns];
    slot->id_len = zmq_msg_size(msg);
    if (slot->id_len > sizeof slot->id)
        slot->id_len = sizeof slot->id;
    memcpy(slot->id, zmq_msg_data(msg), slot->id_len);
    if (!zmq_msg_more(msg))
        return 0; /* a ROUTER always delivers routing id + body */
    if (zmq_msg_recv(msg, a->router, 0) < 0)
        return -1;
    slot->recv_ns = s_mono_ns();
    S_ADD(frames, 1);
    slot->error[0] = '\0';
    slot->refused = 0;
    slot->batch = s_take_frame(a, slot, msg);
    memset(&a->jobs[g->nj], 0, sizeof a->jobs[g->nj]);
    if (slot->batch && (slot->refused = crr_zap_admit(a, slot, msg, &a->jobs[g->nj])) != 0) {
        S_ADD(rejected_by_code[CRRMON__V1__REJECT_CODE__REJECT_CODE_NOT_ALLOWED], 1);
        slot->batch = NULL; /* key revoked or source id not its own (zap.c) */
    }
    if (slot->batch) {
        g->events += (int64_t)slot->batch->n_events;
        a->jobs[g->nj].batch = slot->batch;
        a->jobs[g->nj].event_hash = slot->event_hash;
        a->job_slot[g->nj++] = g->ns;
    }
    g->ns++;
    return 0;
}

/* Step 1: receives a group without blocking (see the top of the file).
 * Returns the number of frames received (0: nothing was waiting). */
static size_t s_receive(crr_aggregator_t *a, s_group_t *g)
{
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (g->ns < CRR_AGG_MAX_FRAMES) {
        size_t before = g->ns;
        if (s_receive_frame(a, g, &msg))
            break;
        if (g->ns == before)
            continue; /* EINTR, or a routing id without a body */
        if (g->events >= a->cfg.group_max_events ||
            crr_clock_mono_ms() - g->t0 >= (uint64_t)a->cfg.group_max_ms)
            break;
    }
    zmq_msg_close(&msg);
    return g->ns;
}

/* Counts what a committed group applied, and logs each batch left out. */
static void s_count_applied(crr_aggregator_t *a, const s_group_t *g)
{
    S_ADD(groups, 1);
    S_ADD(batches, g->nj);
    S_ADD(events, g->events);
    for (size_t i = 0; i < g->nj; i++) {
        const crr_store_job_t *job = &a->jobs[i];
        if (job->error) {
            s_log_left_out(a, job);
            continue;
        }
        S_ADD(applied, job->n_applied);
        s_log_unstored(a, job);
        S_ADD(duplicates, job->n_duplicate);
        S_ADD(resent, job->n_resent);
        S_ADD(rejected, job->n_rejected - job->n_rereported);
        for (int c = 0; c < CRR_REJECT_CODES; c++)
            if (job->rejected_by_code[c])
                S_ADD(rejected_by_code[c], job->rejected_by_code[c]);
        crr_api_count_rejects(a, job);
    }
}

/* Step 2: applies every batch of the group in one durable transaction.
 * Sets g->applied_ok (1 also when there was nothing to apply). */
static void s_apply(crr_aggregator_t *a, s_group_t *g)
{
    g->applied_ok = 1;
    g->t_apply = crr_clock_mono_ms();
    if (g->nj == 0)
        return;
    int64_t now = crr_clock_now_sec();
    for (size_t i = 0; i < g->nj; i++)
        a->jobs[i].arrival_sec = now;
    crr_crashpoint("agg_before_apply");
    int rc = crr_store_apply(a->store, a->jobs, g->nj);
    if (rc == 0)
        crr_crashpoint("agg_after_commit");
    if (rc) {
        g->applied_ok = 0;
        S_ADD(apply_failures, 1);
        CRR_ERROR("apply failed: %s; %zu batches (%lld events) not acknowledged, senders "
                  "will resend%s",
                  crr_strerror(rc), g->nj, (long long)g->events,
                  rc == MDB_MAP_FULL ? " (MDB_MAP_FULL: the LMDB map is full, raise map_size)"
                                     : "");
        return;
    }
    s_count_applied(a, g);
}

/* Acknowledges one applied batch: its own failure, or what the store did. */
static void s_ack_batch(crr_aggregator_t *a, crr_agg_slot_t *slot, const crr_store_job_t *job)
{
    Crrmon__V1__Ack ack = CRRMON__V1__ACK__INIT;
    if (job->conflict_seq)
        s_conflict(a, slot, job, &ack);
    ack.source_id = slot->batch->source_id;
    ack.epoch = slot->batch->epoch;
    if (job->error) {
        char text[200];
        snprintf(text, sizeof text,
                 "this batch could not be stored (%s); the rest of its group was: resend later",
                 crr_strerror(job->error));
        ack.error = CRRMON__V1__REJECT_CODE__REJECT_CODE_STORE_FAILED;
        ack.error_text = text;
        s_send_ack(a, slot, &ack);
        return;
    }
    ack.durable_seq = job->durable_seq;
    ack.expected_seq = job->expected_seq;
    ack.rejected = job->rejected;
    ack.n_rejected = job->n_rejected;
    ack.total_applied = job->total_applied;
    ack.total_duplicates = job->total_duplicates;
    ack.total_rejected = job->total_rejected;
    s_send_ack(a, slot, &ack);
}

/* Step 3: the Acks, in arrival order, only now that the group is durable.
 * A frame that is no batch of the group is always answered (MALFORMED, or
 * what it was refused with: NOT_ALLOWED, STORE_FAILED); an applied batch
 * only when the group's transaction committed (otherwise its sender
 * resends). */
static void s_acknowledge(crr_aggregator_t *a, const s_group_t *g)
{
    size_t j = 0;
    for (size_t i = 0; i < g->ns; i++) {
        crr_agg_slot_t *slot = &a->slots[i];
        if (!slot->batch) {
            Crrmon__V1__Ack ack = CRRMON__V1__ACK__INIT;
            ack.error =
                slot->refused ? slot->refused : CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED;
            ack.error_text = slot->error;
            s_send_ack(a, slot, &ack);
            continue;
        }
        const crr_store_job_t *job = &a->jobs[j++];
        if (g->applied_ok)
            s_ack_batch(a, slot, job);
    }
    if (g->nj > 0)
        crr_crashpoint("agg_after_ack");
}

/* After the Acks: the feed hears of a committed group, the buffers are reset. */
static void s_finish(crr_aggregator_t *a, const s_group_t *g)
{
    crr_feed_publish_group(a, g->applied_ok ? g->nj : 0); /* also a group of rejects only */
    CRR_DEBUG("group frames=%zu batches=%zu events=%lld recv_ms=%llu apply_ms=%llu", g->ns, g->nj,
              (long long)g->events, (unsigned long long)(g->t_apply - g->t0),
              (unsigned long long)(crr_clock_mono_ms() - g->t_apply));
    for (size_t i = 0; i < g->nj; i++) {
        crr_store_job_reset(&a->jobs[i]);
        a->jobs[i].batch = NULL;
    }
    for (size_t i = 0; i < g->ns; i++)
        a->slots[i].batch = NULL;
    crr_codec_arena_reset(a->arena); /* every batch of the group at once */
}

void crr_ingest_group(crr_aggregator_t *a)
{
    s_group_t g = {0};
    if (s_receive(a, &g) == 0)
        return;
    s_apply(a, &g);       /* one durable transaction ... */
    s_acknowledge(a, &g); /* ... and only then the Acks */
    s_finish(a, &g);
}
