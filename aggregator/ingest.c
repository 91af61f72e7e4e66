/* ingest: the ROUTER socket and the main poll loop with group commit.
 *
 * Loop (main thread): poll the ROUTER, its monitor, the HTTP request pipe and
 * the timers. When frames are waiting, receive a group without blocking: up
 * to group_max_events events, group_max_ms after the first frame, or until
 * the queue is empty (no lingering: a sender whose window is full sends
 * nothing more until it is acknowledged, so waiting would only add latency;
 * the time spent committing lets the next group build up by itself). Each
 * frame is unpacked as a Batch; a frame that is not one (garbage, truncated
 * protobuf, empty, multi-frame, no source_id) is stored as a reject and
 * answered with error = REJECT_CODE_MALFORMED. Then crr_store_apply applies
 * every batch of the group in ONE durable transaction, and only THEN is each
 * batch acknowledged (durable_seq, rejections, expected_seq). A batch whose
 * own apply failed is left out of the group by the store (the others are
 * applied) and answered with error = REJECT_CODE_STORE_FAILED. If the apply
 * fails as a whole (the commit, MDB_MAP_FULL batch after batch, I/O) nothing
 * of the group is acknowledged: senders resend, and the loop keeps serving.
 *
 * Backpressure: nothing is read while a group is applied, so the ROUTER's
 * RCVHWM fills and libzmq stops reading from the senders' TCP connections.
 * Oversized frames never reach us (ZMQ_MAXMSGSIZE: libzmq drops the
 * connection); the socket monitor counts the disconnects.
 *
 * Hot path: no per-event logging or allocation beyond protobuf-c's unpack;
 * slots, jobs and the Ack buffer are reused from group to group. */
#include "aggregator.h"

#include "clock.h"
#include "codec.h"
#include "crashpoint.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
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

/* Counts what the ROUTER's monitor reports. */
static void s_monitor_drain(crr_aggregator_t *a)
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
    }
}

/* Sends one Ack to routing id (id, id_len); never blocks. */
static void s_send_ack(crr_aggregator_t *a, const uint8_t *id, size_t id_len,
                       const Crrmon__V1__Ack *ack)
{
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

/* Receives the rest of a frame whose first part is in body; classifies it.
 * Returns the batch or NULL with slot->error set (and the reject stored). */
static Crrmon__V1__Batch *s_take_frame(crr_aggregator_t *a, crr_agg_slot_t *slot, zmq_msg_t *body)
{
    Crrmon__V1__Batch *b = NULL;
    const uint8_t *data = zmq_msg_data(body);
    size_t len = zmq_msg_size(body);
    char raw[300] = "";
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
    } else {
        int rc = crr_codec_unpack_batch_arena(a->arena, data, len, (size_t)a->cfg.max_msg_size, &b);
        if (rc) {
            s_hex(data, len, raw, sizeof raw);
            snprintf(slot->error, sizeof slot->error,
                     "frame of %zu bytes does not parse as a crrmon.v1.Batch: %s", len,
                     crr_strerror(rc));
        } else if (!b->source_id || !*b->source_id) {
            s_hex(data, len, raw, sizeof raw);
            snprintf(slot->error, sizeof slot->error, "batch without source_id");
            b = NULL; /* it stays in the group's arena */
        } else {
            return b;
        }
    }
    crr_diag_t d;
    crr_diag_clear(&d);
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "", "%s", slot->error);
    int rc = crr_store_reject_frame(a->store, &d, NULL, raw[0] ? raw : NULL);
    if (rc)
        CRR_ERROR("cannot store the reject of a malformed frame: %s", crr_strerror(rc));
    S_ADD(malformed, 1);
    CRR_DEBUG("malformed frame: %s", slot->error);
    return NULL;
}

/* Logs a batch that crr_store_apply left out of its group and counts it. */
static void s_log_left_out(crr_aggregator_t *a, const crr_ingest_job_t *job)
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
static void s_conflict(crr_aggregator_t *a, crr_agg_slot_t *slot, const crr_ingest_job_t *job,
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

/* Receives, applies and acknowledges one group. */
static void s_group(crr_aggregator_t *a)
{
    size_t ns = 0, nj = 0;
    int64_t events = 0;
    uint64_t t0 = 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    while (ns < CRR_AGG_MAX_FRAMES) {
        if (zmq_msg_recv(&msg, a->router, ZMQ_DONTWAIT) < 0) {
            if (errno == EINTR)
                continue;
            break; /* EAGAIN: the queue is empty, close the group */
        }
        if (!t0)
            t0 = crr_clock_mono_ms();
        crr_agg_slot_t *slot = &a->slots[ns];
        slot->id_len = zmq_msg_size(&msg);
        if (slot->id_len > sizeof slot->id)
            slot->id_len = sizeof slot->id;
        memcpy(slot->id, zmq_msg_data(&msg), slot->id_len);
        if (!zmq_msg_more(&msg))
            continue; /* a ROUTER always delivers routing id + body */
        if (zmq_msg_recv(&msg, a->router, 0) < 0)
            break;
        S_ADD(frames, 1);
        slot->error[0] = '\0';
        slot->refused = 0;
        slot->batch = s_take_frame(a, slot, &msg);
        memset(&a->jobs[nj], 0, sizeof a->jobs[nj]);
        if (slot->batch && (slot->refused = crr_zap_admit(a, slot, &msg, &a->jobs[nj])) != 0) {
            S_ADD(rejected_by_code[CRRMON__V1__REJECT_CODE__REJECT_CODE_NOT_ALLOWED], 1);
            slot->batch = NULL; /* key revoked or source id not its own (zap.c) */
        }
        if (slot->batch) {
            events += (int64_t)slot->batch->n_events;
            a->jobs[nj].batch = slot->batch;
            a->job_slot[nj++] = ns;
        }
        ns++;
        if (events >= a->cfg.group_max_events ||
            crr_clock_mono_ms() - t0 >= (uint64_t)a->cfg.group_max_ms)
            break;
    }
    zmq_msg_close(&msg);
    if (ns == 0)
        return;

    int applied_ok = 1;
    uint64_t t_apply = crr_clock_mono_ms();
    if (nj > 0) {
        int64_t now = crr_clock_now_sec();
        for (size_t i = 0; i < nj; i++)
            a->jobs[i].arrival_sec = now;
        crr_crashpoint("agg_before_apply");
        int rc = crr_store_apply(a->store, a->jobs, nj);
        if (rc == 0)
            crr_crashpoint("agg_after_commit");
        if (rc) {
            applied_ok = 0;
            S_ADD(apply_failures, 1);
            CRR_ERROR("apply failed: %s; %zu batches (%lld events) not acknowledged, senders "
                      "will resend%s",
                      crr_strerror(rc), nj, (long long)events,
                      rc == MDB_MAP_FULL ? " (MDB_MAP_FULL: the LMDB map is full, raise map_size)"
                                         : "");
        } else {
            S_ADD(groups, 1);
            S_ADD(batches, nj);
            S_ADD(events, events);
            for (size_t i = 0; i < nj; i++) {
                if (a->jobs[i].error) {
                    s_log_left_out(a, &a->jobs[i]);
                    continue;
                }
                S_ADD(applied, a->jobs[i].n_applied);
                S_ADD(duplicates, a->jobs[i].n_duplicate);
                S_ADD(resent, a->jobs[i].n_resent);
                S_ADD(rejected, a->jobs[i].n_rejected - a->jobs[i].n_rereported);
                for (int c = 0; c < CRR_REJECT_CODES; c++)
                    if (a->jobs[i].rejected_by_code[c])
                        S_ADD(rejected_by_code[c], a->jobs[i].rejected_by_code[c]);
            }
        }
    }

    /* Acks, in arrival order, only now that the group is durable. */
    size_t j = 0;
    for (size_t i = 0; i < ns; i++) {
        crr_agg_slot_t *slot = &a->slots[i];
        Crrmon__V1__Ack ack = CRRMON__V1__ACK__INIT;
        if (!slot->batch) {
            ack.error =
                slot->refused ? slot->refused : CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED;
            ack.error_text = slot->error;
            s_send_ack(a, slot->id, slot->id_len, &ack);
            continue;
        }
        crr_ingest_job_t *job = &a->jobs[j++];
        if (!applied_ok)
            continue;
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
            s_send_ack(a, slot->id, slot->id_len, &ack);
            continue;
        }
        ack.durable_seq = job->durable_seq;
        ack.expected_seq = job->expected_seq;
        ack.rejected = job->rejected;
        ack.n_rejected = job->n_rejected;
        ack.total_applied = job->total_applied;
        ack.total_duplicates = job->total_duplicates;
        ack.total_rejected = job->total_rejected;
        s_send_ack(a, slot->id, slot->id_len, &ack);
    }
    if (nj > 0)
        crr_crashpoint("agg_after_ack");
    if (applied_ok && nj > 0)
        crr_feed_publish_group(a, nj);
    CRR_DEBUG("group frames=%zu batches=%zu events=%lld recv_ms=%llu apply_ms=%llu", ns, nj,
              (long long)events, (unsigned long long)(t_apply - t0),
              (unsigned long long)(crr_clock_mono_ms() - t_apply));
    for (size_t i = 0; i < nj; i++) {
        crr_ingest_job_reset(&a->jobs[i]);
        a->jobs[i].batch = NULL;
    }
    for (size_t i = 0; i < ns; i++)
        a->slots[i].batch = NULL;
    crr_codec_arena_reset(a->arena); /* every batch of the group at once */
}

int crr_ingest_run(crr_aggregator_t *a)
{
    zmq_pollitem_t items[3] = {
        {a->router, 0, ZMQ_POLLIN, 0},
        {a->monitor, 0, ZMQ_POLLIN, 0},
        {a->http_pipe, 0, ZMQ_POLLIN, 0},
    };
    while (!crr_agg_stop_requested()) {
        if (crr_agg_reload_requested())
            crr_agg_reload(a); /* SIGHUP: acted on here, never in the handler */
        int timeout = crr_snapshots_tick(a);
        if (crr_agg_stop_requested())
            break;
        int r = zmq_poll(items, 3, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            CRR_ERROR("poll failed: %s", zmq_strerror(errno));
            if (errno == ETERM)
                break;
            continue;
        }
        if (items[1].revents & ZMQ_POLLIN)
            s_monitor_drain(a);
        if (items[2].revents & ZMQ_POLLIN)
            crr_http_serve_pipe(a);
        if (items[0].revents & ZMQ_POLLIN)
            s_group(a);
    }
    return 0;
}
