/* users: parsing the HTTP users file and checking passwords against it
 * (crypt_r + a constant-time compare). See users.h. */
#include "users.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FILE_MAX (1u << 20)
/* Hashed when the name is unknown, so that the work is the same. */
#define S_DUMMY_HASH                                                                               \
    "$6$crrmondummysalt$"                                                                          \
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

crr_role_t crr_role_parse(const char *text)
{
    if (strcmp(text, "admin") == 0)
        return CRR_ROLE_ADMIN;
    if (strcmp(text, "read") == 0)
        return CRR_ROLE_READ;
    return CRR_ROLE_NONE;
}

const char *crr_role_name(crr_role_t role)
{
    return role == CRR_ROLE_ADMIN ? "admin" : role == CRR_ROLE_READ ? "read" : "none";
}

int crr_user_name_check(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CRR_USER_NAME_MAX)
        return CRR_EINVAL;
    static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-";
    return strspn(name, ok) == n ? 0 : CRR_EINVAL;
}

/* A SHA-512 crypt hash: "$6$", an optional "rounds=N$", a salt, '$', 86 chars. */
static int s_hash_check(const char *h)
{
    static const char b64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    if (strncmp(h, "$6$", 3) != 0)
        return -1;
    const char *p = h + 3;
    if (strncmp(p, "rounds=", 7) == 0) {
        p += 7;
        size_t digits = strspn(p, "0123456789");
        if (digits == 0 || p[digits] != '$')
            return -1;
        p += digits + 1;
    }
    const char *end = strchr(p, '$');
    if (!end || end == p || end - p > 16)
        return -1;
    end++;
    return strlen(end) == 86 && strspn(end, b64) == 86 ? 0 : -1;
}

int crr_users_parse_line(const char *line, crr_user_t *u, crr_diag_t *d)
{
    const char *c1 = strchr(line, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2 || strchr(c2 + 1, ':')) {
        crr_diag_set(d, 0, "", "expected NAME:HASH:ROLE (three fields separated by ':')");
        return CRR_EPARSE;
    }
    memset(u, 0, sizeof *u);
    size_t nl = (size_t)(c1 - line), hl = (size_t)(c2 - c1 - 1);
    if (nl >= sizeof u->name) {
        crr_diag_set(d, 0, "name", "longer than %d bytes", CRR_USER_NAME_MAX - 1);
        return CRR_EPARSE;
    }
    memcpy(u->name, line, nl);
    if (crr_user_name_check(u->name)) {
        crr_diag_set(d, 0, "name", "'%s' is not 1..63 of A-Z a-z 0-9 . _ @ -", u->name);
        return CRR_EPARSE;
    }
    if (hl >= sizeof u->hash) {
        crr_diag_set(d, 0, "hash", "too long for a crypt(3) hash");
        return CRR_EPARSE;
    }
    memcpy(u->hash, c1 + 1, hl);
    if (s_hash_check(u->hash)) {
        crr_diag_set(d, 0, "hash",
                     "not a crypt(3) SHA-512 hash ($6$[rounds=N$]SALT$HASH); write it with "
                     "`crrmon passwd`");
        return CRR_EPARSE;
    }
    u->role = crr_role_parse(c2 + 1);
    if (u->role == CRR_ROLE_NONE) {
        crr_diag_set(d, 0, "role", "'%.64s' is not a role (admin or read)", c2 + 1);
        return CRR_EPARSE;
    }
    return 0;
}

/* Appends u to out (grown by doubling). 0 or -ENOMEM. */
static int s_push(crr_users_t *out, size_t *cap, const crr_user_t *u)
{
    if (out->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        crr_user_t *nv = realloc(out->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        out->v = nv;
        *cap = nc;
    }
    out->v[out->n++] = *u;
    return 0;
}

int crr_users_parse(const char *text, const char *file, crr_users_t *out, crr_diag_t *d)
{
    crr_users_t got = {0};
    size_t cap = 0;
    long lineno = 0;
    crr_diag_clear(d);
    snprintf(d->file, sizeof d->file, "%s", file ? file : "");
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        lineno++;
        char line[1024];
        if (len && p[len - 1] == '\r')
            len--;
        int too_long = len >= sizeof line;
        snprintf(line, sizeof line, "%.*s", (int)(too_long ? sizeof line - 1 : len), p);
        p += strcspn(p, "\n");
        if (*p)
            p++;
        if (!too_long && (line[0] == '\0' || line[0] == '#'))
            continue;
        d->line = lineno;
        crr_user_t u;
        int rc = too_long ? crr_diag_set(d, 0, "", "line longer than %zu bytes", sizeof line - 1)
                          : crr_users_parse_line(line, &u, d);
        if (rc == 0 && crr_users_find(&got, u.name))
            rc = crr_diag_set(d, 0, "name", "user '%s' is listed twice", u.name);
        if (rc == 0)
            rc = s_push(&got, &cap, &u);
        if (rc) {
            crr_users_free(&got);
            return rc == -ENOMEM ? rc : CRR_EPARSE;
        }
    }
    d->line = 0;
    *out = got;
    return 0;
}

int crr_users_load(const char *path, crr_users_t *out, crr_diag_t *d)
{
    crr_diag_clear(d);
    snprintf(d->file, sizeof d->file, "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int rc = -errno;
        crr_diag_set(d, 0, "", "cannot open: %s", strerror(errno));
        return rc;
    }
    char *buf = malloc(S_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, S_FILE_MAX + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad || n > S_FILE_MAX) {
        free(buf);
        crr_diag_set(d, 0, "", "%s", bad ? "cannot read" : "larger than 1 MiB");
        return bad ? -EIO : CRR_ETOOBIG;
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) {
        free(buf);
        crr_diag_set(d, 0, "", "contains a NUL byte: not a users file");
        return CRR_EPARSE;
    }
    int rc = crr_users_parse(buf, path, out, d);
    free(buf);
    return rc;
}

void crr_users_free(crr_users_t *u)
{
    if (u->v)
        memset(u->v, 0, u->n * sizeof *u->v); /* hashes do not linger in freed memory */
    free(u->v);
    u->v = NULL;
    u->n = 0;
}

const crr_user_t *crr_users_find(const crr_users_t *u, const char *name)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->v[i].name, name) == 0)
            return &u->v[i];
    return NULL;
}

int crr_ct_equal(const void *a, size_t la, const void *b, size_t lb)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned diff = la != lb;
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned)(x[i] ^ (lb ? y[i < lb ? i : 0] : 0));
    return diff == 0;
}

crr_role_t crr_users_check(const crr_users_t *u, const char *name, const char *password)
{
    const crr_user_t *user = name ? crr_users_find(u, name) : NULL;
    const char *setting = user ? user->hash : S_DUMMY_HASH;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return CRR_ROLE_NONE;
    const char *h = crypt_r(password ? password : "", setting, cd);
    int ok = h && h[0] != '*' && crr_ct_equal(h, strlen(h), setting, strlen(setting));
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok && user ? user->role : CRR_ROLE_NONE;
}

int crr_users_hash(const char *password, char out[CRR_USER_HASH_MAX])
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$6$", 0, NULL, 0, salt, sizeof salt))
        return errno ? -errno : -EINVAL;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return -ENOMEM;
    const char *h = crypt_r(password, salt, cd);
    int rc = 0;
    if (!h || h[0] == '*' || strlen(h) >= CRR_USER_HASH_MAX)
        rc = errno ? -errno : -EINVAL;
    else
        snprintf(out, CRR_USER_HASH_MAX, "%s", h);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return rc;
}
