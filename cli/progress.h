/* progress: one self-rewriting status line on stderr for long CLI runs
 * (`crrmon send` of a large file): a bar, percent, events/s and rejected so
 * far. Only on a terminal: when stderr is not one (a pipe, a file, a CI log)
 * nothing at all is written, so scripts see only the final summary. The line
 * appears only once a run has lasted S_DELAY_MS (small files show none) and
 * is redrawn at most every 100 ms. Not thread-safe (one per command). */
#ifndef CRR_PROGRESS_H
#define CRR_PROGRESS_H

#include <stdint.h>

typedef struct crr_progress {
    int on;            /* stderr is a terminal and the caller wants it */
    int drawn;         /* a line is on the screen */
    uint64_t start_ms; /* when the current phase began (monotonic) */
    uint64_t last_ms;  /* last redraw */
} crr_progress_t;

/* Starts a phase. enabled: the caller's wish (not --quiet, a large input);
 * the line is shown only if stderr is also a terminal. */
void crr_progress_start(crr_progress_t *p, int enabled);

/* Redraws "WHAT [#####     ]  45%  12,345 events/s  3 rejected" when due.
 * done/total in any unit (bytes, events) give the percent (total 0: no
 * percent); events is the count events/s is computed from. */
void crr_progress_show(crr_progress_t *p, const char *what, uint64_t done, uint64_t total,
                       uint64_t events, uint64_t rejected);

/* Erases the line (if one was drawn) so the next output starts clean. */
void crr_progress_end(crr_progress_t *p);

#endif
