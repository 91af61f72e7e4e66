/* cli: shared helpers of the `crrmon` subcommands (see cli.h). Stateless. */
#include "cli.h"

#include "err.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int crr_cli_usage(const char *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "crrmon %s: %s\n", cmd, msg);
    fprintf(stderr, "Try 'crrmon %s --help'.\n", cmd);
    return CRR_EXIT_USAGE;
}

int crr_cli_fail(const char *cmd, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "crrmon %s: %s\n", cmd, msg);
    return CRR_EXIT_FAIL;
}

int crr_cli_endpoint(const char *data_dir, const char *key, char *buf, size_t len)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/endpoints.json", data_dir);
    if (n < 0 || (size_t)n >= sizeof path)
        return CRR_ETOOBIG;
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    json_error_t jerr;
    json_t *root = json_loadf(f, 0, &jerr);
    fclose(f);
    if (!root)
        return CRR_EPARSE;
    int rc = 0;
    const char *v = json_string_value(json_object_get(root, key));
    if (!v) {
        rc = CRR_ENOTFOUND;
        goto done;
    }
    if (strcmp(key, "http") == 0 && strncmp(v, "http://", 7) == 0)
        v += 7;
    size_t vlen = strlen(v);
    if (strcmp(key, "http") == 0)
        while (vlen > 0 && v[vlen - 1] == '/')
            vlen--;
    if (vlen >= len) {
        rc = CRR_ETOOBIG;
        goto done;
    }
    memcpy(buf, v, vlen);
    buf[vlen] = '\0';
done:
    json_decref(root);
    return rc;
}

int crr_cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return CRR_EPARSE;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return CRR_EPARSE;
    *out = v;
    return 0;
}

void crr_cli_getopt_reset(void)
{
    /* glibc: optind = 0 makes the next getopt_long reinitialise fully. */
    optind = 0;
    opterr = 0;
}
