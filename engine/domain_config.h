/* From records to a hypervisor domain configuration: the VM, its VBDs (with
 * their VDIs' files) and VIFs (with their networks' bridges).  Only
 * xenstore_data keys under vm-data/ reach the guest, as the SDK guide says. */
#ifndef XCON_DOMAIN_CONFIG_H
#define XCON_DOMAIN_CONFIG_H

#include "engine_priv.h"

/* Fills cfg (free with hv_domain_config_free).  Checks that every disk's VDI
 * is there (VDI_MISSING) and that no two VBDs share a device
 * (VM_DUPLICATE_VBD_DEVICE). */
int domain_config_build(struct store_txn *t, const char *vm, struct hv_domain_config *cfg,
			struct xc_error *err);
/* The guest device name of a VBD: xvda.. for PV guests, hda.. for HVM. */
char *domain_vbd_device(const char *userdevice, bool hvm);
/* One VBD or VIF as the backend's device description. */
int domain_disk_of(struct store_txn *t, const char *vbd, bool hvm, struct hv_disk *d, struct xc_error *err);
int domain_vif_of(struct store_txn *t, const char *vif, struct hv_vif *v, struct xc_error *err);
void domain_disk_clear(struct hv_disk *d);
void domain_vif_clear(struct hv_vif *v);

#endif
