/* schedule: snapshot schedule specs and their next due time, in local time.
 *
 *   every <duration>     every period, aligned to multiples of the period since
 *                        the Unix epoch (every 15m fires at :00, :15, :30, :45)
 *   hourly               every 1h
 *   daily HH:MM          once a day at HH:MM local time
 *   weekly DOW HH:MM     once a week (mon..sun) at HH:MM local time
 *   monthly D HH:MM      once a month on day D (1..31; a shorter month fires on
 *                        its last day) at HH:MM local time
 * Any spec may end with "@ sink,sink": the sink instances it feeds.
 * Local time is the process's time zone (TZ; the aggregator sets it from
 * aggregator.timezone at start, default Europe/London, from the system's tz
 * database). A local time that does not exist (the spring-forward hour) fires
 * at the next valid minute; one that occurs twice (autumn) fires once, at its
 * first occurrence. Pure functions of their inputs and TZ: the caller passes
 * the time (the scheduler uses crr_clock_now_sec, so CRRMON_NOW drives it in
 * tests). */
#include "aggregator.h"

#include "clock.h"

#include <ctype.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int s_hhmm(const char *s, int *minute_of_day)
{
    int h, m;
    char tail;
    if (strlen(s) != 5 || s[2] != ':' || !isdigit((unsigned char)s[0]) ||
        !isdigit((unsigned char)s[1]) || !isdigit((unsigned char)s[3]) ||
        !isdigit((unsigned char)s[4]) || sscanf(s, "%2d:%2d%c", &h, &m, &tail) != 2 || h > 23 ||
        m > 59)
        return -1;
    *minute_of_day = h * 60 + m;
    return 0;
}

int crr_schedule_parse(const char *spec, crr_schedule_t *s, crr_diag_t *d)
{
    char w[4][64];
    int n = sscanf(spec, " %63s %63s %63s %63s", w[0], w[1], w[2], w[3]);
    if (n == 2 && strcmp(w[0], "every") == 0) {
        int64_t ms;
        if (crr_cfg_parse_duration(w[1], &ms) || ms < 1000 || ms % 1000) {
            crr_diag_set(d, 0, "schedules",
                         "'%s': every needs a duration of whole seconds >= 1s (e.g. 15m)", spec);
            return CRR_ECONFIG;
        }
        s->kind = CRR_SCHED_EVERY;
        s->period_sec = ms / 1000;
        return 0;
    }
    if (n == 2 && strcmp(w[0], "daily") == 0 && s_hhmm(w[1], &s->minute_of_day) == 0) {
        s->kind = CRR_SCHED_DAILY;
        return 0;
    }
    if (n == 1 && strcmp(w[0], "hourly") == 0) {
        s->kind = CRR_SCHED_EVERY;
        s->period_sec = 3600;
        return 0;
    }
    static const char *const dows[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    if (n == 3 && strcmp(w[0], "weekly") == 0 && s_hhmm(w[2], &s->minute_of_day) == 0)
        for (int i = 0; i < 7; i++)
            if (strcasecmp(w[1], dows[i]) == 0) {
                s->kind = CRR_SCHED_WEEKLY;
                s->day = i;
                return 0;
            }
    if (n == 3 && strcmp(w[0], "monthly") == 0 && s_hhmm(w[2], &s->minute_of_day) == 0) {
        char *end;
        long day = strtol(w[1], &end, 10);
        if (*end == '\0' && day >= 1 && day <= 31) {
            s->kind = CRR_SCHED_MONTHLY;
            s->day = (int)day;
            return 0;
        }
    }
    crr_diag_set(
        d, 0, "schedules",
        "'%s' is not a schedule: use 'every 15m', 'hourly', 'daily 02:00', 'weekly mon 06:00' or "
        "'monthly 1 03:00' (local time, aggregator.timezone)",
        spec);
    return CRR_ECONFIG;
}

static int s_name_ok(const char *name)
{
    if (!*name)
        return 0;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
            return 0;
    return 1;
}

/* Copies [b, e) without surrounding blanks into out (cap bytes). */
static void s_trim(const char *b, const char *e, char *out, size_t cap)
{
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    size_t n = (size_t)(e - b) < cap - 1 ? (size_t)(e - b) : cap - 1;
    memcpy(out, b, n);
    out[n] = '\0';
}

int crr_schedule_parse_list(const char *text, crr_schedule_t *out, size_t max, crr_diag_t *d)
{
    size_t n = 0;
    const char *p = text;
    while (*p) {
        const char *end = strchr(p, ';');
        if (!end)
            end = p + strlen(p);
        char item[256], name[64], spec[192];
        s_trim(p, end, item, sizeof item);
        p = *end ? end + 1 : end;
        if (!item[0])
            continue;
        char *eq = strchr(item, '=');
        char *at0 = strchr(item, '@');
        if (eq && at0 && at0 < eq)
            eq = NULL; /* an '=' after '@' is not a name */
        if (eq) {
            s_trim(item, eq, name, sizeof name);
            s_trim(eq + 1, eq + strlen(eq), spec, sizeof spec);
        } else {
            s_trim(item, item + strlen(item), spec, sizeof spec);
            s_trim(item, at0 ? at0 : item + strlen(item), name, sizeof name);
            for (char *c = name; *c; c++)
                if (*c == ' ' || *c == ':')
                    *c = '-';
        }
        if (!s_name_ok(name)) {
            crr_diag_set(d, 0, "schedules", "schedule name '%s' must be [A-Za-z0-9._-]+", name);
            return CRR_ECONFIG;
        }
        for (size_t i = 0; i < n; i++)
            if (strcmp(out[i].name, name) == 0) {
                crr_diag_set(d, 0, "schedules", "schedule name '%s' given twice", name);
                return CRR_ECONFIG;
            }
        if (n == max) {
            crr_diag_set(d, 0, "schedules", "at most %zu schedules", max);
            return CRR_ECONFIG;
        }
        memset(&out[n], 0, sizeof out[n]);
        snprintf(out[n].name, sizeof out[n].name, "%s", name);
        char *at = strchr(spec, '@');
        if (at) { /* "spec @ a,b": the sinks it feeds */
            s_trim(at + 1, at + strlen(at), out[n].sinks, sizeof out[n].sinks);
            *at = '\0';
            if (!out[n].sinks[0]) {
                crr_diag_set(d, 0, "schedules", "schedule '%s': '@' needs sink names", name);
                return CRR_ECONFIG;
            }
        }
        if (crr_schedule_parse(spec, &out[n], d))
            return CRR_ECONFIG;
        n++;
    }
    return (int)n;
}

static int s_days_in_month(int year, int month /* 1..12 */)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : dm[month - 1];
}

/* Days since the epoch of y-m-d (proleptic Gregorian; Howard Hinnant's algorithm). */
static int64_t s_days_from_civil(int64_t y, int m, int dd)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void s_civil_from_days(int64_t z, int64_t *y, int *m)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* The local wall time of t as minutes since the epoch (as if local were UTC). */
static int64_t s_wall_min(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return (s_days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday) * 1440 +
            tm.tm_hour * 60 + tm.tm_min);
}

/* UTC offset (seconds east) at t. */
static int64_t s_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return tm.tm_gmtoff;
}

/* The first instant whose local wall time is the wall minute w (minutes since
 * the epoch, local): its first occurrence when it occurs twice, else the next
 * minute that exists when it does not (a spring-forward gap). */
static int64_t s_local_to_utc(int64_t w)
{
    int64_t guess = w * 60,
            off[2] = {s_offset(guess - CRR_SEC_PER_DAY), s_offset(guess + CRR_SEC_PER_DAY)};
    if (off[0] < off[1]) { /* the earlier instant first: a larger offset is earlier */
        int64_t x = off[0];
        off[0] = off[1];
        off[1] = x;
    }
    for (int64_t k = 0; k < 24 * 60; k++) /* a gap is at most a few hours */
        for (int i = 0; i < 2; i++) {
            int64_t t = (w + k) * 60 - off[i];
            if (s_wall_min(t) == w + k)
                return t;
        }
    return guess; /* not reached with a sane tz database */
}

/* The local day (days since the epoch, local) of t. */
static int64_t s_local_day(int64_t t)
{
    int64_t m = s_wall_min(t);
    return m >= 0 ? m / 1440 : -((-m + 1439) / 1440);
}

int64_t crr_schedule_next(const crr_schedule_t *s, int64_t t)
{
    if (s->kind == CRR_SCHED_EVERY) {
        int64_t p = s->period_sec;
        int64_t q = t >= 0 ? t / p : -((-t + p - 1) / p);
        return (q + 1) * p;
    }
    int64_t day = s_local_day(t) - 1; /* from the day before: a gap may push a slot past midnight */
    for (int i = 0; i < 400; i++, day++) {
        int64_t y;
        int m;
        s_civil_from_days(day, &y, &m);
        int dom = (int)(day - s_days_from_civil(y, m, 1)) + 1;
        int ok = 0;
        switch (s->kind) {
        case CRR_SCHED_DAILY: ok = 1; break;
        case CRR_SCHED_WEEKLY:
            ok = (int)(((day % 7) + 11) % 7) == s->day;
            break; /* 1970-01-01 was a thursday */
        case CRR_SCHED_MONTHLY: {
            int last = s_days_in_month((int)y, m);
            ok = dom == (s->day < last ? s->day : last);
            break;
        }
        case CRR_SCHED_EVERY: break;
        }
        if (!ok)
            continue;
        int64_t c = s_local_to_utc(day * 1440 + s->minute_of_day);
        if (c > t)
            return c;
    }
    return t + CRR_SEC_PER_DAY; /* not reached */
}

size_t crr_schedule_missed(const crr_schedule_t *s, int64_t last, int64_t now, int64_t *latest)
{
    size_t n = 0;
    *latest = 0;
    for (int64_t c = crr_schedule_next(s, last); c <= now; c = crr_schedule_next(s, c)) {
        *latest = c;
        if (++n == 1000000) { /* a period of seconds over years: count no further */
            *latest = now - 1;
            while (crr_schedule_next(s, *latest) <= now)
                *latest = crr_schedule_next(s, *latest);
            break;
        }
    }
    return n;
}
