/* cmd_verify: walks the LMDB environments of a data folder read-only and
 * reports entries per database and every problem found. The size check
 * (a truncated file would be SIGBUS at the first read past its end) is
 * crr_lmdb_open's; this file adds the walk: every key and value is read
 * (their bytes summed, so each page is really touched) and the count is
 * compared with the one LMDB keeps in the database's header. Owns nothing
 * after return. */
#include "cmd_verify.h"

#include "cli.h"
#include "datadir.h"
#include "err.h"
#include "lmdbx.h"

#include <getopt.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define S_CMD "verify"
#define S_MAX_DBS 64 /* named databases a walk opens at most */

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon verify --data-dir DIR\n\n"
                 "Checks the LMDB files of an aggregator (DIR/store) or a collector (DIR/spool)\n"
                 "read-only: the file size against LMDB's own record of it, then every named\n"
                 "database walked entry by entry. Prints the entries of each database and every\n"
                 "problem. Safe beside a running daemon.\n\n"
                 "  --data-dir DIR  the data folder (or an LMDB folder holding data.mdb)\n"
                 "  --help          this text\n\n"
                 "Exit status: 0 every file is sound, 1 a problem was found (or nothing to\n"
                 "check), 64 bad usage.\n");
}

/* Walks one database: reads every entry, compares the count with mdb_stat's.
 * Returns the number of problems (0 or 1). */
static int s_walk_db(MDB_txn *txn, const char *env_dir, const char *name)
{
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, name, 0, &dbi);
    if (rc) {
        printf("%s: %s: PROBLEM: cannot open: %s\n", env_dir, name, crr_strerror(rc));
        return 1;
    }
    MDB_stat ms;
    MDB_cursor *cur;
    if ((rc = mdb_stat(txn, dbi, &ms)) || (rc = mdb_cursor_open(txn, dbi, &cur))) {
        printf("%s: %s: PROBLEM: %s\n", env_dir, name, crr_strerror(rc));
        return 1;
    }
    MDB_val k, v;
    uint64_t n = 0, sum = 0;
    while ((rc = mdb_cursor_get(cur, &k, &v, n ? MDB_NEXT : MDB_FIRST)) == 0) {
        n++;
        const unsigned char *p = k.mv_data;
        for (size_t i = 0; i < k.mv_size; i++)
            sum += p[i];
        p = v.mv_data;
        for (size_t i = 0; i < v.mv_size; i++)
            sum += p[i];
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        printf("%s: %s: PROBLEM: walk stopped after %llu entries: %s\n", env_dir, name,
               (unsigned long long)n, crr_strerror(rc));
        return 1;
    }
    if (n != ms.ms_entries) {
        printf("%s: %s: PROBLEM: %llu entries walked, LMDB counts %llu\n", env_dir, name,
               (unsigned long long)n, (unsigned long long)ms.ms_entries);
        return 1;
    }
    printf("%s: %-12s %llu entries (%llu pages, checksum %llu)\n", env_dir, name,
           (unsigned long long)n,
           (unsigned long long)(ms.ms_branch_pages + ms.ms_leaf_pages + ms.ms_overflow_pages),
           (unsigned long long)(sum & 0xffffffffu));
    return 0;
}

/* Lists the named databases (the main database's keys) into names. Returns
 * the count, or a negative LMDB code with *rc_out set. */
static int s_list_dbs(MDB_txn *txn, char names[][128], int max, int *rc_out)
{
    MDB_dbi main_dbi;
    MDB_cursor *cur;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0)
        rc = mdb_cursor_open(txn, main_dbi, &cur);
    if (rc) {
        *rc_out = rc;
        return -1;
    }
    int n = 0;
    MDB_val k, v;
    while (n < max && (rc = mdb_cursor_get(cur, &k, &v, n ? MDB_NEXT : MDB_FIRST)) == 0) {
        size_t len = k.mv_size < 127 ? k.mv_size : 127;
        memcpy(names[n], k.mv_data, len);
        names[n][len] = '\0';
        n++;
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND && n < max) {
        *rc_out = rc;
        return -1;
    }
    return n;
}

/* Checks one environment. Returns the number of problems found. */
static int s_verify_env(const char *env_dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", env_dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("%s: PROBLEM: no data.mdb\n", env_dir);
        return 1;
    }
    MDB_env *env = NULL;
    int rc = crr_lmdb_open(env_dir, 0, S_MAX_DBS, MDB_RDONLY, &env);
    if (rc) {
        printf("%s: PROBLEM: data.mdb (%llu bytes) cannot be opened: %s\n", env_dir,
               (unsigned long long)st.st_size, crr_strerror(rc));
        return 1;
    }
    crr_lmdb_size_t sz;
    if ((rc = crr_lmdb_size(env, &sz)) == 0)
        printf("%s: data.mdb %llu bytes, LMDB needs %llu (%llu pages of %llu)\n", env_dir,
               (unsigned long long)sz.file_bytes, (unsigned long long)sz.needed_bytes,
               (unsigned long long)sz.last_pgno + 1, (unsigned long long)sz.page_size);
    MDB_txn *txn = NULL;
    int problems = 0;
    if (rc || (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
        printf("%s: PROBLEM: cannot read: %s\n", env_dir, crr_strerror(rc));
        mdb_env_close(env);
        return 1;
    }
    static char names[S_MAX_DBS][128];
    int n = s_list_dbs(txn, names, S_MAX_DBS, &rc);
    if (n < 0) {
        printf("%s: PROBLEM: cannot list the databases: %s\n", env_dir, crr_strerror(rc));
        problems++;
    }
    for (int i = 0; i < n; i++)
        problems += s_walk_db(txn, env_dir, names[i]);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    printf("%s: %s (%d database(s))\n", env_dir, problems ? "PROBLEMS FOUND" : "ok", n < 0 ? 0 : n);
    return problems;
}

static int s_is_env(const char *dir)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int crr_cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return crr_cli_usage(S_CMD, "--data-dir is required");
    int found = 0, problems = 0;
    if (s_is_env(dir)) {
        found++;
        problems += s_verify_env(dir);
    }
    static const char *const kinds[] = {CRR_DATADIR_STORE, CRR_DATADIR_SPOOL};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char env_dir[4000];
        crr_datadir_path(env_dir, sizeof env_dir, dir, kinds[i]);
        if (!s_is_env(env_dir))
            continue;
        found++;
        problems += s_verify_env(env_dir);
    }
    if (!found)
        return crr_cli_fail(S_CMD,
                            "%s holds no LMDB file (neither store/data.mdb nor "
                            "spool/data.mdb)",
                            dir);
    if (fflush(stdout) != 0)
        return crr_cli_fail(S_CMD, "write error on stdout");
    if (problems)
        fprintf(stderr, "crrmon verify: %d problem(s) found in %s\n", problems, dir);
    return problems ? CRR_EXIT_FAIL : CRR_EXIT_OK;
}
