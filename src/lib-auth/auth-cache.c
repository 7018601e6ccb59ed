/*
 * Successful-auth cache: a hash table of HMAC-SHA256 values (see
 * auth-cache.h), chained per bucket, plus one doubly linked list of all
 * entries in expiry order so that expired and then soonest-expiring
 * entries are evicted from its head in O(1).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include "auth-cache.h"
#include "log.h"
#include "xalloc.h"

#define AUTH_CACHE_MAC_LEN 32		/* SHA-256 output */
#define AUTH_CACHE_KEY_LEN 32
#define AUTH_CACHE_MAX_BUCKETS ((size_t)1 << 20)

struct auth_cache_entry {
	unsigned char mac[AUTH_CACHE_MAC_LEN];
	int64_t expires_ms;
	struct auth_cache_entry *chain;		/* next in the same bucket */
	struct auth_cache_entry *prev, *next;	/* expiry order */
};

struct auth_cache {
	unsigned char key[AUTH_CACHE_KEY_LEN];
	EVP_MAC *hmac;
	size_t max_entries, count;
	struct auth_cache_entry **buckets;
	size_t bucket_mask;			/* bucket count - 1 */
	struct auth_cache_entry *head, *tail;	/* head expires first */
};

struct auth_cache *auth_cache_create(size_t max_entries)
{
	struct auth_cache *c = xcalloc(1, sizeof(*c));
	size_t nbuckets = 1;

	c->max_entries = max_entries;
	if (max_entries == 0)
		return c;
	if (RAND_bytes(c->key, sizeof(c->key)) != 1)
		fatal("auth cache: cannot get random bytes for the key");
	if ((c->hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL)) == NULL)
		fatal("auth cache: HMAC is not available");
	while (nbuckets < max_entries && nbuckets < AUTH_CACHE_MAX_BUCKETS)
		nbuckets <<= 1;
	c->buckets = xcalloc(nbuckets, sizeof(c->buckets[0]));
	c->bucket_mask = nbuckets - 1;
	return c;
}

void auth_cache_destroy(struct auth_cache **cp)
{
	struct auth_cache *c = *cp;

	if (c == NULL)
		return;
	auth_cache_flush(c);
	EVP_MAC_free(c->hmac);
	free(c->buckets);
	explicit_bzero(c->key, sizeof(c->key));
	free(c);
	*cp = NULL;
}

/* HMAC-SHA256(key, user NUL plain NUL stored). 0 / -1. */
static int auth_cache_mac(const struct auth_cache *c, const char *user,
			  const char *plain, size_t plain_len,
			  const char *stored, unsigned char *out)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						 digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(c->hmac);
	size_t outlen = 0;
	int ok = ctx != NULL &&
		 EVP_MAC_init(ctx, c->key, sizeof(c->key), params) == 1 &&
		 EVP_MAC_update(ctx, (const unsigned char *)user,
				strlen(user) + 1) == 1 &&
		 EVP_MAC_update(ctx, (const unsigned char *)plain,
				plain_len) == 1 &&
		 EVP_MAC_update(ctx, (const unsigned char *)"", 1) == 1 &&
		 EVP_MAC_update(ctx, (const unsigned char *)stored,
				strlen(stored)) == 1 &&
		 EVP_MAC_final(ctx, out, &outlen, AUTH_CACHE_MAC_LEN) == 1 &&
		 outlen == AUTH_CACHE_MAC_LEN;

	EVP_MAC_CTX_free(ctx);	/* cleanses the keyed state */
	return ok ? 0 : -1;
}

/* The MAC is uniformly random, so its first bytes index the table. */
static struct auth_cache_entry **
auth_cache_bucket(const struct auth_cache *c, const unsigned char *mac)
{
	size_t h;

	memcpy(&h, mac, sizeof(h));
	return &c->buckets[h & c->bucket_mask];
}

static struct auth_cache_entry *
auth_cache_find(const struct auth_cache *c, const unsigned char *mac)
{
	struct auth_cache_entry *e = *auth_cache_bucket(c, mac);

	while (e != NULL &&
	       CRYPTO_memcmp(e->mac, mac, AUTH_CACHE_MAC_LEN) != 0)
		e = e->chain;
	return e;
}

static void auth_cache_list_unlink(struct auth_cache *c,
				   struct auth_cache_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

/* Insert by expiry time, searching from the tail: with a constant ttl the
 * new entry always goes last, so this is O(1). */
static void auth_cache_list_insert(struct auth_cache *c,
				   struct auth_cache_entry *e)
{
	struct auth_cache_entry *after = c->tail;

	while (after != NULL && after->expires_ms > e->expires_ms)
		after = after->prev;
	e->prev = after;
	e->next = after != NULL ? after->next : c->head;
	if (e->next != NULL)
		e->next->prev = e;
	else
		c->tail = e;
	if (after != NULL)
		after->next = e;
	else
		c->head = e;
}

static void auth_cache_remove(struct auth_cache *c, struct auth_cache_entry *e)
{
	struct auth_cache_entry **pp = auth_cache_bucket(c, e->mac);

	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	auth_cache_list_unlink(c, e);
	c->count--;
	explicit_bzero(e, sizeof(*e));
	free(e);
}

bool auth_cache_check(struct auth_cache *c, const char *user,
		      const char *plain, size_t plain_len, const char *stored,
		      int64_t now_ms)
{
	unsigned char mac[AUTH_CACHE_MAC_LEN];
	struct auth_cache_entry *e;

	if (c->max_entries == 0 || c->count == 0 ||
	    auth_cache_mac(c, user, plain, plain_len, stored, mac) < 0)
		return false;
	e = auth_cache_find(c, mac);
	explicit_bzero(mac, sizeof(mac));
	if (e == NULL)
		return false;
	if (e->expires_ms <= now_ms) {
		auth_cache_remove(c, e);
		return false;
	}
	return true;
}

void auth_cache_add(struct auth_cache *c, const char *user, const char *plain,
		    size_t plain_len, const char *stored, int64_t now_ms,
		    int64_t ttl_ms)
{
	unsigned char mac[AUTH_CACHE_MAC_LEN];
	struct auth_cache_entry *e;

	if (c->max_entries == 0 || ttl_ms <= 0 ||
	    auth_cache_mac(c, user, plain, plain_len, stored, mac) < 0)
		return;
	/* expired entries first, cheaply: they sit at the head */
	while (c->head != NULL && c->head->expires_ms <= now_ms)
		auth_cache_remove(c, c->head);

	if ((e = auth_cache_find(c, mac)) != NULL) {
		auth_cache_list_unlink(c, e);
	} else {
		if (c->count >= c->max_entries)
			auth_cache_remove(c, c->head);
		e = xcalloc(1, sizeof(*e));
		memcpy(e->mac, mac, sizeof(mac));
		struct auth_cache_entry **bucket = auth_cache_bucket(c, mac);
		e->chain = *bucket;
		*bucket = e;
		c->count++;
	}
	explicit_bzero(mac, sizeof(mac));
	e->expires_ms = now_ms > 0 && ttl_ms > INT64_MAX - now_ms ?
			INT64_MAX : now_ms + ttl_ms;
	auth_cache_list_insert(c, e);
}

void auth_cache_flush(struct auth_cache *c)
{
	while (c->head != NULL)
		auth_cache_remove(c, c->head);
}

size_t auth_cache_count(const struct auth_cache *c)
{
	return c->count;
}
