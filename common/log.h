/* log: leveled, one-line-per-event logging to stderr with key=value ids.
 *
 * Two formats (crr_log_set_format): text, "<ts> <level> <component>: <msg>",
 * and json, one object per line {"time","level","component","msg"} for log
 * shippers. Under systemd (JOURNAL_STREAM names the device and inode of our
 * stderr) journald adds the timestamp, so the line carries none (text: "<level>
 * <component>: <msg>"; json: no "time") and starts with the syslog priority
 * "<N>" that journald takes as the entry's priority and strips.
 *
 * The level and the component name are the only process globals crrmon keeps
 * (with the signal flag). Macros check the level before formatting. Never log
 * per event at INFO. The level may change while other threads log (SIGHUP
 * reload on the main thread, HTTP connection threads): it is read and written
 * with relaxed atomics, never as a plain int. */
#ifndef CRR_LOG_H
#define CRR_LOG_H

#include <stddef.h>

typedef enum { CRR_LOG_ERROR = 0, CRR_LOG_WARN, CRR_LOG_INFO, CRR_LOG_DEBUG } crr_log_level_t;

extern int crr_log_level; /* use crr_log_get_level / crr_log_set_level, not the variable */

/* The current level (a relaxed atomic load: safe from any thread). */
#define crr_log_get_level() __atomic_load_n(&crr_log_level, __ATOMIC_RELAXED)
/* Sets the level (a relaxed atomic store: safe while other threads log). */
#define crr_log_set_level(lvl) __atomic_store_n(&crr_log_level, (int)(lvl), __ATOMIC_RELAXED)

/* Sets the component prefix (e.g. "aggregator"); the string must outlive logging. */
void crr_log_set_component(const char *name);
/* Parses "error|warn|info|debug" into the level; returns 0 or CRR_EINVAL. */
int crr_log_set_level_name(const char *name);
typedef enum { CRR_LOG_TEXT = 0, CRR_LOG_JSON } crr_log_format_t;

/* Sets the line format (start-up or reload, main thread; other threads may
 * be logging: a relaxed atomic store). */
void crr_log_set_format(crr_log_format_t f);
/* Parses "text|json" into the format; returns 0 or CRR_EINVAL. */
int crr_log_set_format_name(const char *name);
/* Config check for a log_format key (crr_cfg_entry_t check): 0, or -1 with
 * why filled in. */
int crr_log_check_format(const char *v, char *why, size_t len);
/* Whether stderr is the journal (JOURNAL_STREAM matches stderr's device and
 * inode). Read once, at the first call or the first line logged. */
int crr_log_to_journal(void);
/* Writes one line in the current format (see the top of this file). */
void crr_log_write(crr_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define CRR_LOG_AT(lvl, ...)                                                                       \
    do {                                                                                           \
        if ((int)(lvl) <= crr_log_get_level())                                                     \
            crr_log_write((lvl), __VA_ARGS__);                                                     \
    } while (0)
#define CRR_ERROR(...) CRR_LOG_AT(CRR_LOG_ERROR, __VA_ARGS__)
#define CRR_WARN(...) CRR_LOG_AT(CRR_LOG_WARN, __VA_ARGS__)
#define CRR_INFO(...) CRR_LOG_AT(CRR_LOG_INFO, __VA_ARGS__)
#define CRR_DEBUG(...) CRR_LOG_AT(CRR_LOG_DEBUG, __VA_ARGS__)
/* Logs an error with errno's text and the caller's file:line. */
#define crr_log_errno(what)                                                                        \
    crr_log_write(CRR_LOG_ERROR, "%s: %s (%s:%d)", (what), strerror(errno), __FILE__, __LINE__)

#endif
