/* clock: the one place crrmon reads the time, and RFC 3339 conversions.
 *
 * Test hook (documented in docs/OPERATIONS.md): the environment variable
 * CRRMON_NOW sets the wall clock that event validation, day buckets, windows,
 * snapshots and schedules use:
 *   CRRMON_NOW=2026-03-01T12:00:00Z    the clock stands still at that instant;
 *   CRRMON_NOW=2026-03-01T12:00:00Z+   the clock starts there and runs on.
 * Timers and timeouts use crr_clock_mono_ms(), which the hook does not touch. */
#ifndef CRR_CLOCK_H
#define CRR_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CRR_NS_PER_SEC 1000000000LL
#define CRR_SEC_PER_DAY 86400LL

/* Wall-clock time in nanoseconds since the Unix epoch (UTC), honouring CRRMON_NOW. */
int64_t crr_clock_now_ns(void);
/* Wall-clock seconds since the epoch, honouring CRRMON_NOW. */
int64_t crr_clock_now_sec(void);
/* Monotonic milliseconds, for timers only. */
uint64_t crr_clock_mono_ms(void);
/* Forgets the cached CRRMON_NOW so the next call reads the environment again (tests). */
void crr_clock_reset(void);

/* UTC day number (days since 1970-01-01) of a time in seconds; floors negatives. */
int64_t crr_day_of(int64_t sec);

/* Parses an RFC 3339 timestamp ("2026-01-02T03:04:05.123Z", offsets +hh:mm allowed,
 * also a bare date "2026-01-02" meaning its midnight UTC when allow_date is set).
 * Returns 0 and fills sec/nanos, or CRR_EPARSE. */
int crr_time_parse(const char *s, int allow_date, int64_t *sec, int32_t *nanos);
/* Formats as RFC 3339 UTC with "Z", fractional digits 0, 3, 6 or 9 as needed
 * (proto3 JSON style). buf needs 40 bytes. Returns buf. */
char *crr_time_format(int64_t sec, int32_t nanos, char *buf, size_t len);

#endif
