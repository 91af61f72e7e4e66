/* cmd_generate: `crrmon generate`, deterministic valid events as JSON Lines
 * or CSV.
 *
 * A thin shell over tools/gen: parses the options, builds one generator and
 * writes crr_json_dumps() of each event, one per line (or, with --format csv,
 * a header and one row per event through gencsv.h), to stdout (fully
 * buffered by stdio when stdout is a pipe or file, as for backfills of
 * millions of lines). The same
 * options, seed and --end always give the same output; without --end the
 * window follows crr_clock_now_sec() (CRRMON_NOW makes that repeatable too).
 * Writes nothing but events to stdout; messages go to stderr. */
#include "cmd_generate.h"

#include "boroughs.h"
#include "cli.h"
#include "clock.h"
#include "codec.h"
#include "err.h"
#include "gen.h"
#include "gencsv.h"
#include "json.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CMD "generate"
#define S_DEFAULT_DAYS 30

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: crrmon generate [--count N] [--seed S] [--borough CODE]... [--types a,b]\n"
            "                       [--start TIME | --days D] [--end TIME] [--source-id ID]\n"
            "                       [--format jsonl|csv]\n\n"
            "Writes N deterministic, valid events as JSON Lines (proto3 JSON mapping) or CSV\n"
            "to stdout, for tests, demos and backfills: pipe them to `crrmon send` or drop\n"
            "them where a collector reads. The same options and seed give the same events;\n"
            "each has a unique recordId \"<seed>-<n>\".\n\n"
            "  --count N        events to write (default 1000)\n"
            "  --seed S         random seed, a whole number (default 1)\n"
            "  --borough CODE   a GSS code E09000001..E09000033; repeat for several\n"
            "                   (default: all 33 boroughs)\n"
            "  --types a,b      event types to generate (default: all eleven):\n"
            "                   training_feedback, learning_assessment, behaviour_observation,\n"
            "                   attendance, training_cost, staff_headcount, stop_search,\n"
            "                   complaint, racist_incident, survey_response, community_engagement\n"
            "  --start TIME     earliest occurredAt, RFC 3339 or YYYY-MM-DD (UTC midnight)\n"
            "  --days D         or: start D days before the end (default 30)\n"
            "  --end TIME       occurredAt stays before this (default: now, or CRRMON_NOW)\n"
            "  --source-id ID   set sourceId on every event (jsonl only; default: none)\n"
            "  --format F       jsonl (default) or csv: the same events as CSV for the\n"
            "                   collector's CSV input (a file named *.csv): a header with\n"
            "                   type, borough, occurred_at, record_id and every field of the\n"
            "                   generated types by its proto name; enums by full name,\n"
            "                   booleans true/false, an empty cell is absent\n"
            "  --help           this text\n\n"
            "Exit status: 0 ok, 1 failure (e.g. a write error), 64 bad usage.\n");
}

/* Parses an RFC 3339 time or date into *sec; round_up moves a fractional
 * second up (so a start bound is never undershot). 0 or CRR_EPARSE. */
static int s_time(const char *s, int round_up, int64_t *sec)
{
    int32_t nanos = 0;
    if (crr_time_parse(s, 1, sec, &nanos) != 0)
        return CRR_EPARSE;
    if (round_up && nanos > 0)
        (*sec)++;
    return 0;
}

/* Writes count events of g as JSON lines. Returns an exit code. */
static int s_write(crr_gen_t *g, uint64_t count, const char *source_id)
{
    for (uint64_t i = 0; i < count; i++) {
        Crrmon__V1__Event *e = NULL;
        int rc = crr_gen_next(g, &e);
        if (rc != 0)
            return crr_cli_fail(S_CMD, "generating event %llu: %s", (unsigned long long)i + 1,
                                crr_strerror(rc));
        if (source_id && !(e->source_id = strdup(source_id))) {
            crr_codec_free(&e->base);
            return crr_cli_fail(S_CMD, "out of memory");
        }
        char *line = crr_json_dumps(&e->base, 0);
        crr_codec_free(&e->base);
        if (!line)
            return crr_cli_fail(S_CMD, "out of memory writing event %llu",
                                (unsigned long long)i + 1);
        int bad = fputs(line, stdout) == EOF || putchar('\n') == EOF;
        free(line);
        if (bad)
            return crr_cli_fail(S_CMD, "writing to stdout: %s", strerror(errno));
    }
    if (fflush(stdout) != 0)
        return crr_cli_fail(S_CMD, "writing to stdout: %s", strerror(errno));
    return CRR_EXIT_OK;
}

/* The occurred_at window [*start, *end) from --start / --days and --end.
 * Returns CRR_EXIT_OK or a usage exit code (the message printed). */
static int s_window(const char *start_s, const char *end_s, uint64_t days, int64_t *start,
                    int64_t *end)
{
    *end = crr_clock_now_sec();
    if (end_s && s_time(end_s, 0, end) != 0)
        return crr_cli_usage(S_CMD, "--end '%s' is not an RFC 3339 time or YYYY-MM-DD date", end_s);
    if (start_s && s_time(start_s, 1, start) != 0)
        return crr_cli_usage(S_CMD, "--start '%s' is not an RFC 3339 time or YYYY-MM-DD date",
                             start_s);
    if (!start_s)
        *start = *end - (int64_t)days * CRR_SEC_PER_DAY;
    if (*start >= *end)
        return crr_cli_usage(S_CMD, "--start must be before --end");
    return CRR_EXIT_OK;
}

static int s_has_type(const void *g, int body_case)
{
    return crr_gen_has_type(g, body_case);
}

/* Writes the CSV header and count events of g as CSV rows. Returns an exit code. */
static int s_write_csv(crr_gen_t *g, uint64_t count)
{
    crr_gencsv_t *w = NULL;
    if (crr_gencsv_new(s_has_type, g, &w) != 0)
        return crr_cli_fail(S_CMD, "out of memory");
    int rc = CRR_EXIT_OK, bad = crr_gencsv_header(w, stdout) != 0;
    for (uint64_t i = 0; i < count && !bad && rc == CRR_EXIT_OK; i++) {
        Crrmon__V1__Event *e = NULL;
        int grc = crr_gen_next(g, &e);
        if (grc != 0) {
            rc = crr_cli_fail(S_CMD, "generating event %llu: %s", (unsigned long long)i + 1,
                              crr_strerror(grc));
            break;
        }
        int wrc = crr_gencsv_row(w, e, stdout);
        crr_codec_free(&e->base);
        if (wrc == CRR_EINVAL)
            rc = crr_cli_fail(S_CMD, "event %llu has a body the CSV has no columns for",
                              (unsigned long long)i + 1);
        bad = wrc == EOF;
    }
    crr_gencsv_free(&w);
    if (rc == CRR_EXIT_OK && (bad || fflush(stdout) != 0))
        rc = crr_cli_fail(S_CMD, "writing to stdout: %s", strerror(errno));
    return rc;
}

int crr_cmd_generate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'n'},
        {"seed", required_argument, NULL, 's'},
        {"borough", required_argument, NULL, 'b'},
        {"types", required_argument, NULL, 't'},
        {"start", required_argument, NULL, 'S'},
        {"days", required_argument, NULL, 'd'},
        {"end", required_argument, NULL, 'E'},
        {"source-id", required_argument, NULL, 'i'},
        {"format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t count = 1000, seed = 1, days = S_DEFAULT_DAYS;
    const char *start_s = NULL, *end_s = NULL, *types = NULL, *source_id = NULL;
    int have_days = 0, csv = 0, rc = CRR_EXIT_USAGE;
    crr_gen_t *g = NULL;
    /* Each --borough takes one argv slot, so argc bounds their number. */
    const char **boroughs = calloc((size_t)argc + 1, sizeof *boroughs);
    size_t nboroughs = 0;
    if (!boroughs)
        return crr_cli_fail(S_CMD, "out of memory");

    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'n':
            if (crr_cli_parse_u64(optarg, &count) != 0) {
                rc = crr_cli_usage(S_CMD, "--count needs a whole number, not '%s'", optarg);
                goto fail;
            }
            break;
        case 's':
            if (crr_cli_parse_u64(optarg, &seed) != 0) {
                rc = crr_cli_usage(S_CMD, "--seed needs a whole number, not '%s'", optarg);
                goto fail;
            }
            break;
        case 'b':
            if (crr_borough_index(optarg) < 0) {
                rc = crr_cli_usage(S_CMD,
                                   "--borough '%s' is not a London GSS code "
                                   "(E09000001..E09000033)",
                                   optarg);
                goto fail;
            }
            boroughs[nboroughs++] = optarg;
            break;
        case 't': types = optarg; break;
        case 'S': start_s = optarg; break;
        case 'd':
            if (crr_cli_parse_u64(optarg, &days) != 0 || days == 0 || days > 3660000) {
                rc = crr_cli_usage(S_CMD, "--days needs a whole number of days > 0, not '%s'",
                                   optarg);
                goto fail;
            }
            have_days = 1;
            break;
        case 'E': end_s = optarg; break;
        case 'i': source_id = optarg; break;
        case 'f':
            if (strcmp(optarg, "jsonl") != 0 && strcmp(optarg, "csv") != 0) {
                rc = crr_cli_usage(S_CMD, "--format is jsonl or csv, not '%s'", optarg);
                goto fail;
            }
            csv = strcmp(optarg, "csv") == 0;
            break;
        default: rc = crr_cli_getopt_tail(S_CMD, o, argv, s_usage); goto fail;
        }
    }
    if (optind < argc) {
        rc = crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
        goto fail;
    }
    if (csv && source_id) {
        rc = crr_cli_usage(S_CMD, "--source-id is not a CSV column (the collector sets it)");
        goto fail;
    }
    if (start_s && have_days) {
        rc = crr_cli_usage(S_CMD, "give --start or --days, not both");
        goto fail;
    }

    int64_t start, end;
    if ((rc = s_window(start_s, end_s, days, &start, &end)) != CRR_EXIT_OK)
        goto fail;

    crr_gen_opts_t go = {.seed = seed,
                         .boroughs = nboroughs ? boroughs : NULL,
                         .nboroughs = nboroughs,
                         .start_sec = start,
                         .end_sec = end,
                         .types = types};
    int grc = crr_gen_new(&go, &g);
    if (grc == CRR_EINVAL) {
        /* boroughs and times were checked above, so it is the type list */
        rc = crr_cli_usage(S_CMD, "--types '%s' names an unknown event type (see --help)",
                           types ? types : "");
        goto fail;
    }
    if (grc != 0) {
        rc = crr_cli_fail(S_CMD, "%s", crr_strerror(grc));
        goto fail;
    }
    rc = csv ? s_write_csv(g, count) : s_write(g, count, source_id);
fail:
    crr_gen_destroy(&g);
    free(boroughs);
    return rc;
}
