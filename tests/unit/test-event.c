/* SPDX-License-Identifier: MIT */
/* AAEL events against Trustee's vectors (tests/fixtures/aael/CCEL_AAEL_alibabacloud_out.json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "event.h"

static void expect_digest(enum hash_alg alg, const char *text, const char *hex) {
        uint8_t d[HASH_MAX_SIZE];
        char got[2 * HASH_MAX_SIZE + 1];
        int r = event_digest(alg, text, strlen(text), d);

        assert_int_equal(r, (int) hash_alg_size(alg));
        hex_encode(d, (size_t) r, got);
        assert_string_equal(got, hex);
}

/* Trustee's runtime events: the digest covers tag, length and text. */
static void test_trustee_vectors(void **state) {
        char *text = NULL;
        size_t len;

        (void) state;
        assert_int_equal(event_text_raw("coco.com", "some-operation", "some-content", &text, &len), 0);
        assert_string_equal(text, "coco.com some-operation some-content");
        expect_digest(HASH_SHA384, text,
                      "2330183d89750c6a374ac9827d33a33636e7876733544584c8ccc88df0df87eada37e5d71d0773502234c2b5fbc7448e");
        free(text);
        expect_digest(HASH_SHA384,
                      "coco.com some-operation {\"key\": \"value\", \"nested-key\": {\"sub-key\": \"value\"}}",
                      "82b3e7dd09cbe55777a6eeed67614e9e5a25508ec1cd03ecbfbe10c913fa76ed451fbc275babc6a01a8e5c08e853419b");
}

/* The event data is the TCG_PCClientTaggedEvent Trustee logs (base64 "TEVBQSQAAABjb2Nv..."). */
static void test_event_data_layout(void **state) {
        static const char text[] = "coco.com some-operation some-content";
        struct buf b = {};
        const char *inner;
        size_t inner_len;

        (void) state;
        assert_int_equal(event_data_append(&b, text, strlen(text)), 0);
        assert_int_equal(b.len, 8 + strlen(text));
        assert_memory_equal(b.data, "LEAA\x24\x00\x00\x00", 8);
        assert_int_equal(event_data_parse((uint8_t *) b.data, b.len, &inner, &inner_len), 0);
        assert_int_equal(inner_len, strlen(text));
        assert_memory_equal(inner, text, inner_len);
        /* Wrong tag, wrong length. */
        b.data[0] = 'X';
        assert_int_equal(event_data_parse((uint8_t *) b.data, b.len, &inner, &inner_len), -EPROTO);
        b.data[0] = 'L';
        assert_int_equal(event_data_parse((uint8_t *) b.data, b.len - 1, &inner, &inner_len), -EBADMSG);
        assert_int_equal(event_data_parse((uint8_t *) b.data, 7, &inner, &inner_len), -EBADMSG);
        buf_free(&b);
}

static void test_event_text_jcs(void **state) {
        json_t *c = json_pack("{s:s, s:i, s:s}", "name", "llama", "files", 3, "alg", "sha256");
        char *text = NULL;
        size_t len;

        (void) state;
        assert_int_equal(event_text(EVENT_DOMAIN, "model", c, &text, &len), 0);
        assert_string_equal(text, "cvminit model {\"alg\":\"sha256\",\"files\":3,\"name\":\"llama\"}");
        assert_int_equal(len, strlen(text));
        free(text);
        json_decref(c);

        /* Content must be an object. */
        c = json_string("x");
        assert_int_equal(event_text(EVENT_DOMAIN, "model", c, &text, &len), -EINVAL);
        json_decref(c);
}

static void test_tokens(void **state) {
        (void) state;
        assert_true(event_token_valid("cvminit"));
        assert_true(event_token_valid("boot-done"));
        assert_true(event_token_valid("coco.com"));
        assert_false(event_token_valid(""));
        assert_false(event_token_valid("two words"));
        assert_false(event_token_valid("new\nline"));
        assert_false(event_token_valid("\xc3\xa9"));
        assert_false(event_token_valid(NULL));
        assert_false(event_token_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

static void test_split(void **state) {
        static const char t[] = "cvminit config {\"a\":\"b c\"}";
        const char *d, *o, *c;
        size_t dl, ol, cl;

        (void) state;
        assert_int_equal(event_text_split(t, strlen(t), &d, &dl, &o, &ol, &c, &cl), 0);
        assert_int_equal(dl, 7);
        assert_memory_equal(o, "config", ol);
        assert_memory_equal(c, "{\"a\":\"b c\"}", cl);
        assert_int_equal(event_text_split("nospace", 7, &d, &dl, &o, &ol, &c, &cl), -EBADMSG);
        assert_int_equal(event_text_split("a  b", 4, &d, &dl, &o, &ol, &c, &cl), -EBADMSG);
        assert_int_equal(event_text_split(" a b", 4, &d, &dl, &o, &ol, &c, &cl), -EBADMSG);
}

static void test_text_limit(void **state) {
        json_t *c = json_object();
        char *big = malloc(EVENT_TEXT_MAX + 1), *text = NULL;
        size_t len;

        (void) state;
        memset(big, 'a', EVENT_TEXT_MAX);
        big[EVENT_TEXT_MAX] = 0;
        json_object_set_new(c, "x", json_string(big));
        assert_int_equal(event_text(EVENT_DOMAIN, "model", c, &text, &len), -E2BIG);
        assert_null(text);
        json_decref(c);
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_trustee_vectors), cmocka_unit_test(test_event_data_layout),
                cmocka_unit_test(test_event_text_jcs),  cmocka_unit_test(test_tokens),
                cmocka_unit_test(test_split),           cmocka_unit_test(test_text_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
