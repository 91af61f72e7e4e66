/* event_fixture: a domain Event for a unit test, built the way real input
 * becomes one: one JSON Lines line through the edge (common/edge.h), so an
 * event a test uses is one the collector and `crrmon send` would accept, and
 * a field added to the proto or a rule added to validation reaches the tests
 * without editing struct-building code.
 *
 * The line is validated as at FX_EDGE_NOW (the year 2100) with no age limit:
 * any past instant is accepted, so a test's own clock (CRRMON_NOW) does not
 * matter here. seq and source_id stay unset (they are the sender's): a test
 * that needs them sets e->seq, and e->source_id only to heap memory (fx_dup),
 * because the Event is freed with crr_codec_free.
 *
 * Does not: build events the edge rejects (a test that needs one, e.g. to
 * check the aggregator's own validation, builds it by hand and says why).
 * Included after cmocka.h; everything is static inline. */
#ifndef CRR_EVENT_FIXTURE_H
#define CRR_EVENT_FIXTURE_H

#include "clock.h"
#include "codec.h"
#include "edge.h"
#include "err.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_EDGE_NOW 4102444800LL /* 2100-01-01T00:00:00Z */

/* The Event of one JSON line, through crr_edge_line. Fails the test (naming
 * the edge's diagnostic) when the line is blank or rejected. Free with
 * crr_codec_free(&e->base). */
static inline Crrmon__V1__Event *fx_event_json(const char *line)
{
    crr_validate_opts_t vo = {
        .now_sec = FX_EDGE_NOW,
        .future_slack_sec = CRR_VALIDATE_FUTURE_SLACK_SEC,
        .max_age_days = 0,
    };
    Crrmon__V1__Event *e = NULL;
    crr_diag_t d;
    int rc = crr_edge_line(line, strlen(line), "fixture", 1, &vo, &e, &d);
    if (rc != 0) {
        char msg[1024];
        fail_msg("the edge refused the fixture line (rc %d): %s\n  %s", rc,
                 rc == CRR_EREJECT ? crr_diag_format(&d, msg, sizeof msg) : "blank or no memory",
                 line);
    }
    return e;
}

/* fx_event_json of the line printf would format. */
static inline Crrmon__V1__Event *fx_event(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline Crrmon__V1__Event *fx_event(const char *fmt, ...)
{
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof line);
    return fx_event_json(line);
}

/* sec as the RFC 3339 text a JSON line carries ("2026-03-01T12:00:00Z"),
 * in buf (at least 40 bytes). Returns buf. */
static inline const char *fx_time(int64_t sec, char *buf, size_t len)
{
    return crr_time_format(sec, 0, buf, len);
}

/* A heap copy of s (for fields the edge leaves unset, e.g. source_id). */
static inline char *fx_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    assert_non_null(p);
    memcpy(p, s, n);
    return p;
}

#endif
