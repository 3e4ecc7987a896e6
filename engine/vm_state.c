/* VM power-state bookkeeping (see vm_state.h). */
#include "vm_state.h"

#include <string.h>
#include <time.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"
#include "dev_ops.h"
#include "domain_config.h"

static int set_attached(struct store_txn *t, const char *vm, const char *cls, bool attached, bool hvm,
			struct xc_error *err)
{
	const struct dm_class *c = cls_of(cls);
	XC_AUTOVALUE *v = value_new_string(vm);
	XC_AUTOVALUE *refs = store_find(t, dm_field_find(c, "VM"), v);
	for (size_t i = 0; i < value_len(refs); i++) {
		const char *ref = value_str(value_array_at(refs, i));
		if (set_bool(t, c, ref, "currently_attached", attached, err) < 0)
			return -1;
		if (attached && strcmp(cls, "VBD") == 0) {
			XC_AUTOVALUE *ud = store_get_field(t, dm_field_find(c, "userdevice"), ref, err);
			XC_AUTOFREE char *dev = ud ? domain_vbd_device(value_str(ud), hvm) : NULL;
			if (!dev || set_str(t, c, ref, "device", dev, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int drop_consoles(struct store_txn *t, const char *vm, struct xc_error *err)
{
	XC_AUTOVALUE *v = value_new_string(vm);
	XC_AUTOVALUE *refs = store_find(t, dm_field_find(cls_of("console"), "VM"), v);
	for (size_t i = 0; i < value_len(refs); i++)
		if (store_destroy(t, cls_of("console"), value_str(value_array_at(refs, i)), err) < 0)
			return -1;
	return 0;
}

static int metrics_update(struct store_txn *t, const struct value *rec, bool running, uint64_t memory,
			  unsigned vcpus, struct xc_error *err)
{
	const char *m = rec_str(rec, "metrics");
	if (ref_is_null(m) || !store_exists(t, cls_of("VM_metrics"), m))
		return 0;
	const struct dm_class *c = cls_of("VM_metrics");
	int64_t now = (int64_t)time(NULL);
	XC_AUTOVALUE *ts = value_new_datetime(now);
	if (set_int(t, c, m, "memory_actual", running ? (int64_t)memory : 0, err) < 0 ||
	    set_int(t, c, m, "VCPUs_number", running ? vcpus : 0, err) < 0 ||
	    set_value(t, c, m, "last_updated", ts, err) < 0)
		return -1;
	if (running && set_value(t, c, m, "start_time", ts, err) < 0)
		return -1;
	return 0;
}

int host_metrics_refresh(struct engine *e, struct store_txn *t, const char *host, struct xc_error *err)
{
	struct hv *hv = engine_hv_of_host(e, host);
	if (!hv)
		return 0;
	XC_AUTOVALUE *m = store_get_field(t, dm_field_find(cls_of("host"), "metrics"), host, err);
	if (!m)
		return -1;
	if (!store_exists(t, cls_of("host_metrics"), value_str(m)))
		return 0;
	uint64_t total = 0, free_bytes = 0;
	struct xc_error ignore = XC_ERROR_INIT;
	int got;
	if (hv->ops->host_memory) {
		got = hv->ops->host_memory(hv, &total, &free_bytes, &ignore);
	} else {
		struct hv_host_info hi;
		memset(&hi, 0, sizeof(hi));
		got = hv->ops->host_info(hv, &hi, &ignore);
		free_bytes = hi.memory_free;
		hv_host_info_free(&hi);
	}
	xc_error_clear(&ignore);
	if (got < 0)
		return 0; /* a host that does not answer keeps its last figures */
	XC_AUTOVALUE *ts = value_new_datetime((int64_t)time(NULL));
	int rc = set_int(t, cls_of("host_metrics"), value_str(m), "memory_free", (int64_t)free_bytes, err);
	if (rc == 0)
		rc = set_value(t, cls_of("host_metrics"), value_str(m), "last_updated", ts, err);
	return rc;
}

int vm_state_halted(struct engine *e, struct store_txn *t, const char *vm, struct xc_error *err)
{
	const struct dm_class *c = cls_of("VM");
	XC_AUTOVALUE *rec = store_get_record(t, c, vm, err);
	if (!rec)
		return -1;
	const char *host = rec_str(rec, "resident_on");
	XC_AUTOFREE char *was_on = ref_is_null(host) ? NULL : xstrdup(host);
	if (set_str(t, c, vm, "power_state", "Halted", err) < 0 || set_int(t, c, vm, "domid", -1, err) < 0 ||
	    set_str(t, c, vm, "resident_on", REF_NULL, err) < 0 ||
	    set_str(t, c, vm, "scheduled_to_be_resident_on", REF_NULL, err) < 0 ||
	    set_attached(t, vm, "VBD", false, false, err) < 0 || set_attached(t, vm, "VIF", false, false, err) < 0 ||
	    drop_consoles(t, vm, err) < 0 || metrics_update(t, rec, false, 0, 0, err) < 0 ||
	    dev_update_vm_devices(t, vm, err) < 0)
		return -1;
	return was_on ? host_metrics_refresh(e, t, was_on, err) : 0;
}

int vm_state_running(struct engine *e, struct store_txn *t, const char *vm, const char *host, uint32_t domid,
		     bool paused, struct xc_error *err)
{
	const struct dm_class *c = cls_of("VM");
	XC_AUTOVALUE *rec = store_get_record(t, c, vm, err);
	if (!rec)
		return -1;
	bool hvm = *rec_str(rec, "HVM_boot_policy") != '\0';
	if (set_str(t, c, vm, "power_state", paused ? "Paused" : "Running", err) < 0 ||
	    set_int(t, c, vm, "domid", domid, err) < 0 || set_str(t, c, vm, "resident_on", host, err) < 0 ||
	    set_str(t, c, vm, "scheduled_to_be_resident_on", REF_NULL, err) < 0 ||
	    set_str(t, c, vm, "domarch", "x64", err) < 0 ||
	    set_attached(t, vm, "VBD", true, hvm, err) < 0 || set_attached(t, vm, "VIF", true, hvm, err) < 0)
		return -1;
	/* A console per running VM, as XenServer 4.1 serves them: rfb, reached
	 * through the host's /console handler. */
	if (value_len(rec_get(rec, "consoles")) == 0) {
		XC_AUTOVALUE *addr = store_get_field(t, dm_field_find(cls_of("host"), "address"), host, err);
		if (!addr)
			return -1;
		XC_AUTOVALUE *con = value_new_struct(4);
		value_struct_add(con, "protocol", value_new_string("rfb"));
		value_struct_add(con, "location", value_new_stringf("https://%s/console?ref=%s", value_str(addr), vm));
		value_struct_add(con, "VM", value_new_string(vm));
		char *ref = store_create(t, cls_of("console"), NULL, con, err);
		if (!ref)
			return -1;
		free(ref);
	}
	if (metrics_update(t, rec, true, (uint64_t)rec_int(rec, "memory_dynamic_max"),
			   (unsigned)rec_int(rec, "VCPUs_at_startup"), err) < 0 ||
	    dev_update_vm_devices(t, vm, err) < 0)
		return -1;
	return host_metrics_refresh(e, t, host, err);
}

int vm_state_suspended(struct engine *e, struct store_txn *t, const char *vm, const char *suspend_vdi,
		       struct xc_error *err)
{
	if (vm_state_halted(e, t, vm, err) < 0)
		return -1;
	const struct dm_class *c = cls_of("VM");
	if (set_str(t, c, vm, "power_state", "Suspended", err) < 0 ||
	    set_str(t, c, vm, "suspend_VDI", suspend_vdi, err) < 0)
		return -1;
	return dev_update_vm_devices(t, vm, err);
}
