/* main: crrmon-collector's entry point: the config-map table (every key also
 * an INI key and a --section.key=value flag), --help/--version, the data
 * folder lock, SIGTERM/SIGINT, and the exit code. The work is in
 * collector.c. Globals: only the signal flag (and log's level). */
#include "collector.h"

#include "cfg.h"
#include "log.h"
#include "validate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by SIGTERM/SIGINT; the run loop stops reading and drains. */
static volatile sig_atomic_t s_stop = 0;

#define C(field) offsetof(crr_collector_cfg_t, field)
static const crr_cfg_entry_t s_table[] = {
    {"collector", "data_dir", CRR_CFG_STR, "", 0, 0, C(data_dir), "data-dir",
     "data folder: LMDB spool (DATA_DIR/spool) and lock (required)"},
    {"collector", "aggregator", CRR_CFG_STR, "tcp://127.0.0.1:7400", 0, 0, C(aggregator),
     "aggregator", "aggregator ingest endpoint (ZeroMQ, e.g. tcp://host:7400)"},
    {"collector", "source_id", CRR_CFG_STR, "", 0, 0, C(source_id), "source-id",
     "this collector's source id (required; fixed for the life of the spool)"},
    {"collector", "log_level", CRR_CFG_STR, "info", 0, 0, C(log_level), "log-level",
     "error, warn, info or debug"},
    {"collector", "give_up_after", CRR_CFG_DURATION, "0", 0, 0, C(give_up_ms), "give-up-after",
     "exit 1 after this long without Ack progress while events wait (0 = never); the spool "
     "keeps them"},
    {"collector", "drain_timeout", CRR_CFG_DURATION, "5s", 0, 3600000, C(drain_ms), NULL,
     "on SIGTERM/SIGINT, how long to wait for in-flight Acks"},
    {"collector", "future_slack", CRR_CFG_DURATION, "300s", 0, 86400000, C(future_slack_ms), NULL,
     "edge validation: reject events dated later than now + this"},
    {"collector", "max_age", CRR_CFG_DURATION, "0", 0, 0, C(max_age_ms), NULL,
     "edge validation: reject events older than this (0 = leave it to the aggregator)"},
    {"collector", "max_line", CRR_CFG_SIZE, "64k", 256, 16777216, C(max_line), NULL,
     "longest input line; longer lines are rejected"},
    {"collector", "group_lines", CRR_CFG_INT, "1000", 1, 1000000, C(group_lines), NULL,
     "lines per spool transaction (group commit)"},
    {"collector", "group_time", CRR_CFG_DURATION, "50ms", 1, 10000, C(group_ms), NULL,
     "time bound of one spool transaction"},
    {"spool", "max_size", CRR_CFG_SIZE, "256M", 4096, 1099511627776.0, C(spool_max), "spool-size",
     "spool limit (bytes of event data); when full, reading stops until Acks free room"},
    {"sender", "window", CRR_CFG_INT, "256", 1, 4096, C(window_frames), NULL,
     "frames (batches) in flight without an Ack"},
    {"sender", "batch_events", CRR_CFG_INT, "2000", 1, 20000, C(batch_events), NULL,
     "events per frame at most"},
    {"sender", "max_frame", CRR_CFG_SIZE, "1M", 4096, 268435456, C(max_frame), NULL,
     "frame size limit; keep below the aggregator's ingest max message size"},
    {"sender", "resend_timeout", CRR_CFG_DURATION, "5s", 10, 3600000, C(resend_ms), NULL,
     "resend unacknowledged frames after this long without Ack progress"},
    CRR_CFG_END,
};

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon-collector --data-dir DIR --aggregator ENDPOINT --source-id ID\n"
                 "                        [--config FILE] [--give-up-after DURATION] [FILE...|-]\n"
                 "\n"
                 "Reads JSON Lines events (one crrmon.v1.Event per line, proto3 JSON) from the\n"
                 "FILEs in order, or from stdin when none is given or for '-'; validates each\n"
                 "line, spools it durably (LMDB in DATA_DIR/spool) and sends it to the aggregator\n"
                 "until acknowledged. A bad line is logged as FILE:LINE: field: reason, kept in\n"
                 "the spool's rejects database (`crrmon rejects --data-dir DIR`), and reading\n"
                 "goes on. Files resume at their checkpoint after a restart with the same\n"
                 "DATA_DIR; stdin cannot be resumed after a restart (lines read but not yet\n"
                 "spooled when the process died are lost to it), so prefer files.\n"
                 "\n"
                 "Exit codes with FILEs: 0 every accepted event acknowledged; 2 some lines\n"
                 "were rejected (the rest were sent); 1 gave up (--give-up-after elapsed\n"
                 "without Ack progress; the spool keeps the events) or a fatal error.\n"
                 "With stdin: runs until SIGTERM/SIGINT. SIGTERM/SIGINT: stop reading, wait\n"
                 "collector.drain_timeout for in-flight Acks, exit 0.\n"
                 "\n"
                 "Options (every one also settable in the INI file as [section] key = value,\n"
                 "and as --section.key=value):\n"
                 "  --config FILE                      INI file\n"
                 "  --help, --version\n");
    crr_cfg_print_help(out, s_table);
}

/* Creates the data folder and takes its lock; returns the fd or -1 (logged). */
static int s_lock(const char *dir)
{
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        CRR_ERROR("cannot create data folder %s: %s", dir, strerror(errno));
        return -1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        CRR_ERROR("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            CRR_ERROR("another crrmon-collector is using %s (lock held on %s)", dir, path);
        else
            CRR_ERROR("cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) < 0)
        CRR_DEBUG("cannot write pid to %s", path);
    return fd;
}

int main(int argc, char **argv)
{
    crr_log_set_component("collector");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            s_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("crrmon-collector %s\n", CRR_VERSION);
            return 0;
        }
    }
    crr_collector_cfg_t cfg = {0};
    crr_diag_t d;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, code = CRR_COLLECTOR_EXIT_GAVE_UP, lock = -1;
    if (!rest)
        return 1;
    if (crr_cfg_load(s_table, &cfg, argc, argv, rest, &nrest, &d)) {
        char buf[1024];
        fprintf(stderr, "crrmon-collector: %s\n", crr_diag_format(&d, buf, sizeof buf));
        goto done;
    }
    for (int i = 0; i < nrest; i++)
        if (rest[i][0] == '-' && rest[i][1] != '\0') {
            fprintf(stderr, "crrmon-collector: unknown option '%s' (see --help)\n", rest[i]);
            goto done;
        }
    if (crr_log_set_level_name(cfg.log_level)) {
        fprintf(stderr, "crrmon-collector: bad --log-level '%s'\n", cfg.log_level);
        goto done;
    }
    if (!*cfg.data_dir || !*cfg.source_id || !*cfg.aggregator) {
        fprintf(stderr, "crrmon-collector: --data-dir, --source-id and --aggregator are "
                        "required (see --help)\n");
        goto done;
    }
    crr_diag_t sd;
    if (crr_validate_source_id(cfg.source_id, &sd) != 0) {
        fprintf(stderr, "crrmon-collector: --source-id: %s\n", sd.reason);
        goto done;
    }
    if (cfg.max_frame < cfg.max_line + 1024) {
        fprintf(stderr,
                "crrmon-collector: sender.max_frame (%llu) must exceed "
                "collector.max_line (%llu) by at least 1k so any line fits a frame\n",
                (unsigned long long)cfg.max_frame, (unsigned long long)cfg.max_line);
        goto done;
    }
    if ((lock = s_lock(cfg.data_dir)) < 0)
        goto done;
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    code = crr_collector_run(&cfg, rest, nrest, &s_stop);
done:
    if (lock >= 0)
        close(lock);
    crr_cfg_free(s_table, &cfg);
    free(rest);
    return code;
}
