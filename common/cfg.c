/* cfg: config-map loader over inih. Counts INI lines itself (Debian's inih
 * passes no line number to the handler) by feeding ini_parse_stream through a
 * reader that increments a counter per line. Also the one parser of durations,
 * sizes and windows in days (every binary and command uses these), value
 * formatting for --help and --check-config, and the reload helpers. Owns
 * nothing beyond the strings it puts into the caller's struct. */
#include "cfg.h"

#include "log.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const crr_cfg_entry_t *s_find(const crr_cfg_entry_t *t, const char *section, const char *key)
{
    for (; t->key; t++)
        if (strcmp(t->section, section) == 0 && strcmp(t->key, key) == 0)
            return t;
    return NULL;
}

const crr_cfg_entry_t *crr_cfg_find(const crr_cfg_entry_t *table, const char *section,
                                    const char *key)
{
    return s_find(table, section, key);
}

crr_cfg_entry_t *crr_cfg_join(const crr_cfg_entry_t *a, const crr_cfg_entry_t *b, size_t b_offset)
{
    size_t na = 0, nb = 0;
    while (a[na].key)
        na++;
    while (b[nb].key)
        nb++;
    crr_cfg_entry_t *t = malloc((na + nb + 1) * sizeof *t);
    if (!t)
        return NULL;
    memcpy(t, a, na * sizeof *t);
    for (size_t i = 0; i < nb; i++) {
        t[na + i] = b[i];
        t[na + i].offset += b_offset;
    }
    t[na + nb] = (crr_cfg_entry_t)CRR_CFG_END;
    return t;
}

/* A number and the unit after it; a number without a unit is CRR_EINVAL
 * unless it is zero (0 = off), anything else that is not a number CRR_EPARSE. */
static int s_number_unit(const char *s, double *v, const char **unit)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || errno || *v < 0 || !isfinite(*v) || (*s != '.' && (*s < '0' || *s > '9')))
        return CRR_EPARSE;
    *unit = end;
    if (*end == '\0' && *v != 0)
        return CRR_EINVAL;
    return 0;
}

int crr_cfg_parse_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        double ms;
    } u[] = {{"", 0},        {"ms", 1},      {"s", 1000},    {"m", 60000},
             {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
    double v;
    const char *unit;
    int rc = s_number_unit(s, &v, &unit);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (strcmp(unit, u[i].unit) == 0) {
            if (v * u[i].ms > 9.2e18)
                return CRR_EPARSE;
            *ms = (int64_t)llround(v * u[i].ms);
            return 0;
        }
    return CRR_EPARSE;
}

int crr_cfg_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit[3];
        double mult;
    } u[] = {{{"", "", ""}, 0},
             {{"b", "b", "b"}, 1},
             {{"k", "kb", "kib"}, 1024.0},
             {{"m", "mb", "mib"}, 1024.0 * 1024},
             {{"g", "gb", "gib"}, 1024.0 * 1024 * 1024},
             {{"t", "tb", "tib"}, 1024.0 * 1024 * 1024 * 1024}};
    double v;
    const char *unit;
    int rc = s_number_unit(s, &v, &unit);
    if (rc)
        return rc;
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        for (int j = 0; j < 3; j++)
            if (strcasecmp(unit, u[i].unit[j]) == 0) {
                if (v * u[i].mult > 1.8e19)
                    return CRR_EPARSE;
                *bytes = (uint64_t)llround(v * u[i].mult);
                return 0;
            }
    return CRR_EPARSE;
}

int crr_cfg_parse_days(const char *s, unsigned *days)
{
    char *end;
    if (*s < '0' || *s > '9')
        return CRR_EPARSE;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || errno || v < 1 || v > CRR_CFG_MAX_DAYS)
        return CRR_EPARSE;
    if (*end == 'd')
        end++;
    if (*end)
        return CRR_EPARSE;
    *days = (unsigned)v;
    return 0;
}

char *crr_cfg_explain_duration(const char *s, char *buf, size_t len)
{
    double v;
    const char *unit;
    if (s_number_unit(s, &v, &unit) == CRR_EINVAL)
        snprintf(buf, len,
                 "'%s' has no unit: write %sms, %ss, %sm, %sh or %sd (a bare number is "
                 "allowed only as 0 = off)",
                 s, s, s, s, s, s);
    else
        snprintf(buf, len, "'%s' is not a duration (e.g. 500ms, 30s, 5m, 2h, 90d; 0 = off)", s);
    return buf;
}

char *crr_cfg_explain_size(const char *s, char *buf, size_t len)
{
    double v;
    const char *unit;
    if (s_number_unit(s, &v, &unit) == CRR_EINVAL)
        snprintf(buf, len,
                 "'%s' has no unit: write %sk, %sM or %sG (powers of 1024; %sb for bytes)", s, s, s,
                 s, s);
    else
        snprintf(buf, len, "'%s' is not a size (e.g. 64k, 4M, 4G; 0 = none)", s);
    return buf;
}

static void s_range(const crr_cfg_entry_t *e, char *buf, size_t len);

static int s_bounded(const crr_cfg_entry_t *e, double v)
{
    return (e->min == 0 && e->max == 0) || (v >= e->min && v <= e->max);
}

static int s_store(const crr_cfg_entry_t *e, void *base, const char *value, crr_diag_t *d)
{
    char *field = (char *)base + e->offset;
    const char *what = NULL;
    char expl[600];
    double num = 0;
    if (e->check && e->check(value, expl, sizeof expl)) {
        crr_diag_set(d, 0, e->key, "%s", expl);
        return CRR_ECONFIG;
    }
    switch (e->type) {
    case CRR_CFG_STR: {
        char *copy = strdup(value);
        if (!copy)
            return crr_diag_set(d, 0, e->key, "out of memory"), CRR_ECONFIG;
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case CRR_CFG_BOOL:
        if (!strcasecmp(value, "true") || !strcasecmp(value, "yes") || !strcasecmp(value, "on") ||
            !strcmp(value, "1"))
            *(int *)field = 1;
        else if (!strcasecmp(value, "false") || !strcasecmp(value, "no") ||
                 !strcasecmp(value, "off") || !strcmp(value, "0") || !*value)
            *(int *)field = 0;
        else
            what = "a boolean (true/false)";
        break;
    case CRR_CFG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno)
            what = "an integer";
        else if (!s_bounded(e, (double)v))
            what = "inside its bounds";
        else
            *(int64_t *)field = v;
        num = (double)v;
        break;
    }
    case CRR_CFG_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v))
            what = "a number";
        else if (!s_bounded(e, v))
            what = "inside its bounds";
        else
            *(double *)field = v;
        num = v;
        break;
    }
    case CRR_CFG_SIZE: {
        uint64_t v;
        if (crr_cfg_parse_size(value, &v))
            return crr_diag_set(d, 0, e->key, "%s", crr_cfg_explain_size(value, expl, sizeof expl)),
                   CRR_ECONFIG;
        else if (!s_bounded(e, (double)v))
            what = "inside its bounds";
        else
            *(uint64_t *)field = v;
        num = (double)v;
        break;
    }
    case CRR_CFG_DURATION: {
        int64_t v;
        if (crr_cfg_parse_duration(value, &v))
            return crr_diag_set(d, 0, e->key, "%s",
                                crr_cfg_explain_duration(value, expl, sizeof expl)),
                   CRR_ECONFIG;
        else if (!s_bounded(e, (double)v))
            what = "inside its bounds";
        else
            *(int64_t *)field = v;
        num = (double)v;
        break;
    }
    }
    (void)num;
    if (what) {
        if (e->min != 0 || e->max != 0) {
            s_range(e, expl, sizeof expl);
            crr_diag_set(d, 0, e->key, "value '%s' is not %s (%s)", value, what, expl + 2);
        } else
            crr_diag_set(d, 0, e->key, "value '%s' is not %s", value, what);
        return CRR_ECONFIG;
    }
    return 0;
}

int crr_cfg_set(const crr_cfg_entry_t *table, void *base, const char *section, const char *key,
                const char *value, crr_diag_t *d)
{
    const crr_cfg_entry_t *e = s_find(table, section, key);
    if (!e) {
        crr_diag_set(d, 0, key, "unknown key '%s.%s'", section, key);
        return CRR_ECONFIG;
    }
    return s_store(e, base, value, d);
}

typedef struct {
    const crr_cfg_entry_t *table;
    void *base;
    crr_diag_t *d;
    FILE *fp;
    long line;
    int failed;
} s_ini_t;

static char *s_reader(char *str, int num, void *stream)
{
    s_ini_t *st = stream;
    char *r = fgets(str, num, st->fp);
    if (r)
        st->line++;
    return r;
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    s_ini_t *st = user;
    if (st->failed)
        return 0;
    char field[128];
    snprintf(field, sizeof field, "%.60s.%.60s", section, name);
    const crr_cfg_entry_t *e = s_find(st->table, section, name);
    int rc;
    if (!e) {
        crr_diag_set(st->d, 0, field, "unknown key '%s' in section [%s]", name, section);
        rc = CRR_ECONFIG;
    } else {
        rc = s_store(e, st->base, value, st->d);
        if (rc)
            snprintf(st->d->field, sizeof st->d->field, "%s", field);
    }
    if (rc) {
        st->d->line = st->line;
        st->failed = 1;
        return 0;
    }
    return 1;
}

static int s_load_file(const crr_cfg_entry_t *table, void *base, const char *path, crr_diag_t *d)
{
    s_ini_t st = {table, base, d, NULL, 0, 0};
    snprintf(d->file, sizeof d->file, "%s", path);
    st.fp = fopen(path, "r");
    if (!st.fp) {
        crr_diag_set(d, 0, "", "cannot open config file: %s", strerror(errno));
        return CRR_ECONFIG;
    }
    int rc = ini_parse_stream(s_reader, &st, s_handler, &st);
    fclose(st.fp);
    if (st.failed)
        return CRR_ECONFIG;
    if (rc != 0) {
        d->line = rc > 0 ? rc : 0;
        crr_diag_set(d, 0, "", "line does not parse as INI (expected [section] or key = value)");
        return CRR_ECONFIG;
    }
    d->file[0] = '\0';
    return 0;
}

int crr_cfg_load(const crr_cfg_entry_t *table, void *base, int argc, char **argv, char **rest,
                 int *nrest, crr_diag_t *d)
{
    crr_diag_clear(d);
    *nrest = 0;
    for (const crr_cfg_entry_t *e = table; e->key; e++)
        if (s_store(e, base, e->def ? e->def : (e->type == CRR_CFG_STR ? "" : "0"), d))
            return CRR_ECONFIG;
    /* the config file first, so flags win whatever their order */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        if (path && s_load_file(table, base, path, d))
            return CRR_ECONFIG;
    }
    snprintf(d->file, sizeof d->file, "command line");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                rest[(*nrest)++] = argv[i];
            break;
        }
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            rest[(*nrest)++] = argv[i];
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const crr_cfg_entry_t *hit = NULL;
        for (const crr_cfg_entry_t *e = table; e->key; e++)
            if (e->flag && strlen(e->flag) == nlen && strncmp(e->flag, name, nlen) == 0) {
                hit = e;
                break;
            }
        /* a key never holds a dot, a section may (sink.csv): split at the last one */
        const char *dot = NULL;
        for (const char *c = name; c < name + nlen; c++)
            if (*c == '.')
                dot = c;
        if (!hit && dot) {
            char section[128], key[128];
            snprintf(section, sizeof section, "%.*s", (int)(dot - name), name);
            snprintf(key, sizeof key, "%.*s", (int)(nlen - (size_t)(dot - name) - 1), dot + 1);
            hit = s_find(table, section, key);
            if (!hit) {
                crr_diag_set(d, 0, "", "unknown option '--%.*s'", (int)nlen, name);
                return CRR_EINVAL;
            }
        }
        if (!hit) {
            rest[(*nrest)++] = argv[i]; /* the caller's own flag */
            continue;
        }
        const char *value;
        if (eq)
            value = eq + 1;
        else if (hit->type == CRR_CFG_BOOL)
            value = "true"; /* never the next argument: it may be an input file */
        else if (i + 1 < argc)
            value = argv[++i];
        else {
            crr_diag_set(d, 0, "", "option '%s' needs a value", a);
            return CRR_EINVAL;
        }
        if (s_store(hit, base, value, d)) {
            snprintf(d->field, sizeof d->field, "--%.*s", (int)nlen, name);
            return CRR_EINVAL;
        }
    }
    d->file[0] = '\0';
    return 0;
}

int crr_cfg_exit_code(int rc)
{
    return rc == 0 ? CRR_EXIT_OK : rc == CRR_EINVAL ? CRR_EXIT_USAGE : CRR_EXIT_CONFIG;
}

void crr_cfg_free(const crr_cfg_entry_t *table, void *base)
{
    for (const crr_cfg_entry_t *e = table; e->key; e++)
        if (e->type == CRR_CFG_STR) {
            char **p = (char **)((char *)base + e->offset);
            free(*p);
            *p = NULL;
        }
}

char *crr_cfg_format_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } u[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    if (ms == 0) {
        snprintf(buf, len, "0");
        return buf;
    }
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (ms % u[i].ms == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / u[i].ms), u[i].unit);
            return buf;
        }
    snprintf(buf, len, "%lldms", (long long)ms);
    return buf;
}

char *crr_cfg_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const unit[] = {"T", "G", "M", "k"};
    if (bytes == 0) {
        snprintf(buf, len, "0");
        return buf;
    }
    for (int i = 0; i < 4; i++) {
        uint64_t m = 1ull << (10 * (4 - i));
        if (bytes % m == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(bytes / m), unit[i]);
            return buf;
        }
    }
    snprintf(buf, len, "%llub", (unsigned long long)bytes);
    return buf;
}

char *crr_cfg_format(const crr_cfg_entry_t *e, const void *base, char *buf, size_t len)
{
    const char *field = (const char *)base + e->offset;
    switch (e->type) {
    case CRR_CFG_STR: {
        const char *v = *(char *const *)field;
        snprintf(buf, len, "%s", v ? v : "");
        break;
    }
    case CRR_CFG_INT: snprintf(buf, len, "%lld", (long long)*(const int64_t *)field); break;
    case CRR_CFG_BOOL: snprintf(buf, len, "%s", *(const int *)field ? "true" : "false"); break;
    case CRR_CFG_DOUBLE: snprintf(buf, len, "%.17g", *(const double *)field); break;
    case CRR_CFG_SIZE: crr_cfg_format_size(*(const uint64_t *)field, buf, len); break;
    case CRR_CFG_DURATION: crr_cfg_format_duration(*(const int64_t *)field, buf, len); break;
    }
    return buf;
}

int crr_cfg_same(const crr_cfg_entry_t *e, const void *a, const void *b)
{
    char x[1024], y[1024];
    crr_cfg_format(e, a, x, sizeof x);
    crr_cfg_format(e, b, y, sizeof y);
    return strcmp(x, y) == 0;
}

int crr_cfg_listed(const crr_cfg_entry_t *e, const char *const *list)
{
    size_t slen = strlen(e->section);
    for (; list && *list; list++)
        if (strncmp(*list, e->section, slen) == 0 && (*list)[slen] == '.' &&
            strcmp(*list + slen + 1, e->key) == 0)
            return 1;
    return 0;
}

/* Exchanges entry e's value between the structs a and b (strings by pointer). */
static void s_swap(const crr_cfg_entry_t *e, void *a, void *b)
{
    static const size_t size[] = {sizeof(char *), sizeof(int64_t),  sizeof(int),
                                  sizeof(double), sizeof(uint64_t), sizeof(int64_t)};
    unsigned char tmp[16];
    char *x = (char *)a + e->offset, *y = (char *)b + e->offset;
    memcpy(tmp, x, size[e->type]);
    memcpy(x, y, size[e->type]);
    memcpy(y, tmp, size[e->type]);
}

int crr_cfg_keep_restart(const crr_cfg_entry_t *table, void *running, void *next,
                         const char *const *restart)
{
    int n = 0;
    for (const crr_cfg_entry_t *e = table; e->key; e++) {
        if (!crr_cfg_listed(e, restart) || crr_cfg_same(e, running, next))
            continue;
        char was[512], now[512];
        CRR_WARN("reload: %s.%s changed to '%s' but needs a restart; keeping '%s' until then",
                 e->section, e->key, crr_cfg_format(e, next, now, sizeof now),
                 crr_cfg_format(e, running, was, sizeof was));
        s_swap(e, running, next);
        n++;
    }
    return n;
}

void crr_cfg_take(const crr_cfg_entry_t *table, void *running, void *next)
{
    for (const crr_cfg_entry_t *e = table; e->key; e++)
        s_swap(e, running, next);
}

int crr_cfg_log_changes(const crr_cfg_entry_t *table, const void *running, const void *next,
                        const char *const *skip)
{
    int n = 0;
    for (const crr_cfg_entry_t *e = table; e->key; e++) {
        if (crr_cfg_listed(e, skip) || crr_cfg_same(e, running, next))
            continue;
        char was[512], now[512];
        CRR_INFO("reload: %s.%s = '%s' (was '%s')", e->section, e->key,
                 crr_cfg_format(e, next, now, sizeof now),
                 crr_cfg_format(e, running, was, sizeof was));
        n++;
    }
    return n;
}

void crr_cfg_dump(FILE *out, const crr_cfg_entry_t *table, const void *base)
{
    const char *section = NULL;
    for (const crr_cfg_entry_t *e = table; e->key; e++) {
        if (!section || strcmp(section, e->section) != 0) {
            fprintf(out, "%s[%s]\n", section ? "\n" : "", e->section);
            section = e->section;
        }
        char v[1024];
        fprintf(out, "%s = %s\n", e->key, crr_cfg_format(e, base, v, sizeof v));
    }
}

/* " range A..B" in the entry's own syntax, or "" when unbounded. */
static void s_range(const crr_cfg_entry_t *e, char *buf, size_t len)
{
    char lo[64], hi[64];
    buf[0] = '\0';
    if (e->min == 0 && e->max == 0)
        return;
    if (e->type == CRR_CFG_DURATION) {
        crr_cfg_format_duration((int64_t)e->min, lo, sizeof lo);
        crr_cfg_format_duration((int64_t)e->max, hi, sizeof hi);
    } else if (e->type == CRR_CFG_SIZE) {
        crr_cfg_format_size((uint64_t)e->min, lo, sizeof lo);
        crr_cfg_format_size((uint64_t)e->max, hi, sizeof hi);
    } else {
        snprintf(lo, sizeof lo, "%g", e->min);
        snprintf(hi, sizeof hi, "%.15g", e->max);
    }
    snprintf(buf, len, "; range %s..%s", lo, hi);
}

void crr_cfg_print_help(FILE *out, const crr_cfg_entry_t *table)
{
    static const char *const tn[] = {"text", "int", "bool", "number", "size", "duration"};
    for (const crr_cfg_entry_t *e = table; e->key; e++) {
        char name[160], range[160];
        if (e->flag)
            snprintf(name, sizeof name, "--%s", e->flag);
        else
            snprintf(name, sizeof name, "--%s.%s", e->section, e->key);
        char also[300] = "";
        s_range(e, range, sizeof range);
        if (e->flag)
            snprintf(also, sizeof also, "; also --%s.%s", e->section, e->key);
        fprintf(out, "  %-34s %-8s %s (default: %s%s; INI [%s] %s%s)\n", name, tn[e->type], e->help,
                e->def && *e->def ? e->def : "none", range, e->section, e->key, also);
    }
}
