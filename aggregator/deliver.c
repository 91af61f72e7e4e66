/* deliver: the delivery thread. It writes each queued snapshot delivery (the
 * store's outbox, state/outbox.h) through its sink instance, off the ingest
 * thread, and records the outcome; it owns the open sink instances while it
 * runs. It does not take snapshots nor queue them (snapshot.c does, in the
 * snapshot's own transaction, through the store's snapshot hook).
 *
 * Per sink instance, deliveries go strictly in snapshot order: the oldest
 * pending one is tried; on failure the sink waits (exponential backoff from
 * delivery_backoff, doubled per attempt up to delivery_backoff_max, with
 * jitter: a random point in the upper half) and tries the same one again, so
 * later snapshots wait behind it. A delivery that fails
 * delivery_max_attempts times, or fails permanently (CRR_SINK_FATAL), is
 * marked dead and the sink goes on with the next; dead ones stay visible and
 * are made pending again by `crrmon export --retry SINK`. A crash between a
 * sink's write and its outcome record writes it again at the next start:
 * sinks are idempotent on the snapshot id.
 *
 * Threading: one thread. The main thread hands it new sink sets
 * (crr_deliver_set_sinks, after a reload) and kicks it after a snapshot;
 * HTTP threads wait for outcomes (crr_deliver_wait) and read summaries. All
 * of that goes through `mu`; LMDB transactions are per thread (MDB_NOTLS),
 * the thread's write transactions are short (one record) and serialised
 * with ingest's by LMDB's writer lock. The thread idles at most
 * S_IDLE_POLL_MS so that a retry written by the CLI is seen. */
#include "aggregator.h"

#include "clock.h"
#include "crashpoint.h"
#include "log.h"
#include "outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_IDLE_POLL_MS 1000

_Static_assert(sizeof(((crr_agg_sink_t *)0)->name) == CRR_OUTBOX_SINK_MAX, "sink name sizes");

struct crr_deliver {
    crr_aggregator_t *a;  /* for the store and the counters (both outlive the thread) */
    crr_outbox_dbs_t dbs; /* the outbox databases (opened before the thread starts) */
    pthread_t thr;        /* the thread */
    int started;          /* thr runs */
    pthread_mutex_t mu;   /* guards everything below */
    pthread_cond_t cv;    /* kick / stop / new sinks */
    pthread_cond_t done;  /* an outcome was recorded */
    int stop, kicked;     /* requests to the thread */
    crr_agg_sink_t next[CRR_AGG_MAX_SINKS]; /* a set handed over, not taken yet */
    size_t nnext;
    int have_next;
    char names[CRR_AGG_MAX_SINKS][CRR_OUTBOX_SINK_MAX]; /* the current set's names */
    size_t nnames;
    uint32_t max_attempts; /* config, copied at set_sinks */
    uint64_t backoff_ms, backoff_max_ms;
    /* the thread's own */
    crr_agg_sink_t cur[CRR_AGG_MAX_SINKS];
    size_t ncur;
    uint64_t next_try_ms[CRR_AGG_MAX_SINKS]; /* monotonic: when sink i may try again */
    unsigned seed;                           /* jitter */
};

/* ---- the thread ---- */

/* The backoff before attempt number attempts+1 (attempts >= 1 failed). */
static uint64_t s_backoff(crr_deliver_t *d, uint32_t attempts, uint64_t base, uint64_t cap)
{
    uint64_t w = base ? base : 1;
    for (uint32_t i = 1; i < attempts && w < cap; i++)
        w *= 2;
    if (w > cap)
        w = cap;
    uint64_t half = w / 2;
    return half + (half ? (uint64_t)rand_r(&d->seed) % (half + 1) : 0);
}

/* Records the outcome of d's attempt (where: the file written, "" = none)
 * in one write transaction. */
static int s_record(crr_deliver_t *dl, crr_delivery_t *d, int ok, const char *where)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(crr_store_env(dl->a->store), NULL, 0, &txn);
    if (rc)
        return rc;
    rc = ok ? crr_outbox_done(txn, &dl->dbs, d->sink, d->id, where)
            : crr_outbox_update(txn, &dl->dbs, d);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* Tries the oldest pending delivery of sink i. Returns 0 (nothing pending),
 * 1 (delivered), 2 (failed, retried later) or 3 (failed, now dead). */
static int s_deliver_one(crr_deliver_t *dl, size_t i, uint32_t max_attempts, uint64_t base,
                         uint64_t cap)
{
    crr_agg_sink_t *s = &dl->cur[i];
    crr_delivery_t d;
    MDB_txn *txn;
    int rc = mdb_txn_begin(crr_store_env(dl->a->store), NULL, MDB_RDONLY, &txn);
    if (rc) {
        CRR_ERROR("deliveries: cannot read the outbox: %s", crr_strerror(rc));
        return 0;
    }
    rc = crr_outbox_head(txn, &dl->dbs, s->name, &d);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc) {
        CRR_ERROR("deliveries: cannot read the outbox: %s", crr_strerror(rc));
        return 0;
    }
    crr_diag_t diag;
    crr_diag_clear(&diag);
    Crrmon__V1__Snapshot *snap = NULL;
    char where[CRR_OUTBOX_WHERE_MAX] = ""; /* the file written, for the record */
    int r;
    rc = crr_store_snapshot_get(dl->a->store, d.id, &snap);
    if (rc == CRR_ENOTFOUND) {
        crr_diag_set(&diag, 0, "", "the snapshot is no longer stored (pruned)");
        r = CRR_SINK_FATAL;
    } else if (rc) {
        crr_diag_set(&diag, 0, "", "cannot read the snapshot back: %s", crr_strerror(rc));
        r = CRR_SINK_RETRY;
    } else {
        r = s->ops->write(s->state, snap, &diag);
        if (r == CRR_SINK_OK && s->ops->locate &&
            s->ops->locate(s->state, snap, where, sizeof where) != 0)
            where[0] = '\0';
        crr_codec_free(&snap->base);
    }
    crr_crashpoint("agg_delivery_after_write");
    int ok = r == CRR_SINK_OK, out;
    char why[1024];
    if (ok) {
        out = 1;
    } else {
        atomic_fetch_add(&dl->a->stats.sink_failures, 1);
        d.attempts++;
        d.last_try_sec = crr_clock_now_sec();
        crr_diag_format(&diag, why, sizeof why);
        snprintf(d.error, sizeof d.error, "%.*s", (int)sizeof d.error - 1, why);
        d.dead = r == CRR_SINK_FATAL || (max_attempts && d.attempts >= max_attempts);
        out = d.dead ? 3 : 2;
    }
    if ((rc = s_record(dl, &d, ok, where)) != 0)
        CRR_ERROR("sink %s: snapshot id=%s: its outcome could not be recorded (%s); it is "
                  "written again later (same content)",
                  s->name, d.id, crr_strerror(rc));
    if (ok) {
        CRR_INFO("sink %s: snapshot id=%s delivered (after %" PRIu32 " failed attempt(s))", s->name,
                 d.id, d.attempts);
    } else if (d.dead) {
        CRR_ERROR("sink %s: snapshot id=%s DEAD after %" PRIu32
                  " attempt(s): %s (crrmon export --retry %s)",
                  s->name, d.id, d.attempts, why, s->name);
    } else {
        uint64_t wait = s_backoff(dl, d.attempts, base, cap);
        dl->next_try_ms[i] = crr_clock_mono_ms() + wait;
        CRR_WARN("sink %s: snapshot id=%s not written (attempt %" PRIu32
                 "): %s; retried in %" PRIu64 " ms",
                 s->name, d.id, d.attempts, why, wait);
    }
    return out;
}

static void s_close_set(crr_agg_sink_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        set[i].ops->close(&set[i].state);
}

static void *s_main(void *arg)
{
    crr_deliver_t *dl = arg;
    pthread_mutex_lock(&dl->mu);
    while (!dl->stop) {
        crr_agg_sink_t old[CRR_AGG_MAX_SINKS];
        size_t nold = 0;
        if (dl->have_next) {
            memcpy(old, dl->cur, sizeof old);
            nold = dl->ncur;
            memcpy(dl->cur, dl->next, sizeof dl->cur);
            dl->ncur = dl->nnext;
            dl->have_next = 0;
            dl->nnext = 0;
            memset(dl->next_try_ms, 0, sizeof dl->next_try_ms);
        }
        uint32_t max_attempts = dl->max_attempts;
        uint64_t base = dl->backoff_ms, cap = dl->backoff_max_ms;
        dl->kicked = 0;
        pthread_mutex_unlock(&dl->mu);
        s_close_set(old, nold);
        uint64_t wait_ms = S_IDLE_POLL_MS;
        int progress = 0;
        for (size_t i = 0; i < dl->ncur; i++) {
            uint64_t now = crr_clock_mono_ms();
            if (now < dl->next_try_ms[i]) {
                if (dl->next_try_ms[i] - now < wait_ms)
                    wait_ms = dl->next_try_ms[i] - now;
                continue;
            }
            int r = s_deliver_one(dl, i, max_attempts, base, cap);
            if (r == 1 || r == 3)
                progress = 1; /* go on with this sink's next at once */
            else if (r == 2 && dl->next_try_ms[i] - now < wait_ms)
                wait_ms = dl->next_try_ms[i] > now ? dl->next_try_ms[i] - now : 0;
            if (r)
                pthread_cond_broadcast(&dl->done);
        }
        pthread_mutex_lock(&dl->mu);
        if (progress || dl->kicked || dl->stop || dl->have_next)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(wait_ms / 1000);
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&dl->cv, &dl->mu, &ts);
    }
    pthread_mutex_unlock(&dl->mu);
    return NULL;
}

/* ---- the other threads' side ---- */

static void s_names(crr_deliver_t *dl, const crr_agg_sink_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        memcpy(dl->names[i], set[i].name, sizeof dl->names[i]); /* both NUL-terminated, 64 */
    dl->nnames = n;
}

static void s_config(crr_deliver_t *dl, const crr_agg_config_t *cfg)
{
    dl->max_attempts = (uint32_t)cfg->delivery_max_attempts;
    dl->backoff_ms = (uint64_t)cfg->delivery_backoff;
    dl->backoff_max_ms = (uint64_t)cfg->delivery_backoff_max;
}

int crr_deliver_start(crr_aggregator_t *a)
{
    crr_deliver_t *dl = calloc(1, sizeof *dl);
    if (!dl)
        return -ENOMEM;
    dl->a = a;
    MDB_txn *txn;
    int rc = mdb_txn_begin(crr_store_env(a->store), NULL, 0, &txn);
    if (rc == 0 && (rc = crr_outbox_open(txn, &dl->dbs)) != 0)
        mdb_txn_abort(txn);
    else if (rc == 0)
        rc = mdb_txn_commit(txn);
    if (rc) {
        free(dl);
        return rc;
    }
    pthread_mutex_init(&dl->mu, NULL);
    pthread_cond_init(&dl->cv, NULL);
    pthread_cond_init(&dl->done, NULL);
    dl->seed = (unsigned)crr_clock_mono_ms() ^ (unsigned)getpid();
    memcpy(dl->cur, a->sinks, sizeof dl->cur);
    dl->ncur = a->nsinks;
    s_names(dl, a->sinks, a->nsinks);
    s_config(dl, &a->cfg);
    if ((rc = pthread_create(&dl->thr, NULL, s_main, dl)) != 0) {
        pthread_cond_destroy(&dl->done);
        pthread_cond_destroy(&dl->cv);
        pthread_mutex_destroy(&dl->mu);
        free(dl);
        return -rc;
    }
    dl->started = 1;
    a->deliver = dl; /* an atomic store: HTTP threads see dl whole from here on */
    return 0;
}

const crr_outbox_dbs_t *crr_deliver_dbs(crr_aggregator_t *a)
{
    return a->deliver ? &a->deliver->dbs : NULL;
}

void crr_deliver_set_sinks(crr_aggregator_t *a)
{
    crr_deliver_t *dl = a->deliver;
    pthread_mutex_lock(&dl->mu);
    if (dl->have_next) /* a set handed over before and never taken: never used, close it */
        s_close_set(dl->next, dl->nnext);
    memcpy(dl->next, a->sinks, sizeof dl->next);
    dl->nnext = a->nsinks;
    dl->have_next = 1;
    s_names(dl, a->sinks, a->nsinks);
    s_config(dl, &a->cfg);
    pthread_cond_signal(&dl->cv);
    pthread_mutex_unlock(&dl->mu);
}

void crr_deliver_kick(crr_aggregator_t *a)
{
    crr_deliver_t *dl = a->deliver;
    if (!dl)
        return;
    pthread_mutex_lock(&dl->mu);
    dl->kicked = 1;
    pthread_cond_signal(&dl->cv);
    pthread_mutex_unlock(&dl->mu);
}

void crr_deliver_stop(crr_aggregator_t *a)
{
    crr_deliver_t *dl = a->deliver;
    if (!dl)
        return;
    pthread_mutex_lock(&dl->mu);
    dl->stop = 1;
    pthread_cond_signal(&dl->cv);
    pthread_cond_broadcast(&dl->done);
    pthread_mutex_unlock(&dl->mu);
    if (dl->started)
        pthread_join(dl->thr, NULL);
    s_close_set(dl->cur, dl->ncur);
    if (dl->have_next)
        s_close_set(dl->next, dl->nnext);
    pthread_cond_destroy(&dl->done);
    pthread_cond_destroy(&dl->cv);
    pthread_mutex_destroy(&dl->mu);
    free(dl);
    a->deliver = NULL;
    a->nsinks = 0; /* the thread owned them: closed above */
}

/* The state of each current sink's delivery of id into arr; returns how many
 * are still undecided (never tried, and not queued behind a failing one). */
static size_t s_outcomes(crr_deliver_t *dl, char (*names)[CRR_OUTBOX_SINK_MAX], size_t n,
                         const char *id, json_t *arr)
{
    MDB_txn *txn;
    size_t open = n;
    json_array_clear(arr);
    if (mdb_txn_begin(crr_store_env(dl->a->store), NULL, MDB_RDONLY, &txn) != 0)
        return open;
    open = 0;
    for (size_t i = 0; i < n; i++) {
        crr_delivery_t d;
        char where[CRR_OUTBOX_WHERE_MAX];
        const char *state = "pending", *err = "";
        int got = crr_outbox_delivered_where(txn, &dl->dbs, id, names[i], where, sizeof where);
        if (got == 1) {
            state = "delivered";
        } else {
            int q = crr_outbox_find(txn, &dl->dbs, id, names[i], &d);
            if (q == 0)
                continue; /* not a sink of this snapshot (a schedule's own list) */
            if (q == 2 || (q == 1 && d.attempts > 0)) {
                state = q == 2 ? "dead" : "failed";
                err = d.error;
            } else if (q == 1 && crr_outbox_head(txn, &dl->dbs, names[i], &d) == 0 &&
                       strcmp(d.id, id) != 0 && d.attempts > 0) {
                state = "queued"; /* behind an earlier snapshot that is being retried */
                err = d.error;
            } else if (q == 1) {
                open++;
            }
        }
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "sink", names[i], "state",
                                             state, "error", err, "file", got == 1 ? where : ""));
    }
    mdb_txn_abort(txn);
    return open;
}

json_t *crr_deliver_wait(crr_aggregator_t *a, const char *id, uint64_t timeout_ms)
{
    crr_deliver_t *dl = a->deliver;
    json_t *arr = json_array();
    if (!dl || !arr)
        return arr;
    char names[CRR_AGG_MAX_SINKS][CRR_OUTBOX_SINK_MAX];
    pthread_mutex_lock(&dl->mu);
    size_t n = dl->nnames;
    memcpy(names, dl->names, sizeof names);
    uint64_t deadline = crr_clock_mono_ms() + timeout_ms;
    while (s_outcomes(dl, names, n, id, arr) > 0 && !dl->stop && crr_clock_mono_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&dl->done, &dl->mu, &ts);
    }
    pthread_mutex_unlock(&dl->mu);
    return arr;
}

json_t *crr_deliver_summary_json(crr_aggregator_t *a)
{
    crr_deliver_t *dl = a->deliver;
    json_t *o = json_object();
    if (!dl || !o)
        return o;
    crr_outbox_sum_t sums[64];
    size_t n = 0;
    MDB_txn *txn;
    if (mdb_txn_begin(crr_store_env(a->store), NULL, MDB_RDONLY, &txn) != 0)
        return o;
    int rc = crr_outbox_summary(txn, &dl->dbs, sums, 64, &n);
    mdb_txn_abort(txn);
    if (rc)
        return o;
    char names[CRR_AGG_MAX_SINKS][CRR_OUTBOX_SINK_MAX];
    pthread_mutex_lock(&dl->mu);
    size_t nn = dl->nnames;
    memcpy(names, dl->names, sizeof names);
    pthread_mutex_unlock(&dl->mu);
    int64_t now = crr_clock_now_sec();
    for (size_t i = 0; i < nn; i++) /* every configured sink, with or without a backlog */
        json_object_set_new(o, names[i],
                            json_pack("{s:I, s:I, s:I}", "pending", (json_int_t)0, "dead",
                                      (json_int_t)0, "oldest_age_seconds", (json_int_t)0));
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, sums[i].sink,
                            json_pack("{s:I, s:I, s:I}", "pending", (json_int_t)sums[i].pending,
                                      "dead", (json_int_t)sums[i].dead, "oldest_age_seconds",
                                      (json_int_t)(sums[i].oldest_sec && now > sums[i].oldest_sec
                                                       ? now - sums[i].oldest_sec
                                                       : 0)));
    return o;
}

void crr_deliver_metrics(crr_aggregator_t *a, FILE *f)
{
    json_t *o = crr_deliver_summary_json(a);
    static const struct {
        const char *key, *name, *help;
    } g[] = {
        {"pending", "crrmon_delivery_backlog", "Snapshot deliveries waiting, per sink."},
        {"dead", "crrmon_delivery_dead", "Snapshot deliveries failed past the retry limit."},
        {"oldest_age_seconds", "crrmon_delivery_oldest_age_seconds",
         "Age of the oldest undelivered snapshot, per sink (0 = none)."},
    };
    for (size_t k = 0; o && k < sizeof g / sizeof g[0]; k++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", g[k].name, g[k].help, g[k].name);
        const char *sink;
        json_t *v;
        json_object_foreach(o, sink, v)
        {
            fprintf(f, "%s{sink=\"%s\"} %" JSON_INTEGER_FORMAT "\n", g[k].name, sink,
                    json_integer_value(json_object_get(v, g[k].key)));
        }
    }
    json_decref(o);
}
