/* reload: SIGHUP. Re-reads the configuration (the same argv: the --config
 * file again, flags still win), checks everything that derives from it, and
 * applies it without a restart or refuses it whole.
 *
 * Applied at once: log_level, group_max_events/group_max_ms, schedules (next
 * due times recomputed from now), sinks and every sink's keys, snapshot_dir,
 * reference data (re-read even when the paths did not change, and recorded in
 * the store for `crrmon query`), snapshot_max_age, reject_max_age and
 * prune_interval (a prune runs at once with the new settings), [http]
 * stale_after (the dashboard's, dashboard.c), and the HTTP users file
 * (re-read at the path the aggregator started with; a file that does not
 * load keeps the users loaded before: http.c).
 * Kept until a restart (each change logged as a warning): the keys in
 * s_restart: the data folder, the endpoints and their sockets' options, the
 * [http] file paths (tls_cert, tls_key, users_file), the
 * LMDB map size and the windows (the store is open with them), and the
 * schedules' time zone.
 * Refused whole, with one error line, when the file does not open or parse,
 * a value does not check, reference data does not load, the snapshot folder
 * cannot be created or a sink does not open: the running configuration stays.
 * The certificate folders and the HTTP users file (at the running paths) are
 * re-read on every SIGHUP all the same: removing a key or a user revokes it
 * even when the config file has an error.
 *
 * Main thread only (called from the poll loop, never from the handler): the
 * HTTP thread reads none of what changes here. */
#include "aggregator.h"
#include "api.h"

#include "clock.h"
#include "datadir.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_restart[] = {
    "aggregator.data_dir",
    "aggregator.ingest",
    "aggregator.feed",
    "aggregator.feed_state",
    "aggregator.feed_period",
    "aggregator.http",
    "security.insecure",
    "security.server_cert",
    "aggregator.rcvhwm",
    "aggregator.max_msg_size",
    "aggregator.sndhwm",
    "aggregator.map_size",
    "aggregator.windows",
    "http.tls_cert",       /* read once at start (http.c) */
    "http.stream_replay",  /* the SSE ring's size (stream.c, at start) */
    "http.metrics_cache",  /* copied by crr_api_init (api.c) */
    "http.tls_key",        /* read once at start (http.c) */
    "http.users_file",     /* the path; the file itself is re-read on SIGHUP */
    "aggregator.timezone", /* the process's TZ, set once at start (snapshot.c) */
    NULL,
};

int crr_agg_snapshot_dir(const crr_agg_config_t *cfg, const char *data_dir, char *out, size_t len)
{
    char dir[PATH_MAX + 32], abs[PATH_MAX];
    if (*cfg->snapshot_dir)
        snprintf(dir, sizeof dir, "%s", cfg->snapshot_dir);
    else
        crr_datadir_path(dir, sizeof dir, data_dir, CRR_DATADIR_SNAPSHOTS);
    int rc = crr_datadir_mkdirs(dir);
    if (rc) {
        CRR_ERROR("cannot create snapshot_dir %s: %s", dir, strerror(-rc));
        return rc;
    }
    if (!realpath(dir, abs)) {
        CRR_ERROR("cannot resolve snapshot_dir %s: %s", dir, strerror(errno));
        return -errno;
    }
    snprintf(out, len, "%s", abs);
    return 0;
}

/* What a reload prepares before anything is swapped in. */
typedef struct {
    crr_agg_config_t cfg;                            /* the new configuration */
    crr_schedule_t schedules[CRR_AGG_MAX_SCHEDULES]; /* parsed cfg.schedules */
    size_t nschedules;
    crr_refdata_t ref; /* reference data as the files read now */
    int have_ref;
    crr_aggregator_t *shadow; /* sinks opened on the new settings (only its sinks are used) */
} s_next_t;

static int s_load_ref(s_next_t *n, crr_diag_t *d)
{
    crr_refdata_clear(&n->ref);
    if (*n->cfg.ref_boroughs && crr_refdata_load_boroughs(&n->ref, n->cfg.ref_boroughs, d))
        return -1;
    if (*n->cfg.ref_population) {
        if (crr_refdata_load_population(&n->ref, n->cfg.ref_population, d))
            return -1;
        n->have_ref = 1;
    }
    return 0;
}

/* Loads and checks everything; 0, or -1 with the reason logged. */
static int s_prepare(crr_aggregator_t *a, s_next_t *n)
{
    crr_diag_t d;
    char buf[1024];
    char **rest = calloc((size_t)a->argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return -1;
    int rc = crr_cfg_load(a->cfg_table, &n->cfg, a->argc, a->argv, rest, &nrest, &d);
    free(rest);
    if (rc) {
        CRR_ERROR("reload refused: %s; keeping the running configuration",
                  crr_diag_format(&d, buf, sizeof buf));
        return -1;
    }
    crr_diag_clear(&d);
    int ns = crr_schedule_parse_list(n->cfg.schedules, n->schedules, CRR_AGG_MAX_SCHEDULES, &d);
    if (ns < 0) {
        CRR_ERROR("reload refused: schedules: %s; keeping the running configuration",
                  crr_diag_format(&d, buf, sizeof buf));
        return -1;
    }
    n->nschedules = (size_t)ns;
    crr_diag_clear(&d);
    if (s_load_ref(n, &d)) {
        CRR_ERROR("reload refused: cannot load reference data: %s; keeping the running "
                  "configuration",
                  crr_diag_format(&d, buf, sizeof buf));
        return -1;
    }
    n->shadow = calloc(1, sizeof *n->shadow);
    if (!n->shadow)
        return -1;
    n->shadow->cfg = n->cfg; /* borrowed: the shadow never frees it */
    if (crr_agg_snapshot_dir(&n->cfg, a->cfg.data_dir, n->shadow->snapshot_dir,
                             sizeof n->shadow->snapshot_dir) ||
        crr_snapshots_open_sinks(n->shadow)) {
        CRR_ERROR("reload refused: the snapshot folder or a sink cannot be opened (above); "
                  "keeping the running configuration");
        return -1;
    }
    return 0;
}

static void s_discard(crr_aggregator_t *a, s_next_t *n)
{
    if (n->shadow) {
        crr_snapshots_close_sinks(n->shadow);
        free(n->shadow);
    }
    crr_cfg_free(a->cfg_table, &n->cfg);
    free(n);
}

static void s_apply(crr_aggregator_t *a, s_next_t *n)
{
    int changed_ref = memcmp(&a->ref, &n->ref, sizeof a->ref) != 0 || a->have_ref != n->have_ref;
    crr_snapshots_swap_sinks(a, n->shadow);
    memcpy(a->snapshot_dir, n->shadow->snapshot_dir, sizeof a->snapshot_dir);
    memcpy(a->schedules, n->schedules, sizeof a->schedules);
    a->nschedules = n->nschedules;
    a->ref = n->ref;
    a->have_ref = n->have_ref;
    crr_api_set_ref(a); /* the HTTP threads' copy (api.c) */
    (void)crr_log_set_level_name(n->cfg.log_level);
    crr_cfg_free(a->cfg_table, &a->cfg);
    a->cfg = n->cfg; /* the strings change hands */
    memset(&n->cfg, 0, sizeof n->cfg);
    crr_dashboard_configure(a);     /* [http] stale_after for the dashboard's page */
    crr_snapshots_sinks_changed(a); /* the delivery thread takes the new sinks */
    crr_snapshots_schedule_init(a); /* next due times from now; a prune runs at once */
    if (changed_ref) {
        int rc = crr_store_record_config(a->store, a->have_ref ? &a->ref : NULL);
        if (rc)
            CRR_ERROR("reload: cannot record the new reference data in the store: %s",
                      crr_strerror(rc));
    }
}

void crr_agg_reload(crr_aggregator_t *a)
{
    CRR_INFO("reload: SIGHUP received, re-reading the configuration");
    s_next_t *n = calloc(1, sizeof *n);
    if (!n) {
        CRR_ERROR("reload refused: out of memory; keeping the running configuration");
        return;
    }
    if (s_prepare(a, n)) {
        s_discard(a, n);
        /* a revocation must not wait for an unrelated typo to be fixed */
        CRR_INFO("reload: the certificate folders and the HTTP users file are re-read all the "
                 "same");
        (void)crr_http_reload_users(a);
        crr_zap_reload(a);
        return;
    }
    int changed = crr_cfg_log_changes(a->cfg_table, &a->cfg, &n->cfg, s_restart);
    int restart = crr_cfg_keep_restart(a->cfg_table, &a->cfg, &n->cfg, s_restart);
    s_apply(a, n);
    s_discard(a, n);
    (void)crr_http_reload_users(a); /* the users file at the path kept (logged) */
    crr_zap_reload(a);              /* the certificate folders, re-read on every SIGHUP */
    CRR_INFO("reload: applied; %d key(s) changed, %d kept until a restart", changed, restart);
}
