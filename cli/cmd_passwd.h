/* cmd_passwd: `crrmon passwd`, a user of the aggregator's HTTP users file. */
#ifndef CRR_CMD_PASSWD_H
#define CRR_CMD_PASSWD_H

/* Runs `crrmon passwd USER [--role admin|read] [--file FILE]`; argv[0] is
 * "passwd". Reads the password from stdin (one line) when stdin is not a
 * terminal, else twice from the terminal without echo; hashes it with
 * crypt(3) SHA-512 and a fresh salt, and adds or replaces USER's line in
 * FILE (default ./crrmon.users), written mode 0600 by an atomic replace.
 * The role stays as it was unless --role is given (a new user: read).
 * Returns the exit code: 0, 1 (I/O, passwords that differ, an empty
 * password), 64 (bad usage), 78 (FILE exists but does not parse: file:line). */
int crr_cmd_passwd(int argc, char **argv);

#endif
