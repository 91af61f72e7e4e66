/* users: the HTTP users file and the password check behind HTTP Basic
 * authentication (the aggregator's [http] users_file, written by
 * `crrmon passwd`).
 *
 * Format, one user a line:  NAME:HASH:ROLE
 *   NAME  1..63 of [A-Za-z0-9._@-]
 *   HASH  a crypt(3) SHA-512 hash ("$6$[rounds=N$]salt$hash"), as
 *         libcrypt's crypt_gensalt("$6$") + crypt_r make it
 *   ROLE  "admin" (may change state: POST /api/v1/snapshots) or "read"
 * Blank lines and lines starting with '#' are ignored. A name given twice,
 * a hash of another kind, an unknown role or a malformed line refuses the
 * whole file with "file:line: field: reason".
 *
 * Checking a password always runs crypt_r once (against a fixed dummy hash
 * when the name is unknown) and compares the computed hash in constant
 * time, so neither the time nor the answer tells a wrong name from a wrong
 * password. Nothing here logs; passwords are never kept. */
#ifndef CRR_USERS_H
#define CRR_USERS_H

#include "err.h"

#include <stddef.h>

#define CRR_USER_NAME_MAX 64  /* bytes of a name, NUL included */
#define CRR_USER_HASH_MAX 384 /* bytes of a hash, NUL included (CRYPT_OUTPUT_SIZE) */

/* What a user may do. CRR_ROLE_NONE is "not authenticated". */
typedef enum { CRR_ROLE_NONE = 0, CRR_ROLE_READ = 1, CRR_ROLE_ADMIN = 2 } crr_role_t;

/* One line of the file. */
typedef struct crr_user {
    char name[CRR_USER_NAME_MAX]; /* user name */
    char hash[CRR_USER_HASH_MAX]; /* "$6$..." */
    crr_role_t role;              /* read or admin */
} crr_user_t;

/* A loaded users file. Zero-initialised = no users. */
typedef struct crr_users {
    crr_user_t *v; /* users in file order */
    size_t n;      /* entries in v */
} crr_users_t;

/* "admin" / "read" -> the role; CRR_ROLE_NONE for anything else. */
crr_role_t crr_role_parse(const char *text);

/* The role's name ("admin", "read", "none"). */
const char *crr_role_name(crr_role_t role);

/* Checks a user name (1..63 of [A-Za-z0-9._@-]). 0 or CRR_EINVAL. */
int crr_user_name_check(const char *name);

/* Parses one non-comment line "NAME:HASH:ROLE" (no newline) into u.
 * Returns 0, or CRR_EPARSE with d's field and reason set. */
int crr_users_parse_line(const char *line, crr_user_t *u, crr_diag_t *d);

/* Parses a whole file's text; file names it in d. On success *out holds the
 * users (free with crr_users_free). On failure out is untouched and
 * CRR_EPARSE (d: file, line, field, reason) or -ENOMEM is returned. */
int crr_users_parse(const char *text, const char *file, crr_users_t *out, crr_diag_t *d);

/* Reads and parses path (at most 1 MiB). -errno with d's reason set when
 * it cannot be read; otherwise as crr_users_parse. */
int crr_users_load(const char *path, crr_users_t *out, crr_diag_t *d);

/* Frees the users and zeroes u. Safe twice. */
void crr_users_free(crr_users_t *u);

/* The user named name, or NULL. */
const crr_user_t *crr_users_find(const crr_users_t *u, const char *name);

/* 1 when the la bytes at a equal the lb bytes at b, else 0; the time taken
 * depends on la only, never on where the bytes differ. */
int crr_ct_equal(const void *a, size_t la, const void *b, size_t lb);

/* Checks name/password against u: the user's role, or CRR_ROLE_NONE when
 * the name is unknown or the password is wrong (the same work either way). */
crr_role_t crr_users_check(const crr_users_t *u, const char *name, const char *password);

/* Hashes password with a fresh random SHA-512 salt ("$6$...") into out
 * (CRR_USER_HASH_MAX bytes). Returns 0 or -errno. */
int crr_users_hash(const char *password, char out[CRR_USER_HASH_MAX]);

#endif
