/* VIF: a VM's network interface on a network.
 *
 * create fills what the server chooses: a MAC when the caller gives ""
 * (locally administered, unicast, unique among the pool's interfaces, as
 * xapi's generator makes them), the device slot for "autodetect", the MTU
 * of the network.  other_config goes through netconf (the SDK guide's
 * ethtool and network settings); those settings reach the backend when
 * the VIF is plugged, at VM start or by VIF.plug.  currently_attached
 * moves as for VBDs (see op_vbd.c). */
#include "dev_ops.h"
#include "domain_config.h"
#include "hooks.h"
#include "netconf.h"
#include "ops.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

#define VIF_SLOTS 7
#define MAC_TRIES 64

/* "aa:bb:cc:dd:ee:ff", hex digits in either case. */
static bool mac_valid(const char *mac)
{
	if (strlen(mac) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? mac[i] != ':' : !isxdigit((unsigned char)mac[i]))
			return false;
	return true;
}

static bool mac_taken(struct store_txn *t, const char *mac)
{
	static const char *const classes[] = { "VIF", "PIF" };
	for (size_t k = 0; k < ARRAY_SIZE(classes); k++) {
		XC_AUTOVALUE *all = store_get_all(t, cls_of(classes[k]));
		for (size_t i = 0; i < value_len(all); i++) {
			struct xc_error ignore = XC_ERROR_INIT;
			XC_AUTOVALUE *m = store_get_field(t, dm_field_find(cls_of(classes[k]), "MAC"),
							  value_str(value_array_at(all, i)), &ignore);
			xc_error_clear(&ignore);
			if (m && strcasecmp(value_str(m), mac) == 0)
				return true;
		}
	}
	return false;
}

/* A random locally administered unicast address nobody uses yet. */
static char *mac_generate(struct store_txn *t, struct xc_error *err)
{
	for (int i = 0; i < MAC_TRIES; i++) {
		unsigned char b[6];
		if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
			break;
		b[0] = (unsigned char)((b[0] & 0xfe) | 0x02);
		char *mac = xasprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
		if (!mac_taken(t, mac))
			return mac;
		free(mac);
	}
	xc_error_internal(err, "cannot generate a free MAC address");
	return NULL;
}

/* The VIF of vm other than self on that device number. */
static char *device_user(struct store_txn *t, const char *vm, const char *self, const char *dev)
{
	XC_AUTOVALUE *vifs = dev_find(t, "VIF", "VM", vm);
	for (size_t i = 0; i < value_len(vifs); i++) {
		const char *vif = value_str(value_array_at(vifs, i));
		if (self && strcmp(vif, self) == 0)
			continue;
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *d = store_get_field(t, dm_field_find(cls_of("VIF"), "device"), vif, &ignore);
		xc_error_clear(&ignore);
		if (d && atoi(value_str(d)) == atoi(dev))
			return xstrdup(vif);
	}
	return NULL;
}

static char *device_for(struct store_txn *t, const char *vm, const char *dev, struct xc_error *err)
{
	if (!*dev || strcmp(dev, "autodetect") == 0) {
		for (unsigned n = 0; n < VIF_SLOTS; n++) {
			char slot[16];
			snprintf(slot, sizeof(slot), "%u", n);
			XC_AUTOFREE char *user = device_user(t, vm, NULL, slot);
			if (!user)
				return xstrdup(slot);
		}
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "the VM has no free network slot left");
		return NULL;
	}
	size_t digits = strspn(dev, "0123456789");
	if (!digits || dev[digits] || digits > 4) {
		xc_error_set(err, XC_ERR_INVALID_DEVICE, dev);
		return NULL;
	}
	XC_AUTOFREE char *user = device_user(t, vm, NULL, dev);
	if (user) {
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_EXISTS, dev);
		return NULL;
	}
	return xstrdup(dev);
}

static int vif_before_create(struct op_ctx *c, struct store_txn *t, struct value *rec, struct xc_error *err)
{
	static const char *const refs[][2] = { { "VM", "VM" }, { "network", "network" } };
	for (size_t i = 0; i < ARRAY_SIZE(refs); i++) {
		const char *r = rec_str(rec, refs[i][0]);
		if (ref_is_null(r) || !store_exists(t, cls_of(refs[i][1]), r)) {
			xc_error_set(err, XC_ERR_HANDLE_INVALID, refs[i][1], r);
			return -1;
		}
	}
	const char *vm = rec_str(rec, "VM");
	XC_AUTOFREE char *dev = device_for(t, vm, rec_str(rec, "device"), err);
	if (!dev)
		return -1;
	const char *given = rec_str(rec, "MAC");
	XC_AUTOFREE char *mac = NULL;
	if (!*given) {
		if (!(mac = mac_generate(t, err)))
			return -1;
	} else if (!mac_valid(given)) {
		xc_error_set(err, XC_ERR_MAC_INVALID, given);
		return -1;
	}
	int64_t mtu = rec_int(rec, "MTU");
	if (mtu <= 0) {
		XC_AUTOVALUE *nm = store_get_field(t, dm_field_find(cls_of("network"), "MTU"), rec_str(rec, "network"), err);
		if (!nm)
			return -1;
		mtu = nm->u.i > 0 ? nm->u.i : 1500;
	} else if (mtu < 68 || mtu > 65535) {
		char m[32];
		snprintf(m, sizeof(m), "%lld", (long long)mtu);
		xc_error_set(err, XC_ERR_INVALID_VALUE, "MTU", m);
		return -1;
	}
	if (netconf_check_map(rec_get(rec, "other_config"), err) < 0)
		return -1;
	value_struct_set(rec, "device", value_new_string(dev));
	if (mac)
		value_struct_set(rec, "MAC", value_new_string(mac));
	value_struct_set(rec, "MAC_autogenerated", value_new_bool(mac != NULL));
	value_struct_set(rec, "MTU", value_new_int(mtu));
	value_struct_set(rec, "currently_attached", value_new_bool(false));
	value_struct_set(rec, "current_operations", value_new_struct(0));
	value_struct_set(rec, "allowed_operations", dev_allowed_of(t, "VIF", REF_NULL, rec));
	return 0;
}

static int vif_before_destroy(struct op_ctx *c, struct store_txn *t, const char *vif, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VIF"), vif, err);
	if (!rec)
		return -1;
	const struct value *cur = rec_get(rec, "current_operations");
	if (value_len(cur)) {
		xc_error_set(err, XC_ERR_OTHER_OPERATION_IN_PROGRESS, "VIF", vif, value_str(cur->u.st.m[0].val),
			     cur->u.st.m[0].key);
		return -1;
	}
	struct xc_error ignore = XC_ERROR_INIT;
	XC_AUTOVALUE *vmr = store_get_record(t, cls_of("VM"), rec_str(rec, "VM"), &ignore);
	xc_error_clear(&ignore);
	if (rec_bool(rec, "currently_attached") && vmr && dev_vm_has_domain(vmr)) {
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "VIF currently attached to a running VM");
		return -1;
	}
	return 0;
}

static int vif_before_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *vif,
			  const struct value *v, struct xc_error *err)
{
	if (strcmp(f->name, "other_config") == 0)
		return netconf_check_map(v, err);
	return 0;
}

const struct class_hooks hooks_VIF = {
	.cls = "VIF",
	.before_create = vif_before_create,
	.before_destroy = vif_before_destroy,
	.before_set = vif_before_set,
};

/* ---- plug / unplug ---- */

struct attach_arg {
	bool attached;
	uint32_t domid; /* the domain the device was added to */
};

static int apply_attached(struct op_ctx *c, struct store_txn *t, const char *vif, void *arg, struct xc_error *err)
{
	const struct attach_arg *a = arg;
	XC_AUTOVALUE *vm = store_get_field(t, dm_field_find(cls_of("VIF"), "VM"), vif, err);
	if (!vm)
		return -1;
	/* A guest that stopped meanwhile took the device with it. */
	bool attached = a->attached && dev_vm_still_on(t, value_str(vm), a->domid);
	return set_bool(t, cls_of("VIF"), vif, "currently_attached", attached, err);
}

static struct value *abandon(struct op_ctx *c, const char *vif, const char *key)
{
	struct xc_error ignore = XC_ERROR_INIT;
	dev_op_end(c, "VIF", vif, key, NULL, NULL, &ignore);
	xc_error_clear(&ignore);
	return NULL;
}

struct value *op_VIF_plug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vif = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "VIF", vif, "plug", NULL, NULL, err);
	if (!key)
		return NULL;
	struct hv *hv = NULL;
	uint32_t domid = 0;
	struct hv_vif v;
	memset(&v, 0, sizeof(v));
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *vm = store_get_field(t, dm_field_find(cls_of("VIF"), "VM"), vif, err);
	int rc = vm ? dev_vm_domain(c, t, value_str(vm), &hv, &domid, NULL, err) : -1;
	if (rc == 0)
		rc = domain_vif_of(t, vif, &v, err);
	store_commit(t, NULL);
	if (rc == 0)
		rc = task_check_cancel(c, err);
	if (rc == 0)
		rc = hv_vif_add(hv, domid, &v, err);
	domain_vif_clear(&v);
	if (rc < 0)
		return abandon(c, vif, key);
	struct attach_arg a = { true, domid };
	return dev_op_end(c, "VIF", vif, key, apply_attached, &a, err) < 0 ? NULL : void_result();
}

static struct value *unplug(struct op_ctx *c, const char *vif, bool force, struct xc_error *err)
{
	XC_AUTOFREE char *key = dev_op_begin(c, "VIF", vif, "unplug", NULL, NULL, err);
	if (!key)
		return NULL;
	struct hv *hv = NULL;
	uint32_t domid = 0;
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VIF"), vif, err);
	int rc = rec ? dev_vm_domain(c, t, rec_str(rec, "VM"), &hv, &domid, NULL, err) : -1;
	store_commit(t, NULL);
	if (rc == 0)
		rc = hv_vif_remove(hv, domid, rec_str(rec, "device"), err);
	if (rc < 0 && force && err->code == XC_ERR_DEVICE_ALREADY_DETACHED) {
		xc_error_clear(err);
		rc = 0;
	}
	if (rc < 0)
		return abandon(c, vif, key);
	struct attach_arg a = { false, domid };
	return dev_op_end(c, "VIF", vif, key, apply_attached, &a, err) < 0 ? NULL : void_result();
}

struct value *op_VIF_unplug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return unplug(c, value_str(args[0]), false, err);
}

struct value *op_VIF_unplug_force(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return unplug(c, value_str(args[0]), true, err);
}
