/* fuzz_csv: bytes as a CSV input, fed the way the collector feeds it
 * (common/csvin.h): split into physical lines, each given to crr_csvin_line,
 * then crr_csvin_finish; as a file with a `type` column (the input's own
 * header) and as `stop_search.csv` (type from the name). Also the JSON Lines
 * edge's every-problem path (crr_edge_line_all) on each line. */
#include "fuzz.h"

#include "codec.h"
#include "csvin.h"

#include <string.h>

static void s_feed(const uint8_t *data, size_t size, const char *name)
{
    crr_validate_opts_t vo = {.now_sec = 1772366400, .future_slack_sec = 300, .max_age_days = 395};
    crr_csvin_t *c = NULL;
    if (crr_csvin_new(name, 4096, &c))
        return;
    crr_problems_t p;
    uint64_t lineno = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        Crrmon__V1__Event *e = NULL;
        int rc = crr_csvin_line(c, (const char *)data + at, len, ++lineno, &vo, &e, &p);
        if (rc == 0)
            crr_codec_free(&e->base);
        Crrmon__V1__Event *j = NULL;
        if (crr_edge_line_all((const char *)data + at, len, name, lineno, &vo, &j, &p) == 0)
            crr_codec_free(&j->base);
        at += len + (nl ? 1 : 0);
    }
    (void)crr_csvin_finish(c, &p);
    crr_csvin_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_feed(data, size, "fuzz.csv");
    s_feed(data, size, "/in/stop_search.csv");
    return 0;
}
