/* loop: the aggregator's one poll loop on the main thread, and the only
 * place that decides when it stops.
 *
 * Each turn: act on SIGHUP (reload.c), run due schedules and the pruning
 * timer (snapshot.c, which also gives the poll's timeout), then poll the
 * ROUTER, its monitor, the HTTP request pipe, the feed worker's pipe and the
 * snapshot worker's pipe and hand each readable one to its module: a group to
 * ingest.c (receive -> apply -> acknowledge), monitor events to ingest.c's
 * counters, a request to http.c, feed messages to feed.c (the PUB), a
 * computed snapshot to snapshot.c (stored, then answered). The flags are
 * main.c's signal flags, passed in (as crr_collector_run takes its own): the
 * loop reads them between two steps, so a stop finishes the group in hand
 * (commit and Acks) before it returns. Each turn also records whether ingest
 * is bound (a->serving, what GET /readyz answers). */
#include "aggregator.h"

#include "log.h"
#include "notify.h"

#include <errno.h>
#include <zmq.h>

int crr_agg_loop_run(crr_aggregator_t *a, volatile sig_atomic_t *stop,
                     volatile sig_atomic_t *reload)
{
    zmq_pollitem_t items[5] = {
        {a->router, 0, ZMQ_POLLIN, 0},
        {a->monitor, 0, ZMQ_POLLIN, 0},
        {a->http_pipe, 0, ZMQ_POLLIN, 0},
        {a->feed_pipe, 0, ZMQ_POLLIN, 0}, /* feed messages made off this thread (feedwork.c) */
        {a->snap_pipe, 0, ZMQ_POLLIN, 0}, /* a snapshot computed off this thread (snapwork.c) */
    };
    int nitems = a->snap_pipe ? 5 : 4;
    while (!*stop) {
        if (*reload) {
            *reload = 0;
            crr_notify_reloading("reloading the configuration (SIGHUP)");
            crr_agg_reload(a); /* SIGHUP: acted on here, never in the handler */
            (void)crr_log_set_format_name(a->cfg.log_format); /* checked by the loader */
            crr_notify_ready("serving");
        }
        int cap = crr_zap_tick(a); /* after a drop of revoked peers (zap.c) */
        atomic_store(&a->serving, crr_zap_ingest_bound(a)); /* GET /readyz (api.c) */
        int timeout = crr_snapshots_tick(a);
        if (cap >= 0 && (timeout < 0 || timeout > cap))
            timeout = cap;
        if (*stop)
            break;
        int r = zmq_poll(items, nitems, timeout);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            CRR_ERROR("poll failed: %s", zmq_strerror(errno));
            if (errno == ETERM)
                break;
            continue;
        }
        if (items[1].revents & ZMQ_POLLIN)
            crr_ingest_monitor_drain(a);
        if (items[2].revents & ZMQ_POLLIN)
            crr_http_serve_pipe(a);
        if (items[3].revents & ZMQ_POLLIN)
            crr_feed_drain(a); /* on the PUB, in seq order */
        if (nitems > 4 && (items[4].revents & ZMQ_POLLIN))
            crr_snapshots_finish(a); /* store it with its deliveries, answer its request */
        if (items[0].revents & ZMQ_POLLIN)
            crr_ingest_group(a);
    }
    atomic_store(&a->serving, 0);
    return 0;
}
