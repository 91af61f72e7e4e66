/* test_certs: CURVE certificate files (client/certs.c): the pair crrmon
 * keygen writes, a secret readable by others refused, the admitted-clients
 * folder (borough metadata required, secret files and bad files skipped,
 * the name from metadata or the file name), the client's [security] keys. */
#include "certs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char s_dir[256];

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/crr-certs-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void s_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", s_dir, name);
}

static void s_write(const char *name, const char *text)
{
    char p[512];
    s_path(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_generate_and_load(void **state)
{
    (void)state;
    char p[512], sp[560];
    crr_diag_t d;
    s_path(p, sizeof p, "lambeth");
    assert_int_equal(crr_cert_generate(p, "E09000022,E09000023", &d), 0);
    snprintf(sp, sizeof sp, "%s_secret", p);
    struct stat st;
    assert_int_equal(stat(sp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    uint8_t pub[32], sec[32], pub2[32];
    assert_int_equal(crr_cert_load_secret(sp, pub, sec, &d), 0);
    assert_int_equal(crr_cert_load_secret(p, pub2, sec, &d), 0); /* NAME finds NAME_secret */
    assert_memory_equal(pub, pub2, 32);
    assert_int_equal(crr_cert_load_public(p, pub2, &d), 0);
    assert_memory_equal(pub, pub2, 32);
    /* never overwritten */
    assert_int_equal(crr_cert_generate(p, NULL, &d), CRR_ECONFIG);
    assert_non_null(strstr(d.reason, "exists already"));
    /* a bad borough */
    s_path(p, sizeof p, "bad");
    assert_int_equal(crr_cert_generate(p, "E09000099", &d), CRR_ECONFIG);
    assert_non_null(strstr(d.reason, "not a London GSS code"));
}

static void test_secret_readable_by_others_refused(void **state)
{
    (void)state;
    char p[512], sp[560];
    crr_diag_t d;
    s_path(p, sizeof p, "open");
    assert_int_equal(crr_cert_generate(p, NULL, &d), 0);
    snprintf(sp, sizeof sp, "%s_secret", p);
    assert_int_equal(chmod(sp, 0640), 0);
    uint8_t pub[32], sec[32];
    assert_int_equal(crr_cert_load_secret(sp, pub, sec, &d), CRR_ECONFIG);
    assert_non_null(strstr(d.reason, "readable by group or others"));
    /* a public certificate is not a secret one */
    assert_int_equal(chmod(sp, 0600), 0);
    assert_int_equal(unlink(sp), 0);
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(crr_cert_load_secret(p, pub, sec, &d), CRR_ECONFIG);
    assert_non_null(strstr(d.reason, "not a secret certificate"));
}

static void test_folder(void **state)
{
    (void)state;
    char p[512];
    crr_diag_t d;
    s_path(p, sizeof p, "clients");
    assert_int_equal(mkdir(p, 0700), 0);
    s_path(p, sizeof p, "clients/a");
    assert_int_equal(crr_cert_generate(p, "E09000022", &d), 0); /* a_secret is skipped */
    s_path(p, sizeof p, "clients/nobody");
    assert_int_equal(crr_cert_generate(p, NULL, &d), 0); /* no borough: skipped */
    /* pyzmq's layout: no name metadata, the file name names it */
    s_write("clients/py.key", "metadata\n    borough = \"E09000001\"\ncurve\n"
                              "    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n");
    s_write("clients/garbage", "not a certificate at all {{{\n");
    crr_certdir_t cd;
    s_path(p, sizeof p, "clients");
    assert_int_equal(crr_certdir_load(p, 1, &cd, &d), 0);
    assert_int_equal(cd.n, 2);
    const crr_cert_entry_t *py = crr_certdir_find(&cd, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    assert_non_null(py);
    assert_string_equal(py->name, "py.key");
    assert_true(crr_cert_allows(py, "E09000001"));
    assert_false(crr_cert_allows(py, "E09000022"));
    int found_a = 0;
    for (size_t i = 0; i < cd.n; i++)
        if (strcmp(cd.v[i].name, "a") == 0)
            found_a = crr_cert_allows(&cd.v[i], "E09000022");
    assert_true(found_a);
    crr_certdir_free(&cd);
    /* the feed folder needs no boroughs */
    assert_int_equal(crr_certdir_load(p, 0, &cd, &d), 0);
    assert_int_equal(cd.n, 3);
    crr_certdir_free(&cd);
    s_path(p, sizeof p, "missing");
    assert_int_equal(crr_certdir_load(p, 1, &cd, &d), CRR_ECONFIG);
}

static void test_client_keys(void **state)
{
    (void)state;
    crr_curve_client_t c;
    crr_diag_t d;
    assert_int_equal(crr_curve_client_load("t", NULL, NULL, 0, &c, &d), CRR_ECONFIG);
    assert_non_null(strstr(d.reason, "[security] client_cert"));
    assert_int_equal(crr_curve_client_load("t", "x", NULL, 1, &c, &d), CRR_ECONFIG);
    assert_non_null(strstr(d.reason, "both keys"));
    assert_int_equal(crr_curve_client_load("t", "", "", 1, &c, &d), 0);
    assert_int_equal(c.on, 0);
    char p[512], sp[560];
    s_path(p, sizeof p, "client");
    assert_int_equal(crr_cert_generate(p, NULL, &d), 0);
    snprintf(sp, sizeof sp, "%s_secret", p);
    assert_int_equal(crr_curve_client_load("t", sp, p, 0, &c, &d), 0);
    assert_int_equal(c.on, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_load),
        cmocka_unit_test(test_secret_readable_by_others_refused),
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_client_keys),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
