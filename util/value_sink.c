/* Value sinks (see value_sink.h): writing a tree into a sink, and the sink
 * that builds a tree. */
#include "value_sink.h"

#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

enum value_step value_lazy_step(const struct value *v, struct value_sink *k)
{
	/* The source's progress is state, not content: a lazy value is
	 * written by one writer, so the const is about its content. */
	struct value *w = (struct value *)v;
	if (w->u.lazy.last == VALUE_STEP_MORE)
		w->u.lazy.last = w->u.lazy.step(w->u.lazy.state, k);
	return w->u.lazy.last;
}

void value_emit(const struct value *v, struct value_sink *k)
{
	const struct value_sink_ops *o = k->ops;
	if (!v) {
		o->string(k, "", 0);
		return;
	}
	switch (v->type) {
	case VALUE_STRING:
		o->string(k, v->u.str.s, v->u.str.len);
		break;
	case VALUE_INT:
		o->integer(k, v->u.i, v->int32);
		break;
	case VALUE_FLOAT:
		o->real(k, v->u.f);
		break;
	case VALUE_BOOL:
		o->boolean(k, v->u.b);
		break;
	case VALUE_DATETIME:
		o->datetime(k, v->u.t);
		break;
	case VALUE_ARRAY:
		o->array_begin(k);
		for (size_t i = 0; i < v->u.arr.n; i++)
			value_emit(v->u.arr.items[i], k);
		o->array_end(k);
		break;
	case VALUE_STRUCT:
		o->struct_begin(k);
		for (size_t i = 0; i < v->u.st.n; i++) {
			const struct value_member *m = &v->u.st.m[i];
			o->member(k, m->key, strlen(m->key), m->key_static);
			value_emit(m->val, k);
			o->member_end(k);
		}
		o->struct_end(k);
		break;
	case VALUE_LAZY:
		while (value_lazy_step(v, k) == VALUE_STEP_MORE)
			;
		break;
	default:
		o->nil(k);
		break;
	}
}

/* --- the tree builder ---------------------------------------------------- */

static struct value_builder *B(struct value_sink *k)
{
	return (struct value_builder *)k;
}

/* Places a finished value in its container (or as the root). */
static void place(struct value_builder *b, struct value *v)
{
	if (b->overflow) {
		value_unref(v);
		return;
	}
	if (!b->depth) {
		value_unref(b->root);
		b->root = v;
		return;
	}
	unsigned d = b->depth - 1;
	struct value *top = b->stack[d];
	if (top->type == VALUE_ARRAY) {
		value_array_push(top, v);
	} else if (b->key[d]) {
		/* Sources never repeat a key: no duplicate search per member,
		 * which would make a struct of n members cost n^2. */
		if (b->key_static[d])
			value_struct_add_static(top, b->key[d], v);
		else
			value_struct_add(top, b->key[d], v);
	} else {
		value_unref(v); /* a value without its member(): a broken source */
	}
}

static void b_string(struct value_sink *k, const char *s, size_t n)
{
	place(B(k), value_shared_string(s, n));
}

static void b_integer(struct value_sink *k, int64_t i, bool int32)
{
	place(B(k), int32 ? value_new_int32((int32_t)i) : value_shared_int(i));
}

static void b_real(struct value_sink *k, double f)
{
	place(B(k), value_new_float(f));
}

static void b_boolean(struct value_sink *k, bool v)
{
	place(B(k), value_shared_bool(v));
}

static void b_datetime(struct value_sink *k, int64_t t)
{
	place(B(k), value_new_datetime(t));
}

static void b_nil(struct value_sink *k)
{
	place(B(k), value_new_nil());
}

static void open_container(struct value_builder *b, struct value *c)
{
	if (b->overflow || b->depth == VALUE_BUILDER_DEPTH) {
		b->overflow++;
		value_unref(c);
		return;
	}
	b->stack[b->depth] = c;
	b->key[b->depth] = NULL;
	b->depth++;
}

static void close_container(struct value_builder *b)
{
	if (b->overflow) {
		b->overflow--;
		return;
	}
	if (!b->depth)
		return;
	struct value *c = b->stack[--b->depth];
	place(b, c);
}

static void b_array_begin(struct value_sink *k)
{
	open_container(B(k), value_new_array(0));
}

static void b_struct_begin(struct value_sink *k)
{
	open_container(B(k), value_new_struct(0));
}

static void b_end(struct value_sink *k)
{
	close_container(B(k));
}

static void forget_key(struct value_builder *b, unsigned d)
{
	if (!b->key_static[d])
		free(b->key[d]);
	b->key[d] = NULL;
}

static void b_member(struct value_sink *k, const char *key, size_t n, bool key_static)
{
	struct value_builder *b = B(k);
	if (b->overflow || !b->depth)
		return;
	unsigned d = b->depth - 1;
	forget_key(b, d);
	b->key[d] = key_static ? (char *)key : xstrndup(key, n);
	b->key_static[d] = key_static;
}

static void b_member_end(struct value_sink *k)
{
	struct value_builder *b = B(k);
	if (!b->overflow && b->depth)
		forget_key(b, b->depth - 1);
}

static const struct value_sink_ops builder_ops = {
	.string = b_string,
	.integer = b_integer,
	.real = b_real,
	.boolean = b_boolean,
	.datetime = b_datetime,
	.nil = b_nil,
	.array_begin = b_array_begin,
	.array_end = b_end,
	.struct_begin = b_struct_begin,
	.member = b_member,
	.member_end = b_member_end,
	.struct_end = b_end,
};

void value_builder_init(struct value_builder *b)
{
	memset(b, 0, sizeof(*b));
	b->k.ops = &builder_ops;
}

struct value *value_builder_finish(struct value_builder *b)
{
	/* A source that stopped early leaves containers open: close them. */
	b->overflow = 0;
	while (b->depth) {
		forget_key(b, b->depth - 1);
		close_container(b);
	}
	struct value *v = b->root;
	b->root = NULL;
	return v;
}

struct value *value_materialize(const struct value *v)
{
	if (!v || v->type != VALUE_LAZY)
		return value_ref((struct value *)v);
	struct value_builder b;
	value_builder_init(&b);
	enum value_step r;
	while ((r = value_lazy_step(v, &b.k)) == VALUE_STEP_MORE)
		;
	struct value *t = value_builder_finish(&b);
	if (r == VALUE_STEP_FAILED) {
		value_unref(t);
		return NULL;
	}
	return t;
}
