/* log: the one log writer. Owns the level, format and component globals and
 * the journal check. Thread-safe in that each line is one fprintf to
 * unbuffered stderr. */
#include "log.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int crr_log_level = CRR_LOG_INFO;
static int s_format = CRR_LOG_TEXT;
static int s_journal = -1; /* -1 not checked yet, else 0/1 (benign race: same answer) */
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

void crr_log_set_format(crr_log_format_t f)
{
    __atomic_store_n(&s_format, (int)f, __ATOMIC_RELAXED);
}

int crr_log_set_format_name(const char *name)
{
    if (strcmp(name, "text") == 0)
        crr_log_set_format(CRR_LOG_TEXT);
    else if (strcmp(name, "json") == 0)
        crr_log_set_format(CRR_LOG_JSON);
    else
        return CRR_EINVAL;
    return 0;
}

int crr_log_check_format(const char *v, char *why, size_t len)
{
    if (strcmp(v, "text") == 0 || strcmp(v, "json") == 0)
        return 0;
    snprintf(why, len, "'%s' is not a log format (text or json)", v);
    return -1;
}

int crr_log_to_journal(void)
{
    int j = __atomic_load_n(&s_journal, __ATOMIC_RELAXED);
    if (j >= 0)
        return j;
    /* systemd sets JOURNAL_STREAM=DEV:INODE for the stream it connected;
     * a redirected stderr (2>file) keeps the variable but not the inode */
    j = 0;
    const char *e = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    if (e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        j = 1;
    __atomic_store_n(&s_journal, j, __ATOMIC_RELAXED);
    return j;
}

/* Appends s to out (cap bytes, *n used) as a JSON string body: quotes,
 * backslashes and control characters escaped, bytes that are not UTF-8
 * replaced by U+FFFD. Stops early when out is full. */
static void s_json_escape(char *out, size_t cap, size_t *n, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p && *n + 8 < cap) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            out[(*n)++] = '\\';
            out[(*n)++] = (char)c;
            p++;
        } else if (c < 0x20) {
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
            p++;
        } else if (c < 0x80) {
            out[(*n)++] = (char)c;
            p++;
        } else {
            size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            if (c >= 0xf5)
                len = 0;
            size_t k = 1;
            while (len && k < len && (p[k] & 0xc0) == 0x80)
                k++;
            /* overlong 3/4-byte forms and surrogates are not UTF-8 either */
            if (len == 3 && ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)))
                len = 0;
            if (len == 4 && ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90)))
                len = 0;
            if (len && k == len) {
                memcpy(out + *n, p, len);
                *n += len;
                p += len;
            } else {
                memcpy(out + *n, "\xef\xbf\xbd", 3);
                *n += 3;
                p++;
            }
        }
    }
    out[*n] = '\0';
}

void crr_log_write(crr_log_level_t level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    static const int prio[] = {3, 4, 6, 7}; /* syslog: err, warning, info, debug */
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int journal = crr_log_to_journal();
    char when[48] = "";
    if (!journal) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char sec[32];
        strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when, sizeof when, "%s.%03ldZ", sec, ts.tv_nsec / 1000000L);
    }
    char pfx[8] = "";
    if (journal)
        snprintf(pfx, sizeof pfx, "<%d>", prio[level]);
    if (__atomic_load_n(&s_format, __ATOMIC_RELAXED) == CRR_LOG_JSON) {
        char body[2 * sizeof msg + 64];
        size_t n = 0;
        s_json_escape(body, sizeof body, &n, msg);
        if (journal)
            fprintf(stderr, "%s{\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}\n", pfx,
                    names[level], s_component, body);
        else
            fprintf(stderr,
                    "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"}\n",
                    when, names[level], s_component, body);
    } else if (journal) {
        fprintf(stderr, "%s%s %s: %s\n", pfx, names[level], s_component, msg);
    } else {
        fprintf(stderr, "%s %s %s: %s\n", when, names[level], s_component, msg);
    }
}
