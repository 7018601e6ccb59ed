#ifndef YOUJU_XALLOC_H
#define YOUJU_XALLOC_H
/*
 * Allocation that succeeds or does not return (Postfix mymalloc): on failure
 * the process logs and aborts, and the master restarts the role. Memory from
 * xcalloc/xmalloc_zero is zeroed. Sizes are checked for overflow.
 */
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Free *p and set *p = NULL. */
#define xfree(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

#endif
