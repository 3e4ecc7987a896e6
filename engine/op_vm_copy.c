/* VMs as records: create and destroy rules, clone, copy, snapshot and
 * provision (the disks a template's other_config:disks describes). */
#include "ops.h"
#include "dev_ops.h"
#include "hooks.h"
#include "vdi_file.h"
#include "vm_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "vm"

/* ---- rules for the generated VM.create / VM.destroy / set_* ---- */

static int memory_ok(const struct value *rec, struct xc_error *err)
{
	int64_t smin = rec_int(rec, "memory_static_min"), dmin = rec_int(rec, "memory_dynamic_min");
	int64_t dmax = rec_int(rec, "memory_dynamic_max"), smax = rec_int(rec, "memory_static_max");
	if (!(smin <= dmin && dmin <= dmax && dmax <= smax)) {
		xc_error_set(err, XC_ERR_MEMORY_CONSTRAINT_VIOLATION,
			     "Memory limits must satisfy: static_min <= dynamic_min <= dynamic_max <= static_max");
		return -1;
	}
	int64_t vmax = rec_int(rec, "VCPUs_max"), vstart = rec_int(rec, "VCPUs_at_startup");
	if (vstart < 1 || vstart > vmax) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "VCPUs_at_startup", "must be between 1 and VCPUs_max");
		return -1;
	}
	return 0;
}

static char *new_metrics(struct store_txn *t, struct xc_error *err)
{
	XC_AUTOVALUE *m = value_new_struct(2);
	value_struct_add(m, "install_time", value_new_datetime((int64_t)time(NULL)));
	value_struct_add(m, "last_updated", value_new_datetime((int64_t)time(NULL)));
	return store_create(t, cls_of("VM_metrics"), NULL, m, err);
}

static int vm_before_create(struct op_ctx *c, struct store_txn *t, struct value *rec, struct xc_error *err)
{
	/* A new VM is halted and ours, whatever the caller sent. */
	if (rec_int(rec, "VCPUs_max") == 0)
		value_struct_set(rec, "VCPUs_max", value_new_int(1));
	if (rec_int(rec, "VCPUs_at_startup") == 0)
		value_struct_set(rec, "VCPUs_at_startup", value_new_int(1));
	if (memory_ok(rec, err) < 0)
		return -1;
	value_struct_set(rec, "power_state", value_new_string("Halted"));
	value_struct_set(rec, "domid", value_new_int(-1));
	value_struct_set(rec, "is_control_domain", value_new_bool(false));
	value_struct_set(rec, "suspend_VDI", value_new_string(REF_NULL));
	char *m = new_metrics(t, err);
	if (!m)
		return -1;
	value_struct_set(rec, "metrics", value_new_string_take(m));
	value_struct_set(rec, "allowed_operations", vm_allowed_operations("", rec));
	return 0;
}

static int destroy_children(struct store_txn *t, const char *vm, const char *cls, struct xc_error *err)
{
	XC_AUTOVALUE *owner = value_new_string(vm);
	XC_AUTOVALUE *refs = store_find(t, dm_field_find(cls_of(cls), "VM"), owner);
	for (size_t i = 0; i < value_len(refs); i++)
		if (store_destroy(t, cls_of(cls), value_str(value_array_at(refs, i)), err) < 0)
			return -1;
	return 0;
}

/* destroy removes the VM's VBDs, VIFs, consoles and metrics, never its
 * VDIs (xe vm-uninstall is what deletes disks). */
static int vm_before_destroy(struct op_ctx *c, struct store_txn *t, const char *vm, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec || vm_op_check(vm, rec, "destroy", err) < 0)
		return -1;
	if (destroy_children(t, vm, "VBD", err) < 0 || destroy_children(t, vm, "VIF", err) < 0 ||
	    destroy_children(t, vm, "console", err) < 0)
		return -1;
	const char *sv = rec_str(rec, "suspend_VDI");
	if (!ref_is_null(sv) && store_exists(t, cls_of("VDI"), sv) && vdi_file_destroy(t, sv, err) < 0)
		return -1;
	const char *fields[] = { "metrics", "guest_metrics" };
	const char *classes[] = { "VM_metrics", "VM_guest_metrics" };
	for (int i = 0; i < 2; i++) {
		const char *m = rec_str(rec, fields[i]);
		if (!ref_is_null(m) && store_exists(t, cls_of(classes[i]), m) &&
		    store_destroy(t, cls_of(classes[i]), m, err) < 0)
			return -1;
	}
	return 0;
}

static int vm_before_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *vm,
			 const struct value *v, struct xc_error *err)
{
	if (strncmp(f->name, "memory_", 7) != 0 && strncmp(f->name, "VCPUs_", 6) != 0)
		return 0;
	if (strcmp(f->name, "VCPUs_params") == 0)
		return 0;
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec)
		return -1;
	/* Static settings change only while halted, as in xapi. */
	if (strcmp(f->name, "memory_dynamic_max") != 0 && strcmp(f->name, "memory_dynamic_min") != 0 &&
	    strcmp(rec_str(rec, "power_state"), "Halted") != 0) {
		xc_error_set(err, XC_ERR_VM_BAD_POWER_STATE, vm, "halted",
			     strcmp(rec_str(rec, "power_state"), "Running") == 0 ? "running" : "suspended");
		return -1;
	}
	XC_AUTOVALUE *next = value_copy(rec);
	value_struct_set(next, f->name, value_ref((struct value *)v));
	return memory_ok(next, err);
}

/* Of the fields a client may set, these change what operations are allowed. */
static int vm_after_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *vm,
			struct xc_error *err)
{
	if (strcmp(f->name, "is_a_template") != 0 && strcmp(f->name, "blocked_operations") != 0)
		return 0;
	return vm_update_allowed(t, vm, err);
}

const struct class_hooks hooks_VM = {
	.cls = "VM",
	.before_create = vm_before_create,
	.before_destroy = vm_before_destroy,
	.before_set = vm_before_set,
	.after_set = vm_after_set,
};

/* ---- clone / copy / snapshot ---- */

/* Fields a copy does not take from its source. */
static bool fresh_field(const char *name)
{
	static const char *const fresh[] = { "uuid", "allowed_operations", "current_operations", "power_state",
					     "suspend_VDI", "resident_on", "scheduled_to_be_resident_on", "domid",
					     "metrics", "guest_metrics", "is_control_domain", "snapshot_of",
					     "snapshot_time", "is_a_snapshot", "parent", NULL };
	for (const char *const *p = fresh; *p; p++)
		if (strcmp(*p, name) == 0)
			return true;
	return false;
}

enum copy_kind { COPY_CLONE, COPY_FULL, COPY_SNAPSHOT };

static char *copy_vm(struct op_ctx *c, struct store_txn *t, const char *vm, const char *name, const char *sr,
		     enum copy_kind kind, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec)
		return NULL;
	const struct dm_class *vc = cls_of("VM");
	XC_AUTOVALUE *nr = value_new_struct(vc->nfields);
	for (unsigned i = 0; i < vc->nfields; i++) {
		const struct dm_field *f = &vc->fields[i];
		if (f->col < 0 || fresh_field(f->name))
			continue;
		value_struct_add(nr, f->name, value_ref(value_struct_at(rec, i)));
	}
	value_struct_set(nr, "name_label", value_new_string(name));
	value_struct_set(nr, "power_state", value_new_string("Halted"));
	value_struct_set(nr, "domid", value_new_int(-1));
	if (kind == COPY_SNAPSHOT) {
		value_struct_set(nr, "is_a_snapshot", value_new_bool(true));
		value_struct_set(nr, "is_a_template", value_new_bool(true));
		value_struct_set(nr, "snapshot_of", value_new_string(vm));
		value_struct_set(nr, "snapshot_time", value_new_datetime((int64_t)time(NULL)));
	}
	char *m = new_metrics(t, err);
	if (!m)
		return NULL;
	value_struct_set(nr, "metrics", value_new_string_take(m));
	char *copy = store_create(t, vc, NULL, nr, err);
	if (!copy)
		return NULL;
	/* Disks: each VBD again, over a copy of its VDI (empty CDs stay empty). */
	const struct value *vbds = rec_get(rec, "VBDs");
	for (size_t i = 0; i < value_len(vbds); i++) {
		XC_AUTOVALUE *b = store_get_record(t, cls_of("VBD"), value_str(value_array_at(vbds, i)), err);
		if (!b)
			goto fail;
		const char *vdi = rec_str(b, "VDI");
		char *nvdi = NULL;
		if (!ref_is_null(vdi) && !rec_bool(b, "empty") && strcmp(rec_str(b, "type"), "CD") != 0) {
			nvdi = vdi_file_clone(t, vdi, kind == COPY_FULL ? sr : NULL, NULL, err);
			if (!nvdi)
				goto fail;
			if (kind == COPY_SNAPSHOT) {
				XC_AUTOVALUE *now = value_new_datetime((int64_t)time(NULL));
				if (set_bool(t, cls_of("VDI"), nvdi, "is_a_snapshot", true, err) < 0 ||
				    set_str(t, cls_of("VDI"), nvdi, "snapshot_of", vdi, err) < 0 ||
				    set_value(t, cls_of("VDI"), nvdi, "snapshot_time", now, err) < 0) {
					free(nvdi);
					goto fail;
				}
			}
		}
		XC_AUTOVALUE *nb = value_new_struct(12);
		static const char *const keep[] = { "userdevice", "bootable", "mode", "type", "unpluggable", "empty",
						    "other_config", "qos_algorithm_type", "qos_algorithm_params", NULL };
		for (const char *const *k = keep; *k; k++)
			value_struct_add(nb, *k, value_ref((struct value *)rec_get(b, *k)));
		value_struct_add(nb, "VM", value_new_string(copy));
		value_struct_add(nb, "VDI", value_new_string(nvdi ? nvdi : (rec_bool(b, "empty") ? REF_NULL : vdi)));
		free(nvdi);
		char *nbr = store_create(t, cls_of("VBD"), NULL, nb, err);
		if (!nbr)
			goto fail;
		free(nbr);
	}
	/* NICs: the same networks, new MACs (unless it is a snapshot). */
	const struct value *vifs = rec_get(rec, "VIFs");
	for (size_t i = 0; i < value_len(vifs); i++) {
		XC_AUTOVALUE *v = store_get_record(t, cls_of("VIF"), value_str(value_array_at(vifs, i)), err);
		if (!v)
			goto fail;
		XC_AUTOVALUE *nv = value_new_struct(8);
		static const char *const keep[] = { "device", "network", "MTU", "other_config", "qos_algorithm_type",
						    "qos_algorithm_params", NULL };
		for (const char *const *k = keep; *k; k++)
			value_struct_add(nv, *k, value_ref((struct value *)rec_get(v, *k)));
		value_struct_add(nv, "VM", value_new_string(copy));
		value_struct_add(nv, "MAC", value_new_string(kind == COPY_SNAPSHOT ? rec_str(v, "MAC") : ""));
		struct op_ctx vc_ctx = *c;
		vc_ctx.msg = dm_message_find("VIF.create");
		if (hooks_before_create(&vc_ctx, t, cls_of("VIF"), nv, err) < 0)
			goto fail;
		char *nvr = store_create(t, cls_of("VIF"), NULL, nv, err);
		if (!nvr)
			goto fail;
		free(nvr);
	}
	if (vm_update_allowed(t, copy, err) < 0 || dev_update_vm_devices(t, copy, err) < 0)
		goto fail;
	return copy;
fail:
	free(copy);
	return NULL;
}

static struct value *copy_message(struct op_ctx *c, const char *vm, const char *name, const char *sr,
				  enum copy_kind kind, const char *op, struct xc_error *err)
{
	XC_AUTOFREE char *key = vm_op_begin(c, vm, op, NULL, err);
	if (!key)
		return NULL;
	task_progress(c, 0.1);
	struct store_txn *t = store_write(c->e->store);
	char *copy = NULL;
	if (sr && !store_exists(t, cls_of("SR"), sr))
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "SR", sr);
	else if (task_check_cancel(c, err) == 0)
		copy = copy_vm(c, t, vm, name, sr, kind, err);
	if (!copy || store_commit(t, err) < 0) {
		if (!copy)
			store_abort(t);
		free(copy);
		copy = NULL;
	}
	struct xc_error end = XC_ERROR_INIT;
	vm_op_end(c, vm, key, NULL, NULL, &end);
	xc_error_clear(&end);
	return copy ? value_new_string_take(copy) : NULL;
}

struct value *op_VM_clone(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return copy_message(c, value_str(args[0]), value_str(args[1]), NULL, COPY_CLONE, "clone", err);
}

struct value *op_VM_copy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return copy_message(c, value_str(args[0]), value_str(args[1]), value_str(args[2]), COPY_FULL, "copy", err);
}

struct value *op_VM_snapshot(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return copy_message(c, value_str(args[0]), value_str(args[1]), NULL, COPY_SNAPSHOT, "snapshot", err);
}

/* ---- provision ---- */

/* The value of attribute name in one <disk .../> element, or NULL. */
static char *attr(const char *elem, const char *end, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = elem; p + n + 2 < end; p++) {
		if ((p == elem || p[-1] == ' ') && strncmp(p, name, n) == 0 && p[n] == '=' &&
		    (p[n + 1] == '"' || p[n + 1] == '\'')) {
			char q = p[n + 1];
			const char *v = p + n + 2;
			const char *close = memchr(v, q, (size_t)(end - v));
			return close ? xstrndup(v, (size_t)(close - v)) : NULL;
		}
	}
	return NULL;
}

static int provision_disk(struct op_ctx *c, struct store_txn *t, const char *vm, const char *elem,
			  const char *end, struct xc_error *err)
{
	XC_AUTOFREE char *device = attr(elem, end, "device");
	XC_AUTOFREE char *size = attr(elem, end, "size");
	XC_AUTOFREE char *sr_uuid = attr(elem, end, "sr");
	XC_AUTOFREE char *bootable = attr(elem, end, "bootable");
	XC_AUTOFREE char *type = attr(elem, end, "type");
	char *endp = NULL;
	long long bytes = size ? strtoll(size, &endp, 10) : -1;
	if (!device || !size || *endp || bytes < 0) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "other_config:disks", "each disk needs device and size");
		return -1;
	}
	XC_AUTOFREE char *sr = NULL;
	if (sr_uuid && *sr_uuid) {
		sr = store_ref_by_uuid(t, cls_of("SR"), sr_uuid);
		if (!sr) {
			xc_error_set(err, XC_ERR_UUID_INVALID, "sr", sr_uuid);
			return -1;
		}
	} else {
		XC_AUTOVALUE *def = store_get_field(t, dm_field_find(cls_of("pool"), "default_SR"), c->e->pool_ref, err);
		if (!def || ref_is_null(value_str(def)) || !store_exists(t, cls_of("SR"), value_str(def))) {
			xc_error_set(err, XC_ERR_DEFAULT_SR_NOT_FOUND, def ? value_str(def) : REF_NULL);
			return -1;
		}
		sr = xstrdup(value_str(def));
	}
	const char *vtype = type && dm_enum_has(dm_enum_find("vdi_type"), type) ? type : "system";
	struct vdi_spec spec = { .name_label = device, .name_description = "Created by template provisioner",
				 .virtual_size = bytes, .type = vtype };
	char *vdi = vdi_file_create(t, sr, &spec, err);
	if (!vdi)
		return -1;
	XC_AUTOVALUE *vbd = value_new_struct(10);
	value_struct_add(vbd, "VM", value_new_string(vm));
	value_struct_add(vbd, "VDI", value_new_string_take(vdi));
	value_struct_add(vbd, "userdevice", value_new_string(device));
	value_struct_add(vbd, "bootable", value_new_bool(bootable && strcmp(bootable, "true") == 0));
	value_struct_add(vbd, "mode", value_new_string("RW"));
	value_struct_add(vbd, "type", value_new_string("Disk"));
	value_struct_add(vbd, "unpluggable", value_new_bool(strcmp(vtype, "system") != 0));
	struct value *oc = value_new_struct(1);
	value_struct_add(oc, "owner", value_new_string(""));
	value_struct_add(vbd, "other_config", oc);
	char *ref = store_create(t, cls_of("VBD"), NULL, vbd, err);
	free(ref);
	return ref ? 0 : -1;
}

struct value *op_VM_provision(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vm = value_str(args[0]);
	XC_AUTOFREE char *key = vm_op_begin(c, vm, "provision", NULL, err);
	if (!key)
		return NULL;
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *oc = store_get_field(t, dm_field_find(cls_of("VM"), "other_config"), vm, err);
	int rc = oc ? 0 : -1;
	const char *xml = oc ? value_struct_get_str(oc, "disks") : NULL;
	for (const char *p = xml; rc == 0 && p && (p = strstr(p, "<disk")) != NULL;) {
		const char *end = strchr(p, '>');
		if (!end) {
			xc_error_set(err, XC_ERR_INVALID_VALUE, "other_config:disks", "malformed XML");
			rc = -1;
			break;
		}
		rc = task_check_cancel(c, err);
		if (rc == 0)
			rc = provision_disk(c, t, vm, p + 5, end, err);
		p = end;
	}
	if (rc == 0 && oc) {
		XC_AUTOVALUE *next = value_copy(oc);
		value_struct_remove(next, "disks");
		rc = set_value(t, cls_of("VM"), vm, "other_config", next, err);
	}
	if (rc == 0)
		rc = set_bool(t, cls_of("VM"), vm, "is_a_template", false, err);
	if (rc == 0)
		rc = dev_update_vm_devices(t, vm, err);
	/* All disks or none: a failed or cancelled provision leaves no files. */
	if (rc < 0)
		store_abort(t);
	else
		rc = store_commit(t, err);
	struct xc_error end = XC_ERROR_INIT;
	vm_op_end(c, vm, key, NULL, NULL, rc < 0 ? &end : err);
	xc_error_clear(&end);
	return rc < 0 ? NULL : void_result();
}
