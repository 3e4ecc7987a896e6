/* Value sinks: the one way values are written out.
 *
 * A sink receives a value as a stream of calls (a string, an int, the start
 * of a struct, a member's key, ...).  Both wire writers (rpc/xmlrpc.c,
 * rpc/jsonrpc.c) are sinks, and so is the tree builder below; sources are a
 * value tree (value_emit) and anything that can produce one piece by piece
 * (a lazy value, see value_new_lazy: the store emits every record of a class
 * straight from its rows, a batch per step).  So a big result reaches the wire without ever
 * being a tree, and a tree is still what every other caller gets.
 *
 * The protocol: a value is one scalar call, or array_begin, the items,
 * array_end, or struct_begin, then per member member() + the value +
 * member_end(), then struct_end.  A sink embeds struct value_sink first and
 * recovers itself with a cast.
 */
#ifndef XCON_VALUE_SINK_H
#define XCON_VALUE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "value.h"

struct value_sink;

struct value_sink_ops {
	void (*string)(struct value_sink *k, const char *s, size_t n);
	void (*integer)(struct value_sink *k, int64_t i, bool int32);
	void (*real)(struct value_sink *k, double f);
	void (*boolean)(struct value_sink *k, bool b);
	void (*datetime)(struct value_sink *k, int64_t t);
	void (*nil)(struct value_sink *k);
	void (*array_begin)(struct value_sink *k);
	void (*array_end)(struct value_sink *k);
	void (*struct_begin)(struct value_sink *k);
	/* key_static: the key outlives every tree (a datamodel field name) */
	void (*member)(struct value_sink *k, const char *key, size_t n, bool key_static);
	void (*member_end)(struct value_sink *k);
	void (*struct_end)(struct value_sink *k);
};

struct value_sink {
	const struct value_sink_ops *ops;
};

/* Writes v into k; NULL is the empty string (the void result). */
void value_emit(const struct value *v, struct value_sink *k);

/* One step of the lazy value v into k (see value_new_lazy): MORE while
 * there is more; once finished, every further step answers the same. */
enum value_step value_lazy_step(const struct value *v, struct value_sink *k);

/* A plain tree of v: a new reference to v itself unless v is lazy, whose
 * content is then built into a new tree (NULL if its source failed). */
struct value *value_materialize(const struct value *v);

/* The tree builder: a sink that builds a value (for sources that emit, when
 * a caller wants a tree). */
#define VALUE_BUILDER_DEPTH 128

struct value_builder {
	struct value_sink k;
	struct value *stack[VALUE_BUILDER_DEPTH];
	char *key[VALUE_BUILDER_DEPTH];      /* the member being built at each level */
	bool key_static[VALUE_BUILDER_DEPTH];
	unsigned depth;
	unsigned overflow;                   /* levels past the stack, dropped */
	struct value *root;
};

void value_builder_init(struct value_builder *b);
/* The value built (caller owns it; NULL if nothing was emitted), and resets b. */
struct value *value_builder_finish(struct value_builder *b);

#endif
