/* snapshot: snapshots on demand (HTTP) and on schedule, queued for the
 * configured sinks, and the pruning timer. Main thread only: taking a
 * snapshot is an LMDB write (it is stored under its id so that an export can
 * be repeated).
 *
 * The outbox: the snapshot and one delivery per sink instance are recorded in
 * ONE transaction (the store's snapshot hook, state/outbox.h), then the
 * delivery thread (deliver.c) is woken and writes them, retrying with
 * backoff; the main thread never waits for a sink. At start
 * (crr_snapshots_recover), stale temporary files are removed and every
 * stored snapshot is queued for each sink it is meant for (s_feeds: its
 * schedule's `@` list, else aggregator.sinks) that has neither delivered nor
 * queued it (a sink added since, to either list; a store written before the
 * outbox): a file sink whose file is already there counts as delivered (its
 * write is an atomic rename).
 *
 * The catch-up after downtime (crr_snapshots_schedule_init) goes through the
 * snapshot worker like every other snapshot, so ingest starts at once.
 *
 * A schedule fires when crr_clock_now_sec() reaches its due time (CRRMON_NOW
 * drives it in tests); the snapshot's as_of is the due time, so the id and the
 * windows do not depend on how late the loop noticed. Missed runs (the
 * aggregator was down, the clock jumped) collapse into one. */
#include "aggregator.h"

#include "clock.h"
#include "codec.h"
#include "crashpoint.h"
#include "indicators.h"
#include "lmdbx.h"
#include "log.h"
#include "outbox.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Opens sink instance name (once: a second mention only marks in_default).
 * Returns 0 or CRR_ECONFIG (logged). */
static int s_open_sink(crr_aggregator_t *a, const char *name, int in_default)
{
    size_t k = 0;
    const crr_sink_ops_t *ops = NULL;
    if (crr_agg_sink_instance(name, &ops, &k) != 0) {
        CRR_ERROR("sinks: no sink named '%s' is compiled in or configured", name);
        return CRR_ECONFIG;
    }
    for (size_t i = 0; i < a->nsinks; i++)
        if (strcmp(a->sinks[i].name, name) == 0) {
            a->sinks[i].in_default |= in_default;
            return 0;
        }
    if (a->nsinks == CRR_AGG_MAX_SINKS) {
        CRR_ERROR("sinks: at most %d sink instances", CRR_AGG_MAX_SINKS);
        return CRR_ECONFIG;
    }
    crr_agg_sink_t *s = &a->sinks[a->nsinks];
    snprintf(s->name, sizeof s->name, "%s", name); /* section.name lives until close */
    crr_sink_section_t section = {s->name, a->snapshot_dir, a->cfg.sink_cfg[k].bytes};
    crr_diag_t d;
    crr_diag_clear(&d);
    void *state = NULL;
    int rc = ops->open(&section, &state, &d);
    if (rc) {
        char buf[1024];
        CRR_ERROR("sink %s: cannot open: %s", name, crr_diag_format(&d, buf, sizeof buf));
        return CRR_ECONFIG;
    }
    a->nsinks++;
    s->ops = ops;
    s->state = state;
    s->in_default = in_default;
    return 0;
}

/* Opens every instance of the comma list text. */
static int s_open_list(crr_aggregator_t *a, const char *text, int in_default)
{
    for (const char *p = text; *p;) {
        char name[64];
        size_t n = strcspn(p, ", ");
        snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
        if (name[0] && s_open_sink(a, name, in_default) != 0)
            return CRR_ECONFIG;
    }
    return 0;
}

int crr_snapshots_open_sinks(crr_aggregator_t *a)
{
    if (s_open_list(a, a->cfg.sinks, 1) != 0)
        return CRR_ECONFIG;
    crr_schedule_t sc[CRR_AGG_MAX_SCHEDULES]; /* the sinks schedules name ("@ a,b") */
    crr_diag_t d;
    crr_diag_clear(&d);
    int n = crr_schedule_parse_list(a->cfg.schedules, sc, CRR_AGG_MAX_SCHEDULES, &d);
    for (int i = 0; i < n; i++)
        if (sc[i].sinks[0] && s_open_list(a, sc[i].sinks, 0) != 0)
            return CRR_ECONFIG;
    return 0;
}

void crr_snapshots_close_sinks(crr_aggregator_t *a)
{
    crr_snapwork_stop(a); /* before zmq_ctx_term: it holds a PAIR */
    if (a->deliver) {
        crr_deliver_stop(a); /* the thread owns them: it closes them */
        crr_store_set_snapshot_hook(a->store, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < a->nsinks; i++)
        a->sinks[i].ops->close(&a->sinks[i].state);
    a->nsinks = 0;
}

void crr_snapshots_swap_sinks(crr_aggregator_t *a, crr_aggregator_t *shadow)
{
    for (size_t i = 0; !a->deliver && i < a->nsinks; i++) /* no thread owns them: close here */
        a->sinks[i].ops->close(&a->sinks[i].state);
    memcpy(a->sinks, shadow->sinks, sizeof a->sinks);
    a->nsinks = shadow->nsinks;
    shadow->nsinks = 0;
}

void crr_snapshots_sinks_changed(crr_aggregator_t *a)
{
    if (a->deliver)
        crr_deliver_set_sinks(a); /* the old set is closed by the thread */
}

/* Whether sink instance i is a destination of schedule's snapshots: the
 * schedule's own list ("@ a,b") when it names one, else aggregator.sinks
 * (on-demand snapshots, schedules naming none, and schedules no longer
 * configured). Main thread (a->sinks and a->schedules). */
static int s_feeds(const crr_aggregator_t *a, const char *schedule, size_t i)
{
    const char *list = NULL;
    for (size_t k = 0; schedule && k < a->nschedules; k++)
        if (strcmp(a->schedules[k].name, schedule) == 0 && a->schedules[k].sinks[0])
            list = a->schedules[k].sinks;
    if (!list)
        return a->sinks[i].in_default;
    const char *nm = a->sinks[i].name, *hit = strstr(list, nm);
    size_t len = strlen(nm);
    while (hit && !((hit == list || hit[-1] == ',' || hit[-1] == ' ') &&
                    (hit[len] == '\0' || hit[len] == ',' || hit[len] == ' ')))
        hit = strstr(hit + 1, nm); /* a whole name of the list, not a part of one */
    return hit != NULL;
}

/* The store's snapshot hook: marks a catch-up, records a schedule's last slot
 * and queues one delivery per sink, in the snapshot's own transaction (main
 * thread: a->sinks and a->schedules are read where they are written). */
static int s_enqueue_hook(MDB_txn *txn, Crrmon__V1__Snapshot *snap, int64_t taken_at_sec, void *ud)
{
    crr_aggregator_t *a = ud;
    snap->catch_up = a->catch_up;
    for (size_t i = 0; a->have_schedules && snap->as_of && i < a->nschedules; i++)
        if (strcmp(a->schedules[i].name, snap->schedule) == 0) { /* its last slot taken */
            uint8_t v[8];
            crr_be64_put(v, (uint64_t)snap->as_of->seconds);
            MDB_val k = {strlen(snap->schedule), snap->schedule}, val = {8, v};
            int rc = mdb_put(txn, a->db_schedules, &k, &val, 0);
            if (rc)
                return rc;
        }
    const struct crr_outbox_dbs *dbs = crr_deliver_dbs(a);
    const char *names[CRR_AGG_MAX_SINKS];
    size_t n = 0;
    for (size_t i = 0; i < a->nsinks; i++)
        if (s_feeds(a, snap->schedule, i))
            names[n++] = a->sinks[i].name;
    if (!dbs || !n)
        return 0;
    return crr_outbox_enqueue(txn, dbs, snap->id, names, n, taken_at_sec);
}

static Google__Protobuf__Timestamp *s_ts(int64_t sec)
{
    Google__Protobuf__Timestamp *t = malloc(sizeof *t);
    if (t) {
        google__protobuf__timestamp__init(t);
        t->seconds = sec;
    }
    return t;
}

/* Stores the rows *vals (taken over: *vals is NULL after) as a snapshot as
 * of as_of_sec with its deliveries, in one write transaction, and wakes the
 * delivery thread. Fills id, file and *nvalues. Returns 0 or the store's code. */
static int s_store(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule,
                   Crrmon__V1__IndicatorValue ***vals, size_t nvals, char *id, size_t idlen,
                   char *file, size_t filelen, size_t *nvalues)
{
    int64_t now = crr_clock_now_sec();
    Crrmon__V1__Snapshot *snap = malloc(sizeof *snap);
    if (!snap) {
        crr_indicators_free(vals, nvals);
        return -ENOMEM;
    }
    crrmon__v1__snapshot__init(snap);
    snap->values = *vals;
    snap->n_values = nvals;
    *vals = NULL;
    snap->schedule = strdup(schedule ? schedule : "on-demand");
    snap->as_of = s_ts(as_of_sec ? as_of_sec : now);
    snap->taken_at = s_ts(now);
    int rc = !snap->schedule || !snap->as_of || !snap->taken_at
                 ? -ENOMEM
                 : crr_store_snapshot_put(a->store, snap, as_of_sec ? as_of_sec : now, now);
    if (rc == 0) {
        atomic_fetch_add(&a->stats.snapshots, 1);
        snprintf(id, idlen, "%s", snap->id);
        *nvalues = snap->n_values;
        crr_crashpoint("agg_snapshot_after_commit");
        crr_deliver_kick(a);
        for (size_t i = 0; i < a->nsinks && !file[0]; i++) /* locate is pure: safe beside a write */
            if (a->sinks[i].ops->locate)
                a->sinks[i].ops->locate(a->sinks[i].state, snap, file, filelen);
    }
    crr_codec_free(&snap->base);
    return rc;
}

static void s_failed(int rc, const char *schedule)
{
    CRR_ERROR("snapshot schedule=%s failed: %s%s", schedule ? schedule : "on-demand",
              crr_strerror(rc),
              rc == MDB_MAP_FULL ? " (MDB_MAP_FULL: the LMDB map is full, raise map_size)" : "");
}

int crr_snapshots_export(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule, char *id,
                         size_t idlen, char *file, size_t filelen, size_t *nvalues)
{
    uint64_t t0 = crr_clock_mono_ms();
    id[0] = file[0] = '\0';
    *nvalues = 0;
    crr_query_t q = {.as_of_sec = as_of_sec, .ref = a->have_ref ? &a->ref : NULL};
    Crrmon__V1__IndicatorValue **vals = NULL;
    size_t nvals = 0;
    int rc = crr_indicators_compute(a->store, &q, &vals, &nvals);
    if (rc == 0)
        rc = s_store(a, as_of_sec, schedule, &vals, nvals, id, idlen, file, filelen, nvalues);
    if (rc) {
        s_failed(rc, schedule);
        return rc;
    }
    CRR_INFO("snapshot id=%s schedule=%s values=%zu ms=%llu (queued for %zu sink(s))", id,
             schedule ? schedule : "on-demand", *nvalues,
             (unsigned long long)(crr_clock_mono_ms() - t0), a->nsinks);
    return 0;
}

/* crr_snapshots_request, marking a catch-up. */
static int s_request(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule, uint64_t req,
                     int catch_up)
{
    if (!a->snapw) { /* no worker (it did not start): compute here */
        char id[160], file[4400];
        size_t n;
        a->catch_up = catch_up;
        int rc = crr_snapshots_export(a, as_of_sec, schedule, id, sizeof id, file, sizeof file, &n);
        a->catch_up = 0;
        if (req)
            crr_http_snapshot_answer(a, req, rc, id, file, n, as_of_sec);
        return 0;
    }
    crr_snapjob_t *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->req = req;
    j->catch_up = catch_up;
    j->as_of_sec = as_of_sec ? as_of_sec : crr_clock_now_sec();
    snprintf(j->schedule, sizeof j->schedule, "%s", schedule ? schedule : "");
    j->have_ref = a->have_ref;
    if (a->have_ref)
        j->ref = a->ref;
    int rc = crr_snapwork_submit(a, j);
    if (rc)
        free(j);
    return rc;
}

int crr_snapshots_request(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule,
                          uint64_t req)
{
    return s_request(a, as_of_sec, schedule, req, 0);
}

void crr_snapshots_finish(crr_aggregator_t *a)
{
    crr_snapjob_t *j;
    while ((j = crr_snapwork_take(a)) != NULL) {
        char id[160] = "", file[4400] = "";
        size_t n = 0;
        const char *schedule = j->schedule[0] ? j->schedule : NULL;
        uint64_t t0 = crr_clock_mono_ms();
        int rc = j->rc;
        a->catch_up = j->catch_up; /* the store's hook marks the snapshot */
        if (rc == 0)
            rc = s_store(a, j->as_of_sec, schedule, &j->vals, j->nvals, id, sizeof id, file,
                         sizeof file, &n);
        a->catch_up = 0;
        if (rc)
            s_failed(rc, schedule);
        else
            CRR_INFO("snapshot id=%s schedule=%s%s values=%zu ms=%llu (computed off the ingest "
                     "thread in %llu ms; queued for %zu sink(s))",
                     id, schedule ? schedule : "on-demand", j->catch_up ? " catch-up" : "", n,
                     (unsigned long long)(crr_clock_mono_ms() - t0),
                     (unsigned long long)j->compute_ms, a->nsinks);
        if (j->req)
            crr_http_snapshot_answer(a, j->req, rc, id, file, n, j->as_of_sec);
        crr_snapjob_free(j);
    }
}

/* ---- start-up recovery ---- */

/* Removes the *.tmp files in dir: a write that did not finish (the final
 * name is only ever made by rename). Returns how many were removed. */
static size_t s_remove_stale_tmp(const char *sink, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 4 || strcmp(e->d_name + n - 4, ".tmp") != 0)
            continue;
        char path[PATH_MAX + 256];
        int w = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (w < 0 || (size_t)w >= sizeof path)
            continue;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (unlink(path) == 0) {
            removed++;
            CRR_INFO("sink %s: removed stale temporary file %s (a write that did not finish)", sink,
                     path);
        } else {
            CRR_WARN("sink %s: cannot remove stale %s: %s", sink, path, strerror(errno));
        }
    }
    closedir(d);
    return removed;
}

/* The stored snapshot ids, in store (byte) order. */
typedef struct {
    char **ids;
    size_t n, cap;
    int oom;
} s_ids_t;

static int s_collect_id(const char *id, int64_t taken_at_sec, void *ud)
{
    (void)taken_at_sec;
    s_ids_t *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->ids, cap * sizeof *p);
        if (!p)
            return l->oom = 1;
        l->ids = p;
        l->cap = cap;
    }
    if (!(l->ids[l->n] = strdup(id)))
        return l->oom = 1;
    l->n++;
    return 0;
}

static void s_ids_free(s_ids_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->ids[i]);
    free(l->ids);
}

static int s_cmp_id(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

static int s_keep_id(const char *id, void *ud)
{
    const s_ids_t *l = ud;
    return bsearch(id, l->ids, l->n, sizeof *l->ids, s_cmp_id) != NULL;
}

/* Deletes the delivery records of snapshots no longer stored (pruned). */
static int s_delivered_prune(crr_aggregator_t *a, s_ids_t *l)
{
    const struct crr_outbox_dbs *dbs = crr_deliver_dbs(a);
    MDB_txn *txn;
    if (!dbs)
        return 0;
    int rc = mdb_txn_begin(crr_store_env(a->store), NULL, 0, &txn);
    if (rc)
        return rc;
    if ((rc = crr_outbox_prune(txn, dbs, s_keep_id, l)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* Which sinks still need stored snapshot id: bit i set for sink i when it is
 * one of the snapshot's destinations (s_feeds) and has neither delivered nor
 * queued it. *head is the snapshot's header when a sink might (read lazily:
 * most snapshots have every record, and need no read). Returns 0 or a code. */
static int s_missing(crr_aggregator_t *a, const char *id, Crrmon__V1__Snapshot **head,
                     uint64_t *mask)
{
    const struct crr_outbox_dbs *dbs = crr_deliver_dbs(a);
    MDB_txn *txn;
    *mask = 0;
    int rc = mdb_txn_begin(crr_store_env(a->store), NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; rc == 0 && i < a->nsinks; i++) {
        int got = crr_outbox_is_delivered(txn, dbs, id, a->sinks[i].name);
        if (got == 0)
            got = crr_outbox_find(txn, dbs, id, a->sinks[i].name, NULL);
        if (got < 0)
            rc = got;
        else if (got == 0)
            *mask |= (uint64_t)1 << i;
    }
    mdb_txn_abort(txn);
    if (rc || !*mask)
        return rc;
    if ((rc = crr_store_snapshot_head(a->store, id, head)) != 0)
        return rc;
    for (size_t i = 0; i < a->nsinks; i++)
        if (!s_feeds(a, (*head)->schedule, i))
            *mask &= ~((uint64_t)1 << i);
    return 0;
}

/* Queues stored snapshot id for every sink it is meant for (s_feeds) that
 * has neither delivered nor queued it: a sink added since, to
 * aggregator.sinks or to a schedule's list, gets the stored history meant
 * for it (a file sink whose file is there is recorded delivered). Adds the
 * number queued to *queued. One write transaction, only when one is
 * needed. */
static int s_queue_missing(crr_aggregator_t *a, const char *id, size_t *queued)
{
    const struct crr_outbox_dbs *dbs = crr_deliver_dbs(a);
    Crrmon__V1__Snapshot *head = NULL;
    uint64_t mask;
    int rc = s_missing(a, id, &head, &mask);
    if (rc || !mask) {
        if (head)
            crr_codec_free(&head->base);
        return rc;
    }
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(crr_store_env(a->store), NULL, 0, &txn)) != 0) {
        crr_codec_free(&head->base);
        return rc;
    }
    for (size_t i = 0; i < a->nsinks && rc == 0; i++) {
        if (!(mask & ((uint64_t)1 << i)))
            continue;
        const char *name = a->sinks[i].name;
        char path[PATH_MAX + 256];
        struct stat st;
        const crr_sink_ops_t *ops = a->sinks[i].ops;
        if (ops->locate && ops->locate(a->sinks[i].state, head, path, sizeof path) == 0 &&
            stat(path, &st) == 0) {
            rc = crr_outbox_done(txn, dbs, name, id, path);
        } else {
            rc = crr_outbox_enqueue(txn, dbs, id, &name, 1, crr_clock_now_sec());
            if (rc == 0) {
                (*queued)++;
                CRR_INFO("sink %s: snapshot id=%s schedule=%s queued at start (never delivered "
                         "to it)",
                         name, id, head->schedule);
            }
        }
    }
    crr_codec_free(&head->base);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

int crr_snapshots_recover(crr_aggregator_t *a)
{
    size_t tmps = 0;
    for (size_t i = 0; i < a->nsinks; i++) {
        char path[PATH_MAX + 256];
        const crr_sink_ops_t *ops = a->sinks[i].ops;
        Crrmon__V1__Snapshot probe = CRRMON__V1__SNAPSHOT__INIT; /* only its folder is used */
        probe.id = (char *)"probe";
        if (!ops->locate || ops->locate(a->sinks[i].state, &probe, path, sizeof path) != 0)
            continue;
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = '\0';
        tmps += s_remove_stale_tmp(a->sinks[i].name, path);
    }
    int rc = crr_deliver_start(a);
    if (rc) {
        CRR_ERROR("cannot start the snapshot deliveries: %s; snapshots are stored but not "
                  "exported until a start that can",
                  crr_strerror(rc));
        return rc;
    }
    MDB_txn *txn;
    if ((rc = mdb_txn_begin(crr_store_env(a->store), NULL, 0, &txn)) == 0) {
        if ((rc = crr_lmdb_dbi(txn, "schedules", 0, &a->db_schedules)) == 0 &&
            (rc = mdb_txn_commit(txn)) == 0)
            a->have_schedules = 1;
        else if (rc)
            mdb_txn_abort(txn);
    }
    if (rc)
        CRR_WARN("cannot open the schedules' last slots: %s (no catch-up after downtime)",
                 crr_strerror(rc));
    crr_store_set_snapshot_hook(a->store, s_enqueue_hook, a);
    if ((rc = crr_snapwork_start(a)) != 0)
        CRR_WARN("cannot start the snapshot worker: %s; snapshots are computed on the ingest "
                 "thread",
                 crr_strerror(rc));
    s_ids_t l = {0};
    rc = crr_store_snapshots_foreach(a->store, s_collect_id, &l);
    if (rc || l.oom) {
        CRR_ERROR("cannot list the stored snapshots: %s",
                  l.oom ? "out of memory" : crr_strerror(rc));
        s_ids_free(&l);
        return rc ? rc : -ENOMEM;
    }
    size_t queued = 0;
    for (size_t j = 0; j < l.n && rc == 0; j++)
        rc = s_queue_missing(a, l.ids[j], &queued);
    if (rc == 0)
        rc = s_delivered_prune(a, &l);
    if (rc)
        CRR_WARN("snapshot delivery records not updated: %s (the next start tries again)",
                 crr_strerror(rc));
    if (queued || tmps)
        CRR_INFO("snapshot recovery: %zu stored snapshot(s), %zu delivery(ies) queued, %zu stale "
                 "temporary file(s) removed",
                 l.n, queued, tmps);
    s_ids_free(&l);
    crr_deliver_kick(a);
    return 0;
}

/* The last slot recorded for schedule name: 0 and *sec, or MDB_NOTFOUND. */
static int s_last_slot(crr_aggregator_t *a, const char *name, int64_t *sec)
{
    MDB_txn *txn;
    if (!a->have_schedules)
        return MDB_NOTFOUND;
    int rc = mdb_txn_begin(crr_store_env(a->store), NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    MDB_val k = {strlen(name), (void *)name}, v;
    rc = mdb_get(txn, a->db_schedules, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        *sec = (int64_t)crr_be64_get(v.mv_data);
    else if (rc == 0)
        rc = MDB_NOTFOUND;
    mdb_txn_abort(txn);
    return rc;
}

void crr_snapshots_schedule_init(crr_aggregator_t *a)
{
    int64_t now = crr_clock_now_sec();
    if (!a->sched_started) {
        setenv("TZ", a->cfg.tz && *a->cfg.tz ? a->cfg.tz : "UTC", 1);
        tzset();
    }
    for (size_t i = 0; i < a->nschedules; i++) {
        crr_schedule_t *s = &a->schedules[i];
        int64_t last, latest;
        char when[40], was[40];
        if (!a->sched_started && s_last_slot(a, s->name, &last) == 0) {
            size_t missed = crr_schedule_missed(s, last, now, &latest);
            if (missed) {
                CRR_WARN("schedule name=%s: %zu slot(s) missed while the aggregator was down "
                         "(last taken %s); one catch-up snapshot as of %s",
                         s->name, missed, crr_time_format(last, 0, was, sizeof was),
                         crr_time_format(latest, 0, when, sizeof when));
                int rc = s_request(a, latest, s->name, 0, 1); /* on the worker */
                if (rc)
                    CRR_ERROR("schedule name=%s: the catch-up snapshot cannot be queued: %s",
                              s->name, crr_strerror(rc));
            }
        }
        s->next_sec = crr_schedule_next(s, now);
        CRR_INFO("schedule name=%s next=%s (%s)", s->name,
                 crr_time_format(s->next_sec, 0, when, sizeof when), a->cfg.tz);
    }
    a->sched_started = 1;
    a->next_prune_ms = crr_clock_mono_ms();
}

static void s_prune(crr_aggregator_t *a)
{
    int64_t now = crr_clock_now_sec();
    int rc = crr_store_prune(a->store, now, a->cfg.snapshot_max_age / 1000,
                             a->cfg.reject_max_age / 1000);
    if (rc)
        CRR_ERROR("prune failed: %s", crr_strerror(rc));
    else
        atomic_fetch_add(&a->stats.prunes, 1);
    if (rc == 0)
        CRR_DEBUG("pruned snapshots older than %llds, rejects older than %llds",
                  (long long)(a->cfg.snapshot_max_age / 1000),
                  (long long)(a->cfg.reject_max_age / 1000));
    if (rc == 0 && a->deliver) { /* the delivery records of pruned snapshots go too */
        s_ids_t l = {0};
        rc = crr_store_snapshots_foreach(a->store, s_collect_id, &l);
        if (rc == 0 && !l.oom && (rc = s_delivered_prune(a, &l)) != 0)
            CRR_WARN("pruning snapshot delivery records failed: %s", crr_strerror(rc));
        s_ids_free(&l);
    }
}

int crr_snapshots_tick(crr_aggregator_t *a)
{
    int64_t wait_ms = 1000;
    int64_t now_ns = crr_clock_now_ns();
    int64_t now = now_ns / CRR_NS_PER_SEC;
    for (size_t i = 0; i < a->nschedules; i++) {
        crr_schedule_t *s = &a->schedules[i];
        if (now >= s->next_sec) {
            int rc = crr_snapshots_request(a, s->next_sec, s->name, 0);
            if (rc)
                CRR_ERROR("schedule name=%s: the snapshot cannot be queued: %s", s->name,
                          crr_strerror(rc));
            s->next_sec = crr_schedule_next(s, now);
        }
        int64_t until = (s->next_sec * CRR_NS_PER_SEC - now_ns) / 1000000 + 1;
        if (until < wait_ms)
            wait_ms = until < 0 ? 0 : until;
    }
    uint64_t mono = crr_clock_mono_ms();
    if (a->cfg.prune_interval > 0 && mono >= a->next_prune_ms) {
        s_prune(a);
        a->next_prune_ms = mono + (uint64_t)a->cfg.prune_interval;
    }
    return (int)wait_ms;
}
