/* The engine in-process, through engine_call exactly as the listeners use
 * it: first start, a trusted login, generated messages, the SDK guide's
 * install-and-start walk-through on the simulated host, and restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../engine/engine.h"
#include "../../util/value_sink.h"

static char dir[] = "/tmp/xcon-test-engine-XXXXXX";
static struct engine *eng;
static char *session;
static const struct call_ctx local = { true, "test" };

static char *frag(const struct value *v)
{
	(void)v;
	return strdup("<value></value>");
}

static struct engine *open_engine(void)
{
	struct engine_opts o = { .state_dir = dir, .backend = "sim", .sim_hosts = 1, .encode_result = frag };
	struct xc_error err = XC_ERROR_INIT;
	struct engine *e = engine_open(&o, &err);
	if (!e)
		fail_msg("engine_open: %s %s", xc_error_wire_code(&err), err.nparams ? err.params[0] : "");
	return e;
}

/* call("VM.get_all", "s", session) with each format char a string arg ('s'),
 * bool ('b') or int ('i'). */
static struct value *call(struct xc_error *err, const char *method, const char *fmt, ...)
{
	struct value *args = value_new_array(4);
	va_list ap;
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		if (*f == 's')
			value_array_push_string(args, va_arg(ap, const char *));
		else if (*f == 'b')
			value_array_push(args, value_new_bool(va_arg(ap, int)));
		else if (*f == 'i')
			value_array_push(args, value_new_int(va_arg(ap, int)));
	}
	va_end(ap);
	struct value *r = engine_call(eng, &local, method, args, err);
	value_unref(args);
	struct value *tree = value_materialize(r);
	value_unref(r);
	return tree;
}


static int setup(void **state)
{
	setenv("XCON_SIM_TIME_SCALE", "0", 1);
	assert_non_null(mkdtemp(dir));
	eng = open_engine();
	struct xc_error err = XC_ERROR_INIT;
	struct value *s = call(&err, "session.login_with_password", "ss", "root", "");
	assert_non_null(s);
	session = strdup(value_str(s));
	value_unref(s);
	return 0;
}

static int teardown(void **state)
{
	engine_close(eng);
	free(session);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void errors_come_back_in_xenapi_form(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	assert_null(call(&err, "VM.no_such", "s", session));
	assert_string_equal(xc_error_wire_code(&err), "MESSAGE_METHOD_UNKNOWN");
	xc_error_clear(&err);
	assert_null(call(&err, "VM.get_all", "s", "OpaqueRef:bogus"));
	assert_string_equal(xc_error_wire_code(&err), "SESSION_INVALID");
	xc_error_clear(&err);
	assert_null(call(&err, "VM.get_record", "ss", session, "OpaqueRef:nope"));
	assert_string_equal(xc_error_wire_code(&err), "HANDLE_INVALID");
	assert_string_equal(err.params[0], "VM");
	xc_error_clear(&err);
	assert_null(call(&err, "session.login_with_password", "s", "root"));
	assert_string_equal(xc_error_wire_code(&err), "MESSAGE_PARAMETER_COUNT_MISMATCH");
	assert_string_equal(err.params[1], "2");
	assert_string_equal(err.params[2], "1");
	xc_error_clear(&err);
	assert_null(call(&err, "Async.VM.get_all", "s", session));
	assert_string_equal(xc_error_wire_code(&err), "MESSAGE_METHOD_UNKNOWN");
	xc_error_clear(&err);
}

static const char *find_template(const struct value *all, const char *name)
{
	for (size_t i = 0; i < value_len(all); i++)
		if (strcmp(value_struct_get_str(all->u.st.m[i].val, "name_label"), name) == 0)
			return all->u.st.m[i].key;
	return NULL;
}

static void install_start_suspend_resume_shutdown(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	struct value *all = call(&err, "VM.get_all_records", "s", session);
	assert_non_null(all);
	const char *tmpl = find_template(all, "Debian Etch 4.0");
	assert_non_null(tmpl);
	struct value *vm = call(&err, "VM.clone", "sss", session, tmpl, "etch");
	if (!vm)
		fail_msg("clone: %s %s", xc_error_wire_code(&err), err.nparams ? err.params[0] : "");
	value_unref(all);
	const char *ref = value_str(vm);
	struct value *r = call(&err, "VM.provision", "ss", session, ref);
	if (!r)
		fail_msg("provision: %s %s", xc_error_wire_code(&err), err.nparams ? err.params[0] : "");
	value_unref(r);
	struct value *vbds = call(&err, "VM.get_VBDs", "ss", session, ref);
	assert_int_equal(value_len(vbds), 2);
	value_unref(vbds);
	r = call(&err, "VM.start", "ssbb", session, ref, 0, 0);
	if (!r)
		fail_msg("start: %s %s", xc_error_wire_code(&err), err.nparams ? err.params[0] : "");
	value_unref(r);
	struct value *ps = call(&err, "VM.get_power_state", "ss", session, ref);
	assert_string_equal(value_str(ps), "Running");
	value_unref(ps);
	assert_null(call(&err, "VM.start", "ssbb", session, ref, 0, 0));
	assert_string_equal(xc_error_wire_code(&err), "VM_BAD_POWER_STATE");
	assert_string_equal(err.params[1], "halted");
	assert_string_equal(err.params[2], "running");
	xc_error_clear(&err);
	const char *steps[] = { "VM.suspend", "VM.resume", "VM.pause", "VM.unpause", "VM.clean_reboot",
				"VM.clean_shutdown", NULL };
	const char *after[] = { "Suspended", "Running", "Paused", "Running", "Running", "Halted" };
	for (int i = 0; steps[i]; i++) {
		r = strcmp(steps[i], "VM.resume") == 0 ? call(&err, steps[i], "ssbb", session, ref, 0, 0)
						       : call(&err, steps[i], "ss", session, ref);
		if (!r)
			fail_msg("%s: %s %s", steps[i], xc_error_wire_code(&err), err.nparams ? err.params[0] : "");
		value_unref(r);
		ps = call(&err, "VM.get_power_state", "ss", session, ref);
		assert_string_equal(value_str(ps), after[i]);
		value_unref(ps);
	}
	value_unref(vm);
}

/* An in-process engine has no process to re-execute (no restart hook). */
static void restart_agent_needs_a_restart_hook(void **state)
{
	struct xc_error err = XC_ERROR_INIT;
	struct value *pools = call(&err, "pool.get_all", "s", session);
	assert_non_null(pools);
	struct value *host = call(&err, "pool.get_master", "ss", session, value_str(value_array_at(pools, 0)));
	assert_non_null(host);
	assert_null(call(&err, "host.restart_agent", "ss", session, value_str(host)));
	assert_string_equal(xc_error_wire_code(&err), "INTERNAL_ERROR");
	assert_non_null(strstr(err.params[0], "no agent to restart"));
	xc_error_clear(&err);
	assert_null(call(&err, "host.restart_agent", "ss", session, "OpaqueRef:nope"));
	assert_string_equal(xc_error_wire_code(&err), "HANDLE_INVALID");
	xc_error_clear(&err);
	value_unref(host);
	value_unref(pools);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(errors_come_back_in_xenapi_form),
		cmocka_unit_test(install_start_suspend_resume_shutdown),
		cmocka_unit_test(restart_agent_needs_a_restart_hook),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
