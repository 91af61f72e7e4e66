/* accumulate: the event -> sums rules (accumulate.h), one function per event
 * type, and the event-type table. No storage here: the buckets are reached
 * through the caller's crr_acc_ops_t. */
#include "accumulate.h"

#include "err.h"

#include <stddef.h>
#include <string.h>

/* ---- families ------------------------------------------------------------- */

static const struct {
    unsigned nm;   /* metrics */
    unsigned type; /* event type index, 0 = every type (pipeline) */
} s_fams[CRR_FAM_COUNT] = {
    [CRR_FAM_FEEDBACK] = {M_FB_COUNT, 1},   [CRR_FAM_TRAINER] = {M_TR_COUNT, 1},
    [CRR_FAM_LEARNING] = {M_LA_COUNT, 2},   [CRR_FAM_BEHAVIOUR] = {M_BO_COUNT, 3},
    [CRR_FAM_ATTENDANCE] = {M_AT_COUNT, 4}, [CRR_FAM_COST] = {M_CO_COUNT, 5},
    [CRR_FAM_HEADCOUNT] = {M_HC_COUNT, 6},  [CRR_FAM_STOPSEARCH] = {M_SS_COUNT, 7},
    [CRR_FAM_COMPLAINT] = {M_CP_COUNT, 8},  [CRR_FAM_RACIST] = {M_RI_COUNT, 9},
    [CRR_FAM_SURVEY] = {M_SV_COUNT, 10},    [CRR_FAM_ENGAGEMENT] = {M_EN_COUNT, 11},
    [CRR_FAM_PIPELINE] = {M_PL_COUNT, 0},
};

unsigned crr_fam_nmetrics(unsigned f)
{
    return f < CRR_FAM_COUNT ? s_fams[f].nm : 0;
}

unsigned crr_fam_type(unsigned f)
{
    return f < CRR_FAM_COUNT ? s_fams[f].type : 0;
}

/* ---- event types (from the protobuf descriptor) ----------------------------- */

/* Index in the Event descriptor's fields (ordered by field number) of the
 * first member of the body oneof. */
static unsigned s_first_body(void)
{
    const ProtobufCMessageDescriptor *d = &crrmon__v1__event__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++)
        if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            d->fields[i].quantifier_offset == offsetof(Crrmon__V1__Event, body_case))
            return i;
    return d->n_fields;
}

unsigned crr_event_type_index(const Crrmon__V1__Event *e)
{
    if (!e || e->body_case == CRRMON__V1__EVENT__BODY__NOT_SET)
        return 0;
    const ProtobufCMessageDescriptor *d = &crrmon__v1__event__descriptor;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(d, (unsigned)e->body_case);
    unsigned first = s_first_body();
    if (!f || (unsigned)(f - d->fields) < first)
        return 0;
    unsigned t = (unsigned)(f - d->fields) - first + 1;
    return t <= CRR_TYPE_COUNT ? t : 0;
}

const char *crr_event_type_text(unsigned t)
{
    const ProtobufCMessageDescriptor *d = &crrmon__v1__event__descriptor;
    unsigned i = s_first_body() + t - 1;
    if (t < 1 || t > CRR_TYPE_COUNT || i >= d->n_fields)
        return NULL;
    return d->fields[i].name;
}

uint64_t crr_hash64(const char *s, size_t n)
{
    /* FNV-1a then a murmur finaliser: stable across platforms and releases,
     * because the hash is part of the on-disk key. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Big-endian v into a cell (a hashed cell sorts by its hash). */
static void s_cell_hash(uint8_t *cell, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        cell[i] = (uint8_t)v;
}

/* ---- one function per event type ----------------------------------------------- */

/* The sums of family fam at cell (by occurred day); name as in crr_acc_ops_t. */
static int s_sums(const crr_acc_ops_t *o, unsigned fam, const uint8_t *cell, const char *name,
                  size_t len, double **m)
{
    return o->sums(o->ctx, fam, cell, 0, name, len, m);
}

static int s_acc_feedback(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__TrainingFeedback *f = e->training_feedback;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)f->staff_group};
    double *m, ov = f->overall, ci = f->community_interface, tq = f->trainer_quality;
    int rc = s_sums(o, CRR_FAM_FEEDBACK, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_FB_N] += 1;
    m[M_FB_OVERALL] += ov;
    m[M_FB_OVERALL2] += ov * ov;
    m[M_FB_RELEVANCE_POS] += f->relevance >= 4;
    m[M_FB_PURPOSE_POS] += f->purpose_explained >= 4;
    if (f->community_interface > 0) {
        m[M_FB_CI_N] += 1;
        m[M_FB_CI] += ci;
        m[M_FB_CI2] += ci * ci;
    }
    m[M_FB_RECOMMEND] += f->would_recommend != 0;
    m[M_FB_TQ] += tq;
    m[M_FB_TQ2] += tq * tq;
    /* per trainer: cell = hash of the id, the id itself kept beside it */
    size_t tl = strlen(f->trainer_id);
    s_cell_hash(cell, crr_hash64(f->trainer_id, tl));
    if ((rc = s_sums(o, CRR_FAM_TRAINER, cell, f->trainer_id, tl, &m)) != 0)
        return rc;
    m[M_TR_N] += 1;
    m[M_TR_TQ] += tq;
    m[M_TR_TQ2] += tq * tq;
    return 0;
}

static int s_acc_learning(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__LearningAssessment *l = e->learning_assessment;
    uint8_t cell[CRR_AGG_CELL] = {0};
    double *m;
    int rc = s_sums(o, CRR_FAM_LEARNING, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_LA_N] += 1;
    if (l->pre_score < l->max_score) {
        double g = ((double)l->post_score - l->pre_score) / ((double)l->max_score - l->pre_score);
        m[M_LA_GAIN_N] += 1;
        m[M_LA_GAIN] += g;
        m[M_LA_GAIN2] += g * g;
    } else {
        m[M_LA_CEILING] += 1;
    }
    m[M_LA_PRE] += l->pre_score;
    m[M_LA_POST] += l->post_score;
    m[M_LA_MAX] += l->max_score;
    return 0;
}

static int s_acc_behaviour(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__BehaviourObservation *x = e->behaviour_observation;
    uint8_t cell[CRR_AGG_CELL] = {x->trained != 0, (uint8_t)x->observer};
    double *m;
    int rc = s_sums(o, CRR_FAM_BEHAVIOUR, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_BO_N] += 1;
    m[M_BO_OBSERVED] += x->items_observed;
    m[M_BO_MET] += x->items_met;
    return 0;
}

static int s_acc_attendance(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__Attendance *t = e->attendance;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)t->staff_group, t->mandatory != 0};
    double *m;
    int rc = s_sums(o, CRR_FAM_ATTENDANCE, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_AT_N] += 1;
    m[M_AT_BOOKED] += t->booked;
    m[M_AT_ATTENDED] += t->attended;
    m[M_AT_SENIOR] += t->senior;
    return 0;
}

static int s_acc_cost(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__TrainingCost *c = e->training_cost;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)c->category};
    double *m;
    int rc = s_sums(o, CRR_FAM_COST, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_CO_N] += 1;
    m[M_CO_AMOUNT] += (double)c->amount_pence;
    return 0;
}

static int s_acc_headcount(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__StaffHeadcount *h = e->staff_headcount;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)h->staff_group};
    double *m;
    int rc = s_sums(o, CRR_FAM_HEADCOUNT, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_HC_N] += 1;
    m[M_HC_HEADCOUNT] += h->headcount;
    m[M_HC_IN_SCOPE] += h->in_scope;
    return o->headcount(o->ctx, (unsigned)h->staff_group, h->headcount, h->in_scope);
}

static int s_acc_stop_search(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__StopSearch *x = e->stop_search;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)x->ethnicity};
    double *m;
    int rc = s_sums(o, CRR_FAM_STOPSEARCH, cell, NULL, 0, &m);
    if (rc)
        return rc;
    double c = x->count ? x->count : 1;
    m[M_SS_N] += 1;
    m[M_SS_COUNT_SUM] += c;
    if (x->outcome == CRRMON__V1__OUTCOME__OUTCOME_ARREST)
        m[M_SS_ARREST] += c;
    if (x->object_found)
        m[M_SS_FOUND] += c;
    if (x->grounds_reviewed) {
        m[M_SS_REVIEWED] += c;
        if (x->grounds_satisfactory)
            m[M_SS_SATISFACTORY] += c;
    }
    if (x->ethnicity != CRRMON__V1__ETHNICITY__ETHNICITY_NOT_STATED)
        m[M_SS_RECORDED] += c;
    return 0;
}

static int s_acc_complaint(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__Complaint *x = e->complaint;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)x->category};
    double *m;
    int rc = s_sums(o, CRR_FAM_COMPLAINT, cell, NULL, 0, &m);
    if (rc)
        return rc;
    double al = x->allegations ? x->allegations : 1;
    m[M_CP_N] += 1;
    m[M_CP_ALLEGATIONS] += al;
    if (x->linked_to_stop_search)
        m[M_CP_LINKED] += al;
    if (x->category == CRRMON__V1__COMPLAINT_CATEGORY__COMPLAINT_CATEGORY_DISCRIMINATORY_BEHAVIOUR)
        m[M_CP_DISCRIM] += al;
    return 0;
}

static int s_acc_racist(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__RacistIncident *x = e->racist_incident;
    uint8_t cell[CRR_AGG_CELL] = {x->recorded_as_crime != 0};
    double *m;
    int rc = s_sums(o, CRR_FAM_RACIST, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_RI_N] += 1;
    m[M_RI_COUNT_SUM] += x->count ? x->count : 1;
    return 0;
}

/* One survey item's sums: answered, weight, weight^2, weight if positive. */
static void s_survey_item(double *m, unsigned k, double w, int positive)
{
    double *it = m + M_SV_ITEM0 + 4 * k;
    it[M_SV_ANS] += 1;
    it[M_SV_W] += w;
    it[M_SV_W2] += w * w;
    if (positive)
        it[M_SV_WPOS] += w;
}

static int s_acc_survey(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__SurveyResponse *x = e->survey_response;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)x->ethnicity, (uint8_t)x->gender};
    double *m;
    int rc = s_sums(o, CRR_FAM_SURVEY, cell, NULL, 0, &m);
    if (rc)
        return rc;
    double w = x->weight > 0 ? x->weight : 1.0;
    unsigned items[4] = {x->good_job, x->treats_everyone_fairly, x->confident_as_victim,
                         x->fair_as_suspect};
    m[M_SV_N] += 1;
    for (unsigned k = 0; k < 4; k++)
        if (items[k] != 0)
            s_survey_item(m, k, w, items[k] >= 4);
    if (x->would_report != CRRMON__V1__ANSWER__ANSWER_UNSPECIFIED)
        s_survey_item(m, 4, w, x->would_report == CRRMON__V1__ANSWER__ANSWER_YES);
    return 0;
}

static int s_acc_engagement(const Crrmon__V1__Event *e, const crr_acc_ops_t *o)
{
    const Crrmon__V1__CommunityEngagement *x = e->community_engagement;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)x->format};
    double *m;
    int rc = s_sums(o, CRR_FAM_ENGAGEMENT, cell, NULL, 0, &m);
    if (rc)
        return rc;
    m[M_EN_N] += 1;
    m[M_EN_COMMUNITY_VENUE] += x->venue == CRRMON__V1__VENUE__VENUE_COMMUNITY_VENUE;
    m[M_EN_BRIEFED] += x->pre_briefed && x->debriefed;
    m[M_EN_POLICE_P] += x->police_participants;
    m[M_EN_COMMUNITY_P] += x->community_participants;
    if (x->police_rating) {
        m[M_EN_PR_N] += 1;
        m[M_EN_PR] += x->police_rating;
        m[M_EN_PR2] += (double)x->police_rating * x->police_rating;
    }
    if (x->community_rating) {
        m[M_EN_CR_N] += 1;
        m[M_EN_CR] += x->community_rating;
        m[M_EN_CR2] += (double)x->community_rating * x->community_rating;
    }
    return 0;
}

/* The event-type table, by type index: the body it reads and its rules. */
typedef int (*s_acc_fn)(const Crrmon__V1__Event *e, const crr_acc_ops_t *o);
static const struct {
    Crrmon__V1__Event__BodyCase body;
    s_acc_fn fn;
} s_types[CRR_TYPE_COUNT + 1] = {
    [1] = {CRRMON__V1__EVENT__BODY_TRAINING_FEEDBACK, s_acc_feedback},
    [2] = {CRRMON__V1__EVENT__BODY_LEARNING_ASSESSMENT, s_acc_learning},
    [3] = {CRRMON__V1__EVENT__BODY_BEHAVIOUR_OBSERVATION, s_acc_behaviour},
    [4] = {CRRMON__V1__EVENT__BODY_ATTENDANCE, s_acc_attendance},
    [5] = {CRRMON__V1__EVENT__BODY_TRAINING_COST, s_acc_cost},
    [6] = {CRRMON__V1__EVENT__BODY_STAFF_HEADCOUNT, s_acc_headcount},
    [7] = {CRRMON__V1__EVENT__BODY_STOP_SEARCH, s_acc_stop_search},
    [8] = {CRRMON__V1__EVENT__BODY_COMPLAINT, s_acc_complaint},
    [9] = {CRRMON__V1__EVENT__BODY_RACIST_INCIDENT, s_acc_racist},
    [10] = {CRRMON__V1__EVENT__BODY_SURVEY_RESPONSE, s_acc_survey},
    [11] = {CRRMON__V1__EVENT__BODY_COMMUNITY_ENGAGEMENT, s_acc_engagement},
};

int crr_accumulate(const Crrmon__V1__Event *e, const crr_acc_ops_t *ops)
{
    unsigned t = crr_event_type_index(e);
    if (!t || s_types[t].body != e->body_case || !s_types[t].fn)
        return CRR_EINVAL; /* validation guarantees a known body */
    int rc = s_types[t].fn(e, ops);
    if (rc)
        return rc;
    uint8_t cell[CRR_AGG_CELL] = {(uint8_t)t};
    double *m;
    if ((rc = ops->sums(ops->ctx, CRR_FAM_PIPELINE, cell, 1, NULL, 0, &m)) != 0)
        return rc;
    m[M_PL_N] += 1;
    return 0;
}
