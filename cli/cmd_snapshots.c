/* cmd_snapshots: lists the stored snapshots (crr_store_snapshots_foreach,
 * then each one read back with crr_store_snapshot_get) and their deliveries
 * (state/outbox.h), read-only beside a running aggregator. */
#include "cmd_snapshots.h"

#include "cli.h"
#include "clock.h"
#include "codec.h"
#include "datadir.h"
#include "err.h"
#include "outbox.h"
#include "store.h"
#include "json.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CMD "snapshots"

typedef struct {
    crr_store_t *store;
    MDB_txn *txn; /* read txn over the delivery records, or NULL (none yet) */
    crr_outbox_dbs_t dbs;
    int json;
    crr_cli_table_t *table;
    size_t count;
    int failed;
} s_ctx_t;

/* Counts the delivery records of id: done (delivered db, key prefix id NUL),
 * pending and dead (outbox db). */
typedef struct {
    const char *id;
    uint64_t pending, dead;
} s_dl_t;

static int s_dl(const crr_delivery_t *d, void *ud)
{
    s_dl_t *c = ud;
    if (strcmp(d->id, c->id) == 0) {
        if (d->dead)
            c->dead++;
        else
            c->pending++;
    }
    return 0;
}

static uint64_t s_done(s_ctx_t *c, const char *id)
{
    MDB_cursor *cur;
    uint64_t n = 0;
    if (!c->txn || mdb_cursor_open(c->txn, c->dbs.delivered, &cur) != 0)
        return 0;
    size_t len = strlen(id) + 1; /* the prefix: id and its NUL */
    MDB_val k = {len, (void *)id}, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < len || memcmp(k.mv_data, id, len) != 0)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    return n;
}

static int s_one(const char *id, int64_t taken_at_sec, void *ud)
{
    (void)taken_at_sec;
    s_ctx_t *c = ud;
    Crrmon__V1__Snapshot *snap = NULL;
    if (crr_store_snapshot_get(c->store, id, &snap) != 0)
        return 0; /* pruned meanwhile */
    char as_of[40] = "", rows[24], dl[96], sched[96];
    if (snap->as_of)
        crr_time_format(snap->as_of->seconds, snap->as_of->nanos, as_of, sizeof as_of);
    snprintf(rows, sizeof rows, "%zu", snap->n_values);
    snprintf(sched, sizeof sched, "%s%s", snap->schedule ? snap->schedule : "",
             snap->catch_up ? " (catch-up)" : "");
    s_dl_t counts = {id, 0, 0};
    if (c->txn)
        crr_outbox_foreach(c->txn, &c->dbs, s_dl, &counts);
    uint64_t done = s_done(c, id);
    snprintf(dl, sizeof dl, "%llu done, %llu pending, %llu dead", (unsigned long long)done,
             (unsigned long long)counts.pending, (unsigned long long)counts.dead);
    c->count++;
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:I, s:{s:I, s:I, s:I}}", "id", id, "asOf",
                              as_of, "schedule", snap->schedule ? snap->schedule : "", "catchUp",
                              snap->catch_up ? 1 : 0, "rows", (json_int_t)snap->n_values,
                              "deliveries", "done", (json_int_t)done, "pending",
                              (json_int_t)counts.pending, "dead", (json_int_t)counts.dead);
        char *text = crr_json_dump_checked(o, JSON_COMPACT);
        json_decref(o);
        if (!text || puts(text) == EOF)
            c->failed = 1;
        free(text);
    } else {
        const char *cells[5] = {id, as_of, sched, rows, dl};
        if (crr_cli_table_add(c->table, cells) != 0)
            c->failed = 1;
    }
    crr_codec_free(&snap->base);
    return c->failed;
}

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon snapshots --data-dir AGGDIR [--json]\n\n"
                 "Lists the snapshots stored in an aggregator's store (read-only, beside a\n"
                 "running aggregator): id, as_of, schedule (catch-up marked), rows, and how\n"
                 "many of its deliveries are done, pending or dead. `crrmon export --snapshot\n"
                 "ID` writes one again.\n\n"
                 "  --data-dir DIR  the aggregator's data folder (DIR/store)\n"
                 "  --json          one JSON object per snapshot, per line\n"
                 "  --help          this text\n");
}

int crr_cmd_snapshots(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    s_ctx_t c = {0};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'j': c.json = 1; break;
        case 'h': s_usage(stdout); return CRR_EXIT_OK;
        case ':': return crr_cli_usage(S_CMD, "%s needs a value", argv[optind - 1]);
        default: return crr_cli_usage(S_CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return crr_cli_usage(S_CMD, "--data-dir is required");
    int exit_code = CRR_EXIT_FAIL;
    char store_dir[4096];
    crr_datadir_path(store_dir, sizeof store_dir, dir, CRR_DATADIR_STORE);
    crr_store_opts_t so = {.readonly = 1};
    int rc = crr_store_open(store_dir, &so, &c.store);
    if (rc)
        return crr_cli_config(S_CMD, "cannot open the store in %s: %s", store_dir,
                              rc == MDB_NOTFOUND || rc == -ENOENT ? "no aggregator store there yet"
                                                                  : crr_strerror(rc));
    if (mdb_txn_begin(crr_store_env(c.store), NULL, MDB_RDONLY, &c.txn) == 0 &&
        crr_outbox_open(c.txn, &c.dbs) != 0) {
        mdb_txn_abort(c.txn);
        c.txn = NULL; /* a store that never queued a delivery */
    }
    static const char *const hdr[5] = {"id", "as_of", "schedule", "rows", "deliveries"};
    if (!c.json && crr_cli_table_new(5, hdr, &c.table) != 0) {
        crr_cli_fail(S_CMD, "out of memory");
        goto done;
    }
    rc = crr_store_snapshots_foreach(c.store, s_one, &c);
    if (rc || c.failed) {
        crr_cli_fail(S_CMD, "listing the snapshots failed: %s",
                     c.failed ? "write error or out of memory" : crr_strerror(rc));
        goto done;
    }
    if (c.table) {
        if (c.count == 0)
            printf("no snapshots stored in %s\n", dir);
        else
            crr_cli_table_print(c.table, stdout, 1u << 3);
    }
    exit_code = fflush(stdout) == 0 ? CRR_EXIT_OK : crr_cli_fail(S_CMD, "write error on stdout");
done:
    if (c.txn)
        mdb_txn_abort(c.txn);
    crr_cli_table_destroy(&c.table);
    crr_store_close(&c.store);
    return exit_code;
}
