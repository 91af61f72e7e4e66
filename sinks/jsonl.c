/* jsonl: the JSON Lines file sink (an embedded default).
 *
 * One file per snapshot, DIR/NAME, where DIR is the sink's `dir` or else the
 * aggregator's snapshot folder and NAME its `file_name` template, by default
 * {schedule}-{as_of}-{id}.jsonl (filesink.h). Layout (docs/DOMAIN.md,
 * "Snapshot"): one header line holding every Snapshot field but `values`,
 * then one line per IndicatorValue; every field written with its default
 * (CRR_JSON_EMIT_DEFAULTS: "n":"0", "reliable":false), absent wrappers left
 * out, proto3 JSON names (windowDays, ciLow). The file is built in memory and
 * written as temp + fsync + rename, so a reader never sees half a snapshot
 * and writing the same id again is harmless (idempotent).
 *
 * Threading: an instance is used by one thread at a time. Keeps no state but
 * its folder. */
#include "filesink.h"

#include "json.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char *dir;       /* output folder; empty = the host's snapshot folder */
    char *file_name; /* file-name template; empty = {schedule}-{as_of}-{id}.jsonl */
    int latest;      /* also keep <schedule>-latest.jsonl */
} s_config_t;

static const crr_cfg_entry_t s_config_map[] = {
    {"sink.jsonl", "dir", CRR_CFG_STR, "", 0, 0, offsetof(s_config_t, dir), NULL,
     "folder for the snapshot files (default: the aggregator's snapshot_dir)"},
    {"sink.jsonl", "file_name", CRR_CFG_STR, "{schedule}-{as_of}-{id}.jsonl", 0, 0,
     offsetof(s_config_t, file_name), NULL,
     "file-name template: " CRR_FILESINK_PLACEHOLDERS " and [A-Za-z0-9._-]; must hold {id}"},
    {"sink.jsonl", "latest", CRR_CFG_BOOL, "true", 0, 0, offsetof(s_config_t, latest), NULL,
     "also keep <schedule>-latest.jsonl, replaced atomically by each scheduled snapshot"},
    CRR_CFG_END,
};

static int s_open(const crr_sink_section_t *section, void **state, crr_diag_t *d)
{
    const s_config_t *cfg = section->config;
    crr_filesink_opts_t o = {cfg ? cfg->dir : NULL, cfg ? cfg->file_name : NULL,
                             cfg ? cfg->latest : 0, "sink.jsonl", "jsonl"};
    return crr_filesink_open(section, &o, state, d);
}

/* Appends one JSON object as a line; returns 0 or -ENOMEM / -EIO. */
static int s_put_line(FILE *out, json_t *obj)
{
    if (!obj)
        return -ENOMEM;
    char *text = crr_json_dump_checked(obj, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(obj);
    if (!text)
        return -ENOMEM;
    int rc = fputs(text, out) < 0 || fputc('\n', out) == EOF ? -EIO : 0;
    free(text);
    return rc;
}

int crr_sink_jsonl_render(const Crrmon__V1__Snapshot *s, char **out, size_t *outlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return -ENOMEM;
    /* header: the snapshot without its values */
    Crrmon__V1__Snapshot head = *s;
    head.n_values = 0;
    head.values = NULL;
    json_t *h = crr_json_from_message(&head.base, CRR_JSON_EMIT_DEFAULTS);
    if (h)
        json_object_del(h, "values");
    int rc = s_put_line(mem, h);
    for (size_t i = 0; rc == 0 && i < s->n_values; i++)
        rc = s_put_line(mem, crr_json_from_message(&s->values[i]->base, CRR_JSON_EMIT_DEFAULTS));
    if (fclose(mem) != 0 && rc == 0)
        rc = -ENOMEM;
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int s_write(void *state, const Crrmon__V1__Snapshot *s, crr_diag_t *d)
{
    char *buf = NULL;
    size_t len = 0;
    if (crr_sink_jsonl_render(s, &buf, &len) != 0) {
        crr_diag_set(d, 0, "", "out of memory building snapshot %s", s->id);
        return CRR_SINK_RETRY;
    }
    int rc = crr_filesink_commit(state, s, buf, len, d);
    free(buf);
    return rc;
}

const crr_sink_ops_t crr_sink_jsonl = {
    .name = "jsonl",
    .description = "JSON Lines file per snapshot: a header line, then one line per value",
    .config_map = s_config_map,
    .config_size = sizeof(s_config_t),
    .open = s_open,
    .write = s_write,
    .locate = crr_filesink_locate,
    .close = crr_filesink_close,
};
