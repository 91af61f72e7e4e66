/* test_json: the proto3 JSON codec (common/json). Every event type round-trips
 * through JSON and the binary wire format unchanged; both name spellings are
 * read; every kind of bad input is refused with the proto path and
 * REJECT_CODE_MALFORMED and without leaks (ASan builds check that); maps and
 * wrappers through Snapshot/IndicatorValue; EMIT_DEFAULTS and ORIG_NAMES;
 * Timestamp, bytes and float special forms through the well-known types.
 * Google's own json_format is compared in tests/e2e/test_json_google.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "codec.h"
#include "json.h"

#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEAD                                                                                     \
    "{\"sourceId\":\"col-1\",\"seq\":\"18446744073709551615\",\"borough\":\"E09000022\","          \
    "\"occurredAt\":\"2026-01-02T03:04:05.123Z\",\"recordId\":\"r-\xc3\xa9\\\"1\","

/* One canonical line per event type, every field non-default. */
static const char *const s_events[] = {
    S_HEAD "\"trainingFeedback\":{\"courseId\":\"c\",\"sessionId\":\"s\",\"trainerId\":\"t\","
           "\"staffGroup\":\"STAFF_GROUP_SUPERVISOR\",\"overall\":5,\"relevance\":4,"
           "\"trainerQuality\":3,\"purposeExplained\":2,\"communityInterface\":1,"
           "\"wouldRecommend\":true}}",
    S_HEAD "\"learningAssessment\":{\"courseId\":\"c\",\"participantRef\":\"p\",\"preScore\":3,"
           "\"postScore\":8,\"maxScore\":10}}",
    S_HEAD "\"behaviourObservation\":{\"officerRef\":\"o\",\"observer\":\"OBSERVER_ROLE_PEER\","
           "\"itemsObserved\":10,\"itemsMet\":7,\"trained\":true}}",
    S_HEAD "\"attendance\":{\"courseId\":\"c\",\"sessionId\":\"s\","
           "\"staffGroup\":\"STAFF_GROUP_OPERATIONAL\",\"booked\":4294967295,\"attended\":20,"
           "\"senior\":2,\"mandatory\":true}}",
    S_HEAD "\"trainingCost\":{\"courseId\":\"c\",\"category\":\"COST_CATEGORY_VENUE\","
           "\"amountPence\":\"-9223372036854775808\"}}",
    S_HEAD "\"staffHeadcount\":{\"staffGroup\":\"STAFF_GROUP_SENIOR_MANAGER\",\"headcount\":100,"
           "\"inScope\":90}}",
    S_HEAD "\"stopSearch\":{\"count\":2,\"ethnicity\":\"ETHNICITY_BLACK\",\"sdeCode\":\"B1\","
           "\"officerEthnicity\":\"OFFICER_ETHNICITY_IC9\",\"legislation\":\"LEGISLATION_PACE_S1\","
           "\"outcome\":\"OUTCOME_ARREST\",\"objectFound\":true,\"groundsReviewed\":true,"
           "\"groundsSatisfactory\":true}}",
    S_HEAD "\"complaint\":{\"allegations\":3,\"category\":\"COMPLAINT_CATEGORY_INCIVILITY\","
           "\"complainantEthnicity\":\"ETHNICITY_ASIAN\",\"linkedToStopSearch\":true}}",
    S_HEAD "\"racistIncident\":{\"count\":1,\"recordedAsCrime\":true,"
           "\"victimEthnicity\":\"ETHNICITY_MIXED\"}}",
    S_HEAD "\"surveyResponse\":{\"survey\":\"SURVEY_PAS\",\"ethnicity\":\"ETHNICITY_WHITE\","
           "\"gender\":\"GENDER_NOT_STATED\",\"weight\":1.25,\"goodJob\":5,"
           "\"treatsEveryoneFairly\":4,\"confidentAsVictim\":3,\"fairAsSuspect\":2,"
           "\"wouldReport\":\"ANSWER_DONT_KNOW\"}}",
    S_HEAD "\"communityEngagement\":{\"format\":\"ENGAGEMENT_FORMAT_FOCUS_GROUP\","
           "\"venue\":\"VENUE_COMMUNITY_VENUE\",\"policeParticipants\":4,"
           "\"communityParticipants\":12,\"preBriefed\":true,\"debriefed\":true,"
           "\"policeRating\":4,\"communityRating\":5}}",
};
#define S_NEVENTS (sizeof s_events / sizeof s_events[0])

/* Parses text as desc; fails the test on error. */
static ProtobufCMessage *s_parse_ok(const ProtobufCMessageDescriptor *desc, const char *text)
{
    ProtobufCMessage *m = NULL;
    crr_diag_t d;
    crr_diag_clear(&d);
    int rc = crr_json_parse(desc, text, strlen(text), &m, &d);
    if (rc != 0)
        fail_msg("parse of %s failed: %s: %s", text, d.field, d.reason);
    assert_non_null(m);
    return m;
}

/* Asserts that text parses as desc and dumps to want (with flags). */
static void s_check_dump(const ProtobufCMessageDescriptor *desc, const char *text, unsigned flags,
                         const char *want)
{
    ProtobufCMessage *m = s_parse_ok(desc, text);
    char *s = crr_json_dumps(m, flags);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
    crr_codec_free(m);
}

/* Asserts that text is refused with the given field path and a reason
 * containing reason_part. */
static void s_check_err(const ProtobufCMessageDescriptor *desc, const char *text, const char *field,
                        const char *reason_part)
{
    ProtobufCMessage *m = (ProtobufCMessage *)&m; /* must be reset to NULL */
    crr_diag_t d;
    crr_diag_clear(&d);
    strcpy(d.file, "in.jsonl");
    d.line = 7;
    int rc = crr_json_parse(desc, text, strlen(text), &m, &d);
    if (rc != CRR_EPARSE)
        fail_msg("%s: expected CRR_EPARSE, got %d", text, rc);
    assert_null(m);
    assert_int_equal(d.code, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED);
    assert_int_equal(d.line, 7);
    assert_string_equal(d.file, "in.jsonl");
    if (strcmp(d.field, field) != 0)
        fail_msg("%s: field \"%s\", expected \"%s\" (%s)", text, d.field, field, d.reason);
    if (!strstr(d.reason, reason_part))
        fail_msg("%s: reason \"%s\" lacks \"%s\"", text, d.reason, reason_part);
}

/* Every event type: JSON -> message -> JSON is the identity on canonical
 * text, and so is JSON -> binary -> message -> JSON. */
static void test_events_roundtrip(void **state)
{
    (void)state;
    for (size_t i = 0; i < S_NEVENTS; i++) {
        ProtobufCMessage *m = s_parse_ok(&crrmon__v1__event__descriptor, s_events[i]);
        char *s = crr_json_dumps(m, 0);
        assert_non_null(s);
        assert_string_equal(s, s_events[i]);
        free(s);
        uint8_t *buf;
        size_t n;
        assert_int_equal(crr_codec_pack(m, &buf, &n), 0);
        Crrmon__V1__Event *e2 = NULL;
        assert_int_equal(crr_codec_unpack_event(buf, n, n, &e2), 0);
        s = crr_json_dumps(&e2->base, 0);
        assert_string_equal(s, s_events[i]);
        assert_int_equal(e2->body_case, 10 + (int)i);
        free(s);
        free(buf);
        crr_codec_free(&e2->base);
        crr_codec_free(m);
    }
}

/* Typed access after parsing: the values land in the right C fields. */
static void test_event_fields(void **state)
{
    (void)state;
    Crrmon__V1__Event *e =
        (Crrmon__V1__Event *)s_parse_ok(&crrmon__v1__event__descriptor, s_events[6]);
    assert_string_equal(e->source_id, "col-1");
    assert_true(e->seq == UINT64_MAX);
    assert_string_equal(e->record_id, "r-\xc3\xa9\"1");
    assert_non_null(e->occurred_at);
    assert_int_equal(e->occurred_at->seconds, 1767323045);
    assert_int_equal(e->occurred_at->nanos, 123000000);
    assert_int_equal(e->body_case, CRRMON__V1__EVENT__BODY_STOP_SEARCH);
    assert_int_equal(e->stop_search->ethnicity, CRRMON__V1__ETHNICITY__ETHNICITY_BLACK);
    assert_int_equal(e->stop_search->officer_ethnicity, 9);
    assert_true(e->stop_search->grounds_satisfactory);
    crr_codec_free(&e->base);
}

/* Proto names, enum numbers, numeric strings, numbers for 64-bit fields,
 * integral reals, null and offsets are all read; output is canonical. */
static void test_lenient_input(void **state)
{
    (void)state;
    s_check_dump(&crrmon__v1__event__descriptor,
                 "{\"source_id\":\"a\",\"seq\":7,\"occurred_at\":\"2026-01-02T03:04:05+01:30\","
                 "\"record_id\":null,\"stop_search\":{\"count\":\"3\",\"ethnicity\":4,"
                 "\"outcome\":\"7\",\"object_found\":false,\"legislation\":2.0,"
                 "\"officer_ethnicity\":null}}",
                 0,
                 "{\"sourceId\":\"a\",\"seq\":\"7\",\"occurredAt\":\"2026-01-02T01:34:05Z\","
                 "\"stopSearch\":{\"count\":3,\"ethnicity\":\"ETHNICITY_BLACK\","
                 "\"legislation\":\"LEGISLATION_MISUSE_OF_DRUGS_S23\","
                 "\"outcome\":\"OUTCOME_OTHER\"}}");
    /* an enum number no value names is kept and written back as the number */
    s_check_dump(&crrmon__v1__event__descriptor, "{\"complaint\":{\"category\":42}}", 0,
                 "{\"complaint\":{\"category\":42}}");
    /* a set oneof member is written even when empty; null body members are ignored */
    s_check_dump(&crrmon__v1__event__descriptor,
                 "{\"complaint\":null,\"racistIncident\":{},\"stopSearch\":null}", 0,
                 "{\"racistIncident\":{}}");
    s_check_dump(&crrmon__v1__training_cost__descriptor,
                 "{\"amountPence\":-12,\"category\":\"COST_CATEGORY_OTHER\"}", 0,
                 "{\"category\":\"COST_CATEGORY_OTHER\",\"amountPence\":\"-12\"}");
    s_check_dump(&crrmon__v1__survey_response__descriptor, "{\"weight\":\"-2.5e1\"}", 0,
                 "{\"weight\":-25.0}");
    s_check_dump(&crrmon__v1__survey_response__descriptor, "{\"weight\":\"Infinity\"}", 0,
                 "{\"weight\":\"Infinity\"}");
    s_check_dump(&crrmon__v1__survey_response__descriptor, "{\"weight\":\"-Infinity\"}", 0,
                 "{\"weight\":\"-Infinity\"}");
    s_check_dump(&crrmon__v1__survey_response__descriptor, "{\"weight\":\"NaN\"}", 0,
                 "{\"weight\":\"NaN\"}");
    s_check_dump(&crrmon__v1__survey_response__descriptor, "{\"weight\":3}", 0, "{\"weight\":3.0}");
    s_check_dump(&crrmon__v1__event__descriptor, "{}", 0, "{}");
}

/* Every kind of bad input is refused with a path and a reason. */
static void test_errors(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *ev = &crrmon__v1__event__descriptor;
    s_check_err(ev, "{\"borough\":\"x\",\"nope\":1}", "nope", "unknown field");
    s_check_err(ev, "{\"stopSearch\":{\"outcomes\":1}}", "stop_search.outcomes", "unknown field");
    s_check_err(ev, "{\"stopSearch\":{\"outcome\":\"ARREST\"}}", "stop_search.outcome",
                "unknown value \"ARREST\" for enum crrmon.v1.Outcome");
    s_check_err(ev, "{\"stopSearch\":{\"outcome\":true}}", "stop_search.outcome", "enum");
    s_check_err(ev, "{\"borough\":1}", "borough", "expected a string");
    s_check_err(ev, "{\"borough\":[\"a\"]}", "borough", "expected a string");
    s_check_err(ev, "{\"seq\":true}", "seq", "expected uint64");
    s_check_err(ev, "{\"seq\":\"-1\"}", "seq", "out of range");
    s_check_err(ev, "{\"seq\":\"18446744073709551616\"}", "seq", "out of range");
    s_check_err(ev, "{\"seq\":\"12abc\"}", "seq", "not a valid uint64");
    s_check_err(ev, "{\"seq\":\" 12\"}", "seq", "not a valid uint64");
    s_check_err(ev, "{\"stopSearch\":{\"objectFound\":\"true\"}}", "stop_search.object_found",
                "expected true or false");
    s_check_err(ev, "{\"stopSearch\":{\"objectFound\":1}}", "stop_search.object_found",
                "expected true or false");
    s_check_err(ev, "{\"stopSearch\":{},\"complaint\":{}}", "complaint",
                "only one member of the oneof");
    s_check_err(ev, "{\"stopSearch\":{\"count\":1},\"trainingCost\":{\"courseId\":\"c\"}}",
                "training_cost", "stop_search is already set");
    s_check_err(ev, "{\"occurredAt\":\"2026-01-02 03:04\"}", "occurred_at", "RFC 3339");
    s_check_err(ev, "{\"occurredAt\":\"2026-02-30T00:00:00Z\"}", "occurred_at", "RFC 3339");
    s_check_err(ev, "{\"occurredAt\":\"2026-01-02T03:04:05\"}", "occurred_at", "RFC 3339");
    s_check_err(ev, "{\"occurredAt\":\"2026-01-02\"}", "occurred_at", "RFC 3339");
    s_check_err(ev, "{\"occurredAt\":1767323045}", "occurred_at", "RFC 3339");
    s_check_err(ev, "{\"occurredAt\":{\"seconds\":1}}", "occurred_at", "RFC 3339");
    s_check_err(ev, "{\"stopSearch\":{\"count\":4294967296}}", "stop_search.count",
                "out of range for uint32");
    s_check_err(ev, "{\"stopSearch\":{\"count\":-1}}", "stop_search.count",
                "out of range for uint32");
    s_check_err(ev, "{\"stopSearch\":{\"count\":1.5}}", "stop_search.count", "not an integer");
    s_check_err(ev, "{\"stopSearch\":{\"count\":\"1.0\"}}", "stop_search.count",
                "not a valid uint32");
    s_check_err(ev, "{\"stopSearch\":{\"ethnicity\":2147483648}}", "stop_search.ethnicity",
                "out of range");
    s_check_err(&crrmon__v1__training_cost__descriptor, "{\"amountPence\":\"9223372036854775808\"}",
                "amount_pence", "out of range");
    s_check_err(&crrmon__v1__training_cost__descriptor, "{\"amountPence\":1e19}", "amount_pence",
                "out of range");
    s_check_err(&crrmon__v1__survey_response__descriptor, "{\"weight\":\"nan\"}", "weight",
                "not a valid double");
    s_check_err(&crrmon__v1__survey_response__descriptor, "{\"weight\":\"0x10\"}", "weight",
                "not a valid double");
    s_check_err(ev, "{\"stopSearch\":[]}", "stop_search", "expected an object");
    s_check_err(ev, "[]", "", "expected an object");
    s_check_err(ev, "{\"borough\":\"a\",\"borough\":\"b\"}", "", "invalid JSON");
    s_check_err(ev, "{\"borough\":\"a\"", "", "invalid JSON");
    s_check_err(ev, "{\"borough\":\"a\",\"borough_x\":1}", "borough_x", "unknown field");
    s_check_err(ev, "{\"sourceId\":\"a\",\"source_id\":\"b\"}", "source_id", "given twice");
    s_check_err(ev, "{\"recordId\":\"a\\u0000b\"}", "", "invalid JSON");
    s_check_err(&crrmon__v1__snapshot__descriptor, "{\"values\":[{},{\"dims\":[]}]}",
                "values[1].dims", "expected an object");
    s_check_err(&crrmon__v1__snapshot__descriptor, "{\"values\":[{},{\"dims\":{\"a\":1}}]}",
                "values[1].dims[a]", "expected a string");
    s_check_err(&crrmon__v1__snapshot__descriptor, "{\"values\":[{\"dims\":{\"a\":null}}]}",
                "values[0].dims[a]", "null");
    s_check_err(&crrmon__v1__snapshot__descriptor, "{\"values\":[null]}", "values[0]", "null");
    s_check_err(&crrmon__v1__snapshot__descriptor, "{\"values\":{}}", "values",
                "expected an array");
    s_check_err(&crrmon__v1__snapshot__descriptor, "{\"values\":[{\"value\":\"x\"}]}",
                "values[0].value", "not a valid double");
    s_check_err(&crrmon__v1__snapshot__descriptor, "{\"values\":[{\"value\":{\"value\":1}}]}",
                "values[0].value", "expected double");
    s_check_err(&crrmon__v1__snapshot__descriptor,
                "{\"id\":\"a\",\"values\":[{\"indicator\":\"x\",\"dims\":{\"k\":\"v\"}},"
                "{\"n\":\"-3\"}]}",
                "values[1].n", "out of range");
    s_check_err(&crrmon__v1__batch__descriptor,
                "{\"events\":[{\"borough\":\"a\"},{\"stopSearch\":{\"outcome\":\"X\"}}]}",
                "events[1].stop_search.outcome", "unknown value");
    s_check_err(&google__protobuf__bytes_value__descriptor, "\"a$==\"", "", "base64");
    s_check_err(&google__protobuf__bytes_value__descriptor, "\"abcde\"", "", "base64");
    s_check_err(&google__protobuf__float_value__descriptor, "1e39", "", "out of range for float");
    s_check_err(&google__protobuf__timestamp__descriptor, "\"0000-12-31T23:59:59Z\"", "",
                "outside");
    s_check_err(&google__protobuf__int32_value__descriptor, "\"2147483648\"", "", "out of range");
    s_check_err(&google__protobuf__int32_value__descriptor, "-2147483649", "", "out of range");
}

/* A NULL diag is allowed; crr_json_to_message reads a jansson value. */
static void test_to_message(void **state)
{
    (void)state;
    ProtobufCMessage *m = NULL;
    json_t *j = json_pack("{s:s, s:{s:s}}", "borough", "E09000001", "complaint", "category",
                          "COMPLAINT_CATEGORY_OTHER");
    assert_int_equal(crr_json_to_message(&crrmon__v1__event__descriptor, j, &m, NULL), 0);
    Crrmon__V1__Event *e = (Crrmon__V1__Event *)m;
    assert_string_equal(e->borough, "E09000001");
    assert_int_equal(e->complaint->category,
                     CRRMON__V1__COMPLAINT_CATEGORY__COMPLAINT_CATEGORY_OTHER);
    json_t *back = crr_json_from_message(m, 0);
    assert_true(json_equal(j, back));
    json_decref(back);
    json_decref(j);
    crr_codec_free(m);
    j = json_pack("{s:i}", "borough", 3);
    assert_int_equal(crr_json_to_message(&crrmon__v1__event__descriptor, j, &m, NULL), CRR_EPARSE);
    assert_null(m);
    json_decref(j);
    assert_int_equal(crr_json_to_message(&crrmon__v1__event__descriptor, NULL, &m, NULL),
                     CRR_EPARSE);
    assert_null(crr_json_from_message(NULL, 0));
    /* a NUL inside a string would be cut short by protobuf-c: refused */
    crr_diag_t d;
    crr_diag_clear(&d);
    j = json_pack("{s:s%}", "recordId", "a\0b", (size_t)3);
    assert_int_equal(crr_json_to_message(&crrmon__v1__event__descriptor, j, &m, &d), CRR_EPARSE);
    assert_null(m);
    assert_string_equal(d.field, "record_id");
    assert_non_null(strstr(d.reason, "NUL"));
    json_decref(j);
}

/* Maps and wrappers in a Snapshot: dims is an object, DoubleValue a bare
 * number, an absent wrapper stays NULL and is left out even with defaults. */
static void test_snapshot_maps_wrappers(void **state)
{
    (void)state;
    const char *in =
        "{\"id\":\"snap-1\",\"asOf\":\"2026-03-01T00:00:00Z\","
        "\"takenAt\":\"2026-03-01T12:00:00.000001Z\",\"schedule\":\"daily\","
        "\"values\":[{\"indicator\":\"stop_search.count\",\"borough\":\"LONDON\","
        "\"windowDays\":30,\"dims\":{\"ethnicity\":\"BLACK\",\"gender\":\"FEMALE\"},"
        "\"value\":12.5,\"n\":\"40\",\"nEff\":0.0,\"ciLow\":\"NaN\",\"ciHigh\":\"Infinity\","
        "\"reliable\":true},{\"indicator\":\"x\",\"value\":0}]}";
    Crrmon__V1__Snapshot *s =
        (Crrmon__V1__Snapshot *)s_parse_ok(&crrmon__v1__snapshot__descriptor, in);
    assert_int_equal(s->n_values, 2);
    Crrmon__V1__IndicatorValue *v = s->values[0];
    assert_int_equal(v->n_dims, 2);
    assert_string_equal(v->dims[0]->key, "ethnicity");
    assert_string_equal(v->dims[0]->value, "BLACK");
    assert_string_equal(v->dims[1]->key, "gender");
    assert_non_null(v->value);
    assert_true(v->value->value == 12.5);
    assert_non_null(v->n_eff);
    assert_true(v->n_eff->value == 0.0);
    assert_true(isnan(v->ci_low->value));
    assert_true(isinf(v->ci_high->value));
    assert_true(v->n == 40);
    assert_int_equal(s->taken_at->nanos, 1000);
    assert_non_null(s->values[1]->value);
    assert_null(s->values[1]->n_eff);
    char *out = crr_json_dumps(&s->base, 0);
    assert_string_equal(
        out, "{\"id\":\"snap-1\",\"asOf\":\"2026-03-01T00:00:00Z\","
             "\"takenAt\":\"2026-03-01T12:00:00.000001Z\",\"schedule\":\"daily\","
             "\"values\":[{\"indicator\":\"stop_search.count\",\"borough\":\"LONDON\","
             "\"windowDays\":30,\"dims\":{\"ethnicity\":\"BLACK\",\"gender\":\"FEMALE\"},"
             "\"value\":12.5,\"n\":\"40\",\"nEff\":0.0,\"ciLow\":\"NaN\",\"ciHigh\":\"Infinity\","
             "\"reliable\":true},{\"indicator\":\"x\",\"value\":0.0}]}");
    free(out);
    out = crr_json_dumps(&s->base, CRR_JSON_EMIT_DEFAULTS | CRR_JSON_ORIG_NAMES);
    assert_non_null(strstr(out, "{\"indicator\":\"x\",\"borough\":\"\",\"window_days\":0,"
                                "\"dims\":{},\"value\":0.0,\"n\":\"0\",\"reliable\":false,"
                                "\"boroughs_reporting\":0}"));
    assert_non_null(strstr(out, "\"n_eff\":0.0,\"ci_low\":\"NaN\""));
    free(out);
    /* binary round trip keeps the map */
    uint8_t *buf;
    size_t n;
    assert_int_equal(crr_codec_pack(&s->base, &buf, &n), 0);
    ProtobufCMessage *s2 = NULL;
    assert_int_equal(crr_codec_unpack(&crrmon__v1__snapshot__descriptor, buf, n, n, &s2), 0);
    char *a = crr_json_dumps(&s->base, 0), *b = crr_json_dumps(s2, 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(buf);
    crr_codec_free(s2);
    crr_codec_free(&s->base);
}

/* EMIT_DEFAULTS writes every scalar, enum, repeated and map field, but no
 * unset message or oneof member; ORIG_NAMES keeps proto names. */
static void test_emit_defaults(void **state)
{
    (void)state;
    s_check_dump(&crrmon__v1__event__descriptor, "{}", CRR_JSON_EMIT_DEFAULTS,
                 "{\"sourceId\":\"\",\"seq\":\"0\",\"borough\":\"\",\"recordId\":\"\"}");
    s_check_dump(&crrmon__v1__event__descriptor, "{\"stopSearch\":{}}",
                 CRR_JSON_EMIT_DEFAULTS | CRR_JSON_ORIG_NAMES,
                 "{\"source_id\":\"\",\"seq\":\"0\",\"borough\":\"\",\"record_id\":\"\","
                 "\"stop_search\":{\"count\":0,\"ethnicity\":\"ETHNICITY_UNSPECIFIED\","
                 "\"sde_code\":\"\",\"officer_ethnicity\":\"OFFICER_ETHNICITY_UNSPECIFIED\","
                 "\"legislation\":\"LEGISLATION_UNSPECIFIED\",\"outcome\":\"OUTCOME_UNSPECIFIED\","
                 "\"object_found\":false,\"grounds_reviewed\":false,"
                 "\"grounds_satisfactory\":false}}");
    s_check_dump(&crrmon__v1__snapshot__descriptor, "{}", CRR_JSON_EMIT_DEFAULTS,
                 "{\"id\":\"\",\"schedule\":\"\",\"values\":[],\"catchUp\":false}");
    s_check_dump(&crrmon__v1__indicator_value__descriptor, "{}", CRR_JSON_EMIT_DEFAULTS,
                 "{\"indicator\":\"\",\"borough\":\"\",\"windowDays\":0,\"dims\":{},\"n\":\"0\","
                 "\"reliable\":false,\"boroughsReporting\":0}");
    s_check_dump(&crrmon__v1__ack__descriptor, "{\"rejected\":[{}]}", CRR_JSON_EMIT_DEFAULTS,
                 "{\"sourceId\":\"\",\"epoch\":\"0\",\"durableSeq\":\"0\",\"rejected\":[{\"seq\":"
                 "\"0\",\"code\":\"REJECT_CODE_UNSPECIFIED\",\"field\":\"\",\"reason\":\"\"}],"
                 "\"expectedSeq\":\"0\",\"error\":\"REJECT_CODE_UNSPECIFIED\",\"errorText\":\"\","
                 "\"totalApplied\":\"0\",\"totalDuplicates\":\"0\",\"totalRejected\":\"0\"}");
    /* without the flag, defaults (incl. -0.0 is not a default) */
    s_check_dump(&crrmon__v1__survey_response__descriptor, "{\"weight\":-0.0,\"goodJob\":0}", 0,
                 "{\"weight\":-0.0}");
}

/* Timestamps: offsets, fractional digits 0/3/6/9, the proto range. */
static void test_timestamps(void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *ts = &google__protobuf__timestamp__descriptor;
    s_check_dump(ts, "\"2026-01-02T03:04:05Z\"", 0, "\"2026-01-02T03:04:05Z\"");
    s_check_dump(ts, "\"2026-01-02T03:04:05.5Z\"", 0, "\"2026-01-02T03:04:05.500Z\"");
    s_check_dump(ts, "\"2026-01-02T03:04:05.0001-00:30\"", 0, "\"2026-01-02T03:34:05.000100Z\"");
    s_check_dump(ts, "\"2026-01-02T03:04:05.000000001+00:00\"", 0,
                 "\"2026-01-02T03:04:05.000000001Z\"");
    s_check_dump(ts, "\"2026-01-01T00:30:00+01:00\"", 0, "\"2025-12-31T23:30:00Z\"");
    s_check_dump(ts, "\"1969-12-31T23:59:59.999Z\"", 0, "\"1969-12-31T23:59:59.999Z\"");
    s_check_dump(ts, "\"0001-01-01T00:00:00Z\"", 0, "\"0001-01-01T00:00:00Z\"");
    s_check_dump(ts, "\"9999-12-31T23:59:59.999999999Z\"", 0, "\"9999-12-31T23:59:59.999999999Z\"");
    Google__Protobuf__Timestamp *t =
        (Google__Protobuf__Timestamp *)s_parse_ok(ts, "\"1970-01-01T00:00:01.25Z\"");
    assert_int_equal(t->seconds, 1);
    assert_int_equal(t->nanos, 250000000);
    crr_codec_free(&t->base);
}

/* Wrappers and bytes as bare values at top level. */
static void test_wrappers_bytes(void **state)
{
    (void)state;
    s_check_dump(&google__protobuf__bytes_value__descriptor, "\"aGVsbG8=\"", 0, "\"aGVsbG8=\"");
    s_check_dump(&google__protobuf__bytes_value__descriptor, "\"aGVsbG8\"", 0, "\"aGVsbG8=\"");
    s_check_dump(&google__protobuf__bytes_value__descriptor, "\"-_-_\"", 0, "\"+/+/\"");
    s_check_dump(&google__protobuf__bytes_value__descriptor, "\"\"", 0, "\"\"");
    Google__Protobuf__BytesValue *b = (Google__Protobuf__BytesValue *)s_parse_ok(
        &google__protobuf__bytes_value__descriptor, "\"AAEC/w==\"");
    assert_int_equal(b->value.len, 4);
    assert_memory_equal(b->value.data, "\x00\x01\x02\xff", 4);
    crr_codec_free(&b->base);
    s_check_dump(&google__protobuf__int64_value__descriptor, "123", 0, "\"123\"");
    s_check_dump(&google__protobuf__uint32_value__descriptor, "\"4294967295\"", 0, "4294967295");
    s_check_dump(&google__protobuf__bool_value__descriptor, "true", 0, "true");
    s_check_dump(&google__protobuf__string_value__descriptor, "\"\\u2603\"", 0, "\"\xe2\x98\x83\"");
    /* reals: the fewest digits that read back exactly */
    s_check_dump(&google__protobuf__float_value__descriptor, "0.1", 0, "0.1");
    s_check_dump(&google__protobuf__float_value__descriptor, "16777217", 0, "16777216.0");
    s_check_dump(&google__protobuf__double_value__descriptor, "0.1", 0, "0.1");
    s_check_dump(&google__protobuf__double_value__descriptor, "0.30000000000000004", 0,
                 "0.30000000000000004");
    s_check_dump(&google__protobuf__double_value__descriptor, "5e-324", 0, "5e-324");
    s_check_dump(&crrmon__v1__indicator_value__descriptor,
                 "{\"value\":0.1,\"nEff\":2.5,\"ciLow\":-7}", 0,
                 "{\"value\":0.1,\"nEff\":2.5,\"ciLow\":-7.0}");
    s_check_dump(&crrmon__v1__indicator_value__descriptor,
                 "{\"value\":0.1,\"nEff\":0.3333333333333333}", 0,
                 "{\"value\":0.1,\"nEff\":0.3333333333333333}");
    /* one precision per dump: a value needing 17 digits gives 17 to all */
    s_check_dump(&crrmon__v1__indicator_value__descriptor,
                 "{\"value\":0.1,\"nEff\":0.30000000000000004}", 0,
                 "{\"value\":0.10000000000000001,\"nEff\":0.30000000000000004}");
    s_check_dump(&crrmon__v1__indicator_value__descriptor,
                 "{\"value\":0.30000000000000004,\"nEff\":0.1,\"ciLow\":2.5}", 0,
                 "{\"value\":0.30000000000000004,\"nEff\":0.10000000000000001,"
                 "\"ciLow\":2.5}");
    s_check_dump(&google__protobuf__float_value__descriptor, "\"-Infinity\"", 0, "\"-Infinity\"");
    s_check_dump(&google__protobuf__double_value__descriptor, "1e300", 0, "1e300");
}

/* Strings from the wire may be invalid UTF-8 (protobuf-c does not check):
 * bad bytes are written as U+FFFD, in values and in map keys. The event is
 * built by hand: the edge rejects a borough that is not UTF-8. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    Crrmon__V1__Event e = CRRMON__V1__EVENT__INIT;
    char bad[] = "\xff"
                 "A\xc3\xa9\xed\xa0\x80";
    e.borough = bad;
    char *out = crr_json_dumps(&e.base, 0);
    assert_non_null(out);
    assert_string_equal(out, "{\"borough\":\"\xef\xbf\xbd"
                             "A\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd"
                             "\xef\xbf\xbd\"}");
    free(out);
    Crrmon__V1__IndicatorValue v = CRRMON__V1__INDICATOR_VALUE__INIT;
    Crrmon__V1__IndicatorValue__DimsEntry de = CRRMON__V1__INDICATOR_VALUE__DIMS_ENTRY__INIT;
    Crrmon__V1__IndicatorValue__DimsEntry *dp = &de;
    de.key = bad;
    de.value = "x";
    v.n_dims = 1;
    v.dims = &dp;
    out = crr_json_dumps(&v.base, 0);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"dims\":{\"\xef\xbf\xbd"
                                "A"));
    free(out);
}

/* crr_json_text: any bytes in, valid UTF-8 out, never half a character. */
static void test_text(void **state)
{
    (void)state;
    json_t *j = crr_json_text("a\xffz", 3, 100);
    assert_string_equal(json_string_value(j), "a\xef\xbf\xbdz");
    json_decref(j);
    j = crr_json_text("ab\xc3\xa9", 4, 3); /* "é" does not fit whole: left out */
    assert_string_equal(json_string_value(j), "ab");
    json_decref(j);
    j = crr_json_text("ab\xc3", 3, 10); /* cut inside a character: replaced */
    assert_string_equal(json_string_value(j), "ab\xef\xbf\xbd");
    json_decref(j);
    j = crr_json_text("\xf0\x9f\x98\x80", 4, 4);
    assert_string_equal(json_string_value(j), "\xf0\x9f\x98\x80");
    json_decref(j);
    j = crr_json_text("\xed\xa0\x80", 3, 9); /* a surrogate: three bad bytes */
    assert_string_equal(json_string_value(j), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    char *dump = json_dumps(j, JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
    assert_non_null(dump);
    free(dump);
    json_decref(j);
    assert_null(crr_json_text(NULL, 0, 4));

    assert_true(crr_json_is_utf8("ab\xc3\xa9", 4));
    assert_false(crr_json_is_utf8("ab\xc3\xa9", 3)); /* cut inside the character */
    assert_false(crr_json_is_utf8("\xff", 1));
    assert_false(crr_json_is_utf8("\xc0\x80", 2)); /* overlong NUL */
    assert_true(crr_json_is_utf8("", 0));
    char t[] = "a\xff"
               "b\nc\xc3\xa9";
    crr_json_clean(t);
    assert_string_equal(t, "a?b?c\xc3\xa9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_roundtrip),
        cmocka_unit_test(test_event_fields),
        cmocka_unit_test(test_lenient_input),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_to_message),
        cmocka_unit_test(test_snapshot_maps_wrappers),
        cmocka_unit_test(test_emit_defaults),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_wrappers_bytes),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
