/* certs: loading and writing CURVE certificates (zcert text format) with
 * CZMQ's zcert and zconfig; the admitted-clients folder; the client side's
 * [security] keys. See certs.h. */
#include "certs.h"

#include "boroughs.h"
#include "log.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

/* Sets d to "path: prefix what" and returns CRR_ECONFIG. */
static int s_fail(crr_diag_t *d, const char *path, const char *prefix, const char *what)
{
    crr_diag_clear(d);
    snprintf(d->file, sizeof d->file, "%.255s", path);
    crr_diag_set(d, 0, "", "%s%s", prefix, what);
    return CRR_ECONFIG;
}

/* Parses the zcert text file at path (at most 64 KiB) with zconfig; NULL
 * (errno set) when it does not open or parse. Read here rather than with
 * zconfig_load, which leaks its zfile when the text does not parse. */
static zconfig_t *s_config_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = malloc(65537);
    size_t n = buf ? fread(buf, 1, 65536, f) : 0;
    int big = buf && n == 65536 && fgetc(f) != EOF;
    fclose(f);
    if (!buf || big) {
        free(buf);
        errno = buf ? EFBIG : ENOMEM;
        return NULL;
    }
    buf[n] = '\0';
    zconfig_t *root = zconfig_str_load(buf);
    free(buf);
    if (!root)
        errno = EINVAL;
    return root;
}

/* Decodes a 40-character Z85 key into out. 0 or -1. */
static int s_z85(const char *txt, uint8_t out[CRR_CERT_KEY])
{
    if (!txt || strlen(txt) != 40 || !zmq_z85_decode(out, txt))
        return -1;
    return 0;
}

int crr_cert_load_secret(const char *path, uint8_t pub[CRR_CERT_KEY], uint8_t sec[CRR_CERT_KEY],
                         crr_diag_t *d)
{
    char file[4096];
    struct stat st;
    snprintf(file, sizeof file, "%s_secret", path);
    if (stat(file, &st) != 0) {
        snprintf(file, sizeof file, "%s", path);
        if (stat(file, &st) != 0)
            return s_fail(d, path, "secret certificate: ", strerror(errno));
    }
    if (st.st_mode & 077)
        return s_fail(d, file, "",
                      "secret certificate is readable by group or others: chmod 600 it, and "
                      "issue a new key if others may have read it");
    zconfig_t *root = s_config_load(file);
    if (!root)
        return s_fail(d, file, "", "not a zcert certificate (does not parse)");
    int bad = s_z85(zconfig_get(root, "/curve/public-key", NULL), pub) ||
              s_z85(zconfig_get(root, "/curve/secret-key", NULL), sec);
    zconfig_destroy(&root);
    if (bad)
        return s_fail(d, file, "",
                      "no curve/public-key and curve/secret-key of 40 Z85 characters: not a "
                      "secret certificate (give NAME_secret, not NAME)");
    return 0;
}

int crr_cert_load_public(const char *path, uint8_t pub[CRR_CERT_KEY], crr_diag_t *d)
{
    zconfig_t *root = s_config_load(path);
    if (!root)
        return s_fail(d, path, "public certificate: ",
                      access(path, R_OK) ? strerror(errno) : "does not parse");
    int bad = s_z85(zconfig_get(root, "/curve/public-key", NULL), pub);
    zconfig_destroy(&root);
    if (bad)
        return s_fail(d, path, "", "no curve/public-key of 40 Z85 characters");
    return 0;
}

/* Parses "E09000022,E09000023" into e->boroughs. Returns 0 or -1 (why set). */
static int s_boroughs(crr_cert_entry_t *e, const char *list, char *why, size_t len)
{
    e->nboroughs = 0;
    for (const char *p = list; p && *p;) {
        size_t k = strcspn(p, ", ");
        if (k) {
            char code[sizeof e->boroughs[0]];
            snprintf(code, sizeof code, "%.*s", (int)(k < sizeof code ? k : sizeof code - 1), p);
            if (k >= sizeof code || crr_borough_index(code) < 0) {
                snprintf(why, len, "borough '%.*s' is not a London GSS code", (int)k, p);
                return -1;
            }
            if (e->nboroughs == CRR_CERT_BOROUGHS) {
                snprintf(why, len, "more than %d boroughs", CRR_CERT_BOROUGHS);
                return -1;
            }
            memcpy(e->boroughs[e->nboroughs++], code, sizeof code);
        }
        p += k;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

/* Loads one public certificate file into e. 0, or -1 with why set. */
static int s_load_entry(const char *file, const char *base, int need_boroughs, crr_cert_entry_t *e,
                        char *why, size_t len)
{
    memset(e, 0, sizeof *e);
    zconfig_t *root = s_config_load(file);
    if (!root) {
        snprintf(why, len, "does not parse as a zcert certificate");
        return -1;
    }
    int rc = -1;
    uint8_t key[CRR_CERT_KEY];
    const char *pub = zconfig_get(root, "/curve/public-key", NULL);
    const char *name = zconfig_get(root, "/metadata/name", NULL);
    const char *bor = zconfig_get(root, "/metadata/borough", NULL);
    if (zconfig_get(root, "/curve/secret-key", NULL))
        snprintf(why, len, "holds a secret key: only public certificates belong here");
    else if (s_z85(pub, key))
        snprintf(why, len, "no curve/public-key of 40 Z85 characters");
    else if (s_boroughs(e, bor, why, len) == 0) {
        if (need_boroughs && e->nboroughs == 0)
            snprintf(why, len,
                     "no 'borough' in its metadata section: it would admit nothing "
                     "(crrmon keygen NAME --borough CODE, or add `borough = CODE` by hand)");
        else
            rc = 0;
    }
    if (rc == 0) {
        snprintf(e->key, sizeof e->key, "%s", pub);
        snprintf(e->name, sizeof e->name, "%s", name && *name ? name : base);
    }
    zconfig_destroy(&root);
    return rc;
}

static int s_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int crr_certdir_load(const char *dir, int need_boroughs, crr_certdir_t *out, crr_diag_t *d)
{
    out->v = NULL;
    out->n = 0;
    DIR *dh = opendir(dir);
    if (!dh)
        return s_fail(d, dir, "certificate folder: ", strerror(errno));
    size_t cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(dh)) != NULL) {
        if (de->d_name[0] == '.' || s_ends_with(de->d_name, "_secret"))
            continue;
        char file[4096], why[256] = "";
        snprintf(file, sizeof file, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(file, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            crr_cert_entry_t *nv = realloc(out->v, cap * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            out->v = nv;
        }
        crr_cert_entry_t *e = &out->v[out->n];
        if (s_load_entry(file, de->d_name, need_boroughs, e, why, sizeof why) != 0) {
            CRR_WARN("certificate %s skipped: %s", file, why);
            continue;
        }
        if (crr_certdir_find(out, e->key)) {
            CRR_WARN("certificate %s skipped: its key is already admitted under another file",
                     file);
            continue;
        }
        out->n++;
    }
    closedir(dh);
    if (rc)
        crr_certdir_free(out);
    return rc;
}

const crr_cert_entry_t *crr_certdir_find(const crr_certdir_t *cd, const char *key)
{
    for (size_t i = 0; cd && i < cd->n; i++)
        if (strcmp(cd->v[i].key, key) == 0)
            return &cd->v[i];
    return NULL;
}

int crr_cert_allows(const crr_cert_entry_t *e, const char *borough)
{
    for (size_t i = 0; borough && i < e->nboroughs; i++)
        if (strcmp(e->boroughs[i], borough) == 0)
            return 1;
    return 0;
}

void crr_certdir_free(crr_certdir_t *cd)
{
    free(cd->v);
    cd->v = NULL;
    cd->n = 0;
}

int crr_cert_generate(const char *path, const char *boroughs, crr_diag_t *d)
{
    char secret[4096], why[256];
    snprintf(secret, sizeof secret, "%s_secret", path);
    if (access(path, F_OK) == 0 || access(secret, F_OK) == 0)
        return s_fail(d, path, "",
                      "exists already: not overwritten (remove it, or choose another name)");
    crr_cert_entry_t e;
    if (s_boroughs(&e, boroughs, why, sizeof why) != 0)
        return s_fail(d, path, "--borough: ", why);
    zcert_t *c = zcert_new();
    if (!c)
        return s_fail(d, path, "", "cannot make a key pair");
    const char *slash = strrchr(path, '/');
    zcert_set_meta(c, "name", "%s", slash ? slash + 1 : path);
    if (boroughs && *boroughs)
        zcert_set_meta(c, "borough", "%s", boroughs);
    mode_t old = umask(077);
    int rc = zcert_save_secret(c, secret);
    umask(old);
    if (rc == 0)
        rc = zcert_save_public(c, path);
    zcert_destroy(&c);
    if (rc != 0 || chmod(secret, 0600) != 0)
        return s_fail(d, path, "cannot write the certificate pair: ", strerror(errno));
    return 0;
}

int crr_curve_client_load(const char *who, const char *client_cert, const char *server_key,
                          int insecure, crr_curve_client_t *out, crr_diag_t *d)
{
    memset(out, 0, sizeof *out);
    int have_c = client_cert && *client_cert, have_s = server_key && *server_key;
    if (have_c && have_s) {
        int rc = crr_cert_load_secret(client_cert, out->pub, out->sec, d);
        if (rc == 0)
            rc = crr_cert_load_public(server_key, out->server, d);
        out->on = rc == 0;
        return rc;
    }
    if (insecure && !have_c && !have_s) {
        CRR_WARN("%s: --insecure: plain TCP without CURVE: anyone on the network can read and "
                 "forge this traffic",
                 who);
        return 0;
    }
    crr_diag_clear(d);
    crr_diag_set(d, 0, "",
                 "%s: %s: set [security] client_cert = FILE (this client's secret certificate) "
                 "and [security] server_key = FILE (the aggregator's public certificate), made "
                 "with `crrmon keygen`; or run plain TCP with --insecure",
                 who, have_c || have_s ? "both keys are needed" : "no CURVE keys configured");
    return CRR_ECONFIG;
}

int crr_curve_client_apply(const crr_curve_client_t *c, void *sock)
{
    if (!c || !c->on)
        return 0;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, c->server, CRR_CERT_KEY) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->pub, CRR_CERT_KEY) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->sec, CRR_CERT_KEY))
        return -zmq_errno();
    return 0;
}
