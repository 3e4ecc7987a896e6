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
		cmocka_unit_test(datetimes_use_the_xapi_form),
		cmocka_unit_test(errors_carry_code_and_params),
		cmocka_unit_test(strmap_survives_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
