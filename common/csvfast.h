/* csvfast: the fast path of CSV records (common/csvin.c) for the records
 * that make up nearly all input: the cells of a record written as one plain
 * JSON text and read by crr_json_fast_parse (jsonfast.h), with no jansson
 * tree. Also the cell conversions (booleans, enums) csvin.c shares with it,
 * so the two cannot disagree on what a cell means.
 *
 * It takes a record only when every cell converts and the text is plain for
 * jsonfast (no quote, backslash or control byte in a text cell); anything
 * else is declined and csvin.c builds the jansson object as before, which
 * gives every problem it always gave. The JSON text holds exactly the values
 * the jansson object would (the same conversion of each cell, doubles
 * written so that they read back as the same real), and jsonfast takes only
 * text it maps exactly as the jansson path does: so this file decides speed
 * only, never what a record means.
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
    const ProtobufCFieldDescriptor *f; /* CRR_CSVFAST_BODY: the type's field, NULL if none */
    int kind;                          /* CRR_CSVFAST_* (the `type` column is SKIP) */
} crr_csvfast_col_t;

/* true/1/yes, false/0/no (any case): 0 and *out, or -1. */
int crr_csvfast_bool(const char *v, int *out);
/* The enum value v names (full or short name, any case, or its number), or NULL. */
const ProtobufCEnumValue *crr_csvfast_enum(const ProtobufCEnumDescriptor *ed, const char *v);

/* The Event of one record of body `type`: cells[0..n) by cols[0..n).
 * *buf / *cap: a reusable text buffer (grown with realloc; free it when
 * done). Returns 0 (*out; free with crr_codec_free), CRR_JSONFAST_DECLINED
 * (*out NULL: build it the jansson way) or -ENOMEM. */
int crr_csvfast_event(const ProtobufCFieldDescriptor *type, char *const *cells, size_t n,
                      const crr_csvfast_col_t *cols, char **buf, size_t *cap,
                      ProtobufCMessage **out);

#endif
