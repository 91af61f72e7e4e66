/* test_rejects: common/rejects' read-only listing of a data folder
 * (crr_rejects_list_dir, behind `crrmon rejects`): the most recent N oldest
 * first, everything with 0, "never stored" and "cannot open" told apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "lmdbx.h"
#include "rejects.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdir_fixture.h"

FX_TMPDIR_FIXTURE("rejects")

/* Writes n rejects (seq 1..n) into env dir/sub; n = 0 writes none. */
static void s_write(const char *sub, unsigned n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", s_dir, sub);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(crr_lmdb_open(path, 1 << 20, 8, 0, &env), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    if (n)
        assert_int_equal(crr_lmdb_dbi(txn, CRR_REJECTS_DB, MDB_CREATE, &dbi), 0);
    for (unsigned i = 1; i <= n; i++) {
        crr_diag_t d = {0};
        d.code = 1;
        snprintf(d.field, sizeof d.field, "occurred_at");
        snprintf(d.reason, sizeof d.reason, "reason %u", i);
        crr_reject_t r = {.at_sec = 1000, .source_id = "s", .seq = i, .diag = &d};
        assert_int_equal(crr_rejects_put(txn, dbi, &r), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

typedef struct {
    char seqs[64];
} s_seen_t;

static int s_fn(const char *json, size_t len, void *ud)
{
    s_seen_t *s = ud;
    char buf[1024];
    assert_true(len < sizeof buf);
    memcpy(buf, json, len);
    buf[len] = 0;
    const char *p = strstr(buf, "\"seq\":\"");
    assert_non_null(p);
    size_t n = strlen(s->seqs);
    snprintf(s->seqs + n, sizeof s->seqs - n, "%c,", p[7]);
    return 0;
}

static void test_lists_the_most_recent_oldest_first(void **state)
{
    (void)state;
    s_write("store", 5);
    char path[128];
    snprintf(path, sizeof path, "%s/store", s_dir);
    crr_rejects_stage_t st;
    s_seen_t seen = {{0}};
    assert_int_equal(crr_rejects_list_dir(path, 2, s_fn, &seen, &st), 0);
    assert_string_equal(seen.seqs, "4,5,");
    memset(&seen, 0, sizeof seen);
    assert_int_equal(crr_rejects_list_dir(path, 0, s_fn, &seen, &st), 0);
    assert_string_equal(seen.seqs, "1,2,3,4,5,");
}

static void test_never_stored_and_cannot_open(void **state)
{
    (void)state;
    s_write("spool", 0);
    char path[128];
    snprintf(path, sizeof path, "%s/spool", s_dir);
    crr_rejects_stage_t st;
    s_seen_t seen = {{0}};
    assert_int_equal(crr_rejects_list_dir(path, 0, s_fn, &seen, &st), CRR_ENOTFOUND);
    assert_int_equal(st, CRR_REJECTS_AT_DB);
    assert_string_equal(seen.seqs, "");
    snprintf(path, sizeof path, "%s/absent", s_dir);
    assert_int_not_equal(crr_rejects_list_dir(path, 0, s_fn, &seen, &st), 0);
    assert_int_equal(st, CRR_REJECTS_AT_OPEN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lists_the_most_recent_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_stored_and_cannot_open, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
