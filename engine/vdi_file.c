/* Sparse-file VDIs (see vdi_file.h). */
#include "vdi_file.h"
#include "dev_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "storage"

char *sr_dir(struct store_txn *t, const char *sr, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("SR"), sr, err);
	if (!rec)
		return NULL;
	if (strcmp(rec_str(rec, "type"), "file") != 0) {
		xc_error_set(err, XC_ERR_SR_OPERATION_NOT_SUPPORTED, sr);
		return NULL;
	}
	const struct value *pbds = rec_get(rec, "PBDs");
	for (size_t i = 0; i < value_len(pbds); i++) {
		XC_AUTOVALUE *pbd = store_get_record(t, cls_of("PBD"), value_str(value_array_at(pbds, i)), err);
		if (!pbd)
			return NULL;
		const char *loc = value_struct_get_str(rec_get(pbd, "device_config"), "location");
		if (loc && *loc)
			return xstrdup(loc);
	}
	xc_error_set(err, XC_ERR_SR_HAS_NO_PBDS, sr);
	return NULL;
}

char *vdi_file_path(struct store_txn *t, const char *vdi, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VDI"), vdi, err);
	if (!rec)
		return NULL;
	XC_AUTOFREE char *dir = sr_dir(t, rec_str(rec, "SR"), err);
	if (!dir)
		return NULL;
	return xasprintf("%s/%s", dir, *rec_str(rec, "location") ? rec_str(rec, "location") : rec_str(rec, "uuid"));
}

static int64_t used_bytes(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_blocks * 512 : 0;
}

char *vdi_file_create(struct store_txn *t, const char *sr, const struct vdi_spec *spec, struct xc_error *err)
{
	if (spec->virtual_size < 0) {
		char sz[32];
		snprintf(sz, sizeof(sz), "%lld", (long long)spec->virtual_size);
		xc_error_set(err, XC_ERR_DISK_SIZE_INVALID, sz);
		return NULL;
	}
	XC_AUTOFREE char *dir = sr_dir(t, sr, err);
	if (!dir)
		return NULL;
	struct statvfs vfs;
	if (statvfs(dir, &vfs) == 0) {
		/* Sparse files only use what is written, but refuse disks larger
		 * than the SR itself, as a real SR would. */
		int64_t total = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
		if (spec->virtual_size > total * 64) {
			char want[32], have[32];
			snprintf(want, sizeof(want), "%lld", (long long)spec->virtual_size);
			snprintf(have, sizeof(have), "%lld", (long long)total * 64);
			xc_error_set(err, XC_ERR_SR_FULL, want, have);
			return NULL;
		}
	}
	char uuid[UUID_STRLEN + 1];
	uuid_generate(uuid);
	XC_AUTOFREE char *loc = xasprintf("%s.img", uuid);
	XC_AUTOFREE char *path = xasprintf("%s/%s", dir, loc);
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, spec->virtual_size) < 0) {
		const char *params[] = { "", strerror(errno), path };
		xc_error_set_custom(err, "SR_BACKEND_FAILURE_1", params, 3);
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return NULL;
	}
	close(fd);
	XC_AUTOVALUE *rec = value_new_struct(12);
	value_struct_add(rec, "uuid", value_new_string(uuid));
	value_struct_add(rec, "name_label", value_new_string(spec->name_label ? spec->name_label : ""));
	value_struct_add(rec, "name_description", value_new_string(spec->name_description ? spec->name_description : ""));
	value_struct_add(rec, "SR", value_new_string(sr));
	value_struct_add(rec, "virtual_size", value_new_int(spec->virtual_size));
	value_struct_add(rec, "physical_utilisation", value_new_int(used_bytes(path)));
	value_struct_add(rec, "type", value_new_string(spec->type ? spec->type : "user"));
	value_struct_add(rec, "sharable", value_new_bool(spec->sharable));
	value_struct_add(rec, "read_only", value_new_bool(spec->read_only));
	value_struct_add(rec, "location", value_new_string(loc));
	value_struct_add(rec, "managed", value_new_bool(true));
	if (spec->other_config)
		value_struct_add(rec, "other_config", value_copy(spec->other_config));
	char *ref = store_create(t, cls_of("VDI"), NULL, rec, err);
	if (!ref || dev_update_allowed(t, "VDI", ref, err) < 0 || sr_file_refresh(t, sr, err) < 0) {
		unlink(path);
		free(ref);
		return NULL;
	}
	return ref;
}

/* Copies src to dst keeping holes: a reflink when possible, else the data
 * extents only (SEEK_DATA/SEEK_HOLE). */
static int copy_sparse(const char *src, const char *dst, struct xc_error *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = in < 0 ? -1 : open(dst, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	struct stat st;
	if (in < 0 || out < 0 || fstat(in, &st) < 0)
		goto fail;
	if (ioctl(out, FICLONE, in) == 0)
		goto done;
	if (ftruncate(out, st.st_size) < 0)
		goto fail;
	off_t pos = 0;
	static char buf[1 << 16];
	for (;;) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0)
			break; /* ENXIO: no more data */
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			goto fail;
		for (off_t at = data; at < hole;) {
			size_t want = (size_t)(hole - at) < sizeof(buf) ? (size_t)(hole - at) : sizeof(buf);
			ssize_t n = pread(in, buf, want, at);
			if (n <= 0 || pwrite(out, buf, (size_t)n, at) != n)
				goto fail;
			at += n;
		}
		pos = hole;
	}
done:
	close(in);
	if (fsync(out) < 0 || close(out) < 0) {
		out = -1;
		goto fail_quiet;
	}
	return 0;
fail:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
fail_quiet: {
	const char *params[] = { "", strerror(errno), src };
	xc_error_set_custom(err, "SR_BACKEND_FAILURE_2", params, 3);
	unlink(dst);
	return -1;
}
}

char *vdi_file_clone(struct store_txn *t, const char *src, const char *dst_sr, const char *name_label,
		     struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VDI"), src, err);
	if (!rec)
		return NULL;
	XC_AUTOFREE char *src_path = vdi_file_path(t, src, err);
	if (!src_path)
		return NULL;
	struct vdi_spec spec = {
		.name_label = name_label ? name_label : rec_str(rec, "name_label"),
		.name_description = rec_str(rec, "name_description"),
		.virtual_size = 0, /* the copy gives the file its size */
		.type = rec_str(rec, "type"),
		.sharable = rec_bool(rec, "sharable"),
		.read_only = rec_bool(rec, "read_only"),
		.other_config = rec_get(rec, "other_config"),
	};
	char *ref = vdi_file_create(t, dst_sr ? dst_sr : rec_str(rec, "SR"), &spec, err);
	if (!ref)
		return NULL;
	XC_AUTOFREE char *dst_path = vdi_file_path(t, ref, err);
	if (!dst_path || unlink(dst_path) < 0 || copy_sparse(src_path, dst_path, err) < 0 ||
	    set_int(t, cls_of("VDI"), ref, "virtual_size", rec_int(rec, "virtual_size"), err) < 0 ||
	    vdi_file_refresh(t, ref, err) < 0) {
		if (dst_path)
			unlink(dst_path);
		free(ref);
		return NULL;
	}
	return ref;
}

int vdi_file_destroy(struct store_txn *t, const char *vdi, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VDI"), vdi, err);
	if (!rec)
		return -1;
	struct xc_error ignore = XC_ERROR_INIT;
	XC_AUTOFREE char *path = vdi_file_path(t, vdi, &ignore);
	xc_error_clear(&ignore);
	if (store_destroy(t, cls_of("VDI"), vdi, err) < 0)
		return -1;
	/* The record goes in this transaction; the file only once that is sure,
	 * which the caller's commit decides.  Unlinking now is safe: a failed
	 * commit leaves a record whose file is missing, reported as
	 * VDI_MISSING, never a file nobody knows about. */
	if (path && unlink(path) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", path, strerror(errno));
	return sr_file_refresh(t, rec_str(rec, "SR"), err);
}

int vdi_file_refresh(struct store_txn *t, const char *vdi, struct xc_error *err)
{
	XC_AUTOFREE char *path = vdi_file_path(t, vdi, err);
	if (!path)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0) {
		xc_error_set(err, XC_ERR_VDI_MISSING, "", vdi);
		return -1;
	}
	if (set_int(t, cls_of("VDI"), vdi, "physical_utilisation", (int64_t)st.st_blocks * 512, err) < 0 ||
	    set_int(t, cls_of("VDI"), vdi, "virtual_size", (int64_t)st.st_size, err) < 0)
		return -1;
	return 0;
}

int sr_file_refresh(struct store_txn *t, const char *sr, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("SR"), sr, err);
	if (!rec)
		return -1;
	XC_AUTOFREE char *dir = sr_dir(t, sr, err);
	if (!dir)
		return -1;
	int64_t phys = 0, virt = 0;
	const struct value *vdis = rec_get(rec, "VDIs");
	for (size_t i = 0; i < value_len(vdis); i++) {
		XC_AUTOVALUE *v = store_get_record(t, cls_of("VDI"), value_str(value_array_at(vdis, i)), err);
		if (!v)
			return -1;
		virt += rec_int(v, "virtual_size");
		XC_AUTOFREE char *p = xasprintf("%s/%s", dir, rec_str(v, "location"));
		phys += used_bytes(p);
	}
	if (rec_int(rec, "physical_utilisation") != phys &&
	    set_int(t, cls_of("SR"), sr, "physical_utilisation", phys, err) < 0)
		return -1;
	if (rec_int(rec, "virtual_allocation") != virt &&
	    set_int(t, cls_of("SR"), sr, "virtual_allocation", virt, err) < 0)
		return -1;
	return 0;
}
