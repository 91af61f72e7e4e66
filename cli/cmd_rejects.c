/* cmd_rejects: lists the rejects store (common/rejects.h) of an aggregator's
 * or a collector's data folder, through crr_rejects_list_dir (read-only, one
 * read transaction: a consistent view while the daemon keeps writing). */
#include "cmd_rejects.h"

#include "cli.h"
#include "datadir.h"
#include "err.h"
#include "rejects.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_CMD "rejects"

typedef struct {
    int json;               /* print the stored JSON lines */
    crr_cli_table_t *table; /* table output */
    int rc;                 /* first failure while printing */
} s_ctx_t;

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: crrmon rejects --data-dir DIR [--json] [--limit N]\n\n"
            "Lists rejected events and input lines, with their reasons, from an aggregator's\n"
            "data folder (DIR/store) or a collector's (DIR/spool), whichever exists.\n\n"
            "  --data-dir DIR  the daemon's data folder (read-only access)\n"
            "  --json          print the stored JSON objects, one per line\n"
            "  --limit N       the N most recent rejects, oldest first (default 100; 0 = all)\n"
            "  --help          this text\n");
}

static const char *s_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int s_row(const char *text, size_t len, void *ud)
{
    s_ctx_t *c = ud;
    if (c->json) {
        if (fwrite(text, 1, len, stdout) != len || fputc('\n', stdout) == EOF)
            return c->rc = -1;
        return 0;
    }
    json_t *o = json_loadb(text, len, 0, NULL);
    if (!o) {
        const char *cells[8] = {"?", NULL, NULL, NULL, NULL, NULL, "?", "unreadable record"};
        return crr_cli_table_add(c->table, cells);
    }
    char id[32], where[512];
    snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(o, "id")));
    const char *file = s_str(o, "file");
    json_int_t line = json_integer_value(json_object_get(o, "line"));
    if (file && line > 0)
        snprintf(where, sizeof where, "%s:%lld", file, (long long)line);
    else if (file)
        snprintf(where, sizeof where, "%s", file);
    else
        snprintf(where, sizeof where, "-");
    const char *cells[8] = {id,    s_str(o, "at"),    s_str(o, "source"), s_str(o, "seq"),
                            where, s_str(o, "field"), s_str(o, "code"),   s_str(o, "reason")};
    int rc = crr_cli_table_add(c->table, cells);
    json_decref(o);
    return rc;
}

/* Prints the table (if any) and flushes stdout; the exit code. */
static int s_print(const char *env_dir, s_ctx_t *c)
{
    if (c->table) {
        if (crr_cli_table_rows(c->table) == 0)
            printf("no rejects in %s\n", env_dir);
        else
            crr_cli_table_print(c->table, stdout, 1u << 0 | 1u << 3);
    }
    if (fflush(stdout) != 0) {
        crr_cli_fail(S_CMD, "write error on stdout");
        return CRR_EXIT_FAIL;
    }
    return CRR_EXIT_OK;
}

/* Lists env_dir's rejects (the last limit, 0 = all) as c says; the exit code. */
static int s_list(const char *env_dir, uint64_t limit, s_ctx_t *c)
{
    if (!c->json) {
        const char *hdr[8] = {"id", "at", "source", "seq", "file:line", "field", "code", "reason"};
        if (crr_cli_table_new(8, hdr, &c->table) != 0) {
            crr_cli_fail(S_CMD, "out of memory");
            return CRR_EXIT_FAIL;
        }
    }
    crr_rejects_stage_t stage;
    int rc = crr_rejects_list_dir(env_dir, limit, s_row, c, &stage);
    int exit_code = CRR_EXIT_FAIL;
    if (rc == CRR_ENOTFOUND && stage == CRR_REJECTS_AT_DB) { /* no reject was ever stored */
        if (!c->json)
            printf("no rejects in %s\n", env_dir);
        exit_code = CRR_EXIT_OK;
    } else if (rc && stage == CRR_REJECTS_AT_OPEN) { /* a refused data folder: exit 78 */
        exit_code = crr_cli_config(S_CMD, "cannot open %s: %s", env_dir, crr_strerror(rc));
    } else if (rc && stage == CRR_REJECTS_AT_READ) {
        crr_cli_fail(S_CMD, "cannot read %s: %s", env_dir, crr_strerror(rc));
    } else if (rc && stage == CRR_REJECTS_AT_DB) {
        crr_cli_fail(S_CMD, "cannot open the rejects database in %s: %s", env_dir,
                     crr_strerror(rc));
    } else if (rc || c->rc) {
        crr_cli_fail(S_CMD, "listing rejects failed: %s", rc ? crr_strerror(rc) : "write error");
    } else {
        exit_code = s_print(env_dir, c);
    }
    crr_cli_table_destroy(&c->table);
    return exit_code;
}

int crr_cmd_rejects(int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"limit", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    uint64_t limit = 100;
    s_ctx_t ctx = {0};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'j': ctx.json = 1; break;
        case 'n':
            if (crr_cli_parse_u64(optarg, &limit) != 0)
                return crr_cli_usage(S_CMD, "--limit needs a whole number, not '%s'", optarg);
            break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    if (optind < argc)
        return crr_cli_usage(S_CMD, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return crr_cli_usage(S_CMD, "--data-dir is required");

    char env_dir[4096];
    struct stat st;
    const char *kinds[] = {CRR_DATADIR_STORE, CRR_DATADIR_SPOOL};
    int found = 0;
    for (int i = 0; i < 2 && !found; i++) {
        crr_datadir_path(env_dir, sizeof env_dir, dir, kinds[i]);
        found = stat(env_dir, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!found)
        return crr_cli_config(S_CMD, "%s holds neither store/ (aggregator) nor spool/ (collector)",
                              dir);

    return s_list(env_dir, limit, &ctx);
}
