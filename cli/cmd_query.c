/* cmd_query: prints indicator rows for an operator or a script.
 *
 * The store is opened MDB_RDONLY (only LMDB's lock file needs write access),
 * so a query runs beside a live aggregator and sees its last committed state.
 * The windows, max age and population are the ones the aggregator recorded
 * in its store at start (crr_store_record_config), so a query answers exactly
 * as the aggregator's snapshots do without being given its config; a store
 * without a recorded population has its rate rows absent, as docs/DOMAIN.md says.
 * --window and --population override them.
 *
 * Formats: the table is for people (absent values '-', unreliable rows marked
 * '*'); JSON Lines is the snapshot contract's IndicatorValue in the proto3
 * mapping with defaults (crr_json_dumps), so `jq` and pandas read it; CSV
 * writes doubles with 17 significant digits so that they read back exactly. */
#include "cmd_query.h"

#include "boroughs.h"
#include "cfg.h"
#include "cli.h"
#include "clock.h"
#include "codec.h"
#include "datadir.h"
#include "err.h"
#include "indicators.h"
#include "json.h"
#include "refdata.h"
#include "store.h"

#include <csv.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CMD "query"

enum { S_FMT_TABLE, S_FMT_JSON, S_FMT_CSV };

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: crrmon query --data-dir AGGDIR [--borough CODE | --london] [--window 90d]\n"
            "                    [--indicator NAME] [--as-of DATE] [--population CSV]\n"
            "                    [--json | --csv]\n\n"
            "Computes indicators from an aggregator's store (opened read-only; a running\n"
            "aggregator is fine). Default: every indicator, every borough and LONDON,\n"
            "every window the aggregator runs with, as of now, with the reference data it\n"
            "recorded in the store.\n\n"
            "  --data-dir DIR     the aggregator's data folder (DIR/store)\n"
            "  --borough CODE     one borough by GSS code (E09000001..E09000033)\n"
            "  --london           London-wide figures only\n"
            "  --window D         one window of D days (\"90d\" or \"90\"); repeatable\n"
            "  --indicator NAME   one catalogue indicator (e.g. stop_search.count)\n"
            "  --as-of DATE       end of that UTC day (YYYY-MM-DD), or an RFC 3339 instant;\n"
            "                     not later than now, nor earlier than the store's day\n"
            "                     buckets serve for the longest window (the message names\n"
            "                     the earliest date allowed)\n"
            "  --population CSV   resident population for rates per 1,000 (default: the\n"
            "                     population the aggregator recorded in its store)\n"
            "  --json             JSON Lines, one IndicatorValue per line (proto3 JSON)\n"
            "  --csv              CSV with a header row\n"
            "  --help             this text\n\n"
            "Table: '-' marks an absent value (undefined, e.g. a zero denominator); '*' marks\n"
            "a row whose sample is too small to be read as fact. 'reporting' is the row's\n"
            "boroughs_reporting: 1 when the borough's data covers the whole window (first\n"
            "seen, for every event type the indicator reads, at or before its first day),\n"
            "else 0; for LONDON the number of such boroughs, the only ones it is computed\n"
            "from. A row with 0 is never reliable.\n");
}

/* "90d" or "90" -> 90 (the one days parser, cfg). */
static int s_parse_window(const char *s, unsigned *out)
{
    return crr_cfg_parse_days(s, out);
}

/* Formats a number for people: whole numbers without decimals, others with
 * four significant digits (two decimals at 100 and above). */
static const char *s_num(double v, char *buf, size_t len)
{
    if (v == (double)(long long)v && v > -1e15 && v < 1e15)
        snprintf(buf, len, "%lld", (long long)v);
    else if (v >= 100 || v <= -100)
        snprintf(buf, len, "%.2f", v);
    else
        snprintf(buf, len, "%.4g", v);
    return buf;
}

/* "ethnicity=BLACK,gender=FEMALE" (sep between pairs); "" for the total. */
static void s_dims(const Crrmon__V1__IndicatorValue *v, char *buf, size_t len, const char *sep)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < v->n_dims && off < len; i++) {
        int w = snprintf(buf + off, len - off, "%s%s=%s", i ? sep : "", v->dims[i]->key,
                         v->dims[i]->value);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

static int s_csv_field(FILE *out, const char *s, int last)
{
    int rc = 0;
    if (strpbrk(s, ",\"\r\n") || (s[0] == ' ' || (s[0] && s[strlen(s) - 1] == ' ')))
        rc = csv_fwrite(out, s, strlen(s));
    else if (fputs(s, out) == EOF)
        rc = -1;
    if (fputc(last ? '\n' : ',', out) == EOF)
        rc = -1;
    return rc;
}

static void s_opt_double(const Google__Protobuf__DoubleValue *w, char *buf, size_t len)
{
    if (w)
        snprintf(buf, len, "%.17g", w->value);
    else
        buf[0] = '\0';
}

static int s_print_csv(Crrmon__V1__IndicatorValue **rows, size_t n, FILE *out)
{
    static const char *const hdr[] = {
        "indicator", "borough",  "window_days",       "dims", "value", "n", "n_eff", "ci_low",
        "ci_high",   "reliable", "boroughs_reporting"};
    int rc = 0;
    for (size_t i = 0; i < 11; i++)
        rc |= s_csv_field(out, hdr[i], i == 10);
    for (size_t r = 0; r < n && rc == 0; r++) {
        const Crrmon__V1__IndicatorValue *v = rows[r];
        char win[16], dims[1024], val[40], nn[32], neff[40], lo[40], hi[40], br[16];
        snprintf(win, sizeof win, "%u", v->window_days);
        snprintf(br, sizeof br, "%u", v->boroughs_reporting);
        s_dims(v, dims, sizeof dims, ";");
        s_opt_double(v->value, val, sizeof val);
        snprintf(nn, sizeof nn, "%llu", (unsigned long long)v->n);
        s_opt_double(v->n_eff, neff, sizeof neff);
        s_opt_double(v->ci_low, lo, sizeof lo);
        s_opt_double(v->ci_high, hi, sizeof hi);
        const char *cells[11] = {v->indicator,
                                 v->borough,
                                 win,
                                 dims,
                                 val,
                                 nn,
                                 neff,
                                 lo,
                                 hi,
                                 v->reliable ? "true" : "false",
                                 br};
        for (size_t i = 0; i < 11; i++)
            rc |= s_csv_field(out, cells[i], i == 10);
    }
    return rc;
}

static int s_print_json(Crrmon__V1__IndicatorValue **rows, size_t n, FILE *out)
{
    for (size_t r = 0; r < n; r++) {
        char *line = crr_json_dumps(&rows[r]->base, CRR_JSON_EMIT_DEFAULTS);
        if (!line)
            return -1;
        int bad = fputs(line, out) == EOF || fputc('\n', out) == EOF;
        free(line);
        if (bad)
            return -1;
    }
    return 0;
}

static int s_print_table(Crrmon__V1__IndicatorValue **rows, size_t n, FILE *out)
{
    static const char *const hdr[] = {"indicator",    "borough", "window",    "dims", "value",
                                      "95% interval", "n",       "reporting", ""};
    crr_cli_table_t *t = NULL;
    if (crr_cli_table_new(9, hdr, &t) != 0)
        return -1;
    size_t unreliable = 0;
    int rc = 0;
    for (size_t r = 0; r < n && rc == 0; r++) {
        const Crrmon__V1__IndicatorValue *v = rows[r];
        char win[16], dims[1024], val[40], ci[96], lo[40], hi[40], nn[32], br[16];
        snprintf(win, sizeof win, "%ud", v->window_days);
        s_dims(v, dims, sizeof dims, ",");
        if (!dims[0])
            snprintf(dims, sizeof dims, "(total)");
        if (v->value)
            s_num(v->value->value, val, sizeof val);
        else
            snprintf(val, sizeof val, "-");
        if (v->ci_low && v->ci_high)
            snprintf(ci, sizeof ci, "[%s, %s]", s_num(v->ci_low->value, lo, sizeof lo),
                     s_num(v->ci_high->value, hi, sizeof hi));
        else
            snprintf(ci, sizeof ci, "-");
        snprintf(nn, sizeof nn, "%llu", (unsigned long long)v->n);
        snprintf(br, sizeof br, "%u", v->boroughs_reporting);
        const char *mark = "";
        if (!v->reliable && v->value) {
            mark = "*";
            unreliable++;
        }
        const char *cells[9] = {v->indicator, v->borough, win, dims, val, ci, nn, br, mark};
        rc = crr_cli_table_add(t, cells);
    }
    if (rc == 0) {
        crr_cli_table_print(t, out, 1u << 2 | 1u << 4 | 1u << 6 | 1u << 7);
        if (unreliable)
            fprintf(out,
                    "\n* %zu row(s) not reliable: the sample is too small to be read as fact, "
                    "or the data does not cover the whole window (reporting 0).\n",
                    unreliable);
    }
    crr_cli_table_destroy(&t);
    return rc;
}

static int s_known_indicator(const char *name)
{
    size_t n = 0;
    const crr_indicator_info_t *cat = crr_indicators_catalogue(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(cat[i].name, name) == 0)
            return 1;
    return 0;
}

/* What the command line asked for. */
typedef struct {
    const char *dir, *borough, *indicator, *population;
    unsigned windows[CRR_STORE_MAX_WINDOWS];
    size_t nwindows;
    int64_t as_of; /* 0: now */
    int as_of_date;
    int fmt, nfmt, london;
} s_args_t;

#define S_GO_ON (-1) /* the arguments are fine: carry on */

/* Reads the options into *a. Returns S_GO_ON or the exit code to return now
 * (--help, a usage error). */
static int s_parse_options(int argc, char **argv, s_args_t *a)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"borough", required_argument, NULL, 'b'},
        {"london", no_argument, NULL, 'L'},
        {"window", required_argument, NULL, 'w'},
        {"indicator", required_argument, NULL, 'i'},
        {"as-of", required_argument, NULL, 'a'},
        {"population", required_argument, NULL, 'p'},
        {"json", no_argument, NULL, 'j'},
        {"csv", no_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': a->dir = optarg; break;
        case 'b': a->borough = optarg; break;
        case 'L': a->london = 1; break;
        case 'i': a->indicator = optarg; break;
        case 'p': a->population = optarg; break;
        case 'j': a->fmt = S_FMT_JSON, a->nfmt++; break;
        case 'c': a->fmt = S_FMT_CSV, a->nfmt++; break;
        case 'w':
            if (a->nwindows == CRR_STORE_MAX_WINDOWS)
                return crr_cli_usage(S_CMD, "at most %d --window options", CRR_STORE_MAX_WINDOWS);
            if (s_parse_window(optarg, &a->windows[a->nwindows]) != 0)
                return crr_cli_usage(S_CMD, "--window needs a number of days such as 90d, not '%s'",
                                     optarg);
            a->nwindows++;
            break;
        case 'a':
            if (crr_as_of_parse(optarg, &a->as_of, &a->as_of_date) != 0)
                return crr_cli_usage(S_CMD,
                                     "--as-of needs a date (2026-03-01) or an RFC 3339 "
                                     "instant, not '%s'",
                                     optarg);
            if (a->as_of <= 0)
                return crr_cli_usage(S_CMD, "--as-of must be after 1970-01-01");
            break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    return S_GO_ON;
}

/* Checks the options together (required, conflicting, known names); --london
 * becomes borough LONDON. Returns S_GO_ON or the usage exit code. */
static int s_check_options(s_args_t *a)
{
    if (!a->dir)
        return crr_cli_usage(S_CMD, "--data-dir is required");
    if (a->borough && a->london)
        return crr_cli_conflict(S_CMD, "--borough", a->borough, "--london", NULL,
                                "which area to show", "show the borough", "show London as a whole");
    if (a->nfmt > 1)
        return crr_cli_usage(S_CMD, "give --json or --csv, not both");
    if (a->london)
        a->borough = "LONDON";
    if (a->borough && strcmp(a->borough, "LONDON") != 0 && crr_borough_index(a->borough) < 0)
        return crr_cli_usage(S_CMD, "unknown borough '%s' (GSS codes E09000001..E09000033)",
                             a->borough);
    if (a->indicator && !s_known_indicator(a->indicator))
        return crr_cli_usage(S_CMD,
                             "unknown indicator '%s' (see crrmon query --help and "
                             "docs/INDICATORS.md)",
                             a->indicator);
    return S_GO_ON;
}

/* Prints the rows in the format asked for and flushes stdout. 0 or -1. */
static int s_print(int fmt, Crrmon__V1__IndicatorValue **rows, size_t nrows)
{
    int rc;
    switch (fmt) {
    case S_FMT_JSON: rc = s_print_json(rows, nrows, stdout); break;
    case S_FMT_CSV: rc = s_print_csv(rows, nrows, stdout); break;
    default: rc = s_print_table(rows, nrows, stdout); break;
    }
    return rc || fflush(stdout) != 0 ? -1 : 0;
}

/* Opens the store read-only, computes the rows asked for with ref (NULL: the
 * reference data recorded in the store) and prints them. Returns the exit
 * code (messages printed). */
static int s_query(const s_args_t *a, const crr_refdata_t *ref)
{
    int exit_code = CRR_EXIT_FAIL;
    crr_store_t *store = NULL;
    Crrmon__V1__IndicatorValue **rows = NULL;
    size_t nrows = 0;
    char store_dir[4096];
    crr_datadir_path(store_dir, sizeof store_dir, a->dir, CRR_DATADIR_STORE);
    crr_store_opts_t so = {.readonly = 1};
    int rc = crr_store_open(store_dir, &so, &store);
    if (rc) { /* a refused data folder (damaged, newer format): exit 78 */
        exit_code =
            crr_cli_config(S_CMD, "cannot open the store in %s: %s", store_dir,
                           rc == MDB_NOTFOUND || rc == -ENOENT ? "no aggregator store there yet"
                                                               : crr_strerror(rc));
        goto done;
    }
    char msg[512];
    if (a->as_of &&
        crr_as_of_check(store, a->as_of, a->as_of_date, crr_clock_now_sec(), msg, sizeof msg)) {
        exit_code = crr_cli_usage(S_CMD, "%s", msg);
        goto done;
    }
    crr_query_t q = {
        .as_of_sec = a->as_of,
        .windows = a->nwindows ? a->windows : NULL,
        .nwindows = a->nwindows,
        .borough = a->borough,
        .indicator = a->indicator,
        .ref = ref ? ref : crr_store_refdata(store),
    };
    rc = crr_indicators_compute(store, &q, &rows, &nrows);
    if (rc == CRR_EINVAL) {
        exit_code =
            crr_cli_usage(S_CMD, "unknown borough or indicator (borough %s, indicator %s)",
                          a->borough ? a->borough : "all", a->indicator ? a->indicator : "all");
        goto done;
    }
    if (rc) {
        crr_cli_fail(S_CMD, "computing indicators failed: %s", crr_strerror(rc));
        goto done;
    }
    if (s_print(a->fmt, rows, nrows) != 0) {
        crr_cli_fail(S_CMD, "write error on stdout (or out of memory)");
        goto done;
    }
    exit_code = CRR_EXIT_OK;
done:
    crr_indicators_free(&rows, nrows);
    crr_store_close(&store);
    return exit_code;
}

int crr_cmd_query(int argc, char **argv)
{
    s_args_t a = {.fmt = S_FMT_TABLE};
    int rc = s_parse_options(argc, argv, &a);
    if (rc == S_GO_ON)
        rc = s_check_options(&a);
    if (rc != S_GO_ON)
        return rc;
    crr_refdata_t *ref = calloc(1, sizeof *ref);
    if (!ref)
        return crr_cli_fail(S_CMD, "out of memory");
    crr_refdata_clear(ref);
    int exit_code;
    if (a.population) {
        crr_diag_t d;
        crr_diag_clear(&d);
        if (crr_refdata_load_population(ref, a.population, &d)) {
            char msg[1024];
            exit_code = crr_cli_config(S_CMD, "cannot load the population: %s",
                                       crr_diag_format(&d, msg, sizeof msg));
            free(ref);
            return exit_code;
        }
    }
    exit_code = s_query(&a, a.population ? ref : NULL);
    free(ref);
    return exit_code;
}
