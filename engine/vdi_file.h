/* VDIs of "file" SRs: each VDI is a sparse file named <uuid>.img in the SR's
 * directory (the PBD's device_config:location).  These are the storage
 * primitives VM provisioning, cloning and the VDI messages share. */
#ifndef XCON_VDI_FILE_H
#define XCON_VDI_FILE_H

#include <stdint.h>

#include "engine_priv.h"

/* The SR's directory (caller frees), or NULL with SR_HAS_NO_PBDS /
 * SR_OPERATION_NOT_SUPPORTED. */
char *sr_dir(struct store_txn *t, const char *sr, struct xc_error *err);
/* The VDI's file (caller frees). */
char *vdi_file_path(struct store_txn *t, const char *vdi, struct xc_error *err);

struct vdi_spec {
	const char *name_label;
	const char *name_description;
	int64_t virtual_size;
	const char *type;        /* vdi_type: "system", "user", "suspend", ... */
	bool sharable;
	bool read_only;
	const struct value *other_config; /* may be NULL */
};

/* Creates the file (sparse, virtual_size long) and the VDI record inside t.
 * Returns the VDI ref (caller frees); on failure nothing is left behind. */
char *vdi_file_create(struct store_txn *t, const char *sr, const struct vdi_spec *spec, struct xc_error *err);
/* A new VDI in dst_sr with a copy of src's contents (sparse holes kept;
 * a reflink where the filesystem offers one). */
char *vdi_file_clone(struct store_txn *t, const char *src, const char *dst_sr, const char *name_label,
		     struct xc_error *err);
/* Removes the record and the file. */
int vdi_file_destroy(struct store_txn *t, const char *vdi, struct xc_error *err);
/* Brings virtual_size and physical_utilisation in line with the file, and
 * the SR's physical_utilisation and virtual_allocation with its VDIs. */
int vdi_file_refresh(struct store_txn *t, const char *vdi, struct xc_error *err);
int sr_file_refresh(struct store_txn *t, const char *sr, struct xc_error *err);

#endif
