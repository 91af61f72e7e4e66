/* edge: one JSON Lines line -> a validated Event (rules in edge.h).
 * Invariants: a line is exactly one of blank, rejected (diag filled) or an
 * Event; the byte-order mark is honoured on line 1 only. No state. */
#include "edge.h"

#include "codec.h"
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define S_BOM "\xEF\xBB\xBF"

/* Bytes of a byte-order mark at the start of line 1 (0 or 3). */
static size_t s_bom(const char *line, size_t len, uint64_t lineno)
{
    if (lineno == 1 && len >= 3 && memcmp(line, S_BOM, 3) == 0)
        return 3;
    return 0;
}

int crr_edge_is_blank(const char *line, size_t len, uint64_t lineno)
{
    for (size_t i = s_bom(line, len, lineno); i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
            return 0;
    return 1;
}

int crr_edge_line(const char *line, size_t len, const char *file, uint64_t lineno,
                  const crr_validate_opts_t *vo, Crrmon__V1__Event **out, crr_diag_t *d)
{
    *out = NULL;
    crr_diag_clear(d);
    snprintf(d->file, sizeof d->file, "%s", file ? file : "");
    d->line = (long)lineno;
    if (crr_edge_is_blank(line, len, lineno))
        return CRR_EDGE_BLANK;
    size_t skip = s_bom(line, len, lineno);
    ProtobufCMessage *m = NULL;
    int rc = crr_json_parse(&crrmon__v1__event__descriptor, line + skip, len - skip, &m, d);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        if (!d->code)
            d->code = CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED;
        return CRR_EREJECT;
    }
    Crrmon__V1__Event *e = (Crrmon__V1__Event *)m;
    if (crr_validate_event(e, vo, d)) {
        crr_codec_free(m);
        return CRR_EREJECT;
    }
    *out = e;
    return 0;
}
