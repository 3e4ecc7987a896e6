/* Simulated virtual devices: disks (VBDs) and network interfaces (VIFs),
 * at domain creation and hot-plugged on a live domain.
 *
 * Disks are known by a normalised name so that "0", "hda", "sda" and
 * "xvda" are the same slot, as they are to libxl (a duplicate is
 * DEVICE_ALREADY_ATTACHED, an unknown one DEVICE_ALREADY_DETACHED).  VIF
 * settings (ethtool-*, mtu, promiscuous and any other key) are validated
 * where a value is known to be wrong, recorded, and shown by the guest's
 * `ip link` and `ethtool` and by hv_sim_debug_dump.  The guest prints a
 * kernel line whenever a device comes or goes. */
#include "hv_sim_priv.h"

#include "../util/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define HOTPLUG_SECONDS 0.1

const struct sim_ethtool_key hv_sim_ethtool_keys[] = {
	{ "ethtool-rx", "rx-checksumming", true },
	{ "ethtool-tx", "tx-checksumming", true },
	{ "ethtool-sg", "scatter-gather", true },
	{ "ethtool-tso", "tcp-segmentation-offload", true },
	{ "ethtool-ufo", "udp-fragmentation-offload", false },
	{ "ethtool-gso", "generic-segmentation-offload", true },
	{ "ethtool-gro", "generic-receive-offload", true },
	{ "ethtool-lro", "large-receive-offload", false },
};
const unsigned hv_sim_nethtool_keys = ARRAY_SIZE(hv_sim_ethtool_keys);

static const char bool_values[] = "true false on off";

/* "xvd" + letters for disk number n (0 = a, 25 = z, 26 = aa...). */
static void disk_letters(unsigned n, char *out, size_t size)
{
	if (n < 26)
		snprintf(out, size, "xvd%c", 'a' + n);
	else
		snprintf(out, size, "xvd%c%c", 'a' + n / 26 - 1, 'a' + n % 26);
}

/* Normalises a guest disk name: a number, or hd/sd/xvd + letters + an
 * optional partition number; false if it is none of those. */
static bool disk_parse(const char *vdev, char out[32])
{
	if (!vdev || !*vdev || strlen(vdev) > 16)
		return false;
	if (isdigit((unsigned char)vdev[0])) {
		char *end;
		unsigned long n = strtoul(vdev, &end, 10);
		if (*end || n >= 26 * 27)
			return false;
		disk_letters((unsigned)n, out, 32);
		return true;
	}
	static const char *const prefixes[] = { "xvd", "hd", "sd" };
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		if (strncmp(vdev, prefixes[i], pl) != 0)
			continue;
		const char *p = vdev + pl;
		size_t nl = 0;
		while (p[nl] >= 'a' && p[nl] <= 'z')
			nl++;
		if (nl < 1 || nl > 2)
			return false;
		unsigned n = nl == 1 ? (unsigned)(p[0] - 'a') : (unsigned)((p[0] - 'a' + 1) * 26 + p[1] - 'a');
		const char *part = p + nl;
		if (strspn(part, "0123456789") != strlen(part) || part[0] == '0' || strlen(part) > 2)
			return false;
		char base[16];
		disk_letters(n, base, sizeof(base));
		snprintf(out, 32, "%s%s", base, part);
		return true;
	}
	return false;
}

static int disk_norm(const char *vdev, char out[32], struct xc_error *err)
{
	if (disk_parse(vdev, out))
		return 0;
	xc_error_set(err, XC_ERR_INVALID_DEVICE, vdev ? vdev : "");
	return -1;
}

static struct sim_disk *disk_find(struct sim_dom *d, const char *norm)
{
	for (unsigned i = 0; i < d->ndisks; i++)
		if (strcmp(d->disks[i].vdev, norm) == 0)
			return &d->disks[i];
	return NULL;
}

static void disk_free(struct sim_disk *k)
{
	free(k->vdev);
	free(k->target);
}

static int disk_attach(struct sim_dom *d, const struct hv_disk *disk, bool hotplug,
		       struct xc_error *err)
{
	char norm[32];
	if (!disk) {
		xc_error_set(err, XC_ERR_INVALID_DEVICE, "");
		return -1;
	}
	if (disk_norm(disk->vdev, norm, err) < 0)
		return -1;
	if (disk_find(d, norm)) {
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_ATTACHED, disk->vdev);
		return -1;
	}
	if (disk->cdrom && disk->mode == HV_DISK_RW) {
		xc_error_set(err, XC_ERR_VBD_CDS_MUST_BE_READONLY);
		return -1;
	}
	if (!disk->cdrom && !(disk->target && *disk->target)) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "target", "");
		return -1;
	}
	d->disks = xreallocarray(d->disks, d->ndisks + 1, sizeof(*d->disks));
	struct sim_disk *k = &d->disks[d->ndisks++];
	k->vdev = xstrdup(norm);
	k->target = disk->target && *disk->target ? xstrdup(disk->target) : NULL;
	k->mode = disk->mode;
	k->cdrom = disk->cdrom;
	k->bootable = disk->bootable;
	k->size = 0;
	if (!hotplug)
		return 0;
	if (k->cdrom)
		hv_sim_guest_printk(d, "blkfront: %s: removable media (cdrom)%s", k->vdev,
				    k->target ? "" : ", no medium");
	else
		hv_sim_guest_printk(d, "blkfront: %s: flush diskcache: enabled; persistent grants: "
				    "enabled; indirect descriptors: enabled; bounce buffer: disabled;%s",
				    k->vdev, k->mode == HV_DISK_RO ? " read-only" : "");
	return 0;
}

static bool mac_parse(const char *mac, char out[18])
{
	if (strlen(mac) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		bool colon = i % 3 == 2;
		if (colon ? mac[i] != ':' : !isxdigit((unsigned char)mac[i]))
			return false;
		out[i] = (char)tolower((unsigned char)mac[i]);
	}
	out[17] = '\0';
	return true;
}

/* "aa:bb:cc:dd:ee:ff", any case; lowercased into out.  An empty MAC
 * gets a random one in Xen's 00:16:3e range. */
static int mac_norm(const char *mac, char out[18], struct xc_error *err)
{
	if (!mac || !*mac) {
		unsigned char r[3] = { 0 };
		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r[0] = r[1] = r[2] = 0x42;
		snprintf(out, 18, "00:16:3e:%02x:%02x:%02x", r[0] & 0x7f, r[1], r[2]);
		return 0;
	}
	if (mac_parse(mac, out))
		return 0;
	xc_error_set(err, XC_ERR_MAC_INVALID, mac);
	return -1;
}

static bool is_bool(const char *v)
{
	return v && (!strcmp(v, "true") || !strcmp(v, "false") || !strcmp(v, "on") || !strcmp(v, "off"));
}

static bool mtu_ok(unsigned long m)
{
	return m >= 68 && m <= 65535;
}

static int setting_check(const struct hv_kv *kv, struct xc_error *err)
{
	const char *v = kv->value ? kv->value : "";
	bool known_bool = strcmp(kv->key, "promiscuous") == 0;
	for (unsigned i = 0; i < hv_sim_nethtool_keys; i++)
		known_bool |= strcmp(kv->key, hv_sim_ethtool_keys[i].key) == 0;
	if (known_bool && !is_bool(v)) {
		xc_error_set(err, XC_ERR_ETHTOOL_SETTING_INVALID, kv->key, v, bool_values);
		return -1;
	}
	if (strcmp(kv->key, "mtu") == 0) {
		char *end;
		unsigned long m = strtoul(v, &end, 10);
		if (!*v || *end || !mtu_ok(m)) {
			xc_error_set(err, XC_ERR_ETHTOOL_SETTING_INVALID, kv->key, v, "68-65535");
			return -1;
		}
	}
	return 0;
}

const struct sim_vif *hv_sim_device_vif_find(const struct sim_dom *d, const char *devid)
{
	for (unsigned i = 0; i < d->nvifs; i++)
		if (strcmp(d->vifs[i].devid, devid) == 0)
			return &d->vifs[i];
	return NULL;
}

bool hv_sim_device_setting_on(const struct sim_vif *v, const char *key, bool dflt)
{
	const char *s = hv_sim_kvs_get(&v->settings, key);
	if (!s)
		return dflt;
	return !strcmp(s, "true") || !strcmp(s, "on");
}

unsigned hv_sim_device_vif_mtu(const struct sim_vif *v)
{
	if (v->mtu)
		return v->mtu;
	const char *s = hv_sim_kvs_get(&v->settings, "mtu");
	return s ? (unsigned)strtoul(s, NULL, 10) : 1500;
}

static void vif_free(struct sim_vif *v)
{
	free(v->devid);
	free(v->mac);
	free(v->bridge);
	hv_sim_kvs_free(&v->settings);
}

static int vif_attach(struct sim_dom *d, const struct hv_vif *v, bool hotplug, struct xc_error *err)
{
	char mac[18];
	if (!v || !v->devid || !*v->devid || strspn(v->devid, "0123456789") != strlen(v->devid) ||
	    strlen(v->devid) > 4) {
		xc_error_set(err, XC_ERR_INVALID_DEVICE, v && v->devid ? v->devid : "");
		return -1;
	}
	if (hv_sim_device_vif_find(d, v->devid)) {
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_ATTACHED, v->devid);
		return -1;
	}
	if (mac_norm(v->mac, mac, err) < 0)
		return -1;
	if (v->mtu && !mtu_ok(v->mtu)) {
		char m[16];
		snprintf(m, sizeof(m), "%u", v->mtu);
		xc_error_set(err, XC_ERR_ETHTOOL_SETTING_INVALID, "mtu", m, "68-65535");
		return -1;
	}
	for (unsigned i = 0; i < v->nsettings; i++)
		if (v->settings[i].key && setting_check(&v->settings[i], err) < 0)
			return -1;
	d->vifs = xreallocarray(d->vifs, d->nvifs + 1, sizeof(*d->vifs));
	struct sim_vif *n = &d->vifs[d->nvifs++];
	memset(n, 0, sizeof(*n));
	n->devid = xstrdup(v->devid);
	n->mac = xstrdup(mac);
	n->bridge = v->bridge ? xstrdup(v->bridge) : NULL;
	n->mtu = v->mtu;
	hv_sim_kvs_copy(&n->settings, v->settings, v->nsettings);
	if (hotplug)
		hv_sim_guest_printk(d, "xen_netfront: eth%s: attached, MAC %s, mtu %u", n->devid, n->mac,
				    hv_sim_device_vif_mtu(n));
	return 0;
}

int hv_sim_device_attach_all(struct sim_dom *d, const struct hv_domain_config *cfg,
			     struct xc_error *err)
{
	for (unsigned i = 0; i < cfg->ndisks; i++)
		if (disk_attach(d, &cfg->disks[i], false, err) < 0)
			return -1;
	for (unsigned i = 0; i < cfg->nvifs; i++)
		if (vif_attach(d, &cfg->vifs[i], false, err) < 0)
			return -1;
	return 0;
}

void hv_sim_device_free_all(struct sim_dom *d)
{
	for (unsigned i = 0; i < d->ndisks; i++)
		disk_free(&d->disks[i]);
	free(d->disks);
	d->disks = NULL;
	d->ndisks = 0;
	for (unsigned i = 0; i < d->nvifs; i++)
		vif_free(&d->vifs[i]);
	free(d->vifs);
	d->vifs = NULL;
	d->nvifs = 0;
}

/* Begins a hot-plug call: the host, or NULL; in *d the domain, which must
 * exist, be idle and not have shut down (NULL with err set if not). */
static struct sim_host *begin(struct hv *hv, enum sim_op op, uint32_t domid, struct sim_dom **d,
			      struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, op, true, err);
	*d = h ? hv_sim_dom_live(h, domid, true, "Running", err) : NULL;
	return h;
}

/* Ends a hot-plug call: the guest takes a moment to notice. */
static int done(struct sim_host *h, int rc)
{
	if (rc == 0)
		hv_sim_sleep(h, HOTPLUG_SECONDS);
	hv_sim_end(h);
	return rc;
}

/* The disk vdev names on d (NULL if d is), or NULL with err set. */
static struct sim_disk *attached_disk(struct sim_dom *d, const char *vdev, struct xc_error *err)
{
	char norm[32];
	if (!d || disk_norm(vdev, norm, err) < 0)
		return NULL;
	struct sim_disk *k = disk_find(d, norm);
	if (!k)
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_DETACHED, vdev);
	return k;
}

int hv_sim_device_disk_add(struct hv *hv, uint32_t domid, const struct hv_disk *disk,
			   struct xc_error *err)
{
	struct sim_dom *d;
	struct sim_host *h = begin(hv, SIM_OP_disk_add, domid, &d, err);
	return h ? done(h, d ? disk_attach(d, disk, true, err) : -1) : -1;
}

int hv_sim_device_disk_remove(struct hv *hv, uint32_t domid, const char *vdev, struct xc_error *err)
{
	struct sim_dom *d;
	struct sim_host *h = begin(hv, SIM_OP_disk_remove, domid, &d, err);
	if (!h)
		return -1;
	struct sim_disk *k = attached_disk(d, vdev, err);
	if (!k)
		return done(h, -1);
	hv_sim_guest_printk(d, "blkfront: %s: detached", k->vdev);
	disk_free(k);
	size_t i = (size_t)(k - d->disks);
	memmove(k, k + 1, (d->ndisks - i - 1) * sizeof(*k));
	d->ndisks--;
	return done(h, 0);
}

int hv_sim_device_disk_change_media(struct hv *hv, uint32_t domid, const char *vdev,
				    const char *target, struct xc_error *err)
{
	struct sim_dom *d;
	struct sim_host *h = begin(hv, SIM_OP_disk_change_media, domid, &d, err);
	if (!h)
		return -1;
	struct sim_disk *k = attached_disk(d, vdev, err);
	if (!k)
		return done(h, -1);
	if (!k->cdrom) {
		xc_error_set(err, XC_ERR_VBD_NOT_REMOVABLE_MEDIA, vdev);
		return done(h, -1);
	}
	free(k->target);
	k->target = target && *target ? xstrdup(target) : NULL;
	hv_sim_guest_printk(d, "blkfront: %s: %s", k->vdev, k->target ? "media changed" : "media ejected");
	return done(h, 0);
}

int hv_sim_device_disk_resize(struct hv *hv, uint32_t domid, const char *vdev, uint64_t size,
			      struct xc_error *err)
{
	struct sim_dom *d;
	struct sim_host *h = begin(hv, SIM_OP_disk_resize, domid, &d, err);
	if (!h)
		return -1;
	struct sim_disk *k = attached_disk(d, vdev, err);
	if (!k)
		return done(h, -1);
	/* The kernel counts 512-byte sectors; "from 0" is a size it never
	 * learnt (a disk plugged before sizes were passed down). */
	hv_sim_guest_printk(d, "%s: detected capacity change from %llu to %llu", k->vdev,
			    (unsigned long long)(k->size / 512), (unsigned long long)(size / 512));
	k->size = size;
	return done(h, 0);
}

int hv_sim_device_vif_add(struct hv *hv, uint32_t domid, const struct hv_vif *v, struct xc_error *err)
{
	struct sim_dom *d;
	struct sim_host *h = begin(hv, SIM_OP_vif_add, domid, &d, err);
	return h ? done(h, d ? vif_attach(d, v, true, err) : -1) : -1;
}

int hv_sim_device_vif_remove(struct hv *hv, uint32_t domid, const char *devid, struct xc_error *err)
{
	struct sim_dom *d;
	struct sim_host *h = begin(hv, SIM_OP_vif_remove, domid, &d, err);
	if (!h)
		return -1;
	if (!d)
		return done(h, -1);
	const struct sim_vif *v = devid ? hv_sim_device_vif_find(d, devid) : NULL;
	if (!v) {
		xc_error_set(err, XC_ERR_DEVICE_ALREADY_DETACHED, devid ? devid : "");
		return done(h, -1);
	}
	size_t i = (size_t)(v - d->vifs);
	hv_sim_guest_printk(d, "xen_netfront: eth%s: detached", v->devid);
	vif_free(&d->vifs[i]);
	memmove(&d->vifs[i], &d->vifs[i + 1], (d->nvifs - i - 1) * sizeof(*d->vifs));
	d->nvifs--;
	return done(h, 0);
}
