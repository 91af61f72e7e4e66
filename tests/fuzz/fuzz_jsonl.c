/* fuzz_jsonl: one input line as a collector reads it: proto3 JSON to Event
 * (with the diag filled on error), validation, and back to JSON with and
 * without defaults. */
#include "fuzz.h"

#include "codec.h"
#include "json.h"
#include "validate.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    crr_diag_t d;
    crr_diag_clear(&d);
    ProtobufCMessage *m = NULL;
    if (crr_json_parse(&crrmon__v1__event__descriptor, (const char *)data, size, &m, &d) != 0)
        return 0;
    crr_validate_opts_t vo = {.now_sec = 1772366400, .future_slack_sec = 300, .max_age_days = 395};
    crr_validate_event((Crrmon__V1__Event *)m, &vo, &d);
    free(crr_json_dumps(m, CRR_JSON_EMIT_DEFAULTS));
    free(crr_json_dumps(m, CRR_JSON_ORIG_NAMES));
    crr_codec_free(m);
    return 0;
}
