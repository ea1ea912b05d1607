/* SPDX-License-Identifier: MIT */
/* The key broker's policy (docs/broker.md): which verified evidence may receive which resource.
 *
 * Verifiers (tpm-verify.h, tdx-verify.h) turn evidence into claims: the TEE, the key that signed
 * it, register values the signature covers, and the events of a log that replays to one of them.
 * The policy file names, per resource ("repo/type/tag"), the allowed TEEs, the trusted attestation
 * keys (SHA-256 of the AK's DER SubjectPublicKeyInfo), for TDX the trusted roots of the PCK chain (PEM), required events
 * (operation plus the content members that must be equal, in log order) and/or expected register
 * values. Evaluation stops at the first rule that fails and names it, for the audit log.
 *
 * Parsing is strict: unknown or duplicate members, wrong types, malformed hex and names are errors
 * that name the JSON path; a resource that requires neither events nor registers is refused, as it
 * would release the key to anything the TPM measured. */
#pragma once

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "hashalg.h"
#include "kbs-proto.h"
#include "mr.h"
#include "util.h"

#define POLICY_FILE_MAX (1U << 20)
#define POLICY_RESOURCES_MAX 1024U
#define POLICY_AKS_MAX 256U
#define POLICY_EVENTS_MAX 1024U
#define POLICY_REGISTERS_MAX 64U
#define POLICY_ROOTS_MAX 16U
#define POLICY_ROOT_PEM_MAX (16U * 1024U)
/* One component of repo/type/tag. */
#define POLICY_NAME_COMPONENT_MAX 128U
#define POLICY_RESOURCE_NAME_MAX (3U * POLICY_NAME_COMPONENT_MAX + 2U)
#define CLAIMS_REGISTERS_MAX 64U

/* A register value covered by the evidence's signature. */
struct claim_register {
        char mr[MR_NAME_MAX]; /* "pcr0".."pcr23", "rtmr0".."rtmr3", "mrtd" */
        enum hash_alg alg;
        uint8_t value[HASH_MAX_SIZE];
};

/* What verified evidence says. events: array of {"domain","operation","content"} in log order, the
 * content parsed when it is a JSON object, else the text as a string; NULL when there is no log. */
struct claims {
        enum kbs_tee tee;
        bool has_ak;
        uint8_t ak_sha256[32];
        bool has_root;          /* TDX: the root the PCK chain was verified to */
        uint8_t root_sha256[32]; /* SHA-256 of its DER */
        unsigned n_registers;
        struct claim_register registers[CLAIMS_REGISTERS_MAX];
        char log_mr[MR_NAME_MAX]; /* the register the event log replays to, "" without events */
        json_t *events;
};

void claims_done(struct claims *c);
/* Adds or replaces one register value; -E2BIG when full. */
int claims_set_register(struct claims *c, const char *mr, enum hash_alg alg, const uint8_t *value);

struct policy;

/* repo/type/tag: three components of 1..128 characters [A-Za-z0-9._-], each starting with a letter
 * or digit (so never ".", ".." or hidden). The same rule guards the key directory. */
bool policy_resource_name_valid(const char *s);

int policy_parse(const char *text, size_t n, struct policy **ret, errbuf *err);
int policy_load(const char *path, struct policy **ret, errbuf *err);
void policy_free(struct policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct policy *, policy_free);
size_t policy_n_resources(const struct policy *p);
/* Every TDX root any resource names (each once), for verifying quotes before the resource is known;
 * NULL if none. The policy owns them. */
const STACK_OF(X509) *policy_tdx_roots(const struct policy *p);

struct policy_verdict {
        bool allowed;
        char rule[64];    /* the first rule that failed: "resource", "tee", "trusted_aks",
                           * "registers.pcr14.sha256", "events[2]", "events_exact"; "" if allowed */
        char detail[384]; /* why, with untrusted values escaped */
};

/* Decides whether claims may receive resource. Returns 0 with the verdict filled (allowed or not),
 * or a negative errno for an internal failure (then nothing is allowed). */
int policy_evaluate(const struct policy *p, const char *resource, const struct claims *c,
                    struct policy_verdict *v);
