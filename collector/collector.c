/* collector: the run loop of crrmon-collector.
 *
 * One thread, one zmq_poll loop:
 *   inputs (files in order, or stdin) -> crr_edge_line (JSON, validation)
 *   -> crr_spool_append, grouped: up to group_lines lines or group_ms per
 *   LMDB transaction, with the file's checkpoint (offset + line) in the same
 *   transaction, so a restart after kill -9 resumes at exactly the next line;
 *   the sender (client/sender) fetches from the spool and its Acks release
 *   spooled events and bring back the aggregator's rejections, which are
 *   stored as rejects naming the file and line the event came from.
 * Invariants: no spool write txn is open while the sender runs (its fetch
 * reads committed data only); a line is either spooled, rejected, or still
 * ahead of the checkpoint; nothing is deleted from the spool unless an Ack
 * covers it.
 * Bounded: when the spool is full the reader stops (the line stays unread)
 * and resumes once Acks free room; nothing is dropped. A full disk (ENOSPC,
 * EDQUOT) or LMDB map (MDB_MAP_FULL) while spooling is the same: the group's
 * transaction is dropped, the file is put back at the group's first line,
 * reading pauses and is retried every S_DISK_RETRY_MS while sending goes on
 * (Acks free spool pages, the aggregator may free space).
 * Does not: parse flags (main.c), keep events in memory, retry sending
 * itself (the sender does). */
#include "collector.h"

#include "csvin.h"
#include "errreport.h"

#include "clock.h"
#include "crashpoint.h"
#include "datadir.h"
#include "dropfolder.h"
#include "edge.h"
#include "json.h"
#include "log.h"
#include "notify.h"
#include "rejects.h"
#include "seen.h"
#include "sender.h"
#include "spool.h"
#include "validate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Interval of the progress line. */
#define S_PROGRESS_MS 30000
/* How often reading is retried while the disk (or LMDB map) is full. */
#define S_DISK_RETRY_MS 1000
/* Lines per spool transaction while the disk is (or was just) full. */
#define S_DISK_GROUP_LINES 64
/* Events per release step when a full disk refused a whole release. */
#define S_RELEASE_STEP 256

typedef struct {
    const crr_collector_cfg_t *cfg; /* borrowed config */
    char **inputs;                  /* input names ("-" = stdin) */
    int ninputs;                    /* how many */
    int next_input;                 /* index of the next input to open */
    crr_reader_t *rd;               /* current input, or NULL */
    crr_csvin_t *csv;               /* its CSV state when it is a *.csv file, else NULL */
    int csv_refused;                /* its header refused it: read no further */
    uint64_t safe_off, safe_line;   /* CSV: just after its last complete record */
    crr_errreport_t *report;        /* --errors, or NULL */
    const char *rd_name;            /* its name as given */
    char rd_key[PATH_MAX];          /* its checkpoint key (real path), "" for stdin */
    crr_spool_ckpt_t rd_id;         /* its identity: dev, ino, fingerprint taken so far */
    int rd_seen;                    /* its key is in the files-read list */
    crr_seen_t *seen;               /* files read by this data folder's spools */
    uint64_t rd_lines;              /* lines of the current input read in this run */
    uint64_t rd_rejected;           /* of which rejected */
    int inputs_done;                /* every input read to its end */
    crr_spool_t *spool;             /* the durable spool */
    crr_sender_t *sender;           /* the protocol engine */
    void *zctx;                     /* zmq context */
    int full;                       /* the spool refused a line; reading paused */
    int full_logged;                /* the pause was logged */
    int disk_full;                  /* the last spool write found the disk or map full */
    uint64_t disk_retry_ms;         /* when reading is tried again while disk_full */
    uint64_t release_to;            /* highest durable seq from Acks, to release */
    uint64_t rejected;              /* lines rejected in this run (edge + aggregator) */
    uint64_t accepted;              /* events spooled in this run */
    uint64_t stall_ref_ms;          /* start of the current wait for Ack progress */
    uint64_t last_acked;            /* acked seq seen at the last give-up check */
    uint64_t progress_at_ms;        /* when the next progress line is due */
    crr_drop_t *drop;               /* --watch DIR: the drop folder, or NULL */
    char drop_path[PATH_MAX];       /* the drop-folder file being read (rd_name) */
} s_coll_t;

static void s_log_reject(const crr_diag_t *d, const char *suffix)
{
    char buf[1024];
    crr_diag_format(d, buf, sizeof buf);
    CRR_WARN("%s%s", buf, suffix ? suffix : "");
}

/* Stores one rejected line (edge) inside the open spool txn and logs it:
 * the problem at its own file and line (d as given). */
static int s_reject_at(s_coll_t *c, crr_diag_t *d, char *line, size_t len)
{
    char saved = line[len];
    line[len] = '\0'; /* the newline (or reserved byte) after the line */
    int rc = crr_spool_reject(c->spool, d, 0, line);
    line[len] = saved;
    s_log_reject(d, NULL);
    c->rejected++;
    c->rd_rejected++;
    return rc;
}

static uint64_t s_last_seq(s_coll_t *c);

/* As s_reject_at, at the reader's current line. */
static int s_reject_line(s_coll_t *c, crr_diag_t *d, char *line, size_t len)
{
    snprintf(d->file, sizeof d->file, "%s", c->rd_name);
    d->line = (long)crr_reader_line(c->rd);
    if (c->report)
        crr_errreport_add(c->report, d, NULL);
    return s_reject_at(c, d, line, len);
}

/* Stores every problem of p as a reject of its own, for a drop-folder file:
 * its rejected/NAME.errors.csv is built from the spool's rejects and lists
 * every problem of a line. A JSON line is stored as raw text (the report
 * finds each field's value in it); a CSV record's problems store the cell's
 * value instead (a CSV line says nothing without its header). */
static int s_reject_each(s_coll_t *c, const crr_problems_t *p, char *line, size_t len)
{
    char saved = line[len];
    line[len] = '\0'; /* the newline (or reserved byte) after the line */
    int rc = 0;
    for (size_t i = 0; i < p->n && rc == 0; i++)
        rc = crr_spool_reject(c->spool, &p->d[i], 0, c->csv ? p->value[i] : line);
    line[len] = saved;
    s_log_reject(&p->d[0], NULL);
    c->rejected++;
    c->rd_rejected++;
    return rc;
}

/* Rejects one record or line with every problem in p: all go to the error
 * report, the first (saying how many more) to the spool's rejects, with the
 * text of `line` (for a CSV record: the whole record, s_csv_raw); a
 * drop-folder file's line stores every problem (s_reject_each). */
static int s_reject_problems(s_coll_t *c, crr_problems_t *p, char *line, size_t len)
{
    if (c->report)
        crr_errreport_add_problems(c->report, p);
    if (c->drop && crr_drop_owns(c->drop, c->rd_name) && (p->n > 1 || c->csv))
        return s_reject_each(c, p, line, len);
    crr_diag_t d = p->d[0];
    size_t more = p->n - 1 + p->more;
    if (more) {
        size_t r = strlen(d.reason);
        snprintf(d.reason + r, sizeof d.reason - r, " (and %zu more problem%s)", more,
                 more == 1 ? "" : "s");
    }
    return s_reject_at(c, &d, line, len);
}

/* Spools one edge-made event. On a full spool puts the input back so the
 * line (CSV: the record, from its first line) is read again. Returns 0,
 * CRR_ESPOOLFULL or a spool error. */
static int s_spool_event(s_coll_t *c, Crrmon__V1__Event *e, uint64_t back_off, uint64_t back_line)
{
    int rc = crr_spool_append(c->spool, e, c->rd_name, crr_reader_line(c->rd), NULL);
    crr_codec_free(&e->base);
    if (rc == CRR_ESPOOLFULL) {
        if (!c->csv) {
            crr_reader_unread(c->rd);
            return rc;
        }
        int r = crr_reader_seek(c->rd, back_off, back_line);
        c->safe_off = back_off;
        c->safe_line = back_line;
        return r ? r : rc;
    }
    if (rc == 0) {
        c->accepted++;
        if (c->full_logged) {
            CRR_INFO("spool has room again: resumed reading %s at line %llu", c->rd_name,
                     (unsigned long long)crr_reader_line(c->rd));
            c->full_logged = 0;
        }
    }
    return rc;
}

/* The raw text stored with a CSV record's reject: the record as it is in
 * the file, all its physical lines with their line ends (the last one left
 * out, as a JSON line's), copied into buf (S_CSV_RAW bytes) and bounded as a
 * JSON line's raw text is: crr_rejects_put keeps CRR_REJECTS_RAW_MAX bytes,
 * cut on a character, and looks 4 bytes past the cap to see that character
 * whole; nothing beyond reaches the spool (a record may be collector.max_line
 * long). Returns its length (buf[len] is the NUL). */
#define S_CSV_RAW (CRR_REJECTS_RAW_MAX + 5)
static size_t s_csv_raw(const s_coll_t *c, char *buf)
{
    size_t n;
    const char *t = crr_csvin_record_text(c->csv, &n);
    if (n > S_CSV_RAW - 1)
        n = S_CSV_RAW - 1;
    memcpy(buf, t, n);
    buf[n] = '\0';
    return n;
}

/* One physical line of a CSV input (common/csvin.h); toolong: the reader's
 * over-long line (its start; the reader counted its quotes), which makes
 * the whole record it is part of one reject, at the record's end. A
 * record's problems are stored with its whole text (s_csv_raw), at the line
 * it starts on. */
static int s_csv_line(s_coll_t *c, char *line, size_t len, int toolong,
                      const crr_validate_opts_t *vo)
{
    uint64_t back_off = c->safe_off, back_line = c->safe_line;
    char raw[S_CSV_RAW];
    crr_problems_t p;
    Crrmon__V1__Event *e = NULL;
    uint64_t lineno = crr_reader_line(c->rd);
    int rc = toolong ? crr_csvin_toolong(c->csv, line, len, lineno, crr_reader_counted(c->rd), &p)
                     : crr_csvin_line(c->csv, line, len, lineno, vo, &e, &p);
    if (!crr_csvin_pending(c->csv)) {
        c->safe_off = crr_reader_offset(c->rd);
        c->safe_line = crr_reader_line(c->rd);
    }
    switch (rc) {
    case CRR_EDGE_BLANK:
    case CRR_CSVIN_MORE:
    case CRR_CSVIN_HEADER: return 0;
    case CRR_CSVIN_BADFILE:
        /* refused whole: its checkpoint goes to its end, so a restart does
         * not refuse it again (a rewritten file has a new identity) */
        c->csv_refused = 1;
        if (crr_reader_size(c->rd) >= 0)
            c->safe_off = (uint64_t)crr_reader_size(c->rd);
        return s_reject_problems(c, &p, raw, s_csv_raw(c, raw));
    case CRR_EREJECT: return s_reject_problems(c, &p, raw, s_csv_raw(c, raw));
    case 0: return s_spool_event(c, e, back_off, back_line);
    default: return rc; /* out of memory */
    }
}

/* An over-long line (the reader's CRR_READER_TOOLONG: its start, counted as
 * one line): a JSON line is a reject of its own with its first 200 bytes; in
 * a CSV input the record it is part of is the one reject (s_csv_line). */
static int s_toolong(s_coll_t *c, char *line, size_t len, const crr_validate_opts_t *vo)
{
    if (c->csv)
        return s_csv_line(c, line, len, 1, vo);
    crr_diag_t d;
    crr_diag_clear(&d);
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "",
                 "line longer than %llu bytes (collector.max_line)",
                 (unsigned long long)c->cfg->send.max_line);
    return s_reject_line(c, &d, line, len < 200 ? len : 200);
}

/* Turns one line into an event at the edge (common/edge.h, or csvin.h for a
 * CSV input) and spools it. Returns 0 (spooled, blank or rejected),
 * CRR_ESPOOLFULL (line put back), or a spool/LMDB error. */
static int s_line(s_coll_t *c, char *line, size_t len, const crr_validate_opts_t *vo)
{
    if (c->csv)
        return s_csv_line(c, line, len, 0, vo);
    crr_problems_t p;
    Crrmon__V1__Event *e = NULL;
    int rc = crr_edge_line_all(line, len, c->rd_name, crr_reader_line(c->rd), vo, &e, &p);
    if (rc == CRR_EDGE_BLANK)
        return 0;
    if (rc == CRR_EREJECT)
        return s_reject_problems(c, &p, line, len);
    if (rc)
        return rc; /* out of memory */
    return s_spool_event(c, e, 0, 0);
}

/* Records that input `name` could not be opened or read, as a reject (in
 * the open spool txn, or in one of its own); reading goes on with the next
 * input. */
static int s_input_failed(s_coll_t *c, const char *name, const char *what, int err)
{
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "%s", name);
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "", "%s: %s", what,
                 crr_strerror(err));
    s_log_reject(&d, "; going on with the next input");
    if (c->report)
        crr_errreport_add(c->report, &d, NULL);
    c->rejected++;
    int own = !crr_spool_is_open(c->spool), rc;
    if ((own && (rc = crr_spool_begin(c->spool))) ||
        (rc = crr_spool_reject(c->spool, &d, 0, NULL)) ||
        (own && (rc = crr_spool_commit(c->spool)))) {
        crr_spool_abort(c->spool);
        return rc;
    }
    return 0;
}

/* Why the file behind the checkpoint cp is not the open one, or NULL when it
 * is (same device, inode and first bytes, and not shorter). */
static const char *s_replaced(s_coll_t *c, const crr_spool_ckpt_t *cp)
{
    int64_t size = crr_reader_size(c->rd);
    if (size >= 0 && cp->offset > (uint64_t)size)
        return "shorter than its checkpoint";
    if (!cp->has_identity)
        return NULL; /* a checkpoint from before identities: the size is all we know */
    if (cp->dev != c->rd_id.dev || cp->ino != c->rd_id.ino)
        return "another file: device or inode changed";
    uint64_t h = 0;
    if (cp->fp_len > CRR_READER_FP_MAX || crr_reader_fingerprint(c->rd, cp->fp_len, &h) != 0 ||
        h != cp->fp_hash)
        return "its first bytes changed";
    c->rd_id.fp_len = cp->fp_len;
    c->rd_id.fp_hash = h;
    return NULL;
}

/* A CSV input resumed after its checkpoint: feeds its header (from the
 * start) to its reader state first. A header that is refused now (it was
 * not when the checkpoint was written: the file's identity held) leaves the
 * state refusing, which the next line reports. Returns 0 or -ENOMEM. */
static int s_csv_header(s_coll_t *c)
{
    crr_validate_opts_t vo = {.now_sec = crr_clock_now_sec()};
    while (!crr_csvin_has_header(c->csv)) {
        char *line;
        size_t len;
        if (crr_reader_next(c->rd, 1, &line, &len) != 1)
            return 0;
        crr_problems_t p;
        Crrmon__V1__Event *e = NULL;
        int rc = crr_csvin_line(c->csv, line, len, crr_reader_line(c->rd), &vo, &e, &p);
        if (e)
            crr_codec_free(&e->base);
        if (rc == -ENOMEM)
            return rc;
        if (rc == CRR_CSVIN_BADFILE || rc == CRR_EREJECT)
            return 0;
    }
    return 0;
}

/* Takes the open file's identity and seeks it to its checkpoint, or to the
 * start when there is none or the file was replaced. Returns 0 or an error. */
static int s_resume(s_coll_t *c, const char *name)
{
    if (!realpath(name, c->rd_key))
        snprintf(c->rd_key, sizeof c->rd_key, "%s", name);
    c->rd_id = (crr_spool_ckpt_t){.has_identity = 1};
    int rc = crr_reader_stat(c->rd, &c->rd_id.dev, &c->rd_id.ino);
    if (rc == 0)
        rc = crr_reader_fingerprint(c->rd, 0, &c->rd_id.fp_hash);
    if (rc)
        return rc;
    c->rd_seen = crr_seen_has(c->seen, c->rd_key);
    crr_spool_ckpt_t cp;
    rc = crr_spool_checkpoint_get(c->spool, c->rd_key, &cp);
    if (rc == CRR_ENOTFOUND) {
        CRR_INFO("%s: reading", name);
        return 0;
    }
    if (rc)
        return rc;
    const char *why = s_replaced(c, &cp);
    if (why) {
        CRR_WARN("%s was replaced: reading it from the start (%s; checkpoint was line %llu, "
                 "byte %llu)",
                 name, why, (unsigned long long)cp.line, (unsigned long long)cp.offset);
        return 0;
    }
    if (cp.offset && c->csv && (rc = s_csv_header(c)))
        return rc;
    if (cp.offset && (rc = crr_reader_seek(c->rd, cp.offset, cp.line)))
        return rc;
    c->safe_off = cp.offset;
    c->safe_line = cp.line;
    CRR_INFO("%s: resuming after line %llu (byte %llu)", name, (unsigned long long)cp.line,
             (unsigned long long)cp.offset);
    return 0;
}

/* Opens the next input and seeks it to its checkpoint. An input that cannot
 * be opened is a reject and the next one is tried. Returns 0 (also when
 * there is none left: inputs_done), or a fatal error. */
static int s_open_next(s_coll_t *c)
{
    while (!c->rd) {
        const char *name;
        if (c->next_input < c->ninputs) {
            name = c->inputs[c->next_input++];
        } else if (c->drop) {
            if (!crr_drop_next(c->drop, crr_clock_mono_ms(), c->drop_path, sizeof c->drop_path))
                return 0; /* nothing complete yet: the loop waits */
            name = c->drop_path;
        } else {
            c->inputs_done = 1;
            return 0;
        }
        int is_drop = c->drop && name == c->drop_path;
        int rc = crr_reader_open(name, (size_t)c->cfg->send.max_line, &c->rd);
        if (rc) {
            if ((rc = s_input_failed(c, name, "cannot open input", rc)))
                return rc;
            if (is_drop)
                crr_drop_read_end(c->drop, name, 0, 0, NULL);
            continue;
        }
        c->rd_name = name;
        c->rd_lines = c->rd_rejected = 0;
        c->csv_refused = 0;
        c->safe_off = c->safe_line = 0;
        if (crr_csvin_is_csv_name(name) &&
            (rc = crr_csvin_new(name, (size_t)c->cfg->send.max_line, &c->csv)))
            return rc;
        if (c->csv)
            crr_reader_count(c->rd, '"'); /* an over-long line's quotes: its record's end */
        c->rd_key[0] = '\0';
        if (crr_reader_is_stdin(c->rd)) {
            CRR_INFO("reading stdin (not resumable after a restart)");
            continue;
        }
        if (crr_reader_size(c->rd) < 0) {
            /* a named pipe or device: no offsets to resume at; its end is final */
            CRR_INFO("%s: reading (not a regular file: not resumable after a restart)", name);
            crr_reader_take_last(c->rd, 1);
            continue;
        }
        /* a drop-folder file is complete when handed out: its last line is final */
        crr_reader_take_last(c->rd, is_drop || strcmp(c->cfg->final_line, "accept") == 0);
        if ((rc = s_resume(c, name)))
            return rc;
        if (is_drop) {
            c->rd_seen = 1; /* not listed in files-read: DIR/NAME is reused by the next drop */
            if ((rc = crr_drop_started(c->drop, name, c->rd_key, crr_reader_line(c->rd) > 0,
                                       c->spool)))
                return rc;
        }
    }
    return 0;
}

/* Writes the current file's checkpoint (with its identity) into the open
 * spool txn. The fingerprint covers min(4096, offset) bytes: only bytes
 * already read, so a file that merely grows keeps its fingerprint. */
static int s_checkpoint(s_coll_t *c)
{
    crr_spool_ckpt_t cp = c->rd_id;
    cp.offset = c->csv ? c->safe_off : crr_reader_offset(c->rd); /* CSV: between records */
    cp.line = c->csv ? c->safe_line : crr_reader_line(c->rd);
    uint32_t want = cp.offset < CRR_READER_FP_MAX ? (uint32_t)cp.offset : CRR_READER_FP_MAX;
    uint64_t h;
    if (want != cp.fp_len && crr_reader_fingerprint(c->rd, want, &h) == 0) {
        c->rd_id.fp_len = cp.fp_len = want;
        c->rd_id.fp_hash = cp.fp_hash = h;
    }
    return crr_spool_checkpoint_set(c->spool, c->rd_key, &cp);
}

/* Where the current group started, to put the input back when its
 * transaction cannot be committed. */
typedef struct {
    uint64_t offset, line;                              /* reader position */
    uint64_t rd_lines, rd_rejected, rejected, accepted; /* counters */
} s_group_mark_t;

/* A spool write failed because the disk or the LMDB map is full. LMDB
 * reports a short write (a full disk part-way through a commit) as EIO, so
 * EIO pauses too: a real I/O error then shows as a pause that never ends,
 * logged, rather than an exit and a restart loop. */
static int s_is_disk_full(int rc)
{
    return rc == ENOSPC || rc == -ENOSPC || rc == EDQUOT || rc == -EDQUOT || rc == EIO ||
           rc == -EIO || rc == MDB_MAP_FULL;
}

/* The group's transaction was dropped on a full disk: puts the file back at
 * the group's first line, pauses reading (sending goes on) and schedules a
 * retry. stdin cannot be put back: the lines of that group are lost, and
 * said so. A CSV input goes back between two records (to its start: with a
 * fresh reader state, so the header is read as such). Returns 0, or the
 * seek's error, or -ENOMEM. */
static int s_pause_disk_full(s_coll_t *c, int rc, const s_group_mark_t *m)
{
    uint64_t lost = c->rd_lines - m->rd_lines;
    c->rd_lines = m->rd_lines;
    c->rd_rejected = m->rd_rejected;
    c->rejected = m->rejected;
    c->accepted = m->accepted;
    if (c->csv) {
        /* m is between two records; back at the start, the header comes again */
        if (m->offset == 0) {
            crr_csvin_free(&c->csv);
            int r = crr_csvin_new(c->rd_name, (size_t)c->cfg->send.max_line, &c->csv);
            if (r)
                return r;
        } else {
            crr_csvin_reset_record(c->csv);
        }
        c->safe_off = m->offset;
        c->safe_line = m->line;
    }
    if (!crr_reader_is_stdin(c->rd)) {
        int r = crr_reader_seek(c->rd, m->offset, m->line);
        if (r)
            return r;
    } else if (lost) {
        CRR_ERROR("stdin: %llu line(s) after line %llu could not be spooled (%s) and are lost "
                  "(stdin cannot be read again; prefer files)",
                  (unsigned long long)lost, (unsigned long long)m->line, crr_strerror(rc));
    }
    c->full = 1;
    c->disk_retry_ms = crr_clock_mono_ms() + S_DISK_RETRY_MS;
    if (!c->disk_full)
        CRR_ERROR("spool write failed: %s%s: stopped reading %s at line %llu; spooled events "
                  "are still sent; reading is retried every %dms (free space on the spool's "
                  "file system, or raise the map size)",
                  crr_strerror(rc), rc == MDB_MAP_FULL ? " (the LMDB map is full)" : "", c->rd_name,
                  (unsigned long long)m->line + 1, S_DISK_RETRY_MS);
    else
        CRR_DEBUG("spool still full: %s", crr_strerror(rc));
    c->disk_full = 1;
    return 0;
}

static void s_close_input(s_coll_t *c, const char *why)
{
    CRR_INFO("%s: %s; %llu line(s) read in this run, %llu rejected", c->rd_name, why,
             (unsigned long long)c->rd_lines, (unsigned long long)c->rd_rejected);
    crr_reader_close(&c->rd);
    crr_csvin_free(&c->csv);
}

/* The end of a CSV input: a record left open (an unterminated quote) is a
 * reject with its text so far, inside the open spool txn. Returns 0 or a
 * spool error. */
static int s_csv_end(s_coll_t *c)
{
    crr_problems_t p;
    if (crr_csvin_finish(c->csv, &p) != CRR_EREJECT)
        return 0;
    char raw[S_CSV_RAW];
    return s_reject_problems(c, &p, raw, s_csv_raw(c, raw));
}

/* Reads one group of lines into one spool txn. may_read: the fd may be read
 * (always for files; for stdin only after poll said it is readable, and
 * then only once). Returns 0 or a fatal error. */
static int s_read_group(s_coll_t *c, int may_read)
{
    int rc = s_open_next(c);
    if (rc || !c->rd)
        return rc;
    int is_stdin = crr_reader_is_stdin(c->rd);
    int read_err = 0; /* the input failed to read: a reject, then the next input */
    if (is_stdin && may_read) {
        long n = crr_reader_fill(c->rd);
        if (n < 0)
            read_err = (int)n;
        may_read = 0;
    }
    crr_validate_opts_t vo = {
        .now_sec = crr_clock_now_sec(),
        .future_slack_sec = c->cfg->send.future_slack_ms / 1000,
        .max_age_days = c->cfg->send.max_age_ms / (CRR_SEC_PER_DAY * 1000),
    };
    if ((rc = crr_spool_begin(c->spool)))
        return rc;
    s_group_mark_t mark = {c->csv ? c->safe_off : crr_reader_offset(c->rd),
                           c->csv ? c->safe_line : crr_reader_line(c->rd),
                           c->rd_lines,
                           c->rd_rejected,
                           c->rejected,
                           c->accepted};
    uint64_t t0 = crr_clock_mono_ms();
    int eof = 0;
    /* after a full disk, small groups: they fit in the pages that Acks free */
    int64_t group_lines = c->disk_full && S_DISK_GROUP_LINES < c->cfg->group_lines
                              ? S_DISK_GROUP_LINES
                              : c->cfg->group_lines;
    for (int64_t n = 0; n < group_lines && !read_err; n++) {
        if ((n & 63) == 63 && crr_clock_mono_ms() - t0 >= (uint64_t)c->cfg->group_ms)
            break;
        char *line;
        size_t len;
        int r = crr_reader_next(c->rd, !is_stdin && may_read, &line, &len);
        if (r == CRR_READER_AGAIN)
            break;
        if (r == CRR_READER_EOF) {
            eof = 1;
            break;
        }
        if (r < 0) {
            read_err = r;
            break;
        }
        c->rd_lines++;
        rc = r == CRR_READER_TOOLONG ? s_toolong(c, line, len, &vo) : s_line(c, line, len, &vo);
        if (rc == CRR_ESPOOLFULL) {
            c->rd_lines--;
            c->full = 1;
            if (!c->full_logged) {
                CRR_WARN("spool full (%llu of %llu bytes, %llu events waiting for the "
                         "aggregator): stopped reading %s at line %llu; reading resumes when "
                         "the aggregator acknowledges events (nothing is dropped)",
                         (unsigned long long)crr_spool_bytes(c->spool),
                         (unsigned long long)crr_spool_max_bytes(c->spool),
                         (unsigned long long)crr_spool_count(c->spool), c->rd_name,
                         (unsigned long long)crr_reader_line(c->rd) + 1);
                c->full_logged = 1;
            }
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (c->csv_refused) {
            eof = 1; /* the header refused the file: nothing more of it is read */
            break;
        }
    }
    if (rc == 0 && eof && c->csv && !c->csv_refused)
        rc = s_csv_end(c);
    if (rc == 0 && read_err)
        rc = s_input_failed(c, c->rd_name, "cannot read input", read_err);
    if (rc == 0 && c->rd_key[0])
        rc = s_checkpoint(c);
    if (rc == 0)
        rc = crr_spool_commit(c->spool);
    if (rc) {
        crr_spool_abort(c->spool);
        if (s_is_disk_full(rc))
            return s_pause_disk_full(c, rc, &mark);
        CRR_ERROR("spool write failed: %s", crr_strerror(rc));
        return rc;
    }
    if (c->rd_key[0] && !c->rd_seen) {
        /* after the commit that holds its checkpoint: never lists a file the spool lacks */
        crr_seen_add(c->seen, c->rd_key);
        c->rd_seen = 1;
    }
    if (c->disk_full) {
        CRR_INFO("spool writes succeed again: resumed reading %s", c->rd_name);
        c->disk_full = 0;
    }
    crr_crashpoint("collector_after_spool");
    if (eof && crr_reader_unterminated(c->rd))
        CRR_WARN("%s: line %llu has no newline yet (%zu bytes): left unread until it is "
                 "complete, as it may still be being written (--collector.final_line=accept "
                 "reads it as it is)",
                 c->rd_name, (unsigned long long)crr_reader_line(c->rd) + 1,
                 crr_reader_unterminated(c->rd));
    if ((eof || read_err) && c->drop && crr_drop_owns(c->drop, c->rd_name))
        crr_drop_read_end(c->drop, c->rd_name, eof, s_last_seq(c), c->rd_key);
    if (eof || read_err)
        s_close_input(c, eof ? "end of input" : "read error");
    return 0;
}

/* ---- sender callbacks ---- */

static int s_fetch_one(void *ud, uint64_t seq, const uint8_t *ev, size_t len)
{
    int rc = crr_sender_batch_add(ud, seq, ev, len);
    if (rc == CRR_ETOOBIG)
        return 1; /* frame full: stop */
    return rc;
}

static int s_fetch(void *ud, uint64_t from_seq, crr_sender_batch_t *b)
{
    s_coll_t *c = ud;
    return crr_spool_fetch(c->spool, from_seq, s_fetch_one, b);
}

static uint64_t s_depth(void *ud)
{
    s_coll_t *c = ud;
    return crr_spool_count(c->spool);
}

static uint64_t s_spool_last(void *ud)
{
    s_coll_t *c = ud;
    return crr_spool_next_seq(c->spool) - 1;
}

static int s_on_ack(void *ud, uint64_t durable_seq, Crrmon__V1__Rejection *const *rej, size_t n)
{
    s_coll_t *c = ud;
    if (durable_seq > c->release_to)
        c->release_to = durable_seq;
    if (n == 0)
        return 0;
    /* the rejected events are still spooled (release comes later in the
     * loop), so their file and line can be named */
    int rc = crr_spool_begin(c->spool);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const Crrmon__V1__Rejection *r = rej[i];
        crr_diag_t d;
        crr_diag_clear(&d);
        uint64_t line = 0;
        Crrmon__V1__Event *ev = NULL;
        crr_spool_origin(c->spool, r->seq, d.file, sizeof d.file, &line, &ev);
        d.line = (long)line;
        crr_diag_set(&d, (int)r->code, r->field ? r->field : "", "%s", r->reason ? r->reason : "");
        char *raw = ev ? crr_json_dumps(&ev->base, 0) : NULL;
        rc = crr_spool_reject(c->spool, &d, r->seq, raw);
        char suffix[96];
        snprintf(suffix, sizeof suffix, " (rejected by the aggregator, seq=%llu)",
                 (unsigned long long)r->seq);
        s_log_reject(&d, suffix);
        if (c->report) {
            size_t len = strlen(d.reason);
            snprintf(d.reason + len, sizeof d.reason - len, " (rejected by the aggregator)");
            crr_errreport_add(c->report, &d, NULL);
        }
        free(raw);
        crr_codec_free(ev ? &ev->base : NULL);
        c->rejected++;
    }
    if (rc == 0)
        rc = crr_spool_commit(c->spool);
    if (rc)
        crr_spool_abort(c->spool);
    return rc;
}

/* Releases on a full disk, in steps. Deleting needs free pages too (LMDB
 * copies every page it changes), so a step refused is retried smaller. And
 * the pages a commit frees can be reused only by the transaction after the
 * next one (LMDB keeps the last two snapshots): one big release would free
 * the whole spool file for a next write that can never commit, for ever on
 * a disk that stays full. With steps, all but the last two steps' pages are
 * free for the reading that follows. Returns 0 (also when even one event
 * cannot be released yet: retried on the next pass) or another error. */
static int s_release_steps(s_coll_t *c)
{
    uint64_t step = S_RELEASE_STEP;
    while (crr_spool_acked_seq(c->spool) < c->release_to) {
        uint64_t left = c->release_to - crr_spool_acked_seq(c->spool);
        uint64_t deleted = 0;
        int rc = crr_spool_release(
            c->spool, crr_spool_acked_seq(c->spool) + (left < step ? left : step), &deleted);
        if (rc == 0) {
            if (deleted)
                c->full = 0;
            continue;
        }
        if (!s_is_disk_full(rc))
            return rc;
        if (step == 1) {
            CRR_DEBUG("spool release up to seq=%llu postponed: %s",
                      (unsigned long long)c->release_to, crr_strerror(rc));
            return 0;
        }
        step /= 8;
        if (step == 0)
            step = 1;
    }
    return 0;
}

/* Deletes what Acks covered; a full spool may read again. */
static int s_release(s_coll_t *c)
{
    if (c->release_to <= crr_spool_acked_seq(c->spool))
        return 0;
    uint64_t deleted = 0;
    int rc =
        c->disk_full ? s_release_steps(c) : crr_spool_release(c->spool, c->release_to, &deleted);
    if (rc == 0 && !c->disk_full)
        crr_crashpoint("collector_after_release");
    if (rc && s_is_disk_full(rc))
        rc = s_release_steps(c);
    if (rc) {
        CRR_ERROR("spool release up to seq=%llu failed: %s", (unsigned long long)c->release_to,
                  crr_strerror(rc));
        return rc;
    }
    if (deleted)
        c->full = 0;
    return 0;
}

static uint64_t s_last_seq(s_coll_t *c)
{
    return crr_spool_next_seq(c->spool) - 1;
}

/* Starts the sender at the spool's epoch and first unacknowledged seq. */
static int s_start_sender(s_coll_t *c)
{
    crr_sender_opts_t o = {
        .endpoint = c->cfg->aggregator,
        .source_id = c->cfg->source_id,
        .epoch = crr_spool_epoch(c->spool),
        .first_seq = crr_spool_acked_seq(c->spool) + 1,
        .window_frames = (uint64_t)c->cfg->send.window_frames,
        .batch_events = (uint64_t)c->cfg->send.batch_events,
        .max_frame_bytes = c->cfg->send.max_frame,
        .resend_ms = c->cfg->send.resend_ms,
        .curve = &c->cfg->curve,
    };
    static const crr_sender_source_t src = {
        .fetch = s_fetch, .on_ack = s_on_ack, .depth = s_depth, .last_seq = s_spool_last};
    int rc = crr_sender_new(c->zctx, &o, &src, c, &c->sender);
    if (rc)
        CRR_ERROR("cannot start the sender to %s: %s", c->cfg->aggregator, crr_strerror(rc));
    return rc;
}

/* The aggregator lost this epoch's state (expected seq at or below what it
 * acknowledged): say so, then go on under a fresh epoch from the first
 * unacknowledged event. Returns 0 or a fatal error. */
static int s_lost_state(s_coll_t *c, uint64_t expected)
{
    uint64_t acked = crr_spool_acked_seq(c->spool), old = crr_spool_epoch(c->spool);
    CRR_ERROR("the aggregator at %s lost the state of source=%s epoch=%llu: it expects seq=%llu "
              "but acknowledged up to seq=%llu before (its store was restored from an older "
              "backup, or emptied). Events up to seq=%llu were acknowledged and released from "
              "the spool and are NOT recoverable from it: if the aggregator lacks them, send "
              "their input files again (record_ids keep them from counting twice). Continuing "
              "under a fresh epoch from the first unacknowledged event (seq=%llu, %llu event(s) "
              "waiting)",
              c->cfg->aggregator, c->cfg->source_id, (unsigned long long)old,
              (unsigned long long)expected, (unsigned long long)acked, (unsigned long long)acked,
              (unsigned long long)(acked + 1), (unsigned long long)crr_spool_count(c->spool));
    crr_sender_destroy(&c->sender);
    int rc = crr_spool_new_epoch(c->spool, NULL);
    if (rc) {
        CRR_ERROR("cannot start a fresh epoch in the spool: %s", crr_strerror(rc));
        return rc;
    }
    c->release_to = 0;
    c->last_acked = 0;
    return s_start_sender(c);
}

/* Acts on a halted sender. Returns 0 (running, or restarted under a fresh
 * epoch), 1 when the collector must stop (*code set), or a negative fatal
 * error. */
static int s_check_halt(s_coll_t *c, int *code)
{
    uint64_t seq = 0;
    crr_sender_halt_t h = crr_sender_halted(c->sender, &seq);
    if (h == CRR_SENDER_RUNNING)
        return 0;
    if (h == CRR_SENDER_LOST_STATE)
        return s_lost_state(c, seq);
    CRR_ERROR("stopped: the aggregator at %s holds different events under source=%s epoch=%llu: "
              "another collector sends with a copy of this data folder (a cloned VM or a "
              "restored backup on a second host). Nothing more is sent under this epoch; %llu "
              "event(s) stay in the spool (%s/%s). Give one of the two collectors its own "
              "--source-id and a fresh --data-dir, then feed it the inputs this one read",
              c->cfg->aggregator, c->cfg->source_id, (unsigned long long)crr_spool_epoch(c->spool),
              (unsigned long long)crr_spool_count(c->spool), c->cfg->data_dir, CRR_DATADIR_SPOOL);
    *code = CRR_COLLECTOR_EXIT_GAVE_UP;
    return 1;
}

static int s_open_all(s_coll_t *c)
{
    char dir[PATH_MAX];
    crr_datadir_path(dir, sizeof dir, c->cfg->data_dir, CRR_DATADIR_SPOOL);
    crr_spool_opts_t so = {
        .dir = dir, .source_id = c->cfg->source_id, .max_bytes = c->cfg->send.spool_max};
    int rc = crr_spool_open(&so, &c->spool);
    if (rc) {
        CRR_ERROR("cannot open the spool in %s: %s", dir, crr_strerror(rc));
        return rc;
    }
    CRR_INFO("spool %s source=%s epoch=%llu: %llu event(s) waiting, next seq=%llu", dir,
             c->cfg->source_id, (unsigned long long)crr_spool_epoch(c->spool),
             (unsigned long long)crr_spool_count(c->spool),
             (unsigned long long)crr_spool_next_seq(c->spool));
    c->release_to = crr_spool_acked_seq(c->spool);
    if (!(c->zctx = zmq_ctx_new()))
        return -errno;
    return s_start_sender(c);
}

/* Appends " path" to list (cap bytes), or "..." once it is full. */
static void s_list_add(char *list, size_t cap, const char *path)
{
    size_t used = strlen(list);
    if (used + strlen(path) + 6 < cap)
        snprintf(list + used, cap - used, " %s", path);
    else if (used + 5 < cap && !strstr(list, " ..."))
        snprintf(list + used, cap - used, " ...");
}

/* A named file that this data folder's spools read before (files-read) but
 * that the open spool has no checkpoint for would be read again from line 1:
 * the spool was deleted or replaced. Refused (CRR_ECONFIG) unless --new-spool. */
static int s_check_lost_spool(s_coll_t *c)
{
    int rc = crr_seen_load(c->cfg->data_dir, &c->seen);
    if (rc)
        return rc;
    char list[2048] = "";
    int n = 0;
    for (int i = 0; i < c->ninputs; i++) {
        char key[PATH_MAX];
        crr_spool_ckpt_t cp;
        if (strcmp(c->inputs[i], "-") == 0)
            continue;
        if (!realpath(c->inputs[i], key))
            snprintf(key, sizeof key, "%s", c->inputs[i]);
        if (!crr_seen_has(c->seen, key))
            continue;
        if ((rc = crr_spool_checkpoint_get(c->spool, key, &cp)) != CRR_ENOTFOUND) {
            if (rc)
                return rc;
            continue;
        }
        s_list_add(list, sizeof list, key);
        n++;
    }
    if (n == 0)
        return 0;
    if (c->cfg->new_spool) {
        CRR_WARN("--new-spool: reading %d file(s) again from line 1 that an earlier spool of %s "
                 "read:%s; their events without record_id count again",
                 n, c->cfg->data_dir, list);
        return 0;
    }
    CRR_ERROR("the spool in %s/%s has no checkpoint for %d file(s) that an earlier spool of this "
              "data folder read (the spool was deleted or replaced):%s; reading them again from "
              "line 1 would count every event without record_id twice. Start with --new-spool "
              "to read them anyway (events with record_id are de-duplicated by the aggregator)",
              c->cfg->data_dir, CRR_DATADIR_SPOOL, n, list);
    return CRR_ECONFIG;
}

/* One INFO line of counters (every S_PROGRESS_MS, never per event). */
static void s_progress(s_coll_t *c)
{
    crr_sender_stats_t st;
    crr_sender_stats(c->sender, &st);
    CRR_INFO("progress: spooled=%llu rejected=%llu acked_seq=%llu last_seq=%llu "
             "spool_events=%llu spool_bytes=%llu frames_inflight=%llu resends=%llu "
             "connected=%d%s",
             (unsigned long long)c->accepted, (unsigned long long)c->rejected,
             (unsigned long long)st.acked_seq, (unsigned long long)s_last_seq(c),
             (unsigned long long)crr_spool_count(c->spool),
             (unsigned long long)crr_spool_bytes(c->spool), (unsigned long long)st.frames_inflight,
             (unsigned long long)st.resends, st.connected, c->full ? " spool=FULL" : "");
}

/* Whether the wait for Ack progress has lasted past give_up_ms. */
static int s_gave_up(s_coll_t *c, uint64_t now)
{
    uint64_t acked = crr_sender_acked_seq(c->sender);
    int pending = acked < s_last_seq(c);
    if (!pending || acked != c->last_acked)
        c->stall_ref_ms = now;
    c->last_acked = acked;
    if (!pending || c->cfg->give_up_ms <= 0)
        return 0;
    return now - c->stall_ref_ms >= (uint64_t)c->cfg->give_up_ms;
}

/* The final line: what this run read, and what became of the spool's events
 * at the aggregator (its totals for this source and epoch, each event
 * counted once). */
static void s_done_line(s_coll_t *c)
{
    crr_sender_stats_t st;
    crr_sender_stats(c->sender, &st);
    CRR_INFO("done: %llu event(s) spooled and acknowledged in this run, %llu line(s) rejected; "
             "aggregator totals for source=%s epoch=%llu: %llu accepted, %llu duplicate, %llu "
             "rejected",
             (unsigned long long)c->accepted, (unsigned long long)c->rejected, c->cfg->source_id,
             (unsigned long long)crr_spool_epoch(c->spool), (unsigned long long)st.total_applied,
             (unsigned long long)st.total_duplicates, (unsigned long long)st.total_rejected);
}

/* Opens the next input when more may be read (inputs left, spool not full)
 * and says what the loop does with it: *reading_file (a file: read now),
 * *buffered (stdin with lines already buffered: read now) or *poll_stdin
 * (stdin: read when poll says so). 0 or -errno. */
static int s_pick_input(s_coll_t *c, int *reading_file, int *poll_stdin, int *buffered)
{
    if (c->inputs_done || c->full)
        return 0;
    int rc = s_open_next(c);
    if (rc)
        return rc;
    if (c->rd && crr_reader_is_stdin(c->rd)) {
        *buffered = crr_reader_ready(c->rd);
        *poll_stdin = !*buffered;
    } else if (c->rd) {
        *reading_file = 1;
    }
    return 0;
}

/* Waits in zmq_poll for the sender's sockets and, with poll_stdin, stdin:
 * not at all when busy (input is ready to read), at most until the next disk
 * retry while paused on a full disk. Reads a group from stdin when it became
 * readable. 0 or -errno. */
static int s_wait(s_coll_t *c, int poll_stdin, int busy, uint64_t now)
{
    zmq_pollitem_t items[CRR_SENDER_POLLITEMS + 2];
    int n = crr_sender_pollitems(c->sender, items);
    if (c->drop && !c->full && !c->rd && crr_drop_fd(c->drop) >= 0)
        items[n++] = (zmq_pollitem_t){.fd = crr_drop_fd(c->drop), .events = ZMQ_POLLIN};
    if (poll_stdin)
        items[n++] = (zmq_pollitem_t){.fd = crr_reader_fd(c->rd), .events = ZMQ_POLLIN};
    long timeout = busy ? 0 : crr_sender_timeout(c->sender);
    if (c->drop && !busy && !c->full && !c->rd) {
        long until = crr_drop_timeout(c->drop, now);
        if (timeout < 0 || timeout > until)
            timeout = until;
    }
    if (c->disk_full && c->full) {
        long until = (long)(c->disk_retry_ms - now) + 1;
        if (timeout < 0 || timeout > until)
            timeout = until < 0 ? 0 : until;
    }
    if (zmq_poll(items, n, timeout) < 0 && zmq_errno() != EINTR)
        return -zmq_errno();
    if (poll_stdin && (items[n - 1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)))
        return s_read_group(c, 1);
    return 0;
}

/* Stopping: waits up to drain_ms for the Acks of events in flight, releasing
 * what they acknowledge, and logs how many stay in the spool. A failure here
 * only ends the wait (the spool keeps the events for the next start). */
static void s_drain(s_coll_t *c)
{
    uint64_t deadline = crr_clock_mono_ms() + (uint64_t)c->cfg->drain_ms;
    while (crr_sender_acked_seq(c->sender) < s_last_seq(c) && crr_clock_mono_ms() < deadline) {
        long left = (long)(deadline - crr_clock_mono_ms());
        if (crr_sender_poll(c->sender, left < 100 ? left : 100))
            break;
        if (crr_sender_halted(c->sender, NULL) != CRR_SENDER_RUNNING)
            break; /* handled on the next start */
        if (s_release(c))
            break;
    }
    s_release(c);
    CRR_INFO("stopped: %llu event(s) left in the spool for the next start",
             (unsigned long long)(s_last_seq(c) - crr_sender_acked_seq(c->sender)));
}

int crr_collector_run(const crr_collector_cfg_t *cfg, char **inputs, int ninputs,
                      volatile sig_atomic_t *stop)
{
    static char *const stdin_input[] = {"-"};
    s_coll_t c = {.cfg = cfg, .inputs = inputs, .ninputs = ninputs};
    int watching = cfg->watch && *cfg->watch;
    if (ninputs == 0 && !watching) {
        c.inputs = (char **)stdin_input;
        c.ninputs = 1;
    }
    int code = CRR_COLLECTOR_EXIT_GAVE_UP;
    int rc = cfg->errors && cfg->errors[0] ? crr_errreport_open(cfg->errors, &c.report) : 0;
    if (rc)
        CRR_ERROR("cannot write the error report %s: %s", cfg->errors, crr_strerror(rc));
    else
        rc = s_open_all(&c);
    if (crr_err_bad_data(rc))
        code = CRR_COLLECTOR_EXIT_BAD_DATA;
    if (rc == 0 && (rc = s_check_lost_spool(&c)) == CRR_ECONFIG) {
        code = CRR_COLLECTOR_EXIT_CONFIG;
        rc = 0;
        goto done;
    }
    if (rc == 0 && watching && (rc = crr_drop_open(cfg->watch, cfg->settle_ms, &c.drop)))
        code = CRR_COLLECTOR_EXIT_CONFIG;
    if (rc == 0 && c.drop)
        rc = crr_drop_sweep(c.drop, c.spool); /* before the first file is handed out */
    if (rc)
        goto done;
    crr_notify_ready("running: spool open, sending"); /* systemd Type=notify */
    c.stall_ref_ms = crr_clock_mono_ms();
    c.last_acked = crr_sender_acked_seq(c.sender);
    /* spooled events go out before any new line is read (a full disk may
     * only be freed by their Acks) */
    if ((rc = crr_sender_process(c.sender)))
        goto done;
    for (;;) {
        if (*stop) {
            crr_notify_stopping("stopping: draining in-flight Acks");
            CRR_INFO("stopping: no more input read; waiting up to %lldms for %llu "
                     "unacknowledged event(s)",
                     (long long)cfg->drain_ms,
                     (unsigned long long)(s_last_seq(&c) - crr_sender_acked_seq(c.sender)));
            break;
        }
        if (cfg->reload_flag && *cfg->reload_flag && cfg->on_reload)
            cfg->on_reload(cfg->reload_ctx); /* SIGHUP, acted on here (main.c) */
        if ((rc = s_release(&c)))
            goto done;
        if (c.drop && (rc = crr_drop_finish(c.drop, crr_spool_acked_seq(c.spool), c.spool)))
            goto done;
        if (c.disk_full && c.full && crr_clock_mono_ms() >= c.disk_retry_ms)
            c.full = 0; /* try the disk again */
        int reading_file = 0, poll_stdin = 0, buffered = 0;
        if ((rc = s_pick_input(&c, &reading_file, &poll_stdin, &buffered)))
            goto done;
        /* stdin is read only when poll says so; lines it already gave wait in the buffer */
        if ((reading_file || buffered) && (rc = s_read_group(&c, reading_file)))
            goto done;
        if ((rc = crr_sender_process(c.sender)))
            goto done;
        if ((rc = s_check_halt(&c, &code)) > 0) {
            rc = 0;
            goto done;
        }
        if (rc)
            goto done;
        uint64_t now = crr_clock_mono_ms();
        if (c.inputs_done && crr_sender_acked_seq(c.sender) >= s_last_seq(&c)) {
            s_done_line(&c);
            code = c.rejected ? CRR_COLLECTOR_EXIT_REJECTS : CRR_COLLECTOR_EXIT_OK;
            rc = s_release(&c);
            goto done;
        }
        if (now >= c.progress_at_ms) {
            if (c.progress_at_ms)
                s_progress(&c);
            c.progress_at_ms = now + S_PROGRESS_MS;
        }
        if (s_gave_up(&c, now)) {
            CRR_ERROR("giving up: no Ack progress from %s for %lldms; %llu event(s) stay in "
                      "the spool (%s/%s) and are sent on the next start",
                      cfg->aggregator, (long long)cfg->give_up_ms,
                      (unsigned long long)(s_last_seq(&c) - crr_sender_acked_seq(c.sender)),
                      cfg->data_dir, CRR_DATADIR_SPOOL);
            code = CRR_COLLECTOR_EXIT_GAVE_UP;
            goto done;
        }
        if ((rc = s_wait(&c, poll_stdin, reading_file || buffered, now)))
            goto done;
    }
    code = CRR_COLLECTOR_EXIT_OK;
    s_drain(&c);
    rc = 0;
done:
    if (rc)
        CRR_ERROR("collector failed: %s", crr_strerror(rc));
    crr_reader_close(&c.rd);
    crr_drop_close(&c.drop);
    crr_csvin_free(&c.csv);
    if (c.report && (rc = crr_errreport_close(&c.report)))
        CRR_ERROR("error report %s: %s", cfg->errors, crr_strerror(rc));
    crr_seen_free(&c.seen);
    crr_sender_destroy(&c.sender);
    crr_spool_close(&c.spool);
    if (c.zctx)
        zmq_ctx_term(c.zctx);
    return code;
}
