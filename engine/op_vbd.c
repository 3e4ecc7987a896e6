/* VBD: the connection between a VM and a VDI.
 *
 * currently_attached follows the SDK guide: false after create (the record
 * alone changes nothing in a running guest), true after plug on a running
 * VM or when the VM starts, false after unplug or when it stops.  plug and
 * unplug hot-plug through the VM's backend (disk_add/disk_remove), insert
 * and eject change the medium of a CD drive (disk_change_media when the
 * drive is attached to a running guest, the record only otherwise).
 *
 * State of one VBD, with the message that moves it:
 *
 *      create                  plug / VM starts
 *   ---------> detached ---------------------------> attached
 *                  ^  <---------------------------     |
 *                  |     unplug / VM stops             |
 *                  +-- destroy (while detached) --X    |  destroy refused
 */
#include "dev_ops.h"
#include "domain_config.h"
#include "hooks.h"
#include "ops.h"
#include "vdi_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

#define PV_SLOTS 16
#define HVM_SLOTS 4

/* The slot number of a userdevice: "3", "xvdd", "hdd" and "sdd" are all
 * slot 3; -1 if it is none of those forms. */
static int slot_of(const char *dev)
{
	size_t digits = strspn(dev, "0123456789");
	if (digits && !dev[digits])
		return digits <= 3 ? atoi(dev) : -1;
	static const char *const prefixes[] = { "xvd", "hd", "sd" };
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(dev, prefixes[i], pl) != 0)
			continue;
		const char *p = dev + pl;
		size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz");
		if (n == 1 && !p[1])
			return p[0] - 'a';
		if (n == 2 && !p[2])
			return (p[0] - 'a' + 1) * 26 + (p[1] - 'a');
		return -1;
	}
	return -1;
}

/* The first VBD of vm other than self whose userdevice is the same slot. */
static char *slot_user(struct store_txn *t, const char *vm, const char *self, int slot)
{
	XC_AUTOVALUE *vbds = dev_find(t, "VBD", "VM", vm);
	for (size_t i = 0; i < value_len(vbds); i++) {
		const char *vbd = value_str(value_array_at(vbds, i));
		if (self && strcmp(vbd, self) == 0)
			continue;
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *ud = store_get_field(t, dm_field_find(cls_of("VBD"), "userdevice"), vbd, &ignore);
		xc_error_clear(&ignore);
		if (ud && slot_of(value_str(ud)) == slot)
			return xstrdup(vbd);
	}
	return NULL;
}

/* Checks a userdevice for a VBD of vm (self: the VBD being changed, NULL
 * for a new one); "autodetect" (or "") becomes the first free slot.
 * Returns the userdevice to record (caller frees). */
static char *userdevice_for(struct store_txn *t, const char *vm, const struct value *vmr, const char *self,
			    const char *dev, struct xc_error *err)
{
	if (!*dev || strcmp(dev, "autodetect") == 0) {
		unsigned slots = *rec_str(vmr, "HVM_boot_policy") ? HVM_SLOTS : PV_SLOTS;
		for (unsigned n = 0; n < slots; n++) {
			XC_AUTOFREE char *user = slot_user(t, vm, self, (int)n);
			if (!user)
				return xasprintf("%u", n);
		}
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "the VM has no free disk slot left");
		return NULL;
	}
	int slot = slot_of(dev);
	if (slot < 0) {
		xc_error_set(err, XC_ERR_ILLEGAL_VBD_DEVICE, self ? self : REF_NULL, dev);
		return NULL;
	}
	XC_AUTOFREE char *user = slot_user(t, vm, self, slot);
	if (user) {
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_EXISTS, dev);
		return NULL;
	}
	return xstrdup(dev);
}

/* Type, mode and medium must agree: CDs are read-only, only CDs may be
 * empty. */
static int media_rules(const char *type, const char *mode, bool empty, struct xc_error *err)
{
	bool cd = strcmp(type, "CD") == 0;
	if (cd && strcmp(mode, "RW") == 0) {
		xc_error_set(err, XC_ERR_VBD_CDS_MUST_BE_READONLY);
		return -1;
	}
	if (!cd && empty) {
		xc_error_set(err, XC_ERR_VBD_NOT_REMOVABLE_MEDIA, "in constructor");
		return -1;
	}
	return 0;
}

static int vbd_before_create(struct op_ctx *c, struct store_txn *t, struct value *rec, struct xc_error *err)
{
	const char *vm = rec_str(rec, "VM");
	if (ref_is_null(vm)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "VM", vm);
		return -1;
	}
	XC_AUTOVALUE *vmr = store_get_record(t, cls_of("VM"), vm, err);
	if (!vmr)
		return -1;
	/* type and mode are there: the constructor defaults them. */
	const char *type = rec_str(rec, "type");
	const char *mode = rec_str(rec, "mode");
	bool cd = strcmp(type, "CD") == 0;
	const char *vdi = rec_str(rec, "VDI");
	bool empty = rec_bool(rec, "empty");
	if (media_rules(type, mode, empty, err) < 0)
		return -1;
	if (!ref_is_null(vdi) && !empty) {
		if (!store_exists(t, cls_of("VDI"), vdi)) {
			xc_error_set(err, XC_ERR_HANDLE_INVALID, "VDI", vdi);
			return -1;
		}
	} else if (cd) {
		/* An empty drive: no VDI, whatever was sent.  (vdi dangles now.) */
		empty = true;
		value_struct_set(rec, "VDI", value_new_string(REF_NULL));
	} else {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "VDI", vdi);
		return -1;
	}
	XC_AUTOFREE char *dev = userdevice_for(t, vm, vmr, NULL, rec_str(rec, "userdevice"), err);
	if (!dev)
		return -1;
	value_struct_set(rec, "userdevice", value_new_string(dev));
	value_struct_set(rec, "empty", value_new_bool(empty));
	/* Creating changes nothing in a running guest: plug does. */
	value_struct_set(rec, "currently_attached", value_new_bool(false));
	value_struct_set(rec, "device", value_new_string(""));
	struct value *none = value_new_struct(0);
	value_struct_set(rec, "current_operations", none);
	value_struct_set(rec, "allowed_operations", dev_allowed_of(t, "VBD", REF_NULL, rec));
	return 0;
}

static int vbd_before_destroy(struct op_ctx *c, struct store_txn *t, const char *vbd, struct xc_error *err)
{
	XC_AUTOVALUE *rec = NULL;
	XC_AUTOVALUE *vmr = NULL;
	if (dev_destroy_check(t, "VBD", vbd, &rec, &vmr, err) < 0)
		return -1;
	if (vmr) {
		XC_AUTOFREE char *why = xasprintf("VBD '%s' still attached to '%s'", rec_str(rec, "uuid"),
						  rec_str(vmr, "uuid"));
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, why);
		return -1;
	}
	return 0;
}

static int vbd_before_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *vbd,
			  const struct value *v, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VBD"), vbd, err);
	if (!rec)
		return -1;
	if (strcmp(f->name, "userdevice") == 0) {
		const char *vm = rec_str(rec, "VM");
		XC_AUTOVALUE *vmr = store_get_record(t, cls_of("VM"), vm, err);
		const char *dev = value_str(v);
		if (!vmr)
			return -1;
		if (!*dev || strcmp(dev, "autodetect") == 0) {
			xc_error_set(err, XC_ERR_ILLEGAL_VBD_DEVICE, vbd, dev);
			return -1;
		}
		XC_AUTOFREE char *ok = userdevice_for(t, vm, vmr, vbd, dev, err);
		if (!ok)
			return -1;
	} else if (strcmp(f->name, "type") == 0) {
		bool cd = strcmp(value_str(v), "CD") == 0;
		if (cd && strcmp(rec_str(rec, "mode"), "RW") == 0) {
			xc_error_set(err, XC_ERR_VBD_CDS_MUST_BE_READONLY);
			return -1;
		}
		if (!cd && rec_bool(rec, "empty")) {
			xc_error_set(err, XC_ERR_VBD_NOT_REMOVABLE_MEDIA, vbd);
			return -1;
		}
	}
	return 0;
}

/* unpluggable and type decide unplug, insert and eject. */
static int vbd_after_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *vbd,
			 struct xc_error *err)
{
	return dev_update_allowed(t, "VBD", vbd, err);
}

const struct class_hooks hooks_VBD = {
	.cls = "VBD",
	.before_create = vbd_before_create,
	.before_destroy = vbd_before_destroy,
	.before_set = vbd_before_set,
	.after_set = vbd_after_set,
};

/* ---- attaching ---- */

/* Whether the VBD's disk could be attached to its VM on the VM's host (any
 * host while the VM is halted): the medium is there, writable if the mode
 * asks for it, on an SR the host has plugged, and not written by another
 * running VM unless sharable. */
static int attachable(struct op_ctx *c, struct store_txn *t, const char *vbd, const struct value *rec, void *arg,
		      struct xc_error *err)
{
	const char *vdi = rec_str(rec, "VDI");
	if (rec_bool(rec, "empty") || ref_is_null(vdi))
		return 0;
	XC_AUTOVALUE *vr = store_get_record(t, cls_of("VDI"), vdi, err);
	XC_AUTOVALUE *vmr = vr ? store_get_record(t, cls_of("VM"), rec_str(rec, "VM"), err) : NULL;
	if (!vmr)
		return -1;
	bool rw = strcmp(rec_str(rec, "mode"), "RW") == 0;
	if (rw && rec_bool(vr, "read_only")) {
		xc_error_set(err, XC_ERR_VDI_READONLY, vdi);
		return -1;
	}
	const char *sr = rec_str(vr, "SR");
	if (rec_bool(vr, "missing")) {
		xc_error_set(err, XC_ERR_VDI_MISSING, sr, vdi);
		return -1;
	}
	const char *host = dev_vm_has_domain(vmr) ? rec_str(vmr, "resident_on") : NULL;
	XC_AUTOFREE char *pbd = dev_sr_plugged_pbd(t, sr, host);
	if (!pbd) {
		xc_error_set(err, XC_ERR_VM_REQUIRES_SR, rec_str(rec, "VM"), sr);
		return -1;
	}
	if (rec_bool(vr, "sharable"))
		return 0;
	XC_AUTOVALUE *others = dev_find(t, "VBD", "VDI", vdi);
	for (size_t i = 0; i < value_len(others); i++) {
		const char *o = value_str(value_array_at(others, i));
		if (strcmp(o, vbd) == 0)
			continue;
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *ob = store_get_record(t, cls_of("VBD"), o, &ignore);
		XC_AUTOVALUE *ovm = ob ? store_get_record(t, cls_of("VM"), rec_str(ob, "VM"), &ignore) : NULL;
		xc_error_clear(&ignore);
		if (!ovm || !rec_bool(ob, "currently_attached") || !dev_vm_has_domain(ovm))
			continue;
		if (rw || strcmp(rec_str(ob, "mode"), "RW") == 0) {
			xc_error_set(err, XC_ERR_VDI_IN_USE, vdi, "attach");
			return -1;
		}
	}
	return 0;
}

struct attach_arg {
	bool attached;
	bool hvm;
	uint32_t domid; /* the domain the device was added to */
};

static int apply_attached(struct op_ctx *c, struct store_txn *t, const char *vbd, void *arg, struct xc_error *err)
{
	const struct attach_arg *a = arg;
	const struct dm_class *k = cls_of("VBD");
	XC_AUTOVALUE *rec = store_get_record(t, k, vbd, err);
	if (!rec)
		return -1;
	/* A guest that stopped meanwhile took the device with it. */
	bool attached = a->attached && dev_vm_still_on(t, rec_str(rec, "VM"), a->domid);
	if (set_bool(t, k, vbd, "currently_attached", attached, err) < 0)
		return -1;
	if (attached) {
		XC_AUTOFREE char *dev = domain_vbd_device(rec_str(rec, "userdevice"), a->hvm);
		if (set_str(t, k, vbd, "device", dev, err) < 0)
			return -1;
	}
	return dev_update_vbd_chain(t, vbd, err);
}

/* Ends an operation that failed: the key comes off, err stays the
 * operation's error. */
static struct value *abandon(struct op_ctx *c, const char *vbd, const char *key)
{
	struct xc_error ignore = XC_ERROR_INIT;
	dev_op_end(c, "VBD", vbd, key, NULL, NULL, &ignore);
	xc_error_clear(&ignore);
	return NULL;
}

struct value *op_VBD_plug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vbd = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "VBD", vbd, "plug", attachable, NULL, err);
	if (!key)
		return NULL;
	struct hv *hv = NULL;
	uint32_t domid = 0;
	struct attach_arg a = { true, false, 0 };
	struct hv_disk d;
	memset(&d, 0, sizeof(d));
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *vm = store_get_field(t, dm_field_find(cls_of("VBD"), "VM"), vbd, err);
	int rc = vm ? dev_vm_domain(c, t, value_str(vm), &hv, &domid, &a.hvm, err) : -1;
	a.domid = domid;
	if (rc == 0)
		rc = domain_disk_of(t, vbd, a.hvm, &d, err);
	store_commit(t, NULL);
	if (rc == 0)
		rc = task_check_cancel(c, err);
	if (rc == 0)
		rc = hv_disk_add(hv, domid, &d, err);
	domain_disk_clear(&d);
	if (rc < 0)
		return abandon(c, vbd, key);
	return dev_op_end(c, "VBD", vbd, key, apply_attached, &a, err) < 0 ? NULL : void_result();
}

static struct value *unplug(struct op_ctx *c, const char *vbd, const char *op, struct xc_error *err)
{
	XC_AUTOFREE char *key = dev_op_begin(c, "VBD", vbd, op, NULL, NULL, err);
	if (!key)
		return NULL;
	struct hv *hv = NULL;
	uint32_t domid = 0;
	struct attach_arg a = { false, false, 0 };
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VBD"), vbd, err);
	int rc = rec ? dev_vm_domain(c, t, rec_str(rec, "VM"), &hv, &domid, &a.hvm, err) : -1;
	XC_AUTOFREE char *vdev = rc == 0 ? dev_vbd_vdev(rec, a.hvm) : NULL;
	store_commit(t, NULL);
	if (rc == 0)
		rc = hv_disk_remove(hv, domid, vdev, err);
	/* Forced: a device the backend no longer has is detached all the same. */
	if (rc < 0 && strcmp(op, "unplug_force") == 0 && err->code == XC_ERR_DEVICE_ALREADY_DETACHED) {
		xc_error_clear(err);
		rc = 0;
	}
	if (rc < 0)
		return abandon(c, vbd, key);
	return dev_op_end(c, "VBD", vbd, key, apply_attached, &a, err) < 0 ? NULL : void_result();
}

struct value *op_VBD_unplug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return unplug(c, value_str(args[0]), "unplug", err);
}

struct value *op_VBD_unplug_force(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return unplug(c, value_str(args[0]), "unplug_force", err);
}

/* ---- removable media ---- */

struct media_arg {
	const char *vdi; /* the new medium; NULL to eject */
	char *old;       /* the medium taken out */
};

static int insert_check(struct op_ctx *c, struct store_txn *t, const char *vbd, const struct value *rec, void *arg,
			struct xc_error *err)
{
	struct media_arg *m = arg;
	if (!store_exists(t, cls_of("VDI"), m->vdi)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "VDI", m->vdi);
		return -1;
	}
	XC_AUTOVALUE *next = value_copy(rec);
	value_struct_set(next, "VDI", value_new_string(m->vdi));
	value_struct_set(next, "empty", value_new_bool(false));
	return attachable(c, t, vbd, next, NULL, err);
}

static int apply_media(struct op_ctx *c, struct store_txn *t, const char *vbd, void *arg, struct xc_error *err)
{
	struct media_arg *m = arg;
	const struct dm_class *k = cls_of("VBD");
	if (set_str(t, k, vbd, "VDI", m->vdi ? m->vdi : REF_NULL, err) < 0 ||
	    set_bool(t, k, vbd, "empty", m->vdi == NULL, err) < 0 || dev_update_vbd_chain(t, vbd, err) < 0)
		return -1;
	if (m->old && store_exists(t, cls_of("VDI"), m->old) && dev_update_allowed(t, "VDI", m->old, err) < 0)
		return -1;
	return 0;
}

/* insert and eject: the backend changes the medium if the drive is
 * attached to a running guest; the record changes in any case. */
static struct value *change_media(struct op_ctx *c, const char *vbd, const char *op, struct media_arg *m,
				  struct xc_error *err)
{
	XC_AUTOFREE char *key = dev_op_begin(c, "VBD", vbd, op, m->vdi ? insert_check : NULL, m, err);
	if (!key)
		return NULL;
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VBD"), vbd, err);
	int rc = rec ? 0 : -1;
	struct hv *hv = NULL;
	uint32_t domid = 0;
	bool hvm = false;
	XC_AUTOFREE char *target = NULL, *vdev = NULL;
	bool live = rec && rec_bool(rec, "currently_attached");
	if (rec)
		m->old = xstrdup(rec_str(rec, "VDI"));
	if (rc == 0 && live)
		rc = dev_vm_domain(c, t, rec_str(rec, "VM"), &hv, &domid, &hvm, err);
	if (rc == 0 && live && m->vdi)
		rc = (target = vdi_file_path(t, m->vdi, err)) ? 0 : -1;
	if (rc == 0 && live)
		vdev = dev_vbd_vdev(rec, hvm);
	store_commit(t, NULL);
	if (rc == 0 && live)
		rc = hv_disk_change_media(hv, domid, vdev, target, err);
	if (rc < 0) {
		free(m->old);
		return abandon(c, vbd, key);
	}
	rc = dev_op_end(c, "VBD", vbd, key, apply_media, m, err);
	free(m->old);
	return rc < 0 ? NULL : void_result();
}

struct value *op_VBD_insert(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct media_arg m = { value_str(args[1]), NULL };
	return change_media(c, value_str(args[0]), "insert", &m, err);
}

struct value *op_VBD_eject(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct media_arg m = { NULL, NULL };
	return change_media(c, value_str(args[0]), "eject", &m, err);
}

/* ---- checks and settings ---- */

struct value *op_VBD_assert_attachable(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vbd = value_str(args[0]);
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VBD"), vbd, err);
	int rc = rec ? attachable(c, t, vbd, rec, NULL, err) : -1;
	if (rc == 0) {
		/* The file itself must be there too. */
		struct hv_disk d;
		rc = domain_disk_of(t, vbd, false, &d, err);
		if (rc == 0)
			domain_disk_clear(&d);
	}
	store_commit(t, NULL);
	return rc < 0 ? NULL : void_result();
}

struct value *op_VBD_set_mode(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vbd = value_str(args[0]);
	const char *mode = value_str(args[1]);
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VBD"), vbd, err);
	XC_AUTOVALUE *vmr = rec ? store_get_record(t, cls_of("VM"), rec_str(rec, "VM"), err) : NULL;
	int rc = vmr ? 0 : -1;
	if (rc == 0 && strcmp(rec_str(vmr, "power_state"), "Halted") != 0) {
		char actual[32];
		snprintf(actual, sizeof(actual), "%s", rec_str(vmr, "power_state"));
		for (char *p = actual; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		xc_error_set(err, XC_ERR_VM_BAD_POWER_STATE, rec_str(rec, "VM"), "halted", actual);
		rc = -1;
	}
	if (rc == 0 && strcmp(rec_str(rec, "type"), "CD") == 0 && strcmp(mode, "RW") == 0) {
		xc_error_set(err, XC_ERR_VBD_CDS_MUST_BE_READONLY);
		rc = -1;
	}
	if (rc == 0)
		rc = set_str(t, cls_of("VBD"), vbd, "mode", mode, err);
	if (rc < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}
