/* feed: the live feed's PUB socket. After each committed group it publishes
 * one update per borough touched: topic "<GSS code> events" (so a subscriber
 * filters one borough with a prefix), payload JSON
 *   {"borough":"E09000022","events":N,"at":"RFC 3339"}
 * where N counts the group's events for that borough that were not rejected
 * (in batches that applied anything). Not implemented yet: indicator updates
 * and a state snapshot for late joiners (the Clone pattern); this module is
 * the place for them. PUB never blocks: updates beyond SNDHWM are dropped by
 * libzmq for that subscriber. */
#include "aggregator.h"

#include "boroughs.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int crr_feed_open(crr_aggregator_t *a)
{
    a->pub = zmq_socket(a->zctx, ZMQ_PUB);
    if (!a->pub)
        return -errno;
    int hwm = (int)a->cfg.sndhwm, linger = 0;
    zmq_setsockopt(a->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(a->pub, ZMQ_LINGER, &linger, sizeof linger);
    int rc0 = crr_zap_socket(a, a->pub, "feed"); /* CURVE server, ZAP domain "feed" */
    if (rc0)
        return rc0;
    if (zmq_bind(a->pub, a->cfg.feed)) {
        int rc = -errno;
        CRR_ERROR("cannot bind feed endpoint %s: %s", a->cfg.feed, zmq_strerror(errno));
        return rc;
    }
    size_t len = sizeof a->feed_ep;
    if (zmq_getsockopt(a->pub, ZMQ_LAST_ENDPOINT, a->feed_ep, &len))
        return -errno;
    return 0;
}

void crr_feed_close(crr_aggregator_t *a)
{
    if (a->pub) {
        zmq_close(a->pub);
        a->pub = NULL;
    }
}

/* 1 when seq is listed in the job's rejections (they are in batch order). */
static int s_rejected(const crr_store_job_t *job, uint64_t seq, size_t *cursor)
{
    while (*cursor < job->n_rejected && job->rejected[*cursor]->seq < seq)
        (*cursor)++;
    return *cursor < job->n_rejected && job->rejected[*cursor]->seq == seq;
}

void crr_feed_publish_group(crr_aggregator_t *a, size_t n)
{
    uint64_t count[CRR_BOROUGHS] = {0};
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        const crr_store_job_t *job = &a->jobs[i];
        if (job->n_applied == 0)
            continue;
        size_t cursor = 0;
        for (size_t k = 0; k < job->batch->n_events; k++) {
            const Crrmon__V1__Event *e = job->batch->events[k];
            if (e->seq > job->durable_seq || s_rejected(job, e->seq, &cursor))
                continue;
            int b = crr_borough_index(e->borough);
            if (b >= 0) {
                count[b]++;
                any = 1;
            }
        }
    }
    if (!any)
        return;
    char at[40], topic[32];
    crr_time_format(crr_clock_now_sec(), 0, at, sizeof at);
    for (int b = 0; b < CRR_BOROUGHS; b++) {
        if (!count[b])
            continue;
        json_t *o = json_pack("{s:s, s:I, s:s}", "borough", crr_borough_code(b), "events",
                              (json_int_t)count[b], "at", at);
        char *payload = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!payload)
            continue;
        int tl = snprintf(topic, sizeof topic, "%s events", crr_borough_code(b));
        if (zmq_send(a->pub, topic, (size_t)tl, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            zmq_send(a->pub, payload, strlen(payload), ZMQ_DONTWAIT);
        free(payload);
    }
}
