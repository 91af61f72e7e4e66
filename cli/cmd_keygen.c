/* cmd_keygen: `crrmon keygen NAME [--borough CODE[,CODE...]]` (see
 * cmd_keygen.h); the files are written by client/certs.c. */
#include "cmd_keygen.h"

#include "certs.h"
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void s_help(FILE *out)
{
    fprintf(out, "usage: crrmon keygen NAME [--borough CODE[,CODE...]]\n\n"
                 "Writes a CURVE certificate pair in the zcert text format: NAME (public, with\n"
                 "metadata name = NAME and borough = the codes) and NAME_secret (mode 0600).\n"
                 "Copy NAME into the aggregator's [security] clients_dir to admit a collector\n"
                 "for those boroughs (feed_clients_dir for a feed subscriber); give NAME_secret\n"
                 "to the client as [security] client_cert. The aggregator's own pair needs no\n"
                 "borough: its NAME_secret is [security] server_cert, NAME the clients'\n"
                 "[security] server_key. Existing files are never overwritten.\n\n"
                 "  --borough CODES   GSS codes (E09000001..E09000033) this key may report for\n"
                 "Exit status: 0 written, 64 bad usage or borough code, 78 a file exists or\n"
                 "cannot be written.\n");
}

int crr_cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"borough", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *boroughs = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
        if (c == 'b')
            boroughs = optarg;
        else if (c == 'h') {
            s_help(stdout);
            return CRR_EXIT_OK;
        } else
            return crr_cli_usage("keygen", "unknown option");
    }
    if (optind != argc - 1)
        return crr_cli_usage("keygen", "give exactly one NAME (the certificate's file name)");
    const char *name = argv[optind];
    crr_diag_t d;
    int rc = crr_cert_generate(name, boroughs, &d);
    if (rc) {
        if (strncmp(d.reason, "--borough", 9) == 0)
            return crr_cli_usage("keygen", "%s", d.reason);
        return crr_cli_config("keygen", "%s: %s", d.file, d.reason);
    }
    printf("wrote %s (public) and %s_secret (secret, mode 0600)\n", name, name);
    return CRR_EXIT_OK;
}
