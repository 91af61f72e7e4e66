/* cmd_backup: `crrmon backup` (a hot, compacted copy of a running
 * aggregator's LMDB store into one file) and `crrmon restore` (that file laid
 * out as a new data folder's store). A backup is a plain LMDB data file: the
 * configuration the aggregator records in its store (windows, max age,
 * reference data), the format version, every source's sequences and the
 * stored snapshots travel inside it. Owns nothing after return; the store's
 * format is common/store.c's, read here only through its public API. */
#include "cmd_backup.h"

#include "cli.h"
#include "datadir.h"
#include "err.h"
#include "lmdbx.h"
#include "refdata.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void s_backup_usage(FILE *out)
{
    fprintf(out, "usage: crrmon backup --data-dir DIR --out FILE\n\n"
                 "Copies the store of the aggregator whose data folder is DIR (DIR/store) into\n"
                 "FILE while it runs: a consistent, compacted copy (LMDB mdb_env_copy2 with\n"
                 "MDB_CP_COMPACT from one read transaction; ingest goes on meanwhile). FILE is\n"
                 "one LMDB data file holding every database, including the configuration the\n"
                 "aggregator recorded (windows, max age, reference data) and each source's\n"
                 "sequences. It is written as FILE.tmp, fsync'd and renamed, mode 0600.\n"
                 "Restore it with `crrmon restore FILE --data-dir NEW`.\n\n"
                 "  --data-dir DIR  the aggregator's data folder\n"
                 "  --out FILE      where to write the backup (replaced when it exists)\n"
                 "  --help          this text\n\n"
                 "Exit status: 0 written, 1 the copy or the write failed, 64 bad usage,\n"
                 "78 no store in DIR, or a damaged one.\n");
}

static void s_restore_usage(FILE *out)
{
    fprintf(out, "usage: crrmon restore FILE --data-dir NEW\n\n"
                 "Lays out FILE, written by `crrmon backup`, as NEW/store so that\n"
                 "`crrmon-aggregator --data-dir NEW` starts on it, then checks it (opened\n"
                 "read-only: size, format version) and prints the configuration it recorded and\n"
                 "each source's applied sequence. NEW must not hold a store and no daemon may\n"
                 "hold its lock. Collectors that had events acknowledged after the backup was\n"
                 "taken carry on under a fresh epoch and resend what their spools still hold;\n"
                 "events already released from a spool are not recovered (docs/OPERATIONS.md,\n"
                 "Backup and restore).\n\n"
                 "  --data-dir NEW  the new data folder (created when missing)\n"
                 "  --help          this text\n\n"
                 "Exit status: 0 restored, 1 an I/O error, 64 bad usage, 78 FILE is missing or\n"
                 "not a sound store this build reads (nothing is left in NEW), NEW already holds\n"
                 "a store, or NEW is locked by a running daemon.\n");
}

/* Parses --data-dir and the other option (--out for backup, none for
 * restore) plus at most one positional. Returns -1 to go on, else the exit
 * code (help or usage). */
static int s_parse(const char *cmd, int argc, char **argv, void (*usage)(FILE *), const char **dir,
                   const char **out, const char **pos)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': *dir = optarg; break;
        case 'o':
            if (!out)
                return crr_cli_usage(cmd, "unknown option '--out'");
            *out = optarg;
            break;
        case 'h': usage(stdout); return CRR_EXIT_OK;
        case ':': return crr_cli_usage(cmd, "%s needs a value", argv[optind - 1]);
        default: return crr_cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        if (!pos || optind + 1 < argc)
            return crr_cli_usage(cmd, "unexpected argument '%s'", argv[pos ? optind + 1 : optind]);
        *pos = argv[optind];
    }
    if (!*dir)
        return crr_cli_usage(cmd, "--data-dir is required");
    return -1;
}

int crr_cmd_backup(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL;
    int code = s_parse("backup", argc, argv, s_backup_usage, &dir, &out, NULL);
    if (code >= 0)
        return code;
    if (!out)
        return crr_cli_usage("backup", "--out FILE is required");
    char store_dir[4096], data[4200], tmp[4200];
    if (crr_datadir_path(store_dir, sizeof store_dir, dir, CRR_DATADIR_STORE) ||
        crr_datadir_path(data, sizeof data, store_dir, "data.mdb") ||
        snprintf(tmp, sizeof tmp, "%s.tmp", out) >= (int)sizeof tmp)
        return crr_cli_usage("backup", "path too long");
    struct stat st;
    if (stat(data, &st) != 0)
        return crr_cli_config("backup", "no aggregator store in %s (%s: %s)", dir, data,
                              strerror(errno));
    /* map size 0: LMDB takes the one recorded in the file, so the copy works
     * whatever map_size the running aggregator was given */
    MDB_env *env = NULL;
    int rc = crr_lmdb_open(store_dir, 0, 0, MDB_RDONLY, &env);
    if (rc)
        return crr_cli_config("backup", "cannot open the store in %s: %s", store_dir,
                              crr_strerror(rc));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        code = crr_cli_fail("backup", "cannot create %s: %s", tmp, strerror(errno));
        mdb_env_close(env);
        return code;
    }
    rc = mdb_env_copyfd2(env, fd, MDB_CP_COMPACT);
    mdb_env_close(env);
    if (rc == 0 && fsync(fd) != 0)
        rc = errno;
    off_t size = lseek(fd, 0, SEEK_END);
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    if (rc == 0 && rename(tmp, out) != 0)
        rc = errno;
    if (rc == 0)
        rc = -crr_datadir_sync_parent(out);
    if (rc) {
        unlink(tmp);
        return crr_cli_fail("backup", "cannot write %s: %s", out, mdb_strerror(rc));
    }
    printf("backup of %s written to %s (%lld bytes, compacted)\n", store_dir, out, (long long)size);
    return CRR_EXIT_OK;
}

/* Copies src to dst (created 0600, must not exist), then fsyncs it.
 * Returns 0 or an errno value. */
static int s_copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno;
    int outfd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (outfd < 0) {
        int e = errno;
        close(in);
        return e;
    }
    static char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno;
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(outfd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = errno;
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    if (rc == 0 && fsync(outfd) != 0)
        rc = errno;
    if (close(outfd) != 0 && rc == 0)
        rc = errno;
    close(in);
    return rc;
}

static int s_print_source(const crr_source_info_t *si, void *ud)
{
    (void)ud;
    printf("  source %s epoch %" PRIu64 ": applied up to seq %" PRIu64 " (%" PRIu64
           " events applied)\n",
           si->source_id, si->epoch, si->applied_seq, si->applied);
    return 0;
}

/* Prints what the restored store holds. Returns 0 or an LMDB code. */
static int s_describe(crr_store_t *store)
{
    size_t nw = 0;
    const unsigned *w = crr_store_windows(store, &nw);
    printf("recorded configuration: windows");
    for (size_t i = 0; i < nw; i++)
        printf("%s%u", i ? "," : " ", w[i]);
    printf(" days, max age %lld days, reference data %s\n",
           (long long)crr_store_max_age_days(store),
           crr_store_refdata(store) ? "recorded (population rates on)" : "none recorded");
    crr_store_stat_t st;
    int rc = crr_store_stat(store, &st);
    if (rc)
        return rc;
    printf("store: %" PRIu64 " day buckets, %" PRIu64 " record ids, %" PRIu64 " snapshots, %" PRIu64
           " rejects\n",
           st.agg_keys, st.record_ids, st.snapshots, st.rejects);
    return crr_store_sources_foreach(store, s_print_source, NULL);
}

int crr_cmd_restore(int argc, char **argv)
{
    const char *dir = NULL, *file = NULL;
    int code = s_parse("restore", argc, argv, s_restore_usage, &dir, NULL, &file);
    if (code >= 0)
        return code;
    if (!file)
        return crr_cli_usage("restore", "the backup FILE is required");
    char store_dir[4096], data[4200], tmp[4200], lockf[4200];
    if (crr_datadir_path(store_dir, sizeof store_dir, dir, CRR_DATADIR_STORE) ||
        crr_datadir_path(data, sizeof data, store_dir, "data.mdb") ||
        crr_datadir_path(tmp, sizeof tmp, store_dir, "data.mdb.tmp") ||
        crr_datadir_path(lockf, sizeof lockf, store_dir, "lock.mdb"))
        return crr_cli_usage("restore", "path too long");
    struct stat st;
    if (stat(file, &st) != 0)
        return crr_cli_config("restore", "cannot read %s: %s", file, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return crr_cli_config("restore", "%s is not a file written by crrmon backup", file);
    int lock = -1;
    long holder = 0;
    int rc = crr_datadir_lock(dir, &lock, &holder);
    if (rc == CRR_ELOCKED) {
        char pid[32];
        return crr_cli_config("restore",
                              "%s is in use (pid %s holds %s/%s): stop that daemon or restore "
                              "into another folder",
                              dir, crr_datadir_holder_text(holder, pid, sizeof pid), dir,
                              CRR_DATADIR_LOCK);
    }
    if (rc)
        return crr_cli_config("restore", "cannot use data folder %s: %s", dir, crr_strerror(rc));
    if (stat(data, &st) == 0) {
        crr_datadir_unlock(&lock);
        return crr_cli_config("restore",
                              "%s already holds a store (%s): restore into a new folder, or "
                              "move that one aside first",
                              dir, data);
    }
    if ((rc = crr_datadir_mkdirs(store_dir)) != 0) {
        crr_datadir_unlock(&lock);
        return crr_cli_config("restore", "cannot create %s: %s", store_dir, crr_strerror(rc));
    }
    unlink(tmp); /* left by an interrupted restore */
    if ((rc = s_copy_file(file, tmp)) != 0 || (rename(tmp, data) != 0 && (rc = errno) != 0) ||
        (rc = -crr_datadir_sync_parent(data)) != 0) {
        unlink(tmp);
        crr_datadir_unlock(&lock);
        return crr_cli_fail("restore", "cannot copy %s to %s: %s", file, data, strerror(rc));
    }
    crr_store_t *store = NULL;
    crr_store_opts_t so = {.readonly = 1};
    rc = crr_store_open(store_dir, &so, &store);
    if (rc) {
        /* not a store this build can run on: leave nothing an aggregator would open */
        unlink(data);
        unlink(lockf);
        crr_datadir_unlock(&lock);
        return crr_cli_config("restore", "%s is not a sound crrmon store: %s (nothing restored)",
                              file,
                              rc == CRR_EVERSION   ? "written by a newer crrmon"
                              : rc == MDB_NOTFOUND ? "it holds no crrmon store"
                                                   : crr_strerror(rc));
    }
    printf("restored %s into %s\n", file, store_dir);
    rc = s_describe(store);
    crr_store_close(&store);
    crr_datadir_unlock(&lock);
    if (rc)
        return crr_cli_fail("restore", "cannot read the restored store: %s", crr_strerror(rc));
    printf("start the aggregator with --data-dir %s; collectors whose acknowledged events are "
           "not in it carry on under a new epoch\n",
           dir);
    return CRR_EXIT_OK;
}
