/* Simulated domains: creation, the power state machine, memory and vcpu
 * book-keeping, and the small per-domain calls (sysrq, console path,
 * xenstore, list).
 *
 * A domain's state (what hv_domain_info reports):
 *
 *                 create(paused)                 unpause
 *    (none) ------------------------> PAUSED -----------------> RUNNING
 *       |                                ^  <-----------------     |
 *       |  create                        |        pause            |
 *       +----------------------------------------------------------+
 *                                                                  | guest powers off, reboots
 *                                                                  | or crashes (hv_sim_dom_shutdown_done:
 *                                                                  | an event); suspend saving
 *                                                                  v
 *                                                        SHUTDOWN(reason)
 *
 *    any state -- destroy, suspend done, migrated away, host down --> GONE (freed)
 *
 * While created it is PAUSED and busy ("create") for ~300 ms (scaled).
 * Domids count up from 1 per host (dom0 is 0 and implicit), wrap below
 * DOMID_FIRST_RESERVED as Xen does, and restart at 1 when the host reboots.
 * A domain's memory is its target at creation; it counts against the
 * host's free memory from creation until it is gone.
 */
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MODULE "hv.sim.domain"

#define CREATE_SECONDS 0.3
#define DESTROY_SECONDS 0.05
#define CPU_LOAD 0.02   /* an idle guest keeps 2% of each vcpu busy */

static atomic_uint_fast64_t serials;

static void domid_key(uint32_t domid, char k[12])
{
	snprintf(k, 12, "%u", domid);
}

struct sim_dom *hv_sim_dom_find(const struct sim_host *h, uint32_t domid)
{
	char k[12];
	domid_key(domid, k);
	return strmap_get(&h->doms, k);
}

struct sim_dom *hv_sim_dom_get(struct sim_host *h, uint32_t domid, bool idle, struct xc_error *err)
{
	if (domid == 0) {
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED,
			     "domain 0 is the control domain and cannot be changed");
		return NULL;
	}
	struct sim_dom *d = hv_sim_dom_find(h, domid);
	if (!d) {
		xc_error_internal(err, "domain %u does not exist on %s", domid, h->hostname);
		return NULL;
	}
	if (idle && d->busy) {
		xc_error_internal(err, "domain %u is busy (%s)", domid, d->busy);
		return NULL;
	}
	return d;
}

struct sim_dom *hv_sim_dom_live(struct sim_host *h, uint32_t domid, bool idle,
				const char *expected, struct xc_error *err)
{
	struct sim_dom *d = hv_sim_dom_get(h, domid, idle, err);
	if (d && d->state == HV_STATE_SHUTDOWN) {
		hv_sim_dom_err_state(err, d, expected);
		return NULL;
	}
	return d;
}

void hv_sim_dom_err_state(struct xc_error *err, const struct sim_dom *d, const char *expected)
{
	const char *actual = d->state == HV_STATE_RUNNING ? "Running"
			   : d->state == HV_STATE_PAUSED ? "Paused"
			   : d->reason == HV_SHUTDOWN_SUSPEND ? "Suspended" : "Halted";
	xc_error_set(err, XC_ERR_VM_BAD_POWER_STATE, d->uuid, expected, actual);
}

int hv_sim_dom_admit(struct sim_host *h, const char *uuid, uint64_t memory, struct xc_error *err)
{
	struct sim_dom *other = uuid ? strmap_get(&h->uuids, uuid) : NULL;
	if (other) {
		char domid[12];
		domid_key(other->domid, domid);
		xc_error_set(err, XC_ERR_DOMAIN_EXISTS, uuid, domid);
		return -1;
	}
	uint64_t avail = hv_sim_host_memory_free(h);
	if (memory > avail) {
		char need[24], have[24];
		snprintf(need, sizeof(need), "%llu", (unsigned long long)memory);
		snprintf(have, sizeof(have), "%llu", (unsigned long long)avail);
		xc_error_set(err, XC_ERR_HOST_NOT_ENOUGH_FREE_MEMORY, need, have);
		return -1;
	}
	return 0;
}

uint32_t hv_sim_dom_alloc_domid(struct sim_host *h)
{
	for (unsigned tries = 0; tries < SIM_DOMID_MAX; tries++) {
		uint32_t id = h->next_domid++;
		if (h->next_domid > SIM_DOMID_MAX)
			h->next_domid = 1;
		if (!hv_sim_dom_find(h, id))
			return id;
	}
	return 0;
}

void hv_sim_dom_insert(struct sim_host *h, struct sim_dom *d)
{
	char k[12];
	domid_key(d->domid, k);
	d->host = h;
	strmap_put(&h->doms, k, d);
	strmap_put(&h->uuids, d->uuid, d);
	h->ndoms++;
	h->mem_used += d->memory;
}

void hv_sim_dom_unlink(struct sim_dom *d)
{
	struct sim_host *h = d->host;
	char k[12];
	domid_key(d->domid, k);
	if (strmap_get(&h->doms, k) != d)
		return;
	hv_sim_loop_timer_set(d, SIM_NEVER);
	strmap_del(&h->doms, k);
	if (strmap_get(&h->uuids, d->uuid) == d)
		strmap_del(&h->uuids, d->uuid);
	h->ndoms--;
	h->mem_used -= d->memory;
}

void hv_sim_dom_kill(struct sim_dom *d)
{
	if (!d)
		return;
	hv_sim_dom_unlink(d);
	hv_sim_console_close(d);
	hv_sim_guest_free(d);
	hv_sim_device_free_all(d);
	hv_sim_kvs_free(&d->xs);
	free(d->name);
	free(d->cmdline);
	free(d);
}

struct sim_dom *hv_sim_dom_again(struct sim_host *h, uint32_t domid, uint64_t serial,
				 const char *during, struct xc_error *err)
{
	struct sim_dom *d = hv_sim_dom_find(h, domid);
	if (d && d->serial == serial && !h->closing)
		return d;
	if (h->closing)
		xc_error_internal(err, "simulated host %s closed during %s", h->hostname, during);
	else if (h->power != SIM_HOST_UP)
		xc_error_set(err, XC_ERR_HOST_OFFLINE, h->hostname);
	else
		xc_error_internal(err, "domain %u was destroyed during %s", domid, during);
	return NULL;
}

struct sim_dom *hv_sim_dom_build(struct sim_host *h, const struct hv_domain_config *cfg,
				 uint64_t memory, unsigned vcpus, const char *busy,
				 struct xc_error *err)
{
	struct sim_dom *d = xcalloc(1, sizeof(*d));
	d->host = h;
	d->serial = atomic_fetch_add(&serials, 1) + 1;
	if (cfg->uuid && *cfg->uuid)
		snprintf(d->uuid, sizeof(d->uuid), "%s", cfg->uuid);
	else
		uuid_generate(d->uuid);
	d->name = xstrdup(cfg->name && *cfg->name ? cfg->name : d->uuid);
	d->state = HV_STATE_PAUSED;
	d->reason = HV_SHUTDOWN_NONE;
	d->memory = memory;
	d->static_max = cfg->memory_static_max > memory ? cfg->memory_static_max : memory;
	d->vcpus = vcpus;
	d->vcpus_max = cfg->vcpus_max > vcpus ? cfg->vcpus_max : vcpus;
	d->hvm = cfg->hvm;
	d->cmdline = cfg->cmdline ? xstrdup(cfg->cmdline) : NULL;
	d->start_time = time(NULL);
	d->busy = busy;
	d->con.master = d->con.slave = -1;
	d->heap_idx = SIZE_MAX;
	d->due = SIM_NEVER;
	hv_sim_kvs_copy(&d->xs, cfg->xenstore, cfg->nxenstore);
	hv_sim_guest_init(d);
	if (hv_sim_device_attach_all(d, cfg, err) < 0) {
		hv_sim_dom_kill(d);
		return NULL;
	}
	d->domid = hv_sim_dom_alloc_domid(h);
	if (!d->domid) {
		xc_error_internal(err, "no free domain id on %s", h->hostname);
		hv_sim_dom_kill(d);
		return NULL;
	}
	hv_sim_dom_insert(h, d);
	if (hv_sim_console_open(d, err) < 0) {
		hv_sim_dom_kill(d);
		return NULL;
	}
	return d;
}

double hv_sim_dom_cpu_time(const struct sim_dom *d, int64_t now)
{
	double t = d->cpu_acc;
	if (d->state == HV_STATE_RUNNING && d->run_since)
		t += (double)(now - d->run_since) / SIM_NS * CPU_LOAD * d->vcpus;
	return t;
}

void hv_sim_dom_set_state(struct sim_dom *d, enum hv_domain_state s, enum hv_shutdown_reason r)
{
	int64_t now = hv_sim_now();
	d->cpu_acc = hv_sim_dom_cpu_time(d, now);
	d->run_since = s == HV_STATE_RUNNING ? now : 0;
	d->state = s;
	d->reason = s == HV_STATE_SHUTDOWN ? r : HV_SHUTDOWN_NONE;
	if (s == HV_STATE_RUNNING)
		hv_sim_guest_resched(d);
	else
		hv_sim_loop_timer_set(d, SIM_NEVER);
	hv_sim_console_update(d);
}

void hv_sim_dom_shutdown_done(struct sim_dom *d, enum hv_shutdown_reason r)
{
	d->g.stage = SIM_GUEST_DEAD;
	d->g.act_due = SIM_NEVER;
	d->g.pending = HV_SHUTDOWN_NONE;
	d->g.sysrq = 0;
	hv_sim_dom_set_state(d, HV_STATE_SHUTDOWN, r);
	log_info("host %s: domain %u (%s) shut down: %s", d->host->hostname, d->domid, d->name,
		 hv_reason_name(r));
	hv_sim_loop_event(d->host, d->domid, d->uuid, HV_STATE_SHUTDOWN, r);
}

static int invalid_number(struct xc_error *err, const char *field, unsigned long long v)
{
	char s[24];
	snprintf(s, sizeof(s), "%llu", v);
	xc_error_set(err, XC_ERR_INVALID_VALUE, field, s);
	return -1;
}

/* Decides a config's memory and vcpus, or says what is wrong with it. */
static int check_config(const struct hv_domain_config *cfg, uint64_t *memory, unsigned *vcpus,
			struct xc_error *err)
{
	if (!cfg) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "config", "");
		return -1;
	}
	if (cfg->uuid && *cfg->uuid && !uuid_is_valid(cfg->uuid)) {
		xc_error_set(err, XC_ERR_UUID_INVALID, "VM", cfg->uuid);
		return -1;
	}
	*memory = cfg->memory_target ? cfg->memory_target : cfg->memory_static_max;
	if (!*memory)
		return invalid_number(err, "memory_target", 0);
	*vcpus = cfg->vcpus ? cfg->vcpus : 1;
	if (cfg->vcpus_max && *vcpus > cfg->vcpus_max)
		return invalid_number(err, "VCPUs_at_startup", *vcpus);
	if (*vcpus > SIM_MAX_VCPUS || cfg->vcpus_max > SIM_MAX_VCPUS)
		return invalid_number(err, "VCPUs_max", cfg->vcpus_max > *vcpus ? cfg->vcpus_max : *vcpus);
	return 0;
}

int hv_sim_dom_create(struct hv *hv, const struct hv_domain_config *cfg, bool paused,
		      uint32_t *domid, struct xc_error *err)
{
	uint64_t memory = 0;
	unsigned vcpus = 0;
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_domain_create, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = NULL;
	if (check_config(cfg, &memory, &vcpus, err) < 0 ||
	    hv_sim_dom_admit(h, cfg->uuid && *cfg->uuid ? cfg->uuid : NULL, memory, err) < 0 ||
	    !(d = hv_sim_dom_build(h, cfg, memory, vcpus, "create", err))) {
		hv_sim_end(h);
		return -1;
	}
	uint32_t id = d->domid;
	uint64_t serial = d->serial;
	hv_sim_sleep(h, CREATE_SECONDS);
	d = hv_sim_dom_again(h, id, serial, "creation", err);
	if (d) {
		d->busy = NULL;
		if (!paused)
			hv_sim_dom_set_state(d, HV_STATE_RUNNING, HV_SHUTDOWN_NONE);
		*domid = id;
		log_info("host %s: domain %u (%s) created%s, %llu MiB, console %s", h->hostname, id,
			 d->name, paused ? " paused" : "", (unsigned long long)(d->memory / SIM_MIB),
			 d->con.path);
	}
	hv_sim_end(h);
	return d ? 0 : -1;
}

/* Pause and unpause: a domain in state `from` goes to `to`; one already in
 * `to` stays; one shut down is an error naming `expected`. */
static int pause_switch(struct hv *hv, enum sim_op op, uint32_t domid, enum hv_domain_state from,
			enum hv_domain_state to, const char *expected, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, op, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_live(h, domid, true, expected, err);
	if (d && d->state == from)
		hv_sim_dom_set_state(d, to, HV_SHUTDOWN_NONE);
	hv_sim_end(h);
	return d ? 0 : -1;
}

int hv_sim_dom_pause(struct hv *hv, uint32_t domid, struct xc_error *err)
{
	return pause_switch(hv, SIM_OP_domain_pause, domid, HV_STATE_RUNNING, HV_STATE_PAUSED,
			    "Running", err);
}

int hv_sim_dom_unpause(struct hv *hv, uint32_t domid, struct xc_error *err)
{
	return pause_switch(hv, SIM_OP_domain_unpause, domid, HV_STATE_PAUSED, HV_STATE_RUNNING,
			    "Paused", err);
}

int hv_sim_dom_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason how,
			struct xc_error *err)
{
	if (how != HV_SHUTDOWN_POWEROFF && how != HV_SHUTDOWN_REBOOT) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "shutdown_reason", hv_reason_name(how));
		return -1;
	}
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_domain_shutdown, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_live(h, domid, true, "Running", err);
	if (d)
		hv_sim_guest_request(d, how);
	hv_sim_end(h);
	return d ? 0 : -1;
}

int hv_sim_dom_destroy(struct hv *hv, uint32_t domid, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_domain_destroy, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_get(h, domid, false, err);
	if (d) {
		log_info("host %s: domain %u (%s) destroyed", h->hostname, domid, d->name);
		hv_sim_dom_kill(d);
		hv_sim_sleep(h, DESTROY_SECONDS);
	}
	hv_sim_end(h);
	return d ? 0 : -1;
}

/* Checks a resize of d to v: v in 1..max, and d not shut down. */
static int check_resize(const struct sim_dom *d, const char *field, unsigned long long v,
			unsigned long long max, struct xc_error *err)
{
	if (v == 0 || v > max)
		return invalid_number(err, field, v);
	if (d->state == HV_STATE_SHUTDOWN) {
		hv_sim_dom_err_state(err, d, "Running");
		return -1;
	}
	return 0;
}

int hv_sim_dom_set_vcpus(struct hv *hv, uint32_t domid, unsigned n, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_set_vcpus, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_get(h, domid, true, err);
	int rc = d ? check_resize(d, "VCPUs_number", n, d->vcpus_max, err) : -1;
	if (rc == 0) {
		int64_t now = hv_sim_now();
		d->cpu_acc = hv_sim_dom_cpu_time(d, now);
		if (d->run_since)
			d->run_since = now;
		for (unsigned c = d->vcpus; c < n; c++)
			hv_sim_guest_printk(d, "smpboot: Booting Node 0 Processor %u APIC 0x%x", c, c);
		for (unsigned c = d->vcpus; c > n; c--)
			hv_sim_guest_printk(d, "smpboot: CPU %u is now offline", c - 1);
		d->vcpus = n;
	}
	hv_sim_end(h);
	return rc;
}

int hv_sim_dom_set_memory_target(struct hv *hv, uint32_t domid, uint64_t bytes,
				 struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_set_memory_target, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_get(h, domid, true, err);
	int rc = d ? check_resize(d, "memory_target", bytes, d->static_max, err) : -1;
	if (rc == 0 && bytes > d->memory && hv_sim_dom_admit(h, NULL, bytes - d->memory, err) < 0) {
		rc = -1;
	} else if (rc == 0) {
		h->mem_used = h->mem_used - d->memory + bytes;
		d->memory = bytes;
	}
	hv_sim_end(h);
	return rc;
}

int hv_sim_dom_send_sysrq(struct hv *hv, uint32_t domid, char key, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_send_sysrq, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_live(h, domid, false, "Running", err);
	if (d)
		hv_sim_guest_sysrq(d, key, false);
	hv_sim_end(h);
	return d ? 0 : -1;
}

int hv_sim_dom_console_pty(struct hv *hv, uint32_t domid, char **path, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_console_pty, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_get(h, domid, false, err);
	int rc = d ? 0 : -1;
	if (d && d->con.master < 0) {
		xc_error_internal(err, "domain %u has no console", domid);
		rc = -1;
	} else if (d) {
		*path = xstrdup(d->con.path);
	}
	hv_sim_end(h);
	return rc;
}

struct list_ctx {
	struct hv_domain_info *v;
	unsigned n;
	int64_t now;
};

static void list_one(const char *key, void *val, void *cookie)
{
	struct list_ctx *c = cookie;
	const struct sim_dom *d = val;
	struct hv_domain_info *i = &c->v[c->n++];
	i->domid = d->domid;
	snprintf(i->uuid, sizeof(i->uuid), "%s", d->uuid);
	i->state = d->state;
	i->reason = d->reason;
	i->memory = d->memory;
	i->vcpus = d->vcpus;
	i->cpu_time = hv_sim_dom_cpu_time(d, c->now);
	i->start_time = d->start_time;
}

static int info_by_domid(const void *a, const void *b)
{
	const struct hv_domain_info *x = a, *y = b;
	return x->domid < y->domid ? -1 : x->domid > y->domid;
}

int hv_sim_dom_list(struct hv *hv, struct hv_domain_info **out, unsigned *n, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_domain_list, true, err);
	if (!h)
		return -1;
	struct list_ctx c = { xcalloc(h->ndoms + 1, sizeof(*c.v)), 1, hv_sim_now() };
	struct hv_domain_info *dom0 = &c.v[0];
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	dom0->domid = 0;
	snprintf(dom0->uuid, sizeof(dom0->uuid), "00000000-0000-0000-0000-000000000000");
	dom0->state = HV_STATE_RUNNING;
	dom0->reason = HV_SHUTDOWN_NONE;
	dom0->memory = h->mem_dom0;
	dom0->vcpus = h->ncpus;
	dom0->cpu_time = (double)ts.tv_sec + (double)ts.tv_nsec / SIM_NS;
	dom0->start_time = h->boot_wall;
	strmap_each(&h->doms, list_one, &c);
	hv_sim_end(h);
	qsort(c.v + 1, c.n - 1, sizeof(*c.v), info_by_domid);
	*out = c.v;
	*n = c.n;
	return 0;
}

/* The keys the toolstack writes for every domain. */
enum xs_builtin { XS_NAME, XS_DOMID, XS_VM, XS_TARGET, XS_STATIC_MAX, XS_TTY, XS_LAST };
static const char *const xs_builtins[] = {
	[XS_NAME] = "name", [XS_DOMID] = "domid", [XS_VM] = "vm", [XS_TARGET] = "memory/target",
	[XS_STATIC_MAX] = "memory/static-max", [XS_TTY] = "console/tty",
};
_Static_assert(ARRAY_SIZE(xs_builtins) == XS_LAST, "xenstore builtins");

const char *hv_sim_dom_xs_get(const struct sim_dom *d, const char *key, char tmp[128])
{
	char home[40];
	int n = snprintf(home, sizeof(home), "/local/domain/%u/", d->domid);
	if (strncmp(key, home, (size_t)n) == 0)
		key += n;
	else if (key[0] == '/')
		return NULL;
	unsigned cpu;
	int end = 0;
	if (sscanf(key, "cpu/%u/availability%n", &cpu, &end) == 1 && key[end] == '\0')
		return cpu < d->vcpus ? "online" : cpu < d->vcpus_max ? "offline" : NULL;
	for (unsigned i = 0; i < XS_LAST; i++) {
		if (strcmp(key, xs_builtins[i]) != 0)
			continue;
		switch ((enum xs_builtin)i) {
		case XS_NAME: return d->name;
		case XS_DOMID: snprintf(tmp, 128, "%u", d->domid); return tmp;
		case XS_VM: snprintf(tmp, 128, "/vm/%s", d->uuid); return tmp;
		case XS_TARGET: snprintf(tmp, 128, "%llu", (unsigned long long)(d->memory / 1024)); return tmp;
		case XS_STATIC_MAX:
			snprintf(tmp, 128, "%llu", (unsigned long long)(d->static_max / 1024));
			return tmp;
		case XS_TTY: return d->con.master >= 0 ? d->con.path : NULL;
		case XS_LAST: break;
		}
	}
	const char *v = hv_sim_kvs_get(&d->xs, key);
	return v ? v : hv_sim_kvs_get(&d->g.xs, key);
}

int hv_sim_dom_xenstore_read(struct hv *hv, uint32_t domid, const char *key, char **value,
			     struct xc_error *err)
{
	*value = NULL;
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_xenstore_read, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_get(h, domid, false, err);
	if (d) {
		char tmp[128];
		const char *v = key ? hv_sim_dom_xs_get(d, key, tmp) : NULL;
		*value = v ? xstrdup(v) : NULL;
	}
	hv_sim_end(h);
	return d ? 0 : -1;
}
