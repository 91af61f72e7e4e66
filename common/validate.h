/* validate: the rules of docs/DOMAIN.md applied to one Event.
 *
 * The collector calls it at the edge (so bad lines are reported with file and
 * line) and the aggregator calls it again, authoritatively, with its own clock.
 * Enum values are checked against the generated protobuf-c descriptors, so an
 * enum value added to the .proto needs no code change here. Pure function of
 * its inputs; thread-safe; allocates nothing. */
#ifndef CRR_VALIDATE_H
#define CRR_VALIDATE_H

#include "err.h"

#include "crrmon/v1/event.pb-c.h"
#include "crrmon/v1/ingest.pb-c.h"

#include <stdint.h>

/* Default slack for the "future" rule (docs/DOMAIN.md: 5 minutes). */
#define CRR_VALIDATE_FUTURE_SLACK_SEC 300

/* Events one Batch may carry. Senders build at most sender.batch_events per
 * frame (2,000 by default, the collector allows up to this); a frame with
 * more is MALFORMED at the aggregator and refused before it is unpacked.
 * It also bounds an Ack: 20,000 rejections of at most ~660 bytes each stay
 * under the sender's 16 MiB Ack limit, so a batch rejected whole is still
 * acknowledged. */
#define CRR_VALIDATE_MAX_BATCH_EVENTS 20000

/* Longest identifier string of an event (course_id, session_id, trainer_id,
 * participant_ref, officer_ref, record_id), in bytes. */
#define CRR_VALIDATE_MAX_ID 256

/* Longest source id, in bytes (it is part of the store's keys). */
#define CRR_VALIDATE_MAX_SOURCE_ID 255

/* What the caller's clock and policy are. */
typedef struct crr_validate_opts {
    int64_t now_sec;          /* the caller's clock (crr_clock_now_sec) */
    int64_t future_slack_sec; /* 300: later than now + this is REJECT_CODE_FUTURE */
    int64_t max_age_days;     /* longest window + 30; older is REJECT_CODE_TOO_OLD; 0 = no check */
} crr_validate_opts_t;

/* Checks e against every rule of docs/DOMAIN.md, in this order:
 *  - borough: empty -> MISSING_FIELD; not E09000001..E09000033 -> UNKNOWN_BOROUGH;
 *  - occurred_at: absent -> MISSING_FIELD; nanos outside 0..999999999 or
 *    seconds outside years 1..9999 -> OUT_OF_RANGE; later than now + slack
 *    (to the nanosecond) -> FUTURE; earlier than now - max_age_days * 86400
 *    (when max_age_days > 0) -> TOO_OLD;
 *  - record_id, source_id (when set): over CRR_VALIDATE_MAX_ID /
 *    CRR_VALIDATE_MAX_SOURCE_ID bytes -> OUT_OF_RANGE; not UTF-8 -> MALFORMED;
 *  - no body -> NO_BODY;
 *  - body fields in .proto order: empty required string or required enum 0
 *    -> MISSING_FIELD; a string over CRR_VALIDATE_MAX_ID bytes -> OUT_OF_RANGE,
 *    not UTF-8 -> MALFORMED; enum number no listed value has, number outside its
 *    range, negative/NaN/infinite weight -> OUT_OF_RANGE;
 *  - cross-field rules (scores <= max_score, met <= observed, attended <=
 *    booked, senior <= attended, in_scope <= headcount, satisfactory only if
 *    reviewed, sde_code one of the 19 codes and matching ethnicity)
 *    -> INCONSISTENT.
 * e and o must not be NULL; d may be NULL (then only the result is returned).
 * Returns 0 when valid (d untouched), or CRR_EREJECT with d->code (a
 * Crrmon__V1__RejectCode), d->field (dotted proto path, e.g.
 * "stop_search.outcome", "occurred_at", "borough") and d->reason (what was
 * wrong and what is allowed); d->file and d->line are kept. */
int crr_validate_event(const Crrmon__V1__Event *e, const crr_validate_opts_t *o, crr_diag_t *d);

/* As crr_validate_event, but every failed rule is written to d[0..cap) (in
 * the same order; a rule that depends on a failed one, such as FUTURE on an
 * absent occurred_at, is not checked) and *n is set to how many failed (it
 * may exceed cap: the rest are counted, not written). d[0] is the diag
 * crr_validate_event gives. Each d[i] keeps the file and line of d[0] as
 * passed in (the caller sets d[0].file and d[0].line first). Returns 0 when
 * valid, else CRR_EREJECT. */
int crr_validate_event_all(const Crrmon__V1__Event *e, const crr_validate_opts_t *o, crr_diag_t *d,
                           size_t cap, size_t *n);

/* Checks a source id (Batch.source_id, the collector's --source-id): non-empty,
 * at most CRR_VALIDATE_MAX_SOURCE_ID bytes, valid UTF-8. Returns 0, or
 * CRR_EREJECT with d (may be NULL) set: code REJECT_CODE_MALFORMED, field
 * "source_id", reason. */
int crr_validate_source_id(const char *id, crr_diag_t *d);

/* The proto field name of e's body ("stop_search", "training_feedback", ...),
 * or NULL when e is NULL or has no body (or an unknown one). Static storage
 * (the generated descriptor's strings). */
const char *crr_event_type_name(const Crrmon__V1__Event *e);

#endif
