/* gen: deterministic, valid, plausible events.
 *
 * PRNG: splitmix64 expands the seed into xoshiro256** state (Vigna's
 * reference algorithms), so a seed gives the same stream on every platform;
 * libc rand() is never used. Bounded integers use the multiply-shift method
 * on the top 32 bits (bias < 2^-32 for our small ranges, and deterministic).
 *
 * Every draw goes through s_next(), in a fixed order per event: the order of
 * statements in the s_gen_* functions is part of the determinism contract, so
 * reordering them changes the stream for a seed (tests compare only within
 * one build, not against stored files).
 *
 * Distributions are plausible, not official: London-like stop and search
 * shares by ethnicity, mostly positive feedback, a few trainers who review
 * badly (so trainer.flagged has something to flag), survey answers a little
 * less positive for fair_as_suspect than for confident_as_victim. Each value
 * is drawn inside the ranges validate.c enforces, so every event validates
 * with now = end_sec.
 *
 * Memory: every part of an event (envelope, timestamp, body, each non-empty
 * string) is its own malloc, because crr_codec_free (protobuf-c's
 * free_unpacked with the default allocator) frees them one by one. Empty
 * strings stay protobuf_c_empty_string, which free_unpacked skips.
 * Not thread-safe: one generator per thread. */
#include "gen.h"

#include "boroughs.h"
#include "err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest number of body types (the Event oneof has eleven). */
#define S_MAX_TYPES 32

struct crr_gen {
    uint64_t s[4];                                  /* xoshiro256** state */
    uint64_t seed;                                  /* the seed, for record ids */
    uint64_t n;                                     /* events generated so far */
    int64_t start_sec;                              /* occurred_at >= start_sec */
    uint64_t span_sec;                              /* end_sec - start_sec (> 0) */
    int boroughs[CRR_BOROUGHS];                     /* borough indexes to draw from */
    int nboroughs;                                  /* entries in boroughs */
    Crrmon__V1__Event__BodyCase types[S_MAX_TYPES]; /* body cases to draw from */
    uint32_t type_weight[S_MAX_TYPES];              /* relative frequency of each type */
    uint32_t type_total;                            /* sum of type_weight */
    int ntypes;                                     /* entries in types */
};

/* ---- PRNG ---------------------------------------------------------------- */

static uint64_t s_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t s_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: the next 64 random bits. */
static uint64_t s_next(crr_gen_t *g)
{
    uint64_t *s = g->s;
    uint64_t result = s_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n > 0 and < 2^32. */
static uint32_t s_below(crr_gen_t *g, uint32_t n)
{
    return (uint32_t)(((s_next(g) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static uint32_t s_between(crr_gen_t *g, uint32_t lo, uint32_t hi)
{
    return lo + s_below(g, hi - lo + 1);
}

/* True with probability pct/100. */
static int s_chance(crr_gen_t *g, uint32_t pct)
{
    return s_below(g, 100) < pct;
}

/* Uniform double in [0, 1). */
static double s_unit(crr_gen_t *g)
{
    return (double)(s_next(g) >> 11) * 0x1.0p-53;
}

/* Index i (0-based) with probability w[i] / sum(w). */
static int s_pick(crr_gen_t *g, const uint32_t *w, int n)
{
    uint32_t total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    uint32_t r = s_below(g, total);
    for (int i = 0; i < n; i++) {
        if (r < w[i])
            return i;
        r -= w[i];
    }
    return n - 1;
}
#define S_PICK(g, w) s_pick((g), (w), (int)(sizeof(w) / sizeof((w)[0])))

/* A 1-5 score from five weights. */
#define S_SCORE(g, w) (uint32_t)(S_PICK(g, w) + 1)

/* ---- strings ------------------------------------------------------------- */

/* A malloc'd printf result (freeable by free_unpacked), or NULL on ENOMEM. */
__attribute__((format(printf, 1, 2))) static char *s_strf(const char *fmt, ...)
{
    char buf[96];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    char *s = malloc((size_t)n + 1);
    if (s)
        memcpy(s, buf, (size_t)n + 1);
    return s;
}

/* Sets *dst to s_strf(...) or fails the enclosing function with -ENOMEM. */
#define S_SETSTR(dst, ...)                                                                         \
    do {                                                                                           \
        if (!((dst) = s_strf(__VA_ARGS__)))                                                        \
            return -ENOMEM;                                                                        \
    } while (0)

/* Allocates a body message of type T with its INIT function into ev's oneof
 * (so ev frees it, even half-filled) or fails with -ENOMEM. */
#define S_BODY(ev, member, T, init, kase)                                                          \
    T *m = malloc(sizeof *m);                                                                      \
    if (!m)                                                                                        \
        return -ENOMEM;                                                                            \
    init(m);                                                                                       \
    (ev)->body_case = (kase);                                                                      \
    (ev)->member = m

/* ---- reference lists ----------------------------------------------------- */

static const char *const s_courses[] = {"CRR-FOUNDATION", "CRR-REFRESHER",  "CRR-SUPERVISOR",
                                        "CRR-LEADERSHIP", "CRR-STOPSEARCH", "CRR-COMMUNITY"};
#define S_NCOURSES (sizeof s_courses / sizeof s_courses[0])
#define S_NTRAINERS 60 /* trainer ids T001..T060 */

static const uint32_t s_w_staff[] = {60, 15, 18, 7}; /* StaffGroup 1..4 */

/* Trainers whose sessions review badly (1-based ids). */
static int s_bad_trainer(uint32_t t)
{
    return t == 7 || t == 23 || t == 41;
}

/* ---- bodies -------------------------------------------------------------- */

static int s_gen_training_feedback(crr_gen_t *g, Crrmon__V1__Event *ev, int bidx)
{
    static const uint32_t w_good[] = {3, 7, 20, 42, 28};
    static const uint32_t w_bad[] = {22, 38, 25, 10, 5};
    static const uint32_t w_purpose[] = {6, 14, 25, 35, 20};
    S_BODY(ev, training_feedback, Crrmon__V1__TrainingFeedback, crrmon__v1__training_feedback__init,
           CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK);
    uint32_t course = s_below(g, S_NCOURSES);
    uint32_t session = s_between(g, 1, 40);
    uint32_t trainer = s_between(g, 1, S_NTRAINERS);
    S_SETSTR(m->course_id, "%s", s_courses[course]);
    S_SETSTR(m->session_id, "%s-%02d-S%02u", s_courses[course], bidx + 1, session);
    S_SETSTR(m->trainer_id, "T%03u", trainer);
    m->staff_group = (Crrmon__V1__StaffGroup)(S_PICK(g, s_w_staff) + 1);
    m->overall = S_SCORE(g, w_good);
    m->relevance = S_SCORE(g, w_good);
    m->trainer_quality = s_bad_trainer(trainer) ? S_SCORE(g, w_bad) : S_SCORE(g, w_good);
    m->purpose_explained = S_SCORE(g, w_purpose);
    m->community_interface = s_chance(g, 40) ? 0 : S_SCORE(g, w_good);
    m->would_recommend = m->overall >= 4 ? s_chance(g, 90) : s_chance(g, 30);
    return 0;
}

static int s_gen_learning_assessment(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t maxes[] = {20, 40, 50, 100};
    S_BODY(ev, learning_assessment, Crrmon__V1__LearningAssessment,
           crrmon__v1__learning_assessment__init, CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT);
    S_SETSTR(m->course_id, "%s", s_courses[s_below(g, S_NCOURSES)]);
    S_SETSTR(m->participant_ref, "P%08llx", (unsigned long long)(s_next(g) & 0xffffffffULL));
    m->max_score = maxes[s_below(g, 4)];
    if (s_chance(g, 2)) { /* already at the ceiling: excluded from the mean gain */
        m->pre_score = m->max_score;
        m->post_score = m->max_score - s_below(g, 2);
        return 0;
    }
    m->pre_score = (uint32_t)(m->max_score * (0.25 + 0.55 * s_unit(g)));
    double gain = -0.1 + 0.8 * s_unit(g); /* some do worse after training */
    double post = m->pre_score + gain * (m->max_score - m->pre_score);
    if (post < 0)
        post = 0;
    m->post_score = (uint32_t)(post + 0.5);
    if (m->post_score > m->max_score)
        m->post_score = m->max_score;
    return 0;
}

/* Binomial(n, pct/100) by n Bernoulli draws (n is small). */
static uint32_t s_binomial(crr_gen_t *g, uint32_t n, uint32_t pct)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        k += (uint32_t)s_chance(g, pct);
    return k;
}

static int s_gen_behaviour_observation(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t w_observer[] = {50, 20, 20, 10};
    S_BODY(ev, behaviour_observation, Crrmon__V1__BehaviourObservation,
           crrmon__v1__behaviour_observation__init, CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION);
    S_SETSTR(m->officer_ref, "O%06u", s_below(g, 1000000));
    m->observer = (Crrmon__V1__ObserverRole)(S_PICK(g, w_observer) + 1);
    m->trained = s_chance(g, 70);
    m->items_observed = s_between(g, 5, 20);
    m->items_met = s_binomial(g, m->items_observed, m->trained ? 86 : 74);
    return 0;
}

static int s_gen_attendance(crr_gen_t *g, Crrmon__V1__Event *ev, int bidx)
{
    S_BODY(ev, attendance, Crrmon__V1__Attendance, crrmon__v1__attendance__init,
           CRRMON__V1__EVENT__BODY_ATTENDANCE);
    uint32_t course = s_below(g, S_NCOURSES);
    S_SETSTR(m->course_id, "%s", s_courses[course]);
    S_SETSTR(m->session_id, "%s-%02d-S%02u", s_courses[course], bidx + 1, s_between(g, 1, 40));
    m->staff_group = (Crrmon__V1__StaffGroup)(S_PICK(g, s_w_staff) + 1);
    m->booked = s_between(g, 8, 30);
    m->attended = m->booked - s_binomial(g, m->booked, 12);
    m->senior = m->staff_group == CRRMON__V1__STAFF_GROUP__STAFF_GROUP_SENIOR_MANAGER
                    ? m->attended
                    : s_binomial(g, m->attended, 5);
    m->mandatory = s_chance(g, 80);
    return 0;
}

static int s_gen_training_cost(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t w_cat[] = {8, 30, 20, 10, 20, 7, 5};
    S_BODY(ev, training_cost, Crrmon__V1__TrainingCost, crrmon__v1__training_cost__init,
           CRRMON__V1__EVENT__BODY_TRAINING_COST);
    S_SETSTR(m->course_id, "%s", s_courses[s_below(g, S_NCOURSES)]);
    m->category = (Crrmon__V1__CostCategory)(S_PICK(g, w_cat) + 1);
    m->amount_pence = (int64_t)s_between(g, 5000, 2500000);
    return 0;
}

static int s_gen_staff_headcount(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t lo[] = {500, 100, 80, 20}, hi[] = {1500, 400, 250, 80};
    S_BODY(ev, staff_headcount, Crrmon__V1__StaffHeadcount, crrmon__v1__staff_headcount__init,
           CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT);
    uint32_t sg = s_below(g, 4);
    m->staff_group = (Crrmon__V1__StaffGroup)(sg + 1);
    m->headcount = s_between(g, lo[sg], hi[sg]);
    m->in_scope = (uint32_t)(m->headcount * (0.7 + 0.3 * s_unit(g)));
    return 0;
}

/* Self-defined codes of each Ethnicity (1..6), for consistent sde_code. */
static const char *const s_sde_of[7][5] = {
    {NULL},
    {"W1", "W2", "W3", "W9", NULL},
    {"M1", "M2", "M3", "M9", NULL},
    {"A1", "A2", "A3", "A4", "A9"},
    {"B1", "B2", "B9", NULL, NULL},
    {"O2", "O9", NULL, NULL, NULL},
    {"NS", NULL, NULL, NULL, NULL},
};

/* Count of non-NULL entries of s_sde_of[eth]. */
static uint32_t s_sde_count(int eth)
{
    uint32_t n = 0;
    while (n < 5 && s_sde_of[eth][n])
        n++;
    return n;
}

static int s_gen_stop_search(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t w_eth[] = {36, 6, 17, 33, 5, 3};        /* W M A B O NS */
    static const uint32_t w_ic[] = {55, 5, 8, 20, 5, 2, 0, 0, 5}; /* IC1..IC9 */
    static const uint32_t w_leg[] = {22, 64, 2, 6, 1, 5};
    static const uint32_t w_out[] = {70, 15, 1, 2, 3, 8, 1};
    S_BODY(ev, stop_search, Crrmon__V1__StopSearch, crrmon__v1__stop_search__init,
           CRRMON__V1__EVENT__BODY_STOP_SEARCH);
    m->count = s_chance(g, 95) ? 1 : s_between(g, 2, 4);
    int eth = S_PICK(g, w_eth) + 1;
    m->ethnicity = (Crrmon__V1__Ethnicity)eth;
    if (s_chance(g, 70)) {
        const char *code = s_sde_of[eth][s_below(g, s_sde_count(eth))];
        S_SETSTR(m->sde_code, "%s", code);
    }
    m->officer_ethnicity = s_chance(g, 85)
                               ? (Crrmon__V1__OfficerEthnicity)(S_PICK(g, w_ic) + 1)
                               : CRRMON__V1__OFFICER_ETHNICITY__OFFICER_ETHNICITY_UNSPECIFIED;
    m->legislation = s_chance(g, 95) ? (Crrmon__V1__Legislation)(S_PICK(g, w_leg) + 1)
                                     : CRRMON__V1__LEGISLATION__LEGISLATION_UNSPECIFIED;
    m->outcome = (Crrmon__V1__Outcome)(S_PICK(g, w_out) + 1);
    m->object_found =
        s_chance(g, m->outcome == CRRMON__V1__OUTCOME__OUTCOME_NO_FURTHER_ACTION ? 6 : 60);
    m->grounds_reviewed = s_chance(g, 30);
    m->grounds_satisfactory = m->grounds_reviewed && s_chance(g, 85);
    return 0;
}

static int s_gen_complaint(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t w_cat[] = {12, 35, 18, 15, 20};
    static const uint32_t w_eth[] = {45, 7, 16, 26, 6, 0};
    S_BODY(ev, complaint, Crrmon__V1__Complaint, crrmon__v1__complaint__init,
           CRRMON__V1__EVENT__BODY_COMPLAINT);
    m->allegations = s_chance(g, 70) ? 1 : s_between(g, 2, 4);
    m->category = (Crrmon__V1__ComplaintCategory)(S_PICK(g, w_cat) + 1);
    m->complainant_ethnicity = s_chance(g, 75) ? (Crrmon__V1__Ethnicity)(S_PICK(g, w_eth) + 1)
                                               : CRRMON__V1__ETHNICITY__ETHNICITY_UNSPECIFIED;
    m->linked_to_stop_search =
        m->category == CRRMON__V1__COMPLAINT_CATEGORY__COMPLAINT_CATEGORY_STOP_SEARCH_CONDUCT
            ? 1
            : s_chance(g, 10);
    return 0;
}

static int s_gen_racist_incident(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t w_eth[] = {20, 8, 32, 30, 8, 2};
    S_BODY(ev, racist_incident, Crrmon__V1__RacistIncident, crrmon__v1__racist_incident__init,
           CRRMON__V1__EVENT__BODY_RACIST_INCIDENT);
    m->count = s_chance(g, 92) ? 1 : s_between(g, 2, 3);
    m->recorded_as_crime = s_chance(g, 65);
    m->victim_ethnicity = s_chance(g, 80) ? (Crrmon__V1__Ethnicity)(S_PICK(g, w_eth) + 1)
                                          : CRRMON__V1__ETHNICITY__ETHNICITY_UNSPECIFIED;
    return 0;
}

/* A survey item 0-5: 4% not answered (0), else from the weights. */
static uint32_t s_item(crr_gen_t *g, const uint32_t *w5)
{
    if (s_chance(g, 4))
        return 0;
    return (uint32_t)s_pick(g, w5, 5) + 1;
}

static int s_gen_survey_response(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t w_survey[] = {70, 15, 15};
    static const uint32_t w_eth[] = {53, 6, 21, 13, 6, 1};
    static const uint32_t w_gender[] = {51, 47, 1, 1};
    static const uint32_t w_pos[] = {5, 10, 22, 40, 23};
    static const uint32_t w_fair[] = {8, 14, 26, 34, 18};
    static const uint32_t w_fair_low[] = {15, 20, 27, 26, 12};
    static const uint32_t w_rep[] = {76, 9, 15};
    S_BODY(ev, survey_response, Crrmon__V1__SurveyResponse, crrmon__v1__survey_response__init,
           CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE);
    m->survey = (Crrmon__V1__Survey)(S_PICK(g, w_survey) + 1);
    m->ethnicity = (Crrmon__V1__Ethnicity)(S_PICK(g, w_eth) + 1);
    m->gender = (Crrmon__V1__Gender)(S_PICK(g, w_gender) + 1);
    /* 5% unweighted (0 reads as 1.0); otherwise 0.375..2.5 in eighths, which
     * binary doubles hold exactly (so JSON shows 1.625, not 1.6299999...). */
    m->weight = s_chance(g, 5) ? 0.0 : (double)s_between(g, 3, 20) / 8.0;
    int low = m->ethnicity == CRRMON__V1__ETHNICITY__ETHNICITY_BLACK ||
              m->ethnicity == CRRMON__V1__ETHNICITY__ETHNICITY_MIXED;
    m->good_job = s_item(g, w_pos);
    m->treats_everyone_fairly = s_item(g, low ? w_fair_low : w_fair);
    m->confident_as_victim = s_item(g, w_pos);
    m->fair_as_suspect = s_item(g, low ? w_fair_low : w_fair);
    m->would_report = s_chance(g, 88) ? (Crrmon__V1__Answer)(S_PICK(g, w_rep) + 1)
                                      : CRRMON__V1__ANSWER__ANSWER_UNSPECIFIED;
    return 0;
}

static int s_gen_community_engagement(crr_gen_t *g, Crrmon__V1__Event *ev)
{
    static const uint32_t w_fmt[] = {45, 15, 30, 10};
    static const uint32_t w_rate[] = {4, 8, 25, 40, 23};
    S_BODY(ev, community_engagement, Crrmon__V1__CommunityEngagement,
           crrmon__v1__community_engagement__init, CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT);
    m->format = (Crrmon__V1__EngagementFormat)(S_PICK(g, w_fmt) + 1);
    m->venue = s_chance(g, 60) ? CRRMON__V1__VENUE__VENUE_COMMUNITY_VENUE
                               : CRRMON__V1__VENUE__VENUE_POLICE_PREMISES;
    m->police_participants = s_between(g, 2, 15);
    m->community_participants = s_between(g, 4, 60);
    m->pre_briefed = s_chance(g, 70);
    m->debriefed = s_chance(g, 60);
    m->police_rating = s_chance(g, 15) ? 0 : S_SCORE(g, w_rate);
    m->community_rating = s_chance(g, 25) ? 0 : S_SCORE(g, w_rate);
    return 0;
}

/* ---- type table ---------------------------------------------------------- */

/* Relative frequency of each body type in an "all types" stream. */
static uint32_t s_type_weight(Crrmon__V1__Event__BodyCase c)
{
    switch (c) {
    case CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK: return 18;
    case CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT: return 9;
    case CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION: return 7;
    case CRRMON__V1__EVENT__BODY_ATTENDANCE: return 5;
    case CRRMON__V1__EVENT__BODY_TRAINING_COST: return 2;
    case CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT: return 1;
    case CRRMON__V1__EVENT__BODY_STOP_SEARCH: return 32;
    case CRRMON__V1__EVENT__BODY_COMPLAINT: return 4;
    case CRRMON__V1__EVENT__BODY_RACIST_INCIDENT: return 6;
    case CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE: return 13;
    case CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT: return 3;
    default: return 0; /* a type added to the .proto that gen cannot fill yet */
    }
}

/* Adds body case c once (duplicates in --types are harmless). */
static void s_add_type(crr_gen_t *g, Crrmon__V1__Event__BodyCase c)
{
    for (int i = 0; i < g->ntypes; i++)
        if (g->types[i] == c)
            return;
    g->types[g->ntypes] = c;
    g->type_weight[g->ntypes] = s_type_weight(c);
    g->type_total += g->type_weight[g->ntypes];
    g->ntypes++;
}

/* Parses the comma list into g->types. Returns 0 or CRR_EINVAL. */
static int s_parse_types(crr_gen_t *g, const char *list)
{
    const ProtobufCMessageDescriptor *ed = &crrmon__v1__event__descriptor;
    if (!list || !*list) {
        for (unsigned i = 0; i < ed->n_fields; i++)
            if ((ed->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                s_type_weight((Crrmon__V1__Event__BodyCase)ed->fields[i].id))
                s_add_type(g, (Crrmon__V1__Event__BodyCase)ed->fields[i].id);
        return 0;
    }
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *q = p;
        while (*q && *q != ',' && *q != ' ')
            q++;
        char name[64];
        if ((size_t)(q - p) >= sizeof name)
            return CRR_EINVAL;
        memcpy(name, p, (size_t)(q - p));
        name[q - p] = '\0';
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(ed, name);
        if (!f || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
            !s_type_weight((Crrmon__V1__Event__BodyCase)f->id))
            return CRR_EINVAL;
        s_add_type(g, (Crrmon__V1__Event__BodyCase)f->id);
        p = q;
    }
    return g->ntypes ? 0 : CRR_EINVAL;
}

/* ---- public -------------------------------------------------------------- */

int crr_gen_new(const crr_gen_opts_t *o, crr_gen_t **out)
{
    int rc = CRR_EINVAL;
    crr_gen_t *g = NULL;
    *out = NULL;
    if (!o || o->start_sec >= o->end_sec)
        goto fail;
    g = calloc(1, sizeof *g);
    if (!g) {
        rc = -ENOMEM;
        goto fail;
    }
    g->seed = o->seed;
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = s_splitmix64(&x);
    g->start_sec = o->start_sec;
    g->span_sec = (uint64_t)(o->end_sec - o->start_sec);
    if (o->boroughs) {
        if (o->nboroughs == 0)
            goto fail;
        for (size_t i = 0; i < o->nboroughs; i++) {
            int idx = crr_borough_index(o->boroughs[i]);
            if (idx < 0)
                goto fail;
            int dup = 0;
            for (int j = 0; j < g->nboroughs; j++)
                dup |= g->boroughs[j] == idx;
            if (!dup)
                g->boroughs[g->nboroughs++] = idx;
        }
    } else {
        for (int i = 0; i < CRR_BOROUGHS; i++)
            g->boroughs[g->nboroughs++] = i;
    }
    if ((rc = s_parse_types(g, o->types)) != 0)
        goto fail;
    *out = g;
    return 0;
fail:
    free(g);
    return rc;
}

void crr_gen_destroy(crr_gen_t **g)
{
    if (!g || !*g)
        return;
    free(*g);
    *g = NULL;
}

uint64_t crr_gen_count(const crr_gen_t *g)
{
    return g->n;
}

/* Fills ev's body with one event of type c. Returns 0 or -ENOMEM. */
static int s_gen_body(crr_gen_t *g, Crrmon__V1__Event *ev, Crrmon__V1__Event__BodyCase c, int bidx)
{
    switch (c) {
    case CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK: return s_gen_training_feedback(g, ev, bidx);
    case CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT: return s_gen_learning_assessment(g, ev);
    case CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION: return s_gen_behaviour_observation(g, ev);
    case CRRMON__V1__EVENT__BODY_ATTENDANCE: return s_gen_attendance(g, ev, bidx);
    case CRRMON__V1__EVENT__BODY_TRAINING_COST: return s_gen_training_cost(g, ev);
    case CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT: return s_gen_staff_headcount(g, ev);
    case CRRMON__V1__EVENT__BODY_STOP_SEARCH: return s_gen_stop_search(g, ev);
    case CRRMON__V1__EVENT__BODY_COMPLAINT: return s_gen_complaint(g, ev);
    case CRRMON__V1__EVENT__BODY_RACIST_INCIDENT: return s_gen_racist_incident(g, ev);
    case CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE: return s_gen_survey_response(g, ev);
    case CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT: return s_gen_community_engagement(g, ev);
    default: return CRR_EINVAL; /* excluded by s_type_weight() == 0 */
    }
}

int crr_gen_next(crr_gen_t *g, Crrmon__V1__Event **out)
{
    int rc = -ENOMEM;
    *out = NULL;
    Crrmon__V1__Event *ev = malloc(sizeof *ev);
    if (!ev)
        goto fail;
    crrmon__v1__event__init(ev);

    uint64_t n = g->n + 1;
    int bidx = g->boroughs[g->nboroughs > 1 ? s_below(g, (uint32_t)g->nboroughs) : 0];
    Crrmon__V1__Event__BodyCase c = g->types[0];
    if (g->ntypes > 1) {
        uint32_t r = s_below(g, g->type_total);
        for (int i = 0; i < g->ntypes; i++) {
            if (r < g->type_weight[i]) {
                c = g->types[i];
                break;
            }
            r -= g->type_weight[i];
        }
    }
    /* span may exceed 2^32 s (136 years); draw 64 bits then reduce. */
    int64_t sec = g->start_sec + (int64_t)(s_next(g) % g->span_sec);
    int32_t nanos = (int32_t)s_below(g, 1000) * 1000000;

    if (!(ev->borough = s_strf("%s", crr_borough_code(bidx))))
        goto fail;
    if (!(ev->record_id = s_strf("%llu-%llu", (unsigned long long)g->seed, (unsigned long long)n)))
        goto fail;
    if (!(ev->occurred_at = malloc(sizeof *ev->occurred_at)))
        goto fail;
    google__protobuf__timestamp__init(ev->occurred_at);
    ev->occurred_at->seconds = sec;
    ev->occurred_at->nanos = nanos;
    if ((rc = s_gen_body(g, ev, c, bidx)) != 0)
        goto fail;
    g->n = n;
    *out = ev;
    return 0;
fail:
    if (ev)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
    return rc;
}

int crr_gen_has_type(const crr_gen_t *g, int body_case)
{
    for (int i = 0; i < g->ntypes; i++)
        if ((int)g->types[i] == body_case)
            return 1;
    return 0;
}
