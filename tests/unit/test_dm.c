/* The datamodel table: every row parses, and the derived messages are the
 * ones the XenAPI has. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../dm/dm.h"

static int setup(void **state)
{
	dm_init();
	return 0;
}

static void every_field_is_well_formed(void **state)
{
	assert_true(dm_class_count() >= 25);
	for (unsigned i = 0; i < dm_class_count(); i++) {
		const struct dm_class *c = dm_class_at(i);
		assert_non_null(c->lname);
		for (unsigned j = 0; j < c->nfields; j++) {
			const struct dm_field *f = &c->fields[j];
			assert_int_equal(f->idx, j);
			assert_non_null(f->type);
			struct value *d = dm_field_default(f);
			assert_non_null(d);
			struct xc_error err = XC_ERROR_INIT;
			struct value *back = dm_coerce(f->type, d, f->name, &err);
			assert_non_null(back); /* a default is a valid value of its type */
			value_unref(back);
			value_unref(d);
			if (f->col < 0) {
				assert_non_null(f->partner);
				assert_int_equal(f->type->kind, DM_SET);
				assert_ptr_equal(f->partner->type->cls, c);
			}
		}
		if (!(c->flags & DM_C_NO_RECORDS))
			assert_string_equal(c->fields[0].name, "uuid");
	}
}

static void generated_messages_follow_the_rules(void **state)
{
	const char *present[] = { "VM.get_all", "VM.get_all_records", "VM.get_record", "VM.get_by_uuid",
				  "VM.get_by_name_label", "VM.get_name_label", "VM.set_name_label",
				  "VM.add_to_other_config", "VM.remove_from_other_config", "VM.set_other_config",
				  "VM.add_tags", "VM.remove_tags", "VM.create", "VM.destroy", "VM.get_VBDs",
				  "VBD.create", "session.get_this_host", "session.get_record",
				  "host.get_API_version_major", "pool.get_master", "system.listMethods",
				  "session.login_with_password", "event.from", "task.cancel", NULL };
	for (const char **p = present; *p; p++) {
		if (!dm_message_find(*p))
			fail_msg("missing %s", *p);
	}
	const char *absent[] = { "VM.set_uuid", "VM.set_VBDs", "VM.set_power_state", "session.get_all",
				 "pool.get_by_name_label", "event.get_record", "host.create",
				 "VM.add_to_name_label", NULL };
	for (const char **p = absent; *p; p++) {
		if (dm_message_find(*p))
			fail_msg("unexpected %s", *p);
	}
}

static void messages_are_sorted_and_unique(void **state)
{
	for (unsigned i = 1; i < dm_message_count(); i++)
		assert_true(strcmp(dm_message_at(i - 1)->wire, dm_message_at(i)->wire) < 0);
}

static void parameters_and_flags(void **state)
{
	const struct dm_message *m = dm_message_find("session.login_with_password");
	assert_int_equal(m->nrequired, 2);
	assert_int_equal(m->nparams, 4);
	assert_true(m->flags & DM_M_NO_SESSION);
	m = dm_message_find("VM.start");
	assert_int_equal(m->nparams, 3);
	assert_true(m->flags & DM_M_ASYNC);
	assert_int_equal(m->params[0].type->kind, DM_REF);
	m = dm_message_find("VM.add_to_other_config");
	assert_int_equal(m->nparams, 3);
	assert_false(m->flags & DM_M_ASYNC);
	m = dm_message_find("VM.get_record");
	assert_int_equal(m->result->kind, DM_RECORD);
	m = dm_message_find("VM.get_all_records");
	assert_int_equal(m->result->kind, DM_MAP);
}

static void coercion_accepts_wire_leniencies(void **state)
{
	const struct dm_field *f = dm_field_find(dm_class_find("VM"), "memory_static_max");
	struct xc_error err = XC_ERROR_INIT;
	struct value *s = value_new_string("1073741824");
	struct value *v = dm_coerce(f->type, s, "memory", &err);
	assert_non_null(v);
	assert_int_equal(v->type, VALUE_INT);
	assert_int_equal(v->u.i, 1073741824);
	value_unref(v);
	value_unref(s);
	s = value_new_string("lots");
	assert_null(dm_coerce(f->type, s, "memory", &err));
	assert_int_equal(err.code, XC_ERR_FIELD_TYPE_ERROR);
	assert_string_equal(err.params[0], "memory");
	xc_error_clear(&err);
	value_unref(s);
	const struct dm_field *ps = dm_field_find(dm_class_find("VM"), "power_state");
	s = value_new_string("halted");
	assert_null(dm_coerce(ps->type, s, "power_state", &err)); /* enums are case-sensitive */
	xc_error_clear(&err);
	value_unref(s);
	s = value_new_string("Halted");
	v = dm_coerce(ps->type, s, "power_state", &err);
	assert_non_null(v);
	value_unref(v);
	value_unref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_field_is_well_formed),
		cmocka_unit_test(generated_messages_follow_the_rules),
		cmocka_unit_test(messages_are_sorted_and_unique),
		cmocka_unit_test(parameters_and_flags),
		cmocka_unit_test(coercion_accepts_wire_leniencies),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
