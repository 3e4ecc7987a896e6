/* SR: storage repositories of the "file" driver.
 *
 * An SR is a directory (device_config:location of its PBDs) holding one
 * sparse file per VDI, <uuid>.img (vdi_file.h); read-only .iso images in
 * the directory show up as VDIs too, so a directory of ISOs is a CD
 * library.  The messages:
 *
 *   create     makes the directory if needed, records the SR and a plugged
 *              PBD for the host, then scans
 *   introduce  records an SR only (PBDs come with PBD.create)
 *   scan       VDI records for image files that have none, sizes brought
 *              in line with the files, records whose file is gone marked
 *              missing
 *   forget     removes the records (SR, PBDs, VDIs), keeps the files
 *   destroy    removes the files too
 *   probe      describes a directory as XML without recording anything
 *
 * destroy and forget need every PBD unplugged (SR_HAS_PBD), which PBD.unplug
 * refuses while a running VM uses one of the SR's disks (VDI_IN_USE). */
#include "dev_ops.h"
#include "ops.h"
#include "vdi_file.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "storage"

static const char *const supported_types[] = { "file", NULL };

static int type_check(const char *type, struct xc_error *err)
{
	for (const char *const *p = supported_types; *p; p++)
		if (strcmp(type, *p) == 0)
			return 0;
	xc_error_set(err, XC_ERR_SR_UNKNOWN_DRIVER, type);
	return -1;
}

static int64_t fs_size(const char *dir)
{
	struct statvfs vfs;
	return statvfs(dir, &vfs) == 0 ? (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize : 0;
}

/* mkdir -p */
static int make_dir(const char *path, struct xc_error *err)
{
	XC_AUTOFREE char *p = xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			XC_AUTOFREE char *why = xasprintf("%s: %s", p, strerror(errno));
			dev_backend_failure(err, 61, "File SR creation error", why);
			return -1;
		}
		if (!(*s = c))
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		XC_AUTOFREE char *why = xasprintf("%s: not a directory", path);
		dev_backend_failure(err, 61, "File SR creation error", why);
		return -1;
	}
	return 0;
}

/* Image files the driver shows as VDIs: <name>.img (read-write) and
 * <name>.iso (read-only). */
static bool image_name(const char *name, bool *iso)
{
	size_t n = strlen(name);
	if (name[0] == '.' || n < 5)
		return false;
	*iso = strcmp(name + n - 4, ".iso") == 0;
	return *iso || strcmp(name + n - 4, ".img") == 0;
}

/* Does a VDI of the SR have this location? */
static bool location_known(struct store_txn *t, const char *sr, const char *loc)
{
	XC_AUTOVALUE *vdis = dev_find(t, "VDI", "SR", sr);
	for (size_t i = 0; i < value_len(vdis); i++) {
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *l = store_get_field(t, dm_field_find(cls_of("VDI"), "location"),
						  value_str(value_array_at(vdis, i)), &ignore);
		xc_error_clear(&ignore);
		if (l && strcmp(value_str(l), loc) == 0)
			return true;
	}
	return false;
}

/* A record for an image file found in the directory. */
static int introduce_file(struct store_txn *t, const char *sr, const char *dir, const char *name, bool iso,
			  struct xc_error *err)
{
	XC_AUTOFREE char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	/* A file named <uuid>.img keeps its uuid if nobody has it. */
	char uuid[UUID_STRLEN + 1];
	size_t n = strlen(name);
	if (n == UUID_STRLEN + 4 && !iso) {
		memcpy(uuid, name, UUID_STRLEN);
		uuid[UUID_STRLEN] = '\0';
		XC_AUTOFREE char *other = uuid_is_valid(uuid) ? store_ref_by_uuid(t, cls_of("VDI"), uuid) : NULL;
		if (!uuid_is_valid(uuid) || other)
			uuid_generate(uuid);
	} else {
		uuid_generate(uuid);
	}
	XC_AUTOVALUE *rec = value_new_struct(16);
	value_struct_add(rec, "uuid", value_new_string(uuid));
	value_struct_add(rec, "name_label", value_new_string(name));
	value_struct_add(rec, "name_description", value_new_string(iso ? "CD image" : "Disk image found by a scan"));
	value_struct_add(rec, "SR", value_new_string(sr));
	value_struct_add(rec, "virtual_size", value_new_int((int64_t)st.st_size));
	value_struct_add(rec, "physical_utilisation", value_new_int((int64_t)st.st_blocks * 512));
	value_struct_add(rec, "type", value_new_string("user"));
	value_struct_add(rec, "read_only", value_new_bool(iso));
	value_struct_add(rec, "location", value_new_string(name));
	value_struct_add(rec, "managed", value_new_bool(true));
	value_struct_add(rec, "allowed_operations", dev_allowed_of(t, "VDI", REF_NULL, rec));
	char *ref = store_create(t, cls_of("VDI"), NULL, rec, err);
	if (!ref)
		return -1;
	log_info("scan of %s: new VDI %s for %s", sr, ref, name);
	free(ref);
	return 0;
}

/* Existing records against their files: sizes, and missing. */
static int refresh_records(struct store_txn *t, const char *sr, const char *dir, struct xc_error *err)
{
	const struct dm_class *k = cls_of("VDI");
	XC_AUTOVALUE *vdis = dev_find(t, "VDI", "SR", sr);
	for (size_t i = 0; i < value_len(vdis); i++) {
		const char *vdi = value_str(value_array_at(vdis, i));
		XC_AUTOVALUE *rec = store_get_record(t, k, vdi, err);
		if (!rec)
			return -1;
		XC_AUTOFREE char *path = xasprintf("%s/%s", dir, rec_str(rec, "location"));
		struct stat st;
		bool missing = stat(path, &st) < 0;
		if (rec_bool(rec, "missing") != missing && set_bool(t, k, vdi, "missing", missing, err) < 0)
			return -1;
		if (missing)
			continue;
		if (rec_int(rec, "virtual_size") != (int64_t)st.st_size &&
		    set_int(t, k, vdi, "virtual_size", (int64_t)st.st_size, err) < 0)
			return -1;
		if (rec_int(rec, "physical_utilisation") != (int64_t)st.st_blocks * 512 &&
		    set_int(t, k, vdi, "physical_utilisation", (int64_t)st.st_blocks * 512, err) < 0)
			return -1;
	}
	return 0;
}

/* The SR's own figures: its filesystem's size, and what its VDIs use. */
static int refresh_sr(struct store_txn *t, const char *sr, const char *dir, struct xc_error *err)
{
	int64_t size = fs_size(dir);
	XC_AUTOVALUE *cur = store_get_field(t, dm_field_find(cls_of("SR"), "physical_size"), sr, err);
	if (!cur)
		return -1;
	if (cur->u.i != size && set_int(t, cls_of("SR"), sr, "physical_size", size, err) < 0)
		return -1;
	return sr_file_refresh(t, sr, err);
}

static int scan_dir(struct store_txn *t, const char *sr, struct xc_error *err)
{
	XC_AUTOFREE char *dir = sr_dir(t, sr, err);
	if (!dir)
		return -1;
	DIR *d = opendir(dir);
	if (!d) {
		XC_AUTOFREE char *why = xasprintf("%s: %s", dir, strerror(errno));
		dev_backend_failure(err, 40, "The SR scan failed", why);
		return -1;
	}
	int rc = 0;
	for (struct dirent *de; rc == 0 && (de = readdir(d));) {
		bool iso;
		if (image_name(de->d_name, &iso) && !location_known(t, sr, de->d_name))
			rc = introduce_file(t, sr, dir, de->d_name, iso, err);
	}
	closedir(d);
	if (rc == 0)
		rc = refresh_records(t, sr, dir, err);
	if (rc == 0)
		rc = refresh_sr(t, sr, dir, err);
	if (rc == 0)
		rc = dev_update_sr_chain(t, sr, err);
	return rc;
}

/* ---- create / introduce / make ---- */

/* The SR a PBD of which points at this directory, or NULL.  Caller frees. */
static char *sr_at(struct store_txn *t, const char *loc)
{
	XC_AUTOVALUE *pbds = store_get_all_records(t, cls_of("PBD"));
	for (size_t i = 0; pbds && i < pbds->u.st.n; i++) {
		const struct value *p = pbds->u.st.m[i].val;
		const char *l = value_struct_get_str(rec_get(p, "device_config"), "location");
		if (l && strcmp(l, loc) == 0)
			return xstrdup(rec_str(p, "SR"));
	}
	return NULL;
}

static struct value *new_sr_record(const char *uuid, const char *label, const char *desc, const char *type,
				   const char *content_type, bool shared, int64_t size, const struct value *sm_config)
{
	struct value *rec = value_new_struct(12);
	value_struct_add(rec, "uuid", value_new_string(uuid));
	value_struct_add(rec, "name_label", value_new_string(label));
	value_struct_add(rec, "name_description", value_new_string(desc));
	value_struct_add(rec, "type", value_new_string(type));
	value_struct_add(rec, "content_type", value_new_string(content_type));
	value_struct_add(rec, "shared", value_new_bool(shared));
	value_struct_add(rec, "physical_size", value_new_int(size));
	if (sm_config)
		value_struct_add(rec, "sm_config", value_copy(sm_config));
	return rec;
}

struct value *op_SR_create(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	const struct value *dc = args[1];
	if (type_check(value_str(args[5]), err) < 0)
		return NULL;
	XC_AUTOFREE char *loc = dev_file_location(dc, false, err);
	if (!loc)
		return NULL;
	struct store_txn *t = dev_write_existing(c, "host", host, err);
	if (!t)
		return NULL;
	XC_AUTOFREE char *other = sr_at(t, loc);
	if (other) {
		dev_backend_failure(err, 42, "The SR already exists", loc);
		store_abort(t);
		return NULL;
	}
	if (make_dir(loc, err) < 0) {
		store_abort(t);
		return NULL;
	}
	task_progress(c, 0.3);
	char uuid[UUID_STRLEN + 1];
	uuid_generate(uuid);
	XC_AUTOVALUE *rec = new_sr_record(uuid, value_str(args[3]), value_str(args[4]), value_str(args[5]),
					  value_str(args[6]), args[7]->u.b, fs_size(loc), args[8]);
	char *sr = store_create(t, cls_of("SR"), NULL, rec, err);
	char *pbd = NULL;
	if (sr) {
		XC_AUTOVALUE *p = value_new_struct(4);
		value_struct_add(p, "host", value_new_string(host));
		value_struct_add(p, "SR", value_new_string(sr));
		value_struct_add(p, "device_config", value_copy(dc));
		value_struct_add(p, "currently_attached", value_new_bool(true));
		pbd = store_create(t, cls_of("PBD"), NULL, p, err);
	}
	int rc = sr && pbd ? scan_dir(t, sr, err) : -1;
	free(pbd);
	if (rc < 0 || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		free(sr);
		return NULL;
	}
	log_info("SR %s created in %s", sr, loc);
	return value_new_string_take(sr);
}

struct value *op_SR_introduce(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *given = value_str(args[0]);
	if (type_check(value_str(args[3]), err) < 0)
		return NULL;
	char uuid[UUID_STRLEN + 1];
	if (dev_uuid_of_given(given, uuid, err) < 0)
		return NULL;
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOFREE char *other = store_ref_by_uuid(t, cls_of("SR"), uuid);
	if (other) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "uuid", uuid);
		store_abort(t);
		return NULL;
	}
	XC_AUTOVALUE *rec = new_sr_record(uuid, value_str(args[1]), value_str(args[2]), value_str(args[3]),
					  value_str(args[4]), args[5]->u.b, 0, args[6]);
	char *sr = store_create(t, cls_of("SR"), NULL, rec, err);
	if (!sr || dev_update_allowed(t, "SR", sr, err) < 0 || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		free(sr);
		return NULL;
	}
	return value_new_string_take(sr);
}

/* Deprecated since miami: formats the storage and returns a uuid, with no
 * record made. */
struct value *op_SR_make(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	if (type_check(value_str(args[5]), err) < 0)
		return NULL;
	struct store_txn *t = store_read(c->e->store);
	bool host_ok = store_exists(t, cls_of("host"), value_str(args[0]));
	store_commit(t, NULL);
	if (!host_ok) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", value_str(args[0]));
		return NULL;
	}
	XC_AUTOFREE char *loc = dev_file_location(args[1], false, err);
	if (!loc || make_dir(loc, err) < 0)
		return NULL;
	char uuid[UUID_STRLEN + 1];
	uuid_generate(uuid);
	return value_new_string(uuid);
}

/* ---- scan / update ---- */

static int apply_scan(struct op_ctx *c, struct store_txn *t, const char *sr, void *arg, struct xc_error *err)
{
	return scan_dir(t, sr, err);
}

struct value *op_SR_scan(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *sr = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "SR", sr, "scan", NULL, NULL, err);
	if (!key)
		return NULL;
	return dev_op_end(c, "SR", sr, key, apply_scan, NULL, err) < 0 ? NULL : void_result();
}

static int apply_update(struct op_ctx *c, struct store_txn *t, const char *sr, void *arg, struct xc_error *err)
{
	XC_AUTOFREE char *dir = sr_dir(t, sr, err);
	if (!dir || refresh_records(t, sr, dir, err) < 0 || refresh_sr(t, sr, dir, err) < 0)
		return -1;
	return dev_update_sr_chain(t, sr, err);
}

struct value *op_SR_update(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *sr = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "SR", sr, "update", NULL, NULL, err);
	if (!key)
		return NULL;
	return dev_op_end(c, "SR", sr, key, apply_update, NULL, err) < 0 ? NULL : void_result();
}

/* ---- forget / destroy ---- */

/* References from the pool and the hosts to an SR that goes away. */
static int drop_references(struct store_txn *t, const char *sr, struct xc_error *err)
{
	static const char *const fields[][2] = {
		{ "pool", "default_SR" },	 { "pool", "suspend_image_SR" },   { "pool", "crash_dump_SR" },
		{ "host", "suspend_image_sr" }, { "host", "crash_dump_sr" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		XC_AUTOVALUE *refs = dev_find(t, fields[i][0], fields[i][1], sr);
		for (size_t k = 0; k < value_len(refs); k++)
			if (set_str(t, cls_of(fields[i][0]), value_str(value_array_at(refs, k)), fields[i][1], REF_NULL,
				    err) < 0)
				return -1;
	}
	return 0;
}

/* Removes the SR's records; with dir, the VDIs' files as well (and the
 * directory if that leaves it empty). */
static int remove_sr(struct store_txn *t, const char *sr, const char *dir, struct xc_error *err)
{
	XC_AUTOVALUE *vdis = dev_find(t, "VDI", "SR", sr);
	for (size_t i = 0; i < value_len(vdis); i++) {
		const char *vdi = value_str(value_array_at(vdis, i));
		XC_AUTOVALUE *loc = store_get_field(t, dm_field_find(cls_of("VDI"), "location"), vdi, err);
		if (!loc || dev_vdi_drop_vbds(t, vdi, err) < 0 || store_destroy(t, cls_of("VDI"), vdi, err) < 0)
			return -1;
		if (!dir || !*value_str(loc))
			continue;
		XC_AUTOFREE char *path = xasprintf("%s/%s", dir, value_str(loc));
		if (unlink(path) < 0 && errno != ENOENT) {
			XC_AUTOFREE char *why = xasprintf("%s: %s", path, strerror(errno));
			dev_backend_failure(err, 64, "Failed to remove VDI", why);
			return -1;
		}
	}
	XC_AUTOVALUE *pbds = dev_find(t, "PBD", "SR", sr);
	for (size_t i = 0; i < value_len(pbds); i++)
		if (store_destroy(t, cls_of("PBD"), value_str(value_array_at(pbds, i)), err) < 0)
			return -1;
	if (drop_references(t, sr, err) < 0 || store_destroy(t, cls_of("SR"), sr, err) < 0)
		return -1;
	if (dir && rmdir(dir) < 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
		log_warn("cannot remove SR directory %s: %s", dir, strerror(errno));
	return 0;
}

static int apply_forget(struct op_ctx *c, struct store_txn *t, const char *sr, void *arg, struct xc_error *err)
{
	return remove_sr(t, sr, NULL, err);
}

static int apply_destroy(struct op_ctx *c, struct store_txn *t, const char *sr, void *arg, struct xc_error *err)
{
	XC_AUTOFREE char *dir = sr_dir(t, sr, err);
	if (!dir)
		return -1;
	return remove_sr(t, sr, dir, err);
}

struct value *op_SR_forget(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *sr = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "SR", sr, "forget", NULL, NULL, err);
	if (!key)
		return NULL;
	return dev_op_end(c, "SR", sr, key, apply_forget, NULL, err) < 0 ? NULL : void_result();
}

struct value *op_SR_destroy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *sr = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "SR", sr, "destroy", NULL, NULL, err);
	if (!key)
		return NULL;
	task_progress(c, 0.2);
	return dev_op_end(c, "SR", sr, key, apply_destroy, NULL, err) < 0 ? NULL : void_result();
}

/* ---- probe ---- */

static void xml_text(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': buf_adds(b, "&amp;"); break;
		case '<': buf_adds(b, "&lt;"); break;
		case '>': buf_adds(b, "&gt;"); break;
		case '"': buf_adds(b, "&quot;"); break;
		default: buf_addc(b, *s);
		}
	}
}

struct value *op_SR_probe(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	if (type_check(value_str(args[2]), err) < 0)
		return NULL;
	struct store_txn *t = store_read(c->e->store);
	bool host_ok = store_exists(t, cls_of("host"), value_str(args[0]));
	XC_AUTOFREE char *loc = host_ok ? dev_file_location(args[1], false, err) : NULL;
	if (!host_ok)
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", value_str(args[0]));
	XC_AUTOFREE char *sr = loc ? sr_at(t, loc) : NULL;
	XC_AUTOVALUE *u = sr ? store_get_field(t, cls_of("SR")->f_uuid, sr, err) : NULL;
	char *known = u ? xstrdup(value_str(u)) : NULL;
	store_commit(t, NULL);
	if (!loc)
		return NULL;
	struct buf b = BUF_INIT;
	buf_adds(&b, "<?xml version=\"1.0\" ?>\n<SRlist>\n");
	struct statvfs vfs;
	struct stat st;
	if (stat(loc, &st) == 0 && S_ISDIR(st.st_mode) && statvfs(loc, &vfs) == 0) {
		unsigned images = 0;
		DIR *d = opendir(loc);
		for (struct dirent *de; d && (de = readdir(d));) {
			bool iso;
			images += image_name(de->d_name, &iso);
		}
		if (d)
			closedir(d);
		buf_adds(&b, "\t<SR>\n");
		if (known)
			buf_printf(&b, "\t\t<UUID>%s</UUID>\n", known);
		buf_adds(&b, "\t\t<Location>");
		xml_text(&b, loc);
		buf_adds(&b, "</Location>\n");
		buf_printf(&b, "\t\t<Size>%lld</Size>\n", (long long)vfs.f_blocks * (long long)vfs.f_frsize);
		buf_printf(&b, "\t\t<Free>%lld</Free>\n", (long long)vfs.f_bavail * (long long)vfs.f_frsize);
		buf_printf(&b, "\t\t<VDIs>%u</VDIs>\n", images);
		buf_adds(&b, "\t</SR>\n");
	}
	buf_adds(&b, "</SRlist>\n");
	free(known);
	return value_new_string_take(buf_steal(&b, NULL));
}

struct value *op_SR_get_supported_types(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct value *types = value_new_array(1);
	for (const char *const *p = supported_types; *p; p++)
		value_array_push_string(types, *p);
	return types;
}

/* ---- setters ---- */

struct value *op_SR_set_name_label(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dev_set_field(c, "SR", value_str(args[0]), "name_label", args[1], false, err);
}

struct value *op_SR_set_name_description(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dev_set_field(c, "SR", value_str(args[0]), "name_description", args[1], false, err);
}

struct value *op_SR_set_shared(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return dev_set_field(c, "SR", value_str(args[0]), "shared", args[1], false, err);
}

struct value *op_SR_set_physical_size(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	if (args[1]->u.i < 0) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", (long long)args[1]->u.i);
		xc_error_set(err, XC_ERR_INVALID_VALUE, "physical_size", v);
		return NULL;
	}
	return dev_set_field(c, "SR", value_str(args[0]), "physical_size", args[1], false, err);
}
