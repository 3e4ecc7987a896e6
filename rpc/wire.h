/* Low-level writing of wire text, shared by the XML-RPC and JSON writers.
 *
 * The reply writers are the hot path of every call (a 70-field VM record is
 * several hundred appends), so appends here are inline and skip buf_add's
 * NUL terminator; a writer calls wire_finish() once when it is done, which
 * restores the buf invariant that data is a C string.
 *
 * The escapers take arbitrary bytes and always produce a well-formed
 * document: invalid UTF-8 (and, for XML, the characters XML 1.0 cannot carry
 * at all) becomes U+FFFD, because a client that fails to parse a reply loses
 * the whole call, not just one odd character.  Valid UTF-8 passes through.
 */
#ifndef XCON_RPC_WIRE_H
#define XCON_RPC_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../util/buf.h"

/* Appends n bytes without terminating. */
static inline void wire_put(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len <= n)
		buf_reserve(b, n); /* keeps room for the terminator too */
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* Appends a string literal. */
#define WIRE_LIT(b, lit) wire_put((b), (lit), sizeof(lit) - 1)

/* Appends a decimal integer. */
static inline void wire_put_i64(struct buf *b, int64_t v)
{
	buf_add_i64(b, v);
}

/* Appends a double as %.16g does; whole numbers (memory sizes, counts)
 * skip printf, which costs more than the rest of their field. */
void wire_put_double(struct buf *b, double f);

/* NUL-terminates the buffer after a run of wire_* appends. */
static inline void wire_finish(struct buf *b)
{
	buf_reserve(b, 0);
	b->data[b->len] = '\0';
}

/* Character data or attribute text: & < > " escaped, CR as &#13; (so it
 * survives the parser's line-end normalisation where it can), other C0
 * controls and U+FFFE/U+FFFF replaced. */
void wire_escape_xml(struct buf *b, const char *s, size_t n);

/* The body of a JSON string, without the quotes: " \ escaped, controls as
 * \n \r \t \b \f or \u00XX. */
void wire_escape_json(struct buf *b, const char *s, size_t n);

#endif
