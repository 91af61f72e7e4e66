/* lmdbx: environment opening and key encoding shared by the aggregator store,
 * the collector spool and the CLI. Owns nothing after return. */
#include "lmdbx.h"

#include "log.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static int s_mkdir_p(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int crr_lmdb_open(const char *dir, uint64_t map_size, unsigned max_dbs, unsigned flags,
                  MDB_env **out)
{
    *out = NULL;
    int rc;
    if (!(flags & MDB_RDONLY) && (rc = s_mkdir_p(dir)) != 0)
        return rc;
    MDB_env *env;
    if ((rc = mdb_env_create(&env)) != 0)
        return rc;
    if ((rc = mdb_env_set_mapsize(env, (size_t)map_size)) != 0 ||
        (rc = mdb_env_set_maxdbs(env, max_dbs)) != 0 ||
        (rc = mdb_env_set_maxreaders(env, 254)) != 0 ||
        (rc = mdb_env_open(env, dir, flags | MDB_NOTLS, 0640)) != 0) {
        mdb_env_close(env);
        return rc;
    }
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
