/* Allocation that never returns NULL: out of memory is fatal (tmux's xmalloc).
 * Also the cleanup helpers that make ownership visible (libvirt's g_autofree). */
#ifndef XCON_XALLOC_H
#define XCON_XALLOC_H

#include <stddef.h>
#include <stdlib.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void xc_freep(void *pp) { free(*(void **)pp); }
/* A char * (or any malloc'd pointer) freed when it leaves scope. */
#define XC_AUTOFREE __attribute__((cleanup(xc_freep)))

/* Hands ownership of *pp to the caller and clears the local. */
#define xc_steal(pp) ({ __typeof__(*(pp)) xc_s_ = *(pp); *(pp) = NULL; xc_s_; })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
