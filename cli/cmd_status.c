/* cmd_status: lists the sources table of an aggregator's store
 * (crr_store_sources_foreach) read-only, beside a running aggregator. Ages
 * use crr_clock_now_sec, so CRRMON_NOW applies as in the daemons. */
#include "cmd_status.h"

#include "cli.h"
#include "clock.h"
#include "datadir.h"
#include "err.h"
#include "outbox.h"
#include "store.h"
#include "json.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>

#define S_CMD "status"

typedef struct {
    int json;               /* JSON Lines output */
    int64_t now;            /* for "ago" */
    crr_cli_table_t *table; /* table output */
    size_t count;           /* sources seen */
    int failed;             /* a write or allocation failed */
} s_ctx_t;

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon status --data-dir AGGDIR [--json]\n\n"
                 "Per source and epoch: the applied (durable) sequence, when it was last seen,\n"
                 "the spool depth its sender last reported, and what became of its events, each\n"
                 "counted once: applied (accepted), skipped as duplicates (a record_id seen\n"
                 "before), rejected; and how many arrived again under a sequence already\n"
                 "applied (resent after a lost Ack: not counted twice). Reads the store\n"
                 "read-only. Then, per sink, the snapshot deliveries not done yet: pending\n"
                 "(being retried), dead (failed past aggregator.delivery_max_attempts) and the\n"
                 "oldest undelivered snapshot's age.\n\n"
                 "  --data-dir DIR  the aggregator's data folder (DIR/store)\n"
                 "  --json          one JSON object per source and epoch, per line\n"
                 "  --help          this text\n");
}

static const char *s_ago(int64_t secs, char *buf, size_t len)
{
    if (secs < 0)
        secs = 0;
    if (secs < 120)
        snprintf(buf, len, "%llds ago", (long long)secs);
    else if (secs < 7200)
        snprintf(buf, len, "%lldm ago", (long long)(secs / 60));
    else if (secs < 172800)
        snprintf(buf, len, "%lldh ago", (long long)(secs / 3600));
    else
        snprintf(buf, len, "%lldd ago", (long long)(secs / 86400));
    return buf;
}

static int s_source(const crr_source_info_t *si, void *ud)
{
    s_ctx_t *c = ud;
    char epoch[32], seq[32], when[48], ago[32], depth[32], applied[32], dups[32], rej[32],
        resent[32];
    snprintf(epoch, sizeof epoch, "%llu", (unsigned long long)si->epoch);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)si->applied_seq);
    crr_time_format(si->last_seen_sec, 0, when, sizeof when);
    snprintf(depth, sizeof depth, "%llu", (unsigned long long)si->spool_depth);
    snprintf(applied, sizeof applied, "%llu", (unsigned long long)si->applied);
    snprintf(dups, sizeof dups, "%llu", (unsigned long long)si->duplicates);
    snprintf(rej, sizeof rej, "%llu", (unsigned long long)si->rejected);
    snprintf(resent, sizeof resent, "%llu", (unsigned long long)si->resent);
    c->count++;
    if (c->json) {
        /* 64-bit counters as strings, as the proto3 JSON mapping writes uint64. */
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sourceId", si->source_id,
                      "epoch", epoch, "appliedSeq", seq, "lastSeen", when, "spoolDepth", depth,
                      "applied", applied, "duplicates", dups, "rejected", rej, "resent", resent);
        char *text = crr_json_dump_checked(o, JSON_COMPACT);
        json_decref(o);
        if (!text || puts(text) == EOF)
            c->failed = 1;
        free(text);
        return c->failed;
    }
    char seen[96];
    snprintf(seen, sizeof seen, "%s (%s)", when,
             s_ago(c->now - si->last_seen_sec, ago, sizeof ago));
    const char *cells[9] = {si->source_id, epoch, seq, seen, depth, applied, dups, rej, resent};
    if (crr_cli_table_add(c->table, cells) != 0)
        c->failed = 1;
    return c->failed;
}

/* The snapshot deliveries not done yet, per sink (state/outbox.h): a table
 * after the sources, or one JSON line per sink {"sink","pending","dead",
 * "oldestQueued"}. Nothing when every delivery is done. Returns 0 or -1. */
static int s_deliveries(crr_store_t *store, const s_ctx_t *c)
{
    MDB_txn *txn;
    crr_outbox_dbs_t dbs;
    crr_outbox_sum_t sums[64];
    size_t n = 0;
    if (mdb_txn_begin(crr_store_env(store), NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    int rc = crr_outbox_open(txn, &dbs);
    if (rc == 0)
        rc = crr_outbox_summary(txn, &dbs, sums, 64, &n);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return 0; /* a store that never queued a delivery */
    if (rc)
        return -1;
    if (n && !c->json)
        printf("\nsnapshot deliveries not done (crrmon export --retry SINK revives dead ones):\n");
    for (size_t i = 0; i < n; i++) {
        char when[48] = "-", ago[32] = "";
        if (sums[i].oldest_sec) {
            crr_time_format(sums[i].oldest_sec, 0, when, sizeof when);
            s_ago(c->now - sums[i].oldest_sec, ago, sizeof ago);
        }
        if (c->json) {
            json_t *o = json_pack("{s:s, s:I, s:I, s:s}", "sink", sums[i].sink, "pending",
                                  (json_int_t)sums[i].pending, "dead", (json_int_t)sums[i].dead,
                                  "oldestQueued", sums[i].oldest_sec ? when : "");
            char *text = crr_json_dump_checked(o, JSON_COMPACT);
            json_decref(o);
            if (text)
                puts(text);
            free(text);
        } else {
            printf("  sink %s: %llu pending, %llu dead, oldest undelivered %s%s%s%s\n",
                   sums[i].sink, (unsigned long long)sums[i].pending,
                   (unsigned long long)sums[i].dead, when, *ago ? " (" : "", ago, *ago ? ")" : "");
        }
    }
    return 0;
}

int crr_cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    s_ctx_t ctx = {.now = crr_clock_now_sec()};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'j': ctx.json = 1; break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return crr_cli_usage(S_CMD, "--data-dir is required");

    int exit_code = CRR_EXIT_FAIL;
    crr_store_t *store = NULL;
    char store_dir[4096];
    crr_datadir_path(store_dir, sizeof store_dir, dir, CRR_DATADIR_STORE);
    crr_store_opts_t so = {.readonly = 1};
    int rc = crr_store_open(store_dir, &so, &store);
    if (rc) { /* a refused data folder: exit 78 */
        exit_code =
            crr_cli_config(S_CMD, "cannot open the store in %s: %s", store_dir,
                           rc == MDB_NOTFOUND || rc == -ENOENT ? "no aggregator store there yet"
                                                               : crr_strerror(rc));
        goto fail;
    }
    if (!ctx.json) {
        const char *hdr[9] = {"source",  "epoch",      "applied seq", "last seen", "spool depth",
                              "applied", "duplicates", "rejected",    "resent"};
        if (crr_cli_table_new(9, hdr, &ctx.table) != 0) {
            crr_cli_fail(S_CMD, "out of memory");
            goto fail;
        }
    }
    rc = crr_store_sources_foreach(store, s_source, &ctx);
    if (rc && !ctx.failed) {
        crr_cli_fail(S_CMD, "reading the sources failed: %s", crr_strerror(rc));
        goto fail;
    }
    if (ctx.failed) {
        crr_cli_fail(S_CMD, "write error on stdout (or out of memory)");
        goto fail;
    }
    if (ctx.table) {
        if (ctx.count == 0)
            printf("no sources have sent to %s yet\n", dir);
        else
            crr_cli_table_print(ctx.table, stdout,
                                1u << 1 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 7 |
                                    1u << 8);
    }
    if (s_deliveries(store, &ctx) != 0)
        crr_cli_fail(S_CMD, "cannot read the snapshot deliveries (the sources above are exact)");
    if (fflush(stdout) != 0) {
        crr_cli_fail(S_CMD, "write error on stdout");
        goto fail;
    }
    exit_code = CRR_EXIT_OK;
fail:
    crr_cli_table_destroy(&ctx.table);
    crr_store_close(&store);
    return exit_code;
}
