/* VM operation rules and in-flight bookkeeping (see vm_ops.h). */
#include "vm_ops.h"
#include "ops.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

enum { H = 1, R = 2, P = 4, S = 8, ANY = H | R | P | S };

struct op_rule {
	const char *op;
	unsigned states;     /* power states the operation starts from */
	bool on_template;    /* allowed on templates */
	bool on_dom0;        /* allowed on the control domain */
};

/* Every vm_operations value the engine advertises in allowed_operations. */
static const struct op_rule rules[] = {
	{ "clone", H | S, true, false },
	{ "copy", H | S, true, false },
	{ "provision", H, true, false },
	{ "start", H, false, false },
	{ "start_on", H, false, false },
	{ "pause", R, false, false },
	{ "unpause", P, false, false },
	{ "clean_shutdown", R, false, false },
	{ "clean_reboot", R, false, false },
	{ "hard_shutdown", R | P | S, false, false },
	{ "power_state_reset", ANY, false, false },
	{ "hard_reboot", R | P, false, false },
	{ "suspend", R, false, false },
	{ "resume", S, false, false },
	{ "resume_on", S, false, false },
	{ "pool_migrate", R, false, false },
	{ "send_sysrq", R, false, false },
	{ "send_trigger", R, false, false },
	{ "changing_VCPUs_live", R, false, true },
	{ "changing_memory_live", R, false, true },
	{ "changing_shadow_memory_live", R, false, false },
	{ "export", H | S, true, false },
	{ "destroy", H | S, true, false },
	{ "snapshot", ANY, false, false },
	{ "make_into_template", H, false, false },
};

static unsigned state_bit(const char *ps)
{
	if (strcmp(ps, "Halted") == 0)
		return H;
	if (strcmp(ps, "Running") == 0)
		return R;
	if (strcmp(ps, "Paused") == 0)
		return P;
	if (strcmp(ps, "Suspended") == 0)
		return S;
	return 0;
}

static const struct op_rule *rule_of(const char *op)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strcmp(rules[i].op, op) == 0)
			return &rules[i];
	return NULL;
}

/* "halted, suspended": the lowercase list xapi puts in VM_BAD_POWER_STATE,
 * in xapi's order. */
static void expected_states(unsigned states, char *out, size_t n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} order[] = { { H, "halted" }, { P, "paused" }, { S, "suspended" }, { R, "running" } };
	out[0] = '\0';
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (!(states & order[i].bit))
			continue;
		if (out[0])
			strncat(out, ", ", n - strlen(out) - 1);
		strncat(out, order[i].name, n - strlen(out) - 1);
	}
}

/* Operations that may overlap: clone/copy/export together; hard_shutdown
 * over anything but itself; hard_reboot over anything but the two hard ops. */
static bool may_overlap(const char *op, const char *running)
{
	static const char *const readers[] = { "clone", "copy", "export" };
	bool a = false, b = false;
	for (size_t i = 0; i < 3; i++) {
		a |= strcmp(op, readers[i]) == 0;
		b |= strcmp(running, readers[i]) == 0;
	}
	if (a && b)
		return true;
	if (strcmp(op, "hard_shutdown") == 0)
		return strcmp(running, "hard_shutdown") != 0;
	if (strcmp(op, "hard_reboot") == 0)
		return strcmp(running, "hard_shutdown") != 0 && strcmp(running, "hard_reboot") != 0;
	return false;
}

int vm_op_check(const char *vm, const struct value *rec, const char *op, struct xc_error *err)
{
	const struct op_rule *r = rule_of(op);
	const char *ps = rec_str(rec, "power_state");
	const struct value *blocked = rec_get(rec, "blocked_operations");
	if (blocked && value_struct_get(blocked, op)) {
		xc_error_set(err, XC_ERR_OPERATION_BLOCKED, vm, value_struct_get_str(blocked, op));
		return -1;
	}
	if (r && !(r->states & state_bit(ps))) {
		char want[64], actual[16];
		expected_states(r->states, want, sizeof(want));
		snprintf(actual, sizeof(actual), "%s", ps);
		for (char *p = actual; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		xc_error_set(err, XC_ERR_VM_BAD_POWER_STATE, vm, want, actual);
		return -1;
	}
	const struct value *cur = rec_get(rec, "current_operations");
	for (size_t i = 0; i < value_len(cur); i++) {
		const char *running = value_str(cur->u.st.m[i].val);
		if (!may_overlap(op, running)) {
			xc_error_set(err, XC_ERR_OTHER_OPERATION_IN_PROGRESS, "VM", vm, running, cur->u.st.m[i].key);
			return -1;
		}
	}
	if (rec_bool(rec, "is_a_template") && !(r && r->on_template)) {
		xc_error_set(err, XC_ERR_VM_IS_TEMPLATE, vm, op);
		return -1;
	}
	if (rec_bool(rec, "is_control_domain") && !(r && r->on_dom0)) {
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "This operation is not allowed on a control domain");
		return -1;
	}
	return 0;
}

struct value *vm_allowed_operations(const char *vm, const struct value *rec)
{
	struct value *allowed = value_new_array(sizeof(rules) / sizeof(rules[0]));
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct xc_error ignore = XC_ERROR_INIT;
		if (vm_op_check(vm, rec, rules[i].op, &ignore) == 0 &&
		    dm_enum_has(dm_enum_find("vm_operations"), rules[i].op))
			value_array_push_string(allowed, rules[i].op);
		xc_error_clear(&ignore);
	}
	return allowed;
}

int vm_update_allowed(struct store_txn *t, const char *vm, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec)
		return -1;
	XC_AUTOVALUE *allowed = vm_allowed_operations(vm, rec);
	if (value_equal(allowed, rec_get(rec, "allowed_operations")))
		return 0;
	return set_value(t, cls_of("VM"), vm, "allowed_operations", allowed, err);
}

char *vm_op_begin(struct op_ctx *c, const char *vm, const char *op, struct value **rec_out,
		  struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	struct value *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec || vm_op_check(vm, rec, op, err) < 0) {
		value_unref(rec);
		store_abort(t);
		return NULL;
	}
	char key[48];
	if (op_mark_begin(c, t, cls_of("VM"), vm, rec, op, key, err) < 0 ||
	    vm_update_allowed(t, vm, err) < 0 || store_commit(t, err) < 0) {
		value_unref(rec);
		if (store_txn_is_write(t))
			store_abort(t);
		return NULL;
	}
	if (rec_out)
		*rec_out = rec;
	else
		value_unref(rec);
	return xstrdup(key);
}

int vm_op_end(struct op_ctx *c, const char *vm, const char *key,
	      int (*apply)(struct op_ctx *, struct store_txn *, const char *, void *, struct xc_error *),
	      void *arg, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	if (!store_exists(t, cls_of("VM"), vm)) {
		store_abort(t); /* destroyed by the operation itself */
		return apply ? 0 : 0;
	}
	if (apply && apply(c, t, vm, arg, err) < 0) {
		store_abort(t);
		/* Still take the operation off the record. */
		struct xc_error ignore = XC_ERROR_INIT;
		vm_op_end(c, vm, key, NULL, NULL, &ignore);
		xc_error_clear(&ignore);
		return -1;
	}
	XC_AUTOVALUE *cur = store_get_field(t, dm_field_find(cls_of("VM"), "current_operations"), vm, err);
	if (!cur) {
		store_abort(t);
		return -1;
	}
	XC_AUTOVALUE *next = value_copy(cur);
	value_struct_remove(next, key);
	if (set_value(t, cls_of("VM"), vm, "current_operations", next, err) < 0 ||
	    vm_update_allowed(t, vm, err) < 0) {
		store_abort(t);
		return -1;
	}
	return store_commit(t, err);
}

struct value *op_VM_assert_operation_valid(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), value_str(args[0]), err);
	store_commit(t, NULL);
	if (!rec || vm_op_check(value_str(args[0]), rec, value_str(args[1]), err) < 0)
		return NULL;
	return void_result();
}

struct value *op_VM_update_allowed_operations(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	if (vm_update_allowed(t, value_str(args[0]), err) < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}
