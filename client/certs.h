/* certs: CURVE certificates on disk, in CZMQ's zcert text format (what
 * `crrmon keygen`, CZMQ's zcert_save and pyzmq's create_certificates write).
 *
 * A pair is two files: NAME (public: curve/public-key and a metadata
 * section) and NAME_secret (mode 0600: both keys). crrmon reads:
 *   - a secret certificate (a daemon's or client's own keys): refused when
 *     group or others may read it;
 *   - a public certificate (the aggregator's key, for clients);
 *   - a folder of public certificates (the admitted clients): files ending
 *     in _secret and hidden files are skipped; the metadata is read from the
 *     PUBLIC file only (pyzmq writes it into the secret file alone: add it
 *     to the public file by hand). `name` metadata names the certificate
 *     (else its file name); `borough` holds its GSS codes, comma-separated.
 *
 * CZMQ (libczmq) is used for the format only: no zsys, no sockets, so it
 * installs no signal handlers. */
#ifndef CRR_CERTS_H
#define CRR_CERTS_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>

#define CRR_CERT_KEY 32      /* binary CURVE key */
#define CRR_CERT_Z85 41      /* Z85 text of a key, NUL included */
#define CRR_CERT_NAME 64     /* certificate name, NUL included */
#define CRR_CERT_BOROUGHS 40 /* boroughs bound to one certificate at most */

/* One admitted client certificate. */
typedef struct crr_cert_entry {
    char key[CRR_CERT_Z85];               /* public key, Z85 */
    char name[CRR_CERT_NAME];             /* `name` metadata, else the file name */
    char boroughs[CRR_CERT_BOROUGHS][10]; /* GSS codes bound to it */
    size_t nboroughs;                     /* entries in boroughs */
} crr_cert_entry_t;

/* A loaded folder of client certificates. */
typedef struct crr_certdir {
    crr_cert_entry_t *v; /* malloc'd entries */
    size_t n;            /* entries in v */
} crr_certdir_t;

/* Loads the secret certificate at path (or path_secret when that exists):
 * fills pub and sec. Returns 0, or CRR_ECONFIG with d saying why (missing,
 * not a certificate, readable by others). */
int crr_cert_load_secret(const char *path, uint8_t pub[CRR_CERT_KEY], uint8_t sec[CRR_CERT_KEY],
                         crr_diag_t *d);

/* Loads the public key of the certificate at path. 0 or CRR_ECONFIG (d set). */
int crr_cert_load_public(const char *path, uint8_t pub[CRR_CERT_KEY], crr_diag_t *d);

/* Loads every public certificate in folder dir into *out (replacing
 * nothing: the caller frees the previous one). need_boroughs: a certificate
 * without borough metadata is skipped with a warning (it would admit
 * nothing). Bad files are skipped with a warning naming file and reason.
 * Returns 0, or CRR_ECONFIG (the folder does not open; d set) / -ENOMEM. */
int crr_certdir_load(const char *dir, int need_boroughs, crr_certdir_t *out, crr_diag_t *d);

/* The entry with Z85 public key key, or NULL. */
const crr_cert_entry_t *crr_certdir_find(const crr_certdir_t *cd, const char *key);

/* 1 when borough is bound to e, else 0. */
int crr_cert_allows(const crr_cert_entry_t *e, const char *borough);

/* Frees cd's entries (safe twice). */
void crr_certdir_free(crr_certdir_t *cd);

/* Writes a new certificate pair: path (public, mode 0644) and path_secret
 * (mode 0600), metadata name = basename and borough = boroughs (may be
 * NULL or ""). Refuses to overwrite. Returns 0 or CRR_ECONFIG with d set. */
int crr_cert_generate(const char *path, const char *boroughs, crr_diag_t *d);

/* The client side of a connection: what an owner of a sender sets. */
typedef struct crr_curve_client {
    int on;                       /* 1: CURVE; 0: plain TCP (--insecure) */
    uint8_t pub[CRR_CERT_KEY];    /* client public key */
    uint8_t sec[CRR_CERT_KEY];    /* client secret key */
    uint8_t server[CRR_CERT_KEY]; /* the aggregator's public key */
} crr_curve_client_t;

/* Resolves a client's [security] keys: with client_cert and server_key both
 * set, loads them (on = 1); with neither and insecure, plain TCP (on = 0,
 * a warning logged); otherwise CRR_ECONFIG with d saying what to configure.
 * who names the program in messages. */
int crr_curve_client_load(const char *who, const char *client_cert, const char *server_key,
                          int insecure, crr_curve_client_t *out, crr_diag_t *d);

/* Sets the CURVE client options on zmq socket sock (before connect) when
 * c->on. Returns 0 or -errno. */
int crr_curve_client_apply(const crr_curve_client_t *c, void *sock);

#endif
