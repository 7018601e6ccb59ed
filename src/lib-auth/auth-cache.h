#ifndef YOUJU_AUTH_CACHE_H
#define YOUJU_AUTH_CACHE_H
/*
 * Cache of successful password verifications, so a client that logs in
 * every minute does not cost a yescrypt/argon2 run every time.
 *
 * An entry is only a MAC: HMAC-SHA256 under a random key made at create time
 * over "user NUL password NUL stored". The password is never kept, and
 * since the stored hash is part of the MAC, changing the password in the
 * directory makes old entries unreachable at once. (user and stored contain
 * no NUL, so the split is unambiguous even if the password does.)
 *
 * Entries live at most ttl_ms. The cache holds at most max_entries; when
 * full, an add evicts the entry that expires first, which is an expired one
 * if there is any, otherwise the oldest when ttl is constant. Every
 * operation is O(1) for a constant ttl (O(n) worst case insertion with
 * varying ttls). Not thread-safe.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auth_cache;

/* max_entries 0 gives a disabled cache: check is always false. Aborts if
 * the random key cannot be made (broken environment). */
struct auth_cache *auth_cache_create(size_t max_entries);
/* Frees the cache and sets *c = NULL. NULL-safe. */
void auth_cache_destroy(struct auth_cache **c);

/* True if (user, plain, stored) was added and has not expired at now_ms.
 * An expired entry found here is removed. */
bool auth_cache_check(struct auth_cache *c, const char *user,
		      const char *plain, size_t plain_len, const char *stored,
		      int64_t now_ms);
/* Remember a successful verification until now_ms + ttl_ms. Adding an
 * existing entry renews it. ttl_ms <= 0 does nothing. */
void auth_cache_add(struct auth_cache *c, const char *user, const char *plain,
		    size_t plain_len, const char *stored, int64_t now_ms,
		    int64_t ttl_ms);
/* Forget every entry (e.g. on SIGHUP / config reload). */
void auth_cache_flush(struct auth_cache *c);
size_t auth_cache_count(const struct auth_cache *c);

#endif
