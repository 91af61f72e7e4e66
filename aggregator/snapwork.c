/* snapwork: the snapshot worker thread. It computes a snapshot's rows
 * (crr_indicators_compute, one LMDB read transaction: MVCC, so ingest's write
 * transactions go on beside it) off the ingest thread. It does not store the
 * snapshot: the main thread does (snapshot.c, crr_snapshots_finish), in one
 * short write transaction with its deliveries, then answers whoever asked.
 *
 * Jobs go in through a FIFO (crr_snapwork_submit, main thread) and come back
 * through another (crr_snapwork_take), both under `mu`; a one-byte message on
 * an inproc PAIR wakes the main loop's poll when one is done (the data never
 * travels through zmq, so the mutex orders every access to a job). One job
 * is computed at a time, in order. */
#include "aggregator.h"

#include "clock.h"
#include "crashpoint.h"
#include "indicators.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_EP "inproc://crr-agg-snapwork"
#define S_QUEUE 64 /* jobs waiting or done, at most */

struct crr_snapwork {
    pthread_t thr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    crr_snapjob_t *todo[S_QUEUE], *done[S_QUEUE];
    size_t ntodo, ndone;
    void *wake; /* the worker's PAIR end (worker thread only after start) */
    crr_store_t *store;
};

static void *s_main(void *arg)
{
    crr_snapwork_t *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->ntodo == 0)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        crr_snapjob_t *j = w->todo[0];
        memmove(w->todo, w->todo + 1, --w->ntodo * sizeof *w->todo);
        pthread_mutex_unlock(&w->mu);
        crr_pausepoint("agg_snapwork_compute"); /* tests hold the worker here */
        uint64_t t0 = crr_clock_mono_ms();
        crr_query_t q = {.as_of_sec = j->as_of_sec, .ref = j->have_ref ? &j->ref : NULL};
        j->rc = crr_indicators_compute(w->store, &q, &j->vals, &j->nvals);
        j->compute_ms = crr_clock_mono_ms() - t0;
        pthread_mutex_lock(&w->mu);
        w->done[w->ndone++] = j; /* room: todo + done never exceed S_QUEUE */
        pthread_mutex_unlock(&w->mu);
        zmq_send(w->wake, "", 0, ZMQ_DONTWAIT);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int crr_snapwork_start(crr_aggregator_t *a)
{
    crr_snapwork_t *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    int linger = 0;
    w->store = a->store;
    a->snap_pipe = zmq_socket(a->zctx, ZMQ_PAIR);
    w->wake = zmq_socket(a->zctx, ZMQ_PAIR);
    if (!a->snap_pipe || !w->wake ||
        zmq_setsockopt(a->snap_pipe, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_setsockopt(w->wake, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(a->snap_pipe, S_EP) || zmq_connect(w->wake, S_EP)) {
        int rc = -zmq_errno();
        if (w->wake)
            zmq_close(w->wake);
        if (a->snap_pipe)
            zmq_close(a->snap_pipe);
        a->snap_pipe = NULL;
        free(w);
        return rc;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = pthread_create(&w->thr, NULL, s_main, w);
    if (rc) {
        zmq_close(w->wake);
        zmq_close(a->snap_pipe);
        a->snap_pipe = NULL;
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return -rc;
    }
    a->snapw = w;
    return 0;
}

int crr_snapwork_submit(crr_aggregator_t *a, crr_snapjob_t *job)
{
    crr_snapwork_t *w = a->snapw;
    if (!w)
        return CRR_EINVAL;
    pthread_mutex_lock(&w->mu);
    int full = w->ntodo + w->ndone + 1 >= S_QUEUE;
    if (!full) {
        w->todo[w->ntodo++] = job;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return full ? -EBUSY : 0;
}

crr_snapjob_t *crr_snapwork_take(crr_aggregator_t *a)
{
    crr_snapwork_t *w = a->snapw;
    char b;
    while (zmq_recv(a->snap_pipe, &b, 1, ZMQ_DONTWAIT) >= 0)
        ; /* wake-ups: the done list says what finished */
    if (!w)
        return NULL;
    pthread_mutex_lock(&w->mu);
    crr_snapjob_t *j = NULL;
    if (w->ndone) {
        j = w->done[0];
        memmove(w->done, w->done + 1, --w->ndone * sizeof *w->done);
    }
    pthread_mutex_unlock(&w->mu);
    return j;
}

void crr_snapjob_free(crr_snapjob_t *j)
{
    if (!j)
        return;
    if (j->vals)
        crr_indicators_free(&j->vals, j->nvals);
    free(j);
}

void crr_snapwork_stop(crr_aggregator_t *a)
{
    crr_snapwork_t *w = a->snapw;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thr, NULL);
    for (size_t i = 0; i < w->ntodo; i++)
        crr_snapjob_free(w->todo[i]);
    for (size_t i = 0; i < w->ndone; i++)
        crr_snapjob_free(w->done[i]);
    zmq_close(w->wake);
    zmq_close(a->snap_pipe);
    a->snap_pipe = NULL;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
    a->snapw = NULL;
}
