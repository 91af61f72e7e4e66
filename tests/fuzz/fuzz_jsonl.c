/* fuzz_jsonl: one input line as the collector and `crrmon send` read it:
 * crr_edge_line (byte-order mark, blank rule, proto3 JSON to Event,
 * validation), as line 1 and as a later line, and each Event back to JSON
 * with and without defaults. */
#include "fuzz.h"

#include "codec.h"
#include "edge.h"
#include "json.h"

#include <stdlib.h>

static void s_one(const uint8_t *data, size_t size, uint64_t lineno)
{
    crr_validate_opts_t vo = {.now_sec = 1772366400, .future_slack_sec = 300, .max_age_days = 395};
    crr_diag_t d;
    Crrmon__V1__Event *e = NULL;
    if (crr_edge_line((const char *)data, size, "fuzz", lineno, &vo, &e, &d) != 0)
        return;
    free(crr_json_dumps(&e->base, CRR_JSON_EMIT_DEFAULTS));
    free(crr_json_dumps(&e->base, CRR_JSON_ORIG_NAMES));
    crr_codec_free(&e->base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_one(data, size, 1);
    s_one(data, size, 2);
    return 0;
}
