/* The generated messages: get_all, get_all_records, get_record,
 * get_by_uuid, get_by_name_label, get_<field>, set_<field>,
 * add_to_/remove_from_<map>, add_/remove_<set>, create and destroy.  One
 * implementation each, for every class, driven by the datamodel descriptors.
 * Class-specific rules come in through the hooks (hooks.c). */
#include "engine_priv.h"

#include <string.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

static struct value *read_with(struct op_ctx *c,
			       struct value *(*fn)(struct op_ctx *, struct store_txn *, struct value *const *,
						   struct xc_error *),
			       struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	struct value *v = fn(c, t, args, err);
	store_commit(t, NULL);
	return v;
}

static struct value *do_get_all(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				struct xc_error *err)
{
	return store_get_all(t, c->msg->cls);
}

static struct value *do_get_by_uuid(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				    struct xc_error *err)
{
	char *ref = store_ref_by_uuid(t, c->msg->cls, value_str(args[0]));
	if (!ref) {
		xc_error_set(err, XC_ERR_UUID_INVALID, c->msg->cls->name, value_str(args[0]));
		return NULL;
	}
	return value_new_string_take(ref);
}

static struct value *do_get_by_name_label(struct op_ctx *c, struct store_txn *t,
					  struct value *const *args, struct xc_error *err)
{
	return store_find(t, c->msg->cls->f_name_label, args[0]);
}

static struct value *do_get_field(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				  struct xc_error *err)
{
	return store_get_field(t, c->msg->field, value_str(args[0]), err);
}

static struct value *op_get_all(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return read_with(c, do_get_all, a, e);
}
/* get_all_records answers a lazy value holding its read transaction: the
 * writer pulls the rows straight from SQLite (store_rows_step), a batch at a
 * time, so thousands of records never exist as one tree and the first ones
 * can be on the wire while the last are still being read. */
#define ALL_RECORDS_BATCH 16

struct all_records {
	struct store_txn *t;
	struct store_rows *rows;
};

static enum value_step all_records_step(void *state, struct value_sink *k)
{
	struct all_records *a = state;
	return store_rows_step(a->rows, k, ALL_RECORDS_BATCH);
}

static void all_records_release(void *state)
{
	struct all_records *a = state;
	store_rows_close(a->rows);
	store_commit(a->t, NULL);
	free(a);
}

static struct value *op_get_all_records(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	struct all_records *s = xmalloc(sizeof(*s));
	s->t = store_read(c->e->store);
	s->rows = store_rows_open(s->t, c->msg->cls);
	return value_new_lazy(all_records_step, all_records_release, s);
}
/* The filtered forms: the expression compiles to SQL (store_filter.c). */
struct all_where {
	struct all_records rows;
	struct store_filter *filter;
};

static void all_where_release(void *state)
{
	struct all_where *a = state;
	store_rows_close(a->rows.rows);
	store_commit(a->rows.t, NULL);
	store_filter_free(a->filter);
	free(a);
}

static struct value *op_get_all_records_where(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	struct store_filter *f = store_filter_parse(c->msg->cls, value_str(a[0]), e);
	if (!f)
		return NULL;
	struct all_where *s = xmalloc(sizeof(*s));
	s->filter = f;
	s->rows.t = store_read(c->e->store);
	s->rows.rows = store_rows_open_where(s->rows.t, f);
	/* the step function reads the struct all_records at the start of s */
	return value_new_lazy(all_records_step, all_where_release, s);
}

static struct value *op_get_all_where(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	struct store_filter *f = store_filter_parse(c->msg->cls, value_str(a[0]), e);
	if (!f)
		return NULL;
	struct store_txn *t = store_read(c->e->store);
	struct value *r = store_get_all_where(t, f, e);
	store_commit(t, NULL);
	store_filter_free(f);
	return r;
}

static struct value *op_get_record(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return store_get_record_shared(c->e->store, c->msg->cls, value_str(a[0]), e);
}
static struct value *op_get_by_uuid(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return read_with(c, do_get_by_uuid, a, e);
}
static struct value *op_get_by_name_label(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return read_with(c, do_get_by_name_label, a, e);
}
static struct value *op_get_field(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return read_with(c, do_get_field, a, e);
}

/* Runs fn in a write transaction and commits it; the result is void. */
static struct value *write_with(struct op_ctx *c,
				int (*fn)(struct op_ctx *, struct store_txn *, struct value *const *,
					  struct xc_error *),
				struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	if (fn(c, t, args, err) < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}

static int do_set_field(struct op_ctx *c, struct store_txn *t, struct value *const *args,
			struct xc_error *err)
{
	const struct dm_field *f = c->msg->field;
	const char *ref = value_str(args[0]);
	if (!store_exists(t, f->cls, ref)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, f->cls->name, ref);
		return -1;
	}
	if (hooks_before_set(c, t, f, ref, args[1], err) < 0 || store_set(t, f, ref, args[1], err) < 0)
		return -1;
	return hooks_after_set(c, t, f, ref, err);
}

static struct value *uuid_of(struct store_txn *t, const struct dm_class *cls, const char *ref)
{
	struct xc_error ignore = XC_ERROR_INIT;
	struct value *u = store_get_field(t, cls->f_uuid, ref, &ignore);
	xc_error_clear(&ignore);
	return u ? u : value_new_string("");
}

/* Map and set edits are read-modify-write of the whole container inside
 * one transaction, then the same checks as set_<field>. */
static int do_edit(struct op_ctx *c, struct store_txn *t, struct value *const *args, struct xc_error *err)
{
	const struct dm_field *f = c->msg->field;
	const char *ref = value_str(args[0]);
	struct value *cur = store_get_field(t, f, ref, err);
	if (!cur)
		return -1;
	struct value *next = value_copy(cur);
	value_unref(cur);
	bool changed = true;
	switch (c->msg->kind) {
	case DM_MSG_ADD_TO_MAP: {
		const char *key = value_str(args[1]);
		if (value_struct_get(next, key)) {
			XC_AUTOVALUE *u = uuid_of(t, f->cls, ref);
			xc_error_set(err, XC_ERR_MAP_DUPLICATE_KEY, f->cls->name, f->name, value_str(u), key);
			value_unref(next);
			return -1;
		}
		value_struct_add(next, key, value_ref(args[2]));
		break;
	}
	case DM_MSG_REMOVE_FROM_MAP:
		changed = value_struct_remove(next, value_str(args[1]));
		break;
	case DM_MSG_ADD_TO_SET:
		for (size_t i = 0; i < value_len(next); i++)
			if (value_equal(value_array_at(next, i), args[1]))
				changed = false;
		if (changed)
			value_array_push(next, value_ref(args[1]));
		break;
	case DM_MSG_REMOVE_FROM_SET: {
		changed = false;
		struct value *kept = value_new_array(value_len(next));
		for (size_t i = 0; i < value_len(next); i++) {
			struct value *e = value_array_at(next, i);
			if (value_equal(e, args[1]))
				changed = true;
			else
				value_array_push(kept, value_ref(e));
		}
		value_unref(next);
		next = kept;
		break;
	}
	default:
		break;
	}
	int rc = 0;
	if (changed) {
		rc = hooks_before_set(c, t, f, ref, next, err);
		if (rc == 0)
			rc = store_set(t, f, ref, next, err);
		if (rc == 0)
			rc = hooks_after_set(c, t, f, ref, err);
	}
	value_unref(next);
	return rc;
}

static struct value *op_set_field(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return write_with(c, do_set_field, a, e);
}
static struct value *op_edit(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return write_with(c, do_edit, a, e);
}

/* create(record): constructor fields from the caller, server fields at their
 * defaults, every reference checked. */
static struct value *op_create(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const struct dm_class *cls = c->msg->cls;
	XC_AUTOVALUE *rec = value_new_struct(cls->nfields);
	for (unsigned i = 0; i < cls->nfields; i++) {
		const struct dm_field *f = &cls->fields[i];
		if (f->col < 0)
			continue;
		const struct value *given = f->qual != DM_RO ? value_struct_get(args[0], f->name) : NULL;
		value_struct_add(rec, f->name, given ? value_ref((struct value *)given) : dm_field_default(f));
	}
	struct store_txn *t = store_write(c->e->store);
	for (unsigned i = 0; i < cls->nfields; i++) {
		const struct dm_field *f = &cls->fields[i];
		const char *target = value_str(value_struct_get(rec, f->name));
		if (f->col >= 0 && f->type->kind == DM_REF && !ref_is_null(target) &&
		    !store_exists(t, f->type->cls, target)) {
			xc_error_set(err, XC_ERR_HANDLE_INVALID, f->type->cls->name, target);
			store_abort(t);
			return NULL;
		}
	}
	/* The uuid is always the server's to choose. */
	value_struct_set(rec, "uuid", value_new_string(""));
	if (hooks_before_create(c, t, cls, rec, err) < 0) {
		store_abort(t);
		return NULL;
	}
	char *ref = store_create(t, cls, NULL, rec, err);
	if (!ref || store_commit(t, err) < 0) {
		if (!ref)
			store_abort(t);
		free(ref);
		return NULL;
	}
	return value_new_string_take(ref);
}

static int do_destroy(struct op_ctx *c, struct store_txn *t, struct value *const *args,
		      struct xc_error *err)
{
	const char *ref = value_str(args[0]);
	if (!store_exists(t, c->msg->cls, ref)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, c->msg->cls->name, ref);
		return -1;
	}
	if (hooks_before_destroy(c, t, c->msg->cls, ref, err) < 0)
		return -1;
	return store_destroy(t, c->msg->cls, ref, err);
}

static struct value *op_destroy(struct op_ctx *c, struct value *const *a, struct xc_error *e)
{
	return write_with(c, do_destroy, a, e);
}

static const op_fn generic[DM_MSG_KIND_LAST] = {
	[DM_MSG_GET_ALL] = op_get_all,
	[DM_MSG_GET_ALL_RECORDS] = op_get_all_records,
	[DM_MSG_GET_ALL_WHERE] = op_get_all_where,
	[DM_MSG_GET_ALL_RECORDS_WHERE] = op_get_all_records_where,
	[DM_MSG_GET_RECORD] = op_get_record,
	[DM_MSG_GET_BY_UUID] = op_get_by_uuid,
	[DM_MSG_GET_BY_NAME_LABEL] = op_get_by_name_label,
	[DM_MSG_GET_FIELD] = op_get_field,
	[DM_MSG_SET_FIELD] = op_set_field,
	[DM_MSG_ADD_TO_MAP] = op_edit,
	[DM_MSG_REMOVE_FROM_MAP] = op_edit,
	[DM_MSG_ADD_TO_SET] = op_edit,
	[DM_MSG_REMOVE_FROM_SET] = op_edit,
	[DM_MSG_CREATE] = op_create,
	[DM_MSG_DESTROY] = op_destroy,
};

op_fn ops_generic_handler(enum dm_msg_kind kind)
{
	return kind < DM_MSG_KIND_LAST ? generic[kind] : NULL;
}
