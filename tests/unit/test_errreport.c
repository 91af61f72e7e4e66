/* test_errreport: collector/errreport, the error report CSV: the header
 * row, one row per problem with every cell quoted (commas and quotes inside
 * survive; a newline or invalid UTF-8 becomes '?', one row per line), a
 * "more problems" row, the file appearing only at close (NAME.tmp renamed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

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
    crr_problems_t p;
    crr_problems_clear(&p);
    crr_problems_add(&p, "in.csv", 3, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "a.b",
                     "x,\"y\"\nz", "bad %s", "cell");
    crr_problems_add(&p, "in.csv", 3, CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH,
                     "borough", "E\xff", "not \xc3(utf-8");
    p.more = 4;
    assert_int_equal(crr_errreport_add_problems(r, &p), 0);
    assert_int_equal(crr_errreport_rows(r), 3);
    assert_int_equal(access(path, F_OK), -1); /* not there before close */
    assert_int_equal(access(tmp, F_OK), 0);
    assert_int_equal(crr_errreport_close(&r), 0);
    assert_null(r);
    assert_int_equal(access(tmp, F_OK), -1);
    s_slurp(path, got, sizeof got);
    assert_string_equal(got,
                        "file,line,field,value,reason,code\n"
                        "\"in.csv\",\"3\",\"a.b\",\"x,\"\"y\"\"?z\",\"bad cell\",\"malformed\"\n"
                        "\"in.csv\",\"3\",\"borough\",\"E?\",\"not ?(utf-8\",\"unknown_borough\"\n"
                        "\"in.csv\",\"3\",\"\",\"\",\"4 more problems on this line not "
                        "listed\",\"malformed\"\n");
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
