/* Small helpers for handlers: reading fields of records and writing single
 * fields by name.  Names are checked against the datamodel, so a typo is a
 * loud programming error rather than a silent no-op. */
#include "engine_priv.h"

#include <stdio.h>
#include <stdlib.h>

#include "../util/log.h"
#include "../util/uuid.h"

#define LOG_MODULE "engine"

const struct dm_class *cls_of(const char *name)
{
	const struct dm_class *c = dm_class_find(name);
	if (!c) {
		log_error("no class %s in the datamodel", name);
		abort();
	}
	return c;
}

static const struct dm_field *field_of(const struct dm_class *c, const char *name)
{
	const struct dm_field *f = dm_field_find(c, name);
	if (!f) {
		log_error("no field %s.%s in the datamodel", c->name, name);
		abort();
	}
	return f;
}

const struct value *rec_get(const struct value *rec, const char *field)
{
	return value_struct_get(rec, field);
}

const char *rec_str(const struct value *rec, const char *field)
{
	const char *s = value_str(value_struct_get(rec, field));
	return s ? s : "";
}

int64_t rec_int(const struct value *rec, const char *field)
{
	const struct value *v = value_struct_get(rec, field);
	return v && v->type == VALUE_INT ? v->u.i : 0;
}

bool rec_bool(const struct value *rec, const char *field)
{
	const struct value *v = value_struct_get(rec, field);
	return v && v->type == VALUE_BOOL && v->u.b;
}

int set_value(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	      const struct value *v, struct xc_error *err)
{
	return store_set(t, field_of(c, field), ref, v, err);
}

int set_str(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	    const char *v, struct xc_error *err)
{
	XC_AUTOVALUE *val = value_new_string(v);
	return set_value(t, c, ref, field, val, err);
}

int set_int(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	    int64_t v, struct xc_error *err)
{
	XC_AUTOVALUE *val = value_new_int(v);
	return set_value(t, c, ref, field, val, err);
}

int set_bool(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	     bool v, struct xc_error *err)
{
	XC_AUTOVALUE *val = value_new_bool(v);
	return set_value(t, c, ref, field, val, err);
}

int set_float(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	      double v, struct xc_error *err)
{
	XC_AUTOVALUE *val = value_new_float(v);
	return set_value(t, c, ref, field, val, err);
}

int ref_check(struct engine *e, const char *cls, const char *ref, struct xc_error *err)
{
	struct store_txn *t = store_read(e->store);
	bool ok = store_exists(t, cls_of(cls), ref);
	store_commit(t, NULL);
	if (ok)
		return 0;
	xc_error_set(err, XC_ERR_HANDLE_INVALID, cls, ref ? ref : "");
	return -1;
}

int op_mark_begin(struct op_ctx *c, struct store_txn *t, const struct dm_class *cls, const char *ref,
		  const struct value *rec, const char *op, char key[48], struct xc_error *err)
{
	if (c->task)
		snprintf(key, 48, "%s", task_ref(c->task));
	else
		ref_generate(key);
	XC_AUTOVALUE *cur = value_copy(rec_get(rec, "current_operations"));
	value_struct_set(cur, key, value_new_string(op));
	return set_value(t, cls, ref, "current_operations", cur, err);
}
