/* cmd_snapshot: the HTTP client side of POST /api/v1/snapshots. The
 * aggregator answers {"id": ..., "file": ..., "values": N}; this prints the
 * id, the file and one line per sink delivery ("delivery SINK STATE [why]",
 * the first outcome of each: delivered, failed (retried later), dead or
 * pending). --as-of DATE is passed as ?as_of=DATE; the aggregator
 * refuses (HTTP 400, exit 64 here) a date it cannot serve, naming the
 * earliest one allowed. The address comes from --http or from the endpoints.json
 * that the aggregator wrote into its data folder. Uses libcurl's easy
 * interface once; no state survives the call. An aggregator with TLS and
 * users (docs/OPERATIONS.md "HTTP security") is reached with --http
 * https://HOST:PORT or --cacert FILE, and --user USER (the password from
 * $CRRMON_HTTP_PASSWORD, else one line of stdin; never printed). */
#include "cmd_snapshot.h"

#include "cfg.h"
#include "cli.h"
#include "datadir.h"
#include "err.h"
#include "indicators.h"

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
        "Asks a running aggregator to take a snapshot now (POST /api/v1/snapshots) and\n"
        "prints its id and the file it was written to.\n\n"
        "  --http HOST:PORT  the aggregator's HTTP API address\n"
        "  --data-dir DIR    read the address from DIR/endpoints.json instead\n"
        "  --as-of DATE      a snapshot as of the end of that UTC day (YYYY-MM-DD) or an\n"
        "                    RFC 3339 instant, from every event applied so far whose\n"
        "                    occurred_at falls in its windows; not later than now, nor\n"
        "                    earlier than the kept day buckets serve (the aggregator\n"
        "                    names the earliest date)\n"
        "  --json            print the aggregator's JSON answer as it came\n"
        "  --timeout D       give up after D (default 60s; e.g. 500ms, 2m)\n"
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

int crr_cmd_snapshot(int argc, char **argv)
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
    const char *http = NULL, *dir = NULL, *as_of = NULL, *user = NULL, *cacert = NULL;
    int json_out = 0, tls = 0;
    char pass[1024] = "";
    int64_t timeout_ms = 60000;
    char expl[600];
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'a': http = optarg; break;
        case 'd': dir = optarg; break;
        case 'j': json_out = 1; break;
        case 'o': {
            int64_t sec;
            int is_date;
            if (crr_as_of_parse(optarg, &sec, &is_date) != 0)
                return crr_cli_usage(S_CMD,
                                     "--as-of needs a date (2026-03-01) or an RFC 3339 instant, "
                                     "not '%s'",
                                     optarg);
            as_of = optarg;
            break;
        }
        case 't':
            if (crr_cfg_parse_duration(optarg, &timeout_ms) != 0)
                return crr_cli_usage(S_CMD, "--timeout: %s",
                                     crr_cfg_explain_duration(optarg, expl, sizeof expl));
            if (timeout_ms <= 0)
                return crr_cli_usage(S_CMD, "--timeout must be more than 0");
            break;
        case 'u': user = optarg; break;
        case 'c':
            cacert = optarg;
            tls = 1;
            break;
        case 'h': s_usage(stdout); return CRR_EXIT_OK;
        case ':': return crr_cli_usage(S_CMD, "%s needs a value", argv[optind - 1]);
        default: return crr_cli_usage(S_CMD, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (http && dir)
        return crr_cli_conflict(S_CMD, "--http", http, "--data-dir", dir, "where the aggregator is",
                                "ask the address given",
                                "read the address from its endpoints.json");
    if (!http && !dir)
        return crr_cli_usage(S_CMD, "give exactly one of --http HOST:PORT and --data-dir DIR");

    char addr[512];
    if (dir) {
        int rc = crr_cli_endpoint(dir, "http", addr, sizeof addr);
        if (rc)
            return crr_cli_config(
                S_CMD, "cannot read the HTTP address from %s/" CRR_DATADIR_ENDPOINTS ": %s", dir,
                crr_strerror(rc));
    } else {
        if (strncmp(http, "http://", 7) == 0)
            http += 7;
        else if (strncmp(http, "https://", 8) == 0) {
            http += 8;
            tls = 1;
        }
        snprintf(addr, sizeof addr, "%s", http);
        size_t n = strlen(addr);
        while (n > 0 && addr[n - 1] == '/')
            addr[--n] = '\0';
        if (!*addr || !strchr(addr, ':'))
            return crr_cli_usage(S_CMD, "--http needs HOST:PORT, not '%s'", http);
    }
    char url[800];
    snprintf(url, sizeof url, "%s://%s/api/v1/snapshots", tls ? "https" : "http", addr);
    if (user && s_password(pass, sizeof pass))
        return crr_cli_fail(S_CMD,
                            "--user %s needs a password: set CRRMON_HTTP_PASSWORD or give "
                            "it as one line on stdin",
                            user);

    int exit_code = CRR_EXIT_FAIL;
    s_body_t body = {0};
    json_t *ans = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return crr_cli_fail(S_CMD, "cannot initialise libcurl");
    CURL *c = curl_easy_init();
    if (!c) {
        crr_cli_fail(S_CMD, "cannot initialise libcurl");
        goto fail;
    }
    if (as_of) {
        char *esc = curl_easy_escape(c, as_of, 0);
        if (!esc) {
            crr_cli_fail(S_CMD, "out of memory");
            goto fail;
        }
        size_t ul = strlen(url);
        snprintf(url + ul, sizeof url - ul, "?as_of=%s", esc);
        curl_free(esc);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 2L);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 10000 ? timeout_ms : 10000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, cacert);
    if (user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
    }
    CURLcode cc = curl_easy_perform(c);
    explicit_bzero(pass, sizeof pass);
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
    if (json_out) {
        char *text = json_dumps(ans, JSON_COMPACT);
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
        size_t k; /* one line per sink: delivered, failed (retried later), dead or pending */
        json_t *dv;
        json_array_foreach(json_object_get(ans, "deliveries"), k, dv)
        {
            const char *err = json_string_value(json_object_get(dv, "error"));
            printf("delivery %s %s%s%s\n", json_string_value(json_object_get(dv, "sink")),
                   json_string_value(json_object_get(dv, "state")), err && *err ? " " : "",
                   err ? err : "");
        }
    }
    if (fflush(stdout) != 0) {
        crr_cli_fail(S_CMD, "write error on stdout");
        goto fail;
    }
    exit_code = CRR_EXIT_OK;
fail:
    json_decref(ans);
    free(body.buf);
    if (c)
        curl_easy_cleanup(c);
    curl_global_cleanup();
    return exit_code;
}
