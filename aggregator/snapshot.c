/* snapshot: snapshots on demand (HTTP) and on schedule, written through the
 * configured sinks, and the pruning timer. Main thread only: taking a
 * snapshot is an LMDB write (it is stored under its id so that an export can
 * be repeated).
 *
 * Sinks are called after the snapshot is committed, outside the ingest commit
 * path; a failing sink is logged and counted. The outbox actor of a later
 * issue takes over here: it will queue the stored snapshot id per sink and
 * retry with backoff on CRR_SINK_RETRY, so ingest never waits on a sink.
 *
 * A schedule fires when crr_clock_now_sec() reaches its due time (CRRMON_NOW
 * drives it in tests); the snapshot's as_of is the due time, so the id and the
 * windows do not depend on how late the loop noticed. Missed runs (the
 * aggregator was down, the clock jumped) collapse into one. */
#include "aggregator.h"

#include "clock.h"
#include "codec.h"
#include "indicators.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

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

int crr_snapshots_take(crr_aggregator_t *a, int64_t as_of_sec, const char *schedule, char *id,
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
    for (size_t i = 0; i < a->nsinks; i++) {
        crr_agg_sink_t *s = &a->sinks[i];
        crr_diag_t d;
        crr_diag_clear(&d);
        int r = s->ops->write(s->state, snap, &d);
        if (r != CRR_SINK_OK) {
            char buf[1024];
            atomic_fetch_add(&a->stats.sink_failures, 1);
            CRR_ERROR("sink %s: snapshot id=%s not written (%s): %s", s->ops->name, snap->id,
                      r == CRR_SINK_RETRY ? "retry later" : "fatal",
                      crr_diag_format(&d, buf, sizeof buf));
            continue;
        }
        if (!file[0] && s->ops->locate)
            s->ops->locate(s->state, snap->id, file, filelen);
    }
    CRR_INFO("snapshot id=%s schedule=%s values=%zu ms=%llu", snap->id,
             schedule ? schedule : "on-demand", snap->n_values,
             (unsigned long long)(crr_clock_mono_ms() - t0));
    crr_codec_free(&snap->base);
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
            crr_snapshots_take(a, s->next_sec, s->name, id, sizeof id, file, sizeof file, &n);
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
