/* dashboard: the operators' live dashboard in the browser (issue #10).
 *
 *   GET /                          index.html
 *   GET /static/NAME               a file of aggregator/web/, compiled in at build time
 *                                  (embed_web.cmake -> web_assets.c): no file is read at run
 *                                  time, nothing is fetched from anywhere else
 *   GET /api/v1/dashboard-config   {"staleAfterSeconds":900,"windows":[30,90,365],
 *                                   "headline":[{"indicator","label","stat"}..],
 *                                   "boroughs":[{"code","name"}..33 in code order]}
 *
 * The page (web/dashboard.js) reads the JSON API (/api/v1/indicators,
 * /api/v1/boroughs, /api/v1/series, /api/v1/stats) and follows
 * /api/v1/stream; those are api.c's and stream.c's, not this file's.
 *
 * Owns: the asset table lookup, Content-Type by extension, caching (a strong
 * ETag per file from the build; Cache-Control: no-cache so a browser
 * revalidates, answered 304 while the binary is the same), the security
 * headers of the page (a Content-Security-Policy that lets the page reach
 * its own origin only, nosniff, no framing), the headline indicators (one
 * per family) and [http] stale_after as the page sees it. Does not own:
 * access control (http.c checks the caller's role before routing here: the
 * same reader role as every GET), the JSON API, the stream.
 *
 * Threading: called on libmicrohttpd's connection threads; reads constant
 * data, a->windows (fixed at start) and a->stale_after_ms (an atomic the
 * main thread sets: crr_dashboard_configure). */
#include "aggregator.h"

#include "boroughs.h"
#include "indicators.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#define S_STATIC "/static/"
#define S_CONFIG "/api/v1/dashboard-config"
#define S_CSP                                                                                      \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "                    \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* The headline indicators: one per family, in the table's column order. The
 * page shows their total rows (empty dims) for every configured window. */
static const struct {
    const char *indicator; /* catalogue name */
    const char *label;     /* column heading */
} s_headline[] = {
    {"training.attendance_rate", "Training attendance"},
    {"feedback.overall_mean", "Feedback (mean 1-5)"},
    {"learning.mean_gain", "Learning gain"},
    {"behaviour.compliance", "Behaviour compliance"},
    {"stop_search.rate_per_1000", "Stop and search per 1,000"},
    {"complaints.allegations", "Complaint allegations"},
    {"racist_incidents.per_1000_residents", "Racist incidents per 1,000"},
    {"survey.good_job", "Survey: good job"},
    {"engagement.sessions", "Engagement sessions"},
};

/* Content-Type by the file name's extension. */
static const char *s_type(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".json", "application/json"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

const crr_web_asset_t *crr_web_asset(const char *name)
{
    for (size_t i = 0; i < crr_web_nassets; i++)
        if (strcmp(crr_web_assets[i].name, name) == 0)
            return &crr_web_assets[i];
    return NULL;
}

void crr_dashboard_configure(crr_aggregator_t *a)
{
    atomic_store(&a->stale_after_ms, a->cfg.http_stale_after);
}

int crr_dashboard_owns(const char *url)
{
    return strcmp(url, "/") == 0 || strncmp(url, S_STATIC, strlen(S_STATIC)) == 0 ||
           strcmp(url, S_CONFIG) == 0;
}

/* Queues r (destroyed here) with status; MHD_NO when r is NULL. */
static enum MHD_Result s_queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r)
{
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A JSON answer (body taken over; NULL = out of memory, 500). */
static enum MHD_Result s_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        text = strdup("{\"error\":\"out of memory\"}");
        if (!text)
            return MHD_NO;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    return s_queue(c, status, r);
}

static enum MHD_Result s_error(struct MHD_Connection *c, unsigned status, const char *text)
{
    return s_json(c, status, json_pack("{s:s}", "error", text));
}

/* The catalogue row of name, or NULL. */
static const crr_indicator_info_t *s_info(const char *name)
{
    size_t n = 0;
    const crr_indicator_info_t *cat = crr_indicators_catalogue(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(cat[i].name, name) == 0)
            return &cat[i];
    return NULL;
}

/* GET /api/v1/dashboard-config: what the page needs besides the API. */
static json_t *s_config(crr_aggregator_t *a)
{
    json_t *o = json_object(), *windows = json_array(), *head = json_array(), *bs = json_array();
    if (!o || !windows || !head || !bs) {
        json_decref(o);
        json_decref(windows);
        json_decref(head);
        json_decref(bs);
        return NULL;
    }
    int64_t stale_ms = atomic_load(&a->stale_after_ms);
    json_object_set_new(o, "staleAfterSeconds", json_integer((json_int_t)(stale_ms / 1000)));
    for (size_t i = 0; i < a->nwindows; i++)
        json_array_append_new(windows, json_integer((json_int_t)a->windows[i]));
    json_object_set_new(o, "windows", windows);
    for (size_t i = 0; i < sizeof s_headline / sizeof s_headline[0]; i++) {
        const crr_indicator_info_t *info = s_info(s_headline[i].indicator);
        if (info) /* a catalogue without it (never in this build: test_dashboard checks) */
            json_array_append_new(head, json_pack("{s:s, s:s, s:s}", "indicator", info->name,
                                                  "label", s_headline[i].label, "stat",
                                                  crr_stat_name(info->stat)));
    }
    json_object_set_new(o, "headline", head);
    for (int i = 0; i < CRR_BOROUGHS; i++)
        json_array_append_new(
            bs, json_pack("{s:s, s:s}", "code", crr_borough_code(i), "name", crr_borough_name(i)));
    json_object_set_new(o, "boroughs", bs);
    return o;
}

/* One compiled-in file, or 304 when the browser holds this very one. */
static enum MHD_Result s_asset(struct MHD_Connection *c, const crr_web_asset_t *f)
{
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    int same = inm && strstr(inm, f->etag) != NULL; /* a list, or the one tag */
    struct MHD_Response *r =
        same ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
             : MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "ETag", f->etag);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    if (!same)
        MHD_add_response_header(r, "Content-Type", s_type(f->name));
    if (strcmp(s_type(f->name), "text/html; charset=utf-8") == 0) {
        MHD_add_response_header(r, "Content-Security-Policy", S_CSP);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    }
    return s_queue(c, same ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
}

int crr_dashboard_serve(crr_aggregator_t *a, struct MHD_Connection *c, const char *url,
                        const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen("{\"error\":\"use GET\"}"),
                                                                 (void *)"{\"error\":\"use GET\"}",
                                                                 MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Allow", "GET, HEAD");
        return s_queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
    }
    if (strcmp(url, S_CONFIG) == 0)
        return s_json(c, MHD_HTTP_OK, s_config(a));
    const char *name = strcmp(url, "/") == 0 ? "index.html" : url + strlen(S_STATIC);
    const crr_web_asset_t *f = crr_web_asset(name);
    if (!f)
        return s_error(c, MHD_HTTP_NOT_FOUND, "no such file");
    return s_asset(c, f);
}
