/* test_lmdbx: operational faults at the LMDB edge: crr_strerror over the
 * positive errno values LMDB passes through (ENOSPC, EIO), and
 * crr_lmdb_open refusing damaged data files (empty, truncated, shorter than
 * its meta pages) with a code instead of a SIGBUS at the first read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "lmdbx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_strerror_positive_errno(void **state)
{
    (void)state;
    assert_string_equal(crr_strerror(ENOSPC), strerror(ENOSPC));
    assert_string_equal(crr_strerror(EIO), strerror(EIO));
    assert_string_equal(crr_strerror(EDQUOT), strerror(EDQUOT));
    assert_string_equal(crr_strerror(-ENOSPC), strerror(ENOSPC));
    assert_string_equal(crr_strerror(MDB_MAP_FULL), mdb_strerror(MDB_MAP_FULL));
    assert_non_null(strstr(crr_strerror(CRR_ETRUNCATED), "truncated"));
    assert_non_null(strstr(crr_strerror(CRR_EEMPTY), "empty"));
    assert_int_equal(crr_err_bad_data(CRR_ETRUNCATED), 1);
    assert_int_equal(crr_err_bad_data(CRR_EEMPTY), 1);
    assert_int_equal(crr_err_bad_data(MDB_INVALID), 1);
    assert_int_equal(crr_err_bad_data(MDB_CORRUPTED), 1);
    assert_int_equal(crr_err_bad_data(ENOSPC), 0);
    assert_int_equal(crr_err_bad_data(0), 0);
}

/* A fresh folder with an environment holding n values of 1 KiB. */
static void s_make_env(char *dir, size_t dirlen, int n)
{
    snprintf(dir, dirlen, "/tmp/crr-lmdbx-XXXXXX");
    assert_non_null(mkdtemp(dir));
    MDB_env *env;
    assert_int_equal(crr_lmdb_open(dir, 64 << 20, 4, 0, &env), 0);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(crr_lmdb_dbi(txn, "t", 0, &dbi), 0);
    char val[1024];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < n; i++) {
        uint8_t k[8];
        crr_be64_put(k, (uint64_t)i);
        MDB_val key = {8, k}, v = {sizeof val, val};
        assert_int_equal(mdb_put(txn, dbi, &key, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    crr_lmdb_size_t sz;
    assert_int_equal(crr_lmdb_size(env, &sz), 0);
    assert_true(sz.file_bytes >= sz.needed_bytes);
    assert_true(sz.needed_bytes == (sz.last_pgno + 1) * sz.page_size);
    mdb_env_close(env);
}

static void s_truncate(const char *dir, off_t size)
{
    char path[320];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    assert_int_equal(truncate(path, size), 0);
}

static void s_rm(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_open_refuses_truncated(void **state)
{
    (void)state;
    char dir[300];
    s_make_env(dir, sizeof dir, 2000);
    char path[320];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    MDB_env *env = NULL;
    /* a healthy file opens both ways */
    assert_int_equal(crr_lmdb_open(dir, 0, 4, MDB_RDONLY, &env), 0);
    mdb_env_close(env);
    s_truncate(dir, st.st_size / 2);
    assert_int_equal(crr_lmdb_open(dir, 64 << 20, 4, 0, &env), CRR_ETRUNCATED);
    assert_null(env);
    assert_int_equal(crr_lmdb_open(dir, 0, 4, MDB_RDONLY, &env), CRR_ETRUNCATED);
    assert_null(env);
    /* shorter than the two meta pages: LMDB itself says it is not an LMDB file */
    s_truncate(dir, 100);
    assert_int_equal(crr_lmdb_open(dir, 64 << 20, 4, 0, &env), MDB_INVALID);
    assert_null(env);
    s_rm(dir);
}

static void test_open_refuses_empty(void **state)
{
    (void)state;
    char dir[300];
    s_make_env(dir, sizeof dir, 10);
    s_truncate(dir, 0);
    MDB_env *env = NULL;
    assert_int_equal(crr_lmdb_open(dir, 64 << 20, 4, 0, &env), CRR_EEMPTY);
    assert_null(env);
    assert_int_equal(crr_lmdb_open(dir, 0, 4, MDB_RDONLY, &env), CRR_EEMPTY);
    /* a reader is never told to start empty */
    assert_int_equal(crr_lmdb_open(dir, 0, 4, MDB_RDONLY | CRR_LMDB_ALLOW_EMPTY, &env), CRR_EEMPTY);
    /* the writer may be: a new, empty environment */
    assert_int_equal(crr_lmdb_open(dir, 64 << 20, 4, CRR_LMDB_ALLOW_EMPTY, &env), 0);
    MDB_stat ms;
    assert_int_equal(mdb_env_stat(env, &ms), 0);
    assert_true(ms.ms_entries == 0); /* no named database any more */
    mdb_env_close(env);
    /* and it is a healthy file afterwards */
    assert_int_equal(crr_lmdb_open(dir, 64 << 20, 4, 0, &env), 0);
    mdb_env_close(env);
    s_rm(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_positive_errno),
        cmocka_unit_test(test_open_refuses_truncated),
        cmocka_unit_test(test_open_refuses_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
