/* collector.h: the map of crrmon-collector, one line per module, and the
 * types they share.
 *
 *   main.c       flags and INI, --help/--version, the data folder lock,
 *                signals, exit codes
 *   keys.c       the config-map table: the send keys (shared with
 *                libcrrmon-client) and the collector's own
 *   collector.c  the run loop: inputs -> parse -> validate -> spool (one txn per
 *                group of lines, with the file checkpoint) and the sender
 *                callbacks (fetch from the spool, Acks release and rejects)
 *   reader.c     line reader over a file or stdin that knows the byte offset
 *                and line number of every line (for checkpoints and rejects),
 *                and an input file's identity (device, inode, fingerprint)
 *   errreport.c  the error report CSV (one row per problem), for --errors,
 *                --check and the drop folder
 *   check.c      --check: validate inputs as ingest would, report, send nothing
 *   seen.c       DATA_DIR/files-read: the files this folder's spools read,
 *                kept outside the spool so a lost spool is noticed
 *   watch.c      the drop folder (--watch DIR): which files are complete,
 *                moving them to DIR/done/ (dropfolder.c: the run loop's part)
 * Shared modules used (common/): spool (LMDB spool), sender (DEALER window),
 * json (line -> Event), validate (edge checks), cfg, log, clock, err.
 *
 * Data folder: DATA_DIR/spool (LMDB, see collector/spool.h), DATA_DIR/lock
 * (flock: one collector per spool) and DATA_DIR/files-read (seen.h). */
#ifndef CRR_COLLECTOR_H
#define CRR_COLLECTOR_H

#include "certs.h"
#include "cfg.h"
#include "err.h"
#include "keys.h"
#include "reader.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (documented in --help). */
#define CRR_COLLECTOR_EXIT_OK 0      /* every accepted event acknowledged (or SIGTERM) */
#define CRR_COLLECTOR_EXIT_GAVE_UP 1 /* --give-up-after elapsed, or a fatal error */
#define CRR_COLLECTOR_EXIT_REJECTS 2 /* finished, but some lines were rejected */
#define CRR_COLLECTOR_EXIT_CONFIG 78 /* refused to start: named files a lost spool had read */
#define CRR_COLLECTOR_EXIT_BAD_DATA CRR_EXIT_CONFIG /* 78: the spool file is damaged */

/* Everything the config-map table fills (keys.c: the collector's own keys
 * here, the send keys in send); read-only after load. */
typedef struct crr_collector_cfg {
    char *data_dir;      /* --data-dir: spool folder and lock */
    char *aggregator;    /* --aggregator: ingest endpoint */
    char *source_id;     /* --source-id: this collector's source id */
    char *log_format;    /* --log-format: text|json (common/log.h) */
    int64_t give_up_ms;  /* --give-up-after: 0 = never */
    int64_t drain_ms;    /* on SIGTERM, wait this long for in-flight Acks */
    int64_t group_lines; /* lines per spool txn */
    int64_t group_ms;    /* time bound of a spool txn */
    int new_spool;       /* --new-spool: read files a lost spool had read again */
    char *final_line;    /* "wait": a file's unterminated last line stays unread; "accept" */
    char *watch;         /* --watch DIR: the drop folder ("" = none) */
    int64_t settle_ms;   /* a file in place unchanged this long is complete */
    char *errors;        /* --errors: the error report CSV (errreport.h); "" = none */
    crr_send_cfg_t send; /* the keys shared with libcrrmon-client (keys.h) */
    /* the keys resolved from client_cert, server_key and insecure (main.c) */
    crr_curve_client_t curve;
    /* SIGHUP (main.c): while *reload_flag is set, the run loop calls
     * on_reload(reload_ctx) between two steps; it may change the keys above
     * that need no restart (log level, give_up_ms, drain_ms, the edge
     * validation and group bounds). NULL = no reload. Not config keys. */
    volatile sig_atomic_t *reload_flag;
    void (*on_reload)(void *ctx);
    void *reload_ctx;
} crr_collector_cfg_t;

/* ---- check.c ---- */
/* --check: reads inputs[0..ninputs) (*.csv as CSV, the rest as JSON Lines,
 * "-" = stdin as JSON Lines) exactly as the run loop would (same edge, same
 * validation options, same max_line) and writes one error report row per
 * problem to cfg->errors, or stdout when that is "". Sends nothing, opens no
 * spool and needs no aggregator. Returns 0 (no problem), 2 (problems found:
 * CRR_COLLECTOR_EXIT_REJECTS) or 1 (the report could not be written). */
int crr_collector_check(const crr_collector_cfg_t *cfg, char **inputs, int ninputs);

/* ---- collector.c ---- */
/* Runs the collector: opens DATA_DIR/spool, connects the sender, reads
 * inputs[0..ninputs) in order (none, or "-", = stdin, which cannot resume
 * after a restart), until every input has ended (stdin: closed by the
 * producer) and every spooled event is acknowledged, or until
 * *stop is set (SIGTERM/SIGINT: stop reading, wait up to drain_ms for Acks).
 * cfg and inputs are borrowed. Returns an exit code CRR_COLLECTOR_EXIT_*. */
int crr_collector_run(const crr_collector_cfg_t *cfg, char **inputs, int ninputs,
                      volatile sig_atomic_t *stop);

#endif
