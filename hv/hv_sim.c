/* The simulated Xen host: its driver table, opening and closing it, the
 * entry/exit of every call (locking, fault injection, host power), simulated
 * time, and the debug dump.  The concerns live beside it: hv_sim_host.c
 * (host facts, power), hv_sim_domain.c (domains, memory), hv_sim_save.c
 * (suspend, restore, migrate), hv_sim_device.c (disks, vifs),
 * hv_sim_console.c (ptys), hv_sim_guest.c + hv_sim_shell.c (the guest),
 * hv_sim_loop.c (the thread), hv_sim_fault.c (XCON_SIM_FAIL). */
#include "hv_sim.h"
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/xalloc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define LOG_MODULE "hv.sim"

static void sim_close(struct hv *hv);

const struct hv_ops hv_sim_ops = {
	.name = "sim",
	.close = sim_close,
	.host_info = hv_sim_host_info,
	.host_memory = hv_sim_host_memory,
	.domain_create = hv_sim_dom_create,
	.domain_pause = hv_sim_dom_pause,
	.domain_unpause = hv_sim_dom_unpause,
	.domain_shutdown = hv_sim_dom_shutdown,
	.domain_destroy = hv_sim_dom_destroy,
	.domain_suspend = hv_sim_save_suspend,
	.domain_restore = hv_sim_save_restore,
	.disk_add = hv_sim_device_disk_add,
	.disk_remove = hv_sim_device_disk_remove,
	.disk_change_media = hv_sim_device_disk_change_media,
	.vif_add = hv_sim_device_vif_add,
	.vif_remove = hv_sim_device_vif_remove,
	.set_vcpus = hv_sim_dom_set_vcpus,
	.set_memory_target = hv_sim_dom_set_memory_target,
	.send_sysrq = hv_sim_dom_send_sysrq,
	.console_pty = hv_sim_dom_console_pty,
	.domain_list = hv_sim_dom_list,
	.domain_migrate = hv_sim_save_migrate,
	.host_reboot = hv_sim_host_reboot,
	.host_shutdown = hv_sim_host_shutdown,
	.xenstore_read = hv_sim_dom_xenstore_read,
	.send_trigger = hv_sim_xen_send_trigger,
	.disk_resize = hv_sim_device_disk_resize,
	.host_dmesg = hv_sim_xen_dmesg,
	.host_debug_keys = hv_sim_xen_debug_keys,
};

int64_t hv_sim_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SIM_NS + ts.tv_nsec;
}

static int read_scale(double *scale, struct xc_error *err)
{
	const char *s = getenv("XCON_SIM_TIME_SCALE");
	*scale = 1.0;
	if (!s || !*s)
		return 0;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < 0 || v > 1000) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "XCON_SIM_TIME_SCALE", s);
		return -1;
	}
	*scale = v;
	return 0;
}

/* 1,000 domains hold 2,000 pty descriptors: lift the soft limit if it is
 * lower than that and the hard one allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= 8192)
		return;
	rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 8192 ? 8192 : rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct hv *hv_sim_open(const char *name, unsigned index, const char *state_dir,
		       hv_event_fn fn, void *cookie, struct xc_error *err)
{
	struct sim_host *h = xcalloc(1, sizeof(*h));
	h->hv.ops = &hv_sim_ops;
	h->hv.on_event = fn;
	h->hv.on_event_cookie = cookie;
	h->index = index;
	h->state_dir = state_dir ? xstrdup(state_dir) : NULL;
	h->next_domid = 1;
	h->power = SIM_HOST_UP;
	h->power_due = SIM_NEVER;
	h->armed = SIM_NEVER;
	h->epfd = h->wakefd = h->timerfd = -1;
	h->boot_wall = time(NULL);
	hv_sim_xen_boot(h);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cond, &ca);
	pthread_condattr_destroy(&ca);

	if (read_scale(&h->scale, err) < 0 ||
	    hv_sim_fault_parse(getenv("XCON_SIM_FAIL"), &h->faults, &h->nfaults, err) < 0 ||
	    hv_sim_host_load(h, name, err) < 0 || hv_sim_loop_start(h, err) < 0) {
		hv_sim_free(h);
		return NULL;
	}
	raise_fd_limit();
	log_info("simulated host %s (index %u): %llu MiB, %llu MiB free, %u CPUs, time scale %g",
		 h->hostname, index, (unsigned long long)(h->mem_total / SIM_MIB),
		 (unsigned long long)(hv_sim_host_memory_free(h) / SIM_MIB), h->ncpus, h->scale);
	return &h->hv;
}

static void kill_each(const char *key, void *val, void *cookie)
{
	struct sim_dom ***pp = cookie;
	*(*pp)++ = val;
}

void hv_sim_free(struct sim_host *h)
{
	if (h->ndoms) {
		struct sim_dom **all = xcalloc(h->ndoms, sizeof(*all)), **p = all;
		unsigned n = h->ndoms;
		strmap_each(&h->doms, kill_each, &p);
		for (unsigned i = 0; i < n; i++)
			hv_sim_dom_kill(all[i]);
		free(all);
	}
	strmap_clear(&h->doms, NULL);
	strmap_clear(&h->uuids, NULL);
	hv_sim_loop_free(h);
	free(h->cpus);
	free(h->faults);
	free(h->hostname);
	free(h->state_dir);
	buf_free(&h->conring);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void sim_close(struct hv *hv)
{
	struct sim_host *h = (struct sim_host *)hv;
	pthread_mutex_lock(&h->lock);
	h->closing = true;
	pthread_cond_broadcast(&h->cond);
	while (h->inflight)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	log_info("simulated host %s closing", h->hostname);
	if (hv_sim_loop_stop(h))
		hv_sim_free(h);
}

struct sim_host *hv_sim_begin(struct hv *hv, enum sim_op op, bool need_up, struct xc_error *err)
{
	struct sim_host *h = (struct sim_host *)hv;
	pthread_mutex_lock(&h->lock);
	if (h->closing) {
		xc_error_internal(err, "simulated host %s is closing", h->hostname);
	} else if (hv_sim_fault_hit(h, op)) {
		char msg[64];
		snprintf(msg, sizeof(msg), "simulated failure of %s", hv_sim_op_name(op));
		log_info("host %s: %s (call %lu)", h->hostname, msg, h->calls[op]);
		xc_error_set(err, XC_ERR_INTERNAL_ERROR, msg);
	} else if (need_up && h->power != SIM_HOST_UP) {
		xc_error_set(err, XC_ERR_HOST_OFFLINE, h->hostname);
	} else {
		h->inflight++;
		return h;
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

void hv_sim_end(struct sim_host *h)
{
	h->inflight--;
	if (h->closing && !h->inflight)
		pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

bool hv_sim_sleep(struct sim_host *h, double secs)
{
	double s = secs * h->scale;
	if (s <= 0)
		return !h->closing;
	int64_t until = hv_sim_now() + (int64_t)(s * SIM_NS);
	struct timespec ts = { .tv_sec = until / SIM_NS, .tv_nsec = until % SIM_NS };
	while (!h->closing && hv_sim_now() < until)
		pthread_cond_timedwait(&h->cond, &h->lock, &ts);
	return !h->closing;
}

/* Key-value lists: small, so a linear search serves. */

void hv_sim_kvs_set(struct sim_kvs *kv, const char *key, const char *value)
{
	for (unsigned i = 0; i < kv->n; i++) {
		if (strcmp(kv->v[i].key, key) == 0) {
			free(kv->v[i].value);
			kv->v[i].value = xstrdup(value);
			return;
		}
	}
	kv->v = xreallocarray(kv->v, kv->n + 1, sizeof(*kv->v));
	kv->v[kv->n].key = xstrdup(key);
	kv->v[kv->n].value = xstrdup(value);
	kv->n++;
}

const char *hv_sim_kvs_get(const struct sim_kvs *kv, const char *key)
{
	for (unsigned i = 0; i < kv->n; i++)
		if (strcmp(kv->v[i].key, key) == 0)
			return kv->v[i].value;
	return NULL;
}

void hv_sim_kvs_copy(struct sim_kvs *dst, const struct hv_kv *src, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (src[i].key)
			hv_sim_kvs_set(dst, src[i].key, src[i].value ? src[i].value : "");
}

void hv_sim_kvs_free(struct sim_kvs *kv)
{
	for (unsigned i = 0; i < kv->n; i++) {
		free(kv->v[i].key);
		free(kv->v[i].value);
	}
	free(kv->v);
	kv->v = NULL;
	kv->n = 0;
}

int hv_sim_set_faults(struct hv *hv, const char *spec, struct xc_error *err)
{
	if (!hv || hv->ops != &hv_sim_ops) {
		xc_error_set(err, XC_ERR_NOT_IMPLEMENTED, "hv_sim_set_faults");
		return -1;
	}
	struct sim_host *h = (struct sim_host *)hv;
	struct sim_fault *f;
	unsigned n;
	if (hv_sim_fault_parse(spec, &f, &n, err) < 0)
		return -1;
	pthread_mutex_lock(&h->lock);
	free(h->faults);
	h->faults = f;
	h->nfaults = n;
	memset(h->calls, 0, sizeof(h->calls));
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static void dump_kvs(struct buf *b, const char *what, const struct sim_kvs *kv)
{
	for (unsigned i = 0; i < kv->n; i++)
		buf_printf(b, "  %s %s=%s\n", what, kv->v[i].key, kv->v[i].value);
}

static void dump_dom(struct buf *b, const struct sim_dom *d, int64_t now)
{
	buf_printf(b, "domain %u uuid=%s name=%s state=%s reason=%s memory=%llu static_max=%llu "
		   "vcpus=%u/%u hvm=%d cpu_time=%.3f busy=%s guest=%s console=%s\n",
		   d->domid, d->uuid, d->name, hv_state_name(d->state), hv_reason_name(d->reason),
		   (unsigned long long)d->memory, (unsigned long long)d->static_max, d->vcpus,
		   d->vcpus_max, d->hvm, hv_sim_dom_cpu_time(d, now), d->busy ? d->busy : "-",
		   hv_sim_guest_stage_name(d->g.stage), d->con.master >= 0 ? d->con.path : "-");
	for (unsigned i = 0; i < d->ndisks; i++) {
		const struct sim_disk *k = &d->disks[i];
		buf_printf(b, "  disk %s target=%s mode=%s cdrom=%d bootable=%d\n", k->vdev,
			   k->target ? k->target : "-", k->mode == HV_DISK_RW ? "rw" : "ro",
			   k->cdrom, k->bootable);
	}
	for (unsigned i = 0; i < d->nvifs; i++) {
		const struct sim_vif *v = &d->vifs[i];
		buf_printf(b, "  vif %s mac=%s bridge=%s mtu=%u", v->devid, v->mac,
			   v->bridge ? v->bridge : "-", hv_sim_device_vif_mtu(v));
		for (unsigned j = 0; j < v->settings.n; j++)
			buf_printf(b, " %s=%s", v->settings.v[j].key, v->settings.v[j].value);
		buf_addc(b, '\n');
	}
	dump_kvs(b, "xenstore", &d->xs);
	dump_kvs(b, "guest-xenstore", &d->g.xs);
}

struct dump_ctx {
	const struct sim_dom **v;
	unsigned n;
};

static void dump_each(const char *key, void *val, void *cookie)
{
	struct dump_ctx *c = cookie;
	c->v[c->n++] = val;
}

static int by_domid(const void *a, const void *b)
{
	const struct sim_dom *x = *(const struct sim_dom *const *)a, *y = *(const struct sim_dom *const *)b;
	return x->domid < y->domid ? -1 : x->domid > y->domid;
}

char *hv_sim_debug_dump(struct hv *hv)
{
	if (!hv || hv->ops != &hv_sim_ops)
		return NULL;
	struct sim_host *h = (struct sim_host *)hv;
	static const char *const power[] = { "up", "rebooting", "down" };
	struct buf b = BUF_INIT;
	pthread_mutex_lock(&h->lock);
	int64_t now = hv_sim_now();
	buf_printf(&b, "host %s index=%u power=%s memory_total=%llu memory_free=%llu dom0=%llu "
		   "overhead=%llu reserved=%llu domains=%u next_domid=%u\n", h->hostname, h->index,
		   power[h->power], (unsigned long long)h->mem_total,
		   (unsigned long long)hv_sim_host_memory_free(h), (unsigned long long)h->mem_dom0,
		   (unsigned long long)h->mem_overhead, (unsigned long long)h->mem_reserved,
		   h->ndoms, h->next_domid);
	struct dump_ctx c = { xcalloc(h->ndoms + 1, sizeof(*c.v)), 0 };
	strmap_each(&h->doms, dump_each, &c);
	qsort(c.v, c.n, sizeof(*c.v), by_domid);
	for (unsigned i = 0; i < c.n; i++)
		dump_dom(&b, c.v[i], now);
	pthread_mutex_unlock(&h->lock);
	free(c.v);
	return buf_steal(&b, NULL);
}
