/* main: `crrmon`, the operator CLI. One dispatch table maps each subcommand
 * to its cmd_<name>.c entry point; main() only handles the global --help and
 * --version and hands argv (starting at the subcommand's name) over.
 *
 * Every subcommand prints its own --help, exits 64 on bad usage and 1 on a
 * runtime failure with a clear message (cli.h). */
#include "cli.h"
#include "cmd_backup.h"
#include "cmd_export.h"
#include "cmd_snapshots.h"
#include "cmd_indicators.h"
#include "cmd_passwd.h"
#include "cmd_keygen.h"
#include "cmd_query.h"
#include "cmd_rejects.h"
#include "cmd_send.h"
#include "cmd_snapshot.h"
#include "cmd_tail.h"
#include "cmd_status.h"
#include "cmd_verify.h"
#include "cmd_generate.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;                  /* subcommand as typed */
    int (*run)(int argc, char **argv); /* argv[0] is the name; returns the exit code */
    const char *summary;               /* one line for crrmon --help */
} s_cmd_t;

static const s_cmd_t s_cmds[] = {
    {"send", crr_cmd_send, "send JSONL events straight to an aggregator"},
    {"query", crr_cmd_query, "print indicators from an aggregator's store"},
    {"snapshot", crr_cmd_snapshot, "ask an aggregator to take a snapshot now"},
    {"rejects", crr_cmd_rejects, "list rejected events of an aggregator or collector"},
    {"status", crr_cmd_status, "per source: applied sequence, last seen, spool depth"},
    {"tail", crr_cmd_tail, "print an aggregator's live feed: the state, then each update"},
    {"snapshots", crr_cmd_snapshots, "list stored snapshots with their deliveries"},
    {"export", crr_cmd_export, "write a stored snapshot again, or revive dead deliveries"},
    {"indicators", crr_cmd_indicators, "list the indicator catalogue"},
    {"keygen", crr_cmd_keygen, "write a CURVE certificate pair (NAME, NAME_secret)"},
    {"backup", crr_cmd_backup, "copy a running aggregator's store into one file (hot backup)"},
    {"restore", crr_cmd_restore, "lay a backup out as a new aggregator data folder"},
    {"verify", crr_cmd_verify, "check a data folder's LMDB files, read-only"},
    {"passwd", crr_cmd_passwd, "add a user to the HTTP users file or set its password"},
    {"generate", crr_cmd_generate, "write deterministic valid events as JSON Lines or CSV"},
};

static void s_help(FILE *out)
{
    fprintf(out, "usage: crrmon <command> [options]\n"
                 "       crrmon --help | --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(out, "  %-10s %s\n", s_cmds[i].name, s_cmds[i].summary);
    fprintf(out, "\n'crrmon <command> --help' describes a command's options.\n"
                 "Exit status: 0 ok, 1 failure, 2 input rejected (send), 64 bad usage,\n"
                 "78 a data folder or file named on the command line is missing or unusable.\n");
}

int main(int argc, char **argv)
{
    crr_log_set_component("crrmon");
    crr_log_set_level(CRR_LOG_WARN);
    if (argc < 2) {
        s_help(stderr);
        return CRR_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        s_help(stdout);
        return CRR_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("crrmon %s\n", CRR_VERSION);
        return CRR_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (strcmp(cmd, s_cmds[i].name) == 0) {
            crr_cli_getopt_reset();
            return s_cmds[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr, "crrmon: unknown command '%s'\n", cmd);
    fprintf(stderr, "Try 'crrmon --help'.\n");
    return CRR_EXIT_USAGE;
}
