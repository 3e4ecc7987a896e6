/* Values checked against datamodel types: what a call's arguments must look
 * like, the zero and default values of fields, and text (a .def default, an
 * `xe` argument) turned into typed values. */
#include "dm.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

struct value *dm_type_zero(const struct dm_type *t)
{
	switch (t->kind) {
	case DM_INT:
		return value_new_int(0);
	case DM_FLOAT:
		return value_new_float(0.0);
	case DM_BOOL:
		return value_new_bool(false);
	case DM_DATETIME:
		return value_new_datetime(0);
	case DM_REF:
		return value_new_string(REF_NULL);
	case DM_ENUM:
		return value_new_string(t->enm->values[0]);
	case DM_SET:
		return value_new_array(0);
	case DM_MAP:
	case DM_RECORD:
	case DM_STRUCT:
		return value_new_struct(0);
	case DM_VOID:
	case DM_STRING:
	default:
		return value_new_string("");
	}
}

struct value *dm_field_default(const struct dm_field *f)
{
	if (f->deflt) {
		struct xc_error err = XC_ERROR_INIT;
		struct value *v = dm_parse_text(f->type, f->deflt, &err);
		xc_error_clear(&err);
		if (v)
			return v;
	}
	return dm_type_zero(f->type);
}

static bool parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double *out)
{
	if (!s || !*s)
		return false;
	errno = 0;
	char *end;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static struct value *type_error(const char *what, struct xc_error *err)
{
	xc_error_set(err, XC_ERR_FIELD_TYPE_ERROR, what);
	return NULL;
}

/* Map keys travel as strings; a key of another type must read as that type. */
static bool key_ok(const struct dm_type *kt, const char *key)
{
	int64_t i;
	double d;
	switch (kt->kind) {
	case DM_INT:
		return parse_i64(key, &i);
	case DM_FLOAT:
		return parse_double(key, &d);
	case DM_ENUM:
		return dm_enum_has(kt->enm, key);
	case DM_BOOL:
		return strcmp(key, "true") == 0 || strcmp(key, "false") == 0;
	default:
		return true;
	}
}

struct value *dm_coerce(const struct dm_type *t, const struct value *v, const char *what,
			struct xc_error *err)
{
	int64_t i;
	double d;
	if (!v)
		return type_error(what, err);
	switch (t->kind) {
	case DM_VOID:
	case DM_STRUCT:
		return value_copy(v);
	case DM_STRING:
	case DM_REF:
		if (v->type == VALUE_STRING)
			return value_ref((struct value *)v);
		return type_error(what, err);
	case DM_ENUM:
		if (v->type == VALUE_STRING && dm_enum_has(t->enm, v->u.str.s))
			return value_ref((struct value *)v);
		return type_error(what, err);
	case DM_INT:
		if (v->type == VALUE_INT)
			return value_ref((struct value *)v);
		if (v->type == VALUE_STRING && parse_i64(v->u.str.s, &i))
			return value_new_int(i);
		if (v->type == VALUE_FLOAT && v->u.f == floor(v->u.f) && fabs(v->u.f) < 9.2e18)
			return value_new_int((int64_t)v->u.f);
		return type_error(what, err);
	case DM_FLOAT:
		if (v->type == VALUE_FLOAT)
			return value_ref((struct value *)v);
		if (v->type == VALUE_INT)
			return value_new_float((double)v->u.i);
		if (v->type == VALUE_STRING && parse_double(v->u.str.s, &d))
			return value_new_float(d);
		return type_error(what, err);
	case DM_BOOL:
		if (v->type == VALUE_BOOL)
			return value_ref((struct value *)v);
		return type_error(what, err);
	case DM_DATETIME:
		if (v->type == VALUE_DATETIME)
			return value_ref((struct value *)v);
		if (v->type == VALUE_STRING && value_datetime_parse(v->u.str.s, &i))
			return value_new_datetime(i);
		return type_error(what, err);
	case DM_SET: {
		if (v->type != VALUE_ARRAY)
			return type_error(what, err);
		struct value *out = value_new_array(v->u.arr.n);
		for (size_t k = 0; k < v->u.arr.n; k++) {
			struct value *e = dm_coerce(t->elem, v->u.arr.items[k], what, err);
			if (!e) {
				value_unref(out);
				return NULL;
			}
			value_array_push(out, e);
		}
		return out;
	}
	case DM_MAP: {
		if (v->type != VALUE_STRUCT)
			return type_error(what, err);
		struct value *out = value_new_struct(v->u.st.n);
		for (size_t k = 0; k < v->u.st.n; k++) {
			struct value *e = key_ok(t->key, v->u.st.m[k].key)
						  ? dm_coerce(t->elem, v->u.st.m[k].val, what, err)
						  : type_error(what, err);
			if (!e) {
				value_unref(out);
				return NULL;
			}
			value_struct_set(out, v->u.st.m[k].key, e);
		}
		return out;
	}
	case DM_RECORD: {
		/* Constructor records: known fields are checked, unknown keys are
		 * ignored as xapi does, missing ones are left for the caller to
		 * default. */
		if (v->type != VALUE_STRUCT)
			return type_error(what, err);
		struct value *out = value_new_struct(v->u.st.n);
		for (size_t k = 0; k < v->u.st.n; k++) {
			const struct dm_field *f = dm_field_find(t->cls, v->u.st.m[k].key);
			if (!f || f->col < 0)
				continue;
			struct value *e = dm_coerce(f->type, v->u.st.m[k].val, f->name, err);
			if (!e) {
				value_unref(out);
				return NULL;
			}
			value_struct_set(out, f->name, e);
		}
		return out;
	}
	default:
		return type_error(what, err);
	}
}

struct value *dm_parse_text(const struct dm_type *t, const char *text, struct xc_error *err)
{
	int64_t i;
	double d;
	switch (t->kind) {
	case DM_STRING:
	case DM_VOID:
		return value_new_string(text);
	case DM_REF:
		return value_new_string(*text ? text : REF_NULL);
	case DM_ENUM:
		if (dm_enum_has(t->enm, text))
			return value_new_string(text);
		xc_error_set(err, XC_ERR_INVALID_VALUE, t->enm->name, text);
		return NULL;
	case DM_INT:
		if (parse_i64(text, &i))
			return value_new_int(i);
		break;
	case DM_FLOAT:
		if (parse_double(text, &d))
			return value_new_float(d);
		break;
	case DM_BOOL:
		if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
			return value_new_bool(text[0] == 't');
		break;
	case DM_DATETIME:
		if (value_datetime_parse(text, &i))
			return value_new_datetime(i);
		break;
	case DM_SET:
	case DM_MAP:
	case DM_RECORD:
	case DM_STRUCT:
		/* Containers default to empty; `xe` builds them key by key. */
		if (!*text)
			return dm_type_zero(t);
		break;
	default:
		break;
	}
	xc_error_set(err, XC_ERR_INVALID_VALUE, t->spec, text);
	return NULL;
}
