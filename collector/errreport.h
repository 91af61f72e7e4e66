/* errreport: the error report a borough acts on: a CSV file with one row per
 * problem (file, line, field, value, reason, code), every problem of a line
 * listed, not only the first. Written by `crrmon-collector --errors FILE`,
 * by `--check` (stdout by default) and by the drop folder
 * (DIR/rejected/NAME.errors.csv).
 *
 * Columns: file (as named), line (1-based physical line the record starts
 * on; empty when the problem is the file's own, such as an unreadable file),
 * field (proto path, e.g. stop_search.outcome; empty for the whole line),
 * value (the cell or value at fault as written, when known), reason (what was
 * wrong and what is allowed), code (the reject code's short name:
 * malformed, missing_field, unknown_borough, ...). Every cell is quoted
 * (libcsv's csv_fwrite), so the report reads back with any CSV reader; bytes
 * that are not UTF-8 and control characters (a newline inside a cell) are
 * written as '?', so each problem is one physical line of the report.
 *
 * A file report is written to NAME.tmp and renamed to NAME by close, so a
 * reader never sees half a report; "-" writes to stdout (not closed).
 * One thread per report. Does not decide what a problem is (common/csvin.h,
 * common/edge.h). */
#ifndef CRR_ERRREPORT_H
#define CRR_ERRREPORT_H

#include "edge.h"
#include "err.h"

#include <stdint.h>

typedef struct crr_errreport crr_errreport_t;

/* Opens a report at path ("-" = stdout) and writes the header row.
 * Returns 0 and *out, or -errno / -ENOMEM. */
int crr_errreport_open(const char *path, crr_errreport_t **out);

/* One row for d (file, line, field, code, reason) with value (NULL = "").
 * Returns 0 or -errno (a write error; later rows are still attempted). */
int crr_errreport_add(crr_errreport_t *r, const crr_diag_t *d, const char *value);

/* One row per problem of p (and a row saying how many more, if p->more).
 * Returns 0 or -errno. */
int crr_errreport_add_problems(crr_errreport_t *r, const crr_problems_t *p);

/* Rows written so far (the header not counted). */
uint64_t crr_errreport_rows(const crr_errreport_t *r);

/* Flushes; for a file: fsync, close and rename NAME.tmp to NAME. Frees, nulls
 * *rp; idempotent. Returns 0 or the first write error (-errno); on an error
 * the temporary file is removed. */
int crr_errreport_close(crr_errreport_t **rp);

#endif
