/* test_jsonfast: the streaming fast path of the JSON reader
 * (common/jsonfast.h) against the jansson path it stands in for. The rule
 * under test: whatever the fast path accepts, the jansson path accepts too
 * and builds the same message, byte for byte once packed; everything else
 * the fast path declines (so crr_json_parse words errors as it always did).
 * Checked over generated lines of every type (which it must all take), over
 * hand-picked edge cases, and over thousands of one-byte mutations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "codec.h"
#include "gen.h"
#include "json.h"
#include "jsonfast.h"

#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The jansson path alone (crr_json_parse's flags): 0 and *out, or not 0. */
static int s_slow(const char *text, size_t len, ProtobufCMessage **out)
{
    *out = NULL;
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (!j)
        return CRR_EPARSE;
    crr_diag_t d;
    crr_diag_clear(&d);
    int rc = crr_json_to_message(&crrmon__v1__event__descriptor, j, out, &d);
    json_decref(j);
    return rc;
}

/* Checks the rule on one line. Returns 1 when the fast path took it. */
static int s_check(const char *text, size_t len)
{
    ProtobufCMessage *fast = NULL, *slow = NULL;
    int frc = crr_json_fast_parse(&crrmon__v1__event__descriptor, text, len, &fast);
    int src = s_slow(text, len, &slow);
    if (frc == CRR_JSONFAST_DECLINED) {
        assert_null(fast);
        crr_codec_free(slow);
        return 0;
    }
    if (frc != 0)
        fail_msg("fast path: %d on %.*s", frc, (int)len, text);
    if (src != 0)
        fail_msg("fast path took a line the jansson path refuses: %.*s", (int)len, text);
    uint8_t *a, *b;
    size_t alen, blen;
    assert_int_equal(crr_codec_pack(fast, &a, &alen), 0);
    assert_int_equal(crr_codec_pack(slow, &b, &blen), 0);
    if (alen != blen || memcmp(a, b, alen) != 0)
        fail_msg("fast and jansson paths differ on %.*s", (int)len, text);
    free(a);
    free(b);
    crr_codec_free(fast);
    crr_codec_free(slow);
    return 1;
}

/* n generated lines of every type (malloc'd; free each and the array). */
static char **s_generated(size_t n)
{
    crr_gen_opts_t go = {.seed = 11, .start_sec = 1700000000, .end_sec = 1790000000};
    crr_gen_t *g = NULL;
    assert_int_equal(crr_gen_new(&go, &g), 0);
    char **lines = calloc(n, sizeof *lines);
    assert_non_null(lines);
    for (size_t i = 0; i < n; i++) {
        Crrmon__V1__Event *e = NULL;
        assert_int_equal(crr_gen_next(g, &e), 0);
        lines[i] = crr_json_dumps(&e->base, (i % 3 == 2) ? CRR_JSON_ORIG_NAMES : 0);
        assert_non_null(lines[i]);
        crr_codec_free(&e->base);
    }
    crr_gen_destroy(&g);
    return lines;
}

static void s_free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* Every generated line (camelCase and proto names) takes the fast path and
 * gives the jansson path's message. */
static void test_generated(void **state)
{
    (void)state;
    enum { N = 3000 };
    char **lines = s_generated(N);
    for (size_t i = 0; i < N; i++)
        if (!s_check(lines[i], strlen(lines[i])))
            fail_msg("a generated line was declined: %s", lines[i]);
    s_free_lines(lines, N);
}

#define S_HEAD "{\"borough\":\"E09000022\",\"occurredAt\":\"2026-01-02T03:04:05.123Z\","

/* Edge cases: taken ones must match, refused ones must be declined. */
static void test_edges(void **state)
{
    (void)state;
    static const char *const taken[] = {
        S_HEAD "\"trainingCost\":{\"courseId\":\"c\",\"category\":\"COST_CATEGORY_VENUE\","
               "\"amountPence\":\"-9223372036854775808\"}}",
        S_HEAD "\"trainingCost\":{\"amountPence\":\"9223372036854775807\"}}",
        S_HEAD "\"trainingCost\":{\"amountPence\":12}}",
        S_HEAD "\"surveyResponse\":{\"weight\":1e-300,\"goodJob\":0}}",
        S_HEAD "\"surveyResponse\":{\"weight\":-0}}",
        S_HEAD "\"surveyResponse\":{\"weight\":-0.0}}",
        S_HEAD "\"surveyResponse\":{\"weight\":3}}",
        S_HEAD "\"attendance\":{\"booked\":4294967295}}",
        " \t{\"borough\" : \"E09000001\" , \"record_id\":\"r\xc3\xa9\"}\r\n",
        "{}",
        "{\"occurred_at\":\"2026-01-02T03:04:05+01:00\"}",
        "{\"seq\":\"18446744073709551615\",\"source_id\":\"\"}",
    };
    for (size_t i = 0; i < sizeof taken / sizeof *taken; i++)
        if (!s_check(taken[i], strlen(taken[i])))
            fail_msg("declined: %s", taken[i]);
    static const char *const declined[] = {
        "{\"borough\":\"a\",\"borough\":\"b\"}",       /* duplicate */
        "{\"recordId\":\"a\",\"record_id\":\"b\"}",    /* both spellings */
        "{\"complaint\":{},\"stopSearch\":{}}",        /* two oneof members */
        "{\"trainingCost\":{\"amountPence\":\"+5\"}}", /* json.c's rule, not ours */
        "{\"trainingCost\":{\"amountPence\":5.0}}",    /* a real into an integer */
        "{\"trainingCost\":{\"amountPence\":9223372036854775808}}",
        "{\"trainingCost\":{\"amountPence\":\"9223372036854775808\"}}",
        "{\"attendance\":{\"booked\":4294967296}}",  /* out of range */
        "{\"attendance\":{\"booked\":-1}}",          /* out of range */
        "{\"surveyResponse\":{\"weight\":1e400}}",   /* jansson: overflow */
        "{\"surveyResponse\":{\"weight\":\"NaN\"}}", /* json.c's rule */
        "{\"surveyResponse\":{\"survey\":1}}",       /* enum by number */
        "{\"surveyResponse\":{\"survey\":\"SURVEY_NOPE\"}}",
        "{\"borough\":null}",             /* null */
        "{\"borough\":\"a\\\"b\"}",       /* escape */
        "{\"borough\":\"\\ud800\"}",      /* lone surrogate */
        "{\"borough\":\"\xc0\xaf\"}",     /* overlong UTF-8 */
        "{\"borough\":\"\xed\xa0\x80\"}", /* encoded surrogate */
        "{\"borough\":\"a\tb\"}",         /* raw control bytes in a string */
        "{\"borough\":\"a\rb\"}",
        "{\"borough\":\"a\nb\"}",
        "{\"borough\":\"a\"}\v", /* \v is not JSON whitespace */
        "{\"borough\":\"a\"}\f", /* nor \f */
        "{\"borough\":\"a\"} x", /* trailing garbage */
        "{}\"b",                 /* an unfinished token after the value */
        "{} \"b}",
        "{}1",
        "{}t",
        "{\"borough\":\"a\"}{}",           /* two values */
        "{\"borough\":\"a\",}",            /* trailing comma */
        "{\"nope\":1}",                    /* unknown field */
        "{\"occurredAt\":{}}",             /* Timestamp as an object */
        "{\"occurredAt\":\"2026-01-02\"}", /* a date is not RFC 3339 */
        "{\"occurredAt\":\"10000-01-01T00:00:00Z\"}",
        "{\"complaint\":[]}",                   /* array */
        "[]",                                   /* not an object */
        "\"x\"",                                /* not an object */
        "{\"borough\":1}",                      /* wrong JSON type */
        "{\"stopSearch\":{\"objectFound\":1}}", /* a number as a bool */
        "{\"stopSearch\":{\"count\":true}}",    /* a bool as a number */
        "{\"borough\":\"E09000001\"",           /* cut short */
        "",
    };
    for (size_t i = 0; i < sizeof declined / sizeof *declined; i++) {
        ProtobufCMessage *m = (ProtobufCMessage *)&m;
        int rc = crr_json_fast_parse(&crrmon__v1__event__descriptor, declined[i],
                                     strlen(declined[i]), &m);
        if (rc != CRR_JSONFAST_DECLINED)
            fail_msg("not declined (%d): %s", rc, declined[i]);
        assert_null(m);
        s_check(declined[i], strlen(declined[i]));
    }
}

/* One-byte changes (a replacement, a deletion, an insertion) at every
 * position of generated lines: the rule holds for each, and the fast path
 * still takes some of them (so the check is not vacuous). */
static void test_mutations(void **state)
{
    (void)state;
    enum { N = 24 };
    static const char subst[] = {'"', '1', '-', '.', 'e', ' ',  '}',    '{',    '[',    ',',   ':',
                                 'x', '0', 'E', 'n', 't', '\\', '\x01', '\x0b', '\xc3', '\xff'};
    char **lines = s_generated(N);
    size_t taken = 0, tried = 0;
    char buf[2048];
    for (size_t l = 0; l < N; l++) {
        size_t len = strlen(lines[l]);
        assert_true(len + 2 < sizeof buf);
        for (size_t i = 0; i < len; i++) {
            for (size_t k = 0; k < sizeof subst; k++) {
                memcpy(buf, lines[l], len);
                buf[i] = subst[k];
                taken += (size_t)s_check(buf, len);
                /* insertion before i */
                memcpy(buf, lines[l], i);
                buf[i] = subst[k];
                memcpy(buf + i + 1, lines[l] + i, len - i);
                taken += (size_t)s_check(buf, len + 1);
                tried += 2;
            }
            memcpy(buf, lines[l], i);
            memcpy(buf + i, lines[l] + i + 1, len - i - 1);
            taken += (size_t)s_check(buf, len - 1);
            tried++;
        }
    }
    assert_true(taken > 0 && taken < tried);
    s_free_lines(lines, N);
}

/* A well-known type at the top level is never an object of its fields: a
 * wrapper is its bare value and a Timestamp a string, so {"value": 1.5} is
 * not a DoubleValue (the jansson path refuses it) and must be declined. */
static void test_top_level_wkt(void **state)
{
    (void)state;
    static const struct {
        const ProtobufCMessageDescriptor *desc;
        const char *text;
    } cases[] = {
        {&google__protobuf__double_value__descriptor, "{\"value\":1.5}"},
        {&google__protobuf__string_value__descriptor, "{\"value\":\"x\"}"},
        {&google__protobuf__timestamp__descriptor, "{\"seconds\":\"5\",\"nanos\":1}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ProtobufCMessage *m = NULL;
        crr_diag_t d;
        crr_diag_clear(&d);
        size_t len = strlen(cases[i].text);
        int rc = crr_json_fast_parse(cases[i].desc, cases[i].text, len, &m);
        if (rc != CRR_JSONFAST_DECLINED)
            fail_msg("%s as %s: not declined (%d)", cases[i].text, cases[i].desc->name, rc);
        assert_null(m);
        assert_int_equal(crr_json_parse(cases[i].desc, cases[i].text, len, &m, &d), CRR_EPARSE);
        assert_null(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_top_level_wkt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
