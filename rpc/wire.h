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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/value_sink.h"

/* Both reply writers: a value sink (util/value_sink.h) appending to b
 * without terminating it.  comma: JSON's "the next item needs a separator"
 * (a member's value never does); XML ignores it. */
struct wire_writer {
	struct value_sink k;
	struct buf *b;
	bool comma;
};

/* A lazy result (util/value.h) an encoder left out of a reply when asked
 * to: the rest of the reply is written without it, its text belongs at
 * offset `at`, and w is the writer to produce it with, a step at a time
 * (value_lazy_step(v, &w.k)), so a huge result can be sent as it is made. */
struct wire_deferred {
	struct value *v; /* a reference, or NULL: nothing was left out */
	size_t at;
	struct wire_writer w;
};

/* Writes v as a reply's result with the writer w, unless d is given and v is
 * lazy: then v is left for d (see above).  Shared by both protocols. */
void wire_put_result(struct wire_writer *w, const struct value *v, struct wire_deferred *d);

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
