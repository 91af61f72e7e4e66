/* indicators: the catalogue of docs/DOMAIN.md as ONE declarative table
 * (s_catalogue below: name, family, dims, stat, metrics read, flags, custom
 * function, description) and the engine that evaluates it.
 *
 * Engine: one read transaction. For each wanted borough and each family the
 * day buckets of the longest window are range-scanned once; each bucket's
 * sums are added to every window that contains its day, per borough. LONDON's
 * cells are then summed, per indicator and window, from the boroughs that
 * cover it (s_prepare: coverage from the first-seen instants, cached per
 * window and family while the set stays the same), so LONDON is always built
 * from summed sums, never from ratios.
 * Each (scope, window, family) ends as a small map cell -> summed metrics;
 * a row (total, one dimension value, or a cell of two dimensions) sums the
 * matching cells and applies the row's statistic (state/stats). Adding an
 * indicator over data the store already keeps is adding a table row.
 *
 * Reference data (population) comes from state/refdata; without it the rate
 * rows are present with no value. Threading: pure function of the store's
 * committed state; may run on any thread. Does not log or cache. */
#include "indicators.h"
#include "accumulate.h"
#include "store.h"

#include "boroughs.h"
#include "clock.h"
#include "codec.h"
#include "refdata.h"
#include "stats.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LONDON CRR_BOROUGHS /* scope index of LONDON */
#define S_SCOPES (CRR_BOROUGHS + 1)

/* ---- dimensions -------------------------------------------------------- */

enum { S_DK_ENUM, S_DK_BOOL, S_DK_HASH, S_DK_TYPE };

typedef struct s_dim {
    const char *name;                     /* dimension name in rows */
    uint8_t off;                          /* byte offset in the cell */
    uint8_t kind;                         /* S_DK_* */
    const ProtobufCEnumDescriptor *edesc; /* enum values (S_DK_ENUM) */
    const char *prefix;                   /* enum value prefix to strip */
} s_dim_t;

#define S_ENUM(n, o, d, p)                                                                         \
    {                                                                                              \
        n, o, S_DK_ENUM, &d, p                                                                     \
    }
static const s_dim_t s_dim_staff =
    S_ENUM("staff_group", 0, crrmon__v1__staff_group__descriptor, "STAFF_GROUP_");
static const s_dim_t s_dim_trainer = {"trainer_id", 0, S_DK_HASH, NULL, NULL};
static const s_dim_t s_dim_trained = {"trained", 0, S_DK_BOOL, NULL, NULL};
static const s_dim_t s_dim_cost =
    S_ENUM("category", 0, crrmon__v1__cost_category__descriptor, "COST_CATEGORY_");
static const s_dim_t s_dim_eth =
    S_ENUM("ethnicity", 0, crrmon__v1__ethnicity__descriptor, "ETHNICITY_");
static const s_dim_t s_dim_complaint =
    S_ENUM("category", 0, crrmon__v1__complaint_category__descriptor, "COMPLAINT_CATEGORY_");
static const s_dim_t s_dim_crime = {"recorded_as_crime", 0, S_DK_BOOL, NULL, NULL};
static const s_dim_t s_dim_gender = S_ENUM("gender", 1, crrmon__v1__gender__descriptor, "GENDER_");
static const s_dim_t s_dim_format =
    S_ENUM("format", 0, crrmon__v1__engagement_format__descriptor, "ENGAGEMENT_FORMAT_");
static const s_dim_t s_dim_type = {"type", 0, S_DK_TYPE, NULL, NULL};

/* ---- the catalogue ------------------------------------------------------ */

/* What a custom row function sees. */
typedef struct s_ctx s_ctx_t;
/* A computed row before it becomes a message. */
typedef struct s_out {
    int has_value; /* value defined */
    double value;  /* the value */
    double n;      /* sample size */
    int has_ci;    /* interval defined */
    double lo, hi; /* interval */
    int has_neff;  /* n_eff defined (W) */
    double neff;   /* effective sample size */
    int reliable;  /* reliability flag */
} s_out_t;
typedef void (*s_fn_t)(const s_ctx_t *c, const double *m, s_out_t *o);

enum {
    S_F_LONDON_ONLY = 1, /* rows for LONDON only */
    S_F_NO_TOTAL = 2,    /* no total row */
};

typedef struct s_ind {
    const char *name;       /* catalogue name */
    unsigned fam;           /* family whose cells it reads */
    crr_stat_t stat;        /* statistic */
    const s_dim_t *dims[2]; /* dimensions (NULL = none); two = each, plus each cell */
    uint8_t a, b, c;        /* metrics: C a; P a/b; M n=a sum=b sumsq=c; W item base a */
    unsigned flags;         /* S_F_* */
    uint32_t exclude;       /* bit v set: no row for value v of the first dimension */
    s_fn_t fn;              /* custom value (R, RR, V), NULL = the stat's generic rule */
    const char *dims_text;  /* dims for crr_indicators_catalogue */
    const char *desc;       /* one line */
    unsigned fam2;          /* the family of a second source type it reads, 0 = none
                               (coverage needs both types; CRR_FAM_HEADCOUNT: the gauge) */
} s_ind_t;

static void s_fn_coverage(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_response_rate(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_flagged(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_class_gain(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_cost_total(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_cost_per_attendee(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_search_rate(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_disparity(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_complaints_per_search(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_incident_rate(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_victim_suspect_gap(const s_ctx_t *c, const double *m, s_out_t *o);
static void s_fn_last_event_age(const s_ctx_t *c, const double *m, s_out_t *o);

#define D0                                                                                         \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }
#define D1(x)                                                                                      \
    {                                                                                              \
        &x, NULL                                                                                   \
    }
#define D2(x, y)                                                                                   \
    {                                                                                              \
        &x, &y                                                                                     \
    }
#define SV(k) (uint8_t)(M_SV_ITEM0 + 4 * (k))
#define EXCL(v) (1u << (v))
#define ETH(v) CRRMON__V1__ETHNICITY__ETHNICITY_##v

static const s_ind_t s_catalogue[] = {
    /* name, family, stat, dims, a, b, c, flags, exclude, fn, dims text, description */
    {"training.attended", CRR_FAM_ATTENDANCE, CRR_STAT_C, D1(s_dim_staff), M_AT_ATTENDED, 0, 0, 0,
     0, NULL, "staff_group", "sum of attended"},
    {"training.attendance_rate", CRR_FAM_ATTENDANCE, CRR_STAT_P, D1(s_dim_staff), M_AT_ATTENDED,
     M_AT_BOOKED, 0, 0, 0, NULL, "staff_group", "sum attended / sum booked"},
    {"training.senior_share", CRR_FAM_ATTENDANCE, CRR_STAT_P, D0, M_AT_SENIOR, M_AT_ATTENDED, 0, 0,
     0, NULL, "", "sum senior / sum attended"},
    {"training.coverage", CRR_FAM_ATTENDANCE, CRR_STAT_V, D0, 0, 0, 0, 0, 0, s_fn_coverage, "",
     "attended at mandatory sessions / latest in_scope summed over staff groups; n = in_scope",
     CRR_FAM_HEADCOUNT},
    {"feedback.responses", CRR_FAM_FEEDBACK, CRR_STAT_C, D0, M_FB_N, 0, 0, 0, 0, NULL, "",
     "count of training_feedback"},
    {"feedback.response_rate", CRR_FAM_FEEDBACK, CRR_STAT_V, D0, 0, 0, 0, 0, 0, s_fn_response_rate,
     "", "responses / sum attended; n = sum attended", CRR_FAM_ATTENDANCE},
    {"feedback.overall_mean", CRR_FAM_FEEDBACK, CRR_STAT_M, D1(s_dim_staff), M_FB_N, M_FB_OVERALL,
     M_FB_OVERALL2, 0, 0, NULL, "staff_group", "mean of overall"},
    {"feedback.relevance_positive", CRR_FAM_FEEDBACK, CRR_STAT_P, D1(s_dim_staff),
     M_FB_RELEVANCE_POS, M_FB_N, 0, 0, 0, NULL, "staff_group", "share with relevance >= 4"},
    {"feedback.purpose_explained_positive", CRR_FAM_FEEDBACK, CRR_STAT_P, D0, M_FB_PURPOSE_POS,
     M_FB_N, 0, 0, 0, NULL, "", "share with purpose_explained >= 4"},
    {"feedback.community_interface_mean", CRR_FAM_FEEDBACK, CRR_STAT_M, D0, M_FB_CI_N, M_FB_CI,
     M_FB_CI2, 0, 0, NULL, "", "mean of community_interface where > 0"},
    {"trainer.quality_mean", CRR_FAM_TRAINER, CRR_STAT_M, D1(s_dim_trainer), M_TR_N, M_TR_TQ,
     M_TR_TQ2, 0, 0, NULL, "trainer_id", "mean of trainer_quality"},
    {"trainer.flagged", CRR_FAM_TRAINER, CRR_STAT_V, D1(s_dim_trainer), M_TR_N, M_TR_TQ, M_TR_TQ2,
     S_F_LONDON_ONLY | S_F_NO_TOTAL, 0, s_fn_flagged, "trainer_id",
     "1 where London-wide n >= 20 and the upper bound of quality_mean < 3.0, else 0"},
    {"learning.assessments", CRR_FAM_LEARNING, CRR_STAT_C, D0, M_LA_N, 0, 0, 0, 0, NULL, "",
     "count of learning_assessment"},
    {"learning.mean_gain", CRR_FAM_LEARNING, CRR_STAT_M, D0, M_LA_GAIN_N, M_LA_GAIN, M_LA_GAIN2, 0,
     0, NULL, "", "mean of (post - pre) / (max - pre) over pre < max"},
    {"learning.ceiling_excluded", CRR_FAM_LEARNING, CRR_STAT_C, D0, M_LA_CEILING, 0, 0, 0, 0, NULL,
     "", "count of assessments with pre = max"},
    {"learning.class_gain", CRR_FAM_LEARNING, CRR_STAT_V, D0, 0, 0, 0, 0, 0, s_fn_class_gain, "",
     "(sum post - sum pre) / (sum max - sum pre); n = assessments"},
    {"behaviour.compliance", CRR_FAM_BEHAVIOUR, CRR_STAT_P, D1(s_dim_trained), M_BO_MET,
     M_BO_OBSERVED, 0, 0, 0, NULL, "trained", "sum items_met / sum items_observed"},
    {"cost.total_pence", CRR_FAM_COST, CRR_STAT_V, D1(s_dim_cost), 0, 0, 0, 0, 0, s_fn_cost_total,
     "category", "sum amount_pence; n = cost records"},
    {"cost.per_attendee_pence", CRR_FAM_COST, CRR_STAT_V, D0, 0, 0, 0, 0, 0, s_fn_cost_per_attendee,
     "", "sum amount_pence / sum attended; n = sum attended", CRR_FAM_ATTENDANCE},
    {"stop_search.count", CRR_FAM_STOPSEARCH, CRR_STAT_C, D1(s_dim_eth), M_SS_COUNT_SUM, 0, 0, 0, 0,
     NULL, "ethnicity", "sum of count"},
    {"stop_search.rate_per_1000", CRR_FAM_STOPSEARCH, CRR_STAT_R, D1(s_dim_eth), 0, 0, 0, 0,
     EXCL(ETH(NOT_STATED)), s_fn_search_rate, "ethnicity",
     "searches / resident population x 1,000 x 365/D"},
    {"stop_search.disparity_ratio", CRR_FAM_STOPSEARCH, CRR_STAT_RR, D1(s_dim_eth), 0, 0, 0,
     S_F_NO_TOTAL, EXCL(ETH(WHITE)) | EXCL(ETH(NOT_STATED)), s_fn_disparity, "ethnicity",
     "rate(group) / rate(WHITE)"},
    {"stop_search.ethnicity_recorded", CRR_FAM_STOPSEARCH, CRR_STAT_P, D0, M_SS_RECORDED,
     M_SS_COUNT_SUM, 0, 0, 0, NULL, "", "share of searches with ethnicity != NOT_STATED"},
    {"stop_search.arrest_rate", CRR_FAM_STOPSEARCH, CRR_STAT_P, D1(s_dim_eth), M_SS_ARREST,
     M_SS_COUNT_SUM, 0, 0, 0, NULL, "ethnicity", "share with outcome ARREST"},
    {"stop_search.find_rate", CRR_FAM_STOPSEARCH, CRR_STAT_P, D1(s_dim_eth), M_SS_FOUND,
     M_SS_COUNT_SUM, 0, 0, 0, NULL, "ethnicity", "share with object_found"},
    {"stop_search.grounds_satisfactory", CRR_FAM_STOPSEARCH, CRR_STAT_P, D0, M_SS_SATISFACTORY,
     M_SS_REVIEWED, 0, 0, 0, NULL, "", "satisfactory / reviewed"},
    {"complaints.allegations", CRR_FAM_COMPLAINT, CRR_STAT_C, D1(s_dim_complaint), M_CP_ALLEGATIONS,
     0, 0, 0, 0, NULL, "category", "sum of allegations"},
    {"complaints.discrimination_share", CRR_FAM_COMPLAINT, CRR_STAT_P, D0, M_CP_DISCRIM,
     M_CP_ALLEGATIONS, 0, 0, 0, NULL, "", "DISCRIMINATORY_BEHAVIOUR allegations / all allegations"},
    {"complaints.per_1000_searches", CRR_FAM_COMPLAINT, CRR_STAT_R, D0, 0, 0, 0, 0, 0,
     s_fn_complaints_per_search, "",
     "allegations linked to stop and search / searches x 1,000; n = searches", CRR_FAM_STOPSEARCH},
    {"racist_incidents.count", CRR_FAM_RACIST, CRR_STAT_C, D1(s_dim_crime), M_RI_COUNT_SUM, 0, 0, 0,
     0, NULL, "recorded_as_crime", "sum of count"},
    {"racist_incidents.per_1000_residents", CRR_FAM_RACIST, CRR_STAT_R, D0, 0, 0, 0, 0, 0,
     s_fn_incident_rate, "", "count / total population x 1,000 x 365/D"},
    {"survey.good_job", CRR_FAM_SURVEY, CRR_STAT_W, D2(s_dim_eth, s_dim_gender), SV(0), 0, 0, 0, 0,
     NULL, "ethnicity,gender", "weighted share with good_job >= 4 of those who answered"},
    {"survey.treats_everyone_fairly", CRR_FAM_SURVEY, CRR_STAT_W, D2(s_dim_eth, s_dim_gender),
     SV(1), 0, 0, 0, 0, NULL, "ethnicity,gender",
     "weighted share with treats_everyone_fairly >= 4 of those who answered"},
    {"survey.confident_as_victim", CRR_FAM_SURVEY, CRR_STAT_W, D2(s_dim_eth, s_dim_gender), SV(2),
     0, 0, 0, 0, NULL, "ethnicity,gender",
     "weighted share with confident_as_victim >= 4 of those who answered"},
    {"survey.fair_as_suspect", CRR_FAM_SURVEY, CRR_STAT_W, D2(s_dim_eth, s_dim_gender), SV(3), 0, 0,
     0, 0, NULL, "ethnicity,gender",
     "weighted share with fair_as_suspect >= 4 of those who answered"},
    {"survey.victim_suspect_gap", CRR_FAM_SURVEY, CRR_STAT_V, D1(s_dim_eth), 0, 0, 0, 0, 0,
     s_fn_victim_suspect_gap, "ethnicity",
     "confident_as_victim - fair_as_suspect in percentage points; n = the smaller n"},
    {"survey.would_report", CRR_FAM_SURVEY, CRR_STAT_W, D1(s_dim_eth), SV(4), 0, 0, 0, 0, NULL,
     "ethnicity", "weighted share YES of those who answered"},
    {"engagement.sessions", CRR_FAM_ENGAGEMENT, CRR_STAT_C, D1(s_dim_format), M_EN_N, 0, 0, 0, 0,
     NULL, "format", "count of community_engagement"},
    {"engagement.community_venue_share", CRR_FAM_ENGAGEMENT, CRR_STAT_P, D0, M_EN_COMMUNITY_VENUE,
     M_EN_N, 0, 0, 0, NULL, "", "share held at COMMUNITY_VENUE"},
    {"engagement.briefed_share", CRR_FAM_ENGAGEMENT, CRR_STAT_P, D0, M_EN_BRIEFED, M_EN_N, 0, 0, 0,
     NULL, "", "share both pre_briefed and debriefed"},
    {"pipeline.events", CRR_FAM_PIPELINE, CRR_STAT_C, D1(s_dim_type), M_PL_N, 0, 0, 0, 0, NULL,
     "type", "events applied, by type, counted by arrival time"},
    {"pipeline.last_event_age_seconds", CRR_FAM_PIPELINE, CRR_STAT_V, D0, 0, 0, 0, 0, 0,
     s_fn_last_event_age, "",
     "seconds since the borough's last applied event; LONDON: the smallest"},
};
#define S_NIND (sizeof s_catalogue / sizeof s_catalogue[0])

static crr_indicator_info_t s_info[S_NIND];
static pthread_once_t s_info_once = PTHREAD_ONCE_INIT;

/* Fills s_info from the one table (once: any thread may ask first). */
static void s_info_fill(void)
{
    for (size_t i = 0; i < S_NIND; i++) {
        unsigned t = crr_fam_type(s_catalogue[i].fam);
        s_info[i] = (crr_indicator_info_t){
            .name = s_catalogue[i].name,
            .event_type = t ? crr_event_type_text(t) : "any",
            .event_type2 =
                s_catalogue[i].fam2 ? crr_event_type_text(crr_fam_type(s_catalogue[i].fam2)) : NULL,
            .dims = s_catalogue[i].dims_text,
            .stat = s_catalogue[i].stat,
            .description = s_catalogue[i].desc,
        };
    }
}

const crr_indicator_info_t *crr_indicators_catalogue(size_t *n)
{
    pthread_once(&s_info_once, s_info_fill); /* the feed worker and HTTP threads call it too */
    *n = S_NIND;
    return s_info;
}

const char *crr_stat_name(crr_stat_t st)
{
    static const char *const names[] = {"C", "P", "W", "M", "R", "RR", "V"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

/* ---- cell maps ------------------------------------------------------------ */

typedef struct s_cells {
    unsigned nm;    /* metrics per cell */
    size_t n, cap;  /* cells used / allocated */
    uint64_t *cell; /* cell bytes as big-endian u64 */
    double *m;      /* n * nm sums */
    uint32_t *idx;  /* hash index (cell -> position + 1), hcap entries */
    size_t hcap;    /* power of two */
} s_cells_t;

static uint64_t s_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    return x;
}

static double *s_cells_get(s_cells_t *c, uint64_t cell)
{
    if (c->hcap) {
        size_t j = s_mix(cell) & (c->hcap - 1);
        while (c->idx[j]) {
            if (c->cell[c->idx[j] - 1] == cell)
                return c->m + (size_t)(c->idx[j] - 1) * c->nm;
            j = (j + 1) & (c->hcap - 1);
        }
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        uint64_t *nc = realloc(c->cell, ncap * sizeof *nc);
        if (!nc)
            return NULL;
        c->cell = nc;
        double *nmv = realloc(c->m, ncap * c->nm * sizeof *nmv);
        if (!nmv)
            return NULL;
        c->m = nmv;
        c->cap = ncap;
    }
    if ((c->n + 1) * 2 > c->hcap) {
        size_t nh = c->hcap ? c->hcap * 2 : 32;
        uint32_t *ni = calloc(nh, sizeof *ni);
        if (!ni)
            return NULL;
        for (size_t i = 0; i < c->n; i++) {
            size_t j = s_mix(c->cell[i]) & (nh - 1);
            while (ni[j])
                j = (j + 1) & (nh - 1);
            ni[j] = (uint32_t)(i + 1);
        }
        free(c->idx);
        c->idx = ni;
        c->hcap = nh;
    }
    size_t j = s_mix(cell) & (c->hcap - 1);
    while (c->idx[j])
        j = (j + 1) & (c->hcap - 1);
    c->idx[j] = (uint32_t)(c->n + 1);
    c->cell[c->n] = cell;
    double *m = c->m + c->n * c->nm;
    memset(m, 0, c->nm * sizeof *m);
    c->n++;
    return m;
}

static void s_cells_free(s_cells_t *c)
{
    free(c->cell);
    free(c->m);
    free(c->idx);
    memset(c, 0, sizeof *c);
}

/* ---- evaluation context ---------------------------------------------------- */

typedef struct s_data {
    size_t nw;                           /* windows */
    unsigned win[CRR_STORE_MAX_WINDOWS]; /* window lengths */
    s_cells_t *cells;                    /* [scope][window][family] */
    double in_scope[S_SCOPES];           /* latest in_scope summed over groups (boroughs) */
    int64_t last_arrival[S_SCOPES];      /* 0 = none; LONDON = the latest */
    int64_t fs_sec[CRR_BOROUGHS][CRR_TYPE_COUNT + 1];        /* first seen per borough and type */
    int32_t fs_ns[CRR_BOROUGHS][CRR_TYPE_COUNT + 1];         /* ... its nanos */
    uint8_t fs_have[CRR_BOROUGHS][CRR_TYPE_COUNT + 1];       /* ... 0 = never seen */
    uint64_t lon_mask[CRR_STORE_MAX_WINDOWS][CRR_FAM_COUNT]; /* boroughs LONDON's cells hold */
    uint8_t lon_built[CRR_STORE_MAX_WINDOWS][CRR_FAM_COUNT]; /* lon_mask is valid */
} s_data_t;

struct s_ctx {
    const s_data_t *d;        /* everything computed */
    crr_store_read_t *rd;     /* the read of the store (names) */
    unsigned scope;           /* borough index or S_LONDON */
    size_t w;                 /* window index */
    unsigned window;          /* window length in days */
    int64_t as_of_sec;        /* T */
    const crr_refdata_t *ref; /* population, may be NULL */
    const s_ind_t *ind;       /* the row's indicator */
    int dim_value;            /* first dimension's value for this row, -1 for total */
    uint64_t mask;            /* LONDON: the covering boroughs (bit b) its cells hold */
    unsigned reporting;       /* boroughs_reporting of every row of this context */
    int totals_only;          /* crr_query_t.totals_only: no dimension rows */
};

static s_cells_t *s_cells_at(const s_data_t *d, unsigned scope, size_t w, unsigned fam)
{
    return &d->cells[(scope * d->nw + w) * CRR_FAM_COUNT + fam];
}

static uint8_t s_cell_byte(uint64_t cell, unsigned off)
{
    return (uint8_t)(cell >> (56 - 8 * off));
}

/* Sums metric k of family fam over the cells of the context's scope and
 * window, optionally only where byte off equals val (off < 0: all cells). */
static double s_sum(const s_ctx_t *c, unsigned fam, unsigned k, int off, int val)
{
    const s_cells_t *cl = s_cells_at(c->d, c->scope, c->w, fam);
    double t = 0;
    for (size_t i = 0; i < cl->n; i++)
        if (off < 0 || s_cell_byte(cl->cell[i], (unsigned)off) == val)
            t += cl->m[i * cl->nm + k];
    return t;
}

/* Population of the context's scope for ethnicity eth (0 = all), or -1 when missing. */
static double s_population(const s_ctx_t *c, int eth)
{
    if (!c->ref)
        return -1;
    double t = 0;
    for (unsigned b = 0; b < CRR_BOROUGHS; b++) {
        if (c->scope != S_LONDON ? b != c->scope : !(c->mask >> b & 1))
            continue;
        if (!c->ref->have_population[b])
            return -1;
        if (eth > 0) {
            if (eth >= CRR_REF_ETHNICITIES)
                return -1;
            t += c->ref->population[b][eth];
        } else {
            for (int e = 1; e < CRR_REF_ETHNICITIES; e++)
                t += c->ref->population[b][e];
        }
    }
    return t > 0 ? t : -1;
}

static void s_set_count(s_out_t *o, double count)
{
    o->has_value = 1;
    o->value = count;
    o->n = count;
    o->has_ci = 1;
    crr_stats_byar(count, &o->lo, &o->hi);
    o->reliable = count >= 10;
}

/* Rate: count / base * scale with Byar on the count scaled the same way. */
static void s_set_rate(s_out_t *o, double count, double base, double scale)
{
    o->n = count;
    o->reliable = count >= 10;
    if (!(base > 0))
        return;
    double f = scale / base;
    o->has_value = 1;
    o->value = count * f;
    crr_stats_byar(count, &o->lo, &o->hi);
    o->lo *= f;
    o->hi *= f;
    o->has_ci = 1;
}

static void s_set_plain(s_out_t *o, double v, double n)
{
    o->has_value = 1;
    o->value = v;
    o->n = n;
    o->reliable = 1;
}

/* ---- custom rows ------------------------------------------------------------ */

static void s_fn_coverage(const s_ctx_t *c, const double *m, s_out_t *o)
{
    (void)m;
    double att = s_sum(c, CRR_FAM_ATTENDANCE, M_AT_ATTENDED, 1, 1); /* mandatory sessions */
    double scope = 0;
    if (c->scope != S_LONDON)
        scope = c->d->in_scope[c->scope];
    else
        for (unsigned b = 0; b < CRR_BOROUGHS; b++)
            if (c->mask >> b & 1)
                scope += c->d->in_scope[b];
    o->n = scope;
    if (scope > 0)
        s_set_plain(o, att / scope, scope);
}

static void s_fn_response_rate(const s_ctx_t *c, const double *m, s_out_t *o)
{
    double att = s_sum(c, CRR_FAM_ATTENDANCE, M_AT_ATTENDED, -1, 0);
    o->n = att;
    if (att > 0)
        s_set_plain(o, m[M_FB_N] / att, att);
}

static void s_fn_flagged(const s_ctx_t *c, const double *m, s_out_t *o)
{
    (void)c;
    double mean, lo, hi;
    int st = crr_stats_mean(m[M_TR_N], m[M_TR_TQ], m[M_TR_TQ2], &mean, &lo, &hi);
    int flagged = m[M_TR_N] >= 20 && st == CRR_STATS_OK && hi < 3.0;
    s_set_plain(o, flagged ? 1 : 0, m[M_TR_N]);
}

static void s_fn_class_gain(const s_ctx_t *c, const double *m, s_out_t *o)
{
    (void)c;
    double den = m[M_LA_MAX] - m[M_LA_PRE];
    o->n = m[M_LA_N];
    if (den > 0)
        s_set_plain(o, (m[M_LA_POST] - m[M_LA_PRE]) / den, m[M_LA_N]);
}

static void s_fn_cost_total(const s_ctx_t *c, const double *m, s_out_t *o)
{
    (void)c;
    s_set_plain(o, m[M_CO_AMOUNT], m[M_CO_N]);
}

static void s_fn_cost_per_attendee(const s_ctx_t *c, const double *m, s_out_t *o)
{
    double att = s_sum(c, CRR_FAM_ATTENDANCE, M_AT_ATTENDED, -1, 0);
    o->n = att;
    if (att > 0)
        s_set_plain(o, m[M_CO_AMOUNT] / att, att);
}

static void s_fn_search_rate(const s_ctx_t *c, const double *m, s_out_t *o)
{
    double pop = s_population(c, c->dim_value > 0 ? c->dim_value : 0);
    s_set_rate(o, m[M_SS_COUNT_SUM], pop, 1000.0 * 365.0 / c->window);
}

static void s_fn_disparity(const s_ctx_t *c, const double *m, s_out_t *o)
{
    double a = m[M_SS_COUNT_SUM];
    double b = s_sum(c, CRR_FAM_STOPSEARCH, M_SS_COUNT_SUM, 0, ETH(WHITE));
    double pa = s_population(c, c->dim_value), pb = s_population(c, ETH(WHITE));
    o->n = a < b ? a : b;
    o->reliable = a >= 10 && b >= 10;
    double rr, lo, hi;
    if (crr_stats_rate_ratio(a, pa, b, pb, &rr, &lo, &hi) == CRR_STATS_OK) {
        o->has_value = o->has_ci = 1;
        o->value = rr;
        o->lo = lo;
        o->hi = hi;
    }
}

static void s_fn_complaints_per_search(const s_ctx_t *c, const double *m, s_out_t *o)
{
    double searches = s_sum(c, CRR_FAM_STOPSEARCH, M_SS_COUNT_SUM, -1, 0);
    s_set_rate(o, m[M_CP_LINKED], searches, 1000.0);
    o->n = searches;
    o->reliable = m[M_CP_LINKED] >= 10;
}

static void s_fn_incident_rate(const s_ctx_t *c, const double *m, s_out_t *o)
{
    s_set_rate(o, m[M_RI_COUNT_SUM], s_population(c, 0), 1000.0 * 365.0 / c->window);
}

static void s_fn_victim_suspect_gap(const s_ctx_t *c, const double *m, s_out_t *o)
{
    (void)c;
    const double *v = m + SV(2), *s = m + SV(3);
    double pv, ps, nv, ns;
    if (crr_stats_weighted(v[M_SV_WPOS], v[M_SV_W], v[M_SV_W2], &pv, &nv, NULL, NULL) != 0 ||
        crr_stats_weighted(s[M_SV_WPOS], s[M_SV_W], s[M_SV_W2], &ps, &ns, NULL, NULL) != 0) {
        o->n = v[M_SV_ANS] < s[M_SV_ANS] ? v[M_SV_ANS] : s[M_SV_ANS];
        return;
    }
    s_set_plain(o, (pv - ps) * 100.0, v[M_SV_ANS] < s[M_SV_ANS] ? v[M_SV_ANS] : s[M_SV_ANS]);
    o->reliable = nv >= 50 - 1e-9 && ns >= 50 - 1e-9;
}

static void s_fn_last_event_age(const s_ctx_t *c, const double *m, s_out_t *o)
{
    (void)m;
    int64_t last = c->d->last_arrival[c->scope];
    if (last > 0) {
        double age = (double)(c->as_of_sec - last);
        s_set_plain(o, age > 0 ? age : 0, 0);
    }
}

/* ---- row building ------------------------------------------------------------ */

typedef struct s_rows {
    Crrmon__V1__IndicatorValue **v; /* rows */
    size_t n, cap;                  /* used / allocated */
} s_rows_t;

static char *s_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

static Google__Protobuf__DoubleValue *s_dv(double x)
{
    Google__Protobuf__DoubleValue *d = malloc(sizeof *d);
    if (d) {
        google__protobuf__double_value__init(d);
        d->value = x;
    }
    return d;
}

/* Short value text of dimension dm for value v (cell bits) into buf. */
static const char *s_dim_text(const s_ctx_t *c, const s_dim_t *dm, uint64_t v, char *buf,
                              size_t len)
{
    switch (dm->kind) {
    case S_DK_BOOL: return v ? "true" : "false";
    case S_DK_TYPE: {
        const char *t = crr_event_type_text((unsigned)v);
        return t ? t : "unknown";
    }
    case S_DK_HASH: {
        size_t n;
        const char *p = crr_store_read_name(c->rd, v, &n);
        if (!p) {
            snprintf(buf, len, "#%016llx", (unsigned long long)v);
            return buf;
        }
        if (n >= len)
            n = len - 1;
        memcpy(buf, p, n);
        buf[n] = 0;
        return buf;
    }
    default: {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(dm->edesc, (int)v);
        if (!ev) {
            snprintf(buf, len, "%llu", (unsigned long long)v);
            return buf;
        }
        size_t pl = strlen(dm->prefix);
        return strncmp(ev->name, dm->prefix, pl) == 0 ? ev->name + pl : ev->name;
    }
    }
}

static uint64_t s_dim_value(const s_dim_t *dm, uint64_t cell)
{
    return dm->kind == S_DK_HASH ? cell : s_cell_byte(cell, dm->off);
}

static int s_emit(const s_ctx_t *c, s_rows_t *rows, const s_out_t *o, const s_dim_t *const *dm,
                  const uint64_t *dv, size_t ndims)
{
    if (rows->n == rows->cap) {
        size_t ncap = rows->cap ? rows->cap * 2 : 1024;
        Crrmon__V1__IndicatorValue **nv = realloc(rows->v, ncap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        rows->v = nv;
        rows->cap = ncap;
    }
    Crrmon__V1__IndicatorValue *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    crrmon__v1__indicator_value__init(r);
    rows->v[rows->n++] = r; /* owned by rows from here: freed with them on failure */
    r->indicator = s_strdup(c->ind->name);
    r->borough = s_strdup(c->scope == S_LONDON ? "LONDON" : crr_borough_code((int)c->scope));
    if (!r->indicator || !r->borough)
        return -ENOMEM;
    r->window_days = c->window;
    if (ndims) {
        r->dims = calloc(ndims, sizeof *r->dims);
        if (!r->dims)
            return -ENOMEM;
        for (size_t i = 0; i < ndims; i++) {
            Crrmon__V1__IndicatorValue__DimsEntry *e = malloc(sizeof *e);
            if (!e)
                return -ENOMEM;
            crrmon__v1__indicator_value__dims_entry__init(e);
            r->dims[r->n_dims++] = e;
            char buf[256];
            e->key = s_strdup(dm[i]->name);
            e->value = s_strdup(s_dim_text(c, dm[i], dv[i], buf, sizeof buf));
            if (!e->key || !e->value)
                return -ENOMEM;
        }
    }
    r->n = o->n > 0 ? (uint64_t)llround(o->n) : 0;
    r->boroughs_reporting = c->reporting;
    r->reliable = o->has_value && o->reliable && c->reporting > 0; /* no coverage: never */
    if (o->has_value && isfinite(o->value) && !(r->value = s_dv(o->value)))
        return -ENOMEM;
    if (r->value && o->has_ci && isfinite(o->lo) && isfinite(o->hi) &&
        (!(r->ci_low = s_dv(o->lo)) || !(r->ci_high = s_dv(o->hi))))
        return -ENOMEM;
    if (o->has_neff && isfinite(o->neff) && !(r->n_eff = s_dv(o->neff)))
        return -ENOMEM;
    return 0;
}

/* Applies the indicator's statistic to the summed metrics m. */
static void s_eval(const s_ctx_t *c, const double *m, s_out_t *o)
{
    const s_ind_t *ind = c->ind;
    memset(o, 0, sizeof *o);
    if (ind->fn) {
        ind->fn(c, m, o);
        return;
    }
    switch (ind->stat) {
    case CRR_STAT_C: s_set_count(o, m[ind->a]); break;
    case CRR_STAT_P:
        o->n = m[ind->b];
        o->reliable = o->n >= 50;
        if (crr_stats_wilson(m[ind->a], m[ind->b], &o->value, &o->lo, &o->hi) == CRR_STATS_OK)
            o->has_value = o->has_ci = 1;
        break;
    case CRR_STAT_M: {
        o->n = m[ind->a];
        o->reliable = o->n >= 30;
        int st = crr_stats_mean(m[ind->a], m[ind->b], m[ind->c], &o->value, &o->lo, &o->hi);
        o->has_value = st != CRR_STATS_ABSENT;
        o->has_ci = st == CRR_STATS_OK;
        break;
    }
    case CRR_STAT_W: {
        const double *it = m + ind->a;
        o->n = it[M_SV_ANS];
        if (crr_stats_weighted(it[M_SV_WPOS], it[M_SV_W], it[M_SV_W2], &o->value, &o->neff, &o->lo,
                               &o->hi) == CRR_STATS_OK) {
            o->has_value = o->has_ci = o->has_neff = 1;
            o->reliable = o->neff >= 50 - 1e-9;
        }
        break;
    }
    default: /* R, RR and V rows all have a function */ break;
    }
}

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Distinct values of dimension dm among cells with at least one event. */
static int s_distinct(const s_cells_t *cl, const s_dim_t *dm, uint32_t exclude, uint64_t **out,
                      size_t *n)
{
    *n = 0;
    *out = NULL;
    if (!cl->n)
        return 0;
    uint64_t *v = malloc(cl->n * sizeof *v);
    if (!v)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < cl->n; i++) {
        if (!(cl->m[i * cl->nm] > 0))
            continue;
        uint64_t x = s_dim_value(dm, cl->cell[i]);
        if (dm->kind != S_DK_HASH && x < 32 && (exclude >> x & 1))
            continue;
        v[k++] = x;
    }
    qsort(v, k, sizeof *v, s_cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (u == 0 || v[u - 1] != v[i])
            v[u++] = v[i];
    *out = v;
    *n = u;
    return 0;
}

/* Sums the cells whose dimension values match (ndims 0 = all). */
static void s_row_sum(const s_cells_t *cl, const s_dim_t *const *dm, const uint64_t *dv,
                      size_t ndims, double *m)
{
    memset(m, 0, CRR_AGG_MAXM * sizeof *m);
    for (size_t i = 0; i < cl->n; i++) {
        size_t d = 0;
        for (; d < ndims; d++)
            if (s_dim_value(dm[d], cl->cell[i]) != dv[d])
                break;
        if (d < ndims)
            continue;
        for (unsigned k = 0; k < cl->nm; k++)
            m[k] += cl->m[i * cl->nm + k];
    }
}

static int s_rows_for(s_ctx_t *c, s_rows_t *rows)
{
    const s_ind_t *ind = c->ind;
    const s_cells_t *cl = s_cells_at(c->d, c->scope, c->w, ind->fam);
    double m[CRR_AGG_MAXM];
    s_out_t o;
    int rc = 0;
    if (!(ind->flags & S_F_NO_TOTAL)) {
        c->dim_value = -1;
        s_row_sum(cl, NULL, NULL, 0, m);
        s_eval(c, m, &o);
        if ((rc = s_emit(c, rows, &o, NULL, NULL, 0)) != 0)
            return rc;
    }
    uint64_t *vals[2] = {NULL, NULL};
    size_t nv[2] = {0, 0};
    size_t nd = c->totals_only ? 0 : ind->dims[1] ? 2 : ind->dims[0] ? 1 : 0;
    for (size_t d = 0; d < nd && !rc; d++)
        rc = s_distinct(cl, ind->dims[d], d == 0 ? ind->exclude : 0, &vals[d], &nv[d]);
    for (size_t d = 0; d < nd && !rc; d++) {
        for (size_t i = 0; i < nv[d] && !rc; i++) {
            const s_dim_t *dm[1] = {ind->dims[d]};
            uint64_t dv[1] = {vals[d][i]};
            c->dim_value = d == 0 && dm[0]->kind != S_DK_HASH ? (int)dv[0] : -1;
            s_row_sum(cl, dm, dv, 1, m);
            s_eval(c, m, &o);
            rc = s_emit(c, rows, &o, dm, dv, 1);
        }
    }
    if (nd == 2) {
        for (size_t i = 0; i < nv[0] && !rc; i++) {
            for (size_t k = 0; k < nv[1] && !rc; k++) {
                const s_dim_t *dm[2] = {ind->dims[0], ind->dims[1]};
                uint64_t dv[2] = {vals[0][i], vals[1][k]};
                s_row_sum(cl, dm, dv, 2, m);
                if (!(m[0] > 0))
                    continue; /* only cells with at least one event */
                c->dim_value = (int)dv[0];
                s_eval(c, m, &o);
                rc = s_emit(c, rows, &o, dm, dv, 2);
            }
        }
    }
    free(vals[0]);
    free(vals[1]);
    return rc;
}

/* ---- scanning ------------------------------------------------------------------ */

/* Where one family's buckets of one borough go (s_add_bucket). */
typedef struct s_scan {
    s_data_t *d;    /* the data */
    unsigned b;     /* borough */
    unsigned fam;   /* family */
    int64_t as_day; /* the last day of every window */
} s_scan_t;

/* crr_store_bucket_fn: adds a bucket to every window that holds its day. */
static int s_add_bucket(void *ud, int64_t day, uint64_t cell, const double *m, unsigned nm)
{
    s_scan_t *x = ud;
    for (size_t w = 0; w < x->d->nw; w++) {
        if (day < x->as_day - (int64_t)x->d->win[w] + 1)
            continue;
        double *acc = s_cells_get(s_cells_at(x->d, x->b, w, x->fam), cell);
        if (!acc)
            return -ENOMEM;
        for (unsigned i = 0; i < nm; i++)
            acc[i] += m[i];
    }
    return 0;
}

/* Reads borough b's first-seen instants and last arrival into d. */
static int s_scan_times(crr_store_read_t *rd, s_data_t *d, unsigned b)
{
    int rc;
    for (unsigned t = 1; t <= CRR_TYPE_COUNT; t++) {
        rc = crr_store_read_first_seen(rd, b, t, &d->fs_sec[b][t], &d->fs_ns[b][t]);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
        d->fs_have[b][t] = rc == 0;
    }
    int64_t t = 0;
    rc = crr_store_read_last_arrival(rd, b, &t);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    d->last_arrival[b] = t;
    if (t > d->last_arrival[S_LONDON])
        d->last_arrival[S_LONDON] = t;
    return 0;
}

/* Scans borough b's buckets of every family into its scope (LONDON's cells
 * are summed from the boroughs' later, per indicator: s_london_cells), and
 * reads its headcount gauge, last arrival and first-seen instants. */
static int s_scan_borough(crr_store_read_t *rd, s_data_t *d, unsigned b, int64_t as_day,
                          unsigned longest)
{
    int rc = 0;
    int64_t lo_day = as_day - (int64_t)longest + 1;
    for (unsigned f = 1; f < CRR_FAM_COUNT; f++) {
        if (f == CRR_FAM_HEADCOUNT)
            continue; /* the gauge answers headcount questions */
        s_scan_t x = {.d = d, .b = b, .fam = f, .as_day = as_day};
        if ((rc = crr_store_read_buckets(rd, b, f, lo_day, as_day, s_add_bucket, &x)) != 0)
            return rc;
    }
    /* gauge and last arrival: the same for every window */
    int64_t end_excl = (as_day + 1) * CRR_SEC_PER_DAY;
    if ((rc = crr_store_read_in_scope(rd, b, end_excl, &d->in_scope[b])) != 0)
        return rc;
    return s_scan_times(rd, d, b);
}

/* ---- coverage ------------------------------------------------------------------ */

/* Borough b has seen type t at or before the instant start (00:00:00 UTC). */
static int s_seen_by(const s_data_t *d, unsigned b, unsigned t, int64_t start)
{
    if (!d->fs_have[b][t])
        return 0;
    return d->fs_sec[b][t] < start || (d->fs_sec[b][t] == start && d->fs_ns[b][t] == 0);
}

/* Borough b had at least one event applied (by arrival day) in window w. */
static int s_arrived(const s_data_t *d, unsigned b, size_t w)
{
    const s_cells_t *cl = s_cells_at(d, b, w, CRR_FAM_PIPELINE);
    for (size_t i = 0; i < cl->n; i++)
        if (cl->m[i * cl->nm] > 0)
            return 1;
    return 0;
}

/* The boroughs (bit b) that report for ind over window w (domain "Coverage"):
 * first seen, for the indicator's type and its second type, at or before
 * the window's first instant; pipeline.*: an event arrived in the window. */
static uint64_t s_covering(const s_data_t *d, const s_ind_t *ind, size_t w, int64_t as_day)
{
    int64_t start = (as_day - (int64_t)d->win[w] + 1) * CRR_SEC_PER_DAY;
    unsigned t1 = crr_fam_type(ind->fam), t2 = ind->fam2 ? crr_fam_type(ind->fam2) : 0;
    uint64_t mask = 0;
    for (unsigned b = 0; b < CRR_BOROUGHS; b++) {
        int ok = t1 ? s_seen_by(d, b, t1, start) && (!t2 || s_seen_by(d, b, t2, start))
                    : s_arrived(d, b, w);
        if (ok)
            mask |= 1ULL << b;
    }
    return mask;
}

/* Makes LONDON's cells of family f in window w the sum of the boroughs in mask. */
static int s_london_fam(s_data_t *d, size_t w, unsigned f, uint64_t mask)
{
    if (d->lon_built[w][f] && d->lon_mask[w][f] == mask)
        return 0;
    s_cells_t *lon = s_cells_at(d, S_LONDON, w, f);
    unsigned nm = lon->nm;
    s_cells_free(lon);
    lon->nm = nm;
    d->lon_built[w][f] = 0;
    for (unsigned b = 0; b < CRR_BOROUGHS; b++) {
        if (!(mask >> b & 1))
            continue;
        const s_cells_t *cl = s_cells_at(d, b, w, f);
        for (size_t i = 0; i < cl->n; i++) {
            double *acc = s_cells_get(lon, cl->cell[i]);
            if (!acc)
                return -ENOMEM;
            for (unsigned k = 0; k < nm; k++)
                acc[k] += cl->m[i * nm + k];
        }
    }
    d->lon_mask[w][f] = mask;
    d->lon_built[w][f] = 1;
    return 0;
}

/* Fills c->mask and c->reporting, and for LONDON its cells of every family
 * the indicator reads (pipeline.*: every borough, values as before). */
static int s_prepare(s_data_t *d, s_ctx_t *c, int64_t as_day)
{
    const s_ind_t *ind = c->ind;
    uint64_t cov = s_covering(d, ind, c->w, as_day);
    if (c->scope != S_LONDON) {
        c->reporting = (unsigned)(cov >> c->scope & 1);
        return 0;
    }
    c->reporting = (unsigned)__builtin_popcountll(cov);
    c->mask = ind->fam == CRR_FAM_PIPELINE ? (1ULL << CRR_BOROUGHS) - 1 : cov;
    int rc = s_london_fam(d, c->w, ind->fam, c->mask);
    if (rc == 0 && ind->fam2)
        rc = s_london_fam(d, c->w, ind->fam2, c->mask);
    return rc;
}

void crr_indicators_free(Crrmon__V1__IndicatorValue ***vals, size_t n)
{
    if (!vals || !*vals)
        return;
    for (size_t i = 0; i < n; i++)
        if ((*vals)[i])
            protobuf_c_message_free_unpacked(&(*vals)[i]->base, NULL);
    free(*vals);
    *vals = NULL;
}

int crr_indicators_compute(crr_store_t *s, const crr_query_t *q, Crrmon__V1__IndicatorValue ***out,
                           size_t *n)
{
    *out = NULL;
    *n = 0;
    s_data_t d = {0};
    const unsigned *win = q->windows;
    d.nw = q->nwindows;
    if (!win)
        win = crr_store_windows(s, &d.nw);
    if (d.nw == 0 || d.nw > CRR_STORE_MAX_WINDOWS)
        return CRR_EINVAL;
    unsigned longest = 0;
    for (size_t w = 0; w < d.nw; w++) {
        if (win[w] == 0)
            return CRR_EINVAL;
        d.win[w] = win[w];
        if (win[w] > longest)
            longest = win[w];
    }
    int only = -1; /* -1 all scopes; S_LONDON; or a borough */
    if (q->borough) {
        if (strcmp(q->borough, "LONDON") == 0)
            only = S_LONDON;
        else if ((only = crr_borough_index(q->borough)) < 0)
            return CRR_EINVAL;
    }
    const s_ind_t *one = NULL;
    if (q->indicator) {
        for (size_t i = 0; i < S_NIND && !one; i++)
            if (strcmp(s_catalogue[i].name, q->indicator) == 0)
                one = &s_catalogue[i];
        if (!one)
            return CRR_EINVAL;
    }
    int64_t as_of = q->as_of_sec ? q->as_of_sec : crr_clock_now_sec();
    int64_t as_day = crr_day_of(as_of);
    int want_london = only < 0 || only == S_LONDON;

    s_rows_t rows = {0};
    crr_store_read_t *rd = NULL;
    int rc;
    d.cells = calloc((size_t)S_SCOPES * d.nw * CRR_FAM_COUNT, sizeof *d.cells);
    if (!d.cells)
        return -ENOMEM;
    for (size_t i = 0; i < (size_t)S_SCOPES * d.nw * CRR_FAM_COUNT; i++)
        d.cells[i].nm = crr_fam_nmetrics((unsigned)(i % CRR_FAM_COUNT));
    if ((rc = crr_store_read_begin(s, &rd)) != 0)
        goto fail;
    for (unsigned b = 0; b < CRR_BOROUGHS; b++) {
        if (!want_london && only != (int)b)
            continue; /* LONDON needs every borough's cells */
        if ((rc = s_scan_borough(rd, &d, b, as_day, longest)) != 0)
            goto fail;
    }
    for (size_t i = 0; i < S_NIND; i++) {
        const s_ind_t *ind = &s_catalogue[i];
        if (one && ind != one)
            continue;
        for (unsigned sc = 0; sc < S_SCOPES; sc++) {
            if (only >= 0 && (int)sc != only)
                continue;
            if ((ind->flags & S_F_LONDON_ONLY) && sc != S_LONDON)
                continue;
            for (size_t w = 0; w < d.nw; w++) {
                s_ctx_t c = {.d = &d,
                             .rd = rd,
                             .scope = sc,
                             .w = w,
                             .window = d.win[w],
                             .as_of_sec = as_of,
                             .ref = (const crr_refdata_t *)q->ref,
                             .ind = ind,
                             .totals_only = q->totals_only};
                if ((rc = s_prepare(&d, &c, as_day)) != 0 || (rc = s_rows_for(&c, &rows)) != 0)
                    goto fail;
            }
        }
    }
    crr_store_read_end(&rd);
    for (size_t i = 0; i < (size_t)S_SCOPES * d.nw * CRR_FAM_COUNT; i++)
        s_cells_free(&d.cells[i]);
    free(d.cells);
    *out = rows.v;
    *n = rows.n;
    return 0;
fail:
    crr_store_read_end(&rd);
    for (size_t i = 0; i < (size_t)S_SCOPES * d.nw * CRR_FAM_COUNT; i++)
        s_cells_free(&d.cells[i]);
    free(d.cells);
    crr_indicators_free(&rows.v, rows.n);
    return rc;
}

/* ---- as-of dates ----------------------------------------------------------------- */

int crr_as_of_parse(const char *text, int64_t *sec, int *is_date)
{
    int32_t ns;
    *is_date = strlen(text) == 10;
    if (crr_time_parse(text, 1, sec, &ns) != 0)
        return CRR_EPARSE;
    if (*is_date)
        *sec += CRR_SEC_PER_DAY - 1; /* the end of that UTC day */
    return 0;
}

int64_t crr_as_of_earliest_day(const crr_store_t *s, int64_t now_sec)
{
    size_t nw;
    const unsigned *w = crr_store_windows(s, &nw);
    unsigned longest = 0;
    for (size_t i = 0; i < nw; i++)
        if (w[i] > longest)
            longest = w[i];
    return crr_day_of(now_sec) - crr_store_max_age_days(s) + longest;
}

int crr_as_of_check(const crr_store_t *s, int64_t as_of_sec, int is_date, int64_t now_sec,
                    char *msg, size_t len)
{
    int64_t day = crr_day_of(as_of_sec), first = crr_as_of_earliest_day(s, now_sec);
    char a[40], lo[40], hi[40];
    crr_time_format(as_of_sec, 0, a, sizeof a);
    crr_time_format(first * CRR_SEC_PER_DAY, 0, lo, sizeof lo);
    crr_time_format(now_sec, 0, hi, sizeof hi);
    lo[10] = '\0'; /* the date */
    if (is_date ? day > crr_day_of(now_sec) : as_of_sec > now_sec) {
        snprintf(msg, len, "as_of %s is later than now (%s): the latest date allowed is %.10s", a,
                 hi, hi);
        return CRR_EINVAL;
    }
    if (day < first) {
        size_t nw;
        const unsigned *w = crr_store_windows(s, &nw);
        unsigned longest = 0;
        for (size_t i = 0; i < nw; i++)
            longest = w[i] > longest ? w[i] : longest;
        snprintf(msg, len,
                 "as_of %s is earlier than the retained day buckets can serve for the longest "
                 "window (%u days; buckets are kept %lld days): the earliest date allowed is %s "
                 "(keep buckets longer with aggregator.bucket_max_age)",
                 a, longest, (long long)crr_store_max_age_days(s), lo);
        return CRR_EINVAL;
    }
    return 0;
}

/* ---- snapshots ------------------------------------------------------------------ */

static Google__Protobuf__Timestamp *s_ts(int64_t sec)
{
    Google__Protobuf__Timestamp *t = malloc(sizeof *t);
    if (t) {
        google__protobuf__timestamp__init(t);
        t->seconds = sec;
    }
    return t;
}

int crr_snapshot_take(crr_store_t *s, int64_t as_of_sec, const char *schedule,
                      const struct crr_refdata *ref, Crrmon__V1__Snapshot **out)
{
    if (out)
        *out = NULL;
    if (crr_store_is_readonly(s))
        return CRR_EINVAL;
    int64_t now = crr_clock_now_sec();
    if (!as_of_sec)
        as_of_sec = now;
    crr_query_t q = {.as_of_sec = as_of_sec, .ref = ref};
    Crrmon__V1__IndicatorValue **vals = NULL;
    size_t nvals = 0;
    int rc = crr_indicators_compute(s, &q, &vals, &nvals);
    if (rc)
        return rc;
    Crrmon__V1__Snapshot *snap = malloc(sizeof *snap);
    if (!snap) {
        crr_indicators_free(&vals, nvals);
        return -ENOMEM;
    }
    crrmon__v1__snapshot__init(snap);
    snap->values = vals;
    snap->n_values = nvals;
    snap->schedule = s_strdup(schedule ? schedule : "on-demand");
    snap->as_of = s_ts(as_of_sec);
    snap->taken_at = s_ts(now);
    if (!snap->schedule || !snap->as_of || !snap->taken_at)
        rc = -ENOMEM;
    else
        rc = crr_store_snapshot_put(s, snap, as_of_sec, now);
    if (rc == 0 && out)
        *out = snap;
    else
        crr_codec_free(&snap->base);
    return rc;
}
