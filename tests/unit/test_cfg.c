/* test_cfg: the config-map loader — defaults, INI with unknown keys and bad
 * values named by file:line, named flags in both spellings,
 * --section.key=value, positional arguments, durations and sizes, --help,
 * and a table joined from a program's keys and another module's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cfg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *data_dir;
    int64_t window;
    int verbose;
    double ratio;
    uint64_t max_bytes;
    int64_t timeout_ms;
    char *sink_dir;
} conf_t;

#define O(f) offsetof(conf_t, f)
static const crr_cfg_entry_t s_table[] = {
    {"main", "data_dir", CRR_CFG_STR, "/var/lib/x", 0, 0, O(data_dir), "data-dir", "data folder"},
    {"main", "window", CRR_CFG_INT, "64", 1, 4096, O(window), NULL, "frames in flight"},
    {"main", "verbose", CRR_CFG_BOOL, "false", 0, 0, O(verbose), "verbose", "chatty"},
    {"tune", "ratio", CRR_CFG_DOUBLE, "0.5", 0, 1, O(ratio), NULL, "a ratio"},
    {"tune", "max_bytes", CRR_CFG_SIZE, "1M", 0, 0, O(max_bytes), NULL, "a size"},
    {"tune", "timeout", CRR_CFG_DURATION, "5s", 0, 0, O(timeout_ms), NULL, "a duration"},
    {"sink.csv", "dir", CRR_CFG_STR, "", 0, 0, O(sink_dir), NULL, "a dotted section"},
    CRR_CFG_END,
};

static char s_ini[64];

static void s_write_ini(const char *text)
{
    FILE *f = fopen(s_ini, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_defaults_and_flags(void **state)
{
    (void)state;
    conf_t c = {0};
    crr_diag_t d;
    char *argv[] = {"prog",      "--data-dir",           "/tmp/a",  "--main.window=7", "file1",
                    "--verbose", "--tune.timeout=250ms", "--other", "file2",           NULL};
    char *rest[10];
    int nrest;
    assert_int_equal(crr_cfg_load(s_table, &c, 9, argv, rest, &nrest, &d), 0);
    assert_string_equal(c.data_dir, "/tmp/a");
    assert_true(c.window == 7);
    assert_int_equal(c.verbose, 1);
    assert_true(c.ratio == 0.5);
    assert_true(c.max_bytes == 1048576);
    assert_true(c.timeout_ms == 250);
    assert_int_equal(nrest, 3);
    assert_string_equal(rest[0], "file1");
    assert_string_equal(rest[1], "--other");
    assert_string_equal(rest[2], "file2");
    crr_cfg_free(s_table, &c);
    assert_null(c.data_dir);
    crr_cfg_free(s_table, &c);
}

static void test_ini_and_precedence(void **state)
{
    (void)state;
    s_write_ini("; comment\n[main]\ndata_dir = /from/ini\nwindow = 9\n\n[tune]\nmax_bytes = 2G\n");
    conf_t c = {0};
    crr_diag_t d;
    char *argv[] = {"prog", "--main.window=11", "--config", s_ini, NULL};
    char *rest[5];
    int nrest;
    assert_int_equal(crr_cfg_load(s_table, &c, 4, argv, rest, &nrest, &d), 0);
    assert_string_equal(c.data_dir, "/from/ini");
    assert_true(c.window == 11); /* flags win over the file, whatever their order */
    assert_true(c.max_bytes == 2ull << 30);
    assert_int_equal(nrest, 0);
    crr_cfg_free(s_table, &c);
}

static void test_errors_name_file_line(void **state)
{
    (void)state;
    conf_t c = {0};
    crr_diag_t d;
    char *rest[5];
    int nrest;
    char *argv[] = {"prog", "--config", s_ini, NULL};

    s_write_ini("[main]\nwindow = 9\nbogus = 1\n");
    assert_int_equal(crr_cfg_load(s_table, &c, 3, argv, rest, &nrest, &d), CRR_ECONFIG);
    assert_string_equal(d.file, s_ini);
    assert_int_equal(d.line, 3);
    assert_string_equal(d.field, "main.bogus");
    crr_cfg_free(s_table, &c);

    s_write_ini("[main]\n\nwindow = 99999\n");
    assert_int_equal(crr_cfg_load(s_table, &c, 3, argv, rest, &nrest, &d), CRR_ECONFIG);
    assert_int_equal(d.line, 3);
    assert_string_equal(d.field, "main.window");
    assert_non_null(strstr(d.reason, "99999"));
    crr_cfg_free(s_table, &c);

    s_write_ini("[tune]\ntimeout = soon\n");
    assert_int_equal(crr_cfg_load(s_table, &c, 3, argv, rest, &nrest, &d), CRR_ECONFIG);
    assert_int_equal(d.line, 2);
    crr_cfg_free(s_table, &c);

    char *argv2[] = {"prog", "--main.nope=1", NULL};
    assert_int_equal(crr_cfg_load(s_table, &c, 2, argv2, rest, &nrest, &d), CRR_EINVAL);
    assert_int_equal(crr_cfg_exit_code(CRR_EINVAL), CRR_EXIT_USAGE);
    assert_string_equal(d.file, "command line");
    assert_non_null(strstr(d.reason, "main.nope"));
    crr_cfg_free(s_table, &c);

    char *argv3[] = {"prog", "--data-dir", NULL};
    assert_int_equal(crr_cfg_load(s_table, &c, 2, argv3, rest, &nrest, &d), CRR_EINVAL);
    crr_cfg_free(s_table, &c);

    char *argv4[] = {"prog", "--config", "/nonexistent/crr.ini", NULL};
    assert_int_equal(crr_cfg_load(s_table, &c, 3, argv4, rest, &nrest, &d), CRR_ECONFIG);
    assert_string_equal(d.file, "/nonexistent/crr.ini");
    assert_int_equal(crr_cfg_exit_code(CRR_ECONFIG), CRR_EXIT_CONFIG);
    assert_int_equal(crr_cfg_exit_code(0), CRR_EXIT_OK);
    crr_cfg_free(s_table, &c);
}

/* A section with a dot is split at the last dot (keys never hold one); the
 * dump prints what the loader reads back. */
static void test_dotted_section_and_dump(void **state)
{
    (void)state;
    conf_t c = {0};
    crr_diag_t d;
    char *argv[] = {"prog", "--sink.csv.dir=/tmp/csv", "--tune.max_bytes=3k", NULL};
    char *rest[3];
    int nrest;
    assert_int_equal(crr_cfg_load(s_table, &c, 3, argv, rest, &nrest, &d), 0);
    assert_string_equal(c.sink_dir, "/tmp/csv");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    crr_cfg_dump(f, s_table, &c);
    fclose(f);
    assert_non_null(strstr(buf, "[sink.csv]\ndir = /tmp/csv\n"));
    assert_non_null(strstr(buf, "max_bytes = 3k\n"));
    assert_non_null(strstr(buf, "timeout = 5s\n"));
    free(buf);
    crr_cfg_free(s_table, &c);
    char *argv2[] = {"prog", "--sink.csv.nope=1", NULL};
    assert_int_not_equal(crr_cfg_load(s_table, &c, 2, argv2, rest, &nrest, &d), 0);
    assert_non_null(strstr(d.reason, "sink.csv.nope"));
    crr_cfg_free(s_table, &c);
}

static void test_parsers_and_help(void **state)
{
    (void)state;
    int64_t ms;
    uint64_t b;
    assert_int_equal(crr_cfg_parse_duration("15m", &ms), 0);
    assert_true(ms == 900000);
    assert_int_equal(crr_cfg_parse_duration("2d", &ms), 0);
    assert_true(ms == 172800000);
    assert_int_equal(crr_cfg_parse_duration("1.5s", &ms), 0);
    assert_true(ms == 1500);
    assert_int_equal(crr_cfg_parse_duration("5 parsecs", &ms), CRR_EPARSE);
    assert_int_equal(crr_cfg_parse_duration("-1s", &ms), CRR_EPARSE);
    assert_int_equal(crr_cfg_parse_size("64k", &b), 0);
    assert_true(b == 65536);
    assert_int_equal(crr_cfg_parse_size("10MiB", &b), 0);
    assert_true(b == 10485760);
    assert_int_equal(crr_cfg_parse_size("lots", &b), CRR_EPARSE);
}

/* Durations and sizes carry a unit; a bare number is refused (saying which
 * unit to add) except 0 = off; windows take bare days or "30d". */
static void test_units_required(void **state)
{
    (void)state;
    int64_t ms = -1;
    uint64_t b = 1;
    unsigned days = 0;
    char ebuf[600];
    static const struct {
        const char *s;
        int64_t ms;
    } good[] = {{"500ms", 500},  {"30s", 30000},        {"5m", 300000}, {"5min", 300000},
                {"2h", 7200000}, {"90d", 7776000000LL}, {"0", 0},       {"0s", 0},
                {"0.5s", 500},   {"1.5h", 5400000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(crr_cfg_parse_duration(good[i].s, &ms), 0);
        assert_true(ms == good[i].ms);
    }
    assert_int_equal(crr_cfg_parse_duration("30", &ms), CRR_EINVAL);
    assert_int_equal(crr_cfg_parse_duration("2.5", &ms), CRR_EINVAL);
    static const char *const bad[] = {"",    "s",   "30x",    "30 s",  "-5s", "+5s",
                                      "nan", "inf", "1e400s", "30sec", "5M"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(crr_cfg_parse_duration(bad[i], &ms), CRR_EPARSE);
    crr_cfg_explain_duration("30", ebuf, sizeof ebuf);
    assert_non_null(strstr(ebuf, "30s"));
    assert_non_null(strstr(ebuf, "no unit"));
    crr_cfg_explain_duration("soon", ebuf, sizeof ebuf);
    assert_non_null(strstr(ebuf, "'soon' is not a duration"));

    static const struct {
        const char *s;
        uint64_t b;
    } sizes[] = {{"64k", 65536}, {"4M", 4194304}, {"4G", 4294967296ULL}, {"1T", 1ULL << 40},
                 {"512b", 512},  {"0", 0},        {"64KiB", 65536},      {"0.5k", 512}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_int_equal(crr_cfg_parse_size(sizes[i].s, &b), 0);
        assert_true(b == sizes[i].b);
    }
    assert_int_equal(crr_cfg_parse_size("65536", &b), CRR_EINVAL);
    assert_int_equal(crr_cfg_parse_size("4X", &b), CRR_EPARSE);
    assert_int_equal(crr_cfg_parse_size("-4k", &b), CRR_EPARSE);
    crr_cfg_explain_size("64", ebuf, sizeof ebuf);
    assert_non_null(strstr(ebuf, "64k"));

    assert_int_equal(crr_cfg_parse_days("30", &days), 0);
    assert_int_equal(days, 30);
    assert_int_equal(crr_cfg_parse_days("365d", &days), 0);
    assert_int_equal(days, 365);
    static const char *const bad_days[] = {"0", "0d", "30dd", "d", "", "-1", "30h", "1.5", "36501"};
    for (size_t i = 0; i < sizeof bad_days / sizeof bad_days[0]; i++)
        assert_int_equal(crr_cfg_parse_days(bad_days[i], &days), CRR_EPARSE);

    /* through the loader: the reason names the unit to add */
    conf_t c2 = {0};
    crr_diag_t d2;
    char *rest[3];
    int nrest;
    char *argv[] = {"prog", "--tune.timeout=30", NULL};
    assert_int_not_equal(crr_cfg_load(s_table, &c2, 2, argv, rest, &nrest, &d2), 0);
    assert_non_null(strstr(d2.reason, "30ms, 30s"));
    crr_cfg_free(s_table, &c2);
    char *argv2[] = {"prog", "--tune.max_bytes=1024", NULL};
    assert_int_not_equal(crr_cfg_load(s_table, &c2, 2, argv2, rest, &nrest, &d2), 0);
    assert_non_null(strstr(d2.reason, "1024k"));
    crr_cfg_free(s_table, &c2);

    conf_t c = {0};
    crr_diag_t d;
    assert_int_equal(crr_cfg_set(s_table, &c, "tune", "ratio", "0.25", &d), 0);
    assert_true(c.ratio == 0.25);
    assert_int_equal(crr_cfg_set(s_table, &c, "tune", "ratio", "2", &d), CRR_ECONFIG);
    assert_int_equal(crr_cfg_set(s_table, &c, "tune", "nope", "2", &d), CRR_ECONFIG);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    crr_cfg_print_help(f, s_table);
    fclose(f);
    assert_non_null(strstr(buf, "--data-dir"));
    assert_non_null(strstr(buf, "--tune.timeout"));
    assert_non_null(strstr(buf, "default: 5s"));
    free(buf);
}

/* A bare boolean flag means true and never takes the next argument, even a
 * file name right after it (`--new-spool FILE` once failed on FILE). */
static void test_bare_bool_before_file(void **state)
{
    (void)state;
    char *cases[][2] = {
        {"--verbose", "in.jsonl"},
        {"--main.verbose", "in.jsonl"},
        {"in.jsonl", "--verbose"},
        {"--verbose", "true"}, /* "true" is an argument of its own too */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        conf_t c = {0};
        crr_diag_t d;
        char *argv[] = {"prog", cases[k][0], cases[k][1], NULL};
        char *rest[3];
        int nrest = -1;
        assert_int_equal(crr_cfg_load(s_table, &c, 3, argv, rest, &nrest, &d), 0);
        assert_int_equal(c.verbose, 1);
        assert_int_equal(nrest, 1);
        assert_string_equal(rest[0], k == 2 ? cases[k][0] : cases[k][1]);
        crr_cfg_free(s_table, &c);
    }
    conf_t c = {0};
    crr_diag_t d;
    char *argv[] = {"prog", "--verbose=false", "in.jsonl", NULL};
    char *rest[3];
    int nrest = -1;
    assert_int_equal(crr_cfg_load(s_table, &c, 3, argv, rest, &nrest, &d), 0);
    assert_int_equal(c.verbose, 0);
    assert_int_equal(nrest, 1);
    assert_string_equal(rest[0], "in.jsonl");
    crr_cfg_free(s_table, &c);
}

/* A module's keys (part_t) inside a program's struct (whole_t). */
typedef struct {
    int64_t window;
    char *cert;
} part_t;
typedef struct {
    char *dir;
    part_t part;
} whole_t;

static void test_join_shifts_the_second_table(void **state)
{
    (void)state;
    static const crr_cfg_entry_t own[] = {
        {"app", "dir", CRR_CFG_STR, "/d", 0, 0, offsetof(whole_t, dir), NULL, "a folder"},
        CRR_CFG_END,
    };
    static const crr_cfg_entry_t part[] = {
        {"sender", "window", CRR_CFG_INT, "256", 1, 4096, offsetof(part_t, window), NULL, "w"},
        {"security", "cert", CRR_CFG_STR, "", 0, 0, offsetof(part_t, cert), NULL, "c"},
        CRR_CFG_END,
    };
    crr_cfg_entry_t *t = crr_cfg_join(own, part, offsetof(whole_t, part));
    assert_non_null(t);
    assert_null(t[3].key);
    assert_ptr_equal(crr_cfg_find(t, "sender", "window"), &t[1]);
    assert_null(crr_cfg_find(part, "app", "dir"));
    whole_t w = {0};
    crr_diag_t d;
    char *argv[] = {"prog", "--sender.window=8", "--security.cert=/k", NULL}, *rest[3];
    int nrest;
    assert_int_equal(crr_cfg_load(t, &w, 3, argv, rest, &nrest, &d), 0);
    assert_string_equal(w.dir, "/d");
    assert_true(w.part.window == 8);
    assert_string_equal(w.part.cert, "/k");
    /* the module's own table fills its own struct the same way */
    part_t p = {0};
    assert_int_equal(crr_cfg_load(part, &p, 3, argv, rest, &nrest, &d), 0);
    assert_true(p.window == 8);
    assert_string_equal(p.cert, "/k");
    crr_cfg_free(part, &p);
    crr_cfg_free(t, &w);
    free(t);
}

int main(void)
{
    snprintf(s_ini, sizeof s_ini, "/tmp/crr-cfg-%d.ini", (int)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_ini_and_precedence),
        cmocka_unit_test(test_errors_name_file_line),
        cmocka_unit_test(test_parsers_and_help),
        cmocka_unit_test(test_dotted_section_and_dump),
        cmocka_unit_test(test_units_required),
        cmocka_unit_test(test_bare_bool_before_file),
        cmocka_unit_test(test_join_shifts_the_second_table),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(s_ini);
    return rc;
}
