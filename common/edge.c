/* edge: one JSON Lines line -> a validated Event (rules in edge.h).
 * Invariants: a line is exactly one of blank, rejected (diag filled) or an
 * Event; the byte-order mark is honoured on line 1 only. No state. */
#include "edge.h"

#include "codec.h"
#include "json.h"

#include <errno.h>
#include <stdarg.h>
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

void crr_problems_clear(crr_problems_t *p)
{
    p->n = p->more = 0;
}

int crr_problems_add(crr_problems_t *p, const char *file, uint64_t line, int code,
                     const char *field, const char *value, const char *fmt, ...)
{
    if (p->n >= CRR_EDGE_MAX_PROBLEMS) {
        p->more++;
        return CRR_EREJECT;
    }
    crr_diag_t *d = &p->d[p->n];
    crr_diag_clear(d);
    snprintf(d->file, sizeof d->file, "%s", file ? file : "");
    d->line = (long)line;
    d->code = code;
    snprintf(d->field, sizeof d->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason, sizeof d->reason, fmt, ap);
    va_end(ap);
    snprintf(p->value[p->n], sizeof p->value[0], "%s", value ? value : "");
    p->n++;
    return CRR_EREJECT;
}

int crr_edge_line_all(const char *line, size_t len, const char *file, uint64_t lineno,
                      const crr_validate_opts_t *vo, Crrmon__V1__Event **out, crr_problems_t *p)
{
    crr_problems_clear(p);
    int rc = crr_edge_line(line, len, file, lineno, vo, out, &p->d[0]);
    if (rc != CRR_EREJECT)
        return rc;
    p->value[0][0] = '\0';
    p->n = 1;
    if (p->d[0].code == CRRMON__V1__REJECT_CODE__REJECT_CODE_MALFORMED && !p->d[0].field[0])
        return rc; /* not JSON (or not an Event): nothing more to check */
    /* The line maps to an Event: parse again and list every rule it breaks. */
    size_t skip = s_bom(line, len, lineno);
    ProtobufCMessage *m = NULL;
    crr_diag_t tmp;
    crr_diag_clear(&tmp);
    if (crr_json_parse(&crrmon__v1__event__descriptor, line + skip, len - skip, &m, &tmp) != 0)
        return rc; /* a mapping error: the one problem */
    size_t n = 0;
    (void)crr_validate_event_all((Crrmon__V1__Event *)m, vo, p->d, CRR_EDGE_MAX_PROBLEMS, &n);
    crr_codec_free(m);
    p->n = n < CRR_EDGE_MAX_PROBLEMS ? n : CRR_EDGE_MAX_PROBLEMS;
    p->more = n - p->n;
    for (size_t i = 0; i < p->n; i++)
        p->value[i][0] = '\0';
    return rc;
}
