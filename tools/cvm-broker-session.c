/* SPDX-License-Identifier: MIT */
/* Sessions (cvm-broker.h): one per /auth, identified by 16 random bytes (the kbs-session-id
 * cookie), carrying one nonce that one attest may use, and after a successful attest the claims
 * and the tee-pubkey the resource is encrypted to. Every session expires ttl after its creation;
 * since the ttl is fixed, creation order is expiry order, and expired sessions are swept from the
 * oldest end on each create and lookup. The table is bounded: when full of live sessions, /auth
 * fails rather than evicting someone's session. References keep a session alive while a request
 * uses it outside the lock. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <openssl/rand.h>

#include "base64.h"
#include "cvm-broker.h"

struct session {
        char id[BROKER_SESSION_ID_LEN + 1];
        char nonce[64];
        enum kbs_tee tee;
        uint64_t expires_ms;
        unsigned refs;
        bool nonce_used, attested;
        struct claims claims;
        json_t *jwk;
        struct session *hnext;         /* bucket chain */
        struct session *older, *newer; /* creation (= expiry) order */
};

struct session_table {
        pthread_mutex_t lock;
        unsigned max, count, n_buckets;
        uint64_t ttl_ms;
        struct session **buckets;
        struct session *oldest, *newest;
};

static uint64_t now_ms(void) {
        struct timespec ts = {};
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

static unsigned bucket_of(const struct session_table *t, const char *id) {
        uint32_t h = 2166136261U; /* FNV-1a */
        for (; *id; id++)
                h = (h ^ (uint8_t) *id) * 16777619U;
        return h % t->n_buckets;
}

int session_table_new(unsigned max, uint64_t ttl_ms, struct session_table **ret) {
        struct session_table *t;

        if (max == 0 || max > BROKER_SESSIONS_MAX || ttl_ms == 0)
                return -EINVAL;
        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->max = max;
        t->ttl_ms = ttl_ms;
        t->n_buckets = max;
        t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
        if (!t->buckets) {
                free(t);
                return -ENOMEM;
        }
        pthread_mutex_init(&t->lock, NULL);
        *ret = t;
        return 0;
}

static void session_free(struct session *s) {
        claims_done(&s->claims);
        json_decref(s->jwk);
        free(s);
}

/* Takes s out of the table (under the lock) and drops the table's reference. */
static void unlink_session(struct session_table *t, struct session *s) {
        struct session **p = &t->buckets[bucket_of(t, s->id)];

        while (*p && *p != s)
                p = &(*p)->hnext;
        if (*p)
                *p = s->hnext;
        if (s->older)
                s->older->newer = s->newer;
        else
                t->oldest = s->newer;
        if (s->newer)
                s->newer->older = s->older;
        else
                t->newest = s->older;
        t->count--;
        if (--s->refs == 0)
                session_free(s);
}

static void sweep(struct session_table *t, uint64_t now) {
        while (t->oldest && t->oldest->expires_ms <= now)
                unlink_session(t, t->oldest);
}

void session_table_free(struct session_table *t) {
        if (!t)
                return;
        while (t->oldest)
                unlink_session(t, t->oldest);
        pthread_mutex_destroy(&t->lock);
        free(t->buckets);
        free(t);
}

static int new_session(enum kbs_tee tee, struct session **ret) {
        uint8_t id[BROKER_SESSION_ID_LEN / 2], nonce[KBS_NONCE_BYTES];
        _cleanup_free_ char *b64 = NULL;
        struct session *s;

        if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(nonce, sizeof(nonce)) != 1)
                return -EIO;
        if (base64_encode(nonce, sizeof(nonce), BASE64_STD, &b64) < 0)
                return -ENOMEM;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        hex_encode(id, sizeof(id), s->id);
        snprintf(s->nonce, sizeof(s->nonce), "%s", b64);
        s->tee = tee;
        *ret = s;
        return 0;
}

int session_create(struct session_table *t, enum kbs_tee tee, struct session **ret) {
        struct session *s;
        unsigned b;
        int r;

        r = new_session(tee, &s);
        if (r < 0)
                return r;
        pthread_mutex_lock(&t->lock);
        sweep(t, now_ms());
        if (t->count >= t->max) {
                pthread_mutex_unlock(&t->lock);
                session_free(s);
                return -EBUSY;
        }
        s->expires_ms = now_ms() + t->ttl_ms;
        s->refs = 2; /* the table's and the caller's */
        b = bucket_of(t, s->id);
        s->hnext = t->buckets[b];
        t->buckets[b] = s;
        s->older = t->newest;
        if (t->newest)
                t->newest->newer = s;
        else
                t->oldest = s;
        t->newest = s;
        t->count++;
        pthread_mutex_unlock(&t->lock);
        *ret = s;
        return 0;
}

int session_lookup(struct session_table *t, const char *id, struct session **ret) {
        struct session *s;
        uint64_t now = now_ms();
        int r = -ENOENT;

        if (!id || strlen(id) != BROKER_SESSION_ID_LEN)
                return -ENOENT;
        pthread_mutex_lock(&t->lock);
        for (s = t->buckets[bucket_of(t, id)]; s; s = s->hnext)
                if (strcmp(s->id, id) == 0)
                        break;
        if (s && s->expires_ms <= now)
                r = -ETIMEDOUT; /* reported as expired once, then swept */
        else if (s) {
                s->refs++;
                *ret = s;
                r = 0;
        }
        sweep(t, now);
        pthread_mutex_unlock(&t->lock);
        return r;
}

void session_unref(struct session_table *t, struct session *s) {
        bool last;

        if (!s)
                return;
        pthread_mutex_lock(&t->lock);
        last = --s->refs == 0;
        pthread_mutex_unlock(&t->lock);
        if (last)
                session_free(s);
}

const char *session_id(const struct session *s) {
        return s->id;
}

const char *session_nonce(const struct session *s) {
        return s->nonce;
}

enum kbs_tee session_tee(const struct session *s) {
        return s->tee;
}

int session_use_nonce(struct session_table *t, struct session *s) {
        int r = 0;

        pthread_mutex_lock(&t->lock);
        if (s->nonce_used)
                r = -EALREADY;
        s->nonce_used = true;
        pthread_mutex_unlock(&t->lock);
        return r;
}

int session_set_attested(struct session_table *t, struct session *s, struct claims *c, json_t *tee_pubkey) {
        pthread_mutex_lock(&t->lock);
        claims_done(&s->claims);
        s->claims = *c;
        *c = (struct claims) {};
        json_decref(s->jwk);
        s->jwk = tee_pubkey;
        s->attested = true;
        pthread_mutex_unlock(&t->lock);
        return 0;
}

int session_attested(struct session_table *t, struct session *s, const struct claims **c, const json_t **jwk) {
        int r = -EACCES;

        pthread_mutex_lock(&t->lock);
        if (s->attested) {
                *c = &s->claims;
                *jwk = s->jwk;
                r = 0;
        }
        pthread_mutex_unlock(&t->lock);
        return r;
}

unsigned session_count(struct session_table *t) {
        unsigned n;

        pthread_mutex_lock(&t->lock);
        n = t->count;
        pthread_mutex_unlock(&t->lock);
        return n;
}
