/* csvin: what a CSV file of events means, decided in one place (the CSV twin
 * of edge.h). The collector (named files, --check, the drop folder),
 * `crrmon send` and the tests all turn CSV into Events through this module,
 * so they cannot drift; every Event it makes is the one the
 * crr_json_to_message mapping gives (plain records are built straight from
 * their cells by csvfast.h, which fuzz_csv checks equal byte for byte) and
 * has passed the same validation (crr_validate_event_all) as a JSON line.
 *
 * The format (docs/formats/CSV.md is the manual):
 *   - the first non-blank record is the header; it names the columns:
 *     `type` (the body: stop_search, survey_response, ...), the envelope's
 *     `borough`, `occurred_at` (RFC 3339 with Z or an offset), `record_id`,
 *     and the body's fields by their proto names (snake_case). Without a
 *     `type` column the file's base name must begin with a type followed by
 *     anything but a letter ("stop_search-2026-11.csv", "complaint.csv").
 *     An unknown or repeated column, a body column of a type the file cannot
 *     hold, or no type at all refuses the WHOLE file (CRR_CSVIN_BADFILE)
 *     before any record of it is given out;
 *   - cells: an empty cell is an absent value; enums by their full
 *     (ETHNICITY_WHITE) or short (WHITE, white) names or their number;
 *     booleans true/false, 1/0, yes/no (any case); numbers in decimal;
 *     a cell that is not of its column's type is a MALFORMED problem naming
 *     the field and the value;
 *   - RFC 4180 quoting (libcsv, strict): quoted cells may hold commas, doubled
 *     quotes and newlines; a UTF-8 byte-order mark on line 1, CRLF line ends
 *     and blank lines (anywhere, trailing ones too) are accepted; cells must
 *     be valid UTF-8 (a NUL byte is a problem, never a silent cut); a record
 *     with more cells than the header is a problem.
 *   - line numbers are physical lines of the file: a record is reported at
 *     the line it starts on, and a quoted newline makes it span lines.
 * Every problem of a record is listed (crr_problems_t), not only the first.
 *
 * Two ways to use it:
 *   1. line feeding (the collector: it owns the reading, offsets and
 *      checkpoints): crr_csvin_new, then crr_csvin_line for each physical
 *      line, crr_csvin_finish at the end of the input, crr_csvin_free.
 *      A checkpoint is safe only between records: crr_csvin_pending() is 0.
 *      To resume a file after a checkpoint, feed its header line(s) first
 *      (crr_csvin_line with the lines from the start until it answers
 *      CRR_CSVIN_HEADER), then the lines after the checkpoint.
 *   2. a file iterator (crrmon send, the client library, tests):
 *        crr_csvin_file_t *f;
 *        if (crr_csvin_file_open(path, &f, &p) == 0) {
 *            for (;;) {
 *                int rc = crr_csvin_file_next(f, &vo, &ev, &p);
 *                if (rc == CRR_CSVIN_EOF) break;
 *                if (rc == 0) { use ev (record starts at p.d[0].line); crr_codec_free(&ev->base); }
 *                else if (rc == CRR_EREJECT) { report p.d[0..p.n) }
 *                else { CRR_CSVIN_BADFILE: report p.d[0], stop; or -errno/-ENOMEM }
 *            }
 *            crr_csvin_file_close(&f);
 *        }
 *      It streams (getline): memory is bounded by the longest physical line
 *      and the record being assembled (at most CRR_CSVIN_MAX_RECORD), never
 *      by the file. The collector reads through collector/reader.h instead,
 *      which also bounds each line (collector.max_line).
 * One thread per crr_csvin_t / crr_csvin_file_t; no globals. Does not: read
 * JSON, set source_id or seq, pack, spool or send. */
#ifndef CRR_CSVIN_H
#define CRR_CSVIN_H

#include "edge.h"
#include "err.h"
#include "validate.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Results besides 0 (an Event), CRR_EDGE_BLANK, CRR_EREJECT and -errno. */
#define CRR_CSVIN_MORE 3    /* the line ends inside a quoted cell: feed the next one */
#define CRR_CSVIN_HEADER 4  /* the record was the header, and it is accepted */
#define CRR_CSVIN_BADFILE 5 /* the file is refused as a whole: p->d[0] says why */
#define CRR_CSVIN_EOF 6     /* crr_csvin_file_next: no more records */

/* Longest record (all its physical lines) in bytes; a longer one is a
 * MALFORMED problem (the collector passes collector.max_line instead). A
 * record that passes it, or holds an over-long line (crr_csvin_toolong), is
 * still followed to its end (where its quotes balance) and rejected once
 * there, at its first line: the records after it read as if it were not
 * there. Its text stops growing at the limit. */
#define CRR_CSVIN_MAX_RECORD (1024 * 1024)

typedef struct crr_csvin crr_csvin_t;

/* A new reader of one CSV input named `file` (its base name may give the
 * type; "-" or "" for none). max_record: 0 = CRR_CSVIN_MAX_RECORD.
 * Returns 0 and *out, or -ENOMEM. */
int crr_csvin_new(const char *file, size_t max_record, crr_csvin_t **out);
/* Frees; nulls *cp; idempotent. */
void crr_csvin_free(crr_csvin_t **cp);

/* Feeds physical line `lineno` (1-based) line[0..len), without its '\n' (a
 * '\r' before it is dropped). p is cleared first. Returns:
 *   0                  *out is a validated Event (free with crr_codec_free);
 *                      p->d[0].line is the line its record started on (the
 *                      only member of p set);
 *   CRR_EDGE_BLANK     a blank line between records: nothing;
 *   CRR_CSVIN_MORE     the record goes on on the next line;
 *   CRR_CSVIN_HEADER   the header was read and is good;
 *   CRR_EREJECT        the record has problems, all in p (p->d[i].line = its
 *                      first line; p->value[i] the cell at fault, or "");
 *   CRR_CSVIN_BADFILE  the header refused the file (p->d[0]); every later
 *                      call answers the same;
 *   -ENOMEM.
 * vo: the validation clock and policy (validate.h). */
int crr_csvin_line(crr_csvin_t *c, const char *line, size_t len, uint64_t lineno,
                   const crr_validate_opts_t *vo, Crrmon__V1__Event **out, crr_problems_t *p);

/* Feeds physical line `lineno` that was too long to be read whole (the
 * collector's reader: longer than collector.max_line): start[0..len) is its
 * start, `quotes` how many '"' the WHOLE line holds, so the record's end is
 * still found. The record the line starts or belongs to is rejected, once,
 * at its end: returns CRR_CSVIN_MORE (it goes on: feed the next lines as
 * usual; the call that ends it answers CRR_EREJECT), CRR_EREJECT (this line
 * ends it; p has the one problem, at the record's first line: MALFORMED,
 * "line longer than N bytes (collector.max_line)" for a one-line record, as
 * a JSON line's, else naming the line and the record's lines),
 * CRR_CSVIN_BADFILE (it was the header, or the file was refused before) or
 * -ENOMEM. */
int crr_csvin_toolong(crr_csvin_t *c, const char *start, size_t len, uint64_t lineno,
                      uint64_t quotes, crr_problems_t *p);

/* At the end of the input: a record left open (an unterminated quote) is
 * CRR_EREJECT with p; an input with no header at all is 0 (an empty file is
 * no error: nothing in it). Returns 0, CRR_EREJECT or CRR_CSVIN_BADFILE. */
int crr_csvin_finish(crr_csvin_t *c, crr_problems_t *p);

/* The text of the record crr_csvin_line last gave out, rejected or refused
 * as the header (or crr_csvin_finish found unclosed): its physical lines as
 * fed, joined by '\n', the '\r' of its last line left out. Fed lines that
 * keep their '\r' (the collector's reader does) make it the record's bytes
 * in the file from its first byte up to its last line end; a record cut for
 * length holds the lines fed before the cut (and as much of an over-long
 * line's start as fits). *len gets its length (no NUL
 * after it). Valid until the next call on c; "" (0) before any record. */
const char *crr_csvin_record_text(const crr_csvin_t *c, size_t *len);

/* 1 while a record is open (lines fed after its start, not yet complete). */
int crr_csvin_pending(const crr_csvin_t *c);
/* Forgets an open record (the caller is going back to that record's first
 * line, e.g. after a spool transaction was dropped). The header is kept. */
void crr_csvin_reset_record(crr_csvin_t *c);
/* For tests: 0 sends every record the jansson way (the reference the fast
 * path of common/csvfast.h must equal); 1, the default, lets plain records
 * take the fast path. What a record means is the same either way. */
void crr_csvin_set_fast(crr_csvin_t *c, int on);
/* 1 once the header has been accepted. */
int crr_csvin_has_header(const crr_csvin_t *c);

/* ---- the file iterator ---- */
typedef struct crr_csvin_file crr_csvin_file_t;

/* Opens path ("-" = stdin) for reading records. Returns 0, or -errno (p->d[0]
 * says so with the file name), or -ENOMEM. */
int crr_csvin_file_open(const char *path, crr_csvin_file_t **out, crr_problems_t *p);
/* The next event: 0 (*out, p->d[0].line its line), CRR_EREJECT (p),
 * CRR_CSVIN_BADFILE (p->d[0]; the next call is CRR_CSVIN_EOF), CRR_CSVIN_EOF,
 * -errno (read error) or -ENOMEM. Blank lines and the header are skipped. */
int crr_csvin_file_next(crr_csvin_file_t *f, const crr_validate_opts_t *vo, Crrmon__V1__Event **out,
                        crr_problems_t *p);
/* Bytes consumed so far and the file's size (-1 when not a regular file): for
 * progress. */
uint64_t crr_csvin_file_offset(const crr_csvin_file_t *f);
int64_t crr_csvin_file_size(const crr_csvin_file_t *f);
/* Closes (not stdin), frees, nulls *fp; idempotent. */
void crr_csvin_file_close(crr_csvin_file_t **fp);

/* 1 when path's name ends in ".csv" (any case): how the collector and
 * `crrmon send` tell a CSV input from JSON Lines. */
int crr_csvin_is_csv_name(const char *path);

#endif
