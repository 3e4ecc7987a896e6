/* engine_call: from a wire method name and its arguments to a handler.
 *
 * The order of checks follows xapi, so clients see the same error first:
 * unknown method, parameter count, session, parameter types, then the
 * handler's own checks.  Async calls stop after the checks and hand the work
 * to a task. */
#include "engine_priv.h"

#include <stdio.h>
#include <string.h>

#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "call"

struct value *void_result(void)
{
	return value_new_string("");
}

struct value *engine_run(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	op_fn fn = c->msg->kind == DM_MSG_CUSTOM ? ops_custom_handler(c->msg->custom_id)
						 : ops_generic_handler(c->msg->kind);
	if (!fn) {
		xc_error_set(err, XC_ERR_NOT_IMPLEMENTED, c->msg->wire);
		return NULL;
	}
	return fn(c, args, err);
}

static void count_mismatch(const struct dm_message *m, size_t given, struct xc_error *err)
{
	char want[16], got[16];
	snprintf(want, sizeof(want), "%u", m->nrequired);
	snprintf(got, sizeof(got), "%zu", given);
	xc_error_set(err, XC_ERR_MESSAGE_PARAMETER_COUNT_MISMATCH, m->wire, want, got);
}

struct value *engine_call(struct engine *e, const struct call_ctx *cc, const char *method,
			  const struct value *args, struct xc_error *err)
{
	bool async = strncmp(method, "Async.", 6) == 0;
	const char *name = async ? method + 6 : method;
	const struct dm_message *m = dm_message_find(name);
	if (!m || (async && !(m->flags & DM_M_ASYNC))) {
		xc_error_set(err, XC_ERR_MESSAGE_METHOD_UNKNOWN, async && m ? method : name);
		return NULL;
	}
	if (!args || args->type != VALUE_ARRAY) {
		xc_error_set(err, XC_ERR_FIELD_TYPE_ERROR, "params");
		return NULL;
	}
	bool has_session = !(m->flags & DM_M_NO_SESSION);
	size_t n = value_len(args);
	size_t given = has_session ? (n ? n - 1 : 0) : n;
	if ((has_session && n == 0) || given < m->nrequired ||
	    (given > m->nparams && m->nrequired == m->nparams)) {
		count_mismatch(m, given, err);
		return NULL;
	}
	const char *session = NULL;
	if (has_session) {
		const struct value *s = value_array_at(args, 0);
		session = value_str(s);
		if (!session || !sessions_check(e->sessions, session)) {
			xc_error_set(err, XC_ERR_SESSION_INVALID, session ? session : "");
			return NULL;
		}
	}
	struct value *checked[m->nparams ? m->nparams : 1];
	struct value *result = NULL;
	unsigned ok = 0;
	for (; ok < m->nparams; ok++) {
		const struct value *a = ok < given ? value_array_at(args, ok + (has_session ? 1 : 0)) : NULL;
		checked[ok] = a ? dm_coerce(m->params[ok].type, a, m->params[ok].name, err)
				: dm_type_zero(m->params[ok].type);
		if (!checked[ok])
			goto cleanup;
	}
	struct op_ctx c = { .e = e, .msg = m, .cc = cc, .session = session, .task = NULL };
	if (async) {
		char *task = tasks_submit(e->tasks, &c, checked, err);
		result = task ? value_new_string_take(task) : NULL;
	} else {
		result = engine_run(&c, checked, err);
	}
	if (!result)
		log_debug("%s from %s: %s", method, cc ? cc->origin : "?", xc_error_wire_code(err));
cleanup:
	for (unsigned i = 0; i < ok; i++)
		value_unref(checked[i]);
	return result;
}
