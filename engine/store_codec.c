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

static struct value *decode_value(const struct dm_type *t, const char *s, size_t len);

static struct value *decode_scalar(const struct dm_type *t, const char *s, size_t len)
{
	XC_AUTOFREE char *z = xstrndup(s, len);
	switch (t->kind) {
	case DM_INT:
		return value_new_int(strtoll(z, NULL, 10));
	case DM_DATETIME:
		return value_new_datetime(strtoll(z, NULL, 10));
	case DM_FLOAT:
		return value_new_float(strtod(z, NULL));
	case DM_BOOL:
		return value_new_bool(strcmp(z, "true") == 0);
	default:
		return value_new_stringn(s, len);
	}
}

static struct value *decode_value(const struct dm_type *t, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	size_t n;
	const char *e;
	if (t->kind == DM_SET) {
		struct value *arr = value_new_array(0);
		while (p < end && (e = read_netstring(&p, end, &n)) != NULL)
			value_array_push(arr, decode_value(t->elem, e, n));
		return arr;
	}
	if (t->kind == DM_MAP) {
		struct value *st = value_new_struct(0);
		while (p < end) {
			const char *k = read_netstring(&p, end, &n);
			size_t kn = n;
			if (!k || !(e = read_netstring(&p, end, &n)))
				break;
			XC_AUTOFREE char *key = xstrndup(k, kn);
			value_struct_set(st, key, decode_value(t->elem, e, n));
		}
		return st;
	}
	return decode_scalar(t, s, len);
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
		const char *s = (const char *)sqlite3_column_text(st, col);
		return decode_value(t, s ? s : "", s ? (size_t)sqlite3_column_bytes(st, col) : 0);
	}
	default: {
		const char *s = (const char *)sqlite3_column_text(st, col);
		if (!s)
			return t->kind == DM_REF ? value_shared_string(REF_NULL, 14) : value_shared_string("", 0);
		return value_shared_string(s, (size_t)sqlite3_column_bytes(st, col));
	}
	}
}
