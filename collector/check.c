/* check: `crrmon-collector --check FILE...`, the dry run. Reads each input
 * with the run loop's reader (collector/reader.h: same max_line, the last
 * line taken as the files are finished) and the same edge (common/edge.h,
 * common/csvin.h) and validation options, and writes one error report row
 * per problem. Owns nothing else: no spool, no sender, no data folder. */
#include "collector.h"

#include "clock.h"
#include "codec.h"
#include "csvin.h"
#include "edge.h"
#include "errreport.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* Counts of one run. */
typedef struct {
    crr_errreport_t *r;
    uint64_t good, bad; /* records accepted, records (or inputs) with problems */
} s_check_t;

/* One line of input `name` through the edge; counts and reports. quotes:
 * for the start of an over-long line of a CSV input, the quotes the reader
 * counted over all of it (else -1): the record it is in is one reject. */
static int s_check_line(s_check_t *k, crr_csvin_t *csv, const char *name, char *line, size_t len,
                        uint64_t lineno, int64_t quotes, const crr_validate_opts_t *vo)
{
    crr_problems_t p;
    Crrmon__V1__Event *e = NULL;
    int rc = csv && quotes >= 0 ? crr_csvin_toolong(csv, line, len, lineno, (uint64_t)quotes, &p)
             : csv              ? crr_csvin_line(csv, line, len, lineno, vo, &e, &p)
                                : crr_edge_line_all(line, len, name, lineno, vo, &e, &p);
    if (rc == 0) {
        crr_codec_free(&e->base);
        k->good++;
    } else if (rc == CRR_EREJECT || rc == CRR_CSVIN_BADFILE) {
        crr_errreport_add_problems(k->r, &p);
        k->bad++;
    } else if (rc < 0) {
        return rc;
    }
    return rc == CRR_CSVIN_BADFILE ? 1 : 0;
}

/* One input: 0, or a fatal error (out of memory). */
static int s_check_input(s_check_t *k, const crr_collector_cfg_t *cfg, const char *name)
{
    crr_validate_opts_t vo = {
        .now_sec = crr_clock_now_sec(),
        .future_slack_sec = cfg->send.future_slack_ms / 1000,
        .max_age_days = cfg->send.max_age_ms / (CRR_SEC_PER_DAY * 1000),
    };
    crr_reader_t *rd = NULL;
    crr_csvin_t *csv = NULL;
    crr_diag_t d;
    crr_diag_clear(&d);
    snprintf(d.file, sizeof d.file, "%s", name);
    int rc = crr_reader_open(name, (size_t)cfg->send.max_line, &rd);
    if (rc == 0 && crr_csvin_is_csv_name(name))
        rc = crr_csvin_new(name, (size_t)cfg->send.max_line, &csv);
    if (rc) {
        crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "",
                     "cannot open input: %s", crr_strerror(rc));
        crr_errreport_add(k->r, &d, NULL);
        k->bad++;
        crr_reader_close(&rd);
        return 0;
    }
    crr_reader_take_last(rd, 1);
    if (csv)
        crr_reader_count(rd, '"'); /* as the run loop: an over-long line's record */
    for (;;) {
        char *line;
        size_t len;
        int r = crr_reader_next(rd, 1, &line, &len);
        if (r == CRR_READER_EOF || r == CRR_READER_AGAIN)
            break;
        if (r < 0) {
            crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "",
                         "cannot read input: %s", crr_strerror(r));
            crr_errreport_add(k->r, &d, NULL);
            k->bad++;
            break;
        }
        if (r == CRR_READER_TOOLONG && !csv) {
            d.line = (long)crr_reader_line(rd);
            crr_diag_set(&d, CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED, "",
                         "line longer than %llu bytes (collector.max_line)",
                         (unsigned long long)cfg->send.max_line);
            crr_errreport_add(k->r, &d, NULL);
            k->bad++;
            continue;
        }
        int64_t quotes = r == CRR_READER_TOOLONG ? (int64_t)crr_reader_counted(rd) : -1;
        if ((r = s_check_line(k, csv, name, line, len, crr_reader_line(rd), quotes, &vo)) != 0) {
            if (r < 0)
                rc = r;
            break; /* the file is refused as a whole, or out of memory */
        }
    }
    crr_problems_t p;
    if (csv && rc == 0 && crr_csvin_finish(csv, &p) == CRR_EREJECT) {
        crr_errreport_add_problems(k->r, &p);
        k->bad++;
    }
    crr_csvin_free(&csv);
    crr_reader_close(&rd);
    return rc;
}

int crr_collector_check(const crr_collector_cfg_t *cfg, char **inputs, int ninputs)
{
    static char *const stdin_input[] = {"-"};
    if (ninputs == 0) {
        inputs = (char **)stdin_input;
        ninputs = 1;
    }
    const char *out = cfg->errors && cfg->errors[0] ? cfg->errors : "-";
    s_check_t k = {0};
    int rc = crr_errreport_open(out, &k.r);
    if (rc) {
        CRR_ERROR("cannot write the error report %s: %s", out, crr_strerror(rc));
        return CRR_COLLECTOR_EXIT_GAVE_UP;
    }
    for (int i = 0; i < ninputs && rc == 0; i++)
        rc = s_check_input(&k, cfg, inputs[i]);
    int wrc = crr_errreport_close(&k.r);
    if (rc || wrc) {
        CRR_ERROR("check failed: %s", crr_strerror(rc ? rc : wrc));
        return CRR_COLLECTOR_EXIT_GAVE_UP;
    }
    CRR_INFO("check: %llu record(s) good, %llu with problems%s", (unsigned long long)k.good,
             (unsigned long long)k.bad, k.bad ? " (see the error report)" : "");
    return k.bad ? CRR_COLLECTOR_EXIT_REJECTS : CRR_COLLECTOR_EXIT_OK;
}
