/* test_errreport: collector/errreport: the header and the rows of a drop
 * folder's NAME.errors.csv written exactly, with RFC 4180 quoting of commas,
 * quotes and newlines, an empty line number for "unknown", the reject code's
 * short name, and no file written for a failed path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "crrmon/v1/ingest.pb-c.h"
#include "errreport.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmpdir_fixture.h"

FX_TMPDIR_FIXTURE("errreport")

static char *s_read(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_rows_quoted_exactly(void **state)
{
    (void)state;
    crr_errreport_t *r = crr_errreport_new();
    assert_non_null(r);
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
    char path[128];
    snprintf(path, sizeof path, "%s/x.errors.csv", s_dir);
    assert_int_equal(crr_errreport_write(r, path), 0);
    assert_string_equal(s_read(path), "file,line,field,value,reason,code\n"
                                      "\"drop/a,b.jsonl\",7,stop_search.outcome,\"x,y\","
                                      "\"bad \"\"value\"\"\nhere\",malformed\n"
                                      "drop/c.jsonl,,,,old,too_old\n");
    /* a folder that does not exist: an error, nothing written */
    snprintf(path, sizeof path, "%s/missing/x.errors.csv", s_dir);
    assert_int_equal(crr_errreport_write(r, path), -ENOENT);
    crr_errreport_free(&r);
    assert_null(r);
    crr_errreport_free(&r); /* idempotent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rows_quoted_exactly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
