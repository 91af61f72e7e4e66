/* collector.h: the map of crrmon-collector, one line per module, and the
 * types they share.
 *
 *   main.c       flags and INI (config-map table), --help/--version, the data
 *                folder lock, signals, exit codes
 *   collector.c  the run loop: inputs -> parse -> validate -> spool (one txn per
 *                group of lines, with the file checkpoint) and the sender
 *                callbacks (fetch from the spool, Acks release and rejects)
 *   reader.c     line reader over a file or stdin that knows the byte offset
 *                and line number of every line (for checkpoints and rejects)
 * Shared modules used (common/): spool (LMDB spool), sender (DEALER window),
 * json (line -> Event), validate (edge checks), cfg, log, clock, err.
 *
 * Data folder: DATA_DIR/spool (LMDB, see common/spool.h) and DATA_DIR/lock
 * (flock: one collector per spool). */
#ifndef CRR_COLLECTOR_H
#define CRR_COLLECTOR_H

#include "err.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes (documented in --help). */
#define CRR_COLLECTOR_EXIT_OK 0      /* every accepted event acknowledged (or SIGTERM) */
#define CRR_COLLECTOR_EXIT_GAVE_UP 1 /* --give-up-after elapsed, or a fatal error */
#define CRR_COLLECTOR_EXIT_REJECTS 2 /* finished, but some lines were rejected */

/* Everything the config-map table fills (main.c); read-only after load. */
typedef struct crr_collector_cfg {
    char *data_dir;          /* --data-dir: spool folder and lock */
    char *aggregator;        /* --aggregator: ingest endpoint */
    char *source_id;         /* --source-id: this collector's source id */
    char *log_level;         /* --log-level: error|warn|info|debug */
    int64_t give_up_ms;      /* --give-up-after: 0 = never */
    int64_t drain_ms;        /* on SIGTERM, wait this long for in-flight Acks */
    int64_t future_slack_ms; /* edge validation: future slack */
    int64_t max_age_ms;      /* edge validation: too old (0 = no check) */
    uint64_t max_line;       /* longest accepted input line in bytes */
    int64_t group_lines;     /* lines per spool txn */
    int64_t group_ms;        /* time bound of a spool txn */
    uint64_t spool_max;      /* spool size limit (bytes of event data) */
    int64_t window_frames;   /* sender: frames in flight */
    int64_t batch_events;    /* sender: events per frame */
    uint64_t max_frame;      /* sender: frame size limit */
    int64_t resend_ms;       /* sender: go back after this long without progress */
    /* SIGHUP (main.c): while *reload_flag is set, the run loop calls
     * on_reload(reload_ctx) between two steps; it may change the keys above
     * that need no restart (log level, give_up_ms, drain_ms, the edge
     * validation and group bounds). NULL = no reload. Not config keys. */
    volatile sig_atomic_t *reload_flag;
    void (*on_reload)(void *ctx);
    void *reload_ctx;
} crr_collector_cfg_t;

/* ---- reader.c ---- */
typedef struct crr_reader crr_reader_t;

/* crr_reader_next results besides a line (1). */
#define CRR_READER_AGAIN 0   /* no complete line buffered (stdin: poll, then fill) */
#define CRR_READER_EOF (-1)  /* end of input, nothing left */
#define CRR_READER_TOOLONG 2 /* a line longer than max_line: *line holds its start */

/* Opens path ("-" = stdin) for reading lines of at most max_line bytes.
 * Returns 0 and *out, -errno, or -ENOMEM. */
int crr_reader_open(const char *path, size_t max_line, crr_reader_t **out);
/* Closes the file (not stdin), frees, nulls *rp; idempotent. */
void crr_reader_close(crr_reader_t **rp);
/* Positions a file at byte offset (the start of line `line` + 1). Returns 0 or -errno. */
int crr_reader_seek(crr_reader_t *r, uint64_t offset, uint64_t line);
/* Reads once from the fd into the buffer (stdin: call when poll says readable).
 * Returns bytes read (0 at EOF) or -errno. */
long crr_reader_fill(crr_reader_t *r);
/* Next line without its newline in *line and *len (valid until the next call; the
 * byte after it may be overwritten with NUL by the caller). may_read: read
 * from the fd when the buffer holds no full line (files: 1; stdin: 0 and use
 * crr_reader_fill). Returns 1 (line), CRR_READER_TOOLONG, CRR_READER_AGAIN,
 * CRR_READER_EOF, or -errno. */
int crr_reader_next(crr_reader_t *r, int may_read, char **line, size_t *len);
/* Puts back the line just returned by crr_reader_next (not a TOOLONG one). */
void crr_reader_unread(crr_reader_t *r);
/* Byte offset just after the last returned line, and its line number. */
uint64_t crr_reader_offset(const crr_reader_t *r);
uint64_t crr_reader_line(const crr_reader_t *r);
/* The fd (for polling stdin). */
int crr_reader_fd(const crr_reader_t *r);
/* Whether this reader is stdin. */
int crr_reader_is_stdin(const crr_reader_t *r);
/* Size of the file in bytes (-1 for stdin or unknown). */
int64_t crr_reader_size(const crr_reader_t *r);

/* ---- collector.c ---- */
/* Runs the collector: opens DATA_DIR/spool, connects the sender, reads
 * inputs[0..ninputs) in order (none, or "-", = stdin, which cannot resume
 * after a restart), until they are done and acknowledged (files), or until
 * *stop is set (SIGTERM/SIGINT: stop reading, wait up to drain_ms for Acks).
 * cfg and inputs are borrowed. Returns an exit code CRR_COLLECTOR_EXIT_*. */
int crr_collector_run(const crr_collector_cfg_t *cfg, char **inputs, int ninputs,
                      volatile sig_atomic_t *stop);

#endif
