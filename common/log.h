/* log: leveled, one-line-per-event logging to stderr with key=value ids.
 *
 * The level and the component name are the only process globals crrmon keeps
 * (with the signal flag). Macros check the level before formatting. Never log
 * per event at INFO. */
#ifndef CRR_LOG_H
#define CRR_LOG_H

typedef enum { CRR_LOG_ERROR = 0, CRR_LOG_WARN, CRR_LOG_INFO, CRR_LOG_DEBUG } crr_log_level_t;

extern int crr_log_level;

/* Sets the component prefix (e.g. "aggregator"); the string must outlive logging. */
void crr_log_set_component(const char *name);
/* Parses "error|warn|info|debug" into the level; returns 0 or CRR_EINVAL. */
int crr_log_set_level_name(const char *name);
/* Writes one line: "<ts> <level> <component>: <message>". */
void crr_log_write(crr_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define CRR_LOG_AT(lvl, ...)                                                                       \
    do {                                                                                           \
        if ((int)(lvl) <= crr_log_level)                                                           \
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
