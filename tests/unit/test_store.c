/* The SQLite store: records in and out, reverse sets, change events,
 * persistence, schema migration and snapshot isolation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../engine/store.h"
#include "../../engine/store_priv.h"
#include "../../util/uuid.h"
#include "../../util/value_sink.h"

static char dir[] = "/tmp/xcon-test-store-XXXXXX";
static char path[256];

struct seen {
	unsigned n;
	char ops[64];
	char classes[64][16];
};

static void collect(void *cookie, struct store_change *ch, unsigned n)
{
	struct seen *s = cookie;
	for (unsigned i = 0; i < n && s->n < 64; i++) {
		s->ops[s->n] = "amd"[ch[i].op];
		snprintf(s->classes[s->n], 16, "%s", ch[i].cls->name);
		s->n++;
	}
	store_changes_free(ch, n);
}

static int setup(void **state)
{
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static char *make(struct store_txn *t, const char *cls, struct value *rec)
{
	struct xc_error err = XC_ERROR_INIT;
	char *ref = store_create(t, dm_class_find(cls), NULL, rec, &err);
	assert_non_null(ref);
	value_unref(rec);
	return ref;
}

static void records_reverse_sets_and_events(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	struct store *s = store_open(path, false, &err);
	assert_non_null(s);
	struct seen seen = { 0 };
	store_set_publisher(s, collect, &seen);
	const struct dm_class *vm = dm_class_find("VM"), *vbd = dm_class_find("VBD");

	struct store_txn *t = store_write(s);
	struct value *r = value_new_struct(0);
	value_struct_add(r, "name_label", value_new_string("web"));
	char *vm_ref = make(t, "VM", r);
	r = value_new_struct(0);
	value_struct_add(r, "VM", value_new_string(vm_ref));
	value_struct_add(r, "userdevice", value_new_string("0"));
	char *vbd_ref = make(t, "VBD", r);
	assert_int_equal(store_commit(t, &err), 0);
	/* add VM, add VBD, and the VM again as a mod would be folded into its add */
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ops[0], 'a');
	assert_int_equal(seen.ops[1], 'a');
	assert_int_equal(store_count(s, vm), 1);

	t = store_read(s);
	struct value *rec = store_get_record(t, vm, vm_ref, &err);
	assert_non_null(rec);
	assert_string_equal(value_struct_get_str(rec, "name_label"), "web");
	assert_string_equal(value_struct_get_str(rec, "power_state"), "Halted");
	struct value *vbds = value_struct_get(rec, "VBDs");
	assert_int_equal(value_len(vbds), 1);
	assert_string_equal(value_str(value_array_at(vbds, 0)), vbd_ref);
	assert_true(uuid_is_valid(value_struct_get_str(rec, "uuid")));
	char *by_uuid = store_ref_by_uuid(t, vm, value_struct_get_str(rec, "uuid"));
	assert_string_equal(by_uuid, vm_ref);
	free(by_uuid);
	value_unref(rec);
	struct value *all = store_get_all_records(t, vm);
	assert_int_equal(value_len(all), 1);
	assert_int_equal(value_len(value_struct_get(value_struct_get(all, vm_ref), "VBDs")), 1);
	value_unref(all);
	assert_null(store_get_record(t, vbd, vm_ref, &err));
	assert_int_equal(err.code, XC_ERR_HANDLE_INVALID);
	assert_string_equal(err.params[0], "VBD");
	xc_error_clear(&err);
	store_commit(t, NULL);

	/* Destroying the VBD changes the VM's VBDs: a mod for the VM too. */
	seen.n = 0;
	t = store_write(s);
	assert_int_equal(store_destroy(t, vbd, vbd_ref, &err), 0);
	assert_int_equal(store_commit(t, &err), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.ops[0], 'm');
	assert_string_equal(seen.classes[0], "VM");
	assert_int_equal(seen.ops[1], 'd');

	/* A set that is rolled back leaves nothing behind and no event. */
	seen.n = 0;
	t = store_write(s);
	struct value *nl = value_new_string("db");
	assert_int_equal(store_set(t, dm_field_find(vm, "name_label"), vm_ref, nl, &err), 0);
	store_abort(t);
	assert_int_equal(seen.n, 0);
	uint64_t next = store_next_event_id(s);

	/* Readers keep their snapshot while a writer commits. */
	struct store_txn *reader = store_read(s);
	struct value *before = store_get_field(reader, dm_field_find(vm, "name_label"), vm_ref, &err);
	t = store_write(s);
	assert_int_equal(store_set(t, dm_field_find(vm, "name_label"), vm_ref, nl, &err), 0);
	assert_int_equal(store_commit(t, &err), 0);
	struct value *again = store_get_field(reader, dm_field_find(vm, "name_label"), vm_ref, &err);
	assert_string_equal(value_str(before), "web");
	assert_string_equal(value_str(again), "web");
	store_commit(reader, NULL);
	value_unref(before);
	value_unref(again);
	value_unref(nl);
	store_close(s);

	/* Everything acknowledged is there after reopening, ids go on. */
	s = store_open(path, false, &err);
	assert_non_null(s);
	assert_true(store_next_event_id(s) > next);
	t = store_read(s);
	struct value *name = store_get_field(t, dm_field_find(vm, "name_label"), vm_ref, &err);
	assert_string_equal(value_str(name), "db");
	value_unref(name);
	store_commit(t, NULL);
	store_close(s);
	free(vm_ref);
	free(vbd_ref);
}

static void containers_round_trip(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	struct store *s = store_open(path, false, &err);
	const struct dm_class *vm = dm_class_find("VM");
	struct store_txn *t = store_write(s);
	struct value *r = value_new_struct(0);
	struct value *oc = value_new_struct(0);
	value_struct_add(oc, "odd:key", value_new_string("12:34:with\nnewline"));
	value_struct_add(oc, "", value_new_string(""));
	value_struct_add(r, "other_config", oc);
	struct value *tags = value_new_array(0);
	value_array_push_string(tags, "a");
	value_array_push_string(tags, "10:b");
	value_struct_add(r, "tags", tags);
	struct value *copy = value_copy(r);
	char *ref = make(t, "VM", r);
	assert_int_equal(store_commit(t, &err), 0);
	t = store_read(s);
	struct value *rec = store_get_record(t, vm, ref, &err);
	assert_true(value_equal(value_struct_get(rec, "other_config"), value_struct_get(copy, "other_config")));
	assert_true(value_equal(value_struct_get(rec, "tags"), value_struct_get(copy, "tags")));
	store_commit(t, NULL);
	value_unref(rec);
	value_unref(copy);
	free(ref);
	store_close(s);
}

static const char *shared_name(struct store *s, const char *ref)
{
	static char name[64];
	struct xc_error err = XC_ERROR_INIT;
	struct value *rec = store_get_record_shared(s, dm_class_find("VM"), ref, &err);
	assert_non_null(rec);
	snprintf(name, sizeof(name), "%s/%zu", value_struct_get_str(rec, "name_label"),
		 value_len(value_struct_get(rec, "VBDs")));
	value_unref(rec);
	return name;
}

/* The record cache never serves a record older than an acknowledged write,
 * its own or a reverse-set partner's, and never a stale row read by a
 * transaction that a commit overtook. */
static void record_cache_stays_fresh(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	struct store *s = store_open(path, false, &err);
	assert_non_null(s);
	const struct dm_class *vm = dm_class_find("VM"), *sr = dm_class_find("SR");
	const struct dm_field *name_label = dm_field_find(vm, "name_label");
	struct store_txn *t = store_write(s);
	struct value *r = value_new_struct(0);
	value_struct_add(r, "name_label", value_new_string("a"));
	char *ref = make(t, "VM", r);
	assert_int_equal(store_commit(t, &err), 0);

	assert_string_equal(shared_name(s, ref), "a/0");
	struct value *one = store_get_record_shared(s, vm, ref, &err);
	struct value *two = store_get_record_shared(s, vm, ref, &err);
	assert_ptr_equal(one, two); /* the second came from the cache */
	value_unref(one);
	value_unref(two);
	/* a ref of another class is not found, cached or not */
	assert_null(store_get_record_shared(s, sr, ref, &err));
	assert_int_equal(err.code, XC_ERR_HANDLE_INVALID);
	xc_error_clear(&err);

	t = store_write(s);
	struct value *b = value_new_string("b");
	assert_int_equal(store_set(t, name_label, ref, b, &err), 0);
	value_unref(b);
	assert_int_equal(store_commit(t, &err), 0);
	assert_string_equal(shared_name(s, ref), "b/0");

	/* A VBD created for the VM changes the VM's record (VBDs). */
	t = store_write(s);
	r = value_new_struct(0);
	value_struct_add(r, "VM", value_new_string(ref));
	char *vbd = make(t, "VBD", r);
	assert_int_equal(store_commit(t, &err), 0);
	assert_string_equal(shared_name(s, ref), "b/1");

	/* A reader that began before a commit must not cache what it read. */
	uint64_t gen = store_cache_gen(&s->cache);
	t = store_read(s);
	struct value *old = store_get_record(t, vm, ref, &err);
	store_commit(t, NULL);
	struct store_txn *w = store_write(s);
	struct value *c = value_new_string("c");
	assert_int_equal(store_set(w, name_label, ref, c, &err), 0);
	value_unref(c);
	assert_int_equal(store_commit(w, &err), 0);
	store_cache_put(&s->cache, gen, vm, ref, old);
	value_unref(old);
	assert_string_equal(shared_name(s, ref), "c/1");

	t = store_write(s);
	assert_int_equal(store_destroy(t, vm, ref, &err), 0);
	assert_int_equal(store_commit(t, &err), 0);
	assert_null(store_get_record_shared(s, vm, ref, &err));
	assert_int_equal(err.code, XC_ERR_HANDLE_INVALID);
	xc_error_clear(&err);
	store_close(s);
	free(vbd);
	free(ref);
}

static void new_fields_become_columns(void **state)
{
	/* A database from before a field existed gains its column on open. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "ALTER TABLE \"VM\" DROP COLUMN \"recommendations\"", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct xc_error err = XC_ERROR_INIT;
	struct store *s = store_open(path, false, &err);
	assert_non_null(s);
	struct store_txn *t = store_read(s);
	struct value *all = store_get_all_records(t, dm_class_find("VM"));
	assert_true(value_len(all) >= 1);
	assert_string_equal(value_struct_get_str(value_struct_at(all, 0), "recommendations"), "");
	value_unref(all);
	store_commit(t, NULL);
	store_close(s);
}

/* Stepping through every record a few rows at a time (how get_all_records
 * reaches the wire) gives exactly the tree of the one-go read, reverse sets
 * included, in as many steps as the batch size implies, and only once. */
static void rows_step_in_batches(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	struct store *s = store_open(path, false, &err);
	assert_non_null(s);
	const struct dm_class *vm = dm_class_find("VM");
	struct store_txn *t = store_write(s);
	for (int i = 0; i < 4; i++) {
		struct value *r = value_new_struct(0);
		value_struct_add(r, "name_label", value_new_string("batch"));
		char *ref = make(t, "VM", r);
		r = value_new_struct(0);
		value_struct_add(r, "VM", value_new_string(ref));
		value_struct_add(r, "userdevice", value_new_string("1"));
		free(make(t, "VBD", r));
		free(ref);
	}
	assert_int_equal(store_commit(t, &err), 0);
	unsigned n = store_count(s, vm);
	assert_true(n >= 5);

	t = store_read(s);
	struct value *whole = store_get_all_records(t, vm);
	struct value_builder b;
	value_builder_init(&b);
	struct store_rows *rows = store_rows_open(t, vm);
	unsigned steps = 1;
	while (store_rows_step(rows, &b.k, 2) == VALUE_STEP_MORE)
		steps++;
	assert_int_equal(steps, n / 2 + 1);
	assert_int_equal(store_rows_step(rows, &b.k, 2), VALUE_STEP_DONE);
	store_rows_close(rows);
	struct value *stepped = value_builder_finish(&b);
	assert_int_equal(value_len(stepped), n);
	assert_true(value_equal(whole, stepped));
	value_unref(whole);
	value_unref(stepped);

	/* a class with nothing in it: one step, an empty struct */
	value_builder_init(&b);
	rows = store_rows_open(t, dm_class_find("PIF_metrics"));
	assert_int_equal(store_rows_step(rows, &b.k, 2), VALUE_STEP_DONE);
	store_rows_close(rows);
	stepped = value_builder_finish(&b);
	assert_int_equal(stepped->type, VALUE_STRUCT);
	assert_int_equal(value_len(stepped), 0);
	value_unref(stepped);
	store_commit(t, NULL);
	store_close(s);
}

static unsigned count_where(struct store_txn *t, const char *expr)
{
	struct xc_error err = XC_ERROR_INIT;
	struct store_filter *f = store_filter_parse(dm_class_find("VM"), expr, &err);
	assert_non_null(f);
	struct value *refs = store_get_all_where(t, f, &err);
	assert_non_null(refs);
	unsigned n = (unsigned)value_len(refs);
	value_unref(refs);
	store_filter_free(f);
	return n;
}

/* The filter language: what each expression selects, and that any input,
 * however mangled, gives a filter or a clear error (never a crash: this
 * runs under ASan/UBSan too). */
static void filters_select_and_refuse(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	struct store *s = store_open(path, false, &err);
	assert_non_null(s);
	struct store_txn *t = store_write(s);
	const char *labels[] = { "f-one", "f-two", "f-two" };
	for (int i = 0; i < 3; i++) {
		struct value *r = value_new_struct(0);
		value_struct_add(r, "name_label", value_new_string(labels[i]));
		value_struct_add(r, "VCPUs_max", value_new_int(i + 11));
		value_struct_add(r, "is_a_template", value_new_bool(i == 2));
		free(make(t, "VM", r));
	}
	assert_int_equal(store_commit(t, &err), 0);
	unsigned all = store_count(s, dm_class_find("VM"));

	t = store_read(s);
	assert_int_equal(count_where(t, "true"), all);
	assert_int_equal(count_where(t, "false"), 0);
	assert_int_equal(count_where(t, "field \"name_label\"=\"f-two\""), 2);
	assert_int_equal(count_where(t, "field \"name__label\"=\"f-two\" and field \"is_a_template\"=\"true\""), 1);
	assert_int_equal(count_where(t, "field \"VCPUs_max\"=\"12\" or field \"VCPUs__max\"=\"11\""), 2);
	assert_int_equal(count_where(t, "not field \"name_label\"=\"f-two\""), all - 2);
	assert_int_equal(count_where(t, "field \"VCPUs_max\"=\"two\""), 0);
	assert_int_equal(count_where(t, "\"f-two\"=field \"name_label\""), 2);

	const char *bad[] = { "", "field", "field \"name_label\"", "= \"x\"", "(true", "true)", "\"a\"",
			      "field \"nope\"=\"1\"", "field \"VBDs\"=\"()\"", "truex", "and true", NULL };
	for (int i = 0; bad[i]; i++) {
		struct store_filter *f = store_filter_parse(dm_class_find("VM"), bad[i], &err);
		assert_null(f);
		assert_int_equal(err.code, XC_ERR_INTERNAL_ERROR);
		xc_error_clear(&err);
	}

	/* Mutations of a valid expression: bytes replaced, dropped, doubled. */
	const char seed[] = "not (field \"name_label\"=\"f-two\" or field \"VCPUs_max\"=\"3\") and true";
	const char alphabet[] = "()\"=_ afnotrudlie";
	unsigned rnd = 12345;
	for (int iter = 0; iter < 3000; iter++) {
		char e[2 * sizeof(seed)];
		size_t n = sizeof(seed) - 1;
		memcpy(e, seed, n + 1);
		for (int m = 0; m < 1 + iter % 4; m++) {
			rnd = rnd * 1103515245u + 12345u;
			size_t at = (rnd >> 8) % n;
			switch ((rnd >> 4) % 3) {
			case 0:
				e[at] = alphabet[(rnd >> 16) % (sizeof(alphabet) - 1)];
				break;
			case 1:
				memmove(e + at, e + at + 1, n - at);
				n--;
				break;
			default:
				if (n + 1 < sizeof(e)) {
					memmove(e + at + 1, e + at, n - at + 1);
					n++;
				}
				break;
			}
		}
		struct store_filter *f = store_filter_parse(dm_class_find("VM"), e, &err);
		if (!f) {
			assert_int_equal(err.code, XC_ERR_INTERNAL_ERROR);
			xc_error_clear(&err);
			continue;
		}
		struct value *refs = store_get_all_where(t, f, &err);
		assert_non_null(refs); /* a filter that parses always runs */
		assert_true(value_len(refs) <= all);
		value_unref(refs);
		store_filter_free(f);
	}
	store_commit(t, NULL);
	store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(records_reverse_sets_and_events),
		cmocka_unit_test(containers_round_trip),
		cmocka_unit_test(record_cache_stays_fresh),
		cmocka_unit_test(new_fields_become_columns),
		cmocka_unit_test(rows_step_in_batches),
		cmocka_unit_test(filters_select_and_refuse),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
