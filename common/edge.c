/* edge: one JSON Lines line -> a validated Event (rules in edge.h).
 * Invariants: a line is exactly one of blank, rejected (diag filled) or an
 * Event; the byte-order mark is honoured on line 1 only. No state. */
#include "edge.h"

#include "codec.h"
#include "json.h"

#include <jansson.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* obj's member named `name` in snake_case or its lowerCamelCase spelling. */
static json_t *s_member(json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    if (v || !strchr(name, '_'))
        return v;
    char camel[128];
    size_t o = 0;
    for (const char *c = name; *c && o + 1 < sizeof camel; c++) {
        if (*c == '_' && c[1]) {
            c++;
            camel[o++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        } else {
            camel[o++] = *c;
        }
    }
    camel[o] = '\0';
    return json_object_get(obj, camel);
}

/* Fills p->value[i] with the JSON value each problem's field names in the
 * line ("stop_search.outcome": line.stopSearch.outcome), as written: a string
 * without its quotes, anything else in compact JSON; "" when absent. */
static void s_values(const char *text, size_t len, crr_problems_t *p)
{
    json_t *root = json_loadb(text, len, 0, NULL);
    for (size_t i = 0; i < p->n; i++) {
        p->value[i][0] = '\0';
        char path[sizeof p->d[0].field];
        snprintf(path, sizeof path, "%s", p->d[i].field);
        json_t *v = root;
        for (char *save = NULL, *part = strtok_r(path, ".", &save); v && part;
             part = strtok_r(NULL, ".", &save))
            v = json_is_object(v) ? s_member(v, part) : NULL;
        if (!v || v == root)
            continue;
        if (json_is_string(v)) {
            snprintf(p->value[i], sizeof p->value[i], "%s", json_string_value(v));
        } else {
            char *dump = crr_json_dump_checked(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (dump)
                snprintf(p->value[i], sizeof p->value[i], "%s", dump);
            free(dump);
        }
    }
    json_decref(root);
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
    if (n == 0)
        n = 1; /* cannot be: the first check failed; keep its diag */
    p->n = n < CRR_EDGE_MAX_PROBLEMS ? n : CRR_EDGE_MAX_PROBLEMS;
    p->more = n - p->n;
    s_values(line + skip, len - skip, p);
    return rc;
}
