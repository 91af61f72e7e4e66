/* accumulate: the domain rules that turn one applied event into sums, and
 * the one table of event types that the store, the indicator catalogue and
 * the tests read.
 *
 * Each event adds to a few "buckets": a family (one per event type and cell
 * layout, CRR_FAM_*), a cell (the dimension values of the family, one byte
 * each, or a 64-bit hash of a string) and a day (the UTC day of occurred_at,
 * or of arrival for CRR_FAM_PIPELINE). A bucket holds the family's vector of
 * sums (metric 0 is always the number of events). This module decides WHICH
 * buckets an event touches and WHAT it adds; where the sums live is the
 * caller's (the store keeps them in LMDB, store_int.h; the indicator engine
 * reads them back through store.h). The numbering of families, metrics and
 * type indices is part of the on-disk format: append, never renumber.
 *
 * Adding an event type: one entry in s_types (accumulate.c), one family and
 * its metrics below, one s_acc_* function. Adding a dimension: the family's
 * cell comment below and its s_acc_* function. */
#ifndef CRR_ACCUMULATE_H
#define CRR_ACCUMULATE_H

#include "crrmon/v1/event.pb-c.h"

#include <stddef.h>
#include <stdint.h>

#define CRR_AGG_CELL 8  /* bytes of a cell */
#define CRR_AGG_MAXM 24 /* most metrics of any family */

/* Event types: index 1..CRR_TYPE_COUNT, the position of the body field in
 * the Event oneof (taken from the protobuf descriptor), stored on disk. */
#define CRR_TYPE_COUNT 11

/* Families: one per (event type, cell layout). */
enum {
    CRR_FAM_FEEDBACK = 1, /* training_feedback; cell [0] staff_group */
    CRR_FAM_TRAINER,      /* training_feedback; cell = hash64(trainer_id) */
    CRR_FAM_LEARNING,     /* learning_assessment; no cell */
    CRR_FAM_BEHAVIOUR,    /* behaviour_observation; cell [0] trained, [1] observer */
    CRR_FAM_ATTENDANCE,   /* attendance; cell [0] staff_group, [1] mandatory */
    CRR_FAM_COST,         /* training_cost; cell [0] category */
    CRR_FAM_HEADCOUNT,    /* staff_headcount statements by day; cell [0] staff_group */
    CRR_FAM_STOPSEARCH,   /* stop_search; cell [0] ethnicity */
    CRR_FAM_COMPLAINT,    /* complaint; cell [0] category */
    CRR_FAM_RACIST,       /* racist_incident; cell [0] recorded_as_crime */
    CRR_FAM_SURVEY,       /* survey_response; cell [0] ethnicity, [1] gender */
    CRR_FAM_ENGAGEMENT,   /* community_engagement; cell [0] format */
    CRR_FAM_PIPELINE,     /* every applied event by ARRIVAL day; cell [0] type index 1..11 */
    CRR_FAM_COUNT
};

/* Metric indices per family (metric 0 is always the event count). */
enum {
    M_FB_N,
    M_FB_OVERALL,
    M_FB_OVERALL2,
    M_FB_RELEVANCE_POS,
    M_FB_PURPOSE_POS,
    M_FB_CI_N,
    M_FB_CI,
    M_FB_CI2,
    M_FB_RECOMMEND,
    M_FB_TQ,
    M_FB_TQ2,
    M_FB_COUNT
};
enum { M_TR_N, M_TR_TQ, M_TR_TQ2, M_TR_COUNT };
enum {
    M_LA_N,
    M_LA_GAIN_N,
    M_LA_GAIN,
    M_LA_GAIN2,
    M_LA_CEILING,
    M_LA_PRE,
    M_LA_POST,
    M_LA_MAX,
    M_LA_COUNT
};
enum { M_BO_N, M_BO_OBSERVED, M_BO_MET, M_BO_COUNT };
enum { M_AT_N, M_AT_BOOKED, M_AT_ATTENDED, M_AT_SENIOR, M_AT_COUNT };
enum { M_CO_N, M_CO_AMOUNT, M_CO_COUNT };
enum { M_HC_N, M_HC_HEADCOUNT, M_HC_IN_SCOPE, M_HC_COUNT };
enum {
    M_SS_N,
    M_SS_COUNT_SUM,
    M_SS_ARREST,
    M_SS_FOUND,
    M_SS_REVIEWED,
    M_SS_SATISFACTORY,
    M_SS_RECORDED,
    M_SS_COUNT
};
enum { M_CP_N, M_CP_ALLEGATIONS, M_CP_LINKED, M_CP_DISCRIM, M_CP_COUNT };
enum { M_RI_N, M_RI_COUNT_SUM, M_RI_COUNT };
/* survey: per item k (0 good_job, 1 treats_everyone_fairly, 2 confident_as_victim,
 * 3 fair_as_suspect, 4 would_report): base 1 + 4k: answered n, sum w, sum w^2, sum w positive */
enum { M_SV_N, M_SV_ITEM0, M_SV_COUNT = 1 + 4 * 5 };
enum { M_SV_ANS = 0, M_SV_W = 1, M_SV_W2 = 2, M_SV_WPOS = 3 };
enum {
    M_EN_N,
    M_EN_COMMUNITY_VENUE,
    M_EN_BRIEFED,
    M_EN_POLICE_P,
    M_EN_COMMUNITY_P,
    M_EN_PR_N,
    M_EN_PR,
    M_EN_PR2,
    M_EN_CR_N,
    M_EN_CR,
    M_EN_CR2,
    M_EN_COUNT
};
enum { M_PL_N, M_PL_COUNT };

/* Number of metrics of family f (0 for an unknown family). */
unsigned crr_fam_nmetrics(unsigned f);

/* The event type index a family's buckets hold (0 for CRR_FAM_PIPELINE, which
 * holds every type by arrival day, and for an unknown family). */
unsigned crr_fam_type(unsigned f);

/* The type index (1..CRR_TYPE_COUNT) of e's body, 0 when it has none or a
 * body this build does not know. */
unsigned crr_event_type_index(const Crrmon__V1__Event *e);

/* The protobuf field name of type index t ("training_feedback", ...), NULL
 * outside 1..CRR_TYPE_COUNT. */
const char *crr_event_type_text(unsigned t);

/* 64-bit hash of a string (the cell of a string dimension: trainer ids). */
uint64_t crr_hash64(const char *s, size_t n);

/* Where the sums live: the caller's callbacks.
 *   sums: sets *m to the running sums (crr_fam_nmetrics(fam) doubles) of
 *         family fam, cell `cell`, on the event's day (by_arrival 0) or its
 *         arrival day (1); name/len is the text a hashed cell stands for
 *         (NULL when the cell holds no hash), to keep beside the cell.
 *   headcount: records a staff_headcount statement (the latest statement up
 *         to an instant is the gauge) of staff group `group`.
 * Each returns 0 or an error code, which crr_accumulate returns at once. */
typedef struct crr_acc_ops {
    int (*sums)(void *ctx, unsigned fam, const uint8_t cell[CRR_AGG_CELL], int by_arrival,
                const char *name, size_t len, double **m);
    int (*headcount)(void *ctx, unsigned group, uint32_t headcount, uint32_t in_scope);
    void *ctx;
} crr_acc_ops_t;

/* Adds valid event e (crr_validate_event passed) to its buckets through ops:
 * its type's family (or families) and the pipeline family. Returns 0, the
 * first callback error, or CRR_EINVAL for an event without a known body.
 * On an error some buckets may already have been added to: the caller
 * discards the whole transaction. */
int crr_accumulate(const Crrmon__V1__Event *e, const crr_acc_ops_t *ops);

#endif
