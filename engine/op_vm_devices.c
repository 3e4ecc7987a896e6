/* Which device slots of a VM are free: the numbers a new VBD or VIF may use
 * as its userdevice/device.  PV guests have 16 disk slots (xvda..xvdp), HVM
 * guests 4 IDE ones; both have 7 network slots, as in XenServer 4.1. */
#include "ops.h"

#include <stdio.h>
#include <string.h>

static struct value *free_slots(struct op_ctx *c, const char *vm, const char *cls, const char *field,
				unsigned pv_slots, unsigned hvm_slots, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec) {
		store_commit(t, NULL);
		return NULL;
	}
	unsigned slots = *rec_str(rec, "HVM_boot_policy") ? hvm_slots : pv_slots;
	XC_AUTOVALUE *owner = value_new_string(vm);
	XC_AUTOVALUE *devs = store_find(t, dm_field_find(cls_of(cls), "VM"), owner);
	bool used[16] = { false };
	for (size_t i = 0; i < value_len(devs); i++) {
		XC_AUTOVALUE *d = store_get_field(t, dm_field_find(cls_of(cls), field),
						  value_str(value_array_at(devs, i)), err);
		unsigned n;
		char extra;
		if (d && sscanf(value_str(d), "%u%c", &n, &extra) == 1 && n < 16)
			used[n] = true;
	}
	store_commit(t, NULL);
	struct value *out = value_new_array(slots);
	for (unsigned i = 0; i < slots; i++)
		if (!used[i])
			value_array_push(out, value_new_stringf("%u", i));
	return out;
}

struct value *op_VM_get_allowed_VBD_devices(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return free_slots(c, value_str(args[0]), "VBD", "userdevice", 16, 4, err);
}

struct value *op_VM_get_allowed_VIF_devices(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return free_slots(c, value_str(args[0]), "VIF", "device", 7, 7, err);
}
