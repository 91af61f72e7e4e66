/* csv: the CSV file sink (an embedded default).
 *
 * One file per snapshot, DIR/NAME (DIR = the sink's `dir` or the
 * aggregator's snapshot folder, NAME its `file_name` template, by default
 * {schedule}-{as_of}-{id}.csv: filesink.h): a header row, then one row per
 * IndicatorValue with the snapshot's own fields repeated on each row, so that
 * a spreadsheet needs no join:
 *   snapshot_id,as_of,taken_at,schedule,indicator,borough,window_days,dims,
 *   value,n,n_eff,ci_low,ci_high,reliable,boroughs_reporting,
 *   borough_name,window_start,window_end,stat
 * dims are "k=v;k=v" sorted by key (empty for the total); an absent wrapper is
 * an empty cell; doubles use the shortest text that reads back exactly;
 * reliable is true/false; boroughs_reporting is the coverage count (0/1 for a
 * borough, 0-33 for LONDON). Then, for analysts: the borough's name
 * ("Lambeth", "London"), the window's first and last UTC day (YYYY-MM-DD:
 * the window_days days ending with as_of's day) and the indicator's stat
 * (C, P, W, M, R, RR, V; docs/DOMAIN.md). New columns go last so that older
 * readers' columns stay put. Fields holding a comma,
 * quote or newline are quoted by libcsv. Written as temp + fsync + rename: idempotent on the id.
 *
 * Threading: an instance is used by one thread at a time. */
#include "filesink.h"

#include "boroughs.h"
#include "clock.h"
#include "indicators.h"
#include "json.h"

#include <csv.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char *dir;       /* output folder; empty = the host's snapshot folder */
    char *file_name; /* file-name template; empty = {schedule}-{as_of}-{id}.csv */
    int latest;      /* also keep <schedule>-latest.csv */
} s_config_t;

static const crr_cfg_entry_t s_config_map[] = {
    {"sink.csv", "dir", CRR_CFG_STR, "", 0, 0, offsetof(s_config_t, dir), NULL,
     "folder for the snapshot files (default: the aggregator's snapshot_dir)"},
    {"sink.csv", "file_name", CRR_CFG_STR, "{schedule}-{as_of}-{id}.csv", 0, 0,
     offsetof(s_config_t, file_name), NULL,
     "file-name template: " CRR_FILESINK_PLACEHOLDERS " and [A-Za-z0-9._-]; must hold {id}"},
    {"sink.csv", "latest", CRR_CFG_BOOL, "true", 0, 0, offsetof(s_config_t, latest), NULL,
     "also keep <schedule>-latest.csv, replaced atomically by each scheduled snapshot"},
    CRR_CFG_END,
};

static int s_open(const crr_sink_section_t *section, void **state, crr_diag_t *d)
{
    const s_config_t *cfg = section->config;
    crr_filesink_opts_t o = {cfg ? cfg->dir : NULL, cfg ? cfg->file_name : NULL,
                             cfg ? cfg->latest : 0, "sink.csv", "csv"};
    return crr_filesink_open(section, &o, state, d);
}

/* Writes one cell (quoted by libcsv only when it needs to be) and a separator. */
static void s_cell(FILE *out, const char *text, int last)
{
    if (strpbrk(text, ",\"\r\n"))
        csv_fwrite(out, text, strlen(text));
    else
        fputs(text, out);
    fputc(last ? '\n' : ',', out);
}

static const char *s_wrapper(const Google__Protobuf__DoubleValue *w, char *buf, size_t len)
{
    if (!w)
        return "";
    return crr_double_text(w->value, buf, len);
}

static int s_cmp_entry(const void *a, const void *b)
{
    const Crrmon__V1__IndicatorValue__DimsEntry *x =
        *(const Crrmon__V1__IndicatorValue__DimsEntry *const *)a;
    const Crrmon__V1__IndicatorValue__DimsEntry *y =
        *(const Crrmon__V1__IndicatorValue__DimsEntry *const *)b;
    return strcmp(x->key ? x->key : "", y->key ? y->key : "");
}

/* Formats dims as "k=v;k=v" sorted by key into buf. */
static const char *s_dims(const Crrmon__V1__IndicatorValue *v, char *buf, size_t len)
{
    Crrmon__V1__IndicatorValue__DimsEntry *sorted[32];
    size_t n = v->n_dims < 32 ? v->n_dims : 32;
    if (n > 0) {
        memcpy(sorted, v->dims, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, s_cmp_entry);
    }
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s=%s", i ? ";" : "",
                                 sorted[i]->key ? sorted[i]->key : "",
                                 sorted[i]->value ? sorted[i]->value : "");
    return buf;
}

static const char *s_ts(const Google__Protobuf__Timestamp *t, char *buf, size_t len)
{
    if (!t)
        return "";
    return crr_time_format(t->seconds, t->nanos, buf, len);
}

/* The stat letter of indicator name ("" when not in the catalogue). */
static const char *s_stat(const char *name)
{
    size_t n;
    const crr_indicator_info_t *cat = crr_indicators_catalogue(&n);
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(cat[i].name, name) == 0)
            return crr_stat_name(cat[i].stat);
    return "";
}

/* The borough's name: "London" for LONDON, "" when unknown. */
static const char *s_borough_name(const char *code)
{
    if (code && strcmp(code, "LONDON") == 0)
        return "London";
    const char *n = crr_borough_name(crr_borough_index(code));
    return n ? n : "";
}

/* The UTC date (YYYY-MM-DD) of day number day into buf (11 bytes). */
static const char *s_date(int64_t day, char *buf, size_t len)
{
    char t[40];
    crr_time_format(day * CRR_SEC_PER_DAY, 0, t, sizeof t);
    snprintf(buf, len, "%.10s", t);
    return buf;
}

static int s_write(void *state, const Crrmon__V1__Snapshot *s, crr_diag_t *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        crr_diag_set(d, 0, "", "out of memory building snapshot %s", s->id);
        return CRR_SINK_RETRY;
    }
    static const char *const cols[] = {
        "snapshot_id",  "as_of",        "taken_at",   "schedule", "indicator",
        "borough",      "window_days",  "dims",       "value",    "n",
        "n_eff",        "ci_low",       "ci_high",    "reliable", "boroughs_reporting",
        "borough_name", "window_start", "window_end", "stat"};
    size_t ncols = sizeof cols / sizeof cols[0];
    for (size_t i = 0; i < ncols; i++)
        s_cell(out, cols[i], i + 1 == ncols);
    char as_of[40], taken[40];
    s_ts(s->as_of, as_of, sizeof as_of);
    s_ts(s->taken_at, taken, sizeof taken);
    for (size_t i = 0; i < s->n_values; i++) {
        const Crrmon__V1__IndicatorValue *v = s->values[i];
        char wd[16], n[24], dims[1024], val[32], neff[32], lo[32], hi[32], br[16];
        snprintf(wd, sizeof wd, "%" PRIu32, v->window_days);
        snprintf(n, sizeof n, "%" PRIu64, v->n);
        s_cell(out, s->id, 0);
        s_cell(out, as_of, 0);
        s_cell(out, taken, 0);
        s_cell(out, s->schedule ? s->schedule : "", 0);
        s_cell(out, v->indicator ? v->indicator : "", 0);
        s_cell(out, v->borough ? v->borough : "", 0);
        s_cell(out, wd, 0);
        s_cell(out, s_dims(v, dims, sizeof dims), 0);
        s_cell(out, s_wrapper(v->value, val, sizeof val), 0);
        s_cell(out, n, 0);
        s_cell(out, s_wrapper(v->n_eff, neff, sizeof neff), 0);
        s_cell(out, s_wrapper(v->ci_low, lo, sizeof lo), 0);
        s_cell(out, s_wrapper(v->ci_high, hi, sizeof hi), 0);
        s_cell(out, v->reliable ? "true" : "false", 0);
        snprintf(br, sizeof br, "%" PRIu32, v->boroughs_reporting);
        s_cell(out, br, 0);
        int64_t end = s->as_of ? crr_day_of(s->as_of->seconds) : 0;
        char from[16], to[16];
        s_cell(out, s_borough_name(v->borough), 0);
        s_cell(out,
               v->window_days ? s_date(end - (int64_t)v->window_days + 1, from, sizeof from) : "",
               0);
        s_cell(out, s_date(end, to, sizeof to), 0);
        s_cell(out, s_stat(v->indicator), 1);
    }
    int bad = ferror(out);
    if (fclose(out) || bad) {
        free(buf);
        crr_diag_set(d, 0, "", "out of memory building snapshot %s", s->id);
        return CRR_SINK_RETRY;
    }
    int rc = crr_filesink_commit(state, s, buf, len, d);
    free(buf);
    return rc;
}

const crr_sink_ops_t crr_sink_csv = {
    .name = "csv",
    .description = "CSV file per snapshot: a header row, then one row per value",
    .config_map = s_config_map,
    .config_size = sizeof(s_config_t),
    .open = s_open,
    .write = s_write,
    .locate = crr_filesink_locate,
    .close = crr_filesink_close,
};
