/* fuzz_jsonl: one input line as the collector and `crrmon send` read it:
 * crr_edge_line (byte-order mark, blank rule, proto3 JSON to Event,
 * validation), as line 1 and as a later line, and each Event back to JSON
 * with and without defaults. Also differential: whatever the streaming fast
 * path (common/jsonfast.h) takes, the jansson path must take too and build
 * the same message, byte for byte; a difference aborts. */
#include "fuzz.h"

#include "codec.h"
#include "edge.h"
#include "json.h"
#include "jsonfast.h"

#include <stdlib.h>
#include <string.h>

/* The fast path against the jansson path alone (crr_json_parse's flags). */
static void s_differential(const uint8_t *data, size_t size)
{
    ProtobufCMessage *fast = NULL, *slow = NULL;
    if (crr_json_fast_parse(&crrmon__v1__event__descriptor, (const char *)data, size, &fast) != 0)
        return;
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    crr_diag_t d;
    crr_diag_clear(&d);
    if (!j || crr_json_to_message(&crrmon__v1__event__descriptor, j, &slow, &d) != 0)
        abort(); /* the fast path took a line the jansson path refuses */
    json_decref(j);
    uint8_t *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    if (crr_codec_pack(fast, &a, &alen) != 0 || crr_codec_pack(slow, &b, &blen) != 0 ||
        alen != blen || memcmp(a, b, alen) != 0)
        abort(); /* the two paths built different messages */
    free(a);
    free(b);
    crr_codec_free(fast);
    crr_codec_free(slow);
}

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
    s_differential(data, size);
    return 0;
}
