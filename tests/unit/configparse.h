/* SPDX-License-Identifier: MIT */
/* Test helper: config_parse (agent/config.h) on a string, failing the test unless it returns
 * expect_r and, when expect_msg is given, its message contains expect_msg; returns the config
 * (NULL when refused). Needs cmocka.h and config.h before it. Header-only, for the tests. */
#pragma once

#include <string.h>

static inline struct config *configparse_text(const char *text, int expect_r, const char *expect_msg) {
        struct config *c = NULL;
        errbuf err = {};
        int r = config_parse((const uint8_t *) text, strlen(text), &c, &err);

        if (r != expect_r)
                fail_msg("config_parse returned %d (%s), expected %d: %s", r, err.msg, expect_r, text);
        if (expect_msg && !strstr(err.msg, expect_msg))
                fail_msg("message '%s' does not contain '%s'", err.msg, expect_msg);
        return c;
}
