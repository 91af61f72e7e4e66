/* main: crrmon-aggregator's entry point: configuration, the data folder's
 * lock, start-up in dependency order, the signal flag, shut-down.
 *
 * Start-up: config (defaults < INI < flags) -> lock DATA_DIR/lock (a second
 * aggregator exits 78, naming the first one's pid) -> store -> zmq sockets and HTTP (signals
 * blocked so that libzmq's and libmicrohttpd's threads never take them) -> sinks -> endpoints.json
 * -> signals unblocked on the main thread -> READY=1 to systemd (notify.h) -> loop. The signal
 * handlers only set two flags, which main passes to the loop (loop.c); SIGHUP's is acted on there
 * (reload.c). Shut-down on SIGTERM/SIGINT: the loop finishes the group in hand (commit and Acks)
 * and returns; HTTP stops, sockets close with a bounded linger, the store closes, endpoints.json is
 * removed, the lock is released: exit 0.
 *
 * Exit codes (cfg.h): 0 clean stop; 1 runtime failure (store, sockets, HTTP);
 * 64 a bad flag or value on the command line; 78 a config file that does not
 * parse or check, reference data or a sink that cannot be loaded, a data
 * folder that cannot be created or is locked by another aggregator, a damaged
 * store file (empty or truncated: restore it; restarting won't help). */
#include "aggregator.h"
#include "api.h"

#include "clock.h"
#include "datadir.h"
#include "json.h"
#include "log.h"
#include "notify.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t s_stop;   /* the signal flags (with the log level, the */
static volatile sig_atomic_t s_reload; /* only globals): SIGTERM/SIGINT, SIGHUP */

static void s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_reload = 1;
    else
        s_stop = 1;
}

static void s_usage(FILE *out, const crr_cfg_entry_t *table)
{
    fprintf(out,
            "usage: crrmon-aggregator --data-dir DIR [--ingest ENDPOINT] [--feed ENDPOINT]\n"
            "                         [--http ADDR:PORT] [--config FILE] [--insecure]\n"
            "                         [--section.key=value ...] [--check-config]\n\n"
            "Receives event batches on a ZeroMQ ROUTER, applies them durably to LMDB, answers\n"
            "each with an Ack, publishes a live feed, serves an HTTP API and exports snapshots\n"
            "on schedule through the sinks. Writes DATA_DIR/endpoints.json with the endpoints\n"
            "actually bound. CRRMON_NOW=<RFC 3339>[+] sets the clock (tests).\n"
            "--check-config validates the configuration, prints it as INI and exits.\n"
            "SIGHUP re-reads --config FILE: schedules, sinks, reference data, prune and log\n"
            "settings apply at once, other changed keys are logged as needing a restart,\n"
            "a file that does not load is refused (docs/OPERATIONS.md, Reload). It also\n"
            "re-reads the certificate folders: a removed key's peer is disconnected and refused.\n"
            "Exit codes: 0 stopped, 1 failure, 64 usage, 78 configuration.\n\n"
            "options (every key also as INI [section] key = value in --config FILE):\n");
    crr_cfg_print_help(out, table);
    fprintf(out, "\nsinks compiled in:\n");
    for (const crr_sink_ops_t *const *s = crr_sink_registry; *s; s++)
        fprintf(out, "  %-10s %s\n", (*s)->name, (*s)->description);
    fprintf(out, "\nHTTP: GET /healthz, /readyz, /metrics, /api/v1/stats, /api/v1/indicators, "
                 "/api/v1/boroughs,\n"
                 "/api/v1/series, /api/v1/sources, /api/v1/rejects, /api/v1/snapshots[/ID]; POST "
                 "/api/v1/snapshots\n");
}

/* Resolves settings that derive from others (windows, schedules, folders, refdata). */
static int s_prepare(crr_aggregator_t *a)
{
    crr_diag_t d;
    crr_diag_clear(&d);
    char buf[1024];
    if (!a->cfg.data_dir || !*a->cfg.data_dir) {
        fprintf(stderr, "crrmon-aggregator: --data-dir DIR is required (see --help)\n");
        return CRR_EXIT_USAGE;
    }
    /* log_level, insecure, windows and schedules were checked by the loader */
    (void)crr_log_set_level_name(a->cfg.log_level);
    (void)crr_log_set_format_name(a->cfg.log_format);
    int n = crr_agg_parse_windows(a->cfg.windows, a->windows, CRR_STORE_MAX_WINDOWS, &d);
    if (n < 0)
        goto bad;
    a->nwindows = (size_t)n;
    if (crr_agg_bucket_max_age_days(a->cfg.bucket_max_age, a->windows, a->nwindows,
                                    &a->max_age_days, &d))
        goto bad;
    n = crr_schedule_parse_list(a->cfg.schedules, a->schedules, CRR_AGG_MAX_SCHEDULES, &d);
    if (n < 0)
        goto bad;
    a->nschedules = (size_t)n;
    crr_refdata_clear(&a->ref);
    /* bad reference data is a configuration error (exit 78): the file is named
     * in the config but is missing or its content is wrong */
    if (*a->cfg.ref_boroughs && crr_refdata_load_boroughs(&a->ref, a->cfg.ref_boroughs, &d))
        goto bad_ref;
    if (*a->cfg.ref_population) {
        if (crr_refdata_load_population(&a->ref, a->cfg.ref_population, &d))
            goto bad_ref;
        a->have_ref = 1;
    }
    return 0;
bad:
    fprintf(stderr, "crrmon-aggregator: %s\n", crr_diag_format(&d, buf, sizeof buf));
    return CRR_EXIT_CONFIG;
bad_ref:
    fprintf(stderr, "crrmon-aggregator: cannot load reference data: %s\n",
            crr_diag_format(&d, buf, sizeof buf));
    return CRR_EXIT_CONFIG;
}

static void s_endpoints_path(const crr_aggregator_t *a, char *buf, size_t len)
{
    crr_datadir_path(buf, len, a->cfg.data_dir, CRR_DATADIR_ENDPOINTS);
}

/* Writes DATA_DIR/endpoints.json atomically, for the CLI:
 * {"ingest":..,"feed":..,"feed_state":..,"http":..,"pid":N}. Returns 0 or -errno/-ENOMEM. */
static int s_write_endpoints(const crr_aggregator_t *a, const char *path)
{
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:I}", "ingest", a->ingest_ep, "feed", a->feed_ep,
                  "feed_state", a->feed_state_ep, "http", a->http_ep, "pid", (json_int_t)getpid());
    char *text = crr_json_dump_checked(o, JSON_INDENT(2));
    json_decref(o);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps' terminator becomes the file's last newline */
    int rc = crr_datadir_write_file(path, text, len + 1, 0644);
    free(text);
    return rc;
}

/* Starts everything; returns 0 or the exit code (78 for the data folder,
 * snapshot folder and sinks, 1 for the rest). */
static int s_start(crr_aggregator_t *a)
{
    int rc;
    long holder = 0;
    if (crr_http_prepare(a)) /* TLS and users files: refused before anything opens */
        return CRR_EXIT_CONFIG;
    char pid[32];
    rc = crr_datadir_lock(a->cfg.data_dir, &a->lock_fd, &holder);
    if (rc == CRR_ELOCKED) {
        CRR_ERROR("another crrmon-aggregator (pid %s) holds %s/%s; refusing to start on the "
                  "same data folder",
                  crr_datadir_holder_text(holder, pid, sizeof pid), a->cfg.data_dir,
                  CRR_DATADIR_LOCK);
        return CRR_EXIT_CONFIG;
    }
    if (rc) {
        CRR_ERROR("cannot lock data folder %s: %s", a->cfg.data_dir, crr_strerror(rc));
        return CRR_EXIT_CONFIG;
    }
    char path[PATH_MAX];
    s_endpoints_path(a, path, sizeof path);
    unlink(path); /* a stale file from the previous run must not be read as ours */
    if (crr_agg_snapshot_dir(&a->cfg, a->cfg.data_dir, a->snapshot_dir, sizeof a->snapshot_dir))
        return CRR_EXIT_CONFIG;
    char store_dir[PATH_MAX];
    if (crr_datadir_path(store_dir, sizeof store_dir, a->cfg.data_dir, CRR_DATADIR_STORE)) {
        CRR_ERROR("data folder name too long: %s", a->cfg.data_dir);
        return CRR_EXIT_CONFIG;
    }
    crr_store_opts_t so = {.map_size = a->cfg.map_size,
                           .windows = a->windows,
                           .nwindows = a->nwindows,
                           .start_empty = a->cfg.start_empty,
                           .max_age_days = a->max_age_days};
    rc = crr_store_open(store_dir, &so, &a->store);
    if (rc == CRR_EVERSION) {
        CRR_ERROR("cannot open the store in %s: it was written by a newer crrmon (its on-disk "
                  "format version is above %u, the newest this build reads); run that crrmon "
                  "release or a later one on this data folder",
                  store_dir, CRR_STORE_FORMAT_VERSION);
        return CRR_EXIT_CONFIG;
    }
    if (rc) {
        CRR_ERROR("cannot open the store in %s: %s", store_dir, crr_strerror(rc));
        return crr_err_bad_data(rc) ? CRR_EXIT_CONFIG : CRR_EXIT_FAIL;
    }
    /* what the CLI needs to answer as the snapshots do: windows, max age, population */
    rc = crr_store_record_config(a->store, a->have_ref ? &a->ref : NULL);
    if (rc == ENOSPC || rc == EDQUOT || rc == EIO || rc == MDB_MAP_FULL) {
        /* a full disk must not keep the aggregator down: Acks are what frees it */
        CRR_WARN("cannot record the configuration in the store (%s): `crrmon query` answers "
                 "with the one recorded before until a later start records it",
                 crr_strerror(rc));
        rc = 0;
    }
    if (rc) {
        CRR_ERROR("cannot record the configuration in the store: %s", crr_strerror(rc));
        return CRR_EXIT_FAIL;
    }
    a->zctx = zmq_ctx_new();
    if (!a->zctx)
        return CRR_EXIT_FAIL;
    if ((rc = crr_zap_start(a)) != 0)
        return rc == CRR_ECONFIG ? CRR_EXIT_CONFIG : CRR_EXIT_FAIL;
    crr_dashboard_configure(a); /* [http] stale_after, read by the HTTP threads */
    if (crr_api_init(a) || crr_ingest_open(a) || crr_feed_open(a) || crr_http_open(a))
        return CRR_EXIT_FAIL;
    if (crr_snapshots_open_sinks(a))
        return CRR_EXIT_CONFIG;
    crr_snapshots_recover(a); /* exports a crash left undone; logged, never fatal */
    rc = s_write_endpoints(a, path);
    if (rc) {
        CRR_ERROR("cannot write %s: %s", path, crr_strerror(rc));
        return CRR_EXIT_FAIL;
    }
    return 0;
}

static void s_stop_all(crr_aggregator_t *a)
{
    atomic_store(&a->stopping, 1);
    crr_http_close(a);
    crr_ingest_close(a);
    crr_feed_close(a);
    crr_zap_stop(a);
    crr_snapshots_close_sinks(a);
    if (a->zctx) {
        zmq_ctx_term(a->zctx);
        a->zctx = NULL;
    }
    crr_store_close(&a->store);
    crr_api_free(a);
    if (a->lock_fd >= 0) {
        char path[PATH_MAX];
        s_endpoints_path(a, path, sizeof path);
        unlink(path);
        crr_datadir_unlock(&a->lock_fd);
    }
}

int main(int argc, char **argv)
{
    int code = 1;
    crr_log_set_component("aggregator");
    crr_aggregator_t *a = calloc(1, sizeof *a);
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!a || !rest) {
        fprintf(stderr, "crrmon-aggregator: out of memory\n");
        return 1;
    }
    a->lock_fd = -1;
    a->argc = argc;
    a->argv = argv;
    a->cfg_table = crr_agg_config_table(argc, argv);
    if (!a->cfg_table) {
        fprintf(stderr, "crrmon-aggregator: cannot build the config table\n");
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout, a->cfg_table);
            code = 0;
            goto done;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("crrmon-aggregator %s\n", CRR_VERSION);
            code = 0;
            goto done;
        }
    }
    crr_diag_t d;
    int nrest = 0, rc = crr_cfg_load(a->cfg_table, &a->cfg, argc, argv, rest, &nrest, &d);
    if (rc) {
        char buf[1024];
        fprintf(stderr, "crrmon-aggregator: %s\n", crr_diag_format(&d, buf, sizeof buf));
        code = crr_cfg_exit_code(rc);
        goto done;
    }
    int check_only = 0;
    for (int i = 0; i < nrest; i++) {
        if (strcmp(rest[i], "--check-config") == 0) {
            check_only = 1;
            continue;
        }
        fprintf(stderr, "crrmon-aggregator: unexpected argument '%s' (see --help)\n", rest[i]);
        code = CRR_EXIT_USAGE;
        goto done;
    }
    if ((code = s_prepare(a)) != 0)
        goto done;
    if (check_only) {
        crr_cfg_dump(stdout, a->cfg_table, &a->cfg);
        goto done;
    }
    code = 1;
    (void)crr_clock_now_sec(); /* read CRRMON_NOW once, before any other thread exists */

    /* Threads created from here on (libzmq's, libmicrohttpd's) inherit a mask
     * without SIGTERM/SIGINT/SIGHUP, so the signal interrupts the main thread's
     * poll; the handlers only set a flag, the loop acts on it. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    if ((code = s_start(a)) == 0) {
        if (!a->zap)
            CRR_WARN("transport is INSECURE: plain TCP without CURVE encryption or collector "
                     "allow-list (--insecure); use only on a trusted network");
        crr_snapshots_schedule_init(a);
        CRR_INFO("started pid=%ld data_dir=%s ingest=%s feed=%s http=%s sinks=%s windows=%s",
                 (long)getpid(), a->cfg.data_dir, a->ingest_ep, a->feed_ep, a->http_ep,
                 a->cfg.sinks, a->cfg.windows);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        /* the store is open, every socket bound and endpoints.json written */
        char status[1024];
        snprintf(status, sizeof status, "serving: ingest %s, feed %s, http %s", a->ingest_ep,
                 a->feed_ep, a->http_ep);
        crr_notify_ready(status);
        crr_agg_loop_run(a, &s_stop, &s_reload);
        crr_notify_stopping("stopping: finishing the group in hand");
        CRR_INFO("stopping: signal received");
        code = 0;
    }
    s_stop_all(a);
    if (code == 0)
        CRR_INFO("stopped");
done:
    if (a->cfg_table)
        crr_cfg_free(a->cfg_table, &a->cfg);
    free(a->cfg_table);
    free(a);
    free(rest);
    return code;
}
