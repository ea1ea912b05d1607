/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the TDX quote parser and verifier (tdx-quote.h). Properties beyond "no
 * crash": a refusal is -EBADMSG, -EOPNOTSUPP or -EFBIG with a message; an accepted quote's parts lie
 * in order inside the input and account for every byte; verification runs to a result whose verdict
 * agrees with its checks, and nothing verifies against an empty set of roots. Seeds: the three real
 * quotes of tests/fixtures (tests/fuzz/corpus/tdx-quote). */
#include <stdlib.h>
#include <string.h>

#include "tdx-quote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define AT_2027 ((time_t) 1798761600)

/* tests/fixtures/tdx/intel-sgx-root-ca.pem */
static const char intel_root[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw\n"
        "aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv\n"
        "cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ\n"
        "BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG\n"
        "A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0\n"
        "aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT\n"
        "AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7\n"
        "1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB\n"
        "uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ\n"
        "MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50\n"
        "ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV\n"
        "Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI\n"
        "KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg\n"
        "AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=\n"
        "-----END CERTIFICATE-----\n";

static X509_STORE *roots, *no_roots;

static void setup(void) {
        if (roots)
                return;
        if (tdx_roots_from_pem((const uint8_t *) intel_root, strlen(intel_root), &roots, NULL) < 0)
                abort();
        no_roots = X509_STORE_new();
        if (!no_roots)
                abort();
}

static void check_layout(const struct tdx_quote *q, size_t size) {
        const struct tdx_quote_offsets *o = &q->off;

        if (!(o->body < q->signed_len && q->signed_len == o->sig_len && o->sig_len + 4 == o->signature &&
              o->signature + 64 == o->att_key && o->att_key + 64 == o->cert && o->cert + 6 == o->qe_report &&
              o->qe_report + 384 == o->qe_report_sig && o->qe_report_sig + 64 == o->qe_auth &&
              o->qe_auth + 2 + q->qe_auth_len == o->pck_cert && o->pck_cert + 6 == o->pck_chain &&
              o->pck_chain + q->pck_chain_len == o->end && o->end + q->trailing == size &&
              o->signature + q->sig_data_len == o->end && o->qe_report + q->cert_data_len == o->end))
                abort();
}

static void check_result(const struct tdx_verify_result *res) {
        bool ok = true;

        for (unsigned i = 0; i < _TDX_CHECK_MAX; i++) {
                if (!res->checks[i].reason[0])
                        abort();
                if (res->checks[i].state == TDX_CHECK_FAILED ||
                    (res->checks[i].state == TDX_CHECK_SKIPPED && i != TDX_CHECK_REPORT_DATA))
                        ok = false;
        }
        if (ok != res->ok)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct tdx_verify_opts o = { .at = AT_2027 };
        struct tdx_verify_result res;
        struct tdx_quote q, strict;
        errbuf err = {};
        int r;

        setup();
        r = tdx_quote_parse(data, size, TDX_QUOTE_ALLOW_TRAILING, &q, &err);
        if (r < 0) {
                if ((r != -EBADMSG && r != -EOPNOTSUPP && r != -EFBIG) || !err.msg[0])
                        abort();
                return 0;
        }
        check_layout(&q, size);
        /* Without the flag, exactly the quotes with non-zero trailing bytes are refused. */
        if ((tdx_quote_parse(data, size, 0, &strict, NULL) == 0) != (q.trailing == 0 || q.trailing_zero))
                abort();
        o.roots = roots;
        o.report_data = size % 2 ? q.body.report_data : NULL;
        if (tdx_quote_verify(&q, &o, &res) < 0)
                abort();
        check_result(&res);
        if (res.ok) {
                o.roots = no_roots;
                if (tdx_quote_verify(&q, &o, &res) < 0 || res.ok)
                        abort();
        }
        return 0;
}
