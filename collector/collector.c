/* collector: the run loop of crrmon-collector.
 *
 * One thread, one zmq_poll loop:
 *   inputs (files in order, or stdin) -> crr_json_parse -> crr_validate_event
 *   -> crr_spool_append, grouped: up to group_lines lines or group_ms per
 *   LMDB transaction, with the file's checkpoint (offset + line) in the same
 *   transaction, so a restart after kill -9 resumes at exactly the next line;
 *   the sender (common/sender) fetches from the spool and its Acks release
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

#include "clock.h"
#include "crashpoint.h"
#include "json.h"
#include "log.h"
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
    const char *rd_name;            /* its name as given */
    char rd_key[PATH_MAX];          /* its checkpoint key (real path), "" for stdin */
    uint64_t rd_lines;              /* lines of the current input read in this run */
    uint64_t rd_rejected;           /* of which rejected */
    int stdin_mode;                 /* reading stdin: run until stopped */
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
} s_coll_t;

static void s_log_reject(const crr_diag_t *d, const char *suffix)
{
    char buf[1024];
    crr_diag_format(d, buf, sizeof buf);
    CRR_WARN("%s%s", buf, suffix ? suffix : "");
}

/* Stores one rejected line (edge) inside the open spool txn and logs it. */
static int s_reject_line(s_coll_t *c, crr_diag_t *d, char *line, size_t len)
{
    snprintf(d->file, sizeof d->file, "%s", c->rd_name);
    d->line = (long)crr_reader_line(c->rd);
    char saved = line[len];
    line[len] = '\0'; /* the newline (or reserved byte) after the line */
    int rc = crr_spool_reject(c->spool, d, 0, line);
    line[len] = saved;
    s_log_reject(d, NULL);
    c->rejected++;
    c->rd_rejected++;
    return rc;
}

/* Parses, validates and spools one line. Returns 0 (spooled, skipped or
 * rejected), CRR_ESPOOLFULL (line put back), or a spool/LMDB error. */
static int s_line(s_coll_t *c, char *line, size_t len, const crr_validate_opts_t *vo)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return 0; /* blank lines are skipped */
    crr_diag_t d;
    crr_diag_clear(&d);
    Crrmon__V1__Event *e = NULL;
    int rc = crr_json_parse(&crrmon__v1__event__descriptor, line, len, (ProtobufCMessage **)&e, &d);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        if (!d.code)
            d.code = CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED;
        return s_reject_line(c, &d, line, len);
    }
    if (crr_validate_event(e, vo, &d)) {
        crr_codec_free(&e->base);
        return s_reject_line(c, &d, line, len);
    }
    rc = crr_spool_append(c->spool, e, c->rd_name, crr_reader_line(c->rd), NULL);
    crr_codec_free(&e->base);
    if (rc == CRR_ESPOOLFULL) {
        crr_reader_unread(c->rd);
        return rc;
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

/* Opens the next input and seeks it to its checkpoint. Returns 0 (also when
 * there is none left: inputs_done), or a fatal error. */
static int s_open_next(s_coll_t *c)
{
    while (!c->rd) {
        if (c->next_input >= c->ninputs) {
            c->inputs_done = 1;
            return 0;
        }
        const char *name = c->inputs[c->next_input++];
        int rc = crr_reader_open(name, (size_t)c->cfg->max_line, &c->rd);
        if (rc) {
            /* an input that cannot be opened is reported like a bad line */
            crr_diag_t d;
            crr_diag_clear(&d);
            snprintf(d.file, sizeof d.file, "%s", name);
            crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "",
                         "cannot open input: %s", crr_strerror(rc));
            s_log_reject(&d, NULL);
            c->rejected++;
            int r2;
            if ((r2 = crr_spool_begin(c->spool)) ||
                (r2 = crr_spool_reject(c->spool, &d, 0, NULL)) ||
                (r2 = crr_spool_commit(c->spool))) {
                crr_spool_abort(c->spool);
                return r2;
            }
            continue;
        }
        c->rd_name = name;
        c->rd_lines = c->rd_rejected = 0;
        c->rd_key[0] = '\0';
        if (crr_reader_is_stdin(c->rd)) {
            CRR_INFO("reading stdin (not resumable after a restart)");
            continue;
        }
        if (!realpath(name, c->rd_key))
            snprintf(c->rd_key, sizeof c->rd_key, "%s", name);
        uint64_t off = 0, line = 0;
        rc = crr_spool_checkpoint_get(c->spool, c->rd_key, &off, &line);
        if (rc && rc != CRR_ENOTFOUND)
            return rc;
        int64_t size = crr_reader_size(c->rd);
        if (rc == 0 && size >= 0 && off > (uint64_t)size) {
            CRR_WARN("%s is shorter (%lld bytes) than its checkpoint (%llu): truncated or "
                     "replaced; reading it from the start",
                     name, (long long)size, (unsigned long long)off);
            off = line = 0;
        }
        if (off && (rc = crr_reader_seek(c->rd, off, line)))
            return rc;
        if (off)
            CRR_INFO("%s: resuming after line %llu (byte %llu)", name, (unsigned long long)line,
                     (unsigned long long)off);
        else
            CRR_INFO("%s: reading", name);
    }
    return 0;
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
 * said so. Returns 0, or the seek's error. */
static int s_pause_disk_full(s_coll_t *c, int rc, const s_group_mark_t *m)
{
    uint64_t lost = c->rd_lines - m->rd_lines;
    c->rd_lines = m->rd_lines;
    c->rd_rejected = m->rd_rejected;
    c->rejected = m->rejected;
    c->accepted = m->accepted;
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
    if (is_stdin && may_read) {
        long n = crr_reader_fill(c->rd);
        if (n < 0)
            return (int)n;
        may_read = 0;
    }
    crr_validate_opts_t vo = {
        .now_sec = crr_clock_now_sec(),
        .future_slack_sec = c->cfg->future_slack_ms / 1000,
        .max_age_days = c->cfg->max_age_ms / (CRR_SEC_PER_DAY * 1000),
    };
    if ((rc = crr_spool_begin(c->spool)))
        return rc;
    s_group_mark_t mark = {crr_reader_offset(c->rd),
                           crr_reader_line(c->rd),
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
    for (int64_t n = 0; n < group_lines; n++) {
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
            rc = r;
            break;
        }
        c->rd_lines++;
        if (r == CRR_READER_TOOLONG) {
            crr_diag_t d;
            crr_diag_clear(&d);
            crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "",
                         "line longer than %llu bytes (collector.max_line)",
                         (unsigned long long)c->cfg->max_line);
            size_t keep = len < 200 ? len : 200;
            rc = s_reject_line(c, &d, line, keep);
        } else {
            rc = s_line(c, line, len, &vo);
        }
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
    }
    if (rc == 0 && c->rd_key[0])
        rc = crr_spool_checkpoint_set(c->spool, c->rd_key, crr_reader_offset(c->rd),
                                      crr_reader_line(c->rd));
    if (rc == 0)
        rc = crr_spool_commit(c->spool);
    if (rc) {
        crr_spool_abort(c->spool);
        if (s_is_disk_full(rc))
            return s_pause_disk_full(c, rc, &mark);
        CRR_ERROR("spool write failed: %s", crr_strerror(rc));
        return rc;
    }
    if (c->disk_full) {
        CRR_INFO("spool writes succeed again: resumed reading %s", c->rd_name);
        c->disk_full = 0;
    }
    crr_crashpoint("collector_after_spool");
    if (eof)
        s_close_input(c, "end of input");
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

static int s_open_all(s_coll_t *c)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", c->cfg->data_dir, CRR_SPOOL_DIR);
    crr_spool_opts_t so = {
        .dir = dir, .source_id = c->cfg->source_id, .max_bytes = c->cfg->spool_max};
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
    crr_sender_opts_t o = {
        .endpoint = c->cfg->aggregator,
        .source_id = c->cfg->source_id,
        .epoch = crr_spool_epoch(c->spool),
        .first_seq = crr_spool_acked_seq(c->spool) + 1,
        .window_frames = (uint64_t)c->cfg->window_frames,
        .batch_events = (uint64_t)c->cfg->batch_events,
        .max_frame_bytes = c->cfg->max_frame,
        .resend_ms = c->cfg->resend_ms,
    };
    static const crr_sender_source_t src = {.fetch = s_fetch, .on_ack = s_on_ack, .depth = s_depth};
    rc = crr_sender_new(c->zctx, &o, &src, c, &c->sender);
    if (rc)
        CRR_ERROR("cannot start the sender to %s: %s", c->cfg->aggregator, crr_strerror(rc));
    return rc;
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

int crr_collector_run(const crr_collector_cfg_t *cfg, char **inputs, int ninputs,
                      volatile sig_atomic_t *stop)
{
    static char *const stdin_input[] = {"-"};
    s_coll_t c = {.cfg = cfg, .inputs = inputs, .ninputs = ninputs};
    if (ninputs == 0) {
        c.inputs = (char **)stdin_input;
        c.ninputs = 1;
    }
    for (int i = 0; i < c.ninputs; i++)
        if (strcmp(c.inputs[i], "-") == 0)
            c.stdin_mode = 1;
    int code = CRR_COLLECTOR_EXIT_GAVE_UP;
    int rc = s_open_all(&c);
    if (crr_err_bad_data(rc))
        code = CRR_COLLECTOR_EXIT_BAD_DATA;
    if (rc)
        goto done;
    c.stall_ref_ms = crr_clock_mono_ms();
    c.last_acked = crr_sender_acked_seq(c.sender);
    /* spooled events go out before any new line is read (a full disk may
     * only be freed by their Acks) */
    if ((rc = crr_sender_process(c.sender)))
        goto done;
    for (;;) {
        if (*stop) {
            CRR_INFO("stopping: no more input read; waiting up to %lldms for %llu "
                     "unacknowledged event(s)",
                     (long long)cfg->drain_ms,
                     (unsigned long long)(s_last_seq(&c) - crr_sender_acked_seq(c.sender)));
            break;
        }
        if ((rc = s_release(&c)))
            goto done;
        if (c.disk_full && c.full && crr_clock_mono_ms() >= c.disk_retry_ms)
            c.full = 0; /* try the disk again */
        int want_read = !c.inputs_done && !c.full;
        int reading_file = 0, poll_stdin = 0;
        if (want_read) {
            if ((rc = s_open_next(&c)))
                goto done;
            if (c.rd && crr_reader_is_stdin(c.rd))
                poll_stdin = 1;
            else if (c.rd)
                reading_file = 1;
        }
        if (reading_file && (rc = s_read_group(&c, 1)))
            goto done;
        if ((rc = crr_sender_process(c.sender)))
            goto done;
        uint64_t now = crr_clock_mono_ms();
        if (c.inputs_done && !c.stdin_mode && crr_sender_acked_seq(c.sender) >= s_last_seq(&c)) {
            CRR_INFO("done: %llu event(s) spooled and acknowledged in this run, %llu line(s) "
                     "rejected",
                     (unsigned long long)c.accepted, (unsigned long long)c.rejected);
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
                      cfg->data_dir, CRR_SPOOL_DIR);
            code = CRR_COLLECTOR_EXIT_GAVE_UP;
            goto done;
        }
        zmq_pollitem_t items[CRR_SENDER_POLLITEMS + 1];
        int n = crr_sender_pollitems(c.sender, items);
        if (poll_stdin)
            items[n++] = (zmq_pollitem_t){.fd = crr_reader_fd(c.rd), .events = ZMQ_POLLIN};
        long timeout = reading_file ? 0 : crr_sender_timeout(c.sender);
        if (c.disk_full && c.full) {
            long until = (long)(c.disk_retry_ms - now) + 1;
            if (timeout < 0 || timeout > until)
                timeout = until < 0 ? 0 : until;
        }
        if (zmq_poll(items, n, timeout) < 0 && zmq_errno() != EINTR) {
            rc = -zmq_errno();
            goto done;
        }
        if (poll_stdin && (items[n - 1].revents & (ZMQ_POLLIN | ZMQ_POLLERR)) &&
            (rc = s_read_group(&c, 1)))
            goto done;
    }
    /* stopping: drain in-flight Acks for a bounded time */
    code = CRR_COLLECTOR_EXIT_OK;
    uint64_t deadline = crr_clock_mono_ms() + (uint64_t)cfg->drain_ms;
    while (crr_sender_acked_seq(c.sender) < s_last_seq(&c) && crr_clock_mono_ms() < deadline) {
        long left = (long)(deadline - crr_clock_mono_ms());
        if ((rc = crr_sender_poll(c.sender, left < 100 ? left : 100)))
            break;
        if ((rc = s_release(&c)))
            break;
    }
    s_release(&c);
    CRR_INFO("stopped: %llu event(s) left in the spool for the next start",
             (unsigned long long)(s_last_seq(&c) - crr_sender_acked_seq(c.sender)));
    rc = 0;
done:
    if (rc)
        CRR_ERROR("collector failed: %s", crr_strerror(rc));
    crr_reader_close(&c.rd);
    crr_sender_destroy(&c.sender);
    crr_spool_close(&c.spool);
    if (c.zctx)
        zmq_ctx_term(c.zctx);
    return code;
}
