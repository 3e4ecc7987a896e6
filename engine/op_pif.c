/* PIF, VLAN and Bond: a host's network interfaces.
 *
 * Physical PIFs mirror the host's NICs (populate.c at first start,
 * PIF.scan and PIF.introduce later).  A VLAN is a PIF with a tag, built on
 * an untagged PIF of the same host and device and connected to its own
 * network, plus the VLAN object linking the two (VLAN.tagged_PIF ->
 * untagged_PIF, PIF.VLAN_master_of on the new one).  A bond is a PIF
 * ("bondN") standing for several physical PIFs of one host (their
 * bond_slave_of).  IP settings and other_config (netconf.h: the SDK guide's
 * ethtool and network keys) are recorded; on the simulated host that is all
 * there is to configure.
 *
 * Errors follow xapi's miami-era checks, in its order. */
#include "dev_ops.h"
#include "hooks.h"
#include "netconf.h"
#include "ops.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

#define VLAN_TAG_MAX 4094 /* 4095 is reserved by 802.1Q */

static void fail1(struct xc_error *err, const char *code, const char *p)
{
	const char *params[] = { p };
	xc_error_set_custom(err, code, params, 1);
}

static void fail2(struct xc_error *err, const char *code, const char *p, const char *q)
{
	const char *params[] = { p, q };
	xc_error_set_custom(err, code, params, 2);
}

const struct class_hooks hooks_PIF = {
	.cls = "PIF",
	.before_set = dev_before_set_other_config,
};

/* ---- shared pieces ---- */

/* A PIF_metrics object: a copy of from's (a VLAN or bond sees its base
 * card), or a blank one. */
static char *new_metrics(struct store_txn *t, const char *from, struct xc_error *err)
{
	const struct dm_class *k = cls_of("PIF_metrics");
	XC_AUTOVALUE *rec = value_new_struct(12);
	struct xc_error ignore = XC_ERROR_INIT;
	XC_AUTOVALUE *src = from && store_exists(t, k, from) ? store_get_record(t, k, from, &ignore) : NULL;
	xc_error_clear(&ignore);
	for (size_t i = 0; src && i < src->u.st.n; i++)
		if (strcmp(src->u.st.m[i].key, "uuid") != 0)
			value_struct_add(rec, src->u.st.m[i].key, value_ref(src->u.st.m[i].val));
	value_struct_set(rec, "last_updated", value_new_datetime((int64_t)time(NULL)));
	return store_create(t, k, NULL, rec, err);
}

static int drop_metrics(struct store_txn *t, const struct value *pif_rec, struct xc_error *err)
{
	const char *m = rec_str(pif_rec, "metrics");
	if (ref_is_null(m) || !store_exists(t, cls_of("PIF_metrics"), m))
		return 0;
	return store_destroy(t, cls_of("PIF_metrics"), m, err);
}

/* The PIF of host already on network, or NULL (caller frees). */
static char *pif_on_network(struct store_txn *t, const char *host, const char *network)
{
	XC_AUTOVALUE *pifs = dev_find(t, "PIF", "host", host);
	for (size_t i = 0; i < value_len(pifs); i++) {
		const char *pif = value_str(value_array_at(pifs, i));
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *n = store_get_field(t, dm_field_find(cls_of("PIF"), "network"), pif, &ignore);
		xc_error_clear(&ignore);
		if (n && strcmp(value_str(n), network) == 0)
			return xstrdup(pif);
	}
	return NULL;
}

/* The PIF of host with this device and VLAN tag (-1: untagged), or NULL. */
static char *pif_by_device(struct store_txn *t, const char *host, const char *device, int64_t vlan)
{
	XC_AUTOVALUE *pifs = dev_find(t, "PIF", "host", host);
	for (size_t i = 0; i < value_len(pifs); i++) {
		const char *pif = value_str(value_array_at(pifs, i));
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *r = store_get_record(t, cls_of("PIF"), pif, &ignore);
		xc_error_clear(&ignore);
		if (r && strcmp(rec_str(r, "device"), device) == 0 && rec_int(r, "VLAN") == vlan)
			return xstrdup(pif);
	}
	return NULL;
}

static bool ipv4(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1;
}

/* ---- VLANs ---- */

/* Creates the VLAN on tagged (xapi's VLAN.create checks, in order).
 * Returns the new untagged PIF (caller frees); *vlan_out the VLAN. */
static char *vlan_make(struct store_txn *t, const char *tagged, int64_t tag, const char *network, char **vlan_out,
		       struct xc_error *err)
{
	XC_AUTOVALUE *base = store_get_record(t, cls_of("PIF"), tagged, err);
	if (!base)
		return NULL;
	if (!store_exists(t, cls_of("network"), network)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "network", network);
		return NULL;
	}
	const char *host = rec_str(base, "host");
	XC_AUTOFREE char *connected = pif_on_network(t, host, network);
	if (connected) {
		fail2(err, "NETWORK_ALREADY_CONNECTED", host, connected);
		return NULL;
	}
	if (!ref_is_null(rec_str(base, "bond_slave_of"))) {
		xc_error_set(err, XC_ERR_CANNOT_ADD_VLAN_TO_BOND_SLAVE, tagged);
		return NULL;
	}
	if (rec_int(base, "VLAN") >= 0) {
		fail1(err, "PIF_IS_VLAN", tagged);
		return NULL;
	}
	char tagstr[32];
	snprintf(tagstr, sizeof(tagstr), "%lld", (long long)tag);
	if (tag < 0 || tag > VLAN_TAG_MAX) {
		xc_error_set(err, XC_ERR_VLAN_TAG_INVALID, tagstr);
		return NULL;
	}
	const char *device = rec_str(base, "device");
	XC_AUTOFREE char *dup = pif_by_device(t, host, device, tag);
	if (dup) {
		xc_error_set(err, XC_ERR_PIF_VLAN_EXISTS, device);
		return NULL;
	}
	char pif_ref[48], vlan_ref[48];
	ref_generate(pif_ref);
	ref_generate(vlan_ref);
	XC_AUTOVALUE *vlan = value_new_struct(4);
	value_struct_add(vlan, "tagged_PIF", value_new_string(tagged));
	value_struct_add(vlan, "untagged_PIF", value_new_string(pif_ref));
	value_struct_add(vlan, "tag", value_new_int(tag));
	char *v = store_create(t, cls_of("VLAN"), vlan_ref, vlan, err);
	if (!v)
		return NULL;
	char *metrics = new_metrics(t, rec_str(base, "metrics"), err);
	if (!metrics) {
		free(v);
		return NULL;
	}
	XC_AUTOVALUE *pif = value_new_struct(12);
	value_struct_add(pif, "device", value_new_string(device));
	value_struct_add(pif, "network", value_new_string(network));
	value_struct_add(pif, "host", value_new_string(host));
	value_struct_add(pif, "MAC", value_new_string(rec_str(base, "MAC")));
	value_struct_add(pif, "MTU", value_new_int(rec_int(base, "MTU")));
	value_struct_add(pif, "VLAN", value_new_int(tag));
	value_struct_add(pif, "metrics", value_new_string_take(metrics));
	value_struct_add(pif, "physical", value_new_bool(false));
	value_struct_add(pif, "currently_attached", value_new_bool(true));
	value_struct_add(pif, "ip_configuration_mode", value_new_string("None"));
	value_struct_add(pif, "VLAN_master_of", value_new_string(vlan_ref));
	char *p = store_create(t, cls_of("PIF"), pif_ref, pif, err);
	if (!p) {
		free(v);
		return NULL;
	}
	if (vlan_out)
		*vlan_out = v;
	else
		free(v);
	return p;
}

/* Runs fn in a write transaction; its result (a new reference) or NULL. */
static struct value *in_txn(struct op_ctx *c,
			    struct value *(*fn)(struct op_ctx *, struct store_txn *, struct value *const *,
						struct xc_error *),
			    struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	return dev_commit_result(t, fn(c, t, args, err), err);
}

static struct value *do_vlan_create(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				    struct xc_error *err)
{
	char *vlan = NULL;
	char *pif = vlan_make(t, value_str(args[0]), args[1]->u.i, value_str(args[2]), &vlan, err);
	free(pif);
	return vlan ? value_new_string_take(vlan) : NULL;
}

struct value *op_VLAN_create(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_vlan_create, args, err);
}

/* The untagged PIF of host for device, as PIF.create_VLAN looks it up. */
static char *base_pif(struct store_txn *t, const char *host, const char *device, struct xc_error *err)
{
	char *pif = pif_by_device(t, host, device, -1);
	if (!pif)
		xc_error_set(err, XC_ERR_INVALID_VALUE, "device", device);
	return pif;
}

static struct value *do_pif_create_vlan(struct op_ctx *c, struct store_txn *t, struct value *const *args,
					struct xc_error *err)
{
	const char *host = value_str(args[2]);
	if (!store_exists(t, cls_of("host"), host)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", host);
		return NULL;
	}
	XC_AUTOFREE char *base = base_pif(t, host, value_str(args[0]), err);
	char *pif = base ? vlan_make(t, base, args[3]->u.i, value_str(args[1]), NULL, err) : NULL;
	return pif ? value_new_string_take(pif) : NULL;
}

struct value *op_PIF_create_VLAN(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_pif_create_vlan, args, err);
}

/* A VLAN on device on every host of the pool. */
static struct value *pool_vlan(struct store_txn *t, const char *device, const char *network, int64_t tag,
			       struct xc_error *err)
{
	XC_AUTOVALUE *hosts = store_get_all(t, cls_of("host"));
	struct value *made = value_new_array(value_len(hosts));
	for (size_t i = 0; i < value_len(hosts); i++) {
		XC_AUTOFREE char *base = base_pif(t, value_str(value_array_at(hosts, i)), device, err);
		char *pif = base ? vlan_make(t, base, tag, network, NULL, err) : NULL;
		if (!pif) {
			value_unref(made);
			return NULL;
		}
		value_array_push(made, value_new_string_take(pif));
	}
	return made;
}

static struct value *do_pool_create_vlan(struct op_ctx *c, struct store_txn *t, struct value *const *args,
					 struct xc_error *err)
{
	return pool_vlan(t, value_str(args[0]), value_str(args[1]), args[2]->u.i, err);
}

static struct value *do_pool_create_vlan_from_pif(struct op_ctx *c, struct store_txn *t,
						  struct value *const *args, struct xc_error *err)
{
	XC_AUTOVALUE *dev = store_get_field(t, dm_field_find(cls_of("PIF"), "device"), value_str(args[0]), err);
	return dev ? pool_vlan(t, value_str(dev), value_str(args[1]), args[2]->u.i, err) : NULL;
}

struct value *op_pool_create_VLAN(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_pool_create_vlan, args, err);
}

struct value *op_pool_create_VLAN_from_PIF(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_pool_create_vlan_from_pif, args, err);
}

/* Removes a VLAN's untagged PIF (with its metrics) and the VLAN object. */
static int vlan_remove(struct store_txn *t, const char *vlan, struct xc_error *err)
{
	XC_AUTOVALUE *v = store_get_record(t, cls_of("VLAN"), vlan, err);
	if (!v)
		return -1;
	const char *pif = rec_str(v, "untagged_PIF");
	if (ref_is_null(pif) || !store_exists(t, cls_of("PIF"), pif))
		return store_destroy(t, cls_of("VLAN"), vlan, err); /* an orphan */
	XC_AUTOVALUE *p = store_get_record(t, cls_of("PIF"), pif, err);
	if (!p)
		return -1;
	if (rec_bool(p, "management") && rec_bool(p, "currently_attached")) {
		xc_error_set(err, XC_ERR_PIF_IS_MANAGEMENT_INTERFACE, pif);
		return -1;
	}
	if (rec_int(p, "VLAN") < 0) {
		xc_error_set(err, XC_ERR_PIF_IS_PHYSICAL, pif);
		return -1;
	}
	if (drop_metrics(t, p, err) < 0 || store_destroy(t, cls_of("VLAN"), vlan, err) < 0)
		return -1;
	return store_destroy(t, cls_of("PIF"), pif, err);
}

static struct value *do_vlan_destroy(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				     struct xc_error *err)
{
	return vlan_remove(t, value_str(args[0]), err) < 0 ? NULL : void_result();
}

struct value *op_VLAN_destroy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_vlan_destroy, args, err);
}

static struct value *do_pif_destroy(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				    struct xc_error *err)
{
	const char *pif = value_str(args[0]);
	XC_AUTOVALUE *p = store_get_record(t, cls_of("PIF"), pif, err);
	if (!p)
		return NULL;
	const char *vlan = rec_str(p, "VLAN_master_of");
	if (rec_int(p, "VLAN") < 0 || ref_is_null(vlan) || !store_exists(t, cls_of("VLAN"), vlan)) {
		xc_error_set(err, XC_ERR_PIF_IS_PHYSICAL, pif);
		return NULL;
	}
	return vlan_remove(t, vlan, err) < 0 ? NULL : void_result();
}

struct value *op_PIF_destroy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_pif_destroy, args, err);
}

/* ---- IP configuration, plug, unplug ---- */

static struct value *do_reconfigure_ip(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				       struct xc_error *err)
{
	const char *pif = value_str(args[0]);
	const char *mode = value_str(args[1]);
	static const char *const names[] = { "IP", "netmask", "gateway", "DNS" };
	const char *vals[] = { value_str(args[2]), value_str(args[3]), value_str(args[4]), value_str(args[5]) };
	XC_AUTOVALUE *p = store_get_record(t, cls_of("PIF"), pif, err);
	if (!p)
		return NULL;
	/* Static needs an address and a mask; whatever is given must be an
	 * address (DNS may be a list, and is not checked, as in xapi). */
	for (int i = 0; i < 3; i++) {
		bool needed = strcmp(mode, "Static") == 0 && i < 2;
		if ((needed || *vals[i]) && !ipv4(vals[i])) {
			xc_error_set(err, XC_ERR_INVALID_VALUE, names[i], vals[i]);
			return NULL;
		}
	}
	if (rec_bool(p, "management") && strcmp(mode, "None") == 0) {
		xc_error_set(err, XC_ERR_PIF_IS_MANAGEMENT_INTERFACE, pif);
		return NULL;
	}
	const struct dm_class *k = cls_of("PIF");
	if (set_str(t, k, pif, "ip_configuration_mode", mode, err) < 0)
		return NULL;
	for (int i = 0; i < 4; i++)
		if (set_str(t, k, pif, names[i], vals[i], err) < 0)
			return NULL;
	/* DHCP on the management interface keeps the address it has. */
	if (strcmp(mode, "DHCP") == 0 && rec_bool(p, "management") && !*vals[0]) {
		XC_AUTOVALUE *addr = store_get_field(t, dm_field_find(cls_of("host"), "address"), rec_str(p, "host"), err);
		if (!addr || set_value(t, k, pif, "IP", addr, err) < 0)
			return NULL;
	}
	return void_result();
}

struct value *op_PIF_reconfigure_ip(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_reconfigure_ip, args, err);
}

static struct value *do_unplug(struct op_ctx *c, struct store_txn *t, struct value *const *args,
			       struct xc_error *err)
{
	const char *pif = value_str(args[0]);
	XC_AUTOVALUE *p = store_get_record(t, cls_of("PIF"), pif, err);
	if (!p)
		return NULL;
	if (rec_bool(p, "management") && rec_bool(p, "currently_attached")) {
		xc_error_set(err, XC_ERR_PIF_IS_MANAGEMENT_INTERFACE, pif);
		return NULL;
	}
	if (rec_bool(p, "disallow_unplug")) {
		xc_error_set(err, XC_ERR_PIF_DOES_NOT_ALLOW_UNPLUG, pif);
		return NULL;
	}
	return set_bool(t, cls_of("PIF"), pif, "currently_attached", false, err) < 0 ? NULL : void_result();
}

static struct value *do_plug(struct op_ctx *c, struct store_txn *t, struct value *const *args, struct xc_error *err)
{
	const char *pif = value_str(args[0]);
	if (!store_exists(t, cls_of("PIF"), pif)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "PIF", pif);
		return NULL;
	}
	return set_bool(t, cls_of("PIF"), pif, "currently_attached", true, err) < 0 ? NULL : void_result();
}

struct value *op_PIF_unplug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_unplug, args, err);
}

struct value *op_PIF_plug(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_plug, args, err);
}

/* ---- physical interfaces: scan, introduce, forget ---- */

/* xapi's bridge naming: eth<N> is on xenbr<N>, any other device on br<dev>. */
static char *bridge_for(const char *device)
{
	if (strncmp(device, "eth", 3) == 0)
		return xasprintf("xenbr%s", device + 3);
	return xasprintf("br%s", device);
}

/* The network a new physical PIF joins: the one other hosts use for this
 * device, else the one on the conventional bridge, else a new one. */
static char *network_for(struct store_txn *t, const char *host, const char *device, unsigned mtu,
			 struct xc_error *err)
{
	XC_AUTOVALUE *same = dev_find(t, "PIF", "device", device);
	for (size_t i = 0; i < value_len(same); i++) {
		XC_AUTOVALUE *r = store_get_record(t, cls_of("PIF"), value_str(value_array_at(same, i)), err);
		if (!r)
			return NULL;
		if (rec_int(r, "VLAN") < 0 && strcmp(rec_str(r, "host"), host) != 0)
			return xstrdup(rec_str(r, "network"));
	}
	XC_AUTOFREE char *bridge = bridge_for(device);
	XC_AUTOVALUE *nets = dev_find(t, "network", "bridge", bridge);
	if (value_len(nets))
		return xstrdup(value_str(value_array_at(nets, 0)));
	XC_AUTOVALUE *net = value_new_struct(4);
	XC_AUTOFREE char *label = xasprintf("Pool-wide network associated with %s", device);
	value_struct_add(net, "name_label", value_new_string(label));
	value_struct_add(net, "bridge", value_new_string(bridge));
	value_struct_add(net, "MTU", value_new_int(mtu ? mtu : 1500));
	return store_create(t, cls_of("network"), NULL, net, err);
}

/* A PIF record for one NIC of host, under the given device name. */
static char *pif_for_nic(struct store_txn *t, const char *host, const struct hv_nic *n, const char *device,
			 struct xc_error *err)
{
	XC_AUTOFREE char *net = network_for(t, host, device, n->mtu, err);
	XC_AUTOFREE char *metrics = net ? new_metrics(t, NULL, err) : NULL;
	if (!metrics)
		return NULL;
	const struct dm_class *mk = cls_of("PIF_metrics");
	if (set_bool(t, mk, metrics, "carrier", n->carrier, err) < 0 ||
	    set_int(t, mk, metrics, "speed", n->speed_mbit, err) < 0 ||
	    set_bool(t, mk, metrics, "duplex", n->duplex_full, err) < 0 ||
	    set_str(t, mk, metrics, "vendor_name", n->vendor_name, err) < 0 ||
	    set_str(t, mk, metrics, "device_name", n->device_name, err) < 0 ||
	    set_str(t, mk, metrics, "pci_bus_path", n->pci_bus_path, err) < 0)
		return NULL;
	XC_AUTOVALUE *pif = value_new_struct(12);
	value_struct_add(pif, "device", value_new_string(device));
	value_struct_add(pif, "network", value_new_string(net));
	value_struct_add(pif, "host", value_new_string(host));
	value_struct_add(pif, "MAC", value_new_string(n->mac));
	value_struct_add(pif, "MTU", value_new_int(n->mtu ? n->mtu : 1500));
	value_struct_add(pif, "VLAN", value_new_int(-1));
	value_struct_add(pif, "metrics", value_new_string(metrics));
	value_struct_add(pif, "physical", value_new_bool(n->physical));
	value_struct_add(pif, "currently_attached", value_new_bool(false));
	value_struct_add(pif, "ip_configuration_mode", value_new_string("None"));
	return store_create(t, cls_of("PIF"), NULL, pif, err);
}

/* The physical PIF of host with this MAC, or NULL. */
static char *pif_by_mac(struct store_txn *t, const char *host, const char *mac)
{
	XC_AUTOVALUE *pifs = dev_find(t, "PIF", "host", host);
	for (size_t i = 0; i < value_len(pifs); i++) {
		const char *pif = value_str(value_array_at(pifs, i));
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *r = store_get_record(t, cls_of("PIF"), pif, &ignore);
		xc_error_clear(&ignore);
		if (r && rec_int(r, "VLAN") < 0 && ref_is_null(rec_str(r, "VLAN_master_of")) &&
		    strcasecmp(rec_str(r, "MAC"), mac) == 0)
			return xstrdup(pif);
	}
	return NULL;
}

/* The NICs of an existing host (HANDLE_INVALID otherwise) from its backend. */
static int host_nics(struct op_ctx *c, const char *host, struct hv_host_info *hi, struct xc_error *err)
{
	memset(hi, 0, sizeof(*hi));
	struct store_txn *t = store_read(c->e->store);
	bool ok = store_exists(t, cls_of("host"), host);
	store_commit(t, NULL);
	if (!ok) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", host);
		return -1;
	}
	struct hv *hv = engine_hv_of_host(c->e, host);
	if (!hv) {
		xc_error_set(err, XC_ERR_HOST_OFFLINE, host);
		return -1;
	}
	return hv_host_info(hv, hi, err);
}

struct value *op_PIF_scan(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	struct hv_host_info hi;
	if (host_nics(c, host, &hi, err) < 0)
		return NULL;
	struct store_txn *t = store_write(c->e->store);
	int rc = 0;
	for (unsigned i = 0; i < hi.nnics && rc == 0; i++) {
		XC_AUTOFREE char *known = pif_by_mac(t, host, hi.nics[i].mac);
		XC_AUTOFREE char *named = known ? NULL : pif_by_device(t, host, hi.nics[i].device, -1);
		if (known || named)
			continue;
		char *pif = pif_for_nic(t, host, &hi.nics[i], hi.nics[i].device, err);
		rc = pif ? 0 : -1;
		free(pif);
	}
	hv_host_info_free(&hi);
	if (rc < 0 || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		return NULL;
	}
	return void_result();
}

struct value *op_PIF_introduce(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	const char *mac = value_str(args[1]);
	const char *device = value_str(args[2]);
	if (!dev_mac_valid(mac)) {
		xc_error_set(err, XC_ERR_MAC_INVALID, mac);
		return NULL;
	}
	struct hv_host_info hi;
	if (host_nics(c, host, &hi, err) < 0)
		return NULL;
	struct store_txn *t = store_write(c->e->store);
	char *pif = NULL;
	const struct hv_nic *nic = NULL;
	for (unsigned i = 0; i < hi.nnics; i++)
		if (strcasecmp(hi.nics[i].mac, mac) == 0)
			nic = &hi.nics[i];
	XC_AUTOFREE char *dup = pif_by_device(t, host, device, -1);
	XC_AUTOFREE char *known = pif_by_mac(t, host, mac);
	if (dup && !(known && strcmp(dup, known) == 0))
		fail1(err, "DUPLICATE_PIF_DEVICE_NAME", device);
	else if (!nic)
		fail1(err, "MAC_DOES_NOT_EXIST", mac);
	else if (known)
		pif = xstrdup(known); /* already there, as xapi answers */
	else
		pif = pif_for_nic(t, host, nic, device, err);
	hv_host_info_free(&hi);
	if (!pif || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		free(pif);
		return NULL;
	}
	return value_new_string_take(pif);
}

static struct value *do_forget(struct op_ctx *c, struct store_txn *t, struct value *const *args,
			       struct xc_error *err)
{
	const char *pif = value_str(args[0]);
	XC_AUTOVALUE *p = store_get_record(t, cls_of("PIF"), pif, err);
	if (!p)
		return NULL;
	if (!ref_is_null(rec_str(p, "bond_slave_of")) || value_len(rec_get(p, "bond_master_of"))) {
		fail1(err, "PIF_ALREADY_BONDED", pif);
		return NULL;
	}
	if (value_len(rec_get(p, "VLAN_slave_of")) || rec_int(p, "VLAN") >= 0) {
		fail1(err, "PIF_VLAN_STILL_EXISTS", pif);
		return NULL;
	}
	if (rec_bool(p, "management") && rec_bool(p, "currently_attached")) {
		xc_error_set(err, XC_ERR_PIF_IS_MANAGEMENT_INTERFACE, pif);
		return NULL;
	}
	if (drop_metrics(t, p, err) < 0 || store_destroy(t, cls_of("PIF"), pif, err) < 0)
		return NULL;
	return void_result();
}

struct value *op_PIF_forget(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_forget, args, err);
}

/* ---- bonds ---- */

/* Moves the management role (and the IP settings with it) between PIFs. */
static int move_management(struct store_txn *t, const struct value *from_rec, const char *from, const char *to,
			   struct xc_error *err)
{
	const struct dm_class *k = cls_of("PIF");
	static const char *const fields[] = { "ip_configuration_mode", "IP", "netmask", "gateway", "DNS" };
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
		if (set_value(t, k, to, fields[i], rec_get(from_rec, fields[i]), err) < 0)
			return -1;
	if (set_bool(t, k, to, "management", true, err) < 0 || set_bool(t, k, from, "management", false, err) < 0 ||
	    set_str(t, k, from, "ip_configuration_mode", "None", err) < 0 || set_str(t, k, from, "IP", "", err) < 0)
		return -1;
	return 0;
}

/* The member PIFs' records (a new array), checked for bonding: one host,
 * untagged, not bonded already.  *management: the index of the management
 * interface among them, or -1. */
static struct value *bond_members(struct store_txn *t, const struct value *members, int *management,
				  struct xc_error *err)
{
	struct value *recs = value_new_array(value_len(members));
	const char *host = NULL;
	*management = -1;
	for (size_t i = 0; i < value_len(members); i++) {
		const char *pif = value_str(value_array_at(members, i));
		struct value *r = store_get_record(t, cls_of("PIF"), pif, err);
		if (!r)
			goto fail;
		value_array_push(recs, r);
		if (!ref_is_null(rec_str(r, "bond_slave_of")) || value_len(rec_get(r, "bond_master_of"))) {
			fail1(err, "PIF_ALREADY_BONDED", pif);
			goto fail;
		}
		if (rec_int(r, "VLAN") >= 0 || value_len(rec_get(r, "VLAN_slave_of"))) {
			fail1(err, "PIF_VLAN_STILL_EXISTS", pif);
			goto fail;
		}
		if (host && strcmp(host, rec_str(r, "host")) != 0) {
			xc_error_set(err, XC_ERR_INVALID_VALUE, "members", pif);
			goto fail;
		}
		host = rec_str(r, "host");
		if (rec_bool(r, "management"))
			*management = (int)i;
	}
	return recs;
fail:
	value_unref(recs);
	return NULL;
}

static struct value *do_bond_create(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				    struct xc_error *err)
{
	const char *network = value_str(args[0]);
	const struct value *members = args[1];
	const char *mac = value_str(args[2]);
	const char *mode = *value_str(args[3]) ? value_str(args[3]) : "balance-slb";
	if (!store_exists(t, cls_of("network"), network)) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "network", network);
		return NULL;
	}
	if (value_len(members) < 2) {
		xc_error_set_custom(err, "PIF_BOND_NEEDS_MORE_MEMBERS", NULL, 0);
		return NULL;
	}
	if (*mac && !dev_mac_valid(mac)) {
		xc_error_set(err, XC_ERR_MAC_INVALID, mac);
		return NULL;
	}
	int management;
	XC_AUTOVALUE *recs = bond_members(t, members, &management, err);
	if (!recs)
		return NULL;
	const struct value *first = value_array_at(recs, 0);
	const char *host = rec_str(first, "host");
	XC_AUTOFREE char *connected = pif_on_network(t, host, network);
	if (connected) {
		fail2(err, "NETWORK_ALREADY_CONNECTED", host, connected);
		return NULL;
	}
	/* bond0, bond1 ...: the first name the host does not have. */
	char device[16];
	for (unsigned i = 0;; i++) {
		snprintf(device, sizeof(device), "bond%u", i);
		XC_AUTOFREE char *taken = pif_by_device(t, host, device, -1);
		if (!taken)
			break;
	}
	char bond_ref[48], pif_ref[48];
	ref_generate(bond_ref);
	ref_generate(pif_ref);
	XC_AUTOFREE char *metrics = new_metrics(t, rec_str(first, "metrics"), err);
	if (!metrics)
		return NULL;
	XC_AUTOVALUE *bond = value_new_struct(3);
	value_struct_add(bond, "master", value_new_string(pif_ref));
	value_struct_add(bond, "mode", value_new_string(mode));
	XC_AUTOVALUE *pif = value_new_struct(12);
	value_struct_add(pif, "device", value_new_string(device));
	value_struct_add(pif, "network", value_new_string(network));
	value_struct_add(pif, "host", value_new_string(host));
	value_struct_add(pif, "MAC", value_new_string(*mac ? mac : rec_str(first, "MAC")));
	value_struct_add(pif, "MTU", value_new_int(rec_int(first, "MTU")));
	value_struct_add(pif, "VLAN", value_new_int(-1));
	value_struct_add(pif, "metrics", value_new_string(metrics));
	value_struct_add(pif, "physical", value_new_bool(false));
	value_struct_add(pif, "currently_attached", value_new_bool(true));
	value_struct_add(pif, "ip_configuration_mode", value_new_string("None"));
	XC_AUTOFREE char *b = store_create(t, cls_of("Bond"), bond_ref, bond, err);
	XC_AUTOFREE char *p = b ? store_create(t, cls_of("PIF"), pif_ref, pif, err) : NULL;
	if (!p)
		return NULL;
	for (size_t i = 0; i < value_len(members); i++)
		if (set_str(t, cls_of("PIF"), value_str(value_array_at(members, i)), "bond_slave_of", bond_ref, err) < 0)
			return NULL;
	if (management >= 0 && move_management(t, value_array_at(recs, (size_t)management),
					       value_str(value_array_at(members, (size_t)management)), pif_ref, err) < 0)
		return NULL;
	return value_new_string(bond_ref);
}

struct value *op_Bond_create(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_bond_create, args, err);
}

static struct value *do_bond_destroy(struct op_ctx *c, struct store_txn *t, struct value *const *args,
				     struct xc_error *err)
{
	const char *bond = value_str(args[0]);
	XC_AUTOVALUE *b = store_get_record(t, cls_of("Bond"), bond, err);
	if (!b)
		return NULL;
	const char *master = rec_str(b, "master");
	const struct value *slaves = rec_get(b, "slaves");
	XC_AUTOVALUE *m = store_exists(t, cls_of("PIF"), master) ? store_get_record(t, cls_of("PIF"), master, err) : NULL;
	if (m && value_len(rec_get(m, "VLAN_slave_of"))) {
		fail1(err, "PIF_VLAN_STILL_EXISTS", master);
		return NULL;
	}
	for (size_t i = 0; i < value_len(slaves); i++)
		if (set_str(t, cls_of("PIF"), value_str(value_array_at(slaves, i)), "bond_slave_of", REF_NULL, err) < 0)
			return NULL;
	if (m && rec_bool(m, "management") && value_len(slaves) &&
	    move_management(t, m, master, value_str(value_array_at(slaves, 0)), err) < 0)
		return NULL;
	if (m && (drop_metrics(t, m, err) < 0 || store_destroy(t, cls_of("PIF"), master, err) < 0))
		return NULL;
	return store_destroy(t, cls_of("Bond"), bond, err) < 0 ? NULL : void_result();
}

struct value *op_Bond_destroy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return in_txn(c, do_bond_destroy, args, err);
}
