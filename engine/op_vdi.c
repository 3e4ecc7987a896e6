/* VDI: virtual disks of "file" SRs, each a sparse file in the SR's
 * directory (vdi_file.h).  virtual_size is the file's length and
 * physical_utilisation the blocks it occupies (st_blocks * 512), kept true
 * by every message that changes the file.
 *
 * The generated create gets its file here (the hook), destroy removes it;
 * clone, snapshot and copy make sparse copies; resize changes the length;
 * forget and introduce move records without touching files; update
 * re-reads the file.  The rules of which operation may run when are in
 * dev_ops.c (in use by a running VM, SR plugged, operations in flight). */
#include "dev_ops.h"
#include "hooks.h"
#include "ops.h"
#include "vdi_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

/* Sparse disks may exceed the SR, but not absurdly (as vdi_file.c). */
#define OVERCOMMIT 64

static int size_check(const char *dir, int64_t size, struct xc_error *err)
{
	char sz[32];
	snprintf(sz, sizeof(sz), "%lld", (long long)size);
	if (size < 0) {
		xc_error_set(err, XC_ERR_DISK_SIZE_INVALID, sz);
		return -1;
	}
	struct statvfs vfs;
	int64_t total = statvfs(dir, &vfs) == 0 ? (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize : 0;
	if (total > 0 && size / OVERCOMMIT > total) {
		char have[32];
		snprintf(have, sizeof(have), "%lld", (long long)total * OVERCOMMIT);
		xc_error_set(err, XC_ERR_SR_FULL, sz, have);
		return -1;
	}
	return 0;
}

/* SR figures when a VDI is about to be added (+) or removed (-): the
 * record is not in the store yet, or still is. */
static int sr_totals_adjust(struct store_txn *t, const char *sr, int64_t dvirt, int64_t dphys,
			    struct xc_error *err)
{
	if (sr_file_refresh(t, sr, err) < 0)
		return -1;
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("SR"), sr, err);
	if (!rec)
		return -1;
	int64_t virt = rec_int(rec, "virtual_allocation") + dvirt;
	int64_t phys = rec_int(rec, "physical_utilisation") + dphys;
	if (set_int(t, cls_of("SR"), sr, "virtual_allocation", virt < 0 ? 0 : virt, err) < 0)
		return -1;
	return set_int(t, cls_of("SR"), sr, "physical_utilisation", phys < 0 ? 0 : phys, err);
}

/* The SR's figures after a change, if it is plugged (a forgotten VDI of a
 * detached SR changes nothing that can be measured). */
static int sr_totals(struct store_txn *t, const char *sr, struct xc_error *err)
{
	XC_AUTOFREE char *pbd = dev_sr_plugged_pbd(t, sr, NULL);
	return pbd ? sr_file_refresh(t, sr, err) : 0;
}

/* Length and blocks of the VDI's file into its record. */
static int vdi_sizes(struct store_txn *t, const char *vdi, struct xc_error *err)
{
	XC_AUTOFREE char *path = vdi_file_path(t, vdi, err);
	if (!path)
		return -1;
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VDI"), vdi, err);
	if (!rec)
		return -1;
	const struct dm_class *k = cls_of("VDI");
	struct stat st;
	bool missing = stat(path, &st) < 0;
	if (rec_bool(rec, "missing") != missing && set_bool(t, k, vdi, "missing", missing, err) < 0)
		return -1;
	if (missing)
		return 0;
	if (set_int(t, k, vdi, "virtual_size", (int64_t)st.st_size, err) < 0 ||
	    set_int(t, k, vdi, "physical_utilisation", (int64_t)st.st_blocks * 512, err) < 0)
		return -1;
	return 0;
}

/* ---- the generated create and destroy ---- */

static int vdi_before_create(struct op_ctx *c, struct store_txn *t, struct value *rec, struct xc_error *err)
{
	const char *sr = rec_str(rec, "SR");
	XC_AUTOVALUE *srrec = ref_is_null(sr) ? NULL : store_get_record(t, cls_of("SR"), sr, err);
	if (!srrec) {
		if (ref_is_null(sr))
			xc_error_set(err, XC_ERR_HANDLE_INVALID, "SR", sr);
		return -1;
	}
	int64_t size = rec_int(rec, "virtual_size");
	if (size < 0) {
		char sz[32];
		snprintf(sz, sizeof(sz), "%lld", (long long)size);
		xc_error_set(err, XC_ERR_DISK_SIZE_INVALID, sz);
		return -1;
	}
	if (dev_op_check(t, "SR", sr, srrec, "vdi_create", err) < 0)
		return -1;
	XC_AUTOFREE char *dir = sr_dir(t, sr, err);
	if (!dir || size_check(dir, size, err) < 0)
		return -1;
	char uuid[UUID_STRLEN + 1];
	uuid_generate(uuid);
	XC_AUTOFREE char *loc = xasprintf("%s.img", uuid);
	XC_AUTOFREE char *path = xasprintf("%s/%s", dir, loc);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	struct stat st;
	if (fd < 0 || ftruncate(fd, size) < 0 || fstat(fd, &st) < 0) {
		XC_AUTOFREE char *why = xasprintf("%s: %s", path, strerror(errno));
		dev_backend_failure(err, 78, "VDI Creation failed", why);
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	close(fd);
	value_struct_set(rec, "uuid", value_new_string(uuid));
	value_struct_set(rec, "location", value_new_string(loc));
	value_struct_set(rec, "physical_utilisation", value_new_int((int64_t)st.st_blocks * 512));
	value_struct_set(rec, "managed", value_new_bool(true));
	value_struct_set(rec, "missing", value_new_bool(false));
	value_struct_set(rec, "current_operations", value_new_struct(0));
	value_struct_set(rec, "allowed_operations", dev_allowed_of(t, "VDI", REF_NULL, rec));
	/* The file exists now; a failure below takes it away again.  (Should
	 * the commit itself fail, SR.scan finds the file.) */
	if (sr_totals_adjust(t, sr, size, (int64_t)st.st_blocks * 512, err) < 0) {
		unlink(path);
		return -1;
	}
	return 0;
}

static int vdi_before_destroy(struct op_ctx *c, struct store_txn *t, const char *vdi, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VDI"), vdi, err);
	if (!rec || dev_op_check(t, "VDI", vdi, rec, "destroy", err) < 0)
		return -1;
	XC_AUTOFREE char *path = vdi_file_path(t, vdi, err);
	if (!path || dev_vdi_drop_vbds(t, vdi, err) < 0)
		return -1;
	/* As vdi_file_destroy: the file goes now; a failed commit leaves a
	 * record a scan marks missing, never a file nobody knows of. */
	if (unlink(path) < 0 && errno != ENOENT) {
		XC_AUTOFREE char *why = xasprintf("%s: %s", path, strerror(errno));
		dev_backend_failure(err, 64, "Failed to remove VDI", why);
		return -1;
	}
	return sr_totals_adjust(t, rec_str(rec, "SR"), -rec_int(rec, "virtual_size"), 0, err);
}

const struct class_hooks hooks_VDI = {
	.cls = "VDI",
	.before_create = vdi_before_create,
	.before_destroy = vdi_before_destroy,
};

/* ---- resize ---- */

struct resize_arg {
	int64_t size;
	bool online;
	char *path;
};

/* The SR's driver must say it can resize a disk in use (xapi checks the
 * SM capabilities the same way). */
static int sm_can(struct store_txn *t, const char *sr, const char *capability, struct xc_error *err)
{
	XC_AUTOVALUE *type = store_get_field(t, dm_field_find(cls_of("SR"), "type"), sr, err);
	if (!type)
		return -1;
	XC_AUTOVALUE *sms = dev_find(t, "SM", "type", value_str(type));
	for (size_t i = 0; i < value_len(sms); i++) {
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *caps = store_get_field(t, dm_field_find(cls_of("SM"), "capabilities"),
						     value_str(value_array_at(sms, i)), &ignore);
		xc_error_clear(&ignore);
		for (size_t k = 0; k < value_len(caps); k++)
			if (strcmp(value_str(value_array_at(caps, k)), capability) == 0)
				return 0;
	}
	xc_error_set(err, XC_ERR_SR_OPERATION_NOT_SUPPORTED, sr);
	return -1;
}

static int resize_check(struct op_ctx *c, struct store_txn *t, const char *vdi, const struct value *rec, void *arg,
			struct xc_error *err)
{
	struct resize_arg *r = arg;
	if (r->online && sm_can(t, rec_str(rec, "SR"), "VDI_RESIZE_ONLINE", err) < 0)
		return -1;
	/* A disk in use cannot lose blocks the guest may hold; the file SR
	 * driver says so as its SM backend does. */
	if (r->online && r->size < rec_int(rec, "virtual_size")) {
		dev_backend_failure(err, 79, "VDI Invalid size", "shrinking a disk in use is not allowed");
		return -1;
	}
	XC_AUTOFREE char *dir = sr_dir(t, rec_str(rec, "SR"), err);
	if (!dir || size_check(dir, r->size, err) < 0)
		return -1;
	r->path = vdi_file_path(t, vdi, err);
	return r->path ? 0 : -1;
}

static int apply_sizes(struct op_ctx *c, struct store_txn *t, const char *vdi, void *arg, struct xc_error *err)
{
	XC_AUTOVALUE *sr = store_get_field(t, dm_field_find(cls_of("VDI"), "SR"), vdi, err);
	if (!sr || vdi_sizes(t, vdi, err) < 0 || sr_totals(t, value_str(sr), err) < 0)
		return -1;
	return dev_update_allowed(t, "VDI", vdi, err);
}

/* Tells the domain using the VDI (if one does) its disk's new size. */
static int tell_backend(struct op_ctx *c, const char *vdi, int64_t size, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOFREE char *vbd = dev_vdi_active_vbd(t, vdi, NULL, false);
	XC_AUTOVALUE *rec = vbd ? store_get_record(t, cls_of("VBD"), vbd, err) : NULL;
	struct hv *hv = NULL;
	uint32_t domid = 0;
	bool hvm = false;
	int rc = vbd && !rec ? -1 : 0;
	if (rec)
		rc = dev_vm_domain(c, t, rec_str(rec, "VM"), &hv, &domid, &hvm, err);
	XC_AUTOFREE char *vdev = rec && rc == 0 ? dev_vbd_vdev(rec, hvm) : NULL;
	store_commit(t, NULL);
	if (rc == 0 && vdev)
		rc = hv_disk_resize(hv, domid, vdev, (uint64_t)size, err);
	return rc;
}

static struct value *resize(struct op_ctx *c, const char *vdi, int64_t size, bool online, struct xc_error *err)
{
	struct resize_arg r = { size, online, NULL };
	if (r.size < 0) {
		char sz[32];
		snprintf(sz, sizeof(sz), "%lld", (long long)r.size);
		xc_error_set(err, XC_ERR_DISK_SIZE_INVALID, sz);
		return NULL;
	}
	XC_AUTOFREE char *key = dev_op_begin(c, "VDI", vdi, online ? "resize_online" : "resize", resize_check, &r, err);
	if (!key) {
		free(r.path);
		return NULL;
	}
	int rc = truncate(r.path, r.size);
	if (rc < 0) {
		XC_AUTOFREE char *why = xasprintf("%s: %s", r.path, strerror(errno));
		dev_backend_failure(err, 79, "VDI Invalid size", why);
	}
	free(r.path);
	if (rc == 0 && online)
		rc = tell_backend(c, vdi, r.size, err);
	if (rc < 0) {
		/* The file may have grown already: the sizes are recorded anyway. */
		struct xc_error ignore = XC_ERROR_INIT;
		dev_op_end(c, "VDI", vdi, key, apply_sizes, NULL, &ignore);
		xc_error_clear(&ignore);
		return NULL;
	}
	return dev_op_end(c, "VDI", vdi, key, apply_sizes, NULL, err) < 0 ? NULL : void_result();
}

struct value *op_VDI_resize(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return resize(c, value_str(args[0]), args[1]->u.i, false, err);
}

/* As resize, on a disk a running VM may be using: grows only, and the
 * domain is told of the new size through its backend. */
struct value *op_VDI_resize_online(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return resize(c, value_str(args[0]), args[1]->u.i, true, err);
}

/* ---- clone, snapshot, copy ---- */

enum copy_kind { COPY_CLONE, COPY_SNAPSHOT, COPY_FULL };

struct copy_arg {
	const char *src;
	const char *sr;        /* destination of a full copy, NULL otherwise */
	enum copy_kind kind;
	char *made;
};

/* The copy itself runs in the transaction that records it, so a failure
 * leaves neither record nor file (vdi_file_clone cleans up). */
static int do_copy(struct op_ctx *c, struct store_txn *t, struct copy_arg *a, struct xc_error *err)
{
	const struct dm_class *k = cls_of("VDI");
	if (a->sr) {
		XC_AUTOVALUE *srrec = store_get_record(t, cls_of("SR"), a->sr, err);
		if (!srrec || dev_op_check(t, "SR", a->sr, srrec, "vdi_create", err) < 0)
			return -1;
	}
	a->made = vdi_file_clone(t, a->src, a->sr, NULL, err);
	if (!a->made)
		return -1;
	int rc = 0;
	if (a->kind == COPY_SNAPSHOT) {
		XC_AUTOVALUE *now = value_new_datetime((int64_t)time(NULL));
		rc = set_bool(t, k, a->made, "is_a_snapshot", true, err);
		if (rc == 0)
			rc = set_str(t, k, a->made, "snapshot_of", a->src, err);
		if (rc == 0)
			rc = set_value(t, k, a->made, "snapshot_time", now, err);
	} else if (a->kind == COPY_CLONE) {
		rc = set_bool(t, k, a->made, "read_only", false, err);
	}
	if (rc == 0)
		rc = vdi_sizes(t, a->made, err);
	if (rc == 0)
		rc = dev_update_allowed(t, "VDI", a->made, err);
	XC_AUTOVALUE *sr = rc == 0 ? store_get_field(t, dm_field_find(k, "SR"), a->made, err) : NULL;
	if (rc == 0 && !sr)
		rc = -1;
	if (rc == 0)
		rc = sr_totals(t, value_str(sr), err);
	return rc;
}

static struct value *copy_message(struct op_ctx *c, struct copy_arg *a, const char *op, struct xc_error *err)
{
	XC_AUTOFREE char *key = dev_op_begin(c, "VDI", a->src, op, NULL, NULL, err);
	if (!key)
		return NULL;
	task_progress(c, 0.1);
	struct store_txn *t = store_write(c->e->store);
	int rc = task_check_cancel(c, err);
	if (rc == 0)
		rc = do_copy(c, t, a, err);
	if (rc < 0 || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		/* The clone's file went with the failure only if the record did. */
		free(a->made);
		a->made = NULL;
	}
	struct xc_error ignore = XC_ERROR_INIT;
	dev_op_end(c, "VDI", a->src, key, NULL, NULL, a->made ? err : &ignore);
	xc_error_clear(&ignore);
	return a->made ? value_new_string_take(a->made) : NULL;
}

struct value *op_VDI_clone(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct copy_arg a = { value_str(args[0]), NULL, COPY_CLONE, NULL };
	return copy_message(c, &a, "clone", err);
}

struct value *op_VDI_snapshot(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct copy_arg a = { value_str(args[0]), NULL, COPY_SNAPSHOT, NULL };
	return copy_message(c, &a, "snapshot", err);
}

struct value *op_VDI_copy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *sr = value_str(args[1]);
	if (!ref_is_null(value_str(args[3]))) {
		xc_error_set(err, XC_ERR_VALUE_NOT_SUPPORTED, "into_vdi", value_str(args[3]),
			     "copying into an existing VDI is not supported");
		return NULL;
	}
	struct copy_arg a = { value_str(args[0]), ref_is_null(sr) ? NULL : sr, COPY_FULL, NULL };
	return copy_message(c, &a, "copy", err);
}

/* ---- records without files: forget, introduce ---- */

static int apply_forget(struct op_ctx *c, struct store_txn *t, const char *vdi, void *arg, struct xc_error *err)
{
	XC_AUTOVALUE *sr = store_get_field(t, dm_field_find(cls_of("VDI"), "SR"), vdi, err);
	if (!sr || dev_vdi_drop_vbds(t, vdi, err) < 0 || store_destroy(t, cls_of("VDI"), vdi, err) < 0)
		return -1;
	return sr_totals(t, value_str(sr), err);
}

struct value *op_VDI_forget(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vdi = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "VDI", vdi, "forget", NULL, NULL, err);
	if (!key)
		return NULL;
	return dev_op_end(c, "VDI", vdi, key, apply_forget, NULL, err) < 0 ? NULL : void_result();
}

/* A location is a file name inside the SR's directory. */
static bool location_ok(const char *loc)
{
	return *loc && !strchr(loc, '/') && strcmp(loc, ".") != 0 && strcmp(loc, "..") != 0;
}

struct value *op_VDI_introduce(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *given = value_str(args[0]);
	const char *sr = value_str(args[3]);
	const char *loc = value_str(args[8]);
	const char *snapshot_of = value_str(args[17]);
	char uuid[UUID_STRLEN + 1];
	if (dev_uuid_of_given(given, uuid, err) < 0)
		return NULL;
	if (!location_ok(loc)) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "location", loc);
		return NULL;
	}
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *srrec = store_get_record(t, cls_of("SR"), sr, err);
	XC_AUTOFREE char *dir = NULL, *path = NULL, *other = NULL;
	int rc = srrec ? dev_op_check(t, "SR", sr, srrec, "vdi_introduce", err) : -1;
	if (rc == 0 && !(dir = sr_dir(t, sr, err)))
		rc = -1;
	struct stat st;
	if (rc == 0)
		path = xasprintf("%s/%s", dir, loc);
	if (rc == 0 && (stat(path, &st) < 0 || !S_ISREG(st.st_mode))) {
		xc_error_set(err, XC_ERR_VDI_LOCATION_MISSING, sr, loc);
		rc = -1;
	}
	if (rc == 0) {
		XC_AUTOVALUE *vdis = dev_find(t, "VDI", "SR", sr);
		for (size_t i = 0; i < value_len(vdis) && rc == 0; i++) {
			XC_AUTOVALUE *l = store_get_field(t, dm_field_find(cls_of("VDI"), "location"),
							  value_str(value_array_at(vdis, i)), err);
			if (!l)
				rc = -1;
			else if (strcmp(value_str(l), loc) == 0) {
				xc_error_set(err, XC_ERR_LOCATION_NOT_UNIQUE, sr, loc);
				rc = -1;
			}
		}
	}
	if (rc == 0 && (other = store_ref_by_uuid(t, cls_of("VDI"), uuid))) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "uuid", uuid);
		rc = -1;
	}
	if (rc == 0 && !ref_is_null(snapshot_of) && !store_exists(t, cls_of("VDI"), snapshot_of)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "VDI", snapshot_of);
		rc = -1;
	}
	char *ref = NULL;
	if (rc == 0) {
		XC_AUTOVALUE *rec = value_new_struct(20);
		value_struct_add(rec, "uuid", value_new_string(uuid));
		value_struct_add(rec, "name_label", value_ref(args[1]));
		value_struct_add(rec, "name_description", value_ref(args[2]));
		value_struct_add(rec, "SR", value_new_string(sr));
		value_struct_add(rec, "type", value_ref(args[4]));
		value_struct_add(rec, "sharable", value_ref(args[5]));
		value_struct_add(rec, "read_only", value_ref(args[6]));
		value_struct_add(rec, "other_config", value_ref(args[7]));
		value_struct_add(rec, "location", value_new_string(loc));
		value_struct_add(rec, "xenstore_data", value_ref(args[9]));
		value_struct_add(rec, "sm_config", value_ref(args[10]));
		/* Every file of a file SR is the driver's, whatever was asked. */
		value_struct_add(rec, "managed", value_new_bool(true));
		/* Sizes are the file's, not the caller's. */
		value_struct_add(rec, "virtual_size", value_new_int((int64_t)st.st_size));
		value_struct_add(rec, "physical_utilisation", value_new_int((int64_t)st.st_blocks * 512));
		value_struct_add(rec, "is_a_snapshot", value_ref(args[15]));
		value_struct_add(rec, "snapshot_time", value_ref(args[16]));
		value_struct_add(rec, "snapshot_of", value_new_string(snapshot_of));
		value_struct_add(rec, "allowed_operations", dev_allowed_of(t, "VDI", REF_NULL, rec));
		ref = store_create(t, cls_of("VDI"), NULL, rec, err);
		rc = ref ? sr_totals(t, sr, err) : -1;
	}
	if (rc < 0 || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		free(ref);
		return NULL;
	}
	return value_new_string_take(ref);
}

/* ---- update and setters ---- */

struct value *op_VDI_update(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vdi = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "VDI", vdi, "update", NULL, NULL, err);
	if (!key)
		return NULL;
	return dev_op_end(c, "VDI", vdi, key, apply_sizes, NULL, err) < 0 ? NULL : void_result();
}

struct value *op_VDI_set_read_only(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dev_set_field(c, "VDI", value_str(args[0]), "read_only", args[1], true, err);
}

struct value *op_VDI_set_sharable(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dev_set_field(c, "VDI", value_str(args[0]), "sharable", args[1], true, err);
}

struct value *op_VDI_set_name_label(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dev_set_field(c, "VDI", value_str(args[0]), "name_label", args[1], true, err);
}

struct value *op_VDI_set_name_description(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dev_set_field(c, "VDI", value_str(args[0]), "name_description", args[1], true, err);
}
