/* VM power-state bookkeeping (see vm_state.h). */
#include "vm_state.h"

#include "../util/uuid.h"

static int detach_all(struct store_txn *t, const char *vm, const char *cls, const char *field,
		      struct xc_error *err)
{
	const struct dm_class *c = cls_of(cls);
	XC_AUTOVALUE *v = value_new_string(vm);
	XC_AUTOVALUE *refs = store_find(t, dm_field_find(c, field), v);
	for (size_t i = 0; i < value_len(refs); i++)
		if (set_bool(t, c, value_str(value_array_at(refs, i)), "currently_attached", false, err) < 0)
			return -1;
	return 0;
}

int vm_state_halted(struct engine *e, struct store_txn *t, const char *vm, struct xc_error *err)
{
	const struct dm_class *c = cls_of("VM");
	if (set_str(t, c, vm, "power_state", "Halted", err) < 0 || set_int(t, c, vm, "domid", -1, err) < 0 ||
	    set_str(t, c, vm, "resident_on", REF_NULL, err) < 0 ||
	    set_str(t, c, vm, "scheduled_to_be_resident_on", REF_NULL, err) < 0 ||
	    detach_all(t, vm, "VBD", "VM", err) < 0 || detach_all(t, vm, "VIF", "VM", err) < 0)
		return -1;
	(void)e;
	return 0;
}
