/* errreport: the per-file error report of the drop folder
 * (DIR/rejected/NAME.errors.csv): one CSV row per problem, with the columns
 *   file,line,field,value,reason,code
 * (code: the reject code's short name, e.g. malformed, too_old).
 *
 * A minimal stand-in kept apart on purpose: the CSV input work brings the
 * shared report writer (the same columns, also used by --check); when it is
 * merged this module becomes a thin caller of it. Rows are collected in
 * memory (one per rejected line or aggregator rejection of one file) and
 * written whole, atomically (temporary file, fsync, rename).
 * Does not: decide what is rejected, read input. One thread. */
#ifndef CRR_ERRREPORT_H
#define CRR_ERRREPORT_H

#include "err.h"

#include <stddef.h>

typedef struct crr_errreport crr_errreport_t;

/* A new, empty report. Returns NULL when out of memory. */
crr_errreport_t *crr_errreport_new(void);
/* Frees, nulls *rp; idempotent. */
void crr_errreport_free(crr_errreport_t **rp);
/* Adds one row from d (file, line, field, code, reason) and value (the
 * offending value, NULL = empty). Returns 0 or -ENOMEM. */
int crr_errreport_add(crr_errreport_t *r, const crr_diag_t *d, const char *value);
/* Adds one row from its parts (line <= 0: empty; NULL strings: empty; code:
 * the reject code's short name). Returns 0 or -ENOMEM. */
int crr_errreport_add_row(crr_errreport_t *r, const char *file, long line, const char *field,
                          const char *value, const char *reason, const char *code);
/* Rows added so far. */
size_t crr_errreport_rows(const crr_errreport_t *r);
/* Writes the header and every row, in the order added, to path atomically
 * (crr_datadir_write_file, mode 0644). Returns 0, -ENOMEM or -errno. */
int crr_errreport_write(const crr_errreport_t *r, const char *path);

#endif
