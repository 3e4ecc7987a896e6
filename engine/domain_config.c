/* Building a hypervisor domain configuration from records (see
 * domain_config.h). */
#include "domain_config.h"
#include "netconf.h"
#include "vdi_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

char *domain_vbd_device(const char *userdevice, bool hvm)
{
	unsigned n = 0;
	char extra;
	if (sscanf(userdevice, "%u%c", &n, &extra) != 1 || n > 25)
		return xstrdup(userdevice);
	return xasprintf("%s%c", hvm ? "hd" : "xvd", 'a' + n);
}

void domain_disk_clear(struct hv_disk *d)
{
	free(d->vdev);
	free(d->target);
	memset(d, 0, sizeof(*d));
}

void domain_vif_clear(struct hv_vif *v)
{
	free(v->devid);
	free(v->mac);
	free(v->bridge);
	for (unsigned i = 0; i < v->nsettings; i++) {
		free(v->settings[i].key);
		free(v->settings[i].value);
	}
	free(v->settings);
	memset(v, 0, sizeof(*v));
}

int domain_disk_of(struct store_txn *t, const char *vbd, bool hvm, struct hv_disk *d, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VBD"), vbd, err);
	if (!rec)
		return -1;
	memset(d, 0, sizeof(*d));
	d->vdev = domain_vbd_device(rec_str(rec, "userdevice"), hvm);
	d->cdrom = strcmp(rec_str(rec, "type"), "CD") == 0;
	d->mode = strcmp(rec_str(rec, "mode"), "RO") == 0 ? HV_DISK_RO : HV_DISK_RW;
	d->bootable = rec_bool(rec, "bootable");
	const char *vdi = rec_str(rec, "VDI");
	if (rec_bool(rec, "empty") || ref_is_null(vdi))
		return 0;
	char *path = vdi_file_path(t, vdi, err);
	struct stat st;
	if (!path || stat(path, &st) < 0) {
		free(path);
		XC_AUTOVALUE *v = store_get_record(t, cls_of("VDI"), vdi, err);
		xc_error_set(err, XC_ERR_VDI_MISSING, v ? rec_str(v, "SR") : "", vdi);
		domain_disk_clear(d);
		return -1;
	}
	d->target = path;
	return 0;
}

int domain_vif_of(struct store_txn *t, const char *vif, struct hv_vif *v, struct xc_error *err)
{
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VIF"), vif, err);
	if (!rec)
		return -1;
	XC_AUTOVALUE *bridge = store_get_field(t, dm_field_find(cls_of("network"), "bridge"),
					       rec_str(rec, "network"), err);
	if (!bridge)
		return -1;
	memset(v, 0, sizeof(*v));
	v->devid = xstrdup(rec_str(rec, "device"));
	v->mac = xstrdup(rec_str(rec, "MAC"));
	v->bridge = xstrdup(value_str(bridge));
	v->mtu = (unsigned)rec_int(rec, "MTU");
	const struct value *oc = rec_get(rec, "other_config");
	for (size_t i = 0; i < value_len(oc); i++) {
		if (!netconf_is_setting(oc->u.st.m[i].key))
			continue;
		v->settings = xreallocarray(v->settings, v->nsettings + 1, sizeof(*v->settings));
		v->settings[v->nsettings].key = xstrdup(oc->u.st.m[i].key);
		v->settings[v->nsettings].value = xstrdup(value_str(oc->u.st.m[i].val));
		v->nsettings++;
	}
	return 0;
}

static struct hv_kv *kv_from_map(const struct value *m, const char *prefix, unsigned *n)
{
	struct hv_kv *kv = NULL;
	*n = 0;
	size_t plen = prefix ? strlen(prefix) : 0;
	for (size_t i = 0; i < value_len(m); i++) {
		const char *k = m->u.st.m[i].key;
		/* vm-data itself or below it; anything else is silently ignored. */
		if (prefix && !(strcmp(k, prefix) == 0 || (strncmp(k, prefix, plen) == 0 && k[plen] == '/')))
			continue;
		kv = xreallocarray(kv, *n + 1, sizeof(*kv));
		kv[*n].key = xstrdup(k);
		kv[*n].value = xstrdup(value_str(m->u.st.m[i].val) ? value_str(m->u.st.m[i].val) : "");
		(*n)++;
	}
	return kv;
}

int domain_config_build(struct store_txn *t, const char *vm, struct hv_domain_config *cfg, struct xc_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec)
		return -1;
	cfg->name = xstrdup(rec_str(rec, "name_label"));
	cfg->uuid = xstrdup(rec_str(rec, "uuid"));
	cfg->memory_static_max = (uint64_t)rec_int(rec, "memory_static_max");
	int64_t target = rec_int(rec, "memory_dynamic_max");
	cfg->memory_target = (uint64_t)(target > 0 ? target : rec_int(rec, "memory_static_max"));
	cfg->vcpus_max = (unsigned)rec_int(rec, "VCPUs_max");
	cfg->vcpus = (unsigned)rec_int(rec, "VCPUs_at_startup");
	cfg->hvm = *rec_str(rec, "HVM_boot_policy") != '\0';
	cfg->kernel = xstrdup(rec_str(rec, "PV_kernel"));
	cfg->ramdisk = xstrdup(rec_str(rec, "PV_ramdisk"));
	cfg->cmdline = xstrdup(rec_str(rec, "PV_args"));
	cfg->bootloader = xstrdup(rec_str(rec, "PV_bootloader"));
	cfg->bootloader_args = xstrdup(rec_str(rec, "PV_bootloader_args"));
	cfg->xenstore = kv_from_map(rec_get(rec, "xenstore_data"), "vm-data", &cfg->nxenstore);
	cfg->platform = kv_from_map(rec_get(rec, "platform"), NULL, &cfg->nplatform);
	const struct value *vbds = rec_get(rec, "VBDs");
	cfg->disks = xcalloc(value_len(vbds) + 1, sizeof(*cfg->disks));
	for (size_t i = 0; i < value_len(vbds); i++) {
		if (domain_disk_of(t, value_str(value_array_at(vbds, i)), cfg->hvm, &cfg->disks[cfg->ndisks], err) < 0)
			goto fail;
		for (unsigned k = 0; k < cfg->ndisks; k++) {
			if (strcmp(cfg->disks[k].vdev, cfg->disks[cfg->ndisks].vdev) == 0) {
				xc_error_set(err, XC_ERR_VM_DUPLICATE_VBD_DEVICE, vm,
					     value_str(value_array_at(vbds, i)), cfg->disks[k].vdev);
				cfg->ndisks++;
				goto fail;
			}
		}
		cfg->ndisks++;
	}
	const struct value *vifs = rec_get(rec, "VIFs");
	cfg->vifs = xcalloc(value_len(vifs) + 1, sizeof(*cfg->vifs));
	for (size_t i = 0; i < value_len(vifs); i++) {
		if (domain_vif_of(t, value_str(value_array_at(vifs, i)), &cfg->vifs[cfg->nvifs], err) < 0)
			goto fail;
		cfg->nvifs++;
	}
	return 0;
fail:
	hv_domain_config_free(cfg);
	memset(cfg, 0, sizeof(*cfg));
	return -1;
}
