/* cmd_passwd: writes one user into the aggregator's HTTP users file
 * (users.h): reads the password (stdin, or the terminal twice without echo),
 * hashes it (crypt_r, SHA-512, fresh salt), replaces the user's line or
 * appends one, keeping every other line as it was, and replaces the file
 * atomically (temp file mode 0600 in the same folder, fsync, rename, fsync
 * of the folder). The password is never printed nor logged, and is wiped
 * from memory once hashed. */
#include "cmd_passwd.h"

#include "cli.h"
#include "err.h"
#include "users.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define S_CMD "passwd"
#define S_DEFAULT_FILE "crrmon.users"
#define S_PASS_MAX 1024
#define S_FILE_MAX (1u << 20)

static void s_usage(FILE *out)
{
    fprintf(out, "usage: crrmon passwd USER [--role admin|read] [--file FILE]\n\n"
                 "Adds USER to the aggregator's HTTP users file ([http] users_file) or sets a new\n"
                 "password for it. The password is read from stdin (one line) when stdin is not a\n"
                 "terminal, else asked twice on the terminal. The file keeps NAME:HASH:ROLE lines\n"
                 "(crypt(3) SHA-512); it is written mode 0600 by an atomic replace. Send the\n"
                 "aggregator SIGHUP to load it.\n\n"
                 "  --role ROLE  admin (may POST /api/v1/snapshots) or read; default: the user's\n"
                 "               role as it is, read for a new user\n"
                 "  --file FILE  the users file (default ./" S_DEFAULT_FILE ")\n"
                 "  --help       this text\n");
}

/* Strips a trailing "\n" / "\r\n". */
static void s_chomp(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* Reads one line from f into buf; echo off when tty >= 0. 0 or -1. */
static int s_read_line(FILE *f, int tty, const char *prompt, char *buf, size_t len)
{
    struct termios old, quiet;
    int echo_off = 0;
    if (tty >= 0) {
        fprintf(stderr, "%s", prompt);
        if (tcgetattr(tty, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            echo_off = tcsetattr(tty, TCSAFLUSH, &quiet) == 0;
        }
    }
    char *got = fgets(buf, (int)len, f);
    if (echo_off) {
        tcsetattr(tty, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    if (!got)
        return -1;
    s_chomp(buf);
    return 0;
}

/* The password: stdin when it is not a terminal, else the terminal twice. */
static int s_password(const char *user, char *pass, size_t len)
{
    if (!isatty(STDIN_FILENO)) {
        if (s_read_line(stdin, -1, "", pass, len))
            return crr_cli_fail(S_CMD, "no password on stdin (one line expected)");
    } else {
        char again[S_PASS_MAX], prompt[128];
        snprintf(prompt, sizeof prompt, "Password for %s: ", user);
        if (s_read_line(stdin, STDIN_FILENO, prompt, pass, len) ||
            s_read_line(stdin, STDIN_FILENO, "Again: ", again, sizeof again))
            return crr_cli_fail(S_CMD, "no password read from the terminal");
        int same = strcmp(pass, again) == 0;
        explicit_bzero(again, sizeof again);
        if (!same)
            return crr_cli_fail(S_CMD, "the two passwords differ; nothing written");
    }
    if (!*pass)
        return crr_cli_fail(S_CMD, "an empty password is refused; nothing written");
    return 0;
}

/* Reads path into *text ("" when it does not exist). 0, or an exit code. */
static int s_read_file(const char *path, char **text)
{
    *text = calloc(1, S_FILE_MAX + 1);
    if (!*text)
        return crr_cli_fail(S_CMD, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return crr_cli_config(S_CMD, "cannot open %s: %s", path, strerror(errno));
    }
    size_t n = fread(*text, 1, S_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > S_FILE_MAX)
        return crr_cli_config(S_CMD, "cannot read %s: %s", path,
                              bad ? "read error" : "larger than 1 MiB");
    (*text)[n] = '\0';
    return 0;
}

/* The new file's text: text with user's line replaced by line (or line
 * appended). Returns a malloc'd string or NULL. */
static char *s_splice(const char *text, const char *user, const char *line)
{
    size_t cap = strlen(text) + strlen(line) + 4;
    char *out = malloc(cap), *w = out;
    if (!out)
        return NULL;
    int done = 0;
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        size_t nl = strlen(user);
        int mine = !done && len > nl && strncmp(p, user, nl) == 0 && p[nl] == ':';
        if (mine) {
            w += sprintf(w, "%s\n", line);
            done = 1;
        } else {
            memcpy(w, p, len);
            w += len;
            *w++ = '\n';
        }
        p += len;
        if (*p)
            p++;
    }
    if (!done)
        w += sprintf(w, "%s\n", line);
    *w = '\0';
    return out;
}

/* Writes text to path atomically, mode 0600. 0 or an exit code. */
static int s_replace(const char *path, const char *text)
{
    char tmp[PATH_MAX], dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp); /* mode 0600 */
    if (fd < 0)
        return crr_cli_config(S_CMD, "cannot create a file beside %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    int ok = fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    int err = errno;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        err = ok ? errno : err;
        unlink(tmp);
        return crr_cli_fail(S_CMD, "cannot write %s: %s", path, strerror(err));
    }
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Checks the old file, hashes pass and writes the new file. An exit code. */
static int s_update(const char *file, const char *user, const char *role_arg, const char *pass)
{
    char *text = NULL;
    int rc = s_read_file(file, &text);
    crr_users_t users = {0};
    crr_diag_t d;
    char why[1024];
    if (rc == 0 && crr_users_parse(text, file, &users, &d) != 0)
        rc = crr_cli_config(S_CMD, "%s; fix or remove that line first",
                            crr_diag_format(&d, why, sizeof why));
    crr_user_t u = {0};
    if (rc == 0) {
        const crr_user_t *old = crr_users_find(&users, user);
        u.role = role_arg ? crr_role_parse(role_arg) : old ? old->role : CRR_ROLE_READ;
        snprintf(u.name, sizeof u.name, "%s", user);
        int hr = crr_users_hash(pass, u.hash);
        if (hr)
            rc = crr_cli_fail(S_CMD, "cannot hash the password: %s", crr_strerror(hr));
        else
            fprintf(stderr, "crrmon passwd: %s user '%s' (role %s) in %s\n",
                    old ? "updated" : "added", user, crr_role_name(u.role), file);
    }
    crr_users_free(&users);
    if (rc == 0) {
        char line[CRR_USER_NAME_MAX + CRR_USER_HASH_MAX + 16];
        snprintf(line, sizeof line, "%s:%s:%s", u.name, u.hash, crr_role_name(u.role));
        char *next = s_splice(text, user, line);
        rc = next ? s_replace(file, next) : crr_cli_fail(S_CMD, "out of memory");
        free(next);
    }
    free(text);
    return rc;
}

int crr_cmd_passwd(int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},
        {"file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *role = NULL, *file = S_DEFAULT_FILE;
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (o) {
        case 'r':
            if (crr_role_parse(optarg) == CRR_ROLE_NONE)
                return crr_cli_usage(S_CMD, "--role is admin or read, not '%s'", optarg);
            role = optarg;
            break;
        case 'f': file = optarg; break;
        default: return crr_cli_getopt_tail(S_CMD, o, argv, s_usage);
        }
    }
    if (optind != argc - 1)
        return crr_cli_usage(S_CMD, "give exactly one USER");
    const char *user = argv[optind];
    if (crr_user_name_check(user))
        return crr_cli_usage(S_CMD, "'%s' is not a user name (1..63 of A-Z a-z 0-9 . _ @ -)", user);
    if (!*file)
        return crr_cli_usage(S_CMD, "--file needs a file name");
    char pass[S_PASS_MAX];
    int rc = s_password(user, pass, sizeof pass);
    if (rc == 0)
        rc = s_update(file, user, role, pass);
    explicit_bzero(pass, sizeof pass);
    return rc;
}
