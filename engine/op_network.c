/* network: the rules of the generated create and destroy.
 *
 * A network is a bridge on each host.  create picks an unused "xapiN"
 * bridge when the caller leaves it empty (xapi's convention for networks
 * it makes up; physical NICs' networks are "xenbrN").  destroy refuses
 * while VIFs or PIFs are connected; the networks of physical interfaces
 * belong to the host's configuration and are never destroyed. */
#include "dev_ops.h"
#include "hooks.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/uuid.h"
#include "../util/xalloc.h"

#define BRIDGE_MAX 15 /* IFNAMSIZ - 1 */

static bool bridge_taken(struct store_txn *t, const char *bridge)
{
	XC_AUTOVALUE *nets = dev_find(t, "network", "bridge", bridge);
	return value_len(nets) > 0;
}

static bool bridge_valid(const char *b)
{
	size_t n = strlen(b);
	return n > 0 && n <= BRIDGE_MAX &&
	       strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int mtu_check(int64_t mtu, struct xc_error *err)
{
	if (mtu >= 68 && mtu <= 65535)
		return 0;
	char m[32];
	snprintf(m, sizeof(m), "%lld", (long long)mtu);
	xc_error_set(err, XC_ERR_INVALID_VALUE, "MTU", m);
	return -1;
}

static int network_before_create(struct op_ctx *c, struct store_txn *t, struct value *rec, struct xc_error *err)
{
	const char *bridge = rec_str(rec, "bridge");
	if (!*bridge) {
		for (unsigned n = 0;; n++) {
			char b[16];
			snprintf(b, sizeof(b), "xapi%u", n);
			if (!bridge_taken(t, b)) {
				value_struct_set(rec, "bridge", value_new_string(b));
				break;
			}
		}
	} else if (!bridge_valid(bridge) || bridge_taken(t, bridge)) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "bridge", bridge);
		return -1;
	}
	int64_t mtu = rec_int(rec, "MTU");
	if (mtu <= 0)
		value_struct_set(rec, "MTU", value_new_int(mtu = 1500));
	if (mtu_check(mtu, err) < 0)
		return -1;
	value_struct_set(rec, "current_operations", value_new_struct(0));
	value_struct_set(rec, "allowed_operations", value_new_array(0));
	return 0;
}

/* Failure code and up to XC_ERROR_MAX_PARAMS refs, one param each as xapi
 * lists them. */
static void refs_error(const char *code, const struct value *refs, struct xc_error *err)
{
	const char *params[XC_ERROR_MAX_PARAMS];
	size_t n = 0;
	for (; n < value_len(refs) && n < XC_ERROR_MAX_PARAMS; n++)
		params[n] = value_str(value_array_at(refs, n));
	xc_error_set_custom(err, code, params, n);
}

static int network_before_destroy(struct op_ctx *c, struct store_txn *t, const char *net, struct xc_error *err)
{
	XC_AUTOVALUE *vifs = dev_find(t, "VIF", "network", net);
	if (value_len(vifs)) {
		refs_error("NETWORK_CONTAINS_VIF", vifs, err);
		return -1;
	}
	XC_AUTOVALUE *pifs = dev_find(t, "PIF", "network", net);
	for (size_t i = 0; i < value_len(pifs); i++) {
		XC_AUTOVALUE *phys = store_get_field(t, dm_field_find(cls_of("PIF"), "physical"),
						     value_str(value_array_at(pifs, i)), err);
		if (!phys)
			return -1;
		if (phys->u.b) {
			xc_error_set(err, XC_ERR_CANNOT_DESTROY_SYSTEM_NETWORK, net);
			return -1;
		}
	}
	if (value_len(pifs)) {
		refs_error("NETWORK_CONTAINS_PIF", pifs, err);
		return -1;
	}
	return 0;
}

static int network_before_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *net,
			      const struct value *v, struct xc_error *err)
{
	if (strcmp(f->name, "MTU") == 0)
		return mtu_check(v->u.i, err);
	return 0;
}

const struct class_hooks hooks_network = {
	.cls = "network",
	.before_create = network_before_create,
	.before_destroy = network_before_destroy,
	.before_set = network_before_set,
};
