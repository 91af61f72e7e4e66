/* log: the one log writer. Owns the level and component globals. Thread-safe
 * in that each line is one fprintf to unbuffered stderr. */
#include "log.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int crr_log_level = CRR_LOG_INFO;
static const char *s_component = "crrmon";

void crr_log_set_component(const char *name)
{
    s_component = name;
}

int crr_log_set_level_name(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0) {
            crr_log_set_level(i);
            return 0;
        }
    return CRR_EINVAL;
}

void crr_log_write(crr_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s %s: %s\n", when, ts.tv_nsec / 1000000L, names[level], s_component,
            msg);
}
