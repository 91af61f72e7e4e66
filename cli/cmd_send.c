/* cmd_send: a one-shot sender with an in-memory event source.
 *
 * Each run is its own source (source_id, epoch) with a fresh random epoch
 * (getrandom), so two runs never collide at the aggregator, even with the
 * same source id; the same file sent twice counts twice unless its events
 * carry record ids (docs/DOMAIN.md: a record id seen before for the same borough
 * and type is a duplicate).
 *
 * Phases: (1) read and validate every input line, packing valid events
 * (seq 1, 2, ... in input order) into one arena with their origin (file,
 * line); (2) drive crr_sender until durable_seq reaches the last seq, the
 * sender re-fetching from the arena on every (re)send; (3) report. There is
 * no spool: if this process dies, nothing acknowledged is lost, and a rerun
 * is a new epoch (events without record ids then count again: the operator
 * decides; the collector is the tool for at-most-once delivery of files).
 *
 * Inputs named *.csv are read as CSV (common/csvin.h), the rest as JSON
 * Lines; on a terminal a status line shows the reading and the sending
 * (cli/progress.h), nothing otherwise.
 *
 * Memory: all packed events of the run (roughly 60-120 bytes each). */
#include "cmd_send.h"

#include "cfg.h"
#include "certs.h"
#include "cli.h"
#include "clock.h"
#include "codec.h"
#include "csvin.h"
#include "datadir.h"
#include "edge.h"
#include "err.h"
#include "log.h"
#include "progress.h"
#include "sender.h"
#include "validate.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_CMD "send"
#define S_FRAME_OVERHEAD 256     /* Batch header bytes beside the events */
#define S_LARGE_BYTES (1u << 20) /* inputs from this size on get a status line on a terminal */

/* Where one sent event came from. */
typedef struct {
    uint32_t file; /* index into the file names */
    uint64_t line; /* 1-based line */
} s_origin_t;

typedef struct {
    uint8_t *data;      /* packed events back to back */
    size_t len, cap;    /* bytes used / allocated in data */
    size_t *off;        /* off[i]: start of event seq i+1; off[n] = len */
    s_origin_t *origin; /* origin[i] of event seq i+1 */
    size_t n, ncap;     /* events stored / slots allocated */
    char **files;       /* input names as given ("-" for stdin) */
    size_t nfiles;
    uint64_t durable;         /* highest seq acknowledged durable */
    uint64_t rejected_input;  /* lines refused before sending */
    uint64_t rejected_remote; /* events the aggregator rejected */
    int quiet;                /* no per-line messages */
    crr_progress_t prog;      /* the terminal status line (progress.h) */
} s_send_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon send [--aggregator ENDPOINT | --data-dir AGGDIR] [--source-id ID]\n"
                 "                   [--give-up-after D] [options] FILE... | -\n\n"
                 "Sends JSON Lines events (proto3 JSON, one Event per line; '-' reads stdin)\n"
                 "or CSV files (named *.csv: a header row naming the columns, see\n"
                 "docs/formats/CSV.md)\n"
                 "straight to an aggregator, under a fresh random epoch, and waits until every\n"
                 "event is acknowledged as durable. Bad lines are reported as\n"
                 "FILE:LINE: field: reason (every problem of a line) and skipped; the rest\n"
                 "are sent. On a terminal a status line shows percent, events/s and rejected\n"
                 "so far; it ends with the accepted / duplicate / rejected counts.\n\n"
                 "  --aggregator EP       ingest endpoint (default tcp://127.0.0.1:7400)\n"
                 "  --data-dir DIR        read the ingest endpoint from DIR/endpoints.json\n"
                 "  --source-id ID        source id (default send-<hostname>)\n"
                 "  --give-up-after D     exit 1 after D without progress (default 30s; 0 = "
                 "never)\n"
                 "  --batch-events N      events per frame (default 1000; also "
                 "--sender.batch_events)\n"
                 "  --window N            frames in flight (default 32; also --sender.window)\n"
                 "  --max-frame S         frame size limit (default 1M; also --sender.max_frame)\n"
                 "  --client-cert FILE    this client's SECRET certificate (crrmon keygen;\n"
                 "                        also --security.client_cert)\n"
                 "  --server-key FILE     the aggregator's PUBLIC certificate (also\n"
                 "                        --security.server_key)\n"
                 "  --insecure            without the two keys, send plain TCP (a warning)\n"
                 "  --quiet               no per-line messages, no summary\n"
                 "  --help                this text\n\n"
                 "The flags are the collector's: the same setting has the same name.\n\n"
                 "Exit status: 0 all sent and accepted; 2 some line or event was rejected (the\n"
                 "rest were sent); 1 gave up or failed; 64 bad usage; 78 DIR/endpoints.json\n"
                 "missing or unreadable.\n");
}

static void s_free(s_send_t *s)
{
    free(s->data);
    free(s->off);
    free(s->origin);
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i]);
    free(s->files);
}

static int s_add_event(s_send_t *s, const uint8_t *buf, size_t len, uint32_t file, uint64_t line)
{
    if (s->n + 2 > s->ncap) {
        size_t ncap = s->ncap ? s->ncap * 2 : 4096;
        size_t *noff = realloc(s->off, ncap * sizeof *noff);
        if (!noff)
            return -ENOMEM;
        s->off = noff;
        s_origin_t *nor = realloc(s->origin, ncap * sizeof *nor);
        if (!nor)
            return -ENOMEM;
        s->origin = nor;
        s->ncap = ncap;
    }
    if (s->len + len > s->cap) {
        size_t ncap = s->cap ? s->cap : 1u << 20;
        while (ncap < s->len + len)
            ncap *= 2;
        uint8_t *nd = realloc(s->data, ncap);
        if (!nd)
            return -ENOMEM;
        s->data = nd;
        s->cap = ncap;
    }
    s->off[s->n] = s->len;
    s->origin[s->n] = (s_origin_t){file, line};
    memcpy(s->data + s->len, buf, len);
    s->len += len;
    s->n++;
    s->off[s->n] = s->len;
    return 0;
}

static void s_report(s_send_t *s, const crr_diag_t *d)
{
    crr_progress_end(&s->prog);
    if (s->quiet)
        return;
    char msg[1200];
    fprintf(stderr, "%s (%s)\n", crr_diag_format(d, msg, sizeof msg),
            crr_reject_code_name(d->code));
}

/* Packs e (freed here) as the next seq and stores it with its origin; one
 * too big for a frame is reported and counted as rejected. Returns 0, or a
 * runtime failure (message printed). */
static int s_take_event(s_send_t *s, Crrmon__V1__Event *e, const char *source_id,
                        uint64_t max_event, uint32_t file_idx, uint64_t lineno)
{
    ProtobufCMessage *m = &e->base;
    /* The source id and sequence are the sender's to set (docs/DOMAIN.md). */
    char *old_sid = e->source_id;
    e->source_id = (char *)source_id;
    e->seq = (uint64_t)s->n + 1;
    size_t plen = 0;
    uint8_t *packed = NULL;
    int pk = crr_codec_pack(m, &packed, &plen);
    e->source_id = old_sid;
    crr_codec_free(m);
    if (pk)
        return crr_cli_fail(S_CMD, "out of memory");
    int rc = 0;
    if (plen > max_event) {
        crr_diag_t d;
        crr_diag_clear(&d);
        snprintf(d.file, sizeof d.file, "%s", s->files[file_idx]);
        d.line = (long)lineno;
        crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE, "",
                     "event of %zu bytes does not fit a frame of --max-frame-bytes", plen);
        s_report(s, &d);
        s->rejected_input++;
    } else if (s_add_event(s, packed, plen, file_idx, lineno) != 0) {
        rc = crr_cli_fail(S_CMD, "out of memory");
    }
    free(packed);
    return rc;
}

/* Every problem of a rejected line or record, reported; one rejected line. */
static void s_report_problems(s_send_t *s, const crr_problems_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        s_report(s, &p->d[i]);
    s->rejected_input++;
}

/* Reads one CSV input record by record into the arena (common/csvin.h).
 * Returns 0, or a runtime failure (message printed). */
static int s_read_csv(s_send_t *s, const char *path, uint32_t file_idx, const char *source_id,
                      const crr_validate_opts_t *vo, uint64_t max_event)
{
    crr_csvin_file_t *f = NULL;
    crr_problems_t p;
    int rc = crr_csvin_file_open(path, &f, &p);
    if (rc == -ENOMEM)
        return crr_cli_fail(S_CMD, "out of memory");
    if (rc)
        return crr_cli_fail(S_CMD, "cannot open %s: %s", path, strerror(-rc));
    int64_t size = crr_csvin_file_size(f);
    for (rc = 0; rc == 0;) {
        Crrmon__V1__Event *e = NULL;
        int r = crr_csvin_file_next(f, vo, &e, &p);
        if (r == CRR_CSVIN_EOF)
            break;
        if (r == 0)
            rc = s_take_event(s, e, source_id, max_event, file_idx, (uint64_t)p.d[0].line);
        else if (r == CRR_EREJECT || r == CRR_CSVIN_BADFILE)
            s_report_problems(s, &p);
        else
            rc = crr_cli_fail(S_CMD, "reading %s failed: %s", path, crr_strerror(r));
        crr_progress_show(&s->prog, path, crr_csvin_file_offset(f), (uint64_t)(size > 0 ? size : 0),
                          s->n, s->rejected_input);
    }
    crr_csvin_file_close(&f);
    return rc;
}

/* Reads one input (path or "-") line by line into the arena. Returns 0, or a
 * runtime failure (message printed). */
static int s_read_input(s_send_t *s, const char *path, const char *source_id,
                        const crr_validate_opts_t *vo, uint64_t max_event)
{
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "r");
    if (!f)
        return crr_cli_fail(S_CMD, "cannot open %s: %s", path, strerror(errno));
    char **nf = realloc(s->files, (s->nfiles + 1) * sizeof *nf);
    if (!nf || !(nf[s->nfiles] = strdup(path))) {
        if (nf)
            s->files = nf;
        if (!is_stdin)
            fclose(f);
        return crr_cli_fail(S_CMD, "out of memory");
    }
    s->files = nf;
    uint32_t file_idx = (uint32_t)s->nfiles++;
    if (!is_stdin && crr_csvin_is_csv_name(path)) {
        fclose(f);
        return s_read_csv(s, path, file_idx, source_id, vo, max_event);
    }
    struct stat sb;
    int64_t size = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0;
    uint64_t off = 0;

    int rc = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    uint64_t lineno = 0;
    while ((got = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        off += (uint64_t)got;
        size_t n = (size_t)got;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        crr_problems_t p;
        Crrmon__V1__Event *e = NULL;
        int erc = crr_edge_line_all(line, n, path, lineno, vo, &e, &p);
        if (erc == CRR_EDGE_BLANK)
            continue;
        if (erc == -ENOMEM) {
            rc = crr_cli_fail(S_CMD, "out of memory");
            goto done;
        }
        if (erc) {
            s_report_problems(s, &p);
            continue;
        }
        rc = s_take_event(s, e, source_id, max_event, file_idx, lineno);
        crr_progress_show(&s->prog, path, off, (uint64_t)(size > 0 ? size : 0), s->n,
                          s->rejected_input);
        if (rc)
            goto done;
    }
    if (ferror(f))
        rc = crr_cli_fail(S_CMD, "reading %s failed: %s", path, strerror(errno));
done:
    free(line);
    if (!is_stdin)
        fclose(f);
    return rc;
}

static int s_fetch(void *ud, uint64_t from_seq, crr_sender_batch_t *b)
{
    s_send_t *s = ud;
    for (uint64_t seq = from_seq; seq >= 1 && seq <= s->n; seq++) {
        size_t i = (size_t)(seq - 1);
        if (crr_sender_batch_add(b, seq, s->data + s->off[i], s->off[i + 1] - s->off[i]) != 0)
            break;
    }
    return 0;
}

static int s_on_ack(void *ud, uint64_t durable, Crrmon__V1__Rejection *const *rej, size_t n)
{
    s_send_t *s = ud;
    for (size_t i = 0; i < n; i++) {
        crr_diag_t d;
        crr_diag_clear(&d);
        uint64_t seq = rej[i]->seq;
        if (seq >= 1 && seq <= s->n) {
            const s_origin_t *o = &s->origin[seq - 1];
            snprintf(d.file, sizeof d.file, "%s", s->files[o->file]);
            d.line = (long)o->line;
        }
        crr_diag_set(&d, rej[i]->code, rej[i]->field, "%s (rejected by the aggregator)",
                     rej[i]->reason ? rej[i]->reason : "");
        s_report(s, &d);
        s->rejected_remote++;
    }
    if (durable > s->durable)
        s->durable = durable;
    return 0;
}

static uint64_t s_depth(void *ud)
{
    s_send_t *s = ud;
    return s->n > s->durable ? s->n - s->durable : 0;
}

static uint64_t s_last_seq(void *ud)
{
    s_send_t *s = ud;
    return s->n;
}

static uint64_t s_random_epoch(void)
{
    uint64_t e = 0;
    while (e == 0) {
        if (getrandom(&e, sizeof e, 0) != (ssize_t)sizeof e)
            e = (uint64_t)crr_clock_now_ns() ^ ((uint64_t)getpid() << 32);
    }
    return e;
}

/* Prints what became of the events: the aggregator's totals for this run's
 * (source, epoch), which count every event once whatever Acks were lost or
 * repeated. Returns the number rejected by the aggregator. */
static uint64_t s_report_totals(const s_send_t *st, crr_sender_t *sender, const char *source_id,
                                uint64_t epoch, const char *ep)
{
    crr_sender_stats_t ss = {0};
    if (sender)
        crr_sender_stats(sender, &ss);
    uint64_t applied = ss.total_applied, dups = ss.total_duplicates, rej = ss.total_rejected;
    int old = st->n > 0 && applied + dups + rej == 0;
    if (old) {
        /* an aggregator that predates Ack.total_*: duplicates cannot be told apart */
        rej = st->rejected_remote;
        applied = st->n - rej;
    }
    if (!st->quiet)
        printf("sent %zu events as source %s epoch %llu to %s: %llu accepted, %llu duplicate, "
               "%llu rejected by the aggregator, %llu input lines rejected%s\n",
               st->n, source_id, (unsigned long long)epoch, ep, (unsigned long long)applied,
               (unsigned long long)dups, (unsigned long long)rej,
               (unsigned long long)st->rejected_input,
               old ? " (this aggregator does not report duplicates: they count as accepted)" : "");
    return rej;
}

/* What the command line asked for. */
typedef struct {
    const char *endpoint, *dir, *source_id;
    const char *client_cert, *server_key;
    int insecure; /* plain TCP only when asked (--insecure) */
    int quiet;
    int64_t give_up_ms;
    uint64_t batch_events, window, max_frame;
} s_args_t;

#define S_GO_ON (-1) /* the arguments are fine: carry on */

/* Reads the options into *a (the inputs stay at argv[optind..]). Returns
 * S_GO_ON or the exit code to return now (--help, a usage error). */
static int s_parse_options(int argc, char **argv, s_args_t *a)
{
    static const struct option opts[] = {
        {"aggregator", required_argument, NULL, 'a'},
        {"data-dir", required_argument, NULL, 'd'},
        {"source-id", required_argument, NULL, 's'},
        {"give-up-after", required_argument, NULL, 'g'},
        {"batch-events", required_argument, NULL, 'b'},
        {"window", required_argument, NULL, 'w'},
        {"max-frame", required_argument, NULL, 'm'},
        /* the collector's names for the same settings (INI [sender] keys) */
        {"sender.batch_events", required_argument, NULL, 'b'},
        {"sender.window", required_argument, NULL, 'w'},
        {"sender.max_frame", required_argument, NULL, 'm'},
        {"max-frame-bytes", required_argument, NULL, 'm'}, /* the old name, not listed */
        {"security.client_cert", required_argument, NULL, 'C'},
        {"security.server_key", required_argument, NULL, 'K'},
        {"client-cert", required_argument, NULL, 'C'},
        {"server-key", required_argument, NULL, 'K'},
        {"insecure", no_argument, NULL, 'I'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char expl[600];
    int o;
    while ((o = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        switch (o) {
        case 'a': a->endpoint = optarg; break;
        case 'd': a->dir = optarg; break;
        case 's': a->source_id = optarg; break;
        case 'q': a->quiet = 1; break;
        case 'C': a->client_cert = optarg; break;
        case 'K': a->server_key = optarg; break;
        case 'I': a->insecure = 1; break;
        case 'g':
            if (crr_cfg_parse_duration(optarg, &a->give_up_ms) != 0)
                return crr_cli_usage(S_CMD, "--give-up-after: %s",
                                     crr_cfg_explain_duration(optarg, expl, sizeof expl));
            break;
        case 'b':
            if (crr_cli_parse_u64(optarg, &a->batch_events) != 0 || a->batch_events == 0 ||
                a->batch_events > CRR_VALIDATE_MAX_BATCH_EVENTS)
                return crr_cli_usage(S_CMD, "--batch-events needs a number 1..%d, not '%s'",
                                     CRR_VALIDATE_MAX_BATCH_EVENTS, optarg);
            break;
        case 'w':
            if (crr_cli_parse_u64(optarg, &a->window) != 0 || a->window == 0 || a->window > 4096)
                return crr_cli_usage(S_CMD, "--window needs a number from 1 to 4096, not '%s'",
                                     optarg);
            break;
        case 'm':
            if (crr_cfg_parse_size(optarg, &a->max_frame) != 0)
                return crr_cli_usage(S_CMD, "--max-frame: %s",
                                     crr_cfg_explain_size(optarg, expl, sizeof expl));
            if (a->max_frame < 4096 || a->max_frame > (256u << 20))
                return crr_cli_usage(S_CMD, "--max-frame needs a size from 4k to 256M, not '%s'",
                                     optarg);
            break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    return S_GO_ON;
}

/* Checks the options together and settles where to send (ep: --aggregator,
 * the ingest endpoint in --data-dir's endpoints.json, or the default) and as
 * whom (a->source_id: send-HOSTNAME when not given, kept in sid), loading the
 * CURVE keys into *curve. Returns S_GO_ON or the exit code (message printed). */
static int s_check_options(int argc, char **argv, s_args_t *a, crr_curve_client_t *curve, char *ep,
                           size_t eplen, char *sid, size_t sidlen)
{
    if (optind >= argc)
        return crr_cli_usage(S_CMD, "name at least one input FILE (or - for stdin)");
    crr_diag_t cd;
    if (crr_curve_client_load("crrmon send", a->client_cert, a->server_key, a->insecure, curve,
                              &cd)) {
        char buf[1024];
        return crr_cli_config(S_CMD, "%s", crr_diag_format(&cd, buf, sizeof buf));
    }
    if (a->endpoint && a->dir)
        return crr_cli_conflict(S_CMD, "--aggregator", a->endpoint, "--data-dir", a->dir,
                                "where the aggregator is", "send to the endpoint given",
                                "read the endpoint from its endpoints.json");
    int nstdin = 0;
    for (int i = optind; i < argc; i++)
        nstdin += strcmp(argv[i], "-") == 0;
    if (nstdin > 1)
        return crr_cli_usage(S_CMD, "stdin (-) can be read only once");
    if (a->source_id && !*a->source_id)
        return crr_cli_usage(S_CMD, "--source-id must not be empty");
    if (a->dir) {
        int rc = crr_cli_endpoint(a->dir, "ingest", ep, eplen);
        if (rc)
            return crr_cli_config(
                S_CMD, "cannot read the ingest endpoint from %s/" CRR_DATADIR_ENDPOINTS ": %s",
                a->dir, crr_strerror(rc));
    } else {
        snprintf(ep, eplen, "%s", a->endpoint ? a->endpoint : "tcp://127.0.0.1:7400");
    }
    if (!a->source_id) {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        snprintf(sid, sidlen, "send-%s", host);
        a->source_id = sid;
    }
    return S_GO_ON;
}

/* Polls the sender until every event of st is acknowledged durable. Returns
 * 0, or -1 after printing why it stopped: interrupted, a poll error, the
 * aggregator halted this run, or give_up_ms without progress. */
static int s_until_durable(s_send_t *st, crr_sender_t *sender, const char *ep, int64_t give_up_ms)
{
    uint64_t last_progress = crr_clock_mono_ms(), seen = 0;
    while (st->durable < st->n) {
        crr_progress_show(&st->prog, "sending", st->durable, st->n, st->durable,
                          st->rejected_input + st->rejected_remote);
        if (s_stop) {
            crr_cli_fail(S_CMD, "interrupted: %llu of %zu events acknowledged",
                         (unsigned long long)st->durable, st->n);
            return -1;
        }
        int rc = crr_sender_poll(sender, 100);
        if (rc) {
            crr_cli_fail(S_CMD, "sending to %s failed: %s", ep, crr_strerror(rc));
            return -1;
        }
        uint64_t hseq = 0;
        crr_sender_halt_t h = crr_sender_halted(sender, &hseq);
        if (h != CRR_SENDER_RUNNING) {
            crr_cli_fail(S_CMD,
                         "%s: %llu of %zu events acknowledged; nothing more was sent (run "
                         "the send again: events with record ids do not count twice)",
                         h == CRR_SENDER_LOST_STATE
                             ? "the aggregator lost this run's state while it ran (its store "
                               "was restored or emptied)"
                             : "another sender uses this run's source id and epoch",
                         (unsigned long long)st->durable, st->n);
            return -1;
        }
        uint64_t now = crr_clock_mono_ms();
        if (st->durable != seen) {
            seen = st->durable;
            last_progress = now;
        } else if (give_up_ms > 0 && now - last_progress >= (uint64_t)give_up_ms) {
            crr_sender_stats_t ss;
            crr_sender_stats(sender, &ss);
            crr_cli_fail(S_CMD,
                         "gave up after %.1fs without progress: %llu of %zu events "
                         "acknowledged by %s (%s)",
                         (double)give_up_ms / 1000.0, (unsigned long long)st->durable, st->n, ep,
                         ss.connected ? "connected, but no acknowledgement"
                                      : "no connection to the aggregator");
            return -1;
        }
    }
    return 0;
}

/* Phase 2: sends st's events as (source_id, epoch) to ep until every one is
 * durable (nothing to do when st holds none). *zctx and *sender are what it
 * created, for the caller to free. Returns 0 or -1 (message printed). */
static int s_deliver(s_send_t *st, const s_args_t *a, const char *ep, uint64_t epoch,
                     const crr_curve_client_t *curve, void **zctx, crr_sender_t **sender)
{
    if (st->n == 0)
        return 0;
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    *zctx = zmq_ctx_new();
    if (!*zctx) {
        crr_cli_fail(S_CMD, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        return -1;
    }
    crr_sender_opts_t so = {
        .endpoint = ep,
        .source_id = a->source_id,
        .epoch = epoch,
        .first_seq = 1,
        .window_frames = a->window,
        .batch_events = a->batch_events,
        .max_frame_bytes = a->max_frame,
        .resend_ms = a->give_up_ms > 0 && a->give_up_ms < 5000 ? a->give_up_ms / 2 + 1 : 5000,
        .curve = curve,
    };
    crr_sender_source_t src = {
        .fetch = s_fetch, .on_ack = s_on_ack, .depth = s_depth, .last_seq = s_last_seq};
    int rc = crr_sender_new(*zctx, &so, &src, st, sender);
    if (rc) {
        crr_cli_fail(S_CMD, "cannot connect to %s: %s", ep, crr_strerror(rc));
        return -1;
    }
    return s_until_durable(st, *sender, ep, a->give_up_ms);
}

/* Bytes of the regular files among argv[optind..] (stdin counts 0). */
static uint64_t s_inputs_bytes(int argc, char **argv)
{
    uint64_t total = 0;
    struct stat sb;
    for (int i = optind; i < argc; i++)
        if (strcmp(argv[i], "-") != 0 && stat(argv[i], &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    return total;
}

int crr_cmd_send(int argc, char **argv)
{
    s_args_t a = {.give_up_ms = 30000, .batch_events = 1000, .window = 32, .max_frame = 1u << 20};
    crr_curve_client_t curve;
    char ep[512], sid[300];
    int rc = s_parse_options(argc, argv, &a);
    if (rc == S_GO_ON)
        rc = s_check_options(argc, argv, &a, &curve, ep, sizeof ep, sid, sizeof sid);
    if (rc != S_GO_ON)
        return rc;

    /* Phase 1: read and validate at the edge. */
    crr_validate_opts_t vo = {
        .now_sec = crr_clock_now_sec(),
        .future_slack_sec = CRR_VALIDATE_FUTURE_SLACK_SEC,
        .max_age_days = 0, /* the aggregator knows its windows; it rejects too_old itself */
    };
    s_send_t st = {.quiet = a.quiet};
    int large = s_inputs_bytes(argc, argv) >= S_LARGE_BYTES; /* a status line for those only */
    crr_progress_start(&st.prog, !a.quiet && large);
    int exit_code = CRR_EXIT_FAIL;
    void *zctx = NULL;
    crr_sender_t *sender = NULL;
    for (int i = optind; i < argc; i++)
        if (s_read_input(&st, argv[i], a.source_id, &vo, a.max_frame - S_FRAME_OVERHEAD) != 0)
            goto fail;

    /* Phase 2: send until every event is durable, or no progress for give_up_ms. */
    crr_progress_end(&st.prog);
    crr_progress_start(&st.prog, !a.quiet && large);
    uint64_t epoch = s_random_epoch();
    if (s_deliver(&st, &a, ep, epoch, &curve, &zctx, &sender) != 0)
        goto fail;

    /* Phase 3: report. */
    crr_progress_end(&st.prog);
    uint64_t remote_rejected = s_report_totals(&st, sender, a.source_id, epoch, ep);
    fflush(stdout);
    exit_code = st.rejected_input || remote_rejected ? CRR_EXIT_REJECTED : CRR_EXIT_OK;
fail:
    crr_sender_destroy(&sender);
    if (zctx)
        zmq_ctx_term(zctx);
    s_free(&st);
    return exit_code;
}
