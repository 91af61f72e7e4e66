/* snapshot: snapshots on demand (HTTP) and on schedule, written through the
 * configured sinks, and the pruning timer. Main thread only: taking a
 * snapshot is an LMDB write (it is stored under its id so that an export can
 * be repeated).
 *
 * Sinks are called after the snapshot is committed, outside the ingest commit
 * path; a failing sink is logged and counted. Each sink's success is then
 * recorded in the store's "delivered" database (key: snapshot id, NUL, sink
 * name), so that a start after a crash between the commit and the export,
 * or after a failed sink, writes what is missing (crr_snapshots_recover); a
 * file sink whose file exists counts as delivered (its write is an atomic
 * rename), which also covers snapshots stored before the records existed.
 * Not implemented yet: retries while running. A sink that fails (even with
 * CRR_SINK_RETRY) is written again only at the next start, and sinks run on
 * the main thread between groups; a queue per sink with backoff, off the
 * ingest thread, would take over here and keep these delivery records.
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

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The store database of delivery records. */
#define S_DELIVERED_DB "delivered"

int crr_snapshots_open_sinks(crr_aggregator_t *a)
{
    const char *p = a->cfg.sinks;
    while (*p) {
        char name[64];
        size_t n = strcspn(p, ", ");
        snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
        if (!name[0])
            continue;
        size_t k = 0;
        const crr_sink_ops_t *ops = NULL;
        for (; crr_sink_registry[k]; k++)
            if (strcmp(crr_sink_registry[k]->name, name) == 0) {
                ops = crr_sink_registry[k];
                break;
            }
        if (!ops) {
            CRR_ERROR("sinks: no sink named '%s' is compiled in", name);
            return CRR_ECONFIG;
        }
        for (size_t i = 0; i < a->nsinks; i++)
            if (a->sinks[i].ops == ops) {
                CRR_ERROR("sinks: '%s' is listed twice", name);
                return CRR_ECONFIG;
            }
        crr_sink_section_t section = {ops->name, a->snapshot_dir, a->cfg.sink_cfg[k].bytes};
        crr_diag_t d;
        crr_diag_clear(&d);
        void *state = NULL;
        int rc = ops->open(&section, &state, &d);
        if (rc) {
            char buf[1024];
            CRR_ERROR("sink %s: cannot open: %s", ops->name, crr_diag_format(&d, buf, sizeof buf));
            return CRR_ECONFIG;
        }
        a->sinks[a->nsinks].ops = ops;
        a->sinks[a->nsinks].state = state;
        a->nsinks++;
    }
    return 0;
}

void crr_snapshots_close_sinks(crr_aggregator_t *a)
{
    for (size_t i = 0; i < a->nsinks; i++)
        a->sinks[i].ops->close(&a->sinks[i].state);
    a->nsinks = 0;
}

/* ---- delivery records ---- */

/* The record key of (snapshot id, sink): id NUL name. Returns its length. */
static size_t s_delivery_key(const char *id, const char *sink, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s%c%s", id, '\0', sink);
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* Opens (creating) the delivered database once. Returns 0 or an LMDB code. */
static int s_delivered_open(crr_aggregator_t *a)
{
    if (a->have_delivered)
        return 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(crr_store_env(a->store), NULL, 0, &txn);
    if (rc)
        return rc;
    if ((rc = crr_lmdb_dbi(txn, S_DELIVERED_DB, 0, &a->db_delivered)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return rc;
    a->have_delivered = 1;
    return 0;
}

/* Records that the sinks whose bit is set in mask delivered snapshot id, in
 * one committed transaction. Returns 0 or an LMDB code. */
static int s_delivered_put(crr_aggregator_t *a, const char *id, unsigned mask)
{
    int rc = s_delivered_open(a);
    MDB_txn *txn;
    if (rc || (rc = mdb_txn_begin(crr_store_env(a->store), NULL, 0, &txn)) != 0)
        return rc;
    for (size_t i = 0; i < a->nsinks && rc == 0; i++) {
        if (!(mask & 1u << i))
            continue;
        char key[512];
        MDB_val k = {s_delivery_key(id, a->sinks[i].ops->name, key, sizeof key), key}, v = {0, ""};
        if (k.mv_size)
            rc = mdb_put(txn, a->db_delivered, &k, &v, 0);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

/* Whether sink i recorded snapshot id as delivered (1), not (0), or an LMDB code. */
static int s_delivered_get(crr_aggregator_t *a, MDB_txn *txn, const char *id, size_t i)
{
    char key[512];
    MDB_val k = {s_delivery_key(id, a->sinks[i].ops->name, key, sizeof key), key}, v;
    if (!k.mv_size)
        return 1; /* an id too long for a key is never recoverable: do not retry it forever */
    int rc = mdb_get(txn, a->db_delivered, &k, &v);
    return rc == 0 ? 1 : rc == MDB_NOTFOUND ? 0 : rc;
}

/* Writes snap through sink i. Returns 1 when delivered, 0 when not (logged, counted). */
static int s_sink_write(crr_aggregator_t *a, size_t i, const Crrmon__V1__Snapshot *snap)
{
    crr_agg_sink_t *s = &a->sinks[i];
    crr_diag_t d;
    crr_diag_clear(&d);
    int r = s->ops->write(s->state, snap, &d);
    if (r == CRR_SINK_OK)
        return 1;
    char buf[1024];
    atomic_fetch_add(&a->stats.sink_failures, 1);
    CRR_ERROR("sink %s: snapshot id=%s not written (%s): %s", s->ops->name, snap->id,
              r == CRR_SINK_RETRY ? "retried at the next start" : "fatal",
              crr_diag_format(&d, buf, sizeof buf));
    return 0;
}

int crr_snapshots_export(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule, char *id,
                         size_t idlen, char *file, size_t filelen, size_t *nvalues)
{
    Crrmon__V1__Snapshot *snap = NULL;
    uint64_t t0 = crr_clock_mono_ms();
    id[0] = file[0] = '\0';
    *nvalues = 0;
    int rc = crr_snapshot_take(a->store, as_of_sec, schedule, a->have_ref ? &a->ref : NULL, &snap);
    if (rc) {
        CRR_ERROR("snapshot schedule=%s failed: %s%s", schedule ? schedule : "on-demand",
                  crr_strerror(rc),
                  rc == MDB_MAP_FULL ? " (MDB_MAP_FULL: the LMDB map is full, raise map_size)"
                                     : "");
        return rc;
    }
    atomic_fetch_add(&a->stats.snapshots, 1);
    snprintf(id, idlen, "%s", snap->id);
    *nvalues = snap->n_values;
    crr_crashpoint("agg_snapshot_after_commit");
    unsigned delivered = 0;
    for (size_t i = 0; i < a->nsinks; i++) {
        crr_agg_sink_t *s = &a->sinks[i];
        if (!s_sink_write(a, i, snap))
            continue;
        delivered |= 1u << i;
        if (!file[0] && s->ops->locate)
            s->ops->locate(s->state, snap->id, file, filelen);
    }
    if (delivered && (rc = s_delivered_put(a, snap->id, delivered)) != 0)
        CRR_WARN("snapshot id=%s: its delivery could not be recorded (%s); the next start "
                 "writes it again (same content)",
                 snap->id, crr_strerror(rc));
    CRR_INFO("snapshot id=%s schedule=%s values=%zu ms=%llu", snap->id,
             schedule ? schedule : "on-demand", snap->n_values,
             (unsigned long long)(crr_clock_mono_ms() - t0));
    crr_codec_free(&snap->base);
    return 0;
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

/* Which sinks still owe snapshot id: bits in *missing; sinks that delivered
 * without a record (a file sink whose file is there) in *found. */
static int s_pending_sinks(crr_aggregator_t *a, const char *id, unsigned *missing, unsigned *found)
{
    *missing = *found = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin(crr_store_env(a->store), NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < a->nsinks; i++) {
        int got = s_delivered_get(a, txn, id, i);
        if (got < 0) {
            mdb_txn_abort(txn);
            return got;
        }
        if (got)
            continue;
        char path[PATH_MAX + 256];
        struct stat st;
        const crr_sink_ops_t *ops = a->sinks[i].ops;
        if (ops->locate && ops->locate(a->sinks[i].state, id, path, sizeof path) == 0 &&
            stat(path, &st) == 0)
            *found |= 1u << i;
        else
            *missing |= 1u << i;
    }
    mdb_txn_abort(txn);
    return 0;
}

/* Writes snapshot id through the sinks in missing. Returns the bits delivered. */
static unsigned s_export_missing(crr_aggregator_t *a, const char *id, unsigned missing)
{
    Crrmon__V1__Snapshot *snap = NULL;
    int rc = crr_store_snapshot_get(a->store, id, &snap);
    if (rc) {
        CRR_ERROR("snapshot id=%s: cannot be read back for its export: %s", id, crr_strerror(rc));
        return 0;
    }
    unsigned delivered = 0;
    for (size_t i = 0; i < a->nsinks; i++) {
        if (!(missing & 1u << i) || !s_sink_write(a, i, snap))
            continue;
        delivered |= 1u << i;
        CRR_INFO("sink %s: snapshot id=%s written at start (its export had not finished)",
                 a->sinks[i].ops->name, id);
    }
    crr_codec_free(&snap->base);
    return delivered;
}

static int s_cmp_id(const void *key, const void *elem)
{
    return strcmp(key, *(char *const *)elem);
}

/* Deletes the delivery records of snapshots no longer stored (pruned). */
static int s_delivered_prune(crr_aggregator_t *a, const s_ids_t *l)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(crr_store_env(a->store), NULL, 0, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, a->db_delivered, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    MDB_val k, v;
    while ((rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) == 0) {
        char id[512];
        size_t n = strnlen(k.mv_data, k.mv_size < sizeof id ? k.mv_size : sizeof id - 1);
        memcpy(id, k.mv_data, n);
        id[n] = '\0';
        if (!bsearch(id, l->ids, l->n, sizeof *l->ids, s_cmp_id) &&
            (rc = mdb_cursor_del(cur, 0)) != 0)
            break;
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
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
        if (!ops->locate || ops->locate(a->sinks[i].state, "probe", path, sizeof path) != 0)
            continue;
        char *slash = strrchr(path, '/');
        if (slash)
            *slash = '\0';
        tmps += s_remove_stale_tmp(ops->name, path);
    }
    int rc = s_delivered_open(a);
    if (rc) {
        CRR_ERROR("cannot open the snapshot delivery records: %s; snapshots whose export did not "
                  "finish are not written again",
                  crr_strerror(rc));
        return rc;
    }
    s_ids_t l = {0};
    rc = crr_store_snapshots_foreach(a->store, s_collect_id, &l);
    if (rc || l.oom) {
        CRR_ERROR("cannot list the stored snapshots: %s",
                  l.oom ? "out of memory" : crr_strerror(rc));
        s_ids_free(&l);
        return rc ? rc : -ENOMEM;
    }
    size_t written = 0;
    for (size_t j = 0; j < l.n; j++) {
        unsigned missing, found;
        if ((rc = s_pending_sinks(a, l.ids[j], &missing, &found)) != 0)
            break;
        unsigned delivered = missing ? s_export_missing(a, l.ids[j], missing) : 0;
        for (unsigned b = delivered; b; b &= b - 1)
            written++;
        if ((delivered | found) && (rc = s_delivered_put(a, l.ids[j], delivered | found)) != 0)
            break;
    }
    if (rc == 0)
        rc = s_delivered_prune(a, &l);
    if (rc)
        CRR_WARN("snapshot delivery records not updated: %s (the next start tries again)",
                 crr_strerror(rc));
    if (written || tmps)
        CRR_INFO("snapshot recovery: %zu stored snapshot(s), %zu export(s) written, %zu stale "
                 "temporary file(s) removed",
                 l.n, written, tmps);
    s_ids_free(&l);
    return 0;
}

void crr_snapshots_schedule_init(crr_aggregator_t *a)
{
    int64_t now = crr_clock_now_sec();
    for (size_t i = 0; i < a->nschedules; i++) {
        a->schedules[i].next_sec = crr_schedule_next(&a->schedules[i], now);
        char when[40];
        CRR_INFO("schedule name=%s next=%s", a->schedules[i].name,
                 crr_time_format(a->schedules[i].next_sec, 0, when, sizeof when));
    }
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
    if (rc == 0 && a->have_delivered) { /* the delivery records of pruned snapshots go too */
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
            char id[160], file[4400];
            size_t n;
            crr_snapshots_export(a, s->next_sec, s->name, id, sizeof id, file, sizeof file, &n);
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
