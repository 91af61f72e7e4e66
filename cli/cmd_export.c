/* cmd_export: `crrmon export --retry SINK` (see cmd_export.h). Opens the
 * aggregator's LMDB environment writable for one short transaction; LMDB's
 * writer lock (in lock.mdb, shared between processes) serialises it with the
 * running aggregator, which need not stop. Does not write any sink itself:
 * the aggregator's delivery thread does, in order. */
#include "cmd_export.h"

#include "cli.h"
#include "datadir.h"
#include "err.h"
#include "lmdbx.h"
#include "outbox.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define S_CMD "export"

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon export --data-dir AGGDIR --retry SINK\n\n"
                 "--retry SINK makes every dead snapshot delivery of sink instance SINK (one that\n"
                 "failed aggregator.delivery_max_attempts times, or was refused for good) pending\n"
                 "again; the running aggregator delivers them in snapshot order within a second.\n"
                 "`crrmon status` shows the dead deliveries per sink.\n\n"
                 "  --data-dir DIR  the aggregator's data folder (DIR/store)\n"
                 "  --retry SINK    the sink instance name (as in aggregator.sinks)\n"
                 "  --help          this text\n");
}

int crr_cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"retry", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *sink = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'r': sink = optarg; break;
        case 'h': s_usage(stdout); return CRR_EXIT_OK;
        case ':': return crr_cli_usage(S_CMD, "%s needs a value", argv[optind - 1]);
        default: return crr_cli_usage(S_CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return crr_cli_usage(S_CMD, "--data-dir is required");
    if (!sink || !*sink || strlen(sink) >= CRR_OUTBOX_SINK_MAX)
        return crr_cli_usage(S_CMD, "--retry SINK is required (a sink instance name)");
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
