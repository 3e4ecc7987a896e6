/* host: maintenance and power (the read-only messages are in
 * op_host_info.c).
 *
 *   disable / enable     whether new VMs may start or arrive here
 *   assert_can_evacuate  plans where each running VM would go (enabled
 *   evacuate             live hosts with the memory and the VMs' SRs) and,
 *                        for evacuate, moves them with VM.pool_migrate
 *   reboot / shutdown    need a disabled host with no running guest
 *                        (xapi's "bacon mode"); the backend then takes the
 *                        host down, and with it any domain left (paused
 *                        ones): their VMs end Halted
 *   destroy              forgets a host that is gone for good
 *
 * Power of one host, as the records show it:
 *
 *   enabled --disable--> disabled --reboot--> (down, live=false) --back up,
 *      ^                    |                   enable--> enabled
 *      +------enable--------+      --shutdown--> (down, live=false)
 */
#include "dev_ops.h"
#include "ops.h"
#include "vm_ops.h"
#include "vm_state.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "host"

static const char *metrics_of(const struct value *host_rec)
{
	return rec_str(host_rec, "metrics");
}

static int set_live(struct store_txn *t, const struct value *host_rec, bool live, struct xc_error *err)
{
	const char *m = metrics_of(host_rec);
	if (ref_is_null(m) || !store_exists(t, cls_of("host_metrics"), m))
		return 0;
	return set_bool(t, cls_of("host_metrics"), m, "live", live, err);
}

static bool is_live(struct store_txn *t, const struct value *host_rec)
{
	const char *m = metrics_of(host_rec);
	struct xc_error ignore = XC_ERROR_INIT;
	XC_AUTOVALUE *l = ref_is_null(m) ? NULL
					  : store_get_field(t, dm_field_find(cls_of("host_metrics"), "live"), m, &ignore);
	xc_error_clear(&ignore);
	return l && l->u.b;
}

/* ---- disable / enable ---- */

static struct value *set_enabled(struct op_ctx *c, const char *host, bool enabled, struct xc_error *err)
{
	struct hv *hv = engine_hv_of_host(c->e, host);
	/* A host that is down cannot take VMs: only its backend says it is up. */
	if (enabled && hv) {
		struct hv_host_info hi;
		if (hv_host_info(hv, &hi, err) < 0)
			return NULL;
		hv_host_info_free(&hi);
	}
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("host"), host, err);
	int rc = rec ? 0 : -1;
	if (rc == 0 && rec_bool(rec, "enabled") != enabled)
		rc = set_bool(t, cls_of("host"), host, "enabled", enabled, err);
	if (rc == 0 && enabled && hv)
		rc = set_live(t, rec, true, err);
	if (rc == 0)
		rc = host_metrics_refresh(c->e, t, host, err);
	if (rc == 0)
		rc = dev_update_allowed(t, "host", host, err);
	if (rc < 0) {
		store_abort(t);
		return NULL;
	}
	if (store_commit(t, err) < 0)
		return NULL;
	log_info("host %s %s", host, enabled ? "enabled" : "disabled");
	return void_result();
}

struct value *op_host_disable(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return set_enabled(c, value_str(args[0]), false, err);
}

struct value *op_host_enable(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return set_enabled(c, value_str(args[0]), true, err);
}

/* ---- evacuation ---- */

struct move {
	char *vm;
	char *dest;
};

struct plan {
	struct move *moves;
	size_t n;
};

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->moves[i].vm);
		free(p->moves[i].dest);
	}
	free(p->moves);
	memset(p, 0, sizeof(*p));
}

struct target {
	const char *host;
	int64_t free;
};

/* Can vm's disks be reached from host?  The SR of the first that cannot. */
static char *unreachable_sr(struct store_txn *t, const struct value *vm, const char *host)
{
	const struct value *vbds = rec_get(vm, "VBDs");
	for (size_t i = 0; i < value_len(vbds); i++) {
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *b = store_get_record(t, cls_of("VBD"), value_str(value_array_at(vbds, i)), &ignore);
		const char *vdi = b ? rec_str(b, "VDI") : REF_NULL;
		XC_AUTOVALUE *sr = b && !rec_bool(b, "empty") && !ref_is_null(vdi)
					   ? store_get_field(t, dm_field_find(cls_of("VDI"), "SR"), vdi, &ignore)
					   : NULL;
		xc_error_clear(&ignore);
		if (!sr)
			continue;
		XC_AUTOFREE char *pbd = dev_sr_plugged_pbd(t, value_str(sr), host);
		if (!pbd)
			return xstrdup(value_str(sr));
	}
	return NULL;
}

/* Where each guest of host goes: xapi's plan, first fit by memory among the
 * other enabled live hosts that reach the VM's storage.  The first VM that
 * cannot go anywhere decides the error. */
static int evacuation_plan(struct op_ctx *c, struct store_txn *t, const char *host, struct plan *plan,
			   struct xc_error *err)
{
	memset(plan, 0, sizeof(*plan));
	XC_AUTOVALUE *hrec = store_get_record(t, cls_of("host"), host, err);
	if (!hrec)
		return -1;
	XC_AUTOVALUE *hosts = store_get_all(t, cls_of("host"));
	struct target targets[value_len(hosts) + 1];
	size_t ntargets = 0;
	for (size_t i = 0; i < value_len(hosts); i++) {
		const char *h = value_str(value_array_at(hosts, i));
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *r = strcmp(h, host) != 0 ? store_get_record(t, cls_of("host"), h, &ignore) : NULL;
		xc_error_clear(&ignore);
		if (!r || !rec_bool(r, "enabled") || !is_live(t, r) || !engine_hv_of_host(c->e, h))
			continue;
		XC_AUTOVALUE *mf = store_get_field(t, dm_field_find(cls_of("host_metrics"), "memory_free"), metrics_of(r),
						   &ignore);
		xc_error_clear(&ignore);
		targets[ntargets].host = value_str(value_array_at(hosts, i));
		targets[ntargets++].free = mf ? mf->u.i : 0;
	}
	const struct value *vms = rec_get(hrec, "resident_VMs");
	plan->moves = xcalloc(value_len(vms) + 1, sizeof(*plan->moves));
	for (size_t i = 0; i < value_len(vms); i++) {
		const char *vm = value_str(value_array_at(vms, i));
		XC_AUTOVALUE *v = store_get_record(t, cls_of("VM"), vm, err);
		if (!v)
			goto fail;
		if (rec_bool(v, "is_control_domain"))
			continue;
		if (ntargets == 0) {
			xc_error_set(err, XC_ERR_NO_HOSTS_AVAILABLE);
			goto fail;
		}
		if (vm_op_check(vm, v, "pool_migrate", err) < 0)
			goto fail;
		int64_t need = rec_int(v, "memory_dynamic_max") > 0 ? rec_int(v, "memory_dynamic_max")
								     : rec_int(v, "memory_static_max");
		int64_t most = 0;
		XC_AUTOFREE char *sr = NULL;
		size_t k = 0;
		for (; k < ntargets; k++) {
			XC_AUTOFREE char *missing = unreachable_sr(t, v, targets[k].host);
			if (missing) {
				free(sr);
				sr = xstrdup(missing);
				continue;
			}
			if (targets[k].free >= need)
				break;
			most = targets[k].free > most ? targets[k].free : most;
		}
		if (k == ntargets) {
			if (most == 0 && sr) {
				xc_error_set(err, XC_ERR_VM_REQUIRES_SR, vm, sr);
			} else {
				char needed[32], avail[32];
				snprintf(needed, sizeof(needed), "%lld", (long long)need);
				snprintf(avail, sizeof(avail), "%lld", (long long)most);
				xc_error_set(err, XC_ERR_HOST_NOT_ENOUGH_FREE_MEMORY, needed, avail);
			}
			goto fail;
		}
		targets[k].free -= need;
		plan->moves[plan->n].vm = xstrdup(vm);
		plan->moves[plan->n++].dest = xstrdup(targets[k].host);
	}
	return 0;
fail:
	plan_free(plan);
	return -1;
}

struct value *op_host_assert_can_evacuate(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct plan plan;
	struct store_txn *t = store_read(c->e->store);
	int rc = evacuation_plan(c, t, value_str(args[0]), &plan, err);
	store_commit(t, NULL);
	if (rc < 0)
		return NULL;
	plan_free(&plan);
	return void_result();
}

/* Migrates one VM through VM.pool_migrate, so its checks and bookkeeping
 * are the ones a client's call gets. */
static int migrate(struct op_ctx *c, const char *vm, const char *dest, struct xc_error *err)
{
	struct op_ctx mc = *c;
	mc.msg = dm_message_find("VM.pool_migrate");
	if (!mc.msg) {
		xc_error_set(err, XC_ERR_NOT_IMPLEMENTED, "VM.pool_migrate");
		return -1;
	}
	XC_AUTOVALUE *a0 = value_new_string(vm);
	XC_AUTOVALUE *a1 = value_new_string(dest);
	XC_AUTOVALUE *a2 = value_new_struct(1);
	value_struct_add(a2, "live", value_new_string("true"));
	struct value *const args[] = { a0, a1, a2 };
	XC_AUTOVALUE *r = engine_run(&mc, args, err);
	return r ? 0 : -1;
}

struct value *op_host_evacuate(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	XC_AUTOFREE char *key = dev_op_begin(c, "host", host, "evacuate", NULL, NULL, err);
	if (!key)
		return NULL;
	struct plan plan;
	struct store_txn *t = store_read(c->e->store);
	int rc = evacuation_plan(c, t, host, &plan, err);
	store_commit(t, NULL);
	for (size_t i = 0; rc == 0 && i < plan.n; i++) {
		rc = task_check_cancel(c, err);
		if (rc == 0)
			rc = migrate(c, plan.moves[i].vm, plan.moves[i].dest, err);
		task_progress(c, (double)(i + 1) / (double)(plan.n + 1));
	}
	plan_free(&plan);
	if (rc < 0) {
		struct xc_error ignore = XC_ERROR_INIT;
		dev_op_end(c, "host", host, key, NULL, NULL, &ignore);
		xc_error_clear(&ignore);
		return NULL;
	}
	return dev_op_end(c, "host", host, key, NULL, NULL, err) < 0 ? NULL : void_result();
}

/* ---- reboot / shutdown ---- */

/* xapi's assert_bacon_mode: disabled, no running guest. */
static int bacon_mode(struct op_ctx *c, struct store_txn *t, const char *host, const struct value *rec, void *arg,
		      struct xc_error *err)
{
	if (rec_bool(rec, "enabled")) {
		xc_error_set(err, XC_ERR_HOST_NOT_DISABLED);
		return -1;
	}
	const struct value *vms = rec_get(rec, "resident_VMs");
	for (size_t i = 0; i < value_len(vms); i++) {
		const char *vm = value_str(value_array_at(vms, i));
		XC_AUTOVALUE *v = store_get_record(t, cls_of("VM"), vm, err);
		if (!v)
			return -1;
		if (!rec_bool(v, "is_control_domain") && strcmp(rec_str(v, "power_state"), "Running") == 0) {
			xc_error_set(err, XC_ERR_HOST_IN_USE, host, "vm", vm);
			return -1;
		}
	}
	return 0;
}

/* The host went down: what ran there (paused guests) is gone. */
static int apply_down(struct op_ctx *c, struct store_txn *t, const char *host, void *arg, struct xc_error *err)
{
	XC_AUTOVALUE *vms = dev_find(t, "VM", "resident_on", host);
	for (size_t i = 0; i < value_len(vms); i++) {
		const char *vm = value_str(value_array_at(vms, i));
		XC_AUTOVALUE *v = store_get_record(t, cls_of("VM"), vm, err);
		if (!v)
			return -1;
		if (rec_bool(v, "is_control_domain") || !dev_vm_has_domain(v))
			continue;
		log_info("VM %s went down with host %s", rec_str(v, "name_label"), host);
		if (vm_state_halted(c->e, t, vm, err) < 0 || dev_update_vm_devices(t, vm, err) < 0 ||
		    vm_update_allowed(t, vm, err) < 0)
			return -1;
	}
	return 0;
}

static struct value *power_off(struct op_ctx *c, const char *host, bool reboot, struct xc_error *err)
{
	const char *op = reboot ? "reboot" : "shutdown";
	XC_AUTOFREE char *key = dev_op_begin(c, "host", host, op, bacon_mode, NULL, err);
	if (!key)
		return NULL;
	struct hv *hv = engine_hv_of_host(c->e, host);
	/* Not live from before the backend acts: a rebooted host reports
	 * itself back (and live again) as soon as it is up. */
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("host"), host, err);
	int rc = rec ? set_live(t, rec, false, err) : -1;
	if (rc == 0)
		rc = store_commit(t, err);
	else
		store_abort(t);
	if (rc == 0 && !hv) {
		xc_error_set(err, XC_ERR_HOST_OFFLINE, host);
		rc = -1;
	}
	if (rc == 0)
		rc = reboot ? hv_host_reboot(hv, err) : hv_host_shutdown(hv, err);
	if (rc < 0) {
		struct xc_error ignore = XC_ERROR_INIT;
		t = store_write(c->e->store);
		if (rec && set_live(t, rec, true, &ignore) == 0)
			store_commit(t, &ignore);
		else
			store_abort(t);
		dev_op_end(c, "host", host, key, NULL, NULL, &ignore);
		xc_error_clear(&ignore);
		return NULL;
	}
	log_info("host %s: %s", host, op);
	return dev_op_end(c, "host", host, key, apply_down, NULL, err) < 0 ? NULL : void_result();
}

struct value *op_host_reboot(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return power_off(c, value_str(args[0]), true, err);
}

struct value *op_host_shutdown(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return power_off(c, value_str(args[0]), false, err);
}

/* ---- destroy ---- */

static int destroy_where(struct store_txn *t, const char *cls, const char *field, const char *v,
			 struct xc_error *err)
{
	XC_AUTOVALUE *refs = dev_find(t, cls, field, v);
	for (size_t i = 0; i < value_len(refs); i++)
		if (store_destroy(t, cls_of(cls), value_str(value_array_at(refs, i)), err) < 0)
			return -1;
	return 0;
}

static int destroy_ref(struct store_txn *t, const char *cls, const char *ref, struct xc_error *err)
{
	if (ref_is_null(ref) || !store_exists(t, cls_of(cls), ref))
		return 0;
	return store_destroy(t, cls_of(cls), ref, err);
}

/* The host's network interfaces: VLANs and bonds built on them first. */
static int destroy_pifs(struct store_txn *t, const char *host, struct xc_error *err)
{
	XC_AUTOVALUE *pifs = dev_find(t, "PIF", "host", host);
	for (size_t i = 0; i < value_len(pifs); i++) {
		const char *pif = value_str(value_array_at(pifs, i));
		XC_AUTOVALUE *p = store_get_record(t, cls_of("PIF"), pif, err);
		if (!p || destroy_ref(t, "VLAN", rec_str(p, "VLAN_master_of"), err) < 0 ||
		    destroy_ref(t, "Bond", rec_str(p, "bond_slave_of"), err) < 0 ||
		    destroy_ref(t, "PIF_metrics", rec_str(p, "metrics"), err) < 0 ||
		    store_destroy(t, cls_of("PIF"), pif, err) < 0)
			return -1;
	}
	return 0;
}

static int destroy_vm_record(struct store_txn *t, const char *vm, struct xc_error *err)
{
	XC_AUTOVALUE *v = store_get_record(t, cls_of("VM"), vm, err);
	if (!v || destroy_where(t, "VBD", "VM", vm, err) < 0 || destroy_where(t, "VIF", "VM", vm, err) < 0 ||
	    destroy_where(t, "console", "VM", vm, err) < 0 || destroy_ref(t, "VM_metrics", rec_str(v, "metrics"), err) < 0 ||
	    destroy_ref(t, "VM_guest_metrics", rec_str(v, "guest_metrics"), err) < 0)
		return -1;
	return store_destroy(t, cls_of("VM"), vm, err);
}

struct value *op_host_destroy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("host"), host, err);
	int rc = rec ? 0 : -1;
	if (rc == 0 && (strcmp(host, c->e->host_ref) == 0 || is_live(t, rec))) {
		const char *p[] = { host };
		xc_error_set_custom(err, "HOST_IS_LIVE", p, 1);
		rc = -1;
	}
	const struct value *vms = rec ? rec_get(rec, "resident_VMs") : NULL;
	for (size_t i = 0; rc == 0 && i < value_len(vms); i++) {
		const char *vm = value_str(value_array_at(vms, i));
		XC_AUTOVALUE *v = store_get_record(t, cls_of("VM"), vm, err);
		if (!v)
			rc = -1;
		else if (!rec_bool(v, "is_control_domain")) {
			const char *p[] = { host };
			xc_error_set_custom(err, "HOST_HAS_RESIDENT_VMS", p, 1);
			rc = -1;
		}
	}
	for (size_t i = 0; rc == 0 && i < value_len(vms); i++)
		rc = destroy_vm_record(t, value_str(value_array_at(vms, i)), err);
	XC_AUTOVALUE *fond = rc == 0 ? dev_find(t, "VM", "affinity", host) : NULL;
	for (size_t i = 0; rc == 0 && i < value_len(fond); i++)
		rc = set_str(t, cls_of("VM"), value_str(value_array_at(fond, i)), "affinity", REF_NULL, err);
	if (rc == 0)
		rc = destroy_pifs(t, host, err);
	static const char *const children[] = { "PBD", "host_cpu", "host_crashdump", "host_patch" };
	for (size_t i = 0; rc == 0 && i < ARRAY_SIZE(children); i++)
		rc = destroy_where(t, children[i], "host", host, err);
	if (rc == 0)
		rc = destroy_ref(t, "host_metrics", metrics_of(rec), err);
	if (rc == 0)
		rc = store_destroy(t, cls_of("host"), host, err);
	if (rc < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}

/* ---- names and the management interface ---- */

/* RFC 1123 host names: dot-separated labels of letters, digits and
 * hyphens, no label starting or ending with a hyphen. */
static bool hostname_valid(const char *h)
{
	size_t n = strlen(h), label = 0;
	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = h[i];
		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)ch) && ch != '-')
			return false;
		if (label == 0 && ch == '-')
			return false;
		label++;
	}
	return true;
}

struct value *op_host_set_hostname_live(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *host = value_str(args[0]);
	const char *name = value_str(args[1]);
	if (!hostname_valid(name)) {
		const char *p[] = { "hostname contains invalid characters" };
		xc_error_set_custom(err, "HOST_NAME_INVALID", p, 1);
		return NULL;
	}
	struct store_txn *t = dev_write_existing(c, "host", host, err);
	if (!t)
		return NULL;
	if (set_str(t, cls_of("host"), host, "hostname", name, err) < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}

struct value *op_host_syslog_reconfigure(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	bool ok = store_exists(t, cls_of("host"), value_str(args[0]));
	store_commit(t, NULL);
	if (!ok) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", value_str(args[0]));
		return NULL;
	}
	/* host.logging is read by the logger at each message: nothing to redo. */
	return void_result();
}

/* Makes pif its host's management interface (NULL: none on host). */
static int set_management(struct store_txn *t, const char *host, const char *pif, struct xc_error *err)
{
	XC_AUTOVALUE *pifs = dev_find(t, "PIF", "host", host);
	for (size_t i = 0; i < value_len(pifs); i++) {
		const char *p = value_str(value_array_at(pifs, i));
		bool mine = pif && strcmp(p, pif) == 0;
		XC_AUTOVALUE *m = store_get_field(t, dm_field_find(cls_of("PIF"), "management"), p, err);
		if (!m)
			return -1;
		if (m->u.b != mine && set_bool(t, cls_of("PIF"), p, "management", mine, err) < 0)
			return -1;
		if (mine && set_bool(t, cls_of("PIF"), p, "currently_attached", true, err) < 0)
			return -1;
	}
	if (!pif)
		return 0;
	XC_AUTOVALUE *ip = store_get_field(t, dm_field_find(cls_of("PIF"), "IP"), pif, err);
	if (!ip)
		return -1;
	return *value_str(ip) ? set_value(t, cls_of("host"), host, "address", ip, err) : 0;
}

static struct value *management_to(struct op_ctx *c, struct store_txn *t, const char *pif, bool need_ip,
				   struct xc_error *err)
{
	XC_AUTOVALUE *p = store_get_record(t, cls_of("PIF"), pif, err);
	if (!p)
		return NULL;
	if (need_ip && strcmp(rec_str(p, "ip_configuration_mode"), "None") == 0) {
		xc_error_set_custom(err, "PIF_HAS_NO_NETWORK_CONFIGURATION", NULL, 0);
		return NULL;
	}
	return set_management(t, rec_str(p, "host"), pif, err) < 0 ? NULL : void_result();
}

struct value *op_host_management_reconfigure(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	return dev_commit_result(t, management_to(c, t, value_str(args[0]), true, err), err);
}

struct value *op_host_local_management_reconfigure(struct op_ctx *c, struct value *const *args,
						    struct xc_error *err)
{
	const char *iface = value_str(args[0]);
	struct store_txn *t = store_write(c->e->store);
	/* The interface is named by its device (eth0) or its bridge (xenbr0). */
	XC_AUTOVALUE *pifs = dev_find(t, "PIF", "host", c->e->host_ref);
	XC_AUTOFREE char *found = NULL;
	for (size_t i = 0; i < value_len(pifs) && !found; i++) {
		const char *p = value_str(value_array_at(pifs, i));
		XC_AUTOVALUE *r = store_get_record(t, cls_of("PIF"), p, err);
		if (!r) {
			store_abort(t);
			return NULL;
		}
		struct xc_error ignore = XC_ERROR_INIT;
		XC_AUTOVALUE *br = store_get_field(t, dm_field_find(cls_of("network"), "bridge"), rec_str(r, "network"),
						   &ignore);
		xc_error_clear(&ignore);
		if ((strcmp(rec_str(r, "device"), iface) == 0 && rec_int(r, "VLAN") < 0) ||
		    (br && strcmp(value_str(br), iface) == 0))
			found = xstrdup(p);
	}
	if (!found) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "interface", iface);
		store_abort(t);
		return NULL;
	}
	return dev_commit_result(t, management_to(c, t, found, false, err), err);
}

struct value *op_host_management_disable(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct store_txn *t = store_write(c->e->store);
	struct value *r = set_management(t, c->e->host_ref, NULL, err) < 0 ? NULL : void_result();
	return dev_commit_result(t, r, err);
}

/* ---- the management agent ---- */

/* xapi answers, then restarts itself.  Every host of a simulated pool is
 * served by this one process, so any host's agent is this engine.  The
 * process (cmd/xcon.c) waits for the reply to go out, stops the engine as at
 * SIGTERM (running tasks are finished or cancelled, the rest fails at the
 * next start) and re-executes itself on the same listening sockets. */
struct value *op_host_restart_agent(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	if (ref_check(c->e, "host", value_str(args[0]), err) < 0)
		return NULL;
	if (!c->e->opts.restart) {
		xc_error_internal(err, "this engine runs in-process and has no agent to restart");
		return NULL;
	}
	log_info("host.restart_agent: the engine restarts once this call is answered");
	c->e->opts.restart(c->e->opts.restart_cookie);
	return void_result();
}
