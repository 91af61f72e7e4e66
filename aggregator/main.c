/* main: crrmon-aggregator's entry point: configuration, the data folder's
 * lock, start-up in dependency order, the signal flag, shut-down.
 *
 * Start-up: config (defaults < INI < flags) -> lock DATA_DIR/lock (a second
 * aggregator exits 1) -> store -> zmq sockets and HTTP (signals blocked so
 * that libzmq's and libmicrohttpd's threads never take them) -> sinks ->
 * endpoints.json -> signals unblocked on the main thread -> loop.
 * Shut-down on SIGTERM/SIGINT: the loop finishes the group in hand (commit
 * and Acks) and returns; HTTP stops, sockets close with a bounded linger,
 * the store closes, endpoints.json is removed, the lock is released: exit 0.
 *
 * Exit codes: 0 clean stop, 1 runtime/start-up failure (lock held, store or
 * socket failure), 2 usage or configuration error, 78 a damaged store file
 * (empty or truncated: an operator must restore it; restarting won't help). */
#include "aggregator.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static volatile sig_atomic_t s_stop; /* the signal flag (one of the two allowed globals) */

int crr_agg_stop_requested(void)
{
    return s_stop != 0;
}

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out, const crr_cfg_entry_t *table)
{
    fprintf(out,
            "usage: crrmon-aggregator --data-dir DIR [--ingest ENDPOINT] [--feed ENDPOINT]\n"
            "                         [--http ADDR:PORT] [--config FILE] [--insecure]\n"
            "                         [--section.key=value ...]\n\n"
            "Receives event batches on a ZeroMQ ROUTER, applies them durably to LMDB, answers\n"
            "each with an Ack, publishes a live feed, serves an HTTP API and exports snapshots\n"
            "on schedule through the sinks. Writes DATA_DIR/endpoints.json with the endpoints\n"
            "actually bound. CRRMON_NOW=<RFC 3339>[+] sets the clock (tests).\n\n"
            "options (every key also as INI [section] key = value in --config FILE):\n");
    crr_cfg_print_help(out, table);
    fprintf(out, "\nsinks compiled in:\n");
    for (const crr_sink_ops_t *const *s = crr_sink_registry; *s; s++)
        fprintf(out, "  %-10s %s\n", (*s)->name, (*s)->description);
    fprintf(out, "\nHTTP: GET /healthz, GET /metrics, GET /api/v1/stats, POST /api/v1/snapshots\n");
}

/* Resolves settings that derive from others (windows, schedules, folders, refdata). */
static int s_prepare(crr_aggregator_t *a)
{
    crr_diag_t d;
    crr_diag_clear(&d);
    char buf[1024];
    if (!a->cfg.data_dir || !*a->cfg.data_dir) {
        fprintf(stderr, "crrmon-aggregator: --data-dir DIR is required (see --help)\n");
        return 2;
    }
    if (crr_log_set_level_name(a->cfg.log_level)) {
        fprintf(stderr, "crrmon-aggregator: log_level '%s' is not error|warn|info|debug\n",
                a->cfg.log_level);
        return 2;
    }
    if (!a->cfg.insecure) {
        fprintf(stderr, "crrmon-aggregator: CURVE security is not available in this build yet; "
                        "run with --insecure (plain TCP)\n");
        return 2;
    }
    int n = crr_agg_parse_windows(a->cfg.windows, a->windows, CRR_STORE_MAX_WINDOWS, &d);
    if (n < 0)
        goto bad;
    a->nwindows = (size_t)n;
    n = crr_schedule_parse_list(a->cfg.schedules, a->schedules, CRR_AGG_MAX_SCHEDULES, &d);
    if (n < 0)
        goto bad;
    a->nschedules = (size_t)n;
    crr_refdata_clear(&a->ref);
    /* bad reference data is a start-up failure (exit 1, docs/OPERATIONS.md),
     * not a usage error: the file is named in the config but its content is wrong */
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
    return 2;
bad_ref:
    fprintf(stderr, "crrmon-aggregator: cannot load reference data: %s\n",
            crr_diag_format(&d, buf, sizeof buf));
    return 1;
}

/* The snapshot folder: configured or DATA_DIR/snapshots, created, absolute. */
static int s_snapshot_dir(crr_aggregator_t *a)
{
    char dir[4096];
    if (*a->cfg.snapshot_dir)
        snprintf(dir, sizeof dir, "%s", a->cfg.snapshot_dir);
    else
        snprintf(dir, sizeof dir, "%s/snapshots", a->cfg.data_dir);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        CRR_ERROR("cannot create snapshot_dir %s: %s", dir, strerror(errno));
        return -errno;
    }
    if (!realpath(dir, a->snapshot_dir)) {
        CRR_ERROR("cannot resolve snapshot_dir %s: %s", dir, strerror(errno));
        return -errno;
    }
    return 0;
}

static void s_endpoints_path(const crr_aggregator_t *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s/endpoints.json", a->cfg.data_dir);
}

static int s_start(crr_aggregator_t *a)
{
    int rc;
    long holder = 0;
    rc = crr_datadir_lock(a->cfg.data_dir, &a->lock_fd, &holder);
    if (rc == CRR_ELOCKED) {
        CRR_ERROR("another crrmon-aggregator (pid %ld) holds %s/lock; refusing to start on the "
                  "same data folder",
                  holder, a->cfg.data_dir);
        return rc;
    }
    if (rc) {
        CRR_ERROR("cannot lock data folder %s: %s", a->cfg.data_dir, crr_strerror(rc));
        return rc;
    }
    char path[4200];
    s_endpoints_path(a, path, sizeof path);
    unlink(path); /* a stale file from the previous run must not be read as ours */
    if ((rc = s_snapshot_dir(a)))
        return rc;
    char store_dir[4200];
    snprintf(store_dir, sizeof store_dir, "%s/store", a->cfg.data_dir);
    crr_store_opts_t so = {.map_size = a->cfg.map_size,
                           .windows = a->windows,
                           .nwindows = a->nwindows,
                           .start_empty = a->cfg.start_empty};
    rc = crr_store_open(store_dir, &so, &a->store);
    if (rc) {
        CRR_ERROR("cannot open the store in %s: %s", store_dir, crr_strerror(rc));
        return rc;
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
        return rc;
    }
    a->zctx = zmq_ctx_new();
    if (!a->zctx)
        return -errno;
    if ((rc = crr_ingest_open(a)) || (rc = crr_feed_open(a)) || (rc = crr_http_open(a)))
        return rc;
    if ((rc = crr_snapshots_open_sinks(a)))
        return rc;
    crr_snapshots_recover(a); /* exports a crash left undone; logged, never fatal */
    rc = crr_datadir_write_endpoints(a->cfg.data_dir, a->ingest_ep, a->feed_ep, a->http_ep,
                                     (long)getpid());
    if (rc) {
        CRR_ERROR("cannot write %s: %s", path, crr_strerror(rc));
        return rc;
    }
    return 0;
}

static void s_stop_all(crr_aggregator_t *a)
{
    atomic_store(&a->stopping, 1);
    crr_http_close(a);
    crr_ingest_close(a);
    crr_feed_close(a);
    crr_snapshots_close_sinks(a);
    if (a->zctx) {
        zmq_ctx_term(a->zctx);
        a->zctx = NULL;
    }
    crr_store_close(&a->store);
    if (a->lock_fd >= 0) {
        char path[4200];
        s_endpoints_path(a, path, sizeof path);
        unlink(path);
        close(a->lock_fd);
        a->lock_fd = -1;
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
    a->cfg_table = crr_agg_config_table();
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
    int nrest = 0;
    if (crr_cfg_load(a->cfg_table, &a->cfg, argc, argv, rest, &nrest, &d)) {
        char buf[1024];
        fprintf(stderr, "crrmon-aggregator: %s\n", crr_diag_format(&d, buf, sizeof buf));
        code = 2;
        goto done;
    }
    if (nrest > 0) {
        fprintf(stderr, "crrmon-aggregator: unexpected argument '%s' (see --help)\n", rest[0]);
        code = 2;
        goto done;
    }
    if ((code = s_prepare(a)) != 0)
        goto done;
    code = 1;
    (void)crr_clock_now_sec(); /* read CRRMON_NOW once, before any other thread exists */

    /* Threads created from here on (libzmq's, libmicrohttpd's) inherit a mask
     * without SIGTERM/SIGINT, so the signal interrupts the main thread's poll. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    int rc = s_start(a);
    if (crr_err_bad_data(rc))
        code = CRR_EXIT_BAD_DATA;
    if (rc == 0) {
        if (a->cfg.insecure)
            CRR_WARN("transport is INSECURE: plain TCP without CURVE encryption or collector "
                     "allow-list (--insecure); use only on a trusted network");
        crr_snapshots_schedule_init(a);
        CRR_INFO("started pid=%ld data_dir=%s ingest=%s feed=%s http=%s sinks=%s windows=%s",
                 (long)getpid(), a->cfg.data_dir, a->ingest_ep, a->feed_ep, a->http_ep,
                 a->cfg.sinks, a->cfg.windows);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        crr_ingest_run(a);
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
