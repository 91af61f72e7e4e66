/* test_refdata: reference-data CSV loading (state/refdata, common/csvread)
 * against the shipped files and against bad files, which must fail naming
 * file, line and field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "refdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[256];

static const char *s_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", s_dir, name);
    return p;
}

static const char *s_write(const char *name, const char *text)
{
    const char *p = s_path(name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *s_src(const char *rel)
{
    static char p[1024];
    const char *src = getenv("CRR_SOURCE_DIR");
    snprintf(p, sizeof p, "%s/%s", src ? src : "..", rel);
    return p;
}

static void test_shipped_files(void **state)
{
    (void)state;
    crr_refdata_t r;
    crr_diag_t d;
    crr_refdata_clear(&r);
    assert_int_equal(crr_refdata_load_boroughs(&r, s_src("data/london_boroughs.csv"), &d), 0);
    assert_int_equal(
        crr_refdata_load_population(&r, s_src("data/population_ethnicity_census2021.csv"), &d), 0);
    for (int b = 0; b < CRR_REF_BOROUGHS; b++) {
        assert_true(r.have_borough[b]);
        assert_true(r.have_population[b]);
    }
    assert_string_equal(r.borough_name[0], "City of London");
    /* City of London: TS021 total 8,584 (data/SOURCES.md) */
    assert_true(crr_refdata_total(&r, 0) == 8584.0);
    assert_true(r.population[0][1] == 5955.0); /* WHITE */
}

static void test_bad_rows(void **state)
{
    (void)state;
    crr_refdata_t r;
    crr_diag_t d;
    crr_refdata_clear(&r);
    const char *hdr = "borough_code,borough_name,ethnicity,population\n";
    char text[512];

    snprintf(text, sizeof text, "%sE09000001,City,WHITE,10\nE09000099,Nowhere,WHITE,5\n", hdr);
    assert_int_equal(crr_refdata_load_population(&r, s_write("p1.csv", text), &d), CRR_EPARSE);
    assert_int_equal(d.line, 3);
    assert_string_equal(d.field, "borough_code");
    assert_string_equal(d.file, s_path("p1.csv"));

    snprintf(text, sizeof text, "%sE09000001,City,WHITE,ten\n", hdr);
    assert_int_equal(crr_refdata_load_population(&r, s_write("p2.csv", text), &d), CRR_EPARSE);
    assert_int_equal(d.line, 2);
    assert_string_equal(d.field, "population");

    snprintf(text, sizeof text, "%sE09000001,City,PURPLE,10\n", hdr);
    assert_int_equal(crr_refdata_load_population(&r, s_write("p3.csv", text), &d), CRR_EPARSE);
    assert_string_equal(d.field, "ethnicity");

    /* a quoted newline: the bad row after it is on line 4 */
    snprintf(text, sizeof text,
             "%sE09000001,\"City\nof London\",WHITE,10\nE09000001,City,WHITE,11\n", hdr);
    assert_int_equal(crr_refdata_load_population(&r, s_write("p4.csv", text), &d), CRR_EPARSE);
    assert_int_equal(d.line, 4);

    assert_int_equal(crr_refdata_load_population(&r, s_write("p5.csv", "code,name\n"), &d),
                     CRR_EPARSE);
    assert_int_equal(d.line, 1);

    /* nothing was kept from the failed loads */
    for (int b = 0; b < CRR_REF_BOROUGHS; b++)
        assert_false(r.have_population[b]);
    assert_true(crr_refdata_total(&r, 0) < 0);
}

static void test_missing_group_is_unavailable(void **state)
{
    (void)state;
    crr_refdata_t r;
    crr_diag_t d;
    crr_refdata_clear(&r);
    const char *text = "borough_code,borough_name,ethnicity,population\n"
                       "E09000002,B,WHITE,1\nE09000002,B,MIXED,1\nE09000002,B,ASIAN,1\n"
                       "E09000002,B,BLACK,1\n";
    assert_int_equal(crr_refdata_load_population(&r, s_write("p6.csv", text), &d), 0);
    assert_false(r.have_population[1]);
    assert_true(crr_refdata_total(&r, 1) < 0);
}

static void test_missing_file(void **state)
{
    (void)state;
    crr_refdata_t r;
    crr_diag_t d;
    crr_refdata_clear(&r);
    assert_true(crr_refdata_load_boroughs(&r, s_path("absent.csv"), &d) < 0);
    assert_string_equal(d.file, s_path("absent.csv"));
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/crr-refdata-XXXXXX");
    if (!mkdtemp(s_dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_files),
        cmocka_unit_test(test_bad_rows),
        cmocka_unit_test(test_missing_group_is_unavailable),
        cmocka_unit_test(test_missing_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
