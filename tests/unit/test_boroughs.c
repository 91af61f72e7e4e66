/* test_boroughs: the embedded GSS table (common/boroughs) agrees with
 * data/london_boroughs.csv row by row, and lookups refuse everything that is
 * not exactly a London code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "boroughs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every index round-trips through its code; names are set. */
static void test_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < CRR_BOROUGHS; i++) {
        char want[16];
        snprintf(want, sizeof want, "E09%06d", i + 1);
        assert_string_equal(crr_borough_code(i), want);
        assert_int_equal(crr_borough_index(want), i);
        assert_non_null(crr_borough_name(i));
        assert_true(strlen(crr_borough_name(i)) > 0);
    }
    assert_string_equal(crr_borough_name(0), "City of London");
    assert_string_equal(crr_borough_name(32), "Westminster");
    assert_int_equal(crr_borough_index("E09000022"), 21);
    assert_string_equal(crr_borough_name(21), "Lambeth");
}

/* Out-of-range indexes give NULL. */
static void test_bad_index(void **state)
{
    (void)state;
    assert_null(crr_borough_code(-1));
    assert_null(crr_borough_code(CRR_BOROUGHS));
    assert_null(crr_borough_name(-1));
    assert_null(crr_borough_name(CRR_BOROUGHS));
    assert_null(crr_borough_name(1000));
}

/* Anything but exactly E09000001..E09000033 is unknown. */
static void test_bad_codes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",          "E09",       "E0900000",  "E090000010", "E09000000",
        "E09000034", "E09000099", "e09000001", "E08000001",  "E06000001",
        "E09 00001", "E0900000a", "E09-00001", "E09000001 ", " E09000001",
        "LONDON",    "F09000001", "E19000001", "E09+00001",  "E09999999",
    };
    assert_int_equal(crr_borough_index(NULL), -1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (crr_borough_index(bad[i]) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
    }
}

/* The embedded table is exactly data/london_boroughs.csv. */
static void test_matches_csv(void **state)
{
    (void)state;
    const char *src = getenv("CRR_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/london_boroughs.csv", src ? src : "..");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (set CRR_SOURCE_DIR)", path);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        char *code = line, *name = strchr(line, ',');
        assert_non_null(name);
        *name++ = '\0';
        char *end = strchr(name, ',');
        assert_non_null(end);
        *end = '\0';
        int idx = crr_borough_index(code);
        assert_int_equal(idx, rows);
        assert_string_equal(crr_borough_code(idx), code);
        assert_string_equal(crr_borough_name(idx), name);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, CRR_BOROUGHS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_index),
        cmocka_unit_test(test_bad_codes),
        cmocka_unit_test(test_matches_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
