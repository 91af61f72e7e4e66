/* webhook: the HTTP sink (libcurl). Each snapshot is one POST of its proto3
 * JSON (crr_json_dumps with CRR_JSON_EMIT_DEFAULTS: the whole Snapshot,
 * values included, as docs/DOMAIN.md describes it) to `url` (or, with
 * `body = jsonl`, the bytes of its JSON Lines file as application/x-ndjson), with
 *   Content-Type: application/json
 *   Authorization: Bearer <the first line of token_file>   (when token_file is set)
 *   Idempotency-Key: <snapshot id>
 * so that a receiver can drop a delivery it already has (a retry after a lost
 * answer, or after a crash between the POST and its outcome record).
 * Outcome: 2xx is delivered; 4xx other than 408 and 429 is refused for good
 * (CRR_SINK_FATAL: the delivery is dead at once, the answer's first bytes in
 * the error); anything else (5xx, 408, 429, no connection, a timeout) is
 * CRR_SINK_RETRY. Redirects are not followed.
 *
 * The token is read at open (a reload reads it again) and never logged; the
 * URL is logged without its query string. Threading: an instance is used by
 * one thread at a time (the aggregator's delivery thread); curl's signal use
 * is off (CURLOPT_NOSIGNAL). */
#include "filesink.h"

#include "json.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *url;        /* where to POST */
    char *token_file; /* bearer token file ("" = no Authorization header) */
    int64_t timeout;  /* ms for the whole request */
    char *body;       /* "json" (the proto3 JSON Snapshot) or "jsonl" (jsonl's file) */
} s_config_t;

static const crr_cfg_entry_t s_config_map[] = {
    {"sink.webhook", "url", CRR_CFG_STR, "", 0, 0, offsetof(s_config_t, url), NULL,
     "URL each snapshot is POSTed to as proto3 JSON (http:// or https://; required)"},
    {"sink.webhook", "token_file", CRR_CFG_STR, "", 0, 0, offsetof(s_config_t, token_file), NULL,
     "file whose first line is sent as 'Authorization: Bearer TOKEN' (\"\" = none; never logged)"},
    {"sink.webhook", "timeout", CRR_CFG_DURATION, "30s", 100, 3600000,
     offsetof(s_config_t, timeout), NULL, "time allowed for one POST, connection included"},
    {"sink.webhook", "body", CRR_CFG_STR, "json", 0, 0, offsetof(s_config_t, body), NULL,
     "json: the snapshot's proto3 JSON (application/json); jsonl: the JSON Lines file's bytes "
     "(application/x-ndjson)"},
    CRR_CFG_END,
};

typedef struct {
    char *url;        /* copied */
    char *auth;       /* "Authorization: Bearer ..." or NULL */
    long timeout_ms;  /* CURLOPT_TIMEOUT_MS */
    int jsonl;        /* body = jsonl */
    char answer[256]; /* the first bytes of the last answer (errors) */
    size_t alen;
} s_state_t;

/* The first line of path into a malloc'd "Authorization: Bearer ..." header. */
static int s_read_token(const char *path, char **out, crr_diag_t *d)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        crr_diag_set(d, 0, "token_file", "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    char line[4096];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[ok ? strcspn(line, "\r\n") : 0] = '\0';
    if (!line[0]) {
        crr_diag_set(d, 0, "token_file", "%s holds no token on its first line", path);
        return CRR_ECONFIG;
    }
    size_t n = strlen(line) + 32;
    if (!(*out = malloc(n)))
        return -ENOMEM;
    snprintf(*out, n, "Authorization: Bearer %s", line);
    memset(line, 0, sizeof line);
    return 0;
}

static int s_open(const crr_sink_section_t *section, void **state, crr_diag_t *d)
{
    const s_config_t *cfg = section->config;
    if (!cfg || !cfg->url ||
        (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0)) {
        crr_diag_set(d, 0, "url", "[sink.%s] url needs an http:// or https:// URL", section->name);
        return CRR_ECONFIG;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        crr_diag_set(d, 0, "", "libcurl does not initialise");
        return -ENOMEM;
    }
    s_state_t *st = calloc(1, sizeof *st);
    if (!st || !(st->url = strdup(cfg->url))) {
        free(st);
        return -ENOMEM;
    }
    st->timeout_ms = (long)cfg->timeout;
    st->jsonl = cfg->body && strcmp(cfg->body, "jsonl") == 0;
    if (cfg->body && *cfg->body && !st->jsonl && strcmp(cfg->body, "json") != 0) {
        crr_diag_set(d, 0, "body", "[sink.%s] body is json or jsonl, not '%s'", section->name,
                     cfg->body);
        free(st->url);
        free(st);
        return CRR_ECONFIG;
    }
    if (cfg->token_file && *cfg->token_file) {
        int rc = s_read_token(cfg->token_file, &st->auth, d);
        if (rc) {
            free(st->url);
            free(st);
            return rc;
        }
    }
    *state = st;
    return 0;
}

static size_t s_keep_answer(char *ptr, size_t size, size_t nmemb, void *ud)
{
    s_state_t *st = ud;
    size_t n = size * nmemb, room = sizeof st->answer - 1 - st->alen;
    memcpy(st->answer + st->alen, ptr, n < room ? n : room);
    st->alen += n < room ? n : room;
    st->answer[st->alen] = '\0';
    return n;
}

static int s_write(void *state, const Crrmon__V1__Snapshot *s, crr_diag_t *d)
{
    s_state_t *st = state;
    char *body = NULL;
    size_t blen = 0;
    if (st->jsonl) {
        if (crr_sink_jsonl_render(s, &body, &blen) != 0)
            body = NULL;
    } else if ((body = crr_json_dumps(&s->base, CRR_JSON_EMIT_DEFAULTS)) != NULL) {
        blen = strlen(body);
    }
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL, *h2;
    char key[200];
    snprintf(key, sizeof key, "Idempotency-Key: %.160s", s->id);
    int ok = body && c;
    if (ok && (h2 = curl_slist_append(h, st->jsonl ? "Content-Type: application/x-ndjson"
                                                   : "Content-Type: application/json")) != NULL)
        h = h2;
    if (ok && (h2 = curl_slist_append(h, key)) != NULL)
        h = h2;
    if (ok && st->auth && (h2 = curl_slist_append(h, st->auth)) != NULL)
        h = h2;
    if (!ok || !h) {
        free(body);
        curl_slist_free_all(h);
        if (c)
            curl_easy_cleanup(c);
        crr_diag_set(d, 0, "", "out of memory building the request");
        return CRR_SINK_RETRY;
    }
    st->alen = 0;
    st->answer[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, st->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, st->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_keep_answer);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, st);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(body);
    char where[160];
    snprintf(where, sizeof where, "%.*s", (int)strcspn(st->url, "?#"), st->url);
    if (cc != CURLE_OK) {
        crr_diag_set(d, 0, "", "POST %s: %s", where, curl_easy_strerror(cc));
        return CRR_SINK_RETRY;
    }
    if (status >= 200 && status < 300)
        return CRR_SINK_OK;
    crr_diag_set(d, 0, "", "POST %s answered %ld: %.200s", where, status, st->answer);
    return status >= 400 && status < 500 && status != 408 && status != 429 ? CRR_SINK_FATAL
                                                                           : CRR_SINK_RETRY;
}

static void s_close(void **state)
{
    s_state_t *st = *state;
    if (st) {
        if (st->auth) {
            memset(st->auth, 0, strlen(st->auth));
            free(st->auth);
        }
        free(st->url);
        free(st);
        curl_global_cleanup();
    }
    *state = NULL;
}

const crr_sink_ops_t crr_sink_webhook = {
    .name = "webhook",
    .description = "HTTP POST of each snapshot's proto3 JSON, bearer token, Idempotency-Key",
    .config_map = s_config_map,
    .config_size = sizeof(s_config_t),
    .open = s_open,
    .write = s_write,
    .locate = NULL,
    .close = s_close,
};
