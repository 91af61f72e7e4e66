/* test_log: the log line formats. stderr is pointed at a temporary file and
 * each line read back: text lines carry a timestamp, level and component;
 * JSON lines parse (jansson) with exactly the message written, quotes,
 * backslashes and control characters escaped, and bytes that are not UTF-8
 * (stray, cut, overlong, surrogate) replaced by U+FFFD. The journal form is
 * tested end to end (tests/e2e/test_deploy.py), since it depends on stderr's
 * inode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "err.h"
#include "log.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs one crr_log_write with stderr captured; returns the line (malloc'd, no newline). */
static char *s_capture(crr_log_level_t level, const char *msg)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    crr_log_write(level, "%s", msg);
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    rewind(tmp);
    char *line = calloc(1, 16384);
    assert_non_null(line);
    assert_non_null(fgets(line, 16384, tmp));
    fclose(tmp);
    size_t n = strlen(line);
    assert_true(n > 0 && line[n - 1] == '\n');
    line[n - 1] = '\0';
    return line;
}

static int s_setup(void **state)
{
    (void)state;
    unsetenv("JOURNAL_STREAM");
    crr_log_set_component("unit");
    return 0;
}

static void test_text_line(void **state)
{
    (void)state;
    crr_log_set_format(CRR_LOG_TEXT);
    assert_int_equal(crr_log_to_journal(), 0);
    char *line = s_capture(CRR_LOG_WARN, "disk \"full\"");
    /* 2026-03-01T12:00:00.000Z warn unit: disk "full" */
    assert_int_equal(strlen(line), 24 + strlen(" warn unit: disk \"full\""));
    assert_int_equal(line[10], 'T');
    assert_int_equal(line[23], 'Z');
    assert_string_equal(line + 24, " warn unit: disk \"full\"");
    free(line);
}

/* Writes msg as JSON and checks the decoded "msg" equals want. */
static void s_json_case(const char *msg, const char *want)
{
    crr_log_set_format(CRR_LOG_JSON);
    char *line = s_capture(CRR_LOG_ERROR, msg);
    json_error_t err;
    json_t *o = json_loads(line, 0, &err);
    if (!o)
        fail_msg("not JSON: %s (%s)", line, err.text);
    assert_int_equal(json_object_size(o), 4);
    assert_string_equal(json_string_value(json_object_get(o, "level")), "error");
    assert_string_equal(json_string_value(json_object_get(o, "component")), "unit");
    assert_int_equal(strlen(json_string_value(json_object_get(o, "time"))), 24);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), want);
    assert_int_equal(strncmp(line, "{\"time\":\"", 9), 0);
    json_decref(o);
    free(line);
    crr_log_set_format(CRR_LOG_TEXT);
}

static void test_json_escapes(void **state)
{
    (void)state;
    s_json_case("plain", "plain");
    s_json_case("a \"quoted\" \\ back", "a \"quoted\" \\ back");
    s_json_case("tab\there\nnew\x01", "tab\there\nnew\x01");
    s_json_case("Lambeth \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
                "Lambeth \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

static void test_json_bad_utf8_replaced(void **state)
{
    (void)state;
    s_json_case("stray \xff byte", "stray \xef\xbf\xbd byte");
    s_json_case("cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd");
    s_json_case("overlong \xc0\xaf", "overlong \xef\xbf\xbd\xef\xbf\xbd");
    s_json_case("overlong3 \xe0\x80\xaf", "overlong3 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    s_json_case("surrogate \xed\xa0\x80", "surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    s_json_case("too high \xf4\x90\x80\x80",
                "too high \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static void test_json_long_message_stays_one_line(void **state)
{
    (void)state;
    char big[4000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    crr_log_set_format(CRR_LOG_JSON);
    char *line = s_capture(CRR_LOG_INFO, big);
    json_t *o = json_loads(line, 0, NULL);
    assert_non_null(o); /* cut, but still whole JSON */
    const char *m = json_string_value(json_object_get(o, "msg"));
    assert_true(strlen(m) > 1000 && strspn(m, "\"") == strlen(m));
    json_decref(o);
    free(line);
    crr_log_set_format(CRR_LOG_TEXT);
}

static void test_format_names(void **state)
{
    (void)state;
    char why[128];
    assert_int_equal(crr_log_set_format_name("json"), 0);
    assert_int_equal(crr_log_set_format_name("text"), 0);
    assert_int_equal(crr_log_set_format_name("xml"), CRR_EINVAL);
    assert_int_equal(crr_log_check_format("json", why, sizeof why), 0);
    assert_int_equal(crr_log_check_format("JSON", why, sizeof why), -1);
    assert_string_equal(why, "'JSON' is not a log format (text or json)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_line),
        cmocka_unit_test(test_json_escapes),
        cmocka_unit_test(test_json_bad_utf8_replaced),
        cmocka_unit_test(test_json_long_message_stays_one_line),
        cmocka_unit_test(test_format_names),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
