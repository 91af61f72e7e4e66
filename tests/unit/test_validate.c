/* test_validate: every rule of docs/DOMAIN.md as implemented by common/validate:
 * one valid event of each type passes; each missing, out-of-range and
 * inconsistent case fails with the exact reject code and dotted field; the
 * future and too-old edges to the second. Events are built on the stack:
 * validation takes const pointers and never allocates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "validate.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */
#define DAY 86400LL

enum {
    MISSING = CRRMON__V1__REJECT_CODE__REJECT_CODE_MISSING_FIELD,
    RANGE = CRRMON__V1__REJECT_CODE__REJECT_CODE_OUT_OF_RANGE,
    INCONS = CRRMON__V1__REJECT_CODE__REJECT_CODE_INCONSISTENT,
    UNKNOWN = CRRMON__V1__REJECT_CODE__REJECT_CODE_UNKNOWN_BOROUGH,
    NOBODY = CRRMON__V1__REJECT_CODE__REJECT_CODE_NO_BODY,
    FUTURE = CRRMON__V1__REJECT_CODE__REJECT_CODE_FUTURE,
    TOOOLD = CRRMON__V1__REJECT_CODE__REJECT_CODE_TOO_OLD,
};

/* One event and every body it could carry, all valid after s_fix(). Built by
 * hand, not through the edge (event_fixture.h): each test then breaks one
 * field into an event the edge would reject, which is what validation is
 * tested on. */
typedef struct fix {
    Crrmon__V1__Event e;
    Google__Protobuf__Timestamp ts;
    Crrmon__V1__TrainingFeedback tf;
    Crrmon__V1__LearningAssessment la;
    Crrmon__V1__BehaviourObservation bo;
    Crrmon__V1__Attendance at;
    Crrmon__V1__TrainingCost tc;
    Crrmon__V1__StaffHeadcount sh;
    Crrmon__V1__StopSearch ss;
    Crrmon__V1__Complaint co;
    Crrmon__V1__RacistIncident ri;
    Crrmon__V1__SurveyResponse sr;
    Crrmon__V1__CommunityEngagement ce;
} fix_t;

static const crr_validate_opts_t s_opts = {NOW, 300, 395};

/* Sets body case c on f->e, pointing at the matching member. */
static void s_set_body(fix_t *f, Crrmon__V1__Event__BodyCase c)
{
    f->e.body_case = c;
    switch (c) {
    case CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK: f->e.training_feedback = &f->tf; break;
    case CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT: f->e.learning_assessment = &f->la; break;
    case CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION: f->e.behaviour_observation = &f->bo; break;
    case CRRMON__V1__EVENT__BODY_ATTENDANCE: f->e.attendance = &f->at; break;
    case CRRMON__V1__EVENT__BODY_TRAINING_COST: f->e.training_cost = &f->tc; break;
    case CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT: f->e.staff_headcount = &f->sh; break;
    case CRRMON__V1__EVENT__BODY_STOP_SEARCH: f->e.stop_search = &f->ss; break;
    case CRRMON__V1__EVENT__BODY_COMPLAINT: f->e.complaint = &f->co; break;
    case CRRMON__V1__EVENT__BODY_RACIST_INCIDENT: f->e.racist_incident = &f->ri; break;
    case CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE: f->e.survey_response = &f->sr; break;
    case CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT: f->e.community_engagement = &f->ce; break;
    default: f->e.training_feedback = NULL; break;
    }
}

/* A valid event of body case c (every body filled valid). */
static void s_fix(fix_t *f, Crrmon__V1__Event__BodyCase c)
{
    memset(f, 0, sizeof *f);
    crrmon__v1__event__init(&f->e);
    google__protobuf__timestamp__init(&f->ts);
    f->ts.seconds = NOW - 3600;
    f->e.borough = "E09000022";
    f->e.occurred_at = &f->ts;
    f->e.record_id = "r-1";

    crrmon__v1__training_feedback__init(&f->tf);
    f->tf.course_id = "CRR-1";
    f->tf.session_id = "S1";
    f->tf.trainer_id = "T1";
    f->tf.staff_group = CRRMON__V1__STAFF_GROUP__STAFF_GROUP_OPERATIONAL;
    f->tf.overall = 4;
    f->tf.relevance = 5;
    f->tf.trainer_quality = 1;
    f->tf.purpose_explained = 3;

    crrmon__v1__learning_assessment__init(&f->la);
    f->la.course_id = "CRR-1";
    f->la.participant_ref = "P1";
    f->la.pre_score = 10;
    f->la.post_score = 15;
    f->la.max_score = 20;

    crrmon__v1__behaviour_observation__init(&f->bo);
    f->bo.officer_ref = "O1";
    f->bo.observer = CRRMON__V1__OBSERVER_ROLE__OBSERVER_ROLE_PEER;
    f->bo.items_observed = 10;
    f->bo.items_met = 10;

    crrmon__v1__attendance__init(&f->at);
    f->at.course_id = "CRR-1";
    f->at.session_id = "S1";
    f->at.staff_group = CRRMON__V1__STAFF_GROUP__STAFF_GROUP_SUPERVISOR;
    f->at.booked = 20;
    f->at.attended = 18;
    f->at.senior = 2;

    crrmon__v1__training_cost__init(&f->tc);
    f->tc.course_id = "CRR-1";
    f->tc.category = CRRMON__V1__COST_CATEGORY__COST_CATEGORY_VENUE;
    f->tc.amount_pence = 12345;

    crrmon__v1__staff_headcount__init(&f->sh);
    f->sh.staff_group = CRRMON__V1__STAFF_GROUP__STAFF_GROUP_ADMINISTRATIVE;
    f->sh.headcount = 100;
    f->sh.in_scope = 100;

    crrmon__v1__stop_search__init(&f->ss);
    f->ss.ethnicity = CRRMON__V1__ETHNICITY__ETHNICITY_BLACK;
    f->ss.sde_code = "B2";
    f->ss.outcome = CRRMON__V1__OUTCOME__OUTCOME_ARREST;
    f->ss.grounds_reviewed = 1;
    f->ss.grounds_satisfactory = 1;

    crrmon__v1__complaint__init(&f->co);
    f->co.category = CRRMON__V1__COMPLAINT_CATEGORY__COMPLAINT_CATEGORY_INCIVILITY;

    crrmon__v1__racist_incident__init(&f->ri);

    crrmon__v1__survey_response__init(&f->sr);
    f->sr.survey = CRRMON__V1__SURVEY__SURVEY_PAS;
    f->sr.ethnicity = CRRMON__V1__ETHNICITY__ETHNICITY_ASIAN;
    f->sr.gender = CRRMON__V1__GENDER__GENDER_FEMALE;
    f->sr.weight = 1.25;
    f->sr.good_job = 5;

    crrmon__v1__community_engagement__init(&f->ce);
    f->ce.format = CRRMON__V1__ENGAGEMENT_FORMAT__ENGAGEMENT_FORMAT_FOCUS_GROUP;
    f->ce.venue = CRRMON__V1__VENUE__VENUE_COMMUNITY_VENUE;
    f->ce.police_rating = 5;

    s_set_body(f, c);
}

/* Asserts that f->e validates. */
#define PASS(f, o)                                                                                 \
    do {                                                                                           \
        crr_diag_t d_;                                                                             \
        crr_diag_clear(&d_);                                                                       \
        int rc_ = crr_validate_event(&(f)->e, (o), &d_);                                           \
        if (rc_ != 0)                                                                              \
            fail_msg("expected valid, got code %d field %s: %s", d_.code, d_.field, d_.reason);    \
    } while (0)

/* Asserts that f->e is rejected with code and field, with a reason. */
#define REJECT(f, o, want_code, want_field)                                                        \
    do {                                                                                           \
        crr_diag_t d_;                                                                             \
        crr_diag_clear(&d_);                                                                       \
        int rc_ = crr_validate_event(&(f)->e, (o), &d_);                                           \
        if (rc_ != CRR_EREJECT || d_.code != (want_code) || strcmp(d_.field, (want_field)))        \
            fail_msg("line %d: want code %d field %s; got rc %d code %d field %s: %s", __LINE__,   \
                     (int)(want_code), (want_field), rc_, d_.code, d_.field, d_.reason);           \
        assert_true(strlen(d_.reason) > 0);                                                        \
    } while (0)

static const Crrmon__V1__Event__BodyCase s_all[] = {
    CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK,     CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT,
    CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION, CRRMON__V1__EVENT__BODY_ATTENDANCE,
    CRRMON__V1__EVENT__BODY_TRAINING_COST,         CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT,
    CRRMON__V1__EVENT__BODY_STOP_SEARCH,           CRRMON__V1__EVENT__BODY_COMPLAINT,
    CRRMON__V1__EVENT__BODY_RACIST_INCIDENT,       CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE,
    CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT,
};
static const char *const s_names[] = {
    "training_feedback", "learning_assessment", "behaviour_observation", "attendance",
    "training_cost",     "staff_headcount",     "stop_search",           "complaint",
    "racist_incident",   "survey_response",     "community_engagement",
};

/* One valid event per type passes, with or without a diag; type names. */
static void test_valid_each_type(void **state)
{
    (void)state;
    fix_t f;
    for (size_t i = 0; i < 11; i++) {
        s_fix(&f, s_all[i]);
        PASS(&f, &s_opts);
        assert_int_equal(crr_validate_event(&f.e, &s_opts, NULL), 0);
        assert_string_equal(crr_event_type_name(&f.e), s_names[i]);
    }
    s_fix(&f, CRRMON__V1__EVENT__BODY__NOT_SET);
    assert_null(crr_event_type_name(&f.e));
    assert_null(crr_event_type_name(NULL));
}

static void test_envelope(void **state)
{
    (void)state;
    fix_t f;
    s_fix(&f, CRRMON__V1__EVENT__BODY_COMPLAINT);
    f.e.borough = "";
    REJECT(&f, &s_opts, MISSING, "borough");
    f.e.borough = "E09000034";
    REJECT(&f, &s_opts, UNKNOWN, "borough");
    f.e.borough = "E09000000";
    REJECT(&f, &s_opts, UNKNOWN, "borough");
    f.e.borough = "E06000001";
    REJECT(&f, &s_opts, UNKNOWN, "borough");
    f.e.borough = "e09000001";
    REJECT(&f, &s_opts, UNKNOWN, "borough");
    f.e.borough = "E09000001";
    PASS(&f, &s_opts);
    f.e.borough = "E09000033";
    PASS(&f, &s_opts);

    f.e.occurred_at = NULL;
    REJECT(&f, &s_opts, MISSING, "occurred_at");
    f.e.occurred_at = &f.ts;
    f.ts.nanos = -1;
    REJECT(&f, &s_opts, RANGE, "occurred_at");
    f.ts.nanos = 1000000000;
    REJECT(&f, &s_opts, RANGE, "occurred_at");
    f.ts.nanos = 999999999;
    PASS(&f, &s_opts);

    /* no body, and a body case whose pointer is NULL */
    s_fix(&f, CRRMON__V1__EVENT__BODY__NOT_SET);
    REJECT(&f, &s_opts, NOBODY, "body");
    s_fix(&f, CRRMON__V1__EVENT__BODY_COMPLAINT);
    f.e.complaint = NULL;
    REJECT(&f, &s_opts, NOBODY, "body");

    /* the borough is checked before the body */
    s_fix(&f, CRRMON__V1__EVENT__BODY__NOT_SET);
    f.e.borough = "X";
    REJECT(&f, &s_opts, UNKNOWN, "borough");
}

static void test_future(void **state)
{
    (void)state;
    fix_t f;
    s_fix(&f, CRRMON__V1__EVENT__BODY_RACIST_INCIDENT);
    f.ts.seconds = NOW + 300;
    PASS(&f, &s_opts);
    f.ts.seconds = NOW + 301;
    REJECT(&f, &s_opts, FUTURE, "occurred_at");
    f.ts.seconds = NOW + 300;
    f.ts.nanos = 1;
    REJECT(&f, &s_opts, FUTURE, "occurred_at");
    f.ts.seconds = NOW + 299;
    f.ts.nanos = 999999999;
    PASS(&f, &s_opts);
    /* the slack comes from the options */
    crr_validate_opts_t o = s_opts;
    o.future_slack_sec = 0;
    f.ts.seconds = NOW;
    f.ts.nanos = 0;
    PASS(&f, &o);
    f.ts.seconds = NOW + 1;
    REJECT(&f, &o, FUTURE, "occurred_at");
}

static void test_too_old(void **state)
{
    (void)state;
    fix_t f;
    s_fix(&f, CRRMON__V1__EVENT__BODY_RACIST_INCIDENT);
    f.ts.seconds = NOW - 395 * DAY;
    PASS(&f, &s_opts);
    f.ts.seconds = NOW - 395 * DAY - 1;
    REJECT(&f, &s_opts, TOOOLD, "occurred_at");
    f.ts.seconds = NOW - 395 * DAY - 1;
    f.ts.nanos = 999999999; /* still before the limit */
    REJECT(&f, &s_opts, TOOOLD, "occurred_at");
    /* max_age_days 0 disables the check */
    crr_validate_opts_t o = s_opts;
    o.max_age_days = 0;
    f.ts.seconds = 0;
    f.ts.nanos = 0;
    PASS(&f, &o);
    f.ts.seconds = -62135596800LL; /* 0001-01-01 */
    PASS(&f, &o);
    f.ts.seconds = -62135596801LL;
    REJECT(&f, &o, RANGE, "occurred_at");
    o.max_age_days = 1;
    f.ts.seconds = NOW - DAY;
    PASS(&f, &o);
    f.ts.seconds = NOW - DAY - 1;
    REJECT(&f, &o, TOOOLD, "occurred_at");
}

/* The per-type cases below are one line each (fix; mutate; expect), a table
 * that clang-format would spread over hundreds of lines. */
/* clang-format off */
static void test_training_feedback(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define TF s_fix(&f, CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK)
    TF; f.tf.course_id = ""; REJECT(&f, o, MISSING, "training_feedback.course_id");
    TF; f.tf.session_id = ""; REJECT(&f, o, MISSING, "training_feedback.session_id");
    TF; f.tf.trainer_id = ""; REJECT(&f, o, MISSING, "training_feedback.trainer_id");
    TF; f.tf.trainer_id = NULL; REJECT(&f, o, MISSING, "training_feedback.trainer_id");
    TF; f.tf.staff_group = 0; REJECT(&f, o, MISSING, "training_feedback.staff_group");
    TF; f.tf.staff_group = 5; REJECT(&f, o, RANGE, "training_feedback.staff_group");
    TF; f.tf.staff_group = -1; REJECT(&f, o, RANGE, "training_feedback.staff_group");
    TF; f.tf.overall = 0; REJECT(&f, o, RANGE, "training_feedback.overall");
    TF; f.tf.overall = 6; REJECT(&f, o, RANGE, "training_feedback.overall");
    TF; f.tf.relevance = 0; REJECT(&f, o, RANGE, "training_feedback.relevance");
    TF; f.tf.trainer_quality = 6; REJECT(&f, o, RANGE, "training_feedback.trainer_quality");
    TF; f.tf.purpose_explained = 0; REJECT(&f, o, RANGE, "training_feedback.purpose_explained");
    TF; f.tf.community_interface = 6;
    REJECT(&f, o, RANGE, "training_feedback.community_interface");
    TF; f.tf.community_interface = 5; PASS(&f, o);
    TF; f.tf.overall = 1; f.tf.relevance = 5; PASS(&f, o);
#undef TF
    /* the reason says what was wrong and what is allowed */
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "in.jsonl");
    d.line = 7;
    s_fix(&f, CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK);
    f.tf.overall = 0;
    assert_int_equal(crr_validate_event(&f.e, o, &d), CRR_EREJECT);
    assert_string_equal(d.reason, "overall is 0; must be 1-5");
    assert_string_equal(d.file, "in.jsonl");
    assert_int_equal(d.line, 7);
}

/* Smaller poison: string limits (a 4 MB trainer_id used to be accepted) and
 * UTF-8; source ids at most 255 bytes (longer ones collided in the store). */
static void test_string_limits(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
    enum { MALF = CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED };
    static char big[4u << 20];
    memset(big, 'x', sizeof big - 1);
    char at_max[CRR_VALIDATE_MAX_ID + 2];
    memset(at_max, 'y', sizeof at_max);
    at_max[CRR_VALIDATE_MAX_ID] = '\0';
#define TF s_fix(&f, CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK)
    TF; f.tf.trainer_id = big; REJECT(&f, o, RANGE, "training_feedback.trainer_id");
    TF; f.tf.trainer_id = at_max; PASS(&f, o);
    at_max[CRR_VALIDATE_MAX_ID] = 'y';
    at_max[CRR_VALIDATE_MAX_ID + 1] = '\0';
    TF; f.tf.course_id = at_max; REJECT(&f, o, RANGE, "training_feedback.course_id");
    TF; f.tf.session_id = "S\xff"; REJECT(&f, o, MALF, "training_feedback.session_id");
    TF; f.e.record_id = at_max; REJECT(&f, o, RANGE, "record_id");
    TF; f.e.record_id = "r\xc3"; REJECT(&f, o, MALF, "record_id");
    TF; f.e.record_id = "r\xc3\xa9"; PASS(&f, o);
    TF; f.e.source_id = at_max; REJECT(&f, o, RANGE, "source_id");
#undef TF
    s_fix(&f, CRRMON__V1__EVENT__BODY_ATTENDANCE);
    f.at.course_id = big;
    REJECT(&f, o, RANGE, "attendance.course_id");
    crr_diag_t d;
    crr_diag_clear(&d);
    s_fix(&f, CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK);
    f.tf.trainer_id = big;
    assert_int_equal(crr_validate_event(&f.e, o, &d), CRR_EREJECT);
    assert_string_equal(d.reason, "trainer_id is 4194303 bytes long; at most 256 bytes are allowed");

    at_max[CRR_VALIDATE_MAX_SOURCE_ID] = '\0';
    assert_int_equal(crr_validate_source_id(at_max, &d), 0);
    at_max[CRR_VALIDATE_MAX_SOURCE_ID] = 'y';
    assert_int_equal(crr_validate_source_id(at_max, &d), CRR_EREJECT);
    assert_int_equal(d.code, MALF);
    assert_string_equal(d.field, "source_id");
    assert_int_equal(crr_validate_source_id("src\xff", &d), CRR_EREJECT);
    assert_string_equal(d.reason, "source_id is not valid UTF-8");
    assert_int_equal(crr_validate_source_id("", NULL), CRR_EREJECT);
    assert_int_equal(crr_validate_source_id(NULL, NULL), CRR_EREJECT);
    assert_int_equal(crr_validate_source_id("borough-\xc3\xa9", NULL), 0);
}

static void test_learning_assessment(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define LA s_fix(&f, CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT)
    LA; f.la.course_id = ""; REJECT(&f, o, MISSING, "learning_assessment.course_id");
    LA; f.la.participant_ref = ""; REJECT(&f, o, MISSING, "learning_assessment.participant_ref");
    LA; f.la.max_score = 0; f.la.pre_score = 0; f.la.post_score = 0;
    REJECT(&f, o, RANGE, "learning_assessment.max_score");
    LA; f.la.pre_score = 21; REJECT(&f, o, INCONS, "learning_assessment.pre_score");
    LA; f.la.post_score = 21; REJECT(&f, o, INCONS, "learning_assessment.post_score");
    LA; f.la.pre_score = 20; f.la.post_score = 20; PASS(&f, o);
    LA; f.la.pre_score = 0; f.la.post_score = 0; PASS(&f, o);
    LA; f.la.pre_score = 15; f.la.post_score = 5; PASS(&f, o); /* worse after is allowed */
#undef LA
}

static void test_behaviour_observation(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define BO s_fix(&f, CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION)
    BO; f.bo.officer_ref = ""; REJECT(&f, o, MISSING, "behaviour_observation.officer_ref");
    BO; f.bo.observer = 0; REJECT(&f, o, MISSING, "behaviour_observation.observer");
    BO; f.bo.observer = 5; REJECT(&f, o, RANGE, "behaviour_observation.observer");
    BO; f.bo.items_observed = 0; f.bo.items_met = 0;
    REJECT(&f, o, RANGE, "behaviour_observation.items_observed");
    BO; f.bo.items_met = 11; REJECT(&f, o, INCONS, "behaviour_observation.items_met");
    BO; f.bo.items_met = 0; PASS(&f, o);
#undef BO
}

static void test_attendance(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define AT s_fix(&f, CRRMON__V1__EVENT__BODY_ATTENDANCE)
    AT; f.at.course_id = ""; REJECT(&f, o, MISSING, "attendance.course_id");
    AT; f.at.session_id = ""; REJECT(&f, o, MISSING, "attendance.session_id");
    AT; f.at.staff_group = 0; REJECT(&f, o, MISSING, "attendance.staff_group");
    AT; f.at.staff_group = 99; REJECT(&f, o, RANGE, "attendance.staff_group");
    AT; f.at.attended = 21; REJECT(&f, o, INCONS, "attendance.attended");
    AT; f.at.senior = 19; REJECT(&f, o, INCONS, "attendance.senior");
    AT; f.at.attended = 20; f.at.senior = 20; PASS(&f, o);
    AT; f.at.booked = 0; f.at.attended = 0; f.at.senior = 0; PASS(&f, o);
#undef AT
}

static void test_training_cost(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define TC s_fix(&f, CRRMON__V1__EVENT__BODY_TRAINING_COST)
    TC; f.tc.course_id = ""; REJECT(&f, o, MISSING, "training_cost.course_id");
    TC; f.tc.category = 0; REJECT(&f, o, MISSING, "training_cost.category");
    TC; f.tc.category = 8; REJECT(&f, o, RANGE, "training_cost.category");
    TC; f.tc.amount_pence = -1; REJECT(&f, o, RANGE, "training_cost.amount_pence");
    TC; f.tc.amount_pence = 0; PASS(&f, o);
    TC; f.tc.category = 7; PASS(&f, o);
#undef TC
}

static void test_staff_headcount(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define SH s_fix(&f, CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT)
    SH; f.sh.staff_group = 0; REJECT(&f, o, MISSING, "staff_headcount.staff_group");
    SH; f.sh.in_scope = 101; REJECT(&f, o, INCONS, "staff_headcount.in_scope");
    SH; f.sh.in_scope = 0; PASS(&f, o);
#undef SH
}

static void test_stop_search(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define SS s_fix(&f, CRRMON__V1__EVENT__BODY_STOP_SEARCH)
    SS; f.ss.ethnicity = 0; f.ss.sde_code = ""; REJECT(&f, o, MISSING, "stop_search.ethnicity");
    SS; f.ss.ethnicity = 7; REJECT(&f, o, RANGE, "stop_search.ethnicity");
    SS; f.ss.outcome = 0; REJECT(&f, o, MISSING, "stop_search.outcome");
    SS; f.ss.outcome = 8; REJECT(&f, o, RANGE, "stop_search.outcome");
    /* optional enums: 0 is "not recorded"; numbers with no value are refused,
     * including the gap IC7/IC8 of OfficerEthnicity */
    SS; f.ss.officer_ethnicity = 0; f.ss.legislation = 0; PASS(&f, o);
    SS; f.ss.officer_ethnicity = 9; PASS(&f, o);
    SS; f.ss.officer_ethnicity = 7; REJECT(&f, o, RANGE, "stop_search.officer_ethnicity");
    SS; f.ss.officer_ethnicity = 10; REJECT(&f, o, RANGE, "stop_search.officer_ethnicity");
    SS; f.ss.legislation = 6; PASS(&f, o);
    SS; f.ss.legislation = 7; REJECT(&f, o, RANGE, "stop_search.legislation");
    /* sde_code: optional, one of 19, consistent with ethnicity */
    SS; f.ss.sde_code = ""; PASS(&f, o);
    SS; f.ss.sde_code = NULL; PASS(&f, o);
    SS; f.ss.sde_code = "X1"; REJECT(&f, o, INCONS, "stop_search.sde_code");
    SS; f.ss.sde_code = "b1"; REJECT(&f, o, INCONS, "stop_search.sde_code");
    SS; f.ss.sde_code = "B3"; REJECT(&f, o, INCONS, "stop_search.sde_code");
    SS; f.ss.sde_code = "B1 "; REJECT(&f, o, INCONS, "stop_search.sde_code");
    SS; f.ss.sde_code = "W1"; REJECT(&f, o, INCONS, "stop_search.sde_code");
    static const struct {
        const char *code;
        int eth;
    } ok[] = {
        {"W1", 1}, {"W2", 1}, {"W3", 1}, {"W9", 1}, {"M1", 2}, {"M2", 2}, {"M3", 2},
        {"M9", 2}, {"A1", 3}, {"A2", 3}, {"A3", 3}, {"A4", 3}, {"A9", 3}, {"B1", 4},
        {"B2", 4}, {"B9", 4}, {"O2", 5}, {"O9", 5}, {"NS", 6},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        for (int eth = 1; eth <= 6; eth++) {
            SS;
            f.ss.sde_code = (char *)ok[i].code;
            f.ss.ethnicity = (Crrmon__V1__Ethnicity)eth;
            if (eth == ok[i].eth)
                PASS(&f, o);
            else
                REJECT(&f, o, INCONS, "stop_search.sde_code");
        }
    }
    SS; f.ss.grounds_reviewed = 0; f.ss.grounds_satisfactory = 1;
    REJECT(&f, o, INCONS, "stop_search.grounds_satisfactory");
    SS; f.ss.grounds_reviewed = 1; f.ss.grounds_satisfactory = 0; PASS(&f, o);
    SS; f.ss.grounds_reviewed = 0; f.ss.grounds_satisfactory = 0; PASS(&f, o);
    SS; f.ss.count = 0; PASS(&f, o);
#undef SS
}

static void test_complaint_and_incident(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define CO s_fix(&f, CRRMON__V1__EVENT__BODY_COMPLAINT)
    CO; f.co.category = 0; REJECT(&f, o, MISSING, "complaint.category");
    CO; f.co.category = 6; REJECT(&f, o, RANGE, "complaint.category");
    CO; f.co.complainant_ethnicity = 7; REJECT(&f, o, RANGE, "complaint.complainant_ethnicity");
    CO; f.co.complainant_ethnicity = 6; f.co.allegations = 0; PASS(&f, o);
#undef CO
#define RI s_fix(&f, CRRMON__V1__EVENT__BODY_RACIST_INCIDENT)
    RI; f.ri.victim_ethnicity = 8; REJECT(&f, o, RANGE, "racist_incident.victim_ethnicity");
    RI; f.ri.victim_ethnicity = 1; f.ri.count = 0; PASS(&f, o);
    RI; f.ri.count = 1000; f.ri.recorded_as_crime = 1; PASS(&f, o);
#undef RI
}

static void test_survey_response(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define SR s_fix(&f, CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE)
    SR; f.sr.survey = 0; REJECT(&f, o, MISSING, "survey_response.survey");
    SR; f.sr.survey = 4; REJECT(&f, o, RANGE, "survey_response.survey");
    SR; f.sr.ethnicity = 0; REJECT(&f, o, MISSING, "survey_response.ethnicity");
    SR; f.sr.gender = 0; REJECT(&f, o, MISSING, "survey_response.gender");
    SR; f.sr.gender = 5; REJECT(&f, o, RANGE, "survey_response.gender");
    SR; f.sr.weight = -0.5; REJECT(&f, o, RANGE, "survey_response.weight");
    SR; f.sr.weight = NAN; REJECT(&f, o, RANGE, "survey_response.weight");
    SR; f.sr.weight = INFINITY; REJECT(&f, o, RANGE, "survey_response.weight");
    SR; f.sr.weight = 0.0; PASS(&f, o); /* read as 1.0 */
    SR; f.sr.weight = 1e-9; PASS(&f, o);
    SR; f.sr.good_job = 6; REJECT(&f, o, RANGE, "survey_response.good_job");
    SR; f.sr.treats_everyone_fairly = 6;
    REJECT(&f, o, RANGE, "survey_response.treats_everyone_fairly");
    SR; f.sr.confident_as_victim = 7; REJECT(&f, o, RANGE, "survey_response.confident_as_victim");
    SR; f.sr.fair_as_suspect = 100; REJECT(&f, o, RANGE, "survey_response.fair_as_suspect");
    SR; f.sr.good_job = 0; f.sr.fair_as_suspect = 5; PASS(&f, o);
    SR; f.sr.would_report = 4; REJECT(&f, o, RANGE, "survey_response.would_report");
    SR; f.sr.would_report = 3; PASS(&f, o);
#undef SR
}

static void test_community_engagement(void **state)
{
    (void)state;
    fix_t f;
    const crr_validate_opts_t *o = &s_opts;
#define CE s_fix(&f, CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT)
    CE; f.ce.format = 0; REJECT(&f, o, MISSING, "community_engagement.format");
    CE; f.ce.format = 5; REJECT(&f, o, RANGE, "community_engagement.format");
    CE; f.ce.venue = 0; REJECT(&f, o, MISSING, "community_engagement.venue");
    CE; f.ce.venue = 3; REJECT(&f, o, RANGE, "community_engagement.venue");
    CE; f.ce.police_rating = 6; REJECT(&f, o, RANGE, "community_engagement.police_rating");
    CE; f.ce.community_rating = 6; REJECT(&f, o, RANGE, "community_engagement.community_rating");
    CE; f.ce.police_rating = 0; f.ce.community_rating = 0; PASS(&f, o);
#undef CE
}

/* clang-format on */

/* Enum checks follow the descriptor: the reason lists the allowed names. */
static void test_enum_reason(void **state)
{
    (void)state;
    fix_t f;
    crr_diag_t d;
    crr_diag_clear(&d);
    s_fix(&f, CRRMON__V1__EVENT__BODY_STOP_SEARCH);
    f.ss.outcome = 42;
    assert_int_equal(crr_validate_event(&f.e, &s_opts, &d), CRR_EREJECT);
    assert_non_null(strstr(d.reason, "42"));
    assert_non_null(strstr(d.reason, "OUTCOME_ARREST"));
    assert_null(strstr(d.reason, "OUTCOME_UNSPECIFIED"));
}

/* crr_validate_event_all: every failed rule, in the order crr_validate_event
 * checks them (its first failure first), file and line on each; a rule that
 * depends on a failed one is skipped; cap bounds what is written, not the
 * count. */
static void test_every_problem(void **state)
{
    (void)state;
    fix_t f;
    s_fix(&f, CRRMON__V1__EVENT__BODY_STOP_SEARCH);
    f.e.borough = "X";
    f.e.occurred_at = NULL; /* absent: the future and too-old rules are not checked */
    f.ss.ethnicity = 0;
    f.ss.outcome = 99;
    f.ss.sde_code = "ZZ";
    f.ss.grounds_satisfactory = 1;
    f.ss.grounds_reviewed = 0;
    crr_diag_t d[8], first;
    crr_diag_clear(&d[0]);
    snprintf(d[0].file, sizeof d[0].file, "in.csv");
    d[0].line = 9;
    crr_diag_clear(&first);
    size_t n = 0;
    assert_int_equal(crr_validate_event_all(&f.e, &s_opts, d, 8, &n), CRR_EREJECT);
    assert_int_equal(crr_validate_event(&f.e, &s_opts, &first), CRR_EREJECT);
    static const char *const fields[] = {"borough",
                                         "occurred_at",
                                         "stop_search.ethnicity",
                                         "stop_search.outcome",
                                         "stop_search.sde_code",
                                         "stop_search.grounds_satisfactory"};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(d[i].field, fields[i]);
        assert_string_equal(d[i].file, "in.csv");
        assert_int_equal(d[i].line, 9);
    }
    assert_string_equal(first.field, d[0].field);
    assert_string_equal(first.reason, d[0].reason);
    assert_int_equal(first.code, d[0].code);
    /* cap 2: two written, six counted */
    assert_int_equal(crr_validate_event_all(&f.e, &s_opts, d, 2, &n), CRR_EREJECT);
    assert_int_equal(n, 6);
    /* a valid event: nothing */
    s_fix(&f, CRRMON__V1__EVENT__BODY_STOP_SEARCH);
    assert_int_equal(crr_validate_event_all(&f.e, &s_opts, d, 8, &n), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_each_type),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_future),
        cmocka_unit_test(test_too_old),
        cmocka_unit_test(test_training_feedback),
        cmocka_unit_test(test_string_limits),
        cmocka_unit_test(test_learning_assessment),
        cmocka_unit_test(test_behaviour_observation),
        cmocka_unit_test(test_attendance),
        cmocka_unit_test(test_training_cost),
        cmocka_unit_test(test_staff_headcount),
        cmocka_unit_test(test_stop_search),
        cmocka_unit_test(test_complaint_and_incident),
        cmocka_unit_test(test_survey_response),
        cmocka_unit_test(test_community_engagement),
        cmocka_unit_test(test_enum_reason),
        cmocka_unit_test(test_every_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
