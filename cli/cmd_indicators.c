/* cmd_indicators: prints the indicator catalogue compiled into crrmon, so an
 * operator can find the names `crrmon query --indicator` takes and what each
 * one means. Reads only static data. */
#include "cmd_indicators.h"

#include "cli.h"
#include "indicators.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define S_CMD "indicators"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: crrmon indicators [--json]\n\n"
            "Lists the indicator catalogue: name, statistic (C count, P proportion, W weighted\n"
            "proportion, M mean, R rate per 1,000, RR rate ratio, V plain value), dimensions,\n"
            "the event type it reads, and what it means.\n\n"
            "  --json  one JSON object per indicator, per line\n"
            "  --help  this text\n");
}

int crr_cmd_indicators(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int json_out = 0, o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'j': json_out = 1; break;
        case 'h': s_usage(stdout); return CRR_EXIT_OK;
        case ':': return crr_cli_usage(S_CMD, "%s needs a value", argv[optind - 1]);
        default: return crr_cli_usage(S_CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);

    size_t n = 0;
    const crr_indicator_info_t *cat = crr_indicators_catalogue(&n);
    crr_cli_table_t *t = NULL;
    int failed = 0;
    if (!json_out) {
        const char *hdr[5] = {"indicator", "stat", "dims", "event type", "description"};
        if (crr_cli_table_new(5, hdr, &t) != 0)
            return crr_cli_fail(S_CMD, "out of memory");
    }
    for (size_t i = 0; i < n && !failed; i++) {
        const crr_indicator_info_t *c = &cat[i];
        if (json_out) {
            json_t *j =
                json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", c->name, "stat",
                          crr_stat_name(c->stat), "dims", c->dims, "eventType",
                          c->event_type ? c->event_type : "", "description", c->description);
            char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
            failed = !text || puts(text) == EOF;
            free(text);
            json_decref(j);
        } else {
            const char *cells[5] = {c->name, crr_stat_name(c->stat), *c->dims ? c->dims : "-",
                                    c->event_type, c->description};
            failed = crr_cli_table_add(t, cells) != 0;
        }
    }
    if (t && !failed)
        crr_cli_table_print(t, stdout, 0);
    crr_cli_table_destroy(&t);
    if (failed || fflush(stdout) != 0)
        return crr_cli_fail(S_CMD, "write error on stdout (or out of memory)");
    return CRR_EXIT_OK;
}
