/* test_edge: common/edge, the one function that says what an input line
 * means: blank lines (" \r ", CRLF, tabs) are skipped, a byte-order mark is
 * skipped on line 1 only, JSON errors are MALFORMED rejects with file and
 * line, validation errors keep their code and field, a good line gives an
 * Event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "codec.h"
#include "edge.h"

#include <errno.h>
#include <string.h>

#define GOOD                                                                                       \
    "{\"borough\":\"E09000010\",\"occurredAt\":\"2026-02-02T11:27:42Z\","                          \
    "\"racistIncident\":{\"count\":2}}"

static const crr_validate_opts_t s_vo = {.now_sec = 1772366400, .future_slack_sec = 300};

/* crr_edge_line on a C string. */
static int s_edge(const char *text, uint64_t lineno, Crrmon__V1__Event **e, crr_diag_t *d)
{
    return crr_edge_line(text, strlen(text), "in.jsonl", lineno, &s_vo, e, d);
}

static void test_blank_lines(void **state)
{
    (void)state;
    static const char *blank[] = {"", " ", "\t", "\r", " \r ", " \t\r\n", "\xEF\xBB\xBF \r"};
    for (size_t i = 0; i < sizeof blank / sizeof *blank; i++) {
        Crrmon__V1__Event *e = (Crrmon__V1__Event *)&e;
        crr_diag_t d;
        assert_int_equal(s_edge(blank[i], 1, &e, &d), CRR_EDGE_BLANK);
        assert_null(e);
        assert_int_equal(d.code, 0);
        assert_true(crr_edge_is_blank(blank[i], strlen(blank[i]), 1));
    }
    /* a BOM is only skipped on line 1: elsewhere it is not blank */
    assert_false(crr_edge_is_blank("\xEF\xBB\xBF", 3, 2));
}

static void test_good_line_with_crlf(void **state)
{
    (void)state;
    Crrmon__V1__Event *e = NULL;
    crr_diag_t d;
    assert_int_equal(s_edge(GOOD "\r", 7, &e, &d), 0);
    assert_non_null(e);
    assert_string_equal(e->borough, "E09000010");
    assert_int_equal(e->racist_incident->count, 2);
    crr_codec_free(&e->base);
}

static void test_bom_line_one_only(void **state)
{
    (void)state;
    Crrmon__V1__Event *e = NULL;
    crr_diag_t d;
    assert_int_equal(s_edge("\xEF\xBB\xBF" GOOD, 1, &e, &d), 0);
    assert_non_null(e);
    crr_codec_free(&e->base);
    assert_int_equal(s_edge("\xEF\xBB\xBF" GOOD, 2, &e, &d), CRR_EREJECT);
    assert_null(e);
    assert_int_equal(d.code, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED);
    assert_string_equal(d.file, "in.jsonl");
    assert_int_equal(d.line, 2);
}

static void test_malformed_json(void **state)
{
    (void)state;
    Crrmon__V1__Event *e = NULL;
    crr_diag_t d;
    assert_int_equal(s_edge("{\"borough\": ", 3, &e, &d), CRR_EREJECT);
    assert_null(e);
    assert_int_equal(d.code, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED);
    assert_int_equal(d.line, 3);
    assert_string_equal(d.file, "in.jsonl");
    assert_true(strlen(d.reason) > 0);
    assert_int_equal(s_edge("{\"racistIncident\":{\"count\":\"lots\"}}", 4, &e, &d), CRR_EREJECT);
    assert_int_equal(d.code, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED);
    assert_string_equal(d.field, "racist_incident.count");
}

static void test_invalid_event(void **state)
{
    (void)state;
    Crrmon__V1__Event *e = NULL;
    crr_diag_t d;
    /* 10 minutes ahead of the clock: FUTURE, from the validation rules */
    assert_int_equal(s_edge("{\"borough\":\"E09000010\",\"occurredAt\":\"2026-03-01T12:10:00Z\","
                            "\"racistIncident\":{\"count\":1}}",
                            5, &e, &d),
                     CRR_EREJECT);
    assert_null(e);
    assert_int_equal(d.code, CRRMON__V1__REJECT_CODE__REJECT_CODE_FUTURE);
    assert_string_equal(d.field, "occurred_at");
    assert_int_equal(d.line, 5);
    assert_int_equal(s_edge("{\"borough\":\"E09000099\",\"occurredAt\":\"2026-02-01T00:00:00Z\","
                            "\"racistIncident\":{\"count\":1}}",
                            6, &e, &d),
                     CRR_EREJECT);
    assert_int_equal(d.code, CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blank_lines),       cmocka_unit_test(test_good_line_with_crlf),
        cmocka_unit_test(test_bom_line_one_only), cmocka_unit_test(test_malformed_json),
        cmocka_unit_test(test_invalid_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
