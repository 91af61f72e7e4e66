/* edge: what one line of JSON Lines input means, decided in one place.
 *
 * The collector, `crrmon send` and the JSONL fuzz target all turn a line into
 * an Event through crr_edge_line, so the three cannot drift. The rules, in
 * order:
 *   - on line 1 only, a UTF-8 byte-order mark (EF BB BF) is skipped (editors
 *     and spreadsheet exports write one);
 *   - a line holding nothing but JSON whitespace (space, tab, CR, LF) is blank
 *     and skipped: " \r " is blank everywhere, as is a CRLF line ending;
 *   - anything else must be one proto3 JSON Event (common/json.h): a syntax
 *     or mapping error is a REJECT_CODE_MALFORMED reject;
 *   - the Event is then checked by crr_validate_event (common/validate.h).
 * The line is given without its '\n' (one left in is whitespace anyway).
 * Does not: read files, set source_id or seq (the sender's), pack, store.
 * Pure function of its inputs; thread-safe. */
#ifndef CRR_EDGE_H
#define CRR_EDGE_H

#include "err.h"
#include "validate.h"

#include <stddef.h>
#include <stdint.h>

/* Every problem of one line or record (for the error report: one row per
 * problem). d[i].file/line/field/code/reason as in crr_diag_t; value[i] the
 * offending value as written in the input when known (a CSV cell, a JSON
 * value: strings without quotes, others as compact JSON), else "".
 * At most CRR_EDGE_MAX_PROBLEMS are kept; `more` counts the ones left out. */
#define CRR_EDGE_MAX_PROBLEMS 16
typedef struct crr_problems {
    size_t n;    /* problems kept in d[0..n) */
    size_t more; /* problems found beyond CRR_EDGE_MAX_PROBLEMS */
    crr_diag_t d[CRR_EDGE_MAX_PROBLEMS];
    char value[CRR_EDGE_MAX_PROBLEMS][128];
} crr_problems_t;

/* Empties p (n = more = 0). */
void crr_problems_clear(crr_problems_t *p);
/* Appends one problem for file:line (code, field, value may be NULL, printf
 * reason); counted in `more` when p is full. Returns CRR_EREJECT. */
int crr_problems_add(crr_problems_t *p, const char *file, uint64_t line, int code,
                     const char *field, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* crr_edge_line's answer for a blank line (nothing to send, nothing wrong). */
#define CRR_EDGE_BLANK 1

/* Whether line[0..len) is blank by the rule above (lineno: 1-based, for the
 * byte-order mark of line 1). */
int crr_edge_is_blank(const char *line, size_t len, uint64_t lineno);

/* Turns line[0..len), line number lineno (1-based) of input `file` ("-" for
 * stdin, NULL = ""), into a validated Event checked against vo.
 * Returns:
 *   0               *out is the Event (free with crr_codec_free); d untouched;
 *   CRR_EDGE_BLANK  a blank line: *out NULL, nothing to report;
 *   CRR_EREJECT     *out NULL; d holds file, line, code (MALFORMED for JSON
 *                   errors, the validation code otherwise), field and reason;
 *   -ENOMEM         out of memory (*out NULL).
 * d is cleared first; it must not be NULL. */
int crr_edge_line(const char *line, size_t len, const char *file, uint64_t lineno,
                  const crr_validate_opts_t *vo, Crrmon__V1__Event **out, crr_diag_t *d);

/* As crr_edge_line, but every validation problem of the line is listed in p
 * (a JSON error is one problem: nothing after it can be read); p->d[0] is
 * the diag crr_edge_line gives. p is cleared first; it must not be NULL. */
int crr_edge_line_all(const char *line, size_t len, const char *file, uint64_t lineno,
                      const crr_validate_opts_t *vo, Crrmon__V1__Event **out, crr_problems_t *p);

#endif
