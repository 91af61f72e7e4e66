/* feed: the live feed's sockets on the main thread. It binds the PUB and the
 * Clone state ROUTER (both CURVE servers in ZAP domain "feed"), hands the
 * ROUTER to the feed worker (feedwork.c) and, after each committed group,
 * tells the worker which boroughs the group touched; when the worker has
 * made FeedMessages it sends them on the PUB, in seq order, as two frames:
 * topic "<scope> <kind>" (a GSS code, LONDON or "*"; an indicator name,
 * "freshness" or "rejects": a subscriber filters one borough with a prefix)
 * and the packed crrmon.v1.FeedMessage.
 *
 * It does not compute anything (the worker does, off this thread, in a read
 * transaction) and owns no state but the sockets. PUB never blocks: messages
 * beyond SNDHWM are dropped by libzmq for that subscriber, who sees a gap in
 * seq and asks for the state again (`crrmon tail`).
 *
 * It draws the run id at open: seq starts from 1 at each start, so every
 * message and state carries the run's random id too (feed.proto), and a
 * client that sees another one knows the aggregator restarted. */
#include "aggregator.h"

#include "boroughs.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* The state endpoint for the feed endpoint feed: tcp://HOST:PORT+1 (port *
 * stays *), other transports the feed's with ".state" appended. */
static void s_state_endpoint(const char *feed, char *out, size_t len)
{
    const char *colon = strrchr(feed, ':');
    if (strncmp(feed, "tcp://", 6) == 0 && colon && colon > feed + 5) {
        char *end = NULL;
        long port = strtol(colon + 1, &end, 10);
        if (end && *end == '\0' && port > 0 && port < 65535) {
            snprintf(out, len, "%.*s:%ld", (int)(colon - feed), feed, port + 1);
            return;
        }
        snprintf(out, len, "%.*s:*", (int)(colon - feed), feed);
        return;
    }
    snprintf(out, len, "%s.state", feed);
}

/* Binds sock (a CURVE server in domain "feed") on ep, the bound endpoint into
 * out. Returns 0 or a negative code (logged). */
static int s_bind(crr_aggregator_t *a, void *sock, const char *what, const char *ep, char *out,
                  size_t outlen)
{
    int hwm = (int)a->cfg.sndhwm, linger = 0;
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    int rc = crr_zap_socket(a, sock, "feed");
    if (rc)
        return rc;
    if (zmq_bind(sock, ep)) {
        rc = -errno;
        CRR_ERROR("cannot bind %s endpoint %s: %s", what, ep, zmq_strerror(errno));
        return rc;
    }
    size_t len = outlen;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, out, &len))
        return -errno;
    return 0;
}

/* A random run id, never 0 (0 reads as "no run id": an older aggregator).
 * Without getrandom (logged) the clock and the pid stand in: distinct from
 * the run before, which is all a client compares. */
static uint64_t s_run_id(void)
{
    uint64_t id = 0;
    while (id == 0) {
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
            CRR_WARN("feed: getrandom failed (%s); the run id comes from the clock",
                     strerror(errno));
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            id = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                 ((uint64_t)getpid() << 40);
        }
    }
    return id;
}

int crr_feed_open(crr_aggregator_t *a)
{
    a->feed_run = s_run_id();
    a->pub = zmq_socket(a->zctx, ZMQ_PUB);
    if (!a->pub)
        return -errno;
    int rc = s_bind(a, a->pub, "feed", a->cfg.feed, a->feed_ep, sizeof a->feed_ep);
    if (rc)
        return rc;
    char ep[512];
    if (a->cfg.feed_state && *a->cfg.feed_state)
        snprintf(ep, sizeof ep, "%s", a->cfg.feed_state);
    else
        s_state_endpoint(a->cfg.feed, ep, sizeof ep); /* as configured: port * stays * */
    a->feed_state = zmq_socket(a->zctx, ZMQ_ROUTER);
    if (!a->feed_state)
        return -errno;
    rc = s_bind(a, a->feed_state, "feed state", ep, a->feed_state_ep, sizeof a->feed_state_ep);
    if (rc)
        return rc;
    if ((rc = crr_stream_init(a)) != 0)
        return rc;
    if ((rc = crr_feedwork_start(a)) != 0) {
        CRR_ERROR("cannot start the feed worker: %s", crr_strerror(rc));
        return rc;
    }
    return 0;
}

void crr_feed_close(crr_aggregator_t *a)
{
    crr_feedwork_stop(a); /* closes the state ROUTER and the pipe */
    if (a->feed_state) {  /* never handed over (a start that failed) */
        zmq_close(a->feed_state);
        a->feed_state = NULL;
    }
    if (a->pub) {
        zmq_close(a->pub);
        a->pub = NULL;
    }
    crr_stream_free(a);
}

void crr_feed_publish_group(crr_aggregator_t *a, size_t n)
{
    uint64_t touched = 0;
    for (size_t i = 0; i < n; i++) {
        const crr_store_job_t *job = &a->jobs[i];
        if (job->n_applied == 0)
            continue;
        for (size_t k = 0; k < job->batch->n_events; k++) {
            const Crrmon__V1__Event *e = job->batch->events[k];
            if (e->seq > job->durable_seq)
                continue;
            int b = crr_borough_index(e->borough);
            if (b >= 0)
                touched |= 1ull << b;
        }
    }
    crr_feedwork_touch(a, touched, 0); /* it also checks the reject counters */
}

void crr_feed_drain(crr_aggregator_t *a)
{
    crr_feed_out_t *out = NULL;
    size_t n = 0;
    crr_feedwork_take(a, &out, &n);
    for (size_t i = 0; i < n; i++) {
        if (zmq_send(a->pub, out[i].topic, strlen(out[i].topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
            zmq_send(a->pub, out[i].data, out[i].len, ZMQ_DONTWAIT);
    }
    crr_feedwork_free_out(out, n);
}

uint64_t crr_feed_seq(crr_aggregator_t *a)
{
    return crr_feedwork_seq(a);
}
