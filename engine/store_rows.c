/* Records in and out of the store: reads assemble records (reverse sets
 * included), writes keep the change list that becomes events. */
#include "store_priv.h"

#include <limits.h>
#include <string.h>

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/value_sink.h"
#include "../util/xalloc.h"

#define LOG_MODULE "store"

static int step_done(struct store_txn *t, sqlite3_stmt *st, struct xc_error *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_CONSTRAINT)
		xc_error_internal(err, "database constraint: %s", sqlite3_errmsg(t->c->db));
	else
		store_sqlite_error(t->c->db, rc, err);
	return -1;
}

static struct value *handle_invalid(const struct dm_class *c, const char *ref, struct xc_error *err)
{
	xc_error_set(err, XC_ERR_HANDLE_INVALID, c->name, ref ? ref : "");
	return NULL;
}

bool store_exists(struct store_txn *t, const struct dm_class *c, const char *ref)
{
	if (!t->c || !ref || (c->flags & DM_C_NO_RECORDS))
		return false;
	sqlite3_stmt *st = store_stmt(t->c, c, ST_EXISTS);
	if (!st)
		return false;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	bool found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return found;
}

/* Refs of `of` whose ref field `f` equals ref: one reverse set. */
static struct value *reverse_set(struct store_txn *t, const struct dm_field *rev, const char *ref)
{
	struct value *arr = value_new_array(0);
	sqlite3_stmt *st = store_fstmt(t->c, rev->partner, FST_FIND);
	if (!st)
		return arr;
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		value_array_push(arr, value_new_stringn((const char *)sqlite3_column_text(st, 0),
							(size_t)sqlite3_column_bytes(st, 0)));
	sqlite3_reset(st);
	return arr;
}

/* Builds a record from a row whose stored columns start at column `first`. */
static struct value *row_to_record(struct store_txn *t, const struct dm_class *c, sqlite3_stmt *st,
				   int first, const char *ref, struct strmap *const *rev_maps)
{
	struct value *rec = value_new_struct(c->nfields);
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct dm_field *f = &c->fields[i];
		struct value *v;
		if (f->col >= 0) {
			v = store_column(st, first + f->col, f->type);
		} else if (rev_maps) {
			struct value *pre = strmap_get(rev_maps[i], ref);
			v = pre ? value_ref(pre) : value_new_array(0);
		} else {
			v = NULL; /* filled after the row statement is done */
		}
		value_struct_add_static(rec, f->name, v);
	}
	return rec;
}

static void fill_reverse_sets(struct store_txn *t, const struct dm_class *c, const char *ref,
			      struct value *rec)
{
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct dm_field *f = &c->fields[i];
		if (f->col < 0 && !rec->u.st.m[i].val)
			rec->u.st.m[i].val = reverse_set(t, f, ref);
	}
}

struct value *store_get_record(struct store_txn *t, const struct dm_class *c, const char *ref,
			       struct xc_error *err)
{
	if (!t->c || !ref || (c->flags & DM_C_NO_RECORDS))
		return handle_invalid(c, ref, err);
	sqlite3_stmt *st = store_stmt(t->c, c, ST_SELECT_ROW);
	if (!st) {
		xc_error_internal(err, "database: cannot read %s", c->name);
		return NULL;
	}
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return handle_invalid(c, ref, err);
	}
	struct value *rec = row_to_record(t, c, st, 0, ref, NULL);
	sqlite3_reset(st);
	fill_reverse_sets(t, c, ref, rec);
	return rec;
}

struct value *store_get_field(struct store_txn *t, const struct dm_field *f, const char *ref,
			      struct xc_error *err)
{
	if (!store_exists(t, f->cls, ref))
		return handle_invalid(f->cls, ref, err);
	if (f->col < 0)
		return reverse_set(t, f, ref);
	sqlite3_stmt *st = store_fstmt(t->c, f, FST_SELECT);
	if (!st) {
		xc_error_internal(err, "database: cannot read %s.%s", f->cls->name, f->name);
		return NULL;
	}
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return handle_invalid(f->cls, ref, err);
	}
	struct value *v = store_column(st, 0, f->type);
	sqlite3_reset(st);
	return v;
}

struct value *store_get_all(struct store_txn *t, const struct dm_class *c)
{
	struct value *arr = value_new_array(0);
	if (!t->c || (c->flags & DM_C_NO_RECORDS))
		return arr;
	sqlite3_stmt *st = store_stmt(t->c, c, ST_SELECT_REFS);
	if (!st)
		return arr;
	while (sqlite3_step(st) == SQLITE_ROW)
		value_array_push(arr, value_new_stringn((const char *)sqlite3_column_text(st, 0),
							(size_t)sqlite3_column_bytes(st, 0)));
	sqlite3_reset(st);
	return arr;
}

static void unref_value(void *v) { value_unref(v); }

/* Every reverse set of the class in one pass over each partner table,
 * rather than a query per object: per field, owner ref -> array of refs. */
static struct strmap **bulk_reverse_sets(struct store_txn *t, const struct dm_class *c, bool *failed)
{
	struct strmap **rev = xcalloc(c->nfields, sizeof(*rev));
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct dm_field *f = &c->fields[i];
		if (f->col >= 0)
			continue;
		rev[i] = xcalloc(1, sizeof(struct strmap));
		sqlite3_stmt *st = store_fstmt(t->c, f->partner, FST_PAIRS);
		int rc = SQLITE_DONE;
		while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *owner = (const char *)sqlite3_column_text(st, 0);
			if (ref_is_null(owner))
				continue; /* points nowhere: in nobody's set */
			struct value *set = strmap_get(rev[i], owner);
			if (!set) {
				set = value_new_array(0);
				strmap_put(rev[i], owner, set);
			}
			value_array_push(set, value_new_stringn((const char *)sqlite3_column_text(st, 1),
								(size_t)sqlite3_column_bytes(st, 1)));
		}
		if (!st || rc != SQLITE_DONE)
			*failed = true;
		if (st)
			sqlite3_reset(st);
	}
	return rev;
}

static void free_reverse_sets(const struct dm_class *c, struct strmap **rev)
{
	for (unsigned i = 0; i < c->nfields; i++) {
		if (rev[i]) {
			strmap_clear(rev[i], unref_value);
			free(rev[i]);
		}
	}
	free(rev);
}

/* An iteration over every record of a class (store.h): the reverse sets are
 * gathered up front, then the rows are walked a few at a time. */
struct store_rows {
	struct store_txn *t;
	const struct dm_class *c;
	const struct store_rows_shape *shape;
	void *cookie;
	const struct store_filter *filter; /* or every row */
	struct strmap **rev;
	sqlite3_stmt *st; /* NULL before the first step and after the last */
	bool started, failed;
};

/* get_all_records' shape: one struct, ref -> record. */
static void map_row_begin(struct value_sink *k, void *cookie, const struct dm_class *c, const char *ref, size_t n)
{
	k->ops->member(k, ref, n, false);
}

static void map_row_end(struct value_sink *k, void *cookie)
{
	k->ops->member_end(k);
}

static const struct store_rows_shape map_shape = { true, map_row_begin, map_row_end };

struct store_rows *store_rows_open_shaped(struct store_txn *t, const struct dm_class *c,
					  const struct store_rows_shape *shape, void *cookie)
{
	struct store_rows *r = xcalloc(1, sizeof(*r));
	r->t = t;
	r->c = c;
	r->shape = shape;
	r->cookie = cookie;
	return r;
}

struct store_rows *store_rows_open(struct store_txn *t, const struct dm_class *c)
{
	return store_rows_open_shaped(t, c, &map_shape, NULL);
}

struct store_rows *store_rows_open_where(struct store_txn *t, const struct store_filter *f)
{
	struct store_rows *r = store_rows_open_shaped(t, store_filter_class(f), &map_shape, NULL);
	r->filter = f;
	return r;
}

/* The statement is the connection's cached one, or a filter's own. */
static void rows_stmt_done(struct store_rows *r)
{
	if (!r->st)
		return;
	if (r->filter)
		sqlite3_finalize(r->st);
	else
		sqlite3_reset(r->st);
	r->st = NULL;
}

static bool rows_start(struct store_rows *r)
{
	const struct dm_class *c = r->c;
	if (!r->t->c || (c->flags & DM_C_NO_RECORDS))
		return true;
	r->rev = bulk_reverse_sets(r->t, c, &r->failed);
	r->st = r->filter ? store_filter_prepare(r->t, r->filter, true) : store_stmt(r->t->c, c, ST_SELECT_ALL);
	return r->st && !r->failed;
}

static void emit_row(struct store_rows *r, struct value_sink *k)
{
	const struct value_sink_ops *o = k->ops;
	const struct dm_class *c = r->c;
	sqlite3_stmt *st = r->st;
	const char *ref = (const char *)sqlite3_column_text(st, 0);
	r->shape->row_begin(k, r->cookie, c, ref, (size_t)sqlite3_column_bytes(st, 0));
	o->struct_begin(k);
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct dm_field *f = &c->fields[i];
		o->member(k, f->name, f->name_len, true);
		if (f->col >= 0) {
			store_column_emit(st, 1 + f->col, f->type, k);
		} else {
			const struct value *set = strmap_get(r->rev[i], ref);
			if (set) {
				value_emit(set, k);
			} else {
				o->array_begin(k);
				o->array_end(k);
			}
		}
		o->member_end(k);
	}
	o->struct_end(k);
	r->shape->row_end(k, r->cookie);
}

enum value_step store_rows_step(struct store_rows *r, struct value_sink *k, unsigned max_rows)
{
	const struct value_sink_ops *o = k->ops;
	if (!r->started) {
		r->started = true;
		if (r->shape->framed)
			o->struct_begin(k);
		if (!rows_start(r)) {
			if (r->t->c && !(r->c->flags & DM_C_NO_RECORDS))
				r->failed = true;
			goto finish;
		}
		if (!r->st)
			goto finish;
	} else if (!r->st) {
		return r->failed ? VALUE_STEP_FAILED : VALUE_STEP_DONE;
	}
	for (unsigned n = 0; n < max_rows; n++) {
		int rc = sqlite3_step(r->st);
		if (rc == SQLITE_ROW) {
			emit_row(r, k);
			continue;
		}
		if (rc != SQLITE_DONE) {
			log_error("reading every %s: %s", r->c->name, sqlite3_errmsg(r->t->c->db));
			r->failed = true;
		}
		goto finish;
	}
	return VALUE_STEP_MORE;
finish:
	rows_stmt_done(r);
	if (r->shape->framed)
		o->struct_end(k);
	return r->failed ? VALUE_STEP_FAILED : VALUE_STEP_DONE;
}

void store_rows_close(struct store_rows *r)
{
	if (!r)
		return;
	rows_stmt_done(r);
	if (r->rev)
		free_reverse_sets(r->c, r->rev);
	free(r);
}

struct value *store_get_all_records(struct store_txn *t, const struct dm_class *c)
{
	struct value_builder b;
	value_builder_init(&b);
	struct store_rows *r = store_rows_open(t, c);
	while (store_rows_step(r, &b.k, UINT_MAX) == VALUE_STEP_MORE)
		;
	store_rows_close(r);
	return value_builder_finish(&b);
}

struct value *store_get_all_where(struct store_txn *t, const struct store_filter *f, struct xc_error *err)
{
	sqlite3_stmt *st = store_filter_prepare(t, f, false);
	if (!st) {
		xc_error_internal(err, "database: cannot read %s", store_filter_class(f)->name);
		return NULL;
	}
	struct value *arr = value_new_array(0);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		value_array_push(arr, value_new_stringn((const char *)sqlite3_column_text(st, 0),
							(size_t)sqlite3_column_bytes(st, 0)));
	if (rc != SQLITE_DONE) {
		store_sqlite_error(t->c->db, rc, err);
		value_unref(arr);
		arr = NULL;
	}
	sqlite3_finalize(st);
	return arr;
}

struct value *store_find(struct store_txn *t, const struct dm_field *f, const struct value *v)
{
	struct value *arr = value_new_array(0);
	if (!t->c || f->col < 0)
		return arr;
	sqlite3_stmt *st = store_fstmt(t->c, f, FST_FIND);
	if (!st)
		return arr;
	store_bind(st, 1, f->type, v);
	while (sqlite3_step(st) == SQLITE_ROW)
		value_array_push(arr, value_new_stringn((const char *)sqlite3_column_text(st, 0),
							(size_t)sqlite3_column_bytes(st, 0)));
	sqlite3_reset(st);
	return arr;
}

char *store_ref_by_uuid(struct store_txn *t, const struct dm_class *c, const char *uuid)
{
	if (!c->f_uuid)
		return NULL;
	XC_AUTOVALUE *u = value_new_string(uuid);
	XC_AUTOVALUE *refs = store_find(t, c->f_uuid, u);
	const char *ref = value_str(value_array_at(refs, 0));
	return ref ? xstrdup(ref) : NULL;
}

/* ---- writes ---- */

/* A ref field now points at (or away from) ref: its reverse set changed. */
static void note_partner(struct store_txn *t, const struct dm_field *f, const struct value *target)
{
	const char *ref = value_str(target);
	if (f->type->kind != DM_REF || ref_is_null(ref))
		return;
	const struct dm_class *oc = f->type->cls;
	for (unsigned i = 0; i < oc->nfields; i++) {
		if (oc->fields[i].partner == f) {
			if (store_exists(t, oc, ref))
				store_note(t, oc, ref, STORE_MOD, NULL);
			return;
		}
	}
}

char *store_create(struct store_txn *t, const struct dm_class *c, const char *ref,
		   const struct value *rec, struct xc_error *err)
{
	if (!t->write || (c->flags & DM_C_NO_RECORDS)) {
		xc_error_internal(err, "store_create(%s) outside a write transaction", c->name);
		return NULL;
	}
	char newref[48];
	if (!ref) {
		ref_generate(newref);
		ref = newref;
	}
	sqlite3_stmt *st = store_stmt(t->c, c, ST_INSERT);
	if (!st) {
		xc_error_internal(err, "database: cannot write %s", c->name);
		return NULL;
	}
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
	struct value **vals = xcalloc(c->nfields, sizeof(*vals));
	for (unsigned i = 0; i < c->nfields; i++) {
		const struct dm_field *f = &c->fields[i];
		if (f->col < 0)
			continue;
		struct value *v = value_struct_get(rec, f->name);
		if (f == c->f_uuid && (!v || !value_len(v))) {
			char uuid[UUID_STRLEN + 1];
			uuid_generate(uuid);
			vals[i] = value_new_string(uuid);
		} else {
			vals[i] = v ? value_ref(v) : dm_field_default(f);
		}
		store_bind(st, 2 + f->col, f->type, vals[i]);
	}
	int rc = step_done(t, st, err);
	sqlite3_reset(st);
	if (rc == 0) {
		store_note(t, c, ref, STORE_ADD, NULL);
		for (unsigned i = 0; i < c->nfields; i++)
			if (vals[i])
				note_partner(t, &c->fields[i], vals[i]);
	}
	for (unsigned i = 0; i < c->nfields; i++)
		value_unref(vals[i]);
	free(vals);
	return rc == 0 ? xstrdup(ref) : NULL;
}

int store_set(struct store_txn *t, const struct dm_field *f, const char *ref, const struct value *v,
	      struct xc_error *err)
{
	if (!t->write || f->col < 0) {
		xc_error_internal(err, "store_set(%s.%s) not writable here", f->cls->name, f->name);
		return -1;
	}
	struct value *old = NULL;
	if (f->type->kind == DM_REF) {
		old = store_get_field(t, f, ref, err);
		if (!old)
			return -1;
	} else if (!store_exists(t, f->cls, ref)) {
		handle_invalid(f->cls, ref, err);
		return -1;
	}
	sqlite3_stmt *st = store_fstmt(t->c, f, FST_UPDATE);
	if (!st) {
		value_unref(old);
		xc_error_internal(err, "database: cannot write %s.%s", f->cls->name, f->name);
		return -1;
	}
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	store_bind(st, 2, f->type, v);
	int rc = step_done(t, st, err);
	sqlite3_reset(st);
	if (rc == 0) {
		store_note(t, f->cls, ref, STORE_MOD, NULL);
		if (old && !value_equal(old, v)) {
			note_partner(t, f, old);
			note_partner(t, f, v);
		}
	}
	value_unref(old);
	return rc;
}

int store_destroy(struct store_txn *t, const struct dm_class *c, const char *ref, struct xc_error *err)
{
	if (!t->write) {
		xc_error_internal(err, "store_destroy(%s) outside a write transaction", c->name);
		return -1;
	}
	struct value *before = store_get_record(t, c, ref, err);
	if (!before)
		return -1;
	sqlite3_stmt *st = store_stmt(t->c, c, ST_DELETE);
	if (!st) {
		value_unref(before);
		xc_error_internal(err, "database: cannot delete %s", c->name);
		return -1;
	}
	sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
	int rc = step_done(t, st, err);
	sqlite3_reset(st);
	if (rc < 0) {
		value_unref(before);
		return -1;
	}
	for (unsigned i = 0; i < c->nfields; i++)
		if (c->fields[i].col >= 0)
			note_partner(t, &c->fields[i], value_struct_at(before, i));
	store_note(t, c, ref, STORE_DEL, before);
	return 0;
}

int store_touch(struct store_txn *t, const struct dm_class *c, const char *ref, struct xc_error *err)
{
	if (!store_exists(t, c, ref)) {
		handle_invalid(c, ref, err);
		return -1;
	}
	store_note(t, c, ref, STORE_MOD, NULL);
	return 0;
}
