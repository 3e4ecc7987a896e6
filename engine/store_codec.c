/* How values sit in SQLite columns.
 *
 * Scalars use SQLite's own types (TEXT, INTEGER, REAL; bools as 0/1,
 * datetimes as epoch seconds).  Sets and maps are one TEXT column holding
 * netstrings ("<length>:<bytes>"), element after element, or key then value
 * for maps, nested for nested containers: cheap to parse, exact for any
 * bytes, and still readable with the sqlite3 shell. */
#include "store_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/value_sink.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

const char *store_sql_type(const struct dm_type *t)
{
	switch (t->kind) {
	case DM_INT:
	case DM_BOOL:
	case DM_DATETIME:
		return "INTEGER";
	case DM_FLOAT:
		return "REAL";
	default:
		return "TEXT";
	}
}

static void encode_scalar(struct buf *b, const struct dm_type *t, const struct value *v)
{
	switch (v->type) {
	case VALUE_STRING:
		buf_add(b, v->u.str.s, v->u.str.len);
		break;
	case VALUE_INT:
		buf_add_i64(b, v->u.i);
		break;
	case VALUE_FLOAT:
		buf_printf(b, "%.17g", v->u.f);
		break;
	case VALUE_BOOL:
		buf_adds(b, v->u.b ? "true" : "false");
		break;
	case VALUE_DATETIME:
		buf_add_i64(b, v->u.t);
		break;
	default:
		break;
	}
	(void)t;
}

static void encode_value(struct buf *b, const struct dm_type *t, const struct value *v);

static void netstring(struct buf *out, const struct dm_type *t, const struct value *v)
{
	struct buf inner = BUF_INIT;
	encode_value(&inner, t, v);
	buf_printf(out, "%zu:", inner.len);
	buf_add(out, inner.data ? inner.data : "", inner.len);
	buf_free(&inner);
}

static void encode_value(struct buf *b, const struct dm_type *t, const struct value *v)
{
	if (t->kind == DM_SET && v->type == VALUE_ARRAY) {
		for (size_t i = 0; i < v->u.arr.n; i++)
			netstring(b, t->elem, v->u.arr.items[i]);
	} else if (t->kind == DM_MAP && v->type == VALUE_STRUCT) {
		for (size_t i = 0; i < v->u.st.n; i++) {
			size_t kl = strlen(v->u.st.m[i].key);
			buf_printf(b, "%zu:", kl);
			buf_add(b, v->u.st.m[i].key, kl);
			netstring(b, t->elem, v->u.st.m[i].val);
		}
	} else {
		encode_scalar(b, t, v);
	}
}

char *store_encode_container(const struct dm_type *t, const struct value *v)
{
	struct buf b = BUF_INIT;
	encode_value(&b, t, v);
	return buf_steal(&b, NULL);
}

/* Reads one netstring at *p (bounded by end); NULL on malformed input. */
static const char *read_netstring(const char **p, const char *end, size_t *len)
{
	size_t n = 0;
	const char *q = *p;
	if (q >= end || *q < '0' || *q > '9')
		return NULL;
	while (q < end && *q >= '0' && *q <= '9') {
		n = n * 10 + (size_t)(*q - '0');
		if (n > (size_t)(end - *p))
			return NULL;
		q++;
	}
	if (q >= end || *q != ':' || (size_t)(end - q - 1) < n)
		return NULL;
	*len = n;
	*p = q + 1 + n;
	return q + 1;
}

/* Scalars inside containers are text; numbers are short. */
static void emit_scalar(const struct dm_type *t, const char *s, size_t len, struct value_sink *k)
{
	char z[64];
	size_t n = len < sizeof(z) - 1 ? len : sizeof(z) - 1;
	if (t->kind == DM_INT || t->kind == DM_DATETIME || t->kind == DM_FLOAT) {
		memcpy(z, s, n);
		z[n] = '\0';
	}
	switch (t->kind) {
	case DM_INT:
		k->ops->integer(k, strtoll(z, NULL, 10), false);
		break;
	case DM_DATETIME:
		k->ops->datetime(k, strtoll(z, NULL, 10));
		break;
	case DM_FLOAT:
		k->ops->real(k, strtod(z, NULL));
		break;
	case DM_BOOL:
		k->ops->boolean(k, len == 4 && memcmp(s, "true", 4) == 0);
		break;
	default:
		k->ops->string(k, s, len);
		break;
	}
}

/* A stored container (netstrings, see above) straight into a sink. */
static void emit_container(const struct dm_type *t, const char *s, size_t len, struct value_sink *k)
{
	const char *p = s, *end = s + len;
	size_t n;
	const char *e;
	if (t->kind == DM_SET) {
		k->ops->array_begin(k);
		while (p < end && (e = read_netstring(&p, end, &n)) != NULL)
			emit_container(t->elem, e, n, k);
		k->ops->array_end(k);
	} else if (t->kind == DM_MAP) {
		k->ops->struct_begin(k);
		while (p < end) {
			const char *key = read_netstring(&p, end, &n);
			size_t kn = n;
			if (!key || !(e = read_netstring(&p, end, &n)))
				break;
			k->ops->member(k, key, kn, false);
			emit_container(t->elem, e, n, k);
			k->ops->member_end(k);
		}
		k->ops->struct_end(k);
	} else {
		emit_scalar(t, s, len, k);
	}
}

int store_bind(sqlite3_stmt *st, int col, const struct dm_type *t, const struct value *v)
{
	switch (t->kind) {
	case DM_INT:
		return sqlite3_bind_int64(st, col, v->type == VALUE_INT ? v->u.i : 0);
	case DM_BOOL:
		return sqlite3_bind_int(st, col, v->type == VALUE_BOOL && v->u.b);
	case DM_DATETIME:
		return sqlite3_bind_int64(st, col, v->type == VALUE_DATETIME ? v->u.t : 0);
	case DM_FLOAT:
		return sqlite3_bind_double(st, col, v->type == VALUE_FLOAT ? v->u.f : 0.0);
	case DM_SET:
	case DM_MAP:
		return sqlite3_bind_text(st, col, store_encode_container(t, v), -1, free);
	default:
		if (v->type != VALUE_STRING)
			return sqlite3_bind_text(st, col, t->kind == DM_REF ? REF_NULL : "", -1, SQLITE_STATIC);
		return sqlite3_bind_text(st, col, v->u.str.s, (int)v->u.str.len, SQLITE_TRANSIENT);
	}
}

void store_column_emit(sqlite3_stmt *st, int col, const struct dm_type *t, struct value_sink *k)
{
	switch (t->kind) {
	case DM_INT:
		k->ops->integer(k, sqlite3_column_int64(st, col), false);
		return;
	case DM_BOOL:
		k->ops->boolean(k, sqlite3_column_int(st, col) != 0);
		return;
	case DM_DATETIME:
		k->ops->datetime(k, sqlite3_column_int64(st, col));
		return;
	case DM_FLOAT:
		k->ops->real(k, sqlite3_column_double(st, col));
		return;
	default:
		break;
	}
	const char *s = (const char *)sqlite3_column_text(st, col);
	size_t n = s ? (size_t)sqlite3_column_bytes(st, col) : 0;
	if (t->kind == DM_SET || t->kind == DM_MAP)
		emit_container(t, s ? s : "", n, k);
	else if (s)
		k->ops->string(k, s, n);
	else if (t->kind == DM_REF)
		k->ops->string(k, REF_NULL, sizeof(REF_NULL) - 1);
	else
		k->ops->string(k, "", 0);
}

struct value *store_column(sqlite3_stmt *st, int col, const struct dm_type *t)
{
	switch (t->kind) {
	case DM_INT:
		return value_shared_int(sqlite3_column_int64(st, col));
	case DM_BOOL:
		return value_shared_bool(sqlite3_column_int(st, col) != 0);
	case DM_DATETIME:
		return value_new_datetime(sqlite3_column_int64(st, col));
	case DM_FLOAT:
		return value_new_float(sqlite3_column_double(st, col));
	case DM_SET:
	case DM_MAP: {
		struct value_builder b;
		value_builder_init(&b);
		store_column_emit(st, col, t, &b.k);
		return value_builder_finish(&b);
	}
	default: {
		const char *s = (const char *)sqlite3_column_text(st, col);
		if (!s)
			return t->kind == DM_REF ? value_shared_string(REF_NULL, 14) : value_shared_string("", 0);
		return value_shared_string(s, (size_t)sqlite3_column_bytes(st, col));
	}
	}
}
