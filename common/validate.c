/* validate: docs/DOMAIN.md's event rules, one function per body type.
 *
 * Order of checks: envelope first (borough, occurred_at, future, too old,
 * body), then each body field in .proto order (missing, then range), then the
 * body's cross-field rules. The first failure wins (crr_validate_event_all:
 * every failure is listed; a rule that depends on a failed one is skipped) and
 * is reported with its dotted proto path and a reason that says what was found and what is allowed.
 *
 * Enums are checked against the generated protobuf-c enum descriptors
 * (protobuf_c_enum_descriptor_get_value), so a value added to enums.proto is
 * accepted without touching this file. Body names come from the Event
 * descriptor for the same reason.
 *
 * String limits: identifiers (course_id, session_id, trainer_id,
 * participant_ref, officer_ref, record_id) at most CRR_VALIDATE_MAX_ID bytes,
 * source ids at most CRR_VALIDATE_MAX_SOURCE_ID, all valid UTF-8: a 4 MB
 * trainer_id would otherwise be stored (names database) and carried into
 * every snapshot.
 *
 * Pure: no allocation, no globals, no clock (the caller passes now), so the
 * collector and the aggregator can run it on any thread. */
#include "validate.h"

#include "accumulate.h"
#include "boroughs.h"
#include "clock.h"
#include "json.h"

#include "crrmon/v1/enums.pb-c.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* google.protobuf.Timestamp's documented range: 0001-01-01 .. 9999-12-31. */
#define S_TS_MIN_SEC (-62135596800LL)
#define S_TS_MAX_SEC 253402300799LL

/* Where failures are written: the caller's diag (may be NULL) and the body
 * name used as the first part of field paths ("" for the envelope). */
typedef struct s_ctx {
    crr_diag_t *d;    /* caller's diag, NULL when only the result matters */
    const char *type; /* body field name ("stop_search"), "" for envelope fields */
    /* every-problem mode (crr_validate_event_all): d is an array of cap, n
     * failures so far; s_fail then records and returns 0 so checking goes on */
    size_t cap, n;
    int all;
} s_ctx_t;

/* Fills the diag (code, "<type>.<field>", printf reason) and returns CRR_EREJECT. */
__attribute__((format(printf, 4, 5))) static int s_fail(s_ctx_t *c, int code, const char *field,
                                                        const char *fmt, ...)
{
    crr_diag_t *d = c->d;
    if (c->all) {
        size_t i = c->n++;
        if (i >= c->cap)
            return 0;
        d = &c->d[i];
        if (i > 0) {
            crr_diag_clear(d);
            snprintf(d->file, sizeof d->file, "%s", c->d[0].file);
            d->line = c->d[0].line;
        }
    }
    if (!d)
        return CRR_EREJECT;
    d->code = code;
    if (c->type[0])
        snprintf(d->field, sizeof d->field, "%s.%s", c->type, field);
    else
        snprintf(d->field, sizeof d->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    return c->all ? 0 : CRR_EREJECT;
}

/* Writes "A, B, C" (every value of ed but 0) into buf, truncating with "...". */
static void s_enum_allowed(const ProtobufCEnumDescriptor *ed, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < ed->n_values; i++) {
        if (ed->values[i].value == 0)
            continue;
        int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", ed->values[i].name);
        if (w < 0 || (size_t)w >= len - off) {
            if (len > 4)
                memcpy(buf + len - 4, "...", 4);
            return;
        }
        off += (size_t)w;
    }
}

/* An identifier string: at most max bytes of valid UTF-8 (protobuf-c does
 * not check UTF-8 when unpacking a frame). */
static int s_text(s_ctx_t *c, const char *field, const char *v, size_t max)
{
    size_t n = strnlen(v, max + 1);
    if (n > max)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE, field,
                      "%s is %zu bytes long; at most %zu bytes are allowed", field, strlen(v), max);
    if (!crr_json_is_utf8(v, n))
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, field,
                      "%s is not valid UTF-8", field);
    return 0;
}

/* A required (non-empty) string, at most CRR_VALIDATE_MAX_ID bytes. */
static int s_str(s_ctx_t *c, const char *field, const char *v)
{
    if (!v || !v[0])
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_MISSING_FIELD, field,
                      "%s is empty; it is required (a non-empty string)", field);
    return s_text(c, field, v, CRR_VALIDATE_MAX_ID);
}

int crr_validate_source_id(const char *id, crr_diag_t *d)
{
    s_ctx_t c = {.d = d, .type = ""};
    if (!id || !id[0])
        return s_fail(&c, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "source_id",
                      "source_id is empty; it is required");
    int rc = s_text(&c, "source_id", id, CRR_VALIDATE_MAX_SOURCE_ID);
    if (rc && d)
        d->code = CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED;
    return rc;
}

/* An enum: a number some listed value has; 0 only when not required. */
static int s_enum(s_ctx_t *c, const char *field, int v, const ProtobufCEnumDescriptor *ed,
                  int required)
{
    char allowed[360];
    if (v == 0 && !required)
        return 0;
    if (v == 0) {
        s_enum_allowed(ed, allowed, sizeof allowed);
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_MISSING_FIELD, field,
                      "%s is not set (0); it is required: one of %s", field, allowed);
    }
    if (!protobuf_c_enum_descriptor_get_value(ed, v)) {
        s_enum_allowed(ed, allowed, sizeof allowed);
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE, field,
                      "%s is %d, which no %s value has; must be one of %s%s", field, v,
                      ed->short_name, allowed, required ? "" : " (or 0, not recorded)");
    }
    return 0;
}

/* An unsigned number in [lo, hi]. what says the allowed range in words. */
static int s_range(s_ctx_t *c, const char *field, uint32_t v, uint32_t lo, uint32_t hi,
                   const char *what)
{
    if (v < lo || v > hi)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE, field,
                      "%s is %u; must be %s", field, v, what);
    return 0;
}

/* a <= b, else INCONSISTENT naming both fields. */
static int s_le(s_ctx_t *c, const char *fa, uint32_t a, const char *fb, uint32_t b)
{
    if (a > b)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_INCONSISTENT, fa,
                      "%s is %u but %s is %u; %s must be <= %s", fa, a, fb, b, fa, fb);
    return 0;
}

/* Shorthands; each returns from the calling function on failure. */
#define S_CHECK(expr)                                                                              \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_)                                                                                   \
            return rc_;                                                                            \
    } while (0)
#define S_STR(m, f) S_CHECK(s_str(c, #f, (m)->f))
#define S_ENUM_REQ(m, f, ed) S_CHECK(s_enum(c, #f, (int)(m)->f, &(ed), 1))
#define S_ENUM_OPT(m, f, ed) S_CHECK(s_enum(c, #f, (int)(m)->f, &(ed), 0))
#define S_SCORE(m, f) S_CHECK(s_range(c, #f, (m)->f, 1, 5, "1-5"))
#define S_ITEM(m, f) S_CHECK(s_range(c, #f, (m)->f, 0, 5, "0-5 (0 = none)"))
#define S_POS(m, f) S_CHECK(s_range(c, #f, (m)->f, 1, UINT32_MAX, "> 0"))
#define S_LE(m, a, b) S_CHECK(s_le(c, #a, (m)->a, #b, (m)->b))

static int s_training_feedback(s_ctx_t *c, const Crrmon__V1__TrainingFeedback *m)
{
    S_STR(m, course_id);
    S_STR(m, session_id);
    S_STR(m, trainer_id);
    S_ENUM_REQ(m, staff_group, crrmon__v1__staff_group__descriptor);
    S_SCORE(m, overall);
    S_SCORE(m, relevance);
    S_SCORE(m, trainer_quality);
    S_SCORE(m, purpose_explained);
    S_ITEM(m, community_interface);
    return 0;
}

static int s_learning_assessment(s_ctx_t *c, const Crrmon__V1__LearningAssessment *m)
{
    S_STR(m, course_id);
    S_STR(m, participant_ref);
    S_POS(m, max_score);
    S_LE(m, pre_score, max_score);
    S_LE(m, post_score, max_score);
    return 0;
}

static int s_behaviour_observation(s_ctx_t *c, const Crrmon__V1__BehaviourObservation *m)
{
    S_STR(m, officer_ref);
    S_ENUM_REQ(m, observer, crrmon__v1__observer_role__descriptor);
    S_POS(m, items_observed);
    S_LE(m, items_met, items_observed);
    return 0;
}

static int s_attendance(s_ctx_t *c, const Crrmon__V1__Attendance *m)
{
    S_STR(m, course_id);
    S_STR(m, session_id);
    S_ENUM_REQ(m, staff_group, crrmon__v1__staff_group__descriptor);
    S_LE(m, attended, booked);
    S_LE(m, senior, attended);
    return 0;
}

static int s_training_cost(s_ctx_t *c, const Crrmon__V1__TrainingCost *m)
{
    S_STR(m, course_id);
    S_ENUM_REQ(m, category, crrmon__v1__cost_category__descriptor);
    if (m->amount_pence < 0)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE, "amount_pence",
                      "amount_pence is %lld; must be >= 0", (long long)m->amount_pence);
    return 0;
}

static int s_staff_headcount(s_ctx_t *c, const Crrmon__V1__StaffHeadcount *m)
{
    S_ENUM_REQ(m, staff_group, crrmon__v1__staff_group__descriptor);
    S_LE(m, in_scope, headcount);
    return 0;
}

/* The 18+1 self-defined ethnicity codes and the 5+1 group each belongs to. */
static const struct {
    char code[3];  /* "W1", ..., "NS" */
    int ethnicity; /* Crrmon__V1__Ethnicity */
} s_sde[] = {
    {"W1", CRRMON__V1__ETHNICITY__ETHNICITY_WHITE},
    {"W2", CRRMON__V1__ETHNICITY__ETHNICITY_WHITE},
    {"W3", CRRMON__V1__ETHNICITY__ETHNICITY_WHITE},
    {"W9", CRRMON__V1__ETHNICITY__ETHNICITY_WHITE},
    {"M1", CRRMON__V1__ETHNICITY__ETHNICITY_MIXED},
    {"M2", CRRMON__V1__ETHNICITY__ETHNICITY_MIXED},
    {"M3", CRRMON__V1__ETHNICITY__ETHNICITY_MIXED},
    {"M9", CRRMON__V1__ETHNICITY__ETHNICITY_MIXED},
    {"A1", CRRMON__V1__ETHNICITY__ETHNICITY_ASIAN},
    {"A2", CRRMON__V1__ETHNICITY__ETHNICITY_ASIAN},
    {"A3", CRRMON__V1__ETHNICITY__ETHNICITY_ASIAN},
    {"A4", CRRMON__V1__ETHNICITY__ETHNICITY_ASIAN},
    {"A9", CRRMON__V1__ETHNICITY__ETHNICITY_ASIAN},
    {"B1", CRRMON__V1__ETHNICITY__ETHNICITY_BLACK},
    {"B2", CRRMON__V1__ETHNICITY__ETHNICITY_BLACK},
    {"B9", CRRMON__V1__ETHNICITY__ETHNICITY_BLACK},
    {"O2", CRRMON__V1__ETHNICITY__ETHNICITY_OTHER},
    {"O9", CRRMON__V1__ETHNICITY__ETHNICITY_OTHER},
    {"NS", CRRMON__V1__ETHNICITY__ETHNICITY_NOT_STATED},
};

/* sde_code: one of the 19 codes, in the group ethnicity names. */
static int s_sde_code(s_ctx_t *c, const Crrmon__V1__StopSearch *m)
{
    if (m->sde_code && m->sde_code[0]) {
        int group = -1;
        for (size_t i = 0; i < sizeof s_sde / sizeof s_sde[0]; i++)
            if (strcmp(m->sde_code, s_sde[i].code) == 0) {
                group = s_sde[i].ethnicity;
                break;
            }
        if (group < 0)
            return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_INCONSISTENT, "sde_code",
                          "sde_code is \"%.16s\"; must be one of W1 W2 W3 W9 M1 M2 M3 M9 A1 A2 "
                          "A3 A4 A9 B1 B2 B9 O2 O9 NS, or empty",
                          m->sde_code);
        if (group != (int)m->ethnicity) {
            const ProtobufCEnumValue *want =
                protobuf_c_enum_descriptor_get_value(&crrmon__v1__ethnicity__descriptor, group);
            const ProtobufCEnumValue *got = protobuf_c_enum_descriptor_get_value(
                &crrmon__v1__ethnicity__descriptor, (int)m->ethnicity);
            return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_INCONSISTENT, "sde_code",
                          "sde_code %s belongs to %s but ethnicity is %s; they must agree",
                          m->sde_code, want ? want->name : "?", got ? got->name : "?");
        }
    }
    return 0;
}

static int s_stop_search(s_ctx_t *c, const Crrmon__V1__StopSearch *m)
{
    S_ENUM_REQ(m, ethnicity, crrmon__v1__ethnicity__descriptor);
    S_ENUM_OPT(m, officer_ethnicity, crrmon__v1__officer_ethnicity__descriptor);
    S_ENUM_OPT(m, legislation, crrmon__v1__legislation__descriptor);
    S_ENUM_REQ(m, outcome, crrmon__v1__outcome__descriptor);
    S_CHECK(s_sde_code(c, m));
    if (m->grounds_satisfactory && !m->grounds_reviewed)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_INCONSISTENT, "grounds_satisfactory",
                      "grounds_satisfactory is true but grounds_reviewed is false; grounds can "
                      "only be judged satisfactory once reviewed");
    return 0;
}

static int s_complaint(s_ctx_t *c, const Crrmon__V1__Complaint *m)
{
    S_ENUM_REQ(m, category, crrmon__v1__complaint_category__descriptor);
    S_ENUM_OPT(m, complainant_ethnicity, crrmon__v1__ethnicity__descriptor);
    return 0;
}

static int s_racist_incident(s_ctx_t *c, const Crrmon__V1__RacistIncident *m)
{
    S_ENUM_OPT(m, victim_ethnicity, crrmon__v1__ethnicity__descriptor);
    return 0;
}

static int s_survey_response(s_ctx_t *c, const Crrmon__V1__SurveyResponse *m)
{
    S_ENUM_REQ(m, survey, crrmon__v1__survey__descriptor);
    S_ENUM_REQ(m, ethnicity, crrmon__v1__ethnicity__descriptor);
    S_ENUM_REQ(m, gender, crrmon__v1__gender__descriptor);
    /* !(w >= 0) also catches NaN; infinity would poison every weighted sum. */
    if (!(m->weight >= 0.0) || isinf(m->weight))
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE, "weight",
                      "weight is %g; must be a finite number > 0 (0 is read as 1.0)", m->weight);
    S_ITEM(m, good_job);
    S_ITEM(m, treats_everyone_fairly);
    S_ITEM(m, confident_as_victim);
    S_ITEM(m, fair_as_suspect);
    S_ENUM_OPT(m, would_report, crrmon__v1__answer__descriptor);
    return 0;
}

static int s_community_engagement(s_ctx_t *c, const Crrmon__V1__CommunityEngagement *m)
{
    S_ENUM_REQ(m, format, crrmon__v1__engagement_format__descriptor);
    S_ENUM_REQ(m, venue, crrmon__v1__venue__descriptor);
    S_CHECK(s_range(c, "police_rating", m->police_rating, 0, 5, "1-5, or 0 = not rated"));
    S_CHECK(s_range(c, "community_rating", m->community_rating, 0, 5, "1-5, or 0 = not rated"));
    return 0;
}

const char *crr_event_type_name(const Crrmon__V1__Event *e)
{
    return crr_event_type_text(crr_event_type_index(e)); /* the one event-type table */
}

/* The borough rule. */
static int s_borough(s_ctx_t *c, const Crrmon__V1__Event *e)
{
    if (!e->borough || !e->borough[0])
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_MISSING_FIELD, "borough",
                      "borough is empty; it is required: a London GSS code E09000001..E09000033");
    if (crr_borough_index(e->borough) < 0)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH, "borough",
                      "borough \"%.32s\" is not a London GSS code; must be E09000001..E09000033",
                      e->borough);
    return 0;
}

/* The envelope rules: borough, occurred_at (present, valid, not future, not too old). */
static int s_envelope(s_ctx_t *c, const Crrmon__V1__Event *e, const crr_validate_opts_t *o)
{
    S_CHECK(s_borough(c, e));
    const Google__Protobuf__Timestamp *t = e->occurred_at;
    if (!t)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_MISSING_FIELD, "occurred_at",
                      "occurred_at is absent; it is required (an RFC 3339 timestamp)");
    if (t->nanos < 0 || t->nanos > 999999999 || t->seconds < S_TS_MIN_SEC ||
        t->seconds > S_TS_MAX_SEC)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE, "occurred_at",
                      "occurred_at is not a valid timestamp (seconds %lld, nanos %d); must be "
                      "0001-01-01..9999-12-31 with nanos 0-999999999",
                      (long long)t->seconds, (int)t->nanos);

    char when[40], lim[40];
    int64_t latest = o->now_sec + o->future_slack_sec;
    if (t->seconds > latest || (t->seconds == latest && t->nanos > 0))
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_FUTURE, "occurred_at",
                      "occurred_at %s is in the future; must be no later than %s (now + %llds)",
                      crr_time_format(t->seconds, t->nanos, when, sizeof when),
                      crr_time_format(latest, 0, lim, sizeof lim), (long long)o->future_slack_sec);
    if (o->max_age_days > 0) {
        int64_t oldest = o->now_sec - o->max_age_days * CRR_SEC_PER_DAY;
        if (t->seconds < oldest)
            return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_TOO_OLD, "occurred_at",
                          "occurred_at %s is too old; must be no earlier than %s (now - %lld "
                          "days)",
                          crr_time_format(t->seconds, t->nanos, when, sizeof when),
                          crr_time_format(oldest, 0, lim, sizeof lim), (long long)o->max_age_days);
    }
    return 0;
}

/* Every rule, in order: the first failure returns unless c->all. */
static int s_rules(s_ctx_t *c, const Crrmon__V1__Event *e, const crr_validate_opts_t *o)
{
    S_CHECK(s_envelope(c, e, o));

    if (e->record_id && e->record_id[0])
        S_CHECK(s_text(c, "record_id", e->record_id, CRR_VALIDATE_MAX_ID));
    if (e->source_id && e->source_id[0])
        S_CHECK(s_text(c, "source_id", e->source_id, CRR_VALIDATE_MAX_SOURCE_ID));

    const char *type = crr_event_type_name(e);
    /* A set case with a NULL pointer cannot come from unpack, but a
     * hand-built event could carry one: treat it as no body. */
    if (!type || !e->training_feedback)
        return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_NO_BODY, "body",
                      "the event has no body; it must carry exactly one event type "
                      "(training_feedback, stop_search, ...)");
    c->type = type;
    switch (e->body_case) {
    case CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK:
        return s_training_feedback(c, e->training_feedback);
    case CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT:
        return s_learning_assessment(c, e->learning_assessment);
    case CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION:
        return s_behaviour_observation(c, e->behaviour_observation);
    case CRRMON__V1__EVENT__BODY_ATTENDANCE: return s_attendance(c, e->attendance);
    case CRRMON__V1__EVENT__BODY_TRAINING_COST: return s_training_cost(c, e->training_cost);
    case CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT: return s_staff_headcount(c, e->staff_headcount);
    case CRRMON__V1__EVENT__BODY_STOP_SEARCH: return s_stop_search(c, e->stop_search);
    case CRRMON__V1__EVENT__BODY_COMPLAINT: return s_complaint(c, e->complaint);
    case CRRMON__V1__EVENT__BODY_RACIST_INCIDENT: return s_racist_incident(c, e->racist_incident);
    case CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE: return s_survey_response(c, e->survey_response);
    case CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT:
        return s_community_engagement(c, e->community_engagement);
    default: break;
    }
    /* A body type added to event.proto but not yet to this switch. */
    return s_fail(c, CRRMON__V1__REJECT_CODE__REJECT_CODE_NO_BODY, "body",
                  "event type %s is not known to this build", type);
}

int crr_validate_event(const Crrmon__V1__Event *e, const crr_validate_opts_t *o, crr_diag_t *d)
{
    s_ctx_t c = {.d = d, .type = ""};
    return s_rules(&c, e, o);
}

int crr_validate_event_all(const Crrmon__V1__Event *e, const crr_validate_opts_t *o, crr_diag_t *d,
                           size_t cap, size_t *n)
{
    s_ctx_t c = {.d = d, .type = "", .cap = cap, .all = 1};
    (void)s_rules(&c, e, o);
    *n = c.n;
    return c.n ? CRR_EREJECT : 0;
}
