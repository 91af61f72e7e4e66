/* test_sinks: every public function of sinks/ (registry, id check) and the
 * two file sinks (their atomic write is tested in test_datadir), writing a small hand-built
 * snapshot and comparing the files byte for byte with the layout of docs/DOMAIN.md: JSON Lines
 * (header line without values, every field with defaults, absent wrappers left out) and CSV (header
 * row, dims "k=v;k=v", empty cells for absent wrappers). Also: writing the same id twice is
 * harmless, and an unsafe id is FATAL. */
/* cmocka needs these three first */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "filesink.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[256]; /* temporary folder of one test */
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/crr-test-sinks-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *f = *state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static char *s_slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

/* A snapshot with two rows: a total with an interval, and a dimension row
 * with two dims, no value and no interval. Stack-allocated parts. */
typedef struct {
    Crrmon__V1__Snapshot snap;
    Google__Protobuf__Timestamp as_of, taken;
    Crrmon__V1__IndicatorValue v1, v2, *values[2];
    Google__Protobuf__DoubleValue val, lo, hi;
    Crrmon__V1__IndicatorValue__DimsEntry d1, d2, *dims[2];
} sample_t;

static void s_sample(sample_t *s, const char *id)
{
    memset(s, 0, sizeof *s);
    crrmon__v1__snapshot__init(&s->snap);
    google__protobuf__timestamp__init(&s->as_of);
    google__protobuf__timestamp__init(&s->taken);
    s->as_of.seconds = 1772366400; /* 2026-03-01T12:00:00Z */
    s->taken.seconds = 1772366401;
    s->taken.nanos = 500000000;
    s->snap.id = (char *)id;
    s->snap.as_of = &s->as_of;
    s->snap.taken_at = &s->taken;
    s->snap.schedule = "nightly";
    crrmon__v1__indicator_value__init(&s->v1);
    google__protobuf__double_value__init(&s->val);
    google__protobuf__double_value__init(&s->lo);
    google__protobuf__double_value__init(&s->hi);
    s->val.value = 4;
    s->lo.value = 1.5;
    s->hi.value = 10.25;
    s->v1.indicator = "stop_search.count";
    s->v1.borough = "E09000022";
    s->v1.window_days = 30;
    s->v1.value = &s->val;
    s->v1.n = 4;
    s->v1.ci_low = &s->lo;
    s->v1.ci_high = &s->hi;
    crrmon__v1__indicator_value__init(&s->v2);
    crrmon__v1__indicator_value__dims_entry__init(&s->d1);
    crrmon__v1__indicator_value__dims_entry__init(&s->d2);
    s->d1.key = "gender";
    s->d1.value = "FEMALE";
    s->d2.key = "ethnicity";
    s->d2.value = "BLACK";
    s->dims[0] = &s->d1;
    s->dims[1] = &s->d2;
    s->v2.indicator = "survey.good_job";
    s->v2.borough = "LONDON";
    s->v2.window_days = 365;
    s->v2.n_dims = 2;
    s->v2.dims = s->dims;
    s->v1.boroughs_reporting = 1;
    s->v2.boroughs_reporting = 3;
    s->values[0] = &s->v1;
    s->values[1] = &s->v2;
    s->snap.n_values = 2;
    s->snap.values = s->values;
}

static void test_registry_and_ids(void **state)
{
    (void)state;
    assert_ptr_equal(crr_sink_find("jsonl"), &crr_sink_jsonl);
    assert_ptr_equal(crr_sink_find("csv"), &crr_sink_csv);
    assert_ptr_equal(crr_sink_find("webhook"), &crr_sink_webhook);
    assert_ptr_equal(crr_sink_find("postgres"), &crr_sink_postgres);
    assert_null(crr_sink_find("nosuch"));
    size_t n = 0;
    for (const crr_sink_ops_t *const *s = crr_sink_registry; *s; s++, n++) {
        assert_non_null((*s)->open);
        assert_non_null((*s)->write);
        assert_non_null((*s)->close);
        assert_true((*s)->config_size <= CRR_SINK_CONFIG_MAX);
    }
    assert_int_equal(n, 4);
    assert_true(crr_sink_id_is_safe("20260301T120000Z-000001"));
    assert_false(crr_sink_id_is_safe(""));
    assert_false(crr_sink_id_is_safe(NULL));
    assert_false(crr_sink_id_is_safe(".hidden"));
    assert_false(crr_sink_id_is_safe("../etc/passwd"));
    assert_false(crr_sink_id_is_safe("a/b"));
}

static void *s_open(const crr_sink_ops_t *ops, const char *dir)
{
    union {
        max_align_t a;
        unsigned char b[CRR_SINK_CONFIG_MAX];
    } cfg;
    memset(&cfg, 0, sizeof cfg);
    crr_sink_section_t sec = {ops->name, dir, cfg.b};
    crr_diag_t d;
    crr_diag_clear(&d);
    void *st = NULL;
    assert_int_equal(ops->open(&sec, &st, &d), 0);
    assert_non_null(st);
    return st;
}

static void test_jsonl_layout(void **state)
{
    fixture_t *f = *state;
    void *st = s_open(&crr_sink_jsonl, f->dir);
    sample_t s;
    s_sample(&s, "20260301T120000Z-000001");
    crr_diag_t d;
    crr_diag_clear(&d);
    assert_int_equal(crr_sink_jsonl.write(st, &s.snap, &d), CRR_SINK_OK);
    assert_int_equal(crr_sink_jsonl.write(st, &s.snap, &d), CRR_SINK_OK); /* idempotent */
    char path[400], where[400];
    snprintf(path, sizeof path, "%s/nightly-20260301T120000Z-20260301T120000Z-000001.jsonl",
             f->dir);
    assert_int_equal(crr_sink_jsonl.locate(st, &s.snap, where, sizeof where), 0);
    char real[400];
    assert_non_null(realpath(path, real));
    assert_string_equal(where, real);
    char *got = s_slurp(path);
    assert_non_null(got);
    assert_string_equal(
        got,
        "{\"id\":\"20260301T120000Z-000001\",\"asOf\":\"2026-03-01T12:00:00Z\","
        "\"takenAt\":\"2026-03-01T12:00:01.500Z\",\"schedule\":\"nightly\",\"catchUp\":false}\n"
        "{\"indicator\":\"stop_search.count\",\"borough\":\"E09000022\",\"windowDays\":30,"
        "\"dims\":{},\"value\":4.0,\"n\":\"4\",\"ciLow\":1.5,\"ciHigh\":10.25,\"reliable\":false,"
        "\"boroughsReporting\":1}\n"
        "{\"indicator\":\"survey.good_job\",\"borough\":\"LONDON\",\"windowDays\":365,"
        "\"dims\":{\"gender\":\"FEMALE\",\"ethnicity\":\"BLACK\"},\"n\":\"0\",\"reliable\":false,"
        "\"boroughsReporting\":3}\n");
    free(got);
    s_sample(&s, "../escape");
    assert_int_equal(crr_sink_jsonl.write(st, &s.snap, &d), CRR_SINK_FATAL);
    crr_sink_jsonl.close(&st);
    assert_null(st);
    crr_sink_jsonl.close(&st); /* safe twice */
}

/* A transient allocation failure at any point of a JSON Lines write either
 * fails the write (nothing under the final name) or writes the exact file:
 * jansson's writer leaves out what it could not allocate and goes on, so an
 * unchecked dump wrote a line missing a member. Each budget n writes a
 * snapshot of its own id; a fault-free write gives the reference text. */
static void test_jsonl_transient_oom(void **state)
{
    fixture_t *f = *state;
    void *st = s_open(&crr_sink_jsonl, f->dir);
    sample_t s;
    crr_diag_t d;
    char id[64], path[400];
    snprintf(id, sizeof id, "20260301T120000Z-999999");
    s_sample(&s, id);
    assert_int_equal(crr_sink_jsonl.write(st, &s.snap, &d), CRR_SINK_OK);
    snprintf(path, sizeof path, "%s/nightly-20260301T120000Z-%s.jsonl", f->dir, id);
    char *ref = s_slurp(path);
    assert_non_null(ref);
    int written = 0;
    for (long n = 0;; n++) {
        snprintf(id, sizeof id, "20260301T120000Z-%06ld", n);
        s_sample(&s, id);
        crr_diag_clear(&d);
        crr_mem_fail_once(n);
        int rc = crr_sink_jsonl.write(st, &s.snap, &d);
        long failed = crr_mem_failed();
        crr_mem_fail_off();
        snprintf(path, sizeof path, "%s/nightly-20260301T120000Z-%s.jsonl", f->dir, id);
        char *got = s_slurp(path);
        if (rc != CRR_SINK_OK) {
            assert_int_equal(rc, CRR_SINK_RETRY);
            assert_null(got); /* nothing under the final name */
        } else {
            char *want = strdup(ref); /* the reference with this id (same length) */
            memcpy(strstr(want, "999999"), id + strlen(id) - 6, 6);
            assert_non_null(got);
            assert_string_equal(got, want);
            free(want);
            written++;
        }
        free(got);
        if (!failed)
            break; /* the whole write ran within the budget: every point was tried */
    }
    assert_true(written > 0);
    free(ref);
    crr_sink_jsonl.close(&st);
}

static void test_csv_layout(void **state)
{
    fixture_t *f = *state;
    void *st = s_open(&crr_sink_csv, f->dir);
    sample_t s;
    s_sample(&s, "20260301T120000Z-000002");
    s.d2.value = "BLACK,CARIBBEAN"; /* a comma: the cell is quoted */
    crr_diag_t d;
    crr_diag_clear(&d);
    assert_int_equal(crr_sink_csv.write(st, &s.snap, &d), CRR_SINK_OK);
    char path[400];
    snprintf(path, sizeof path, "%s/nightly-20260301T120000Z-20260301T120000Z-000002.csv", f->dir);
    char *got = s_slurp(path);
    assert_non_null(got);
    assert_string_equal(
        got, "snapshot_id,as_of,taken_at,schedule,indicator,borough,window_days,dims,"
             "value,n,n_eff,ci_low,ci_high,reliable,boroughs_reporting,"
             "borough_name,window_start,window_end,stat\n"
             "20260301T120000Z-000002,2026-03-01T12:00:00Z,2026-03-01T12:00:01.500Z,"
             "nightly,stop_search.count,E09000022,30,,4,4,,1.5,10.25,false,1,"
             "Lambeth,2026-01-31,2026-03-01,C\n"
             "20260301T120000Z-000002,2026-03-01T12:00:00Z,2026-03-01T12:00:01.500Z,"
             "nightly,survey.good_job,LONDON,365,\"ethnicity=BLACK,CARIBBEAN;gender=FEMALE\",,0,,"
             ",,false,3,London,2025-03-02,2026-03-01,W\n");
    free(got);
    crr_sink_csv.close(&st);
    assert_null(st);
}

static void test_open_makes_folder(void **state)
{
    fixture_t *f = *state;
    char dir[400];
    snprintf(dir, sizeof dir, "%s/new", f->dir);
    void *st = s_open(&crr_sink_jsonl, dir);
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    crr_sink_jsonl.close(&st);
    crr_sink_section_t sec = {"jsonl", "", NULL};
    crr_diag_t d;
    crr_diag_clear(&d);
    assert_int_equal(crr_sink_jsonl.open(&sec, &st, &d), CRR_ECONFIG);
    assert_null(st);
}

/* The file_name template: placeholders, the default, and what open refuses. */
static void test_file_name_template(void **state)
{
    fixture_t *f = *state;
    crr_sink_section_t sec = {"csv", f->dir, NULL};
    crr_diag_t d;
    crr_diag_clear(&d);
    void *st = NULL;
    static const char *const bad[] = {"{schedule}.csv", "a/{id}.csv", "{bogus}-{id}",
                                      ".{id}.csv",      "{id}.tmp",   "{id} x.csv"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        crr_filesink_opts_t o = {NULL, bad[i], 0, "sink.csv", "csv"};
        assert_int_equal(crr_filesink_open(&sec, &o, &st, &d), CRR_ECONFIG);
        assert_null(st);
        assert_string_equal(d.field, "sink.csv.file_name");
    }
    sample_t s;
    s_sample(&s, "20260301T120000Z-000007");
    char name[300];
    crr_filesink_opts_t o = {NULL, "crr_{as_of}.{schedule}.{id}.txt", 0, "sink.csv", "csv"};
    assert_int_equal(crr_filesink_open(&sec, &o, &st, &d), 0);
    assert_int_equal(crr_filesink_name(st, &s.snap, name, sizeof name), 0);
    assert_string_equal(name, "crr_20260301T120000Z.nightly.20260301T120000Z-000007.txt");
    crr_filesink_close(&st);
    crr_filesink_opts_t dflt = {NULL, "", 0, "sink.csv", "csv"};
    assert_int_equal(crr_filesink_open(&sec, &dflt, &st, &d), 0);
    assert_int_equal(crr_filesink_name(st, &s.snap, name, sizeof name), 0);
    assert_string_equal(name, "nightly-20260301T120000Z-20260301T120000Z-000007.csv");
    s.snap.schedule = ""; /* on-demand */
    s.snap.as_of = NULL;
    assert_int_equal(crr_filesink_name(st, &s.snap, name, sizeof name), 0);
    assert_string_equal(name, "on-demand-19700101T000000Z-20260301T120000Z-000007.csv");
    assert_int_equal(crr_filesink_name(st, &s.snap, name, 20), CRR_ENOTFOUND); /* no room */
    s.snap.schedule = "a/b";
    assert_int_equal(crr_filesink_name(st, &s.snap, name, sizeof name), CRR_ENOTFOUND);
    s_sample(&s, "../x");
    assert_int_equal(crr_filesink_name(st, &s.snap, name, sizeof name), CRR_ENOTFOUND);
    crr_filesink_close(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_and_ids),
        cmocka_unit_test_setup_teardown(test_jsonl_layout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_transient_oom, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_csv_layout, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_open_makes_folder, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_file_name_template, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
