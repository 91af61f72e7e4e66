/* cfg: one loader for every binary's configuration.
 *
 * Each module describes its settings in a config-map table (section, key, type,
 * default, bounds, offsetof into the module's struct, the named flag if any,
 * and a description). crr_cfg_load() fills the struct in this order: table
 * defaults, then the INI file given by --config FILE (unknown sections or keys
 * are rejected with file:line), then flags: named ones (`--data-dir DIR` or
 * `--data-dir=DIR`) and `--section.key=value` for any key. A boolean flag
 * without `=value` (`--new-spool`) means true and never takes the next
 * argument as its value (`--flag=false` says false). --help output is
 * printed from the same table, and --check-config prints the loaded values
 * (crr_cfg_dump). Config is read-only after load, except that a daemon's
 * SIGHUP reload swaps in a freshly loaded struct from its main loop
 * (crr_cfg_keep_restart, crr_cfg_log_changes, crr_cfg_take). */
#ifndef CRR_CFG_H
#define CRR_CFG_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CRR_CFG_STR,      /* char * (malloc'd; crr_cfg_free releases it) */
    CRR_CFG_INT,      /* int64_t, bounded by min/max */
    CRR_CFG_BOOL,     /* int: true/false/yes/no/on/off/1/0 */
    CRR_CFG_DOUBLE,   /* double, bounded by min/max */
    CRR_CFG_SIZE,     /* uint64_t bytes: 512b, 64k, 10M, 2G (powers of 1024; unit required) */
    CRR_CFG_DURATION, /* int64_t milliseconds: 250ms, 5s, 15m, 1h, 2d (unit required; 0 = 0) */
} crr_cfg_type_t;

typedef struct crr_cfg_entry {
    const char *section; /* INI section, e.g. "aggregator" */
    const char *key;     /* INI key, e.g. "data_dir" */
    crr_cfg_type_t type; /* value type */
    const char *def;     /* default as text (NULL = empty string / 0) */
    double min, max;     /* bounds for numbers (ignored when min == max == 0) */
    size_t offset;       /* offsetof the field in the module's struct */
    const char *flag;    /* named flag without dashes (e.g. "data-dir"), or NULL */
    const char *help;    /* one-line description */
    /* optional: checks a value's meaning beyond its type (a log level, a
     * schedule list); returns 0, or nonzero with why filled. Runs wherever
     * the value comes from, so a bad value is named with its file:line or
     * as a command-line error. */
    int (*check)(const char *value, char *why, size_t len);
} crr_cfg_entry_t;

/* Exit codes of every crrmon binary (docs/OPERATIONS.md "Exit codes"). */
#define CRR_EXIT_OK 0       /* success */
#define CRR_EXIT_FAIL 1     /* failure: gave up, I/O, a runtime error, a crash-safe stop */
#define CRR_EXIT_REJECTED 2 /* some input lines or events were refused, the rest sent */
#define CRR_EXIT_USAGE 64   /* a bad flag or value on the command line (EX_USAGE) */
#define CRR_EXIT_CONFIG                                                                            \
    78 /* a config file that does not parse or names something missing,                            \
          a refused data folder (EX_CONFIG) */

#define CRR_CFG_END                                                                                \
    {                                                                                              \
        NULL, NULL, CRR_CFG_STR, NULL, 0, 0, 0, NULL, NULL                                         \
    }

/* Loads configuration into base as described above.
 *
 * argv[1..argc) is scanned for `--config FILE`, named flags and
 * `--section.key=value`; every other argument (positional, or a flag this
 * table does not know) is copied in order to rest[] (*nrest set; rest must
 * hold argc entries; the strings are argv's). Unknown `--x.y=` keys, bad
 * values and bad INI lines fail with d naming the file (or "command line"),
 * the line and the key. Returns 0, CRR_EINVAL when the command line is at
 * fault (a usage error) or CRR_ECONFIG when the config file is (it does not
 * open, parse or check). On failure base may be partly filled: call
 * crr_cfg_free(). */
int crr_cfg_load(const crr_cfg_entry_t *table, void *base, int argc, char **argv, char **rest,
                 int *nrest, crr_diag_t *d);

/* The exit code for crr_cfg_load's result: 0, CRR_EXIT_USAGE or CRR_EXIT_CONFIG. */
int crr_cfg_exit_code(int rc);

/* Sets one key from text (as a flag would). Returns 0 or CRR_ECONFIG with d set. */
int crr_cfg_set(const crr_cfg_entry_t *table, void *base, const char *section, const char *key,
                const char *value, crr_diag_t *d);

/* The entry for section.key in table, or NULL. */
const crr_cfg_entry_t *crr_cfg_find(const crr_cfg_entry_t *table, const char *section,
                                    const char *key);

/* One table made of two: a's entries, then b's with b_offset added to each
 * offset (b describes a struct that a's struct holds at b_offset), then the
 * end. So a program extends a table another module owns without copying its
 * entries. Returns the joined table (free() it; the strings stay the
 * tables'), or NULL when out of memory. */
crr_cfg_entry_t *crr_cfg_join(const crr_cfg_entry_t *a, const crr_cfg_entry_t *b, size_t b_offset);

/* Frees the strings crr_cfg_load allocated in base (safe to call twice). */
void crr_cfg_free(const crr_cfg_entry_t *table, void *base);

/* Prints every entry: flag or --section.key, type, default, range, INI name,
 * description. Every entry is also accepted as --section.key=value, the
 * section's own dots included (--sink.csv.dir=DIR: keys never hold a dot). */
void crr_cfg_print_help(FILE *out, const crr_cfg_entry_t *table);

/* Writes entry e's value in base into buf, in the syntax the loader reads
 * back (durations and sizes in their largest exact unit: 90d, 4G). Returns buf. */
char *crr_cfg_format(const crr_cfg_entry_t *e, const void *base, char *buf, size_t len);

/* 1 when entry e holds the same value in the structs a and b, else 0. */
int crr_cfg_same(const crr_cfg_entry_t *e, const void *a, const void *b);

/* Reload (SIGHUP) helpers. A daemon loads a fresh struct `next` with
 * crr_cfg_load (same argv: the file is re-read, flags still win), checks what
 * derives from it, then:
 *
 * crr_cfg_keep_restart: for every entry named in restart ("section.key"
 * strings, NULL-terminated) whose value differs, logs a warning that it needs
 * a restart and exchanges the values of running and next, so that next keeps
 * the running value (strings change hands by pointer: whatever the program
 * borrowed from running stays valid in next) and running holds the new one,
 * to be freed with it. Returns how many.
 *
 * crr_cfg_log_changes: logs every entry not named in skip whose value differs
 * between running and next ("reload: section.key = 'new' (was 'old')").
 * Returns how many. Call it before crr_cfg_keep_restart.
 *
 * Then the daemon frees running's strings and copies next into it, or calls
 * crr_cfg_take, which exchanges every entry's value (running gets next's,
 * next the rest, to be freed with crr_cfg_free) and leaves whatever the
 * struct holds beside the table's fields alone. */
void crr_cfg_take(const crr_cfg_entry_t *table, void *running, void *next);
int crr_cfg_keep_restart(const crr_cfg_entry_t *table, void *running, void *next,
                         const char *const *restart);
int crr_cfg_log_changes(const crr_cfg_entry_t *table, const void *running, const void *next,
                        const char *const *skip);

/* 1 when "section.key" of e is in list (NULL-terminated), else 0. */
int crr_cfg_listed(const crr_cfg_entry_t *e, const char *const *list);

/* Prints the configuration in base as an INI file: [section], key = value,
 * every key of the table in its order (what --check-config shows). */
void crr_cfg_dump(FILE *out, const crr_cfg_entry_t *table, const void *base);

/* Formats ms / bytes in the largest exact unit ("90d", "1500ms", "64k"; 0 as "0"). */
char *crr_cfg_format_duration(int64_t ms, char *buf, size_t len);
char *crr_cfg_format_size(uint64_t bytes, char *buf, size_t len);

/* The one duration parser: a number (decimals allowed) and a unit, ms, s, m
 * (or min), h or d: "500ms", "1.5s", "15m", "90d". A bare number is refused
 * (CRR_EINVAL: say which unit to add, crr_cfg_explain_duration) except 0,
 * which means "off" where a key allows it. Anything else is CRR_EPARSE. */
int crr_cfg_parse_duration(const char *s, int64_t *ms);

/* The one size parser: a number and a unit, b, k, M, G or T (powers of 1024;
 * kb/kib... and any case accepted): "64k", "4M", "4G". Bare numbers other
 * than 0 are CRR_EINVAL, anything else CRR_EPARSE. */
int crr_cfg_parse_size(const char *s, uint64_t *bytes);

/* The one parser of indicator windows: whole days, "30" or "30d",
 * 1..CRR_CFG_MAX_DAYS. 0 or CRR_EPARSE. */
#define CRR_CFG_MAX_DAYS 36500
int crr_cfg_parse_days(const char *s, unsigned *days);

/* Why s is not a duration / size, for a usage message: "'30' has no unit:
 * write 30ms, 30s, ..." or "'soon' is not a duration (e.g. ...)". Returns buf. */
char *crr_cfg_explain_duration(const char *s, char *buf, size_t len);
char *crr_cfg_explain_size(const char *s, char *buf, size_t len);

#endif
