/* The value tree, datetimes, errors and the string map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../util/error.h"
#include "../../util/strmap.h"
#include "../../util/value.h"
#include "../../util/value_sink.h"

static void trees_build_copy_and_compare(void **state)
{
	struct value *s = value_new_struct(0);
	value_struct_add(s, "a", value_new_int(1));
	value_struct_set(s, "b", value_new_string("x"));
	value_struct_set(s, "a", value_new_int(2));
	assert_int_equal(value_len(s), 2);
	assert_int_equal(value_struct_get(s, "a")->u.i, 2);
	struct value *arr = value_new_array(0);
	for (int i = 0; i < 100; i++)
		value_array_push(arr, value_new_int(i));
	value_struct_add(s, "arr", arr);
	struct value *c = value_copy(s);
	assert_true(value_equal(s, c));
	value_struct_set(c, "b", value_new_string("y"));
	assert_false(value_equal(s, c));
	assert_true(value_struct_remove(c, "b"));
	assert_false(value_struct_remove(c, "b"));
	value_unref(c);
	value_ref(s);
	value_unref(s);
	value_unref(s);
}

static struct value *sample_tree(void)
{
	struct value *r = value_new_struct(0);
	value_struct_add(r, "name", value_new_string("web"));
	value_struct_add(r, "n", value_new_int(-7));
	value_struct_add(r, "small", value_new_int32(3));
	value_struct_add(r, "f", value_new_float(0.5));
	value_struct_add(r, "on", value_new_bool(true));
	value_struct_add(r, "at", value_new_datetime(1234567890));
	value_struct_add(r, "none", value_new_nil());
	struct value *a = value_new_array(0);
	value_array_push_string(a, "x");
	struct value *inner = value_new_struct(0);
	value_struct_add(inner, "k", value_new_array(0));
	value_array_push(a, inner);
	value_struct_add(r, "list", a);
	value_struct_add(r, "empty", value_new_struct(0));
	return r;
}

static enum value_step lazy_emit(void *state, struct value_sink *k)
{
	value_emit(state, k);
	return VALUE_STEP_DONE;
}

/* A source of an array of three ints, one per step, that fails at the
 * third when asked to (closing the array all the same). */
struct counting {
	int next;
	bool fail;
};

static enum value_step counting_step(void *state, struct value_sink *k)
{
	struct counting *c = state;
	if (c->next == 0)
		k->ops->array_begin(k);
	if (c->next == 2 && c->fail) {
		k->ops->array_end(k);
		return VALUE_STEP_FAILED;
	}
	k->ops->integer(k, c->next, false);
	if (++c->next < 3)
		return VALUE_STEP_MORE;
	k->ops->array_end(k);
	return VALUE_STEP_DONE;
}

/* A lazy value comes out a step at a time, once; a failed source makes
 * materialize answer NULL rather than a truncated tree. */
static void lazy_steps(void **state)
{
	struct counting c = { 0, false };
	struct value *lazy = value_new_lazy(counting_step, NULL, &c);
	struct value_builder b;
	value_builder_init(&b);
	assert_int_equal(value_lazy_step(lazy, &b.k), VALUE_STEP_MORE);
	assert_int_equal(value_lazy_step(lazy, &b.k), VALUE_STEP_MORE);
	assert_int_equal(value_lazy_step(lazy, &b.k), VALUE_STEP_DONE);
	assert_int_equal(value_lazy_step(lazy, &b.k), VALUE_STEP_DONE);
	struct value *got = value_builder_finish(&b);
	assert_int_equal(value_len(got), 3);
	assert_int_equal(value_array_at(got, 2)->u.i, 2);
	value_unref(got);
	value_unref(lazy);

	struct counting f = { 0, true };
	lazy = value_new_lazy(counting_step, NULL, &f);
	assert_null(value_materialize(lazy));
	assert_int_equal(value_lazy_step(lazy, &b.k), VALUE_STEP_FAILED);
	value_unref(lazy);
}

static void lazy_release(void *state)
{
	value_unref(state);
}

/* Emitting into the builder gives the same tree back, through a lazy value
 * too; a source that stops early still leaves a well-formed tree. */
static void sinks_rebuild_trees(void **state)
{
	struct value *t = sample_tree();
	struct value_builder b;
	value_builder_init(&b);
	value_emit(t, &b.k);
	struct value *back = value_builder_finish(&b);
	assert_true(value_equal(t, back));
	value_unref(back);

	struct value *lazy = value_new_lazy(lazy_emit, lazy_release, value_ref(t));
	struct value *m = value_materialize(lazy);
	assert_true(value_equal(t, m));
	value_unref(m);
	value_unref(lazy);
	lazy = value_new_lazy(lazy_emit, lazy_release, value_ref(t));
	struct value *c = value_copy(lazy);
	assert_true(value_equal(t, c));
	value_unref(c);
	value_unref(lazy);

	value_builder_init(&b);
	b.k.ops->struct_begin(&b.k);
	b.k.ops->member(&b.k, "a", 1, false);
	b.k.ops->array_begin(&b.k);
	b.k.ops->string(&b.k, "x", 1);
	struct value *cut = value_builder_finish(&b);
	assert_int_equal(value_len(value_struct_get(cut, "a")), 1);
	value_unref(cut);
	value_unref(t);
}

static void datetimes_use_the_xapi_form(void **state)
{
	char out[32];
	value_datetime_format(1205850125, out);
	assert_string_equal(out, "20080318T14:22:05Z");
	value_datetime_format(0, out);
	assert_string_equal(out, "19700101T00:00:00Z");
	int64_t t;
	assert_true(value_datetime_parse("20080318T14:22:05Z", &t));
	assert_int_equal(t, 1205850125);
	assert_true(value_datetime_parse("2008-03-18T14:22:05Z", &t));
	assert_int_equal(t, 1205850125);
	assert_true(value_datetime_parse("20080318T14:22:05", &t));
	assert_false(value_datetime_parse("yesterday", &t));
	assert_false(value_datetime_parse("20081318T14:22:05Z", &t));
}

static void errors_carry_code_and_params(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	xc_error_set(&err, XC_ERR_HANDLE_INVALID, "VM", "OpaqueRef:x");
	assert_string_equal(xc_error_wire_code(&err), "HANDLE_INVALID");
	unsigned n;
	char *const *p = xc_error_wire_params(&err, &n);
	assert_int_equal(n, 2);
	assert_string_equal(p[1], "OpaqueRef:x");
	const char *params[] = { "a" };
	xc_error_set_custom(&err, "SR_BACKEND_FAILURE_42", params, 1);
	assert_string_equal(xc_error_wire_code(&err), "SR_BACKEND_FAILURE_42");
	p = xc_error_wire_params(&err, &n);
	assert_int_equal(n, 1);
	assert_string_equal(p[0], "a");
	xc_error_clear(&err);
	assert_int_equal(xc_error_code_lookup("EVENTS_LOST"), XC_ERR_EVENTS_LOST);
}

static void strmap_survives_churn(void **state)
{
	struct strmap m = STRMAP_INIT;
	char key[32];
	for (int round = 0; round < 3; round++) {
		for (long i = 0; i < 5000; i++) {
			snprintf(key, sizeof(key), "k%ld", i);
			strmap_put(&m, key, (void *)(i + 1));
		}
		for (long i = 0; i < 5000; i += 2) {
			snprintf(key, sizeof(key), "k%ld", i);
			assert_ptr_equal(strmap_del(&m, key), (void *)(i + 1));
		}
		assert_int_equal(m.used, 2500);
		snprintf(key, sizeof(key), "k%d", 4999);
		assert_ptr_equal(strmap_get(&m, key), (void *)5000);
		assert_null(strmap_get(&m, "k0"));
		for (long i = 1; i < 5000; i += 2) {
			snprintf(key, sizeof(key), "k%ld", i);
			strmap_del(&m, key);
		}
		assert_int_equal(m.used, 0);
	}
	strmap_clear(&m, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(trees_build_copy_and_compare),
		cmocka_unit_test(sinks_rebuild_trees),
		cmocka_unit_test(lazy_steps),
		cmocka_unit_test(datetimes_use_the_xapi_form),
		cmocka_unit_test(errors_carry_code_and_params),
		cmocka_unit_test(strmap_survives_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
