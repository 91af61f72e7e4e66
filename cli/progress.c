/* progress: the terminal status line (rules in progress.h). Owns only the
 * drawing and its throttle; the counts are the caller's. */
#include "progress.h"

#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define S_EVERY_MS 100 /* redraw at most this often */
#define S_BAR 24       /* bar width in cells */

void crr_progress_start(crr_progress_t *p, int enabled)
{
    memset(p, 0, sizeof *p);
    p->on = enabled && isatty(STDERR_FILENO);
    p->start_ms = crr_clock_mono_ms();
}

void crr_progress_show(crr_progress_t *p, const char *what, uint64_t done, uint64_t total,
                       uint64_t events, uint64_t rejected)
{
    if (!p->on)
        return;
    uint64_t now = crr_clock_mono_ms();
    if (p->drawn && now - p->last_ms < S_EVERY_MS)
        return;
    p->last_ms = now;
    double secs = (double)(now - p->start_ms) / 1000.0;
    char bar[S_BAR + 1];
    unsigned pct = total ? (unsigned)(done >= total ? 100 : done * 100 / total) : 0;
    for (int i = 0; i < S_BAR; i++)
        bar[i] = total && (uint64_t)i * 100 < (uint64_t)pct * S_BAR ? '#' : ' ';
    bar[S_BAR] = '\0';
    fprintf(stderr, "\r%s [%s] %3u%%  %.0f events/s  %llu rejected\033[K", what, bar, pct,
            secs > 0 ? (double)events / secs : 0.0, (unsigned long long)rejected);
    fflush(stderr);
    p->drawn = 1;
}

void crr_progress_end(crr_progress_t *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}
