/* clock: wall and monotonic time, with the CRRMON_NOW test hook. The parsed
 * hook is cached in function-local statics on first use (read once per
 * process; crr_clock_reset() re-reads); thread-safe after the first call. */
#include "clock.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int s_hook_state;      /* 0 unread, 1 none, 2 fixed, 3 running */
static int64_t s_hook_offset; /* fixed time (2) or offset from the real clock (3), ns */

static int64_t s_real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * CRR_NS_PER_SEC + ts.tv_nsec;
}

static void s_read_hook(void)
{
    const char *v = getenv("CRRMON_NOW");
    s_hook_state = 1;
    if (!v || !*v)
        return;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", v);
    size_t n = strlen(buf);
    int running = n > 0 && buf[n - 1] == '+';
    if (running)
        buf[n - 1] = '\0';
    int64_t sec;
    int32_t nanos;
    if (crr_time_parse(buf, 1, &sec, &nanos) != 0) {
        fprintf(stderr, "CRRMON_NOW=%s is not an RFC 3339 time; using the real clock\n", v);
        return;
    }
    int64_t t = sec * CRR_NS_PER_SEC + nanos;
    if (running) {
        s_hook_state = 3;
        s_hook_offset = t - s_real_ns();
    } else {
        s_hook_state = 2;
        s_hook_offset = t;
    }
}

void crr_clock_reset(void)
{
    s_hook_state = 0;
}

int64_t crr_clock_now_ns(void)
{
    if (s_hook_state == 0)
        s_read_hook();
    if (s_hook_state == 2)
        return s_hook_offset;
    if (s_hook_state == 3)
        return s_real_ns() + s_hook_offset;
    return s_real_ns();
}

int64_t crr_clock_now_sec(void)
{
    int64_t ns = crr_clock_now_ns();
    return ns >= 0 ? ns / CRR_NS_PER_SEC : -((-ns + CRR_NS_PER_SEC - 1) / CRR_NS_PER_SEC);
}

uint64_t crr_clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t crr_day_of(int64_t sec)
{
    return sec >= 0 ? sec / CRR_SEC_PER_DAY : -((-sec + CRR_SEC_PER_DAY - 1) / CRR_SEC_PER_DAY);
}

static int s_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days from civil date (proleptic Gregorian), Howard Hinnant's algorithm. */
static int64_t s_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int crr_time_parse(const char *s, int allow_date, int64_t *sec, int32_t *nanos)
{
    const char *p = s;
    int Y, M, D, h = 0, mi = 0, se = 0;
    if (!s || s_digits(&p, 4, &Y) || *p++ != '-' || s_digits(&p, 2, &M) || *p++ != '-' ||
        s_digits(&p, 2, &D))
        return CRR_EPARSE;
    if (M < 1 || M > 12 || D < 1 || D > 31)
        return CRR_EPARSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (D > mdays[M - 1] || (M == 2 && D == 29 && !leap))
        return CRR_EPARSE;
    int64_t ns = 0;
    int64_t off = 0;
    if (*p == '\0') {
        if (!allow_date)
            return CRR_EPARSE;
    } else {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return CRR_EPARSE;
        p++;
        if (s_digits(&p, 2, &h) || *p++ != ':' || s_digits(&p, 2, &mi) || *p++ != ':' ||
            s_digits(&p, 2, &se))
            return CRR_EPARSE;
        if (h > 23 || mi > 59 || se > 59) /* leap seconds are not representable in proto3 */
            return CRR_EPARSE;
        if (*p == '.') {
            p++;
            int nd = 0;
            while (*p >= '0' && *p <= '9') {
                if (nd < 9) {
                    ns = ns * 10 + (*p - '0');
                    nd++;
                } else {
                    return CRR_EPARSE;
                }
                p++;
            }
            if (nd == 0)
                return CRR_EPARSE;
            while (nd++ < 9)
                ns *= 10;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            int oh, om;
            p++;
            if (s_digits(&p, 2, &oh) || *p++ != ':' || s_digits(&p, 2, &om) || oh > 23 || om > 59)
                return CRR_EPARSE;
            off = sign * (oh * 3600 + om * 60);
        } else {
            return CRR_EPARSE;
        }
        if (*p != '\0')
            return CRR_EPARSE;
    }
    *sec = s_days_from_civil(Y, M, D) * CRR_SEC_PER_DAY + h * 3600 + mi * 60 + se - off;
    *nanos = (int32_t)ns;
    return 0;
}

char *crr_time_format(int64_t sec, int32_t nanos, char *buf, size_t len)
{
    int64_t days = crr_day_of(sec);
    int64_t rem = sec - days * CRR_SEC_PER_DAY;
    /* civil from days (Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    y += m <= 2;
    char frac[16] = "";
    if (nanos > 0) {
        if (nanos % 1000000 == 0)
            snprintf(frac, sizeof frac, ".%03d", nanos / 1000000);
        else if (nanos % 1000 == 0)
            snprintf(frac, sizeof frac, ".%06d", nanos / 1000);
        else
            snprintf(frac, sizeof frac, ".%09d", nanos);
    }
    snprintf(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d%sZ", (long long)y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), frac);
    return buf;
}
