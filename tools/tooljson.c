/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "cvmtool.h"
#include "log.h"
#include "tooljson.h"
#include "util.h"

int tool_json_arg(const char *arg, const char *what, json_t **ret) {
        _cleanup_free_ uint8_t *stdin_buf = NULL;
        const char *text = arg;
        size_t len = strlen(arg);
        json_error_t e;
        json_t *v;
        int r;

        if (strcmp(arg, "-") == 0) {
                r = read_fd_limited(STDIN_FILENO, TOOL_JSON_MAX, &stdin_buf, &len);
                if (r < 0)
                        return log_error_errno(r, "Cannot read %s from standard input: %m", what);
                text = (const char *) stdin_buf;
        }
        if (len > TOOL_JSON_MAX)
                return log_error_errno(E2BIG, "%s is %zu bytes, more than the limit of %u.", what, len,
                                       TOOL_JSON_MAX);
        v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
        if (!v)
                return log_error_errno(EINVAL, "%s is not valid JSON: %s (line %d, column %d).", what, e.text,
                                       e.line, e.column);
        if (!json_is_object(v)) {
                json_decref(v);
                return log_error_errno(EINVAL, "%s must be a JSON object.", what);
        }
        *ret = v;
        return 0;
}

const char *tool_json_strerror(int r) {
        switch (-r) {
        case EDOM:
                return "only integers within +/-(2^53-1) are allowed as numbers";
        case ELOOP:
                return "nesting too deep";
        case EILSEQ:
                return "a string is not valid UTF-8";
        case E2BIG:
                return "the event text is too large";
        case EINVAL:
                return "invalid domain, operation or content";
        default:
                return strerror(-r);
        }
}

int tool_json_print(json_t *root) {
        char *s = root ? json_dumps(root, JSON_INDENT(2)) : NULL;

        json_decref(root);
        if (!s)
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        printf("%s\n", s);
        free(s);
        return EXIT_OK;
}
