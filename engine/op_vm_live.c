/* Changes to a running VM: VCPUs and memory target live, scheduler and
 * shadow settings, and the read-only questions about its configuration. */
#include "ops.h"
#include "vm_life.h"

#include <stdio.h>
#include <string.h>

#include "../util/uuid.h"

/* A live change: the value, and the backend call that applies it. */
struct live_req {
	int64_t n;
	int (*hv_call)(struct hv *hv, uint32_t domid, int64_t n, struct xc_error *err);
};

static int call_vcpus(struct hv *hv, uint32_t d, int64_t n, struct xc_error *err)
{
	return hv->ops->set_vcpus(hv, d, (unsigned)n, err);
}

static int call_memory(struct hv *hv, uint32_t d, int64_t n, struct xc_error *err)
{
	return hv->ops->set_memory_target(hv, d, (uint64_t)n, err);
}

static int do_live(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d, void *arg,
		   struct xc_error *err)
{
	const struct live_req *req = arg;
	return req->hv_call(hv, d, req->n, err);
}

/* Sets one field of the VM's metrics record, if it has one. */
static int set_metric(struct store_txn *t, const char *vm, const char *field, int64_t v, struct xc_error *err)
{
	XC_AUTOVALUE *m = store_get_field(t, dm_field_find(cls_of("VM"), "metrics"), vm, err);
	if (!m)
		return -1;
	if (!ref_is_null(value_str(m)) && store_exists(t, cls_of("VM_metrics"), value_str(m)))
		return set_int(t, cls_of("VM_metrics"), value_str(m), field, v, err);
	return 0;
}

static int apply_vcpus(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	return set_metric(t, vm, "VCPUs_number", ((const struct live_req *)arg)->n, err);
}

static struct value *read_vm(struct op_ctx *c, const char *vm, struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	struct value *rec = store_get_record(t, cls_of("VM"), vm, err);
	store_commit(t, NULL);
	return rec;
}

struct value *op_VM_set_VCPUs_number_live(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vm = value_str(args[0]);
	XC_AUTOVALUE *rec = read_vm(c, vm, err);
	if (!rec)
		return NULL;
	int64_t n = args[1]->u.i;
	if (n < 1 || n > rec_int(rec, "VCPUs_max")) {
		char v[32];
		snprintf(v, sizeof(v), "%lld", (long long)n);
		xc_error_set(err, XC_ERR_INVALID_VALUE, "nvcpu", v);
		return NULL;
	}
	struct live_req req = { n, call_vcpus };
	return with_domain(c, vm, "changing_VCPUs_live", do_live, apply_vcpus, &req, err);
}

static int apply_memory(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	int64_t n = ((const struct live_req *)arg)->n;
	if (set_int(t, cls_of("VM"), vm, "memory_target", n, err) < 0)
		return -1;
	return set_metric(t, vm, "memory_actual", n, err);
}

struct value *op_VM_set_memory_target_live(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *vm = value_str(args[0]);
	XC_AUTOVALUE *rec = read_vm(c, vm, err);
	if (!rec)
		return NULL;
	int64_t target = args[1]->u.i;
	if (target < rec_int(rec, "memory_static_min") || target > rec_int(rec, "memory_static_max")) {
		xc_error_set(err, XC_ERR_MEMORY_CONSTRAINT_VIOLATION,
			     "The memory target must lie between memory_static_min and memory_static_max");
		return NULL;
	}
	struct live_req req = { target, call_memory };
	return with_domain(c, vm, "changing_memory_live", do_live, apply_memory, &req, err);
}

static int no_backend(struct op_ctx *c, const char *vm, const struct value *rec, struct hv *hv, uint32_t d, void *arg,
		      struct xc_error *err)
{
	return 0; /* the setting is the scheduler's / shadow allocator's: recorded, nothing to call */
}

static int apply_vcpus_param(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	struct value *const *kv = arg;
	XC_AUTOVALUE *cur = store_get_field(t, dm_field_find(cls_of("VM"), "VCPUs_params"), vm, err);
	if (!cur)
		return -1;
	XC_AUTOVALUE *next = value_copy(cur);
	value_struct_set(next, value_str(kv[0]), value_ref(kv[1]));
	return set_value(t, cls_of("VM"), vm, "VCPUs_params", next, err);
}

struct value *op_VM_add_to_VCPUs_params_live(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return with_domain(c, value_str(args[0]), "changing_VCPUs_live", no_backend, apply_vcpus_param,
			   (void *)(args + 1), err);
}

static int apply_shadow(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg, struct xc_error *err)
{
	return set_float(t, cls_of("VM"), vm, "HVM_shadow_multiplier", *(double *)arg, err);
}

struct value *op_VM_set_shadow_multiplier_live(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	double m = args[1]->u.f;
	if (!(m >= 1.0)) {
		char v[32];
		snprintf(v, sizeof(v), "%g", m);
		xc_error_set(err, XC_ERR_INVALID_VALUE, "multiplier", v);
		return NULL;
	}
	return with_domain(c, value_str(args[0]), "changing_shadow_memory_live", no_backend, apply_shadow, &m, err);
}

/* The record as it boots: a 4.1 host keeps no separate copy, so the
 * current configuration is the boot record. */
struct value *op_VM_get_boot_record(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return read_vm(c, value_str(args[0]), err);
}

/* Without per-domain overhead to subtract, all of `total` can be guest
 * memory; `approximate` rounds down to a whole MiB as xapi's answer does. */
struct value *op_VM_maximise_memory(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	XC_AUTOVALUE *rec = read_vm(c, value_str(args[0]), err);
	if (!rec)
		return NULL;
	int64_t total = args[1]->u.i;
	if (total < 0)
		total = 0;
	if (args[2]->u.b)
		total &= ~(int64_t)((1 << 20) - 1);
	return value_new_int(total);
}

/* Whether the VM could start on host now: enabled, and its memory fits. */
static int can_boot_here(struct op_ctx *c, const struct value *rec, const char *vm, const char *host,
			 struct xc_error *err)
{
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *en = store_get_field(t, dm_field_find(cls_of("host"), "enabled"), host, err);
	store_commit(t, NULL);
	if (!en)
		return -1;
	if (!en->u.b) {
		xc_error_set(err, XC_ERR_HOST_DISABLED, host);
		return -1;
	}
	struct hv *hv = engine_hv_of_host(c->e, host);
	uint64_t total = 0, free_bytes = 0;
	if (!hv || !hv->ops->host_memory || hv->ops->host_memory(hv, &total, &free_bytes, err) < 0)
		return hv ? -1 : (xc_error_set(err, XC_ERR_HOST_OFFLINE, host), -1);
	int64_t need = rec_int(rec, "memory_static_max");
	if (need > (int64_t)free_bytes) {
		char n[32], a[32];
		snprintf(n, sizeof(n), "%lld", (long long)need);
		snprintf(a, sizeof(a), "%llu", (unsigned long long)free_bytes);
		xc_error_set(err, XC_ERR_HOST_NOT_ENOUGH_FREE_MEMORY, n, a);
		return -1;
	}
	(void)vm;
	return 0;
}

struct value *op_VM_assert_can_boot_here(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	XC_AUTOVALUE *rec = read_vm(c, value_str(args[0]), err);
	if (!rec || ref_check(c->e, "host", value_str(args[1]), err) < 0 ||
	    can_boot_here(c, rec, value_str(args[0]), value_str(args[1]), err) < 0)
		return NULL;
	return void_result();
}

struct value *op_VM_get_possible_hosts(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	XC_AUTOVALUE *rec = read_vm(c, value_str(args[0]), err);
	if (!rec)
		return NULL;
	struct value *hosts = value_new_array(c->e->nhosts);
	for (unsigned i = 0; i < c->e->nhosts; i++) {
		struct xc_error no = XC_ERROR_INIT;
		if (can_boot_here(c, rec, value_str(args[0]), c->e->host_refs[i], &no) == 0)
			value_array_push_string(hosts, c->e->host_refs[i]);
		xc_error_clear(&no);
	}
	return hosts;
}
