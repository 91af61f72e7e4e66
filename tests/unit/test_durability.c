/* test_durability: the promise behind every Ack, checked on the environments
 * themselves. The aggregator's store (crr_store_open) and the collector's
 * spool (crr_spool_open) must never run with MDB_NOSYNC, MDB_NOMETASYNC or
 * MDB_MAPASYNC: any of them lets a commit return before its pages (or its
 * meta page) are on disk, so an Ack or a spooled line could be lost by a
 * power cut. Read back with mdb_env_get_flags after open and after a
 * committed write (a flag switched on for a bulk path would show there).
 * tests/e2e/test_promises.py checks the same promise from outside: a data
 * sync between a batch's arrival and its Ack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "clock.h"
#include "spool.h"
#include "store.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_ASYNC_FLAGS (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC)

static void s_rm_rf(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
}

static void s_assert_synced(MDB_env *env)
{
    unsigned flags = 0;
    assert_int_equal(mdb_env_get_flags(env, &flags), 0);
    assert_int_equal(flags & MDB_NOSYNC, 0);
    assert_int_equal(flags & MDB_NOMETASYNC, 0);
    assert_int_equal(flags & MDB_MAPASYNC, 0);
    assert_int_equal(flags & S_ASYNC_FLAGS, 0);
}

static void test_store_syncs(void **state)
{
    (void)state;
    char dir[] = "/tmp/crr_durable_store_XXXXXX";
    assert_non_null(mkdtemp(dir));
    crr_store_t *s = NULL;
    assert_int_equal(crr_store_open(dir, NULL, &s), 0);
    s_assert_synced(crr_store_env(s));
    assert_int_equal(crr_store_record_config(s, NULL), 0);
    s_assert_synced(crr_store_env(s));
    crr_store_close(&s);
    /* and the same store reopened */
    assert_int_equal(crr_store_open(dir, NULL, &s), 0);
    s_assert_synced(crr_store_env(s));
    crr_store_close(&s);
    s_rm_rf(dir);
}

static void test_spool_syncs(void **state)
{
    (void)state;
    char dir[] = "/tmp/crr_durable_spool_XXXXXX";
    assert_non_null(mkdtemp(dir));
    crr_spool_opts_t o = {.dir = dir, .source_id = "borough-a", .max_bytes = 1 << 20};
    crr_spool_t *s = NULL;
    assert_int_equal(crr_spool_open(&o, &s), 0);
    s_assert_synced(crr_spool_env(s));
    /* any bytes will do for a sync check: a bodiless event the edge would reject */
    Crrmon__V1__Event e = CRRMON__V1__EVENT__INIT;
    e.borough = "E09000001";
    assert_int_equal(crr_spool_begin(s), 0);
    assert_int_equal(crr_spool_append(s, &e, "a.jsonl", 1, NULL), 0);
    assert_int_equal(crr_spool_commit(s), 0);
    s_assert_synced(crr_spool_env(s));
    crr_spool_close(&s);
    assert_int_equal(crr_spool_open(&o, &s), 0);
    s_assert_synced(crr_spool_env(s));
    crr_spool_close(&s);
    s_rm_rf(dir);
}

int main(void)
{
    setenv("CRRMON_NOW", "2026-03-01T12:00:00Z", 1);
    crr_clock_reset();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_syncs),
        cmocka_unit_test(test_spool_syncs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
