/* lmdbx: environment opening and key encoding shared by the aggregator store,
 * the collector spool and the CLI. Owns nothing after return. */
#include "lmdbx.h"

#include "datadir.h"
#include "err.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* Refuses an existing data.mdb of 0 bytes (LMDB would silently start a new,
 * empty environment in it). A missing file is a new environment. */
static int s_check_empty(const char *dir, unsigned flags)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size > 0)
        return 0;
    if ((flags & CRR_LMDB_ALLOW_EMPTY) && !(flags & MDB_RDONLY)) {
        CRR_WARN("%s is empty (0 bytes): starting with an empty environment as told", path);
        return 0;
    }
    CRR_ERROR("%s is empty (0 bytes): its data is lost (a failed copy, a truncation, a full "
              "disk?); restore it from a backup, or remove it to start empty",
              path);
    return CRR_EEMPTY;
}

int crr_lmdb_size(MDB_env *env, crr_lmdb_size_t *out)
{
    memset(out, 0, sizeof *out);
    MDB_envinfo info;
    MDB_stat ms;
    int rc, fd;
    if ((rc = mdb_env_info(env, &info)) != 0 || (rc = mdb_env_stat(env, &ms)) != 0 ||
        (rc = mdb_env_get_fd(env, &fd)) != 0)
        return rc;
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -errno;
    out->file_bytes = (uint64_t)st.st_size;
    out->page_size = ms.ms_psize;
    out->last_pgno = info.me_last_pgno;
    out->needed_bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    return 0;
}

/* Pages on LMDB's free list that the next write txn may reuse (records of
 * FREE_DBI, keyed by the txn that freed them, each a count followed by page
 * numbers; what the last committed txn freed waits one more txn), read in a
 * read txn of its own. */
static int s_free_pages(MDB_env *env, uint64_t *pages)
{
    *pages = 0;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, 0, &cur)) == 0) {
        size_t last = mdb_txn_id(txn), freed_by = 0;
        MDB_val k, d;
        while ((rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) == 0) {
            size_t n = 0;
            if (k.mv_size == sizeof freed_by)
                memcpy(&freed_by, k.mv_data, sizeof freed_by);
            if (freed_by >= last)
                break;
            if (d.mv_size >= sizeof n)
                memcpy(&n, d.mv_data, sizeof n);
            *pages += n;
        }
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    mdb_txn_abort(txn);
    return rc;
}

int crr_lmdb_headroom(MDB_env *env, uint64_t grow_bytes)
{
    crr_lmdb_size_t sz;
    MDB_envinfo info;
    int rc, fd;
    if ((rc = crr_lmdb_size(env, &sz)) || (rc = mdb_env_info(env, &info)) ||
        (rc = mdb_env_get_fd(env, &fd)))
        return rc;
    uint64_t reserve = (32 + (sz.last_pgno + 1) / 256) * sz.page_size;
    uint64_t want = grow_bytes + reserve;
    uint64_t tail = sz.file_bytes > sz.needed_bytes ? sz.file_bytes - sz.needed_bytes : 0;
    if (tail >= want)
        return 0;
    uint64_t free_pages = 0;
    if ((rc = s_free_pages(env, &free_pages)))
        return rc;
    if (tail + free_pages * sz.page_size >= want)
        return 0;
    uint64_t end = sz.needed_bytes + want - free_pages * sz.page_size;
    if (end > info.me_mapsize)
        return MDB_MAP_FULL;
    /* grow by an eighth more (at least 1 MiB) so that fallocate is rare */
    uint64_t more = end / 8 > (1u << 20) ? end / 8 : (1u << 20);
    uint64_t ahead = end + more > info.me_mapsize ? info.me_mapsize : end + more;
    if (posix_fallocate(fd, 0, (off_t)ahead) == 0)
        return 0;
    rc = posix_fallocate(fd, 0, (off_t)end);
    return rc == EINVAL || rc == EOPNOTSUPP ? 0 : rc; /* no fallocate here: LMDB finds out */
}

/* After mdb_env_open has read the two meta pages (with read(), so a short
 * file fails there with MDB_INVALID): the file must hold every page up to
 * the meta page's last one, or the first read of a missing page is SIGBUS. */
static int s_check_size(MDB_env *env, const char *dir)
{
    crr_lmdb_size_t sz;
    int rc = crr_lmdb_size(env, &sz);
    if (rc)
        return rc;
    if (sz.file_bytes >= sz.needed_bytes)
        return 0;
    CRR_ERROR("%s/data.mdb is %llu bytes but LMDB's meta page says it holds %llu pages of %llu "
              "bytes (%llu bytes): the file is truncated or damaged; restore it from a backup "
              "(crrmon verify --data-dir checks a copy)",
              dir, (unsigned long long)sz.file_bytes, (unsigned long long)sz.last_pgno + 1,
              (unsigned long long)sz.page_size, (unsigned long long)sz.needed_bytes);
    return CRR_ETRUNCATED;
}

int crr_lmdb_open(const char *dir, uint64_t map_size, unsigned max_dbs, unsigned flags,
                  MDB_env **out)
{
    return crr_lmdb_open_readers(dir, map_size, max_dbs, CRR_LMDB_MAX_READERS, flags, out);
}

int crr_lmdb_open_readers(const char *dir, uint64_t map_size, unsigned max_dbs,
                          unsigned max_readers, unsigned flags, MDB_env **out)
{
    *out = NULL;
    int rc;
    if (!(flags & MDB_RDONLY) && (rc = crr_datadir_mkdirs(dir)) != 0)
        return rc;
    if ((rc = s_check_empty(dir, flags)) != 0)
        return rc;
    flags &= ~CRR_LMDB_ALLOW_EMPTY;
    MDB_env *env;
    if ((rc = mdb_env_create(&env)) != 0)
        return rc;
    if ((rc = mdb_env_set_mapsize(env, (size_t)map_size)) != 0 ||
        (rc = mdb_env_set_maxdbs(env, max_dbs)) != 0 ||
        (rc = mdb_env_set_maxreaders(env, max_readers)) != 0 ||
        (rc = mdb_env_open(env, dir, flags | MDB_NOTLS, 0640)) != 0 ||
        (rc = s_check_size(env, dir)) != 0) {
        if (rc == MDB_INVALID)
            CRR_ERROR("%s/data.mdb is not an LMDB file, or shorter than its two meta pages: "
                      "restore it from a backup",
                      dir);
        mdb_env_close(env);
        return rc;
    }
    unsigned slots = 0; /* a lock file another process made first keeps its size */
    if (mdb_env_get_maxreaders(env, &slots) == 0 && slots < max_readers)
        CRR_WARN("%s/lock.mdb has %u reader slots, fewer than the %u asked for: it was created "
                 "by a process that still has it open; restart once none does",
                 dir, slots, max_readers);
    int dead = 0;
    mdb_reader_check(env, &dead);
    if (dead)
        CRR_INFO("cleared %d stale LMDB reader slot(s) in %s", dead, dir);
    *out = env;
    return 0;
}

int crr_lmdb_dbi(MDB_txn *txn, const char *name, unsigned flags, MDB_dbi *out)
{
    MDB_env *env = mdb_txn_env(txn);
    unsigned envflags = 0;
    mdb_env_get_flags(env, &envflags);
    if (!(envflags & MDB_RDONLY))
        flags |= MDB_CREATE;
    return mdb_dbi_open(txn, name, flags, out);
}

void crr_be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

uint64_t crr_be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void crr_be32_put(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

uint32_t crr_be32_get(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | p[i];
    return v;
}
