/* SPDX-License-Identifier: MIT */
/* JCS serializer against RFC 8785's own examples (those without non-integer numbers) and edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jcs.h"

static char *canon(const char *json, int *ret) {
        json_error_t e;
        json_t *v = json_loads(json, JSON_REJECT_DUPLICATES, &e);
        char *out = NULL;

        assert_non_null(v);
        *ret = jcs_serialize(v, &out, NULL);
        json_decref(v);
        return out;
}

static void expect_canon(const char *json, const char *expected) {
        int r;
        char *out = canon(json, &r);

        assert_int_equal(r, 0);
        assert_string_equal(out, expected);
        free(out);
}

static void expect_error(const char *json, int error) {
        int r;
        char *out = canon(json, &r);

        assert_int_equal(r, error);
        assert_null(out);
}

/* RFC 8785 §3.2.2, the "string" and "literals" members of the example. */
static void test_rfc8785_strings_and_literals(void **state) {
        (void) state;
        expect_canon("{\n  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
                     "  \"literals\": [null, true, false]\n}",
                     "{\"literals\":[null,true,false],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

/* RFC 8785 §3.2.3: sorting by UTF-16 code units, where the emoji (a surrogate pair) sorts before
 * U+FB33 although its UTF-8 bytes sort after. */
static void test_rfc8785_sorting(void **state) {
        (void) state;
        expect_canon("{\"\\u20ac\": \"Euro Sign\", \"\\r\": \"Carriage Return\", "
                     "\"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\", \"1\": \"One\", "
                     "\"\\ud83d\\ude00\": \"Emoji: Grinning Face\", \"\\u0080\": \"Control\", "
                     "\"\\u00f6\": \"Latin Small Letter O With Diaeresis\"}",
                     "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
                     "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":\"Euro Sign\","
                     "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\",\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

static void test_escapes(void **state) {
        (void) state;
        /* Every control character has exactly one form: the short escapes where JSON has them,
         * \u00xx (lower-case hex) otherwise; DEL and U+2028 stay literal. */
        expect_canon("{\"a\":\"\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u2028\"}",
                     "{\"a\":\"\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xe2\x80\xa8\"}");
        expect_canon("[\"\\/\", \"\\\"\", \"\\\\\"]", "[\"/\",\"\\\"\",\"\\\\\"]");
}

static void test_nesting_and_empty(void **state) {
        (void) state;
        expect_canon("{ \"b\" : [ ], \"a\" : { } , \"c\": [{\"z\":1,\"y\":[2,{}]}]}",
                     "{\"a\":{},\"b\":[],\"c\":[{\"y\":[2,{}],\"z\":1}]}");
        expect_canon("{\"k\": \"\"}", "{\"k\":\"\"}");
}

static void test_integers(void **state) {
        (void) state;
        expect_canon("[0, -0, 1, -1, 9007199254740991, -9007199254740991]",
                     "[0,0,1,-1,9007199254740991,-9007199254740991]");
        expect_error("[9007199254740992]", -EDOM);
        expect_error("[-9007199254740992]", -EDOM);
        expect_error("[1.5]", -EDOM);
        expect_error("[1.0]", -EDOM);
}

static void test_depth_limit(void **state) {
        char deep[2 * (JCS_MAX_DEPTH + 2) + 1];
        size_t n = JCS_MAX_DEPTH + 2;

        (void) state;
        for (size_t i = 0; i < n; i++) {
                deep[i] = '[';
                deep[n + i] = ']';
        }
        deep[2 * n] = 0;
        expect_error(deep, -ELOOP);
}

static void test_invalid_utf8(void **state) {
        json_t *v = json_object();
        char *out = NULL;

        (void) state;
        /* jansson's parser refuses bad UTF-8, but values built in code may carry it. */
        json_object_set_new(v, "a", json_stringn_nocheck("\xc3\x28", 2));
        assert_int_equal(jcs_serialize(v, &out, NULL), -EILSEQ);
        json_decref(v);
}

static void test_compare_names(void **state) {
        (void) state;
        assert_true(jcs_compare_names("a", 1, "b", 1) < 0);
        assert_true(jcs_compare_names("ab", 2, "a", 1) > 0);
        assert_int_equal(jcs_compare_names("", 0, "", 0), 0);
        /* U+1F600 (UTF-16 D83D DE00) < U+FB33 (FB33), though its UTF-8 is larger. */
        assert_true(jcs_compare_names("\xf0\x9f\x98\x80", 4, "\xef\xac\xb3", 3) < 0);
        assert_true(strcmp("\xf0\x9f\x98\x80", "\xef\xac\xb3") > 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc8785_strings_and_literals),
                cmocka_unit_test(test_rfc8785_sorting),
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_nesting_and_empty),
                cmocka_unit_test(test_integers),
                cmocka_unit_test(test_depth_limit),
                cmocka_unit_test(test_invalid_utf8),
                cmocka_unit_test(test_compare_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
