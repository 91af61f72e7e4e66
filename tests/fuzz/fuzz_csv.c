/* fuzz_csv: bytes as a CSV input, fed the way the collector feeds it
 * (common/csvin.h): split into physical lines, each given to crr_csvin_line,
 * then crr_csvin_finish; as a file with a `type` column (the input's own
 * header) and as `stop_search.csv` (type from the name); a line longer than
 * S_MAX_LINE is given as the collector's reader gives an over-long one (its
 * first 200 bytes and its quote count, crr_csvin_toolong). Also the JSON Lines
 * edge's every-problem path (crr_edge_line_all) on each line.
 * Differential: each input goes through two readers, one with the fast path
 * (common/csvfast.h, the default) and one sending every record the jansson
 * way; their answers, every problem (file, line, field, code, reason, value)
 * and their Events byte for byte must be equal, or the target aborts. */
#include "fuzz.h"

#include "codec.h"
#include "csvin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_LINE 1024 /* the collector.max_line of this target */

/* How many '"' s[0..n) holds. */
static uint64_t s_quotes(const uint8_t *s, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '"';
    return k;
}

/* One physical line to c, as the collector feeds it. */
static int s_line(crr_csvin_t *c, const uint8_t *s, size_t len, uint64_t lineno,
                  const crr_validate_opts_t *vo, Crrmon__V1__Event **e, crr_problems_t *p)
{
    if (len > S_MAX_LINE) {
        *e = NULL;
        return crr_csvin_toolong(c, (const char *)s, 200, lineno, s_quotes(s, len), p);
    }
    return crr_csvin_line(c, (const char *)s, len, lineno, vo, e, p);
}

/* The two readers' answers to one line must be the same. */
static void s_same(int ra, int rb, const crr_problems_t *pa, const crr_problems_t *pb,
                   Crrmon__V1__Event *ea, Crrmon__V1__Event *eb)
{
    if (ra != rb || pa->n != pb->n || pa->more != pb->more || !ea != !eb)
        abort();
    for (size_t i = 0; i < pa->n; i++)
        if (strcmp(pa->d[i].file, pb->d[i].file) != 0 || pa->d[i].line != pb->d[i].line ||
            strcmp(pa->d[i].field, pb->d[i].field) != 0 || pa->d[i].code != pb->d[i].code ||
            strcmp(pa->d[i].reason, pb->d[i].reason) != 0 ||
            strcmp(pa->value[i], pb->value[i]) != 0)
            abort(); /* a problem differs */
    if (ea && pa->d[0].line != pb->d[0].line)
        abort(); /* an Event's line */
    if (!ea)
        return;
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    if (crr_codec_pack(&ea->base, &a, &alen) != 0 || crr_codec_pack(&eb->base, &b, &blen) != 0 ||
        alen != blen || memcmp(a, b, alen) != 0)
        abort(); /* the two paths built different Events */
    free(a);
    free(b);
    crr_codec_free(&ea->base);
    crr_codec_free(&eb->base);
}

static void s_feed(const uint8_t *data, size_t size, const char *name)
{
    crr_validate_opts_t vo = {.now_sec = 1772366400, .future_slack_sec = 300, .max_age_days = 395};
    crr_csvin_t *c = NULL, *slow = NULL;
    if (crr_csvin_new(name, 4096, &c) || crr_csvin_new(name, 4096, &slow)) {
        crr_csvin_free(&c);
        return;
    }
    crr_csvin_set_fast(slow, 0);
    static crr_problems_t p, q;
    uint64_t lineno = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        Crrmon__V1__Event *e = NULL, *f = NULL;
        int rc = s_line(c, data + at, len, ++lineno, &vo, &e, &p);
        int rs = s_line(slow, data + at, len, lineno, &vo, &f, &q);
        if (rc != -ENOMEM && rs != -ENOMEM)
            s_same(rc, rs, &p, &q, e, f);
        Crrmon__V1__Event *j = NULL;
        if (crr_edge_line_all((const char *)data + at, len, name, lineno, &vo, &j, &p) == 0)
            crr_codec_free(&j->base);
        at += len + (nl ? 1 : 0);
    }
    int rc = crr_csvin_finish(c, &p), rs = crr_csvin_finish(slow, &q);
    s_same(rc, rs, &p, &q, NULL, NULL);
    crr_csvin_free(&c);
    crr_csvin_free(&slow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_feed(data, size, "fuzz.csv");
    s_feed(data, size, "/in/stop_search.csv");
    return 0;
}
