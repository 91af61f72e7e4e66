/* test_errreport: collector/errreport (the subset this branch carries; the
 * CSV input work's test covers the whole module): the header row, one row
 * per diag with every cell quoted (commas and quotes survive, a newline
 * becomes '?'), an empty line number for "unknown", the file appearing only
 * at close (NAME.tmp renamed), an unwritable folder refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "crrmon/v1/ingest.pb-c.h"
#include "errreport.h"
#include "tmpdir_fixture.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

FX_TMPDIR_FIXTURE("errreport")

static void s_slurp(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_rows_quoted_and_renamed_at_close(void **state)
{
    (void)state;
    char path[128], tmp[140], got[4096];
    snprintf(path, sizeof path, "%s/in.errors.csv", s_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    crr_errreport_t *r = NULL;
    assert_int_equal(crr_errreport_open(path, &r), 0);
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "drop/a,b.jsonl");
    d.line = 7;
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "stop_search.outcome",
                 "bad \"value\"\nhere");
    assert_int_equal(crr_errreport_add(r, &d, "x,y"), 0);
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "drop/c.jsonl");
    crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_TOO_OLD, "", "old");
    assert_int_equal(crr_errreport_add(r, &d, NULL), 0);
    assert_int_equal(crr_errreport_rows(r), 2);
    assert_int_equal(access(path, F_OK), -1); /* not there before close */
    assert_int_equal(access(tmp, F_OK), 0);
    assert_int_equal(crr_errreport_close(&r), 0);
    assert_null(r);
    assert_int_equal(access(tmp, F_OK), -1);
    s_slurp(path, got, sizeof got);
    assert_string_equal(got, "file,line,field,value,reason,code\n"
                             "\"drop/a,b.jsonl\",\"7\",\"stop_search.outcome\",\"x,y\","
                             "\"bad \"\"value\"\"?here\",\"malformed\"\n"
                             "\"drop/c.jsonl\",\"\",\"\",\"\",\"old\",\"too_old\"\n");
    assert_int_equal(crr_errreport_close(&r), 0); /* idempotent */
}

static void test_unwritable_folder(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/no/such/folder.csv", s_dir);
    crr_errreport_t *r = NULL;
    assert_true(crr_errreport_open(path, &r) < 0);
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows_quoted_and_renamed_at_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_folder, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
