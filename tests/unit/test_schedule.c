/* test_schedule: the aggregator's snapshot schedules (aggregator/schedule.c,
 * compiled into this test): every parser form and error, and next due times
 * across hour, day, month and year edges, short months and leap years (in
 * UTC), and in Europe/London: both DST change days, weekly slots, month ends
 * and the slots missed over a week down (catch-up) or a clock jump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "aggregator.h"
#include "clock.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t s_t(const char *rfc3339)
{
    int64_t sec;
    int32_t ns;
    assert_int_equal(crr_time_parse(rfc3339, 0, &sec, &ns), 0);
    return sec;
}

static void s_next_is(const char *spec, const char *after, const char *want)
{
    crr_schedule_t s;
    crr_diag_t d;
    memset(&s, 0, sizeof s);
    assert_int_equal(crr_schedule_parse(spec, &s, &d), 0);
    char got[48];
    crr_time_format(crr_schedule_next(&s, s_t(after)), 0, got, sizeof got);
    assert_string_equal(got, want);
}

static void s_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static void test_next_due_times(void **state)
{
    (void)state;
    s_tz("UTC");
    s_next_is("every 15m", "2026-03-01T12:07:00Z", "2026-03-01T12:15:00Z");
    s_next_is("every 15m", "2026-03-01T12:15:00Z", "2026-03-01T12:30:00Z"); /* strictly after */
    s_next_is("every 1h", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z");
    s_next_is("daily 02:00", "2026-03-01T01:59:59Z", "2026-03-01T02:00:00Z");
    s_next_is("daily 02:00", "2026-03-01T02:00:00Z", "2026-03-02T02:00:00Z");
    s_next_is("monthly 1 03:00", "2026-12-01T03:00:00Z", "2027-01-01T03:00:00Z");
    s_next_is("monthly 31 03:00", "2026-02-01T00:00:00Z", "2026-02-28T03:00:00Z");
    s_next_is("monthly 31 03:00", "2028-02-01T00:00:00Z", "2028-02-29T03:00:00Z");
    s_next_is("monthly 31 03:00", "2026-04-30T03:00:00Z", "2026-05-31T03:00:00Z");
    s_next_is("  daily   23:59 ", "2026-03-01T23:59:30Z", "2026-03-02T23:59:00Z");
}

static void test_bad_specs(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      "weekly 02:00",
                                      "weekly mo 02:00",
                                      "hourly 5",
                                      "every",
                                      "every 0s",
                                      "every 1500ms",
                                      "every soon",
                                      "daily 24:00",
                                      "daily 2:00",
                                      "daily 02:60",
                                      "monthly 0 03:00",
                                      "monthly 32 03:00",
                                      "monthly 1",
                                      "daily 02:00 extra"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        crr_schedule_t s;
        crr_diag_t d;
        crr_diag_clear(&d);
        memset(&s, 0, sizeof s);
        if (crr_schedule_parse(bad[i], &s, &d) != CRR_ECONFIG) {
            fprintf(stderr, "accepted bad spec '%s'\n", bad[i]);
            fail();
        }
        assert_string_equal(d.field, "schedules");
        assert_true(d.reason[0] != '\0');
    }
}

static void test_lists(void **state)
{
    (void)state;
    crr_schedule_t out[4];
    crr_diag_t d;
    assert_int_equal(crr_schedule_parse_list("", out, 4, &d), 0);
    assert_int_equal(
        crr_schedule_parse_list("quarter=every 15m; nightly = daily 02:00;", out, 4, &d), 2);
    assert_string_equal(out[0].name, "quarter");
    assert_int_equal(out[0].kind, CRR_SCHED_EVERY);
    assert_true(out[0].period_sec == 900);
    assert_string_equal(out[1].name, "nightly");
    assert_int_equal(out[1].kind, CRR_SCHED_DAILY);
    assert_int_equal(out[1].minute_of_day, 120);
    /* a bare spec is named after itself */
    assert_int_equal(crr_schedule_parse_list("monthly 1 03:00", out, 4, &d), 1);
    assert_string_equal(out[0].name, "monthly-1-03-00");
    assert_int_equal(out[0].day, 1);
    /* the sinks a schedule feeds */
    assert_int_equal(
        crr_schedule_parse_list("nightly=daily 02:00 @ csv, warehouse;weekly mon 06:00 @webhook",
                                out, 4, &d),
        2);
    assert_string_equal(out[0].sinks, "csv, warehouse");
    assert_int_equal(out[0].minute_of_day, 120);
    assert_string_equal(out[1].name, "weekly-mon-06-00");
    assert_string_equal(out[1].sinks, "webhook");
    assert_int_equal(out[1].kind, CRR_SCHED_WEEKLY);
    assert_int_equal(crr_schedule_parse_list("a=daily 02:00 @", out, 4, &d), CRR_ECONFIG);
    /* errors */
    assert_int_equal(crr_schedule_parse_list("a=every 1m;a=daily 01:00", out, 4, &d), CRR_ECONFIG);
    assert_non_null(strstr(d.reason, "twice"));
    assert_int_equal(crr_schedule_parse_list("bad name!=every 1m", out, 4, &d), CRR_ECONFIG);
    assert_int_equal(crr_schedule_parse_list("a=every 1m;b=every 2m", out, 1, &d), CRR_ECONFIG);
    assert_int_equal(crr_schedule_parse_list("a=fortnightly", out, 4, &d), CRR_ECONFIG);
}

static void test_london_local_time_and_dst(void **state)
{
    (void)state;
    s_tz("Europe/London");
    /* winter: GMT = UTC; summer: BST = UTC+1 */
    s_next_is("daily 02:00", "2026-03-01T12:00:00Z", "2026-03-02T02:00:00Z");
    s_next_is("daily 02:00", "2026-06-01T12:00:00Z", "2026-06-02T01:00:00Z");
    /* spring forward, Sunday 2026-03-29: 01:00-02:00 local does not exist; 01:30 runs at the
       next valid minute, 02:00 BST (01:00Z), once */
    s_next_is("daily 01:30", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z");
    s_next_is("daily 01:30", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z");
    s_next_is("daily 00:59", "2026-03-28T12:00:00Z", "2026-03-29T00:59:00Z");
    s_next_is("daily 02:00", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z");
    /* fall back, Sunday 2026-10-25: 01:00-02:00 local happens twice; 01:30 runs once, first */
    s_next_is("daily 01:30", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z");
    s_next_is("daily 01:30", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
    s_next_is("daily 02:00", "2026-10-24T12:00:00Z", "2026-10-25T02:00:00Z");
    /* weekly: 2026-03-01 is a Sunday */
    s_next_is("weekly mon 06:00", "2026-03-01T12:00:00Z", "2026-03-02T06:00:00Z");
    s_next_is("weekly mon 06:00", "2026-03-02T06:00:00Z", "2026-03-09T06:00:00Z");
    s_next_is("weekly sun 06:00", "2026-03-28T12:00:00Z", "2026-03-29T05:00:00Z");
    s_next_is("weekly SAT 23:30", "2026-10-24T12:00:00Z", "2026-10-24T22:30:00Z");
    /* month ends and leap days, in local time */
    s_next_is("monthly 1 03:00", "2026-06-15T00:00:00Z", "2026-07-01T02:00:00Z");
    s_next_is("monthly 31 03:00", "2026-04-01T00:00:00Z", "2026-04-30T02:00:00Z");
    s_next_is("monthly 29 03:00", "2028-02-01T00:00:00Z", "2028-02-29T03:00:00Z");
    s_next_is("monthly 29 03:00", "2027-02-01T00:00:00Z", "2027-02-28T03:00:00Z");
    /* every and hourly stay aligned to the epoch */
    s_next_is("hourly", "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z");
    s_next_is("every 15m", "2026-10-25T01:07:00Z", "2026-10-25T01:15:00Z");
    s_tz("UTC");
}

static void test_missed_slots(void **state)
{
    (void)state;
    s_tz("Europe/London");
    crr_schedule_t s;
    crr_diag_t d;
    int64_t latest;
    char got[48];
    memset(&s, 0, sizeof s);
    /* a week down across the spring change: 7 nightly slots missed, the last one 02:00 BST */
    assert_int_equal(crr_schedule_parse("daily 02:00", &s, &d), 0);
    assert_int_equal(
        crr_schedule_missed(&s, s_t("2026-03-26T02:00:00Z"), s_t("2026-04-02T12:00:00Z"), &latest),
        7);
    assert_string_equal(crr_time_format(latest, 0, got, sizeof got), "2026-04-02T01:00:00Z");
    /* nothing missed */
    assert_int_equal(
        crr_schedule_missed(&s, s_t("2026-03-26T02:00:00Z"), s_t("2026-03-27T01:59:59Z"), &latest),
        0);
    assert_true(latest == 0);
    /* a clock jump of a day forward over a 15-minute schedule: 96 slots, the last at the jump */
    assert_int_equal(crr_schedule_parse("every 15m", &s, &d), 0);
    assert_int_equal(
        crr_schedule_missed(&s, s_t("2026-03-01T12:00:00Z"), s_t("2026-03-02T12:00:00Z"), &latest),
        96);
    assert_string_equal(crr_time_format(latest, 0, got, sizeof got), "2026-03-02T12:00:00Z");
    /* a clock jump backwards: the next slot is computed from the new time */
    s_next_is("every 15m", "2026-03-01T11:00:00Z", "2026-03-01T11:15:00Z");
    s_tz("UTC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_due_times), cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_lists),          cmocka_unit_test(test_london_local_time_and_dst),
        cmocka_unit_test(test_missed_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
