/* SPDX-License-Identifier: MIT */
/* JSON input path of events: strict parse (as cvmtool and the agent do), JCS, event text and digest.
 * Properties checked beyond "no crash": JCS output parses back to an equal value and is a fixed
 * point (canonicalizing it again gives the same bytes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "jcs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_error_t e;
        json_t *v, *again;
        char *canon = NULL, *canon2 = NULL, *text = NULL;
        size_t len, len2;

        if (size > 64 * 1024)
                return 0;
        v = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES, &e);
        if (!v)
                return 0;
        if (jcs_serialize(v, &canon, &len) == 0) {
                again = json_loadb(canon, len, JSON_REJECT_DUPLICATES, &e);
                if (!again || !json_equal(v, again))
                        abort();
                if (jcs_serialize(again, &canon2, &len2) != 0 || len2 != len || memcmp(canon, canon2, len) != 0)
                        abort();
                json_decref(again);
        }
        if (json_is_object(v) && event_text(EVENT_DOMAIN, "model", v, &text, &len) == 0) {
                uint8_t d[HASH_MAX_SIZE];
                if (event_digest(HASH_SHA384, text, len, d) != 48)
                        abort();
        }
        free(text);
        free(canon);
        free(canon2);
        json_decref(v);
        return 0;
}
