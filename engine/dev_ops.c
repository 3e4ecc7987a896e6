/* Operation rules of SR, VDI, VBD, VIF and host, and their in-flight
 * bookkeeping (see dev_ops.h).  The rules follow xapi's valid_operations
 * functions (xapi_vbd_helpers, xapi_vdi, xapi_sr_operations,
 * xapi_host_helpers): the first failing check decides the error. */
#include "dev_ops.h"
#include "domain_config.h"
#include "netconf.h"

#include <ctype.h>
#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

/* ---- queries ---- */

struct value *dev_find(struct store_txn *t, const char *cls, const char *field, const char *v)
{
	XC_AUTOVALUE *val = value_new_string(v);
	return store_find(t, dm_field_find(cls_of(cls), field), val);
}

bool dev_vm_has_domain(const struct value *vm_rec)
{
	const char *ps = rec_str(vm_rec, "power_state");
	return strcmp(ps, "Running") == 0 || strcmp(ps, "Paused") == 0;
}

char *dev_vdi_active_vbd(struct store_txn *t, const char *vdi, const char *host, bool rw_only)
{
	if (ref_is_null(vdi))
		return NULL;
	XC_AUTOVALUE *vbds = dev_find(t, "VBD", "VDI", vdi);
	for (size_t i = 0; i < value_len(vbds); i++) {
		const char *vbd = value_str(value_array_at(vbds, i));
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *b = store_get_record(t, cls_of("VBD"), vbd, &ignore);
		XC_AUTOVALUE *vm = b ? store_get_record(t, cls_of("VM"), rec_str(b, "VM"), &ignore) : NULL;
		xc_error_clear(&ignore);
		if (!b || !vm || !rec_bool(b, "currently_attached") || !dev_vm_has_domain(vm))
			continue;
		if (rw_only && strcmp(rec_str(b, "mode"), "RW") != 0)
			continue;
		if (host && strcmp(rec_str(vm, "resident_on"), host) != 0)
			continue;
		return xstrdup(vbd);
	}
	return NULL;
}

char *dev_sr_active_vdi(struct store_txn *t, const char *sr, const char *host)
{
	XC_AUTOVALUE *vdis = dev_find(t, "VDI", "SR", sr);
	for (size_t i = 0; i < value_len(vdis); i++) {
		const char *vdi = value_str(value_array_at(vdis, i));
		XC_AUTOFREE char *vbd = dev_vdi_active_vbd(t, vdi, host, false);
		if (vbd)
			return xstrdup(vdi);
	}
	return NULL;
}

char *dev_vdi_suspended_vm(struct store_txn *t, const char *vdi)
{
	if (ref_is_null(vdi))
		return NULL;
	XC_AUTOVALUE *vms = dev_find(t, "VM", "suspend_VDI", vdi);
	return value_len(vms) ? xstrdup(value_str(value_array_at(vms, 0))) : NULL;
}

int dev_vdi_drop_vbds(struct store_txn *t, const char *vdi, struct xc_error *err)
{
	XC_AUTOVALUE *vbds = dev_find(t, "VBD", "VDI", vdi);
	for (size_t i = 0; i < value_len(vbds); i++)
		if (store_destroy(t, cls_of("VBD"), value_str(value_array_at(vbds, i)), err) < 0)
			return -1;
	return 0;
}

char *dev_sr_plugged_pbd(struct store_txn *t, const char *sr, const char *host)
{
	XC_AUTOVALUE *pbds = dev_find(t, "PBD", "SR", sr);
	for (size_t i = 0; i < value_len(pbds); i++) {
		const char *pbd = value_str(value_array_at(pbds, i));
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *p = store_get_record(t, cls_of("PBD"), pbd, &ignore);
		xc_error_clear(&ignore);
		if (p && rec_bool(p, "currently_attached") && (!host || strcmp(rec_str(p, "host"), host) == 0))
			return xstrdup(pbd);
	}
	return NULL;
}

int dev_vm_domain(struct op_ctx *c, struct store_txn *t, const char *vm, struct hv **hv, uint32_t *domid,
		  bool *hvm, struct xc_error *err)
{
	XC_AUTOVALUE *r = store_get_record(t, cls_of("VM"), vm, err);
	if (!r)
		return -1;
	*hv = engine_hv_of_host(c->e, rec_str(r, "resident_on"));
	if (!*hv || !dev_vm_has_domain(r)) {
		xc_error_internal(err, "VM %s has no domain", vm);
		return -1;
	}
	*domid = (uint32_t)rec_int(r, "domid");
	if (hvm)
		*hvm = *rec_str(r, "HVM_boot_policy") != '\0';
	return 0;
}

bool dev_vm_still_on(struct store_txn *t, const char *vm, uint32_t domid)
{
	struct xc_error ignore = XC_ERROR_INIT;
	XC_AUTOVALUE *r = store_get_record(t, cls_of("VM"), vm, &ignore);
	xc_error_clear(&ignore);
	return r && dev_vm_has_domain(r) && (uint32_t)rec_int(r, "domid") == domid;
}

void dev_backend_failure(struct xc_error *err, int n, const char *what, const char *detail)
{
	char code[48];
	snprintf(code, sizeof(code), "SR_BACKEND_FAILURE_%d", n);
	const char *params[] = { "", what, detail ? detail : "" };
	xc_error_set_custom(err, code, params, 3);
}

char *dev_file_location(const struct value *device_config, bool must_exist, struct xc_error *err)
{
	const char *loc = value_struct_get_str(device_config, "location");
	if (!loc || !*loc) {
		dev_backend_failure(err, 94, "The request is missing the location parameter", "");
		return NULL;
	}
	if (loc[0] != '/') {
		dev_backend_failure(err, 226, "Invalid local path", "the location must be an absolute path");
		return NULL;
	}
	struct stat st;
	if (must_exist) {
		const char *problem = stat(loc, &st) < 0 ? strerror(errno) : !S_ISDIR(st.st_mode) ? "not a directory" : NULL;
		if (problem) {
			XC_AUTOFREE char *why = xasprintf("%s: %s", loc, problem);
			dev_backend_failure(err, 47, "The SR is not available", why);
			return NULL;
		}
	}
	return xstrdup(loc);
}

/* ---- rules ---- */

static void lower(const char *s, char *out, size_t n)
{
	size_t i = 0;
	for (; s[i] && i + 1 < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

static int bad_power_state(const char *vm, const struct value *vmr, const char *expected, struct xc_error *err)
{
	char actual[32];
	lower(rec_str(vmr, "power_state"), actual, sizeof(actual));
	xc_error_set(err, XC_ERR_VM_BAD_POWER_STATE, vm, expected, actual);
	return -1;
}

static bool never_overlap(const char *op, const char *running)
{
	return false;
}

/* Fails with OTHER_OPERATION_IN_PROGRESS if an operation in flight on the
 * object does not tolerate op (NULL op: any operation in flight). */
static int idle(const char *cls, const char *ref, const struct value *rec, const char *op,
		bool (*overlap)(const char *op, const char *running), struct xc_error *err)
{
	const struct value *cur = rec_get(rec, "current_operations");
	for (size_t i = 0; cur && i < cur->u.st.n; i++) {
		const char *running = value_str(cur->u.st.m[i].val);
		if (op && overlap(op, running ? running : ""))
			continue;
		xc_error_set(err, XC_ERR_OTHER_OPERATION_IN_PROGRESS, cls, ref, running ? running : "",
			     cur->u.st.m[i].key);
		return -1;
	}
	return 0;
}

static bool is(const char *op, const char *a)
{
	return strcmp(op, a) == 0;
}

/* The VM of a VBD or VIF, which must not be busy with an operation of its
 * own (a shutdown or migration) while a device is hot-plugged. */
static struct value *device_vm(struct store_txn *t, const struct value *rec, struct xc_error *err)
{
	return store_get_record(t, cls_of("VM"), rec_str(rec, "VM"), err);
}

static int vbd_check(struct store_txn *t, const char *ref, const struct value *rec, const char *op,
		     struct xc_error *err)
{
	if (idle("VBD", ref, rec, op, never_overlap, err) < 0)
		return -1;
	const char *vm = rec_str(rec, "VM");
	XC_AUTOVALUE *vmr = device_vm(t, rec, err);
	if (!vmr)
		return -1;
	bool running = strcmp(rec_str(vmr, "power_state"), "Running") == 0;
	bool attached = rec_bool(rec, "currently_attached");
	if (is(op, "plug") || is(op, "unplug") || is(op, "unplug_force")) {
		if (!running)
			return bad_power_state(vm, vmr, "running", err);
		if (idle("VM", vm, vmr, NULL, never_overlap, err) < 0)
			return -1;
		if (is(op, "plug") && attached) {
			xc_error_set(err, XC_ERR_DEVICE_ALREADY_ATTACHED, ref);
			return -1;
		}
		if (!is(op, "plug") && !attached) {
			xc_error_set(err, XC_ERR_DEVICE_ALREADY_DETACHED, ref);
			return -1;
		}
		if (is(op, "unplug") && !rec_bool(rec, "unpluggable")) {
			xc_error_set(err, XC_ERR_VBD_NOT_UNPLUGGABLE, ref);
			return -1;
		}
		return 0;
	}
	if (is(op, "insert") || is(op, "eject")) {
		if (strcmp(rec_str(rec, "type"), "CD") != 0) {
			xc_error_set(err, XC_ERR_VBD_NOT_REMOVABLE_MEDIA, ref);
			return -1;
		}
		if (is(op, "eject") && rec_bool(rec, "empty")) {
			xc_error_set(err, XC_ERR_VBD_IS_EMPTY, ref);
			return -1;
		}
		if (is(op, "insert") && !rec_bool(rec, "empty")) {
			xc_error_set(err, XC_ERR_VBD_NOT_EMPTY, ref);
			return -1;
		}
		if (!running && strcmp(rec_str(vmr, "power_state"), "Halted") != 0)
			return bad_power_state(vm, vmr, "halted,running", err);
		if (running && idle("VM", vm, vmr, NULL, never_overlap, err) < 0)
			return -1;
		return 0;
	}
	xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "not a VBD operation");
	return -1;
}

static int vif_check(struct store_txn *t, const char *ref, const struct value *rec, const char *op,
		     struct xc_error *err)
{
	if (idle("VIF", ref, rec, op, never_overlap, err) < 0)
		return -1;
	if (!is(op, "plug") && !is(op, "unplug")) {
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "not a VIF operation");
		return -1;
	}
	const char *vm = rec_str(rec, "VM");
	XC_AUTOVALUE *vmr = device_vm(t, rec, err);
	if (!vmr)
		return -1;
	if (strcmp(rec_str(vmr, "power_state"), "Running") != 0)
		return bad_power_state(vm, vmr, "running", err);
	if (idle("VM", vm, vmr, NULL, never_overlap, err) < 0)
		return -1;
	bool attached = rec_bool(rec, "currently_attached");
	if (is(op, "plug") && attached) {
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_ATTACHED, ref);
		return -1;
	}
	if (is(op, "unplug") && !attached) {
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_DETACHED, ref);
		return -1;
	}
	return 0;
}

/* Copies of a VDI may run together; anything else has the VDI alone. */
static bool vdi_overlap(const char *op, const char *running)
{
	static const char *const readers[] = { "clone", "copy", "snapshot", NULL };
	bool a = false, b = false;
	for (const char *const *r = readers; *r; r++) {
		a |= is(op, *r);
		b |= is(running, *r);
	}
	return a && b;
}

static int vdi_check(struct store_txn *t, const char *ref, const struct value *rec, const char *op,
		     struct xc_error *err)
{
	if (idle("VDI", ref, rec, op, vdi_overlap, err) < 0)
		return -1;
	const char *sr = rec_str(rec, "SR");
	if (!is(op, "forget")) {
		XC_AUTOFREE char *pbd = dev_sr_plugged_pbd(t, sr, NULL);
		if (!pbd) {
			xc_error_set(err, XC_ERR_SR_HAS_NO_PBDS, sr);
			return -1;
		}
	}
	bool resize = is(op, "resize") || is(op, "resize_online");
	if (rec_bool(rec, "missing") && (is(op, "clone") || is(op, "copy") || is(op, "snapshot") || resize)) {
		xc_error_set(err, XC_ERR_VDI_MISSING, sr, ref);
		return -1;
	}
	if (is(op, "destroy") || is(op, "forget") || is(op, "resize")) {
		XC_AUTOFREE char *vbd = dev_vdi_active_vbd(t, ref, NULL, is(op, "resize"));
		XC_AUTOFREE char *vm = vbd || is(op, "resize") ? NULL : dev_vdi_suspended_vm(t, ref);
		if (vbd || vm) {
			xc_error_set(err, XC_ERR_VDI_IN_USE, ref, op);
			return -1;
		}
	}
	if (resize && rec_bool(rec, "read_only")) {
		xc_error_set(err, XC_ERR_VDI_READONLY, ref);
		return -1;
	}
	return 0;
}

/* Destroy and forget have the SR alone; scans do not run twice at once;
 * disk operations run side by side. */
static bool sr_overlap(const char *op, const char *running)
{
	if (is(op, "destroy") || is(op, "forget") || is(running, "destroy") || is(running, "forget"))
		return false;
	return !(is(op, running) && (is(op, "scan") || is(op, "update") || is(op, "plug") || is(op, "unplug")));
}

static int sr_check(struct store_txn *t, const char *ref, const struct value *rec, const char *op,
		    struct xc_error *err)
{
	if (idle("SR", ref, rec, op, sr_overlap, err) < 0)
		return -1;
	XC_AUTOFREE char *plugged = dev_sr_plugged_pbd(t, ref, NULL);
	const struct value *pbds = rec_get(rec, "PBDs");
	if (is(op, "destroy") || is(op, "forget")) {
		XC_AUTOVALUE *vdis = dev_find(t, "VDI", "SR", ref);
		for (size_t i = 0; i < value_len(vdis); i++) {
			const char *vdi = value_str(value_array_at(vdis, i));
			XC_AUTOFREE char *vbd = dev_vdi_active_vbd(t, vdi, NULL, false);
			XC_AUTOFREE char *vm = vbd ? NULL : dev_vdi_suspended_vm(t, vdi);
			if (vbd || vm) {
				xc_error_set(err, XC_ERR_VDI_IN_USE, vdi, op);
				return -1;
			}
		}
		if (plugged) {
			xc_error_set(err, XC_ERR_SR_HAS_PBD, ref);
			return -1;
		}
		/* Destroying needs to know where the files are. */
		if (is(op, "destroy") && value_len(pbds) == 0) {
			xc_error_set(err, XC_ERR_SR_HAS_NO_PBDS, ref);
			return -1;
		}
		return 0;
	}
	if (is(op, "plug") || is(op, "unplug")) {
		/* Some PBD that can move that way: unplugged, or plugged on a host
		 * where no running VM uses the SR. */
		if (value_len(pbds) == 0) {
			xc_error_set(err, XC_ERR_SR_HAS_NO_PBDS, ref);
			return -1;
		}
		XC_AUTOFREE char *busy = NULL;
		for (size_t i = 0; i < value_len(pbds); i++) {
			struct xc_error ignore = XC_ERROR_INIT;
			XC_AUTOVALUE *p = store_get_record(t, cls_of("PBD"), value_str(value_array_at(pbds, i)), &ignore);
			xc_error_clear(&ignore);
			if (!p || rec_bool(p, "currently_attached") != is(op, "unplug"))
				continue;
			if (is(op, "plug"))
				return 0;
			free(busy);
			busy = dev_sr_active_vdi(t, ref, rec_str(p, "host"));
			if (!busy)
				return 0;
		}
		if (busy)
			xc_error_set(err, XC_ERR_VDI_IN_USE, busy, op);
		else if (is(op, "unplug"))
			xc_error_set(err, XC_ERR_SR_NOT_ATTACHED, ref);
		else
			xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "every PBD of the SR is plugged already");
		return -1;
	}
	if (!plugged) {
		xc_error_set(err, XC_ERR_SR_HAS_NO_PBDS, ref);
		return -1;
	}
	return 0;
}

static bool host_overlap(const char *op, const char *running)
{
	static const char *const power[] = { "evacuate", "reboot", "shutdown", NULL };
	for (const char *const *p = power; *p; p++)
		if (is(op, *p) || is(running, *p))
			return false;
	return true;
}

static int host_check(struct store_txn *t, const char *ref, const struct value *rec, const char *op,
		      struct xc_error *err)
{
	if (idle("host", ref, rec, op, host_overlap, err) < 0)
		return -1;
	if ((is(op, "provision") || strncmp(op, "vm_", 3) == 0) && !rec_bool(rec, "enabled")) {
		xc_error_set(err, XC_ERR_HOST_DISABLED, ref);
		return -1;
	}
	return 0;
}

struct dev_class {
	const char *cls;
	const char *const *ops; /* the operations allowed_operations may list */
	int (*check)(struct store_txn *t, const char *ref, const struct value *rec, const char *op,
		     struct xc_error *err);
};

static const char *const vbd_ops[] = { "plug", "unplug", "unplug_force", "insert", "eject", NULL };
static const char *const vif_ops[] = { "plug", "unplug", NULL };
static const char *const vdi_ops[] = { "clone",   "copy",   "resize", "resize_online", "snapshot",
					"destroy", "forget", "update", NULL };
static const char *const sr_ops[] = { "scan",	    "destroy",	  "forget",	"plug",	     "unplug",
				      "update",	    "vdi_create", "vdi_introduce", "vdi_destroy", "vdi_resize",
				      "vdi_clone", "vdi_snapshot", NULL };
static const char *const host_ops[] = { "provision", "evacuate", "shutdown", "reboot",
					"vm_start",  "vm_resume", "vm_migrate", NULL };

static const struct dev_class classes[] = {
	{ "VBD", vbd_ops, vbd_check },	{ "VIF", vif_ops, vif_check },	  { "VDI", vdi_ops, vdi_check },
	{ "SR", sr_ops, sr_check },	{ "host", host_ops, host_check },
};

static const struct dev_class *class_of(const char *cls)
{
	for (size_t i = 0; i < ARRAY_SIZE(classes); i++)
		if (strcmp(classes[i].cls, cls) == 0)
			return &classes[i];
	return NULL;
}

int dev_op_check(struct store_txn *t, const char *cls, const char *ref, const struct value *rec, const char *op,
		 struct xc_error *err)
{
	const struct dev_class *k = class_of(cls);
	if (!k) {
		xc_error_internal(err, "no operation rules for class %s", cls);
		return -1;
	}
	return k->check(t, ref, rec, op, err);
}

struct value *dev_allowed_of(struct store_txn *t, const char *cls, const char *ref, const struct value *rec)
{
	const struct dev_class *k = class_of(cls);
	struct value *allowed = value_new_array(8);
	if (!k)
		return allowed;
	const struct dm_field *f = dm_field_find(cls_of(cls), "allowed_operations");
	const struct dm_enum *e = f->type->elem ? f->type->elem->enm : NULL;
	for (const char *const *op = k->ops; *op; op++) {
		struct xc_error ignore = XC_ERROR_INIT;
		if (k->check(t, ref, rec, *op, &ignore) == 0 && (!e || dm_enum_has(e, *op)))
			value_array_push_string(allowed, *op);
		xc_error_clear(&ignore);
	}
	return allowed;
}

int dev_update_allowed(struct store_txn *t, const char *cls, const char *ref, struct xc_error *err)
{
	if (!class_of(cls)) {
		xc_error_internal(err, "no operation rules for class %s", cls);
		return -1;
	}
	XC_AUTOVALUE *rec = store_get_record(t, cls_of(cls), ref, err);
	if (!rec)
		return -1;
	XC_AUTOVALUE *allowed = dev_allowed_of(t, cls, ref, rec);
	if (value_equal(allowed, rec_get(rec, "allowed_operations")))
		return 0;
	return set_value(t, cls_of(cls), ref, "allowed_operations", allowed, err);
}

int dev_update_vbd_chain(struct store_txn *t, const char *vbd, struct xc_error *err)
{
	if (!store_exists(t, cls_of("VBD"), vbd))
		return 0;
	if (dev_update_allowed(t, "VBD", vbd, err) < 0)
		return -1;
	XC_AUTOVALUE *vdi = store_get_field(t, dm_field_find(cls_of("VBD"), "VDI"), vbd, err);
	if (!vdi)
		return -1;
	if (ref_is_null(value_str(vdi)) || !store_exists(t, cls_of("VDI"), value_str(vdi)))
		return 0;
	if (dev_update_allowed(t, "VDI", value_str(vdi), err) < 0)
		return -1;
	XC_AUTOVALUE *sr = store_get_field(t, dm_field_find(cls_of("VDI"), "SR"), value_str(vdi), err);
	if (!sr)
		return -1;
	if (!store_exists(t, cls_of("SR"), value_str(sr)))
		return 0;
	return dev_update_allowed(t, "SR", value_str(sr), err);
}

int dev_update_sr_chain(struct store_txn *t, const char *sr, struct xc_error *err)
{
	if (!store_exists(t, cls_of("SR"), sr))
		return 0;
	if (dev_update_allowed(t, "SR", sr, err) < 0)
		return -1;
	XC_AUTOVALUE *vdis = dev_find(t, "VDI", "SR", sr);
	for (size_t i = 0; i < value_len(vdis); i++)
		if (dev_update_allowed(t, "VDI", value_str(value_array_at(vdis, i)), err) < 0)
			return -1;
	return 0;
}

int dev_update_vm_devices(struct store_txn *t, const char *vm, struct xc_error *err)
{
	XC_AUTOVALUE *vbds = dev_find(t, "VBD", "VM", vm);
	for (size_t i = 0; i < value_len(vbds); i++)
		if (dev_update_vbd_chain(t, value_str(value_array_at(vbds, i)), err) < 0)
			return -1;
	XC_AUTOVALUE *vifs = dev_find(t, "VIF", "VM", vm);
	for (size_t i = 0; i < value_len(vifs); i++)
		if (dev_update_allowed(t, "VIF", value_str(value_array_at(vifs, i)), err) < 0)
			return -1;
	return 0;
}

int dev_update_all(struct store_txn *t, struct xc_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(classes); i++) {
		XC_AUTOVALUE *all = store_get_all(t, cls_of(classes[i].cls));
		for (size_t k = 0; k < value_len(all); k++)
			if (dev_update_allowed(t, classes[i].cls, value_str(value_array_at(all, k)), err) < 0)
				return -1;
	}
	return 0;
}

/* ---- in-flight bookkeeping ---- */

char *dev_op_begin(struct op_ctx *c, const char *cls, const char *ref, const char *op, dev_check_fn check,
		   void *arg, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	const struct dm_class *k = cls_of(cls);
	XC_AUTOVALUE *rec = store_get_record(t, k, ref, err);
	if (!rec || dev_op_check(t, cls, ref, rec, op, err) < 0 || (check && check(c, t, ref, rec, arg, err) < 0)) {
		store_abort(t);
		return NULL;
	}
	char key[48];
	if (op_mark_begin(c, t, k, ref, rec, op, key, err) < 0 || dev_update_allowed(t, cls, ref, err) < 0 ||
	    store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		return NULL;
	}
	return xstrdup(key);
}

static int drop_key(struct store_txn *t, const char *cls, const char *ref, const char *key, struct xc_error *err)
{
	const struct dm_class *k = cls_of(cls);
	XC_AUTOVALUE *cur = store_get_field(t, dm_field_find(k, "current_operations"), ref, err);
	if (!cur)
		return -1;
	XC_AUTOVALUE *next = value_copy(cur);
	if (value_struct_remove(next, key) && set_value(t, k, ref, "current_operations", next, err) < 0)
		return -1;
	return dev_update_allowed(t, cls, ref, err);
}

int dev_op_end(struct op_ctx *c, const char *cls, const char *ref, const char *key, dev_apply_fn apply,
	       void *arg, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	if (!store_exists(t, cls_of(cls), ref)) {
		store_abort(t); /* the operation removed it */
		return 0;
	}
	if (apply && apply(c, t, ref, arg, err) < 0) {
		store_abort(t);
		struct xc_error ignore = XC_ERROR_INIT;
		dev_op_end(c, cls, ref, key, NULL, NULL, &ignore);
		xc_error_clear(&ignore);
		return -1;
	}
	if (store_exists(t, cls_of(cls), ref) && drop_key(t, cls, ref, key, err) < 0) {
		store_abort(t);
		return -1;
	}
	return store_commit(t, err);
}

/* ---- shared pieces of the messages ---- */

struct store_txn *dev_write_existing(struct op_ctx *c, const char *cls, const char *ref, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	if (!store_exists(t, cls_of(cls), ref)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, cls, ref);
		store_abort(t);
		return NULL;
	}
	return t;
}

struct value *dev_commit_result(struct store_txn *t, struct value *r, struct xc_error *err)
{
	if (!r || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		value_unref(r);
		return NULL;
	}
	return r;
}

struct value *dev_set_field(struct op_ctx *c, const char *cls, const char *ref, const char *field,
			    const struct value *v, bool recompute_allowed, struct xc_error *err)
{
	struct store_txn *t = dev_write_existing(c, cls, ref, err);
	if (!t)
		return NULL;
	if (set_value(t, cls_of(cls), ref, field, v, err) < 0 ||
	    (recompute_allowed && dev_update_allowed(t, cls, ref, err) < 0)) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}

int dev_destroy_check(struct store_txn *t, const char *cls, const char *ref, struct value **rec,
		      struct value **running_vm, struct xc_error *err)
{
	*running_vm = NULL;
	if (!(*rec = store_get_record(t, cls_of(cls), ref, err)))
		return -1;
	const struct value *cur = rec_get(*rec, "current_operations");
	if (value_len(cur)) {
		xc_error_set(err, XC_ERR_OTHER_OPERATION_IN_PROGRESS, cls, ref, value_str(cur->u.st.m[0].val),
			     cur->u.st.m[0].key);
		return -1;
	}
	struct xc_error ignore = XC_ERROR_INIT;
	struct value *vmr = store_get_record(t, cls_of("VM"), rec_str(*rec, "VM"), &ignore);
	xc_error_clear(&ignore);
	if (rec_bool(*rec, "currently_attached") && vmr && dev_vm_has_domain(vmr))
		*running_vm = vmr;
	else
		value_unref(vmr);
	return 0;
}

int dev_before_set_other_config(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *ref,
				const struct value *v, struct xc_error *err)
{
	if (strcmp(f->name, "other_config") == 0)
		return netconf_check_map(v, err);
	return 0;
}

bool dev_mac_valid(const char *mac)
{
	if (strlen(mac) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' : !isxdigit((unsigned char)mac[i]))
			return false;
	return true;
}

int dev_uuid_of_given(const char *given, char *uuid, struct xc_error *err)
{
	if (!*given)
		uuid_generate(uuid);
	else if (uuid_is_valid(given))
		snprintf(uuid, UUID_STRLEN + 1, "%s", given);
	else {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "uuid", given);
		return -1;
	}
	return 0;
}

char *dev_vbd_vdev(const struct value *vbd_rec, bool hvm)
{
	const char *dev = rec_str(vbd_rec, "device");
	return *dev ? xstrdup(dev) : domain_vbd_device(rec_str(vbd_rec, "userdevice"), hvm);
}
