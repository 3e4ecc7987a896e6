/* VM lifecycle: start, shutdown, reboot, pause, suspend, resume, migrate.
 *
 * Each operation follows the same pattern: vm_op_begin checks the power
 * state and marks the operation in current_operations (one transaction),
 * the backend does the work with no lock held, then vm_op_end records the
 * new state and clears the mark (another transaction).  A backend failure
 * leaves the record as it was; a cancel is honoured before the backend is
 * asked and undone (the new domain destroyed) if it comes just after. */
#include "vm_life.h"
#include "ops.h"
#include "vm_state.h"
#include "domain_config.h"
#include "vdi_file.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "vm"
#define SHUTDOWN_TIMEOUT_MS (20 * 60 * 1000)

struct place {
	const char *host;
	uint32_t domid;
	bool paused;
};

static int apply_running(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	struct place *p = arg;
	return vm_state_running(c->e, t, vm, p->host, p->domid, p->paused, err);
}

static int apply_halted(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	return vm_state_halted(c->e, t, vm, err);
}

static int apply_power(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	return set_str(t, cls_of("VM"), vm, "power_state", arg, err);
}

static const char *pick_host(struct store_txn *t, struct engine *e, const struct value *vm)
{
	const char *aff = rec_str(vm, "affinity");
	for (unsigned pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < e->nhosts; i++) {
			const char *h = e->host_refs[i];
			if (pass == 0 && strcmp(h, aff) != 0)
				continue;
			struct xc_error ignore = XC_ERROR_INIT;
			XC_AUTOVALUE *en = store_get_field(t, dm_field_find(cls_of("host"), "enabled"), h, &ignore);
			xc_error_clear(&ignore);
			if (en && en->u.b)
				return h;
		}
	}
	return NULL;
}

static int check_host(struct store_txn *t, const char *host, struct xc_error *err)
{
	XC_AUTOVALUE *en = store_get_field(t, dm_field_find(cls_of("host"), "enabled"), host, err);
	if (!en)
		return -1;
	if (!en->u.b) {
		xc_error_set(err, XC_ERR_HOST_DISABLED, host);
		return -1;
	}
	return 0;
}

/* The host a start or resume goes to: the one asked for (which must be
 * enabled), else the VM's affinity or the first enabled host.  Caller frees. */
static char *choose_host(struct store_txn *t, struct engine *e, const struct value *vm, const char *asked,
			 struct xc_error *err)
{
	if (asked)
		return check_host(t, asked, err) < 0 ? NULL : xstrdup(asked);
	const char *h = pick_host(t, e, vm);
	if (!h) {
		xc_error_set(err, XC_ERR_NO_HOSTS_AVAILABLE);
		return NULL;
	}
	return xstrdup(h);
}

int vm_boot(struct op_ctx *c, const char *vm, const char *host, bool paused, struct xc_error *err)
{
	struct hv_domain_config cfg;
	struct store_txn *t = store_read(c->e->store);
	int rc = domain_config_build(t, vm, &cfg, err);
	store_commit(t, NULL);
	if (rc < 0)
		return -1;
	struct hv *hv = engine_hv_of_host(c->e, host);
	uint32_t domid = 0;
	if (!hv) {
		hv_domain_config_free(&cfg);
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", host);
		return -1;
	}
	rc = hv->ops->domain_create(hv, &cfg, paused, &domid, err);
	hv_domain_config_free(&cfg);
	if (rc < 0)
		return -1;
	if (task_cancelled(c)) {
		struct xc_error ignore = XC_ERROR_INIT;
		hv->ops->domain_destroy(hv, domid, &ignore);
		xc_error_clear(&ignore);
		return task_check_cancel(c, err);
	}
	struct place p = { host, domid, paused };
	t = store_write(c->e->store);
	if (apply_running(c, t, vm, &p, err) < 0 || store_commit(t, err) < 0) {
		if (store_txn_is_write(t))
			store_abort(t);
		return -1;
	}
	return 0;
}

static struct value *start(struct op_ctx *c, const char *vm, const char *host, bool paused, const char *op,
			   struct xc_error *err)
{
	struct value *rec = NULL;
	XC_AUTOFREE char *key = vm_op_begin(c, vm, op, &rec, err);
	if (!key)
		return NULL;
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOFREE char *chosen = choose_host(t, c->e, rec, host, err);
	int rc = chosen ? 0 : -1;
	store_commit(t, NULL);
	value_unref(rec);
	task_progress(c, 0.1);
	if (rc == 0)
		rc = task_check_cancel(c, err);
	if (rc == 0)
		rc = vm_boot(c, vm, chosen, paused, err);
	struct xc_error end = XC_ERROR_INIT;
	vm_op_end(c, vm, key, NULL, NULL, rc < 0 ? &end : err);
	xc_error_clear(&end);
	return rc < 0 ? NULL : void_result();
}

struct value *op_VM_start(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return start(c, value_str(args[0]), NULL, args[1]->u.b, "start", err);
}

struct value *op_VM_start_on(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	if (ref_check(c->e, "host", value_str(args[1]), err) < 0)
		return NULL;
	return start(c, value_str(args[0]), value_str(args[1]), args[2]->u.b, "start_on", err);
}

/* The running domain of a VM: its backend and domid. */
static struct hv *domain_of(struct op_ctx *c, const struct value *rec, uint32_t *domid, struct xc_error *err)
{
	struct hv *hv = engine_hv_of_host(c->e, rec_str(rec, "resident_on"));
	if (!hv) {
		xc_error_internal(err, "VM has no resident host");
		return NULL;
	}
	*domid = (uint32_t)rec_int(rec, "domid");
	return hv;
}

/* Runs fn on the VM's domain between vm_op_begin and vm_op_end. */
struct value *with_domain(struct op_ctx *c, const char *vm, const char *op,
				 int (*fn)(struct op_ctx *, const char *, const struct value *, struct hv *, uint32_t,
					   void *, struct xc_error *),
				 int (*apply)(struct op_ctx *, struct store_txn *, const char *, void *, struct xc_error *),
				 void *arg, struct xc_error *err)
{
	struct value *rec = NULL;
	XC_AUTOFREE char *key = vm_op_begin(c, vm, op, &rec, err);
	if (!key)
		return NULL;
	uint32_t domid = 0;
	struct hv *hv = domain_of(c, rec, &domid, err);
	int rc = hv ? fn(c, vm, rec, hv, domid, arg, err) : -1;
	value_unref(rec);
	if (rc < 0) {
		struct xc_error end = XC_ERROR_INIT;
		vm_op_end(c, vm, key, NULL, NULL, &end);
		xc_error_clear(&end);
		return NULL;
	}
	return vm_op_end(c, vm, key, apply, arg, err) < 0 ? NULL : void_result();
}

static int do_pause(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d, void *arg,
		    struct xc_error *err)
{
	return hv->ops->domain_pause(hv, d, err);
}

static int do_unpause(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d, void *arg,
		      struct xc_error *err)
{
	return hv->ops->domain_unpause(hv, d, err);
}

struct value *op_VM_pause(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return with_domain(c, value_str(args[0]), "pause", do_pause, apply_power, "Paused", err);
}

struct value *op_VM_unpause(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return with_domain(c, value_str(args[0]), "unpause", do_unpause, apply_power, "Running", err);
}

static int destroy_domain(struct hv *hv, uint32_t d, struct xc_error *err)
{
	return hv->ops->domain_destroy(hv, d, err);
}

/* Asks the guest to power off or reboot and waits until it has. */
static int guest_shutdown(struct op_ctx *c, struct hv *hv, uint32_t d, enum hv_shutdown_reason how,
			  struct xc_error *err)
{
	uint64_t seq = domwatch_seq(c->e);
	if (hv->ops->domain_shutdown(hv, d, how, err) < 0)
		return -1;
	for (;;) {
		struct hv_event ev;
		if (domwatch_wait(c, hv, d, seq, SHUTDOWN_TIMEOUT_MS, &ev, err) < 0)
			return -1;
		if (ev.state == HV_STATE_SHUTDOWN || ev.state == HV_STATE_GONE)
			break;
		seq = domwatch_seq(c->e) - 1;
	}
	return 0;
}

static int do_clean_shutdown(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv,
			     uint32_t d, void *arg, struct xc_error *err)
{
	task_progress(c, 0.2);
	if (guest_shutdown(c, hv, d, HV_SHUTDOWN_POWEROFF, err) < 0)
		return -1;
	struct xc_error ignore = XC_ERROR_INIT;
	destroy_domain(hv, d, &ignore); /* it may be gone already */
	xc_error_clear(&ignore);
	return 0;
}

static int drop_suspend_image(struct op_ctx *c, struct store_txn *t, const char *vm, struct xc_error *err)
{
	XC_AUTOVALUE *sv = store_get_field(t, dm_field_find(cls_of("VM"), "suspend_VDI"), vm, err);
	if (!sv)
		return -1;
	if (!ref_is_null(value_str(sv)) && store_exists(t, cls_of("VDI"), value_str(sv)) &&
	    vdi_file_destroy(t, value_str(sv), err) < 0)
		return -1;
	return set_str(t, cls_of("VM"), vm, "suspend_VDI", REF_NULL, err);
}

static int apply_halted_from_suspend(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg,
				     struct xc_error *err)
{
	if (drop_suspend_image(c, t, vm, err) < 0)
		return -1;
	return vm_state_halted(c->e, t, vm, err);
}

struct value *op_VM_clean_shutdown(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return with_domain(c, value_str(args[0]), "clean_shutdown", do_clean_shutdown, apply_halted, NULL, err);
}

struct value *op_VM_hard_shutdown(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vm = value_str(args[0]);
	struct value *rec = NULL;
	XC_AUTOFREE char *key = vm_op_begin(c, vm, "hard_shutdown", &rec, err);
	if (!key)
		return NULL;
	bool suspended = strcmp(rec_str(rec, "power_state"), "Suspended") == 0;
	int rc = 0;
	if (!suspended) {
		uint32_t domid = 0;
		struct hv *hv = domain_of(c, rec, &domid, err);
		rc = hv ? destroy_domain(hv, domid, err) : -1;
	}
	value_unref(rec);
	if (rc < 0) {
		struct xc_error end = XC_ERROR_INIT;
		vm_op_end(c, vm, key, NULL, NULL, &end);
		xc_error_clear(&end);
		return NULL;
	}
	return vm_op_end(c, vm, key, suspended ? apply_halted_from_suspend : apply_halted, NULL, err) < 0
		       ? NULL
		       : void_result();
}

static int reboot_with(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d,
		       bool clean, struct xc_error *err)
{
	if (clean && guest_shutdown(c, hv, d, HV_SHUTDOWN_REBOOT, err) < 0)
		return -1;
	struct xc_error ignore = XC_ERROR_INIT;
	if (destroy_domain(hv, d, clean ? &ignore : err) < 0 && !clean)
		return -1;
	xc_error_clear(&ignore);
	task_progress(c, 0.5);
	return vm_boot(c, vm, rec_str(rec, "resident_on"), false, err);
}

static int do_clean_reboot(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d, void *arg,
			   struct xc_error *err)
{
	return reboot_with(c, vm, rec, hv, d, true, err);
}

static int do_hard_reboot(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d, void *arg,
			  struct xc_error *err)
{
	return reboot_with(c, vm, rec, hv, d, false, err);
}

struct value *op_VM_clean_reboot(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return with_domain(c, value_str(args[0]), "clean_reboot", do_clean_reboot, NULL, NULL, err);
}

struct value *op_VM_hard_reboot(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return with_domain(c, value_str(args[0]), "hard_reboot", do_hard_reboot, NULL, NULL, err);
}

/* ---- suspend / resume ---- */

/* The SR suspend images go to: the pool's choice, else the host's. */
static char *suspend_sr(struct store_txn *t, struct engine *e, const char *host, struct xc_error *err)
{
	XC_AUTOVALUE *sr = store_get_field(t, dm_field_find(cls_of("pool"), "suspend_image_SR"), e->pool_ref, err);
	if (sr && !ref_is_null(value_str(sr)) && store_exists(t, cls_of("SR"), value_str(sr)))
		return xstrdup(value_str(sr));
	XC_AUTOVALUE *hsr = store_get_field(t, dm_field_find(cls_of("host"), "suspend_image_sr"), host, err);
	if (hsr && !ref_is_null(value_str(hsr)) && store_exists(t, cls_of("SR"), value_str(hsr)))
		return xstrdup(value_str(hsr));
	return NULL;
}

struct suspend_arg {
	char *vdi;
};

static int apply_suspended(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	struct suspend_arg *s = arg;
	return vm_state_suspended(c->e, t, vm, s->vdi, err);
}

struct value *op_VM_suspend(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vm = value_str(args[0]);
	struct value *rec = NULL;
	XC_AUTOFREE char *key = vm_op_begin(c, vm, "suspend", &rec, err);
	if (!key)
		return NULL;
	uint32_t domid = 0;
	struct hv *hv = domain_of(c, rec, &domid, err);
	struct suspend_arg s = { NULL };
	XC_AUTOFREE char *path = NULL;
	int rc = hv ? 0 : -1;
	if (rc == 0) {
		/* The image VDI first, so a failure leaves no domain half-saved. */
		struct store_txn *t = store_write(c->e->store);
		XC_AUTOFREE char *sr = suspend_sr(t, c->e, rec_str(rec, "resident_on"), err);
		if (!sr) {
			if (!xc_error_isset(err))
				xc_error_set(err, XC_ERR_VM_NO_SUSPEND_SR, vm);
			rc = -1;
		} else {
			XC_AUTOFREE char *label = xasprintf("Suspend image for %s", rec_str(rec, "name_label"));
			struct vdi_spec spec = { .name_label = label, .name_description = "Saved memory of a suspended VM",
						 .virtual_size = rec_int(rec, "memory_static_max") + (1 << 20),
						 .type = "suspend" };
			s.vdi = vdi_file_create(t, sr, &spec, err);
			path = s.vdi ? vdi_file_path(t, s.vdi, err) : NULL;
			rc = path ? 0 : -1;
		}
		if (rc == 0)
			rc = store_commit(t, err);
		else
			store_abort(t);
	}
	task_progress(c, 0.2);
	if (rc == 0)
		rc = task_check_cancel(c, err);
	if (rc == 0)
		rc = hv->ops->domain_suspend(hv, domid, path, err);
	value_unref(rec);
	if (rc < 0) {
		if (s.vdi) {
			struct store_txn *t = store_write(c->e->store);
			struct xc_error ignore = XC_ERROR_INIT;
			if (vdi_file_destroy(t, s.vdi, &ignore) < 0)
				store_abort(t);
			else
				store_commit(t, &ignore);
			xc_error_clear(&ignore);
		}
		free(s.vdi);
		struct xc_error end = XC_ERROR_INIT;
		vm_op_end(c, vm, key, NULL, NULL, &end);
		xc_error_clear(&end);
		return NULL;
	}
	rc = vm_op_end(c, vm, key, apply_suspended, &s, err);
	free(s.vdi);
	return rc < 0 ? NULL : void_result();
}

static int apply_resumed(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	if (apply_running(c, t, vm, arg, err) < 0)
		return -1;
	return drop_suspend_image(c, t, vm, err);
}

static struct value *resume(struct op_ctx *c, const char *vm, const char *host, bool paused, const char *op,
			    struct xc_error *err)
{
	struct value *rec = NULL;
	XC_AUTOFREE char *key = vm_op_begin(c, vm, op, &rec, err);
	if (!key)
		return NULL;
	struct hv_domain_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOFREE char *chosen = choose_host(t, c->e, rec, host, err);
	int rc = chosen ? 0 : -1;
	XC_AUTOFREE char *path = NULL;
	if (rc == 0) {
		const char *sv = rec_str(rec, "suspend_VDI");
		path = vdi_file_path(t, sv, err);
		rc = path ? domain_config_build(t, vm, &cfg, err) : -1;
	}
	store_commit(t, NULL);
	value_unref(rec);
	struct hv *hv = chosen ? engine_hv_of_host(c->e, chosen) : NULL;
	uint32_t domid = 0;
	if (rc == 0)
		rc = task_check_cancel(c, err);
	if (rc == 0)
		rc = hv->ops->domain_restore(hv, &cfg, path, paused, &domid, err);
	hv_domain_config_free(&cfg);
	if (rc < 0) {
		struct xc_error end = XC_ERROR_INIT;
		vm_op_end(c, vm, key, NULL, NULL, &end);
		xc_error_clear(&end);
		return NULL;
	}
	struct place p = { chosen, domid, paused };
	return vm_op_end(c, vm, key, apply_resumed, &p, err) < 0 ? NULL : void_result();
}

struct value *op_VM_resume(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return resume(c, value_str(args[0]), NULL, args[1]->u.b, "resume", err);
}

struct value *op_VM_resume_on(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	if (ref_check(c->e, "host", value_str(args[1]), err) < 0)
		return NULL;
	return resume(c, value_str(args[0]), value_str(args[1]), args[2]->u.b, "resume_on", err);
}

/* ---- migration ---- */

struct migrate_arg {
	const char *dest;
	struct hv *dest_hv;
	uint32_t new_domid;
};

static int apply_migrated(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	struct migrate_arg *m = arg;
	const struct dm_class *vc = cls_of("VM");
	XC_AUTOVALUE *old = store_get_field(t, dm_field_find(vc, "resident_on"), vm, err);
	if (!old || set_str(t, vc, vm, "resident_on", m->dest, err) < 0 ||
	    set_int(t, vc, vm, "domid", m->new_domid, err) < 0)
		return -1;
	if (host_metrics_refresh(c->e, t, value_str(old), err) < 0)
		return -1;
	return host_metrics_refresh(c->e, t, m->dest, err);
}

struct value *op_VM_pool_migrate(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vm = value_str(args[0]);
	struct migrate_arg m = { value_str(args[1]), engine_hv_of_host(c->e, value_str(args[1])), 0 };
	if (!m.dest_hv) {
		xc_error_set(err, XC_ERR_HANDLE_INVALID, "host", m.dest);
		return NULL;
	}
	struct value *rec = NULL;
	XC_AUTOFREE char *key = vm_op_begin(c, vm, "pool_migrate", &rec, err);
	if (!key)
		return NULL;
	struct store_txn *t = store_read(c->e->store);
	int rc = check_host(t, m.dest, err);
	store_commit(t, NULL);
	uint32_t domid = 0;
	struct hv *hv = rc == 0 ? domain_of(c, rec, &domid, err) : NULL;
	value_unref(rec);
	if (hv && rc == 0)
		rc = task_check_cancel(c, err);
	if (hv && rc == 0) {
		task_progress(c, 0.3);
		if (hv == m.dest_hv)
			m.new_domid = domid; /* to itself: nothing moves */
		else
			rc = hv->ops->domain_migrate(hv, domid, m.dest_hv, &m.new_domid, err);
	}
	if (!hv || rc < 0) {
		struct xc_error end = XC_ERROR_INIT;
		vm_op_end(c, vm, key, NULL, NULL, &end);
		xc_error_clear(&end);
		return NULL;
	}
	return vm_op_end(c, vm, key, apply_migrated, &m, err) < 0 ? NULL : void_result();
}

/* ---- small ones ---- */

static int do_sysrq(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d, void *arg,
		    struct xc_error *err)
{
	return hv->ops->send_sysrq(hv, d, *(const char *)arg, err);
}

struct value *op_VM_send_sysrq(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *key = value_str(args[1]);
	if (strlen(key) != 1) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "key", key);
		return NULL;
	}
	return with_domain(c, value_str(args[0]), "send_sysrq", do_sysrq, NULL, (void *)key, err);
}

static int do_trigger(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d,
		      void *arg, struct xc_error *err)
{
	if (hv_send_trigger(hv, d, arg, err) == 0)
		return 0;
	/* The backend knows the domain's uuid; the caller gave a VM ref. */
	if (err->code == XC_ERR_VM_HVM_REQUIRED) {
		xc_error_clear(err);
		xc_error_set(err, XC_ERR_VM_HVM_REQUIRED, vm);
	}
	return -1;
}

/* Triggers as libxl names them; the backend says which exist and which
 * need an HVM guest.  What the guest does follows as events (power off,
 * reset), the same way as for send_sysrq. */
struct value *op_VM_send_trigger(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return with_domain(c, value_str(args[0]), "send_trigger", do_trigger, NULL, (void *)value_str(args[1]), err);
}

struct value *op_VM_power_state_reset(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vm = value_str(args[0]);
	struct store_txn *t = store_write(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("VM"), vm, err);
	if (!rec || (rec_bool(rec, "is_control_domain") &&
		     (xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED, "This operation is not allowed on a control domain"), 1))) {
		store_abort(t);
		return NULL;
	}
	XC_AUTOVALUE *none = value_new_struct(0);
	if (set_value(t, cls_of("VM"), vm, "current_operations", none, err) < 0 ||
	    drop_suspend_image(c, t, vm, err) < 0 || vm_state_halted(c->e, t, vm, err) < 0 ||
	    vm_update_allowed(t, vm, err) < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}

/* ---- guests acting on their own ---- */

static bool owns_domain_outcome(const struct value *current)
{
	static const char *const owners[] = { "start", "start_on", "clean_shutdown", "clean_reboot",
					      "hard_shutdown", "hard_reboot", "suspend", "resume", "resume_on",
					      "pool_migrate", "power_state_reset", NULL };
	for (size_t i = 0; i < value_len(current); i++)
		for (const char *const *o = owners; *o; o++)
			if (strcmp(value_str(current->u.st.m[i].val), *o) == 0)
				return true;
	return false;
}

void vm_react(struct engine *e, struct hv *hv, const struct hv_event *ev)
{
	struct store_txn *t = store_read(e->store);
	XC_AUTOFREE char *vm = store_ref_by_uuid(t, cls_of("VM"), ev->uuid);
	struct xc_error err = XC_ERROR_INIT;
	XC_AUTOVALUE *rec = vm ? store_get_record(t, cls_of("VM"), vm, &err) : NULL;
	store_commit(t, NULL);
	xc_error_clear(&err);
	/* An operation of ours that stops or replaces the domain handles its
	 * own outcome; others (send_sysrq, pause...) do not, so react. */
	if (!rec || owns_domain_outcome(rec_get(rec, "current_operations")) ||
	    (uint32_t)rec_int(rec, "domid") != ev->domid ||
	    (strcmp(rec_str(rec, "power_state"), "Running") != 0 && strcmp(rec_str(rec, "power_state"), "Paused") != 0))
		return;
	const char *action = "destroy";
	switch (ev->reason) {
	case HV_SHUTDOWN_POWEROFF:
		action = rec_str(rec, "actions_after_shutdown");
		break;
	case HV_SHUTDOWN_REBOOT:
		action = rec_str(rec, "actions_after_reboot");
		break;
	case HV_SHUTDOWN_CRASH:
		action = rec_str(rec, "actions_after_crash");
		break;
	case HV_SHUTDOWN_SUSPEND:
	case HV_SHUTDOWN_NONE:
		action = "destroy";
		break;
	}
	if (ev->state == HV_STATE_GONE)
		action = "destroy";
	if (strcmp(action, "preserve") == 0) {
		log_info("VM %s crashed; preserved for inspection", rec_str(rec, "name_label"));
		return;
	}
	bool restart = strstr(action, "restart") != NULL;
	log_info("VM %s: guest %s; %s", rec_str(rec, "name_label"),
		 ev->reason == HV_SHUTDOWN_CRASH ? "crashed" : ev->reason == HV_SHUTDOWN_REBOOT ? "rebooted" : "halted",
		 restart ? "restarting" : "halting");
	struct op_ctx c = { .e = e, .msg = dm_message_find(restart ? "VM.hard_reboot" : "VM.hard_shutdown") };
	struct call_ctx cc = { true, "guest" };
	c.cc = &cc;
	XC_AUTOFREE char *key = vm_op_begin(&c, vm, restart ? "hard_reboot" : "hard_shutdown", NULL, &err);
	if (!key) {
		xc_error_clear(&err);
		return;
	}
	struct xc_error ignore = XC_ERROR_INIT;
	if (ev->state != HV_STATE_GONE)
		hv->ops->domain_destroy(hv, ev->domid, &ignore);
	xc_error_clear(&ignore);
	int rc = restart ? vm_boot(&c, vm, rec_str(rec, "resident_on"), false, &err) : 0;
	if (rc < 0) {
		log_warn("VM %s did not restart: %s", rec_str(rec, "name_label"), xc_error_wire_code(&err));
		xc_error_clear(&err);
		restart = false;
	}
	vm_op_end(&c, vm, key, restart ? NULL : apply_halted, NULL, &err);
	xc_error_clear(&err);
}
