/* cmd_export: `crrmon export --retry SINK` and `crrmon export --snapshot
 * ID|--latest --format jsonl|csv [--out FILE]` (see cmd_export.h).
 *
 * --retry opens the aggregator's LMDB environment writable for one short
 * transaction; LMDB's writer lock (in lock.mdb, shared between processes)
 * serialises it with the running aggregator, which need not stop. It writes
 * no sink itself: the aggregator's delivery thread does, in order.
 *
 * --snapshot reads the stored snapshot (read-only) and renders it with the
 * very sink that wrote it first (sinks/jsonl.c, sinks/csv.c, into a private
 * temporary folder), so the bytes are the same; then renames the file to
 * --out (the temporary folder is made beside it: same file system) or copies
 * it to stdout. */
#include "cmd_export.h"

#include "cli.h"
#include "codec.h"
#include "sink.h"
#include "store.h"
#include "datadir.h"
#include "err.h"
#include "lmdbx.h"
#include "outbox.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_CMD "export"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: crrmon export --data-dir AGGDIR --retry SINK\n"
            "       crrmon export --data-dir AGGDIR (--snapshot ID | --latest)\n"
            "                     [--format jsonl|csv] [--out FILE]\n\n"
            "--snapshot ID (or --latest) writes a stored snapshot again, byte for byte as the\n"
            "jsonl or csv sink first wrote it, to FILE (atomically) or to stdout; `crrmon\n"
            "snapshots` lists the ids.\n\n"
            "--retry SINK makes every dead snapshot delivery of sink instance SINK (one that\n"
            "failed aggregator.delivery_max_attempts times, or was refused for good) pending\n"
            "again; the running aggregator delivers them in snapshot order within a second.\n"
            "`crrmon status` shows the dead deliveries per sink.\n\n"
            "  --data-dir DIR  the aggregator's data folder (DIR/store)\n"
            "  --retry SINK    the sink instance name (as in aggregator.sinks)\n"
            "  --snapshot ID   a stored snapshot's id\n"
            "  --latest        the stored snapshot with the greatest id (latest as_of)\n"
            "  --format F      jsonl (default) or csv\n"
            "  --out FILE      write FILE (temporary name, then rename) instead of stdout\n"
            "  --help          this text\n");
}

static int s_last_id(const char *id, int64_t taken_at_sec, void *ud)
{
    (void)taken_at_sec;
    snprintf(ud, 256, "%s", id);
    return 0;
}

/* Copies file path to stdout. 0 or -1. */
static int s_cat(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (fwrite(buf, 1, n, stdout) != n)
            rc = -1;
    if (ferror(f))
        rc = -1;
    fclose(f);
    return rc;
}

static int s_reexport(const char *dir, const char *id, const char *format, const char *out)
{
    char store_dir[4096], want[256] = "";
    crr_datadir_path(store_dir, sizeof store_dir, dir, CRR_DATADIR_STORE);
    crr_store_t *store = NULL;
    crr_store_opts_t so = {.readonly = 1};
    int rc = crr_store_open(store_dir, &so, &store);
    if (rc)
        return crr_cli_config(S_CMD, "cannot open the store in %s: %s", store_dir,
                              crr_strerror(rc));
    if (!id) {
        crr_store_snapshots_foreach(store, s_last_id, want);
        if (!want[0]) {
            crr_store_close(&store);
            return crr_cli_fail(S_CMD, "no snapshots stored in %s", dir);
        }
        id = want;
    }
    Crrmon__V1__Snapshot *snap = NULL;
    rc = crr_store_snapshot_get(store, id, &snap);
    crr_store_close(&store);
    if (rc)
        return crr_cli_fail(S_CMD, "snapshot %s: %s", id,
                            rc == CRR_ENOTFOUND ? "not stored (see crrmon snapshots)"
                                                : crr_strerror(rc));
    const crr_sink_ops_t *ops = crr_sink_find(format);
    char tmp[PATH_MAX], path[PATH_MAX + 256];
    if (out) {
        snprintf(tmp, sizeof tmp, "%s.tmpdir-XXXXXX", out);
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/crrmon-export-XXXXXX", t && *t ? t : "/tmp");
    }
    int code = CRR_EXIT_FAIL;
    void *state = NULL;
    crr_diag_t d;
    crr_diag_clear(&d);
    union {
        max_align_t align;
        unsigned char bytes[CRR_SINK_CONFIG_MAX];
    } cfg;
    memset(&cfg, 0, sizeof cfg); /* every key empty: the folder is the section's */
    if (!ops || !mkdtemp(tmp)) {
        crr_cli_fail(S_CMD, "cannot make a temporary folder %s: %s", tmp, strerror(errno));
        crr_codec_free(&snap->base);
        return CRR_EXIT_FAIL;
    }
    crr_sink_section_t section = {format, tmp, cfg.bytes};
    char why[1024];
    if (ops->open(&section, &state, &d) != 0 || ops->write(state, snap, &d) != CRR_SINK_OK ||
        ops->locate(state, snap, path, sizeof path) != 0) {
        crr_cli_fail(S_CMD, "cannot render snapshot %s: %s", id,
                     crr_diag_format(&d, why, sizeof why));
    } else if (out ? rename(path, out) != 0 : s_cat(path) != 0 || fflush(stdout) != 0) {
        crr_cli_fail(S_CMD, "cannot write %s: %s", out ? out : "stdout", strerror(errno));
    } else {
        code = CRR_EXIT_OK;
    }
    if (state)
        ops->close(&state);
    unlink(path);
    rmdir(tmp);
    crr_codec_free(&snap->base);
    return code;
}

int crr_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'}, {"retry", required_argument, NULL, 'r'},
        {"snapshot", required_argument, NULL, 's'}, {"latest", no_argument, NULL, 'l'},
        {"format", required_argument, NULL, 'f'},   {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *sink = NULL, *id = NULL, *format = "jsonl", *out = NULL;
    int latest = 0;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'r': sink = optarg; break;
        case 's': id = optarg; break;
        case 'l': latest = 1; break;
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'h': s_usage(stdout); return CRR_EXIT_OK;
        case ':': return crr_cli_usage(S_CMD, "%s needs a value", argv[optind - 1]);
        default: return crr_cli_usage(S_CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return crr_cli_usage(S_CMD, "--data-dir is required");
    if ((id || latest) && sink)
        return crr_cli_usage(S_CMD, "--retry and --snapshot/--latest do different things: "
                                    "give one");
    if (id && latest)
        return crr_cli_usage(S_CMD, "give --snapshot ID or --latest, not both");
    if (id || latest) {
        if (strcmp(format, "jsonl") != 0 && strcmp(format, "csv") != 0)
            return crr_cli_usage(S_CMD, "--format is jsonl or csv, not '%s'", format);
        return s_reexport(dir, id, format, out);
    }
    if (!sink || !*sink || strlen(sink) >= CRR_OUTBOX_SINK_MAX)
        return crr_cli_usage(S_CMD, "--retry SINK is required (a sink instance name), or "
                                    "--snapshot ID / --latest");
    char store_dir[4096], data[4200];
    crr_datadir_path(store_dir, sizeof store_dir, dir, CRR_DATADIR_STORE);
    snprintf(data, sizeof data, "%s/data.mdb", store_dir);
    FILE *probe = fopen(data, "rb");
    if (!probe)
        return crr_cli_config(S_CMD, "no aggregator store in %s: %s", store_dir, strerror(errno));
    fclose(probe);
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    crr_outbox_dbs_t dbs;
    size_t n = 0;
    int rc = crr_lmdb_open(store_dir, 0, 16, 0, &env);
    if (rc == 0 && (rc = mdb_txn_begin(env, NULL, 0, &txn)) == 0) {
        if ((rc = crr_outbox_open(txn, &dbs)) == 0 &&
            (rc = crr_outbox_retry(txn, &dbs, sink, &n)) == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (env)
        mdb_env_close(env);
    if (rc)
        return crr_cli_fail(S_CMD, "cannot revive the dead deliveries of %s in %s: %s", sink,
                            store_dir, crr_strerror(rc));
    printf("%zu dead delivery(ies) of sink %s queued again\n", n, sink);
    return fflush(stdout) == 0 ? CRR_EXIT_OK : crr_cli_fail(S_CMD, "write error on stdout");
}
