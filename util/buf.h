/* A growable byte buffer: what the codecs write replies into and the store
 * encodes containers with. Always NUL-terminated so it can be used as a string. */
#ifndef XCON_BUF_H
#define XCON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT { NULL, 0, 0 }

void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_add_i64(struct buf *b, int64_t v);
void buf_reset(struct buf *b);
/* Returns the contents (caller frees) and leaves the buffer empty. */
char *buf_steal(struct buf *b, size_t *len);
void buf_free(struct buf *b);

#endif
