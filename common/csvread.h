/* csvread: reads a CSV file row by row over libcsv, with the 1-based line
 * number each row starts on (libcsv reports none; quoted newlines counted),
 * so every error can name file and line. Used by reference-data loading and
 * by CSV event input. */
#ifndef CRR_CSVREAD_H
#define CRR_CSVREAD_H

#include "err.h"

#include <stddef.h>

#define CRR_CSV_MAX_FIELDS 64

/* Called once per row: fields[i] are NUL-terminated (borrowed until return),
 * line is where the row starts. Return 0 to go on, non-zero to stop (that
 * value is returned by crr_csv_read_file; fill d first). */
typedef int (*crr_csv_row_fn)(char **fields, size_t nfields, long line, void *ud, crr_diag_t *d);

/* Parses path (strict quoting) and calls fn per row, the header row included.
 * Returns 0, the callback's non-zero value, CRR_EPARSE (malformed CSV, d names
 * file and line), or -errno when the file cannot be read. d->file is set to
 * path in every case. */
int crr_csv_read_file(const char *path, crr_csv_row_fn fn, void *ud, crr_diag_t *d);

#endif
