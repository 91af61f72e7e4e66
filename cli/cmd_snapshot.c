/* cmd_snapshot: the HTTP client side of POST /api/v1/snapshots. The
 * aggregator answers {"id": ..., "file": ..., "values": N, "deliveries":
 * [...]} at once (?wait=0: once the snapshot is stored); the deliveries
 * still undecided are then followed with GET
 * /api/v1/snapshots/ID/deliveries?wait=S until each is decided or --timeout
 * (default 120 s) is spent. This prints the id, the first file written and
 * one line per sink delivery ("delivery SINK STATE [FILE] [why]": delivered
 * with the file a file sink wrote, failed (retried later by the aggregator),
 * dead, queued (behind an earlier snapshot being retried), or pending (not
 * decided within --timeout: the aggregator goes on; exit 0 still, with a
 * note on stderr)). --as-of DATE is passed as ?as_of=DATE; the aggregator
 * refuses (HTTP 400, exit 64 here) a date it cannot serve, naming the
 * earliest one allowed. The address comes from --http or from the endpoints.json
 * that the aggregator wrote into its data folder. Uses libcurl's easy
 * interface, one handle per request; no state survives the call. An aggregator with TLS and
 * users (docs/OPERATIONS.md "HTTP security") is reached with --http
 * https://HOST:PORT or --cacert FILE, and --user USER (the password from
 * $CRRMON_HTTP_PASSWORD, else one line of stdin; never printed). */
#include "cmd_snapshot.h"

#include "cfg.h"
#include "cli.h"
#include "clock.h"
#include "datadir.h"
#include "err.h"
#include "indicators.h"
#include "json.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CMD "snapshot"
#define S_BODY_MAX (1u << 20)

typedef struct {
    char *buf;  /* answer body, NUL-terminated */
    size_t len; /* bytes in buf */
    int over;   /* the answer passed S_BODY_MAX */
} s_body_t;

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "usage: crrmon snapshot (--http HOST:PORT | --data-dir AGGDIR) [--as-of DATE] [--json]\n"
        "                       [--timeout D] [--user USER] [--cacert FILE]\n\n"
        "Asks a running aggregator to take a snapshot now (POST /api/v1/snapshots), waits\n"
        "until each sink's delivery of it succeeded or failed, and prints its id, the file\n"
        "written and one line per sink: delivery SINK STATE [FILE] [why].\n\n"
        "  --http HOST:PORT  the aggregator's HTTP API address\n"
        "  --data-dir DIR    read the address from DIR/endpoints.json instead\n"
        "  --as-of DATE      a snapshot as of the end of that UTC day (YYYY-MM-DD) or an\n"
        "                    RFC 3339 instant, from every event applied so far whose\n"
        "                    occurred_at falls in its windows; not later than now, nor\n"
        "                    earlier than the kept day buckets serve (the aggregator\n"
        "                    names the earliest date)\n"
        "  --json            print the aggregator's JSON answer as it came\n"
        "  --timeout D       wait at most D in all, for the snapshot and for each sink's\n"
        "                    outcome (default 120s; e.g. 500ms, 2m)\n"
        "  --user USER       HTTP Basic credentials (an admin of the aggregator's users\n"
        "                    file); the password comes from $CRRMON_HTTP_PASSWORD, else\n"
        "                    from one line of stdin\n"
        "  --cacert FILE     speak TLS (as --http https://HOST:PORT does) and trust the\n"
        "                    aggregator's certificate as FILE (PEM) has it\n"
        "  --help            this text\n");
}

static size_t s_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    s_body_t *b = ud;
    size_t n = size * nmemb;
    if (b->len + n > S_BODY_MAX) {
        b->over = 1;
        return 0;
    }
    char *nb = realloc(b->buf, b->len + n + 1);
    if (!nb)
        return 0;
    memcpy(nb + b->len, ptr, n);
    b->buf = nb;
    b->len += n;
    b->buf[b->len] = '\0';
    return n;
}

/* The --user password: $CRRMON_HTTP_PASSWORD, else one line of stdin. 0 or -1. */
static int s_password(char *buf, size_t len)
{
    const char *env = getenv("CRRMON_HTTP_PASSWORD");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return 0;
    }
    if (!fgets(buf, (int)len, stdin))
        return -1;
    buf[strcspn(buf, "\r\n")] = '\0';
    return *buf ? 0 : -1;
}

/* What the command line asked for. */
typedef struct {
    const char *http, *dir, *as_of, *user, *cacert;
    int json_out, tls;
    int64_t timeout_ms;
} s_args_t;

#define S_GO_ON (-1) /* the arguments are fine: carry on */

/* Reads the options into *a. Returns S_GO_ON or the exit code to return now
 * (--help, a usage error). */
static int s_parse_options(int argc, char **argv, s_args_t *a)
{
    static const struct option opts[] = {
        {"http", required_argument, NULL, 'a'},
        {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"timeout", required_argument, NULL, 't'},
        {"as-of", required_argument, NULL, 'o'},
        {"user", required_argument, NULL, 'u'},
        {"cacert", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char expl[600];
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'a': a->http = optarg; break;
        case 'd': a->dir = optarg; break;
        case 'j': a->json_out = 1; break;
        case 'o': {
            int64_t sec;
            int is_date;
            if (crr_as_of_parse(optarg, &sec, &is_date) != 0)
                return crr_cli_usage(S_CMD,
                                     "--as-of needs a date (2026-03-01) or an RFC 3339 instant, "
                                     "not '%s'",
                                     optarg);
            a->as_of = optarg;
            break;
        }
        case 't':
            if (crr_cfg_parse_duration(optarg, &a->timeout_ms) != 0)
                return crr_cli_usage(S_CMD, "--timeout: %s",
                                     crr_cfg_explain_duration(optarg, expl, sizeof expl));
            if (a->timeout_ms <= 0)
                return crr_cli_usage(S_CMD, "--timeout must be more than 0");
            break;
        case 'u': a->user = optarg; break;
        case 'c':
            a->cacert = optarg;
            a->tls = 1;
            break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    return S_GO_ON;
}

/* The URL of POST /api/v1/snapshots into url (len bytes), from --http (an
 * https:// prefix turns TLS on) or --data-dir's endpoints.json. Returns
 * S_GO_ON or the exit code (message printed). */
static int s_snapshots_url(s_args_t *a, char *url, size_t len)
{
    if (a->http && a->dir)
        return crr_cli_conflict(S_CMD, "--http", a->http, "--data-dir", a->dir,
                                "where the aggregator is", "ask the address given",
                                "read the address from its endpoints.json");
    if (!a->http && !a->dir)
        return crr_cli_usage(S_CMD, "give exactly one of --http HOST:PORT and --data-dir DIR");
    char addr[512];
    if (a->dir) {
        int rc = crr_cli_endpoint(a->dir, "http", addr, sizeof addr);
        if (rc)
            return crr_cli_config(
                S_CMD, "cannot read the HTTP address from %s/" CRR_DATADIR_ENDPOINTS ": %s", a->dir,
                crr_strerror(rc));
    } else {
        const char *http = a->http;
        if (strncmp(http, "http://", 7) == 0)
            http += 7;
        else if (strncmp(http, "https://", 8) == 0) {
            http += 8;
            a->tls = 1;
        }
        snprintf(addr, sizeof addr, "%s", http);
        size_t n = strlen(addr);
        while (n > 0 && addr[n - 1] == '/')
            addr[--n] = '\0';
        if (!*addr || !strchr(addr, ':'))
            return crr_cli_usage(S_CMD, "--http needs HOST:PORT, not '%s'", http);
    }
    snprintf(url, len, "%s://%s/api/v1/snapshots", a->tls ? "https" : "http", addr);
    return S_GO_ON;
}

/* What every request sets: the answer into body, errors into errbuf, the
 * timeout, no proxy, TLS trust and Basic credentials. */
static void s_common(CURL *c, const s_args_t *a, const char *pass, s_body_t *body, char *errbuf,
                     int64_t timeout_ms)
{
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 10000 ? timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (a->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, a->cacert);
    if (a->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, a->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    }
}

/* Sets up c for the POST to url (with ?as_of= when asked; url has room for
 * it, ulen bytes) answering into body, errors into errbuf. hdrs: the header
 * list to free after the request. Returns 0, or -1 out of memory (printed). */
static int s_prepare(CURL *c, const s_args_t *a, const char *pass, char *url, size_t ulen,
                     s_body_t *body, char *errbuf, struct curl_slist **hdrs)
{
    if (a->as_of) {
        char *esc = curl_easy_escape(c, a->as_of, 0);
        if (!esc) {
            crr_cli_fail(S_CMD, "out of memory");
            return -1;
        }
        size_t ul = strlen(url);
        snprintf(url + ul, ulen - ul, "?as_of=%s", esc);
        curl_free(esc);
    }
    size_t ul = strlen(url); /* answered once stored: the deliveries are followed (s_follow) */
    snprintf(url + ul, ulen - ul, "%swait=0", a->as_of ? "&" : "?");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 2L);
    *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    s_common(c, a, pass, body, errbuf, a->timeout_ms);
    return 0;
}

/* Milliseconds left until deadline (monotonic ms), at least 1. */
static int64_t s_left(uint64_t deadline)
{
    uint64_t now = crr_clock_mono_ms();
    return now < deadline ? (int64_t)(deadline - now) : 1;
}

/* How many deliveries of ans are still undecided ("pending"). */
static size_t s_undecided(json_t *ans)
{
    size_t k, n = 0;
    json_t *dv;
    json_array_foreach(json_object_get(ans, "deliveries"), k, dv)
    {
        const char *st = json_string_value(json_object_get(dv, "state"));
        n += st && strcmp(st, "pending") == 0;
    }
    return n;
}

/* Follows the deliveries of snapshot id (ans's) with GET
 * base/ID/deliveries?wait=S until none is undecided or deadline passes,
 * replacing ans's "deliveries" (and "file": the first file written) with
 * the latest answer. A failed GET ends the wait (printed); the snapshot is
 * taken either way. */
static void s_follow(const s_args_t *a, const char *pass, const char *base, const char *id,
                     uint64_t deadline, json_t *ans)
{
    while (s_undecided(ans)) {
        int64_t left = s_left(deadline), wait = left / 1000 - 1; /* a second for the answer */
        if (wait < 1)
            break; /* never a wait of 0: that would ask again and again */
        char url[1200], errbuf[CURL_ERROR_SIZE] = "";
        snprintf(url, sizeof url, "%s/%s/deliveries?wait=%lld", base, id,
                 (long long)(wait > 60 ? 60 : wait));
        s_body_t body = {0};
        CURL *c = curl_easy_init();
        if (!c)
            break;
        curl_easy_setopt(c, CURLOPT_URL, url);
        s_common(c, a, pass, &body, errbuf, left);
        CURLcode cc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(c);
        json_t *got = cc == CURLE_OK && status == 200 && body.buf
                          ? json_loadb(body.buf, body.len, 0, NULL)
                          : NULL;
        json_t *dl = json_object_get(got, "deliveries");
        if (!json_is_array(dl)) {
            fprintf(stderr, "crrmon " S_CMD ": cannot follow the deliveries at %s: %s\n", url,
                    cc != CURLE_OK ? (errbuf[0] ? errbuf : curl_easy_strerror(cc))
                                   : (body.buf ? body.buf : "(no body)"));
            json_decref(got);
            free(body.buf);
            break;
        }
        json_object_set(ans, "deliveries", dl);
        json_decref(got);
        free(body.buf);
    }
    size_t k;
    json_t *dv;
    const char *file = "";
    json_array_foreach(json_object_get(ans, "deliveries"), k, dv)
    {
        const char *f = json_string_value(json_object_get(dv, "file"));
        if (f && *f && !*file)
            file = f;
    }
    if (json_array_size(json_object_get(ans, "deliveries")))
        json_object_set_new(ans, "file", json_string(file));
}

/* Prints the aggregator's answer ans (id, file, values; or the JSON itself
 * with json_out) whose id is id. Returns the exit code. */
static int s_print_answer(json_t *ans, const char *id, int json_out)
{
    if (json_out) {
        char *text = crr_json_dump_checked(ans, JSON_COMPACT);
        if (text)
            puts(text);
        free(text);
    } else {
        const char *file = json_string_value(json_object_get(ans, "file"));
        json_t *vals = json_object_get(ans, "values");
        printf("id %s\n", id);
        printf("file %s\n", file ? file : "-");
        if (json_is_integer(vals))
            printf("values %lld\n", (long long)json_integer_value(vals));
        else if (json_is_array(vals))
            printf("values %zu\n", json_array_size(vals));
        size_t k; /* one line per sink: delivered, failed, dead, queued or pending */
        json_t *dv;
        json_array_foreach(json_object_get(ans, "deliveries"), k, dv)
        {
            const char *err = json_string_value(json_object_get(dv, "error"));
            const char *f = json_string_value(json_object_get(dv, "file"));
            printf("delivery %s %s%s%s%s%s\n", json_string_value(json_object_get(dv, "sink")),
                   json_string_value(json_object_get(dv, "state")), f && *f ? " " : "", f ? f : "",
                   err && *err ? " " : "", err ? err : "");
        }
    }
    if (fflush(stdout) != 0)
        return crr_cli_fail(S_CMD, "write error on stdout");
    return CRR_EXIT_OK;
}

/* POSTs to url with the password pass (when a->user) and prints the answer.
 * Returns the exit code (64 for HTTP 400: a date the aggregator cannot serve). */
static int s_request(const s_args_t *a, char *pass, char *url, size_t ulen)
{
    uint64_t deadline = crr_clock_mono_ms() + (uint64_t)a->timeout_ms;
    char base[800];
    snprintf(base, sizeof base, "%s", url); /* before ?as_of= */
    int exit_code = CRR_EXIT_FAIL;
    s_body_t body = {0};
    json_t *ans = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    if (!c) {
        crr_cli_fail(S_CMD, "cannot initialise libcurl");
        goto fail;
    }
    if (s_prepare(c, a, pass, url, ulen, &body, errbuf, &hdrs) != 0)
        goto fail;
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        crr_cli_fail(S_CMD, "cannot reach the aggregator at %s: %s", url,
                     body.over ? "answer too large"
                               : (errbuf[0] ? errbuf : curl_easy_strerror(cc)));
        goto fail;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_error_t jerr;
    ans = body.buf ? json_loadb(body.buf, body.len, 0, &jerr) : NULL;
    if (status < 200 || status > 299) {
        const char *msg = ans ? json_string_value(json_object_get(ans, "error")) : NULL;
        crr_cli_fail(S_CMD, "the aggregator at %s answered HTTP %ld: %s", url, status,
                     msg ? msg : (body.buf ? body.buf : "(no body)"));
        if (status == 400)
            exit_code = CRR_EXIT_USAGE; /* a date it cannot serve */
        goto fail;
    }
    const char *id = ans ? json_string_value(json_object_get(ans, "id")) : NULL;
    if (!id) {
        crr_cli_fail(S_CMD, "the aggregator's answer carries no snapshot id: %s",
                     body.buf ? body.buf : "(no body)");
        goto fail;
    }
    s_follow(a, pass, base, id, deadline, ans);
    size_t open = s_undecided(ans);
    exit_code = s_print_answer(ans, id, a->json_out);
    if (open)
        fprintf(stderr,
                "crrmon " S_CMD ": %zu delivery(ies) of snapshot %s not decided within the "
                "timeout; the aggregator goes on with them (crrmon status, crrmon snapshots)\n",
                open, id);
fail:
    explicit_bzero(pass, strlen(pass));
    json_decref(ans);
    free(body.buf);
    if (c)
        curl_easy_cleanup(c);
    return exit_code;
}

int crr_cmd_snapshot(int argc, char **argv)
{
    s_args_t a = {.timeout_ms = 120000};
    char url[800];
    int rc = s_parse_options(argc, argv, &a);
    if (rc == S_GO_ON)
        rc = s_snapshots_url(&a, url, sizeof url);
    if (rc != S_GO_ON)
        return rc;
    char pass[1024] = "";
    if (a.user && s_password(pass, sizeof pass))
        return crr_cli_fail(S_CMD,
                            "--user %s needs a password: set CRRMON_HTTP_PASSWORD or give "
                            "it as one line on stdin",
                            a.user);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return crr_cli_fail(S_CMD, "cannot initialise libcurl");
    int exit_code = s_request(&a, pass, url, sizeof url);
    explicit_bzero(pass, sizeof pass);
    curl_global_cleanup();
    return exit_code;
}
