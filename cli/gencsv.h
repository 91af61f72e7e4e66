/* gencsv: Events as CSV rows that the CSV input (common/csvin.h,
 * docs/formats/CSV.md) reads back to the same Events: `crrmon generate
 * --format csv`.
 *
 * Columns: `type` first, then `borough`, `occurred_at`, `record_id`, then the
 * union of the fields of the chosen body types by their proto (snake_case)
 * names, in .proto order, each name once (a column shared by types, such as
 * course_id, is one column). A record's own fields: enums by full name,
 * booleans true/false, numbers in decimal (0 too; doubles in the shortest text
 * that reads back exactly), times as RFC 3339 UTC; an empty string or enum 0
 * is an empty cell (absent), and so is every column of the other types. A cell is quoted (RFC 4180,
 * libcsv's csv_fwrite) only when it needs to be: a comma, quote or line break, or a space or tab at
 * either end (the reader trims those around an unquoted cell).
 * Does not: write source_id or seq (not CSV columns), choose the events. */
#ifndef CRR_GENCSV_H
#define CRR_GENCSV_H

#include "crrmon/v1/event.pb-c.h"

#include <stdio.h>

typedef struct crr_gencsv crr_gencsv_t;

/* A writer whose columns hold the body types for which has_type(ud, body
 * case) is non-zero. Returns 0 and *out, or -ENOMEM. */
int crr_gencsv_new(int (*has_type)(const void *ud, int body_case), const void *ud,
                   crr_gencsv_t **out);
/* Frees; nulls *wp; idempotent. */
void crr_gencsv_free(crr_gencsv_t **wp);

/* Writes the header row to out. Returns 0, or EOF on a write error. */
int crr_gencsv_header(const crr_gencsv_t *w, FILE *out);
/* Writes e as one row. Returns 0, CRR_EINVAL (e's body is not one of the
 * writer's types, or has none; nothing written), or EOF on a write error. */
int crr_gencsv_row(const crr_gencsv_t *w, const Crrmon__V1__Event *e, FILE *out);

#endif
