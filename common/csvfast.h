/* csvfast: the fast path of CSV records (common/csvin.c) for the records
 * that make up nearly all input: each cell converted straight into its
 * protobuf-c field, with no JSON in between. Also the cell conversions
 * (booleans, enums) csvin.c shares with it, so the two cannot disagree on
 * what a cell means.
 *
 * It takes a record only when every cell converts and each value is one the
 * proto3 JSON mapping (json.c) stores as it is: the same conversion of each
 * cell as csvin.c's jansson object, then what json.c does with that value
 * for the kinds the event bodies use (text, enums, booleans, uint32, int64,
 * double, the Timestamp and its range). Anything else (a cell with a
 * problem, invalid UTF-8, another kind of field) is declined and csvin.c
 * takes the jansson way as before, which gives every problem it always
 * gave. So this file decides speed only, never what a record means;
 * tests/fuzz/fuzz_csv.c checks that by running every input through both
 * ways and comparing answers, problems and Events byte for byte.
 *
 * Internal to common/. No state; thread-safe. */
#ifndef CRR_CSVFAST_H
#define CRR_CSVFAST_H

#include <protobuf-c/protobuf-c.h>

#include <stddef.h>

/* What a column is for a record of one type. */
enum { CRR_CSVFAST_SKIP, CRR_CSVFAST_ENV, CRR_CSVFAST_BODY };

typedef struct crr_csvfast_col {
    const char *key;                   /* the JSON key (the column's proto name) */
    const ProtobufCFieldDescriptor *f; /* BODY: the type's field; ENV: Event's; NULL if none */
    int kind;                          /* CRR_CSVFAST_* (the `type` column is SKIP) */
} crr_csvfast_col_t;

/* true/1/yes, false/0/no (any case): 0 and *out, or -1. */
int crr_csvfast_bool(const char *v, int *out);
/* The enum value v names (full or short name, any case, or its number), or NULL. */
const ProtobufCEnumValue *crr_csvfast_enum(const ProtobufCEnumDescriptor *ed, const char *v);

/* The Event of one record of body `type` (a field of Event's oneof):
 * cells[0..n) by cols[0..n) (an ENV column's f is Event's field of that
 * name). Returns 0 (*out; free with crr_codec_free), CRR_JSONFAST_DECLINED
 * (*out NULL: build it the jansson way) or -ENOMEM. */
int crr_csvfast_event(const ProtobufCFieldDescriptor *type, char *const *cells, size_t n,
                      const crr_csvfast_col_t *cols, ProtobufCMessage **out);

#endif
