/* SPDX-License-Identifier: MIT */
/* The workload attestation API's server (docs/api.md; requests and answers in
 * agent/api-handlers.h): HTTP/1.1 on the Unix socket RUN_DIR/api.sock (/run/cvminit/api.sock as
 * PID 1; with --config, --run-dir's), owner, group and mode from the config's "api" section.
 *
 * libmicrohttpd serves it from one internal thread of its own, so PID 1's loop (signals, reaping,
 * supervision) never waits for a client; a client that stalls is cut off after API_TIMEOUT_S
 * without holding up the others, and at most API_CONNECTIONS_MAX are open at once. Requests are
 * answered one at a time: the register and its TPM connection (ESAPI is not thread-safe) and the
 * measurement log are the boot's, handed to the server at boot-done — from then on the boot flow
 * measures nothing (DESIGN §3), so the server's thread is their only user until api_free. */
#pragma once

#include "cel.h"
#include "config.h"
#include "mr.h"
#include "util.h"

#define API_SOCKET_NAME "api.sock"
#define API_CONNECTIONS_MAX 64U
#define API_TIMEOUT_S 10U
#define API_BACKLOG 16
/* app events are refused (507) once the measurement log file would pass this size: the log's records
 * take less room rendered as TCG2 than as CEL-JSON, so the evidence's event log (at most
 * EVIDENCE_EVENTLOG_MAX, 512 KiB, firmware CCEL included) always fits and /v1/evidence keeps working. */
#define API_APP_LOG_MAX (384U * 1024U)

struct api;

/* Before the workload and boot-done events, so that a failure is a boot failure the log records:
 * creates the socket (a stale one left by a dead process is replaced, a live one or anything else
 * at the path is refused), sets its owner, group and mode, listens. *ret is NULL when the config
 * disables the API. */
int api_listen(const struct config_api *c, struct api **ret, errbuf *err);

/* After boot-done: serves. mr and log (not owned) must stay open until api_free; log_path is the
 * measurement log's file. NULL a is fine (API disabled). */
int api_start(struct api *a, struct mr *mr, struct cel_writer *log, const char *log_path, errbuf *err);

/* Stops serving (a request in progress is finished first) and removes the socket. NULL is fine. */
void api_free(struct api *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct api *, api_free);

/* The directory of the socket (and of the model manifests it serves): /run/cvminit, or when not PID 1
 * the environment's CVMINIT_RUN_DIR (set by --run-dir). */
const char *api_socket_dir(void);
