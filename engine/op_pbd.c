/* PBD: the connection between a host and an SR.
 *
 * For the "file" driver, plugging means the host can reach the directory
 * named by device_config:location; the SR's size figures are refreshed
 * from it.  Unplugging is refused while a VM running on that host uses a
 * VDI of the SR.  The generated create and destroy get their rules here
 * too: one PBD per (SR, host) pair, and only unplugged ones go away. */
#include "dev_ops.h"
#include "hooks.h"
#include "ops.h"
#include "vdi_file.h"

#include <string.h>
#include <sys/statvfs.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

/* The SR's allowed_operations with its PBD list changed by one: the hooks
 * run before the generated create/destroy touch the store. */
static int sr_allowed_with(struct store_txn *t, const char *sr, const char *added, const char *removed,
			   struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("SR"), sr, err);
	if (!rec)
		return -1;
	XC_AUTOVALUE *next = value_copy(rec);
	XC_AUTOVALUE *pbds = value_new_array(4);
	const struct value *cur = rec_get(rec, "PBDs");
	for (size_t i = 0; i < value_len(cur); i++)
		if (!removed || strcmp(value_str(value_array_at(cur, i)), removed) != 0)
			value_array_push(pbds, value_ref(value_array_at(cur, i)));
	value_struct_set(next, "PBDs", value_ref(pbds));
	XC_AUTOVALUE *allowed = dev_allowed_of(t, "SR", sr, next);
	/* A new PBD is always unplugged: the SR can be plugged somewhere. */
	bool has_plug = false;
	for (size_t i = 0; i < value_len(allowed); i++)
		has_plug |= strcmp(value_str(value_array_at(allowed, i)), "plug") == 0;
	if (added && !has_plug && value_len(rec_get(rec, "current_operations")) == 0)
		value_array_push_string(allowed, "plug");
	if (value_equal(allowed, rec_get(rec, "allowed_operations")))
		return 0;
	return set_value(t, cls_of("SR"), sr, "allowed_operations", allowed, err);
}

static int pbd_before_create(struct op_ctx *c, struct store_txn *t, struct value *rec, struct xc_error *err)
{
	const char *host = rec_str(rec, "host");
	const char *sr = rec_str(rec, "SR");
	if (ref_is_null(host) || !store_exists(t, cls_of("host"), host)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", host);
		return -1;
	}
	if (ref_is_null(sr) || !store_exists(t, cls_of("SR"), sr)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "SR", sr);
		return -1;
	}
	XC_AUTOVALUE *pbds = dev_find(t, "PBD", "SR", sr);
	for (size_t i = 0; i < value_len(pbds); i++) {
		const char *pbd = value_str(value_array_at(pbds, i));
		XC_AUTOVALUE *h = store_get_field(t, dm_field_find(cls_of("PBD"), "host"), pbd, err);
		if (!h)
			return -1;
		if (strcmp(value_str(h), host) == 0) {
			xc_error_set(err, XC_ERR_PBD_EXISTS, sr, host, pbd);
			return -1;
		}
	}
	value_struct_set(rec, "currently_attached", value_new_bool(false));
	return sr_allowed_with(t, sr, "new", NULL, err);
}

static int pbd_before_destroy(struct op_ctx *c, struct store_txn *t, const char *pbd, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("PBD"), pbd, err);
	if (!rec)
		return -1;
	if (rec_bool(rec, "currently_attached")) {
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "PBD is currently attached");
		return -1;
	}
	const char *sr = rec_str(rec, "SR");
	return store_exists(t, cls_of("SR"), sr) ? sr_allowed_with(t, sr, NULL, pbd, err) : 0;
}

const struct class_hooks hooks_PBD = {
	.cls = "PBD",
	.before_create = pbd_before_create,
	.before_destroy = pbd_before_destroy,
};

/* ---- plug / unplug ---- */

struct pbd_arg {
	const char *pbd;
	bool attach;
};

/* Extra check of an unplug: no VM on this PBD's host uses the SR. */
static int unplug_check(struct op_ctx *c, struct store_txn *t, const char *sr, const struct value *srrec, void *arg,
			struct xc_error *err)
{
	struct pbd_arg *a = arg;
	XC_AUTOVALUE *host = store_get_field(t, dm_field_find(cls_of("PBD"), "host"), a->pbd, err);
	if (!host)
		return -1;
	XC_AUTOFREE char *vdi = dev_sr_active_vdi(t, sr, value_str(host));
	if (vdi) {
		xc_error_set(err, XC_ERR_VDI_IN_USE, vdi, "unplug");
		return -1;
	}
	return 0;
}

/* Extra check of a plug: the driver can reach the storage. */
static int plug_check(struct op_ctx *c, struct store_txn *t, const char *sr, const struct value *srrec, void *arg,
		      struct xc_error *err)
{
	struct pbd_arg *a = arg;
	if (strcmp(rec_str(srrec, "type"), "file") != 0) {
		xc_error_set(err, XC_ERR_SR_UNKNOWN_DRIVER, rec_str(srrec, "type"));
		return -1;
	}
	XC_AUTOVALUE *dc = store_get_field(t, dm_field_find(cls_of("PBD"), "device_config"), a->pbd, err);
	XC_AUTOFREE char *loc = dc ? dev_file_location(dc, true, err) : NULL;
	return loc ? 0 : -1;
}

static int apply_plug(struct op_ctx *c, struct store_txn *t, const char *sr, void *arg, struct xc_error *err)
{
	struct pbd_arg *a = arg;
	if (!store_exists(t, cls_of("PBD"), a->pbd)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "PBD", a->pbd);
		return -1;
	}
	if (set_bool(t, cls_of("PBD"), a->pbd, "currently_attached", a->attach, err) < 0)
		return -1;
	if (a->attach) {
		XC_AUTOFREE char *dir = sr_dir(t, sr, err);
		struct statvfs vfs;
		if (!dir)
			return -1;
		if (statvfs(dir, &vfs) == 0 &&
		    set_int(t, cls_of("SR"), sr, "physical_size", (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize, err) < 0)
			return -1;
		if (sr_file_refresh(t, sr, err) < 0)
			return -1;
	}
	return dev_update_sr_chain(t, sr, err);
}

static struct value *plug(struct op_ctx *c, const char *pbd, bool attach, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("PBD"), pbd, err);
	store_commit(t, NULL);
	if (!rec)
		return NULL;
	/* Already there: nothing to do, as in xapi. */
	if (rec_bool(rec, "currently_attached") == attach)
		return void_result();
	const char *sr = rec_str(rec, "SR");
	struct pbd_arg a = { pbd, attach };
	XC_AUTOFREE char *key = dev_op_begin(c, "SR", sr, attach ? "plug" : "unplug", attach ? plug_check : unplug_check,
					     &a, err);
	if (!key)
		return NULL;
	return dev_op_end(c, "SR", sr, key, apply_plug, &a, err) < 0 ? NULL : void_result();
}

struct value *op_PBD_plug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return plug(c, value_str(args[0]), true, err);
}

struct value *op_PBD_unplug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return plug(c, value_str(args[0]), false, err);
}

struct value *op_PBD_set_device_config(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *pbd = value_str(args[0]);
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("PBD"), pbd, err);
	int rc = rec ? 0 : -1;
	/* The storage of an attached SR does not move under its VMs. */
	if (rc == 0 && rec_bool(rec, "currently_attached")) {
		const char *now = value_struct_get_str(rec_get(rec, "device_config"), "location");
		const char *next = value_struct_get_str(args[1], "location");
		if (strcmp(now ? now : "", next ? next : "") != 0) {
			xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "PBD is currently attached");
			rc = -1;
		}
	}
	if (rc == 0)
		rc = set_value(t, cls_of("PBD"), pbd, "device_config", args[1], err);
	if (rc < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}
