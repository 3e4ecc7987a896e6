/* The value tree (see value.h for the ownership rules). */
#include "value.h"
#include "value_sink.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const type_names[] = {
	"nil", "string", "int", "float", "bool", "datetime", "array", "struct", "lazy",
};
_Static_assert(ARRAY_SIZE(type_names) == VALUE_TYPE_LAST, "type names");

const char *value_type_name(enum value_type t)
{
	return t < VALUE_TYPE_LAST ? type_names[t] : "?";
}

static struct value *alloc_value(enum value_type t)
{
	struct value *v = xcalloc(1, sizeof(*v));
	v->type = t;
	v->refs = 1;
	return v;
}

struct value *value_new_nil(void) { return alloc_value(VALUE_NIL); }

struct value *value_new_lazy(enum value_step (*step)(void *state, struct value_sink *k),
			     void (*release)(void *state), void *state)
{
	struct value *v = alloc_value(VALUE_LAZY);
	v->u.lazy.step = step;
	v->u.lazy.last = VALUE_STEP_MORE;
	v->u.lazy.release = release;
	v->u.lazy.state = state;
	return v;
}

struct value *value_new_stringn(const char *s, size_t n)
{
	/* One allocation for the value and its bytes. */
	struct value *v = xmalloc(sizeof(*v) + n + 1);
	memset(v, 0, sizeof(*v));
	v->type = VALUE_STRING;
	v->refs = 1;
	v->inline_str = true;
	v->u.str.s = (char *)(v + 1);
	memcpy(v->u.str.s, s, n);
	v->u.str.s[n] = '\0';
	v->u.str.len = n;
	return v;
}

static struct value shared_false = { .type = VALUE_BOOL, .immortal = true, .u.b = false };
static struct value shared_true = { .type = VALUE_BOOL, .immortal = true, .u.b = true };
static struct value shared_zero = { .type = VALUE_INT, .immortal = true, .u.i = 0 };
static struct value shared_minus_one = { .type = VALUE_INT, .immortal = true, .u.i = -1 };
static struct value shared_empty = { .type = VALUE_STRING, .immortal = true, .u.str = { (char *)"", 0 } };
static struct value shared_null_ref = { .type = VALUE_STRING, .immortal = true,
					.u.str = { (char *)"OpaqueRef:NULL", 14 } };

struct value *value_shared_bool(bool b)
{
	return b ? &shared_true : &shared_false;
}

struct value *value_shared_int(int64_t i)
{
	return i == 0 ? &shared_zero : i == -1 ? &shared_minus_one : value_new_int(i);
}

struct value *value_shared_string(const char *s, size_t n)
{
	if (n == 0)
		return &shared_empty;
	if (n == 14 && memcmp(s, "OpaqueRef:NULL", 14) == 0)
		return &shared_null_ref;
	return value_new_stringn(s, n);
}

struct value *value_new_string(const char *s)
{
	return value_new_stringn(s ? s : "", s ? strlen(s) : 0);
}

struct value *value_new_string_take(char *s)
{
	struct value *v = alloc_value(VALUE_STRING);
	v->u.str.s = s;
	v->u.str.len = strlen(s);
	return v;
}

struct value *value_new_stringf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = xstrdup("");
	va_end(ap);
	return value_new_string_take(s);
}

struct value *value_new_int(int64_t i)
{
	struct value *v = alloc_value(VALUE_INT);
	v->u.i = i;
	return v;
}

struct value *value_new_int32(int32_t i)
{
	struct value *v = value_new_int(i);
	v->int32 = true;
	return v;
}

struct value *value_new_float(double f)
{
	struct value *v = alloc_value(VALUE_FLOAT);
	v->u.f = f;
	return v;
}

struct value *value_new_bool(bool b)
{
	struct value *v = alloc_value(VALUE_BOOL);
	v->u.b = b;
	return v;
}

struct value *value_new_datetime(int64_t t)
{
	struct value *v = alloc_value(VALUE_DATETIME);
	v->u.t = t;
	return v;
}

struct value *value_new_array(size_t hint)
{
	struct value *v = alloc_value(VALUE_ARRAY);
	if (hint) {
		v->u.arr.items = xreallocarray(NULL, hint, sizeof(*v->u.arr.items));
		v->u.arr.cap = hint;
	}
	return v;
}

struct value *value_new_struct(size_t hint)
{
	struct value *v = alloc_value(VALUE_STRUCT);
	if (hint) {
		v->u.st.m = xreallocarray(NULL, hint, sizeof(*v->u.st.m));
		v->u.st.cap = hint;
	}
	return v;
}

static void struct_append(struct value *st, char *key, bool key_static, struct value *val);

struct value *value_ref(struct value *v)
{
	if (v && !v->immortal)
		__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	return v;
}

void value_unref(struct value *v)
{
	if (!v || v->immortal || __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	switch (v->type) {
	case VALUE_STRING:
		if (!v->inline_str)
			free(v->u.str.s);
		break;
	case VALUE_ARRAY:
		for (size_t i = 0; i < v->u.arr.n; i++)
			value_unref(v->u.arr.items[i]);
		free(v->u.arr.items);
		break;
	case VALUE_STRUCT:
		for (size_t i = 0; i < v->u.st.n; i++) {
			if (!v->u.st.m[i].key_static)
				free(v->u.st.m[i].key);
			value_unref(v->u.st.m[i].val);
		}
		free(v->u.st.m);
		break;
	case VALUE_LAZY:
		if (v->u.lazy.release)
			v->u.lazy.release(v->u.lazy.state);
		break;
	default:
		break;
	}
	free(v);
}

struct value *value_copy(const struct value *v)
{
	if (!v)
		return NULL;
	struct value *c;
	switch (v->type) {
	case VALUE_STRING:
		return value_new_stringn(v->u.str.s, v->u.str.len);
	case VALUE_ARRAY:
		c = value_new_array(v->u.arr.n);
		for (size_t i = 0; i < v->u.arr.n; i++)
			value_array_push(c, value_copy(v->u.arr.items[i]));
		return c;
	case VALUE_STRUCT:
		c = value_new_struct(v->u.st.n);
		for (size_t i = 0; i < v->u.st.n; i++)
			struct_append(c, v->u.st.m[i].key_static ? v->u.st.m[i].key : xstrdup(v->u.st.m[i].key),
				      v->u.st.m[i].key_static, value_copy(v->u.st.m[i].val));
		return c;
	case VALUE_LAZY:
		return value_materialize(v);
	default:
		c = alloc_value(v->type);
		c->u = v->u;
		return c;
	}
}

bool value_equal(const struct value *a, const struct value *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->type != b->type)
		return false;
	switch (a->type) {
	case VALUE_NIL:
		return true;
	case VALUE_STRING:
		return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
	case VALUE_INT:
		return a->u.i == b->u.i;
	case VALUE_FLOAT:
		return a->u.f == b->u.f;
	case VALUE_BOOL:
		return a->u.b == b->u.b;
	case VALUE_DATETIME:
		return a->u.t == b->u.t;
	case VALUE_ARRAY:
		if (a->u.arr.n != b->u.arr.n)
			return false;
		for (size_t i = 0; i < a->u.arr.n; i++)
			if (!value_equal(a->u.arr.items[i], b->u.arr.items[i]))
				return false;
		return true;
	case VALUE_STRUCT:
		if (a->u.st.n != b->u.st.n)
			return false;
		for (size_t i = 0; i < a->u.st.n; i++) {
			const struct value *o = value_struct_get(b, a->u.st.m[i].key);
			if (!value_equal(a->u.st.m[i].val, o))
				return false;
		}
		return true;
	default:
		return false;
	}
}

void value_array_push(struct value *arr, struct value *item)
{
	if (arr->u.arr.n == arr->u.arr.cap) {
		arr->u.arr.cap = arr->u.arr.cap ? arr->u.arr.cap * 2 : 4;
		arr->u.arr.items = xreallocarray(arr->u.arr.items, arr->u.arr.cap, sizeof(*arr->u.arr.items));
	}
	arr->u.arr.items[arr->u.arr.n++] = item;
}

void value_array_push_string(struct value *arr, const char *s)
{
	value_array_push(arr, value_new_string(s));
}

static void struct_append(struct value *st, char *key, bool key_static, struct value *val)
{
	if (st->u.st.n == st->u.st.cap) {
		st->u.st.cap = st->u.st.cap ? st->u.st.cap * 2 : 4;
		st->u.st.m = xreallocarray(st->u.st.m, st->u.st.cap, sizeof(*st->u.st.m));
	}
	st->u.st.m[st->u.st.n] = (struct value_member){ key, val, key_static };
	st->u.st.n++;
}

void value_struct_add(struct value *st, const char *key, struct value *val)
{
	struct_append(st, xstrdup(key), false, val);
}

void value_struct_add_static(struct value *st, const char *key, struct value *val)
{
	struct_append(st, (char *)key, true, val);
}

void value_struct_set(struct value *st, const char *key, struct value *val)
{
	for (size_t i = 0; i < st->u.st.n; i++) {
		if (strcmp(st->u.st.m[i].key, key) == 0) {
			value_unref(st->u.st.m[i].val);
			st->u.st.m[i].val = val;
			return;
		}
	}
	value_struct_add(st, key, val);
}

bool value_struct_remove(struct value *st, const char *key)
{
	for (size_t i = 0; i < st->u.st.n; i++) {
		if (strcmp(st->u.st.m[i].key, key) == 0) {
			if (!st->u.st.m[i].key_static)
				free(st->u.st.m[i].key);
			value_unref(st->u.st.m[i].val);
			memmove(&st->u.st.m[i], &st->u.st.m[i + 1], (st->u.st.n - i - 1) * sizeof(*st->u.st.m));
			st->u.st.n--;
			return true;
		}
	}
	return false;
}

struct value *value_struct_get(const struct value *st, const char *key)
{
	if (!st || st->type != VALUE_STRUCT)
		return NULL;
	for (size_t i = 0; i < st->u.st.n; i++)
		if (strcmp(st->u.st.m[i].key, key) == 0)
			return st->u.st.m[i].val;
	return NULL;
}

struct value *value_struct_at(const struct value *st, size_t i)
{
	if (!st || st->type != VALUE_STRUCT || i >= st->u.st.n)
		return NULL;
	return st->u.st.m[i].val;
}

struct value *value_array_at(const struct value *arr, size_t i)
{
	if (!arr || arr->type != VALUE_ARRAY || i >= arr->u.arr.n)
		return NULL;
	return arr->u.arr.items[i];
}

size_t value_len(const struct value *v)
{
	if (!v)
		return 0;
	switch (v->type) {
	case VALUE_ARRAY:
		return v->u.arr.n;
	case VALUE_STRUCT:
		return v->u.st.n;
	case VALUE_STRING:
		return v->u.str.len;
	default:
		return 0;
	}
}

const char *value_str(const struct value *v)
{
	return v && v->type == VALUE_STRING ? v->u.str.s : NULL;
}

const char *value_struct_get_str(const struct value *st, const char *key)
{
	return value_str(value_struct_get(st, key));
}

void value_datetime_format(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof(tm));
	int year = tm.tm_year + 1900;
	if (year < 0 || year > 9999) { /* not four digits: the general way */
		strftime(out, 32, "%Y%m%dT%H:%M:%SZ", &tm);
		return;
	}
	/* Every record carries a few datetimes; strftime costs ten times this. */
	int f[] = { year / 100, year % 100, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec };
	char *p = out;
	for (unsigned i = 0; i < 7; i++) {
		if (i == 4)
			*p++ = 'T';
		else if (i > 4)
			*p++ = ':';
		*p++ = (char)('0' + f[i] / 10);
		*p++ = (char)('0' + f[i] % 10);
	}
	*p++ = 'Z';
	*p = '\0';
}

bool value_datetime_parse(const char *s, int64_t *t)
{
	int y, mo, d, h, mi, sec;
	char tail[8] = "";
	if (sscanf(s, "%4d%2d%2dT%2d:%2d:%2d%7s", &y, &mo, &d, &h, &mi, &sec, tail) < 6 &&
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%7s", &y, &mo, &d, &h, &mi, &sec, tail) < 6)
		return false;
	if (tail[0] && strcmp(tail, "Z") != 0 && tail[0] != '.' && tail[0] != '+')
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1900)
		return false;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = sec };
	*t = (int64_t)timegm(&tm);
	return true;
}
