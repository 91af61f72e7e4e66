/* main: crrmon-collector's entry point: loading the configuration (the
 * config-map table is keys.c's: every key also an INI key and a
 * --section.key=value flag), --help/--version, the data folder lock,
 * SIGTERM/SIGINT, SIGHUP (reload, acted on from the run loop) and the exit
 * code. The work is in collector.c. Globals: only the signal flags (and
 * log's level). */
#include "collector.h"

#include "cfg.h"
#include "datadir.h"
#include "keys.h"
#include "log.h"
#include "notify.h"
#include "validate.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set by SIGTERM/SIGINT; the run loop stops reading and drains. */
static volatile sig_atomic_t s_stop = 0;
/* Set by SIGHUP; the run loop calls s_reload. */
static volatile sig_atomic_t s_hup = 0;

/* Keys that a reload logs but keeps until a restart: the spool, the sender's
 * connection and window, and the reader are set up with them. */
static const char *const s_restart[] = {
    "collector.data_dir",  "collector.aggregator",  "collector.source_id",
    "collector.max_line",  "collector.watch",       "collector.settle_time",
    "spool.max_size",      "sender.window",         "sender.batch_events",
    "sender.max_frame",    "sender.resend_timeout", "security.client_cert",
    "security.server_key", "security.insecure",     NULL,
};

static void s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_hup = 1;
    else
        s_stop = 1;
}

/* What a reload needs (main's, borrowed). */
typedef struct {
    const crr_cfg_entry_t *table;
    crr_collector_cfg_t *cfg;
    int argc;
    char **argv;
} s_reload_t;

/* SIGHUP, from the run loop: re-reads the configuration (same argv: the file
 * again, flags still win) and applies what needs no restart, or refuses a
 * file that does not load and keeps the running configuration. */
static void s_reload(void *ctx)
{
    s_reload_t *r = ctx;
    const crr_cfg_entry_t *table = r->table;
    s_hup = 0;
    crr_notify_reloading("reloading the configuration (SIGHUP)");
    CRR_INFO("reload: SIGHUP received, re-reading the configuration");
    crr_collector_cfg_t next = {0};
    char **rest = calloc((size_t)r->argc + 1, sizeof *rest);
    int nrest = 0, rc = CRR_ECONFIG;
    crr_diag_t d;
    crr_diag_clear(&d);
    if (rest)
        rc = crr_cfg_load(table, &next, r->argc, r->argv, rest, &nrest, &d);
    else
        crr_diag_set(&d, 0, "", "out of memory");
    free(rest);
    if (rc) {
        char buf[1024];
        CRR_ERROR("reload refused: %s; keeping the running configuration",
                  crr_diag_format(&d, buf, sizeof buf));
        crr_cfg_free(table, &next);
        crr_notify_ready("running (reload refused)");
        return;
    }
    int changed = crr_cfg_log_changes(table, r->cfg, &next, s_restart);
    int restart = crr_cfg_keep_restart(table, r->cfg, &next, s_restart);
    crr_cfg_take(table, r->cfg, &next);
    crr_cfg_free(table, &next);
    (void)crr_log_set_level_name(r->cfg->send.log_level);
    (void)crr_log_set_format_name(r->cfg->log_format);
    crr_notify_ready("running");
    CRR_INFO("reload: applied; %d key(s) changed, %d kept until a restart", changed, restart);
}

static void s_usage(FILE *out, const crr_cfg_entry_t *table)
{
    fprintf(out, "usage: crrmon-collector --data-dir DIR --aggregator ENDPOINT --source-id ID\n"
                 "                        [--config FILE] [--give-up-after DURATION] [FILE...|-]\n"
                 "       crrmon-collector --check [--errors FILE] FILE...\n"
                 "\n"
                 "Reads JSON Lines events (one crrmon.v1.Event per line, proto3 JSON) from the\n"
                 "FILEs in order, or from stdin when none is given or for '-'; a FILE named\n"
                 "*.csv is read as CSV (a header row naming the columns: docs/formats/CSV.md);\n"
                 "validates each\n"
                 "line, spools it durably (LMDB in DATA_DIR/spool) and sends it to the aggregator\n"
                 "until acknowledged. A bad line is logged as FILE:LINE: field: reason, kept in\n"
                 "the spool's rejects database (`crrmon rejects --data-dir DIR`), and reading\n"
                 "goes on. Files resume at their checkpoint after a restart with the same\n"
                 "DATA_DIR; stdin cannot be resumed after a restart (lines read but not yet\n"
                 "spooled when the process died are lost to it), so prefer files. FILEs ending\n"
                 "in .gz are decompressed (zlib).\n"
                 "\n"
                 "--watch FOLDER: a drop folder. Every complete *.jsonl, *.jsonl.gz and *.csv in\n"
                 "it (renamed in, or closed and unchanged for collector.settle_time) is read and\n"
                 "moved to FOLDER/done/ once its events are acknowledged; problems are written\n"
                 "to FOLDER/rejected/NAME.errors.csv; an unreadable file stays in place. Runs\n"
                 "until SIGTERM/SIGINT.\n"
                 "\n"
                 "At the end of every input (stdin: when the producer closes it) the collector\n"
                 "waits until each spooled event is acknowledged, then exits: 0 every accepted\n"
                 "event acknowledged; 2 some lines were rejected (the rest were sent); 1 gave\n"
                 "up (--give-up-after elapsed without Ack progress; the spool keeps the\n"
                 "events) or a fatal error; 64 a bad flag or value on the command line; 78 a\n"
                 "config file that does not parse, a data folder that cannot be used (locked,\n"
                 "not creatable), or a spool with no checkpoint for named files an earlier\n"
                 "spool of DATA_DIR read (see --new-spool), or a damaged spool data file\n"
                 "(empty or truncated: restore it). A full disk pauses reading (sending goes\n"
                 "on) until space is freed.\n"
                 "--errors FILE writes an error report: CSV, one row per problem (file, line,\n"
                 "field, value, reason, code), every problem of a line; the good lines still go.\n"
                 "--check validates the FILEs exactly as ingest would, writes that report to\n"
                 "stdout (or --errors FILE), sends nothing, needs no aggregator or data folder,\n"
                 "and exits 0 (no problem) or 2 (problems found).\n"
                 "--window, --batch-events, --max-frame and --give-up-after are named as in\n"
                 "`crrmon send`.\n"
                 "SIGTERM/SIGINT: stop reading, wait\n"
                 "collector.drain_timeout for in-flight Acks, exit 0.\n"
                 "SIGHUP: re-read --config FILE and apply the log level, give_up_after,\n"
                 "drain_timeout and the edge validation and group keys; the others are\n"
                 "logged as needing a restart; a file that does not load is refused.\n"
                 "\n"
                 "Options (every one also settable in the INI file as [section] key = value,\n"
                 "and as --section.key=value):\n"
                 "  --config FILE                      INI file\n"
                 "  --check-config                     validate the configuration, print it as "
                 "INI, exit\n"
                 "  --help, --version\n");
    crr_cfg_print_help(out, table);
}

/* Creates the data folder and takes its lock; returns the fd or -1 (logged). */
static int s_lock(const char *dir)
{
    int fd;
    long holder;
    char pid[32];
    int rc = crr_datadir_lock(dir, &fd, &holder);
    if (rc == CRR_ELOCKED)
        CRR_ERROR("another crrmon-collector (pid %s) is using %s (lock held on %s/%s)",
                  crr_datadir_holder_text(holder, pid, sizeof pid), dir, dir, CRR_DATADIR_LOCK);
    else if (rc)
        CRR_ERROR("cannot lock data folder %s: %s", dir, crr_strerror(rc));
    return rc ? -1 : fd;
}

/* Loads the configuration with table and runs what it asks for; returns the
 * exit code. */
static int s_main(const crr_cfg_entry_t *table, int argc, char **argv)
{
    crr_collector_cfg_t cfg = {0};
    crr_diag_t d;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, code = CRR_COLLECTOR_EXIT_GAVE_UP, lock = -1;
    if (!rest)
        return 1;
    int rc = crr_cfg_load(table, &cfg, argc, argv, rest, &nrest, &d);
    if (rc) {
        char buf[1024];
        fprintf(stderr, "crrmon-collector: %s\n", crr_diag_format(&d, buf, sizeof buf));
        code = crr_cfg_exit_code(rc);
        goto done;
    }
    int check_only = 0, dry_run = 0, ninputs = 0;
    for (int i = 0; i < nrest; i++) {
        if (strcmp(rest[i], "--check-config") == 0) {
            check_only = 1;
            continue;
        }
        if (strcmp(rest[i], "--check") == 0) {
            dry_run = 1;
            continue;
        }
        if (rest[i][0] == '-' && rest[i][1] != '\0') {
            fprintf(stderr, "crrmon-collector: unknown option '%s' (see --help)\n", rest[i]);
            code = CRR_EXIT_USAGE;
            goto done;
        }
        rest[ninputs++] = rest[i];
    }
    nrest = ninputs;
    (void)crr_log_set_level_name(cfg.send.log_level); /* checked by the loader */
    (void)crr_log_set_format_name(cfg.log_format);
    if (strcmp(cfg.final_line, "wait") != 0 && strcmp(cfg.final_line, "accept") != 0) {
        fprintf(stderr, "crrmon-collector: --collector.final_line is wait or accept, not '%s'\n",
                cfg.final_line);
        code = CRR_EXIT_USAGE;
        goto done;
    }
    if (dry_run && !check_only) {
        code = crr_collector_check(&cfg, rest, nrest); /* needs no data folder or aggregator */
        goto done;
    }
    if (!*cfg.data_dir || !*cfg.source_id || !*cfg.aggregator) {
        fprintf(stderr, "crrmon-collector: --data-dir, --source-id and --aggregator are "
                        "required (see --help)\n");
        code = CRR_EXIT_USAGE;
        goto done;
    }
    crr_diag_t sd;
    if (crr_validate_source_id(cfg.source_id, &sd) != 0) {
        fprintf(stderr, "crrmon-collector: --source-id: %s\n", sd.reason);
        goto done;
    }
    char why[256];
    if (crr_keys_send_check(&cfg.send, why, sizeof why) != 0) {
        fprintf(stderr, "crrmon-collector: %s\n", why);
        code = CRR_EXIT_CONFIG;
        goto done;
    }
    if (check_only) {
        crr_cfg_dump(stdout, table, &cfg);
        code = 0;
        goto done;
    }
    if (crr_curve_client_load("crrmon-collector", cfg.send.client_cert, cfg.send.server_key,
                              cfg.send.insecure, &cfg.curve, &d)) {
        char buf[1024];
        fprintf(stderr, "crrmon-collector: %s\n", crr_diag_format(&d, buf, sizeof buf));
        code = CRR_EXIT_CONFIG;
        goto done;
    }
    if ((lock = s_lock(cfg.data_dir)) < 0) {
        code = CRR_EXIT_CONFIG; /* a refused data folder */
        goto done;
    }
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    s_reload_t reload = {table, &cfg, argc, argv};
    cfg.reload_flag = &s_hup;
    cfg.on_reload = s_reload;
    cfg.reload_ctx = &reload;
    code = crr_collector_run(&cfg, rest, nrest, &s_stop);
done:
    crr_datadir_unlock(&lock);
    crr_cfg_free(table, &cfg);
    free(rest);
    return code;
}

int main(int argc, char **argv)
{
    crr_log_set_component("collector");
    crr_cfg_entry_t *table = crr_keys_collector_table();
    if (!table)
        return CRR_COLLECTOR_EXIT_GAVE_UP;
    int code = -1;
    for (int i = 1; i < argc && code < 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout, table);
            code = 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("crrmon-collector %s\n", CRR_VERSION);
            code = 0;
        }
    }
    if (code < 0)
        code = s_main(table, argc, argv);
    free(table);
    return code;
}
