/* The simulated hypervisor itself, as opposed to its domains: Xen's console
 * ring (what `xl dmesg` reads and `-c` clears), debug keys (whose output
 * lands in that ring, as Xen's keyhandlers print there), and domain
 * triggers (libxl_send_trigger: ACPI buttons, NMI, INIT, reset).
 *
 * The ring holds at most CONRING_MAX bytes, like Xen's default 16 KiB
 * conring: older lines are dropped whole. */
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_MODULE "hv.sim.xen"

#define CONRING_MAX (16 * 1024)

static void ring_trim(struct buf *r)
{
	if (r->len <= CONRING_MAX)
		return;
	size_t cut = r->len - CONRING_MAX;
	const char *nl = memchr(r->data + cut, '\n', r->len - cut);
	cut = nl ? (size_t)(nl - r->data) + 1 : r->len;
	memmove(r->data, r->data + cut, r->len - cut);
	r->len -= cut;
	r->data[r->len] = '\0';
}

void hv_sim_xen_printk(struct sim_host *h, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	buf_printf(&h->conring, "(XEN) %s\n", line);
	ring_trim(&h->conring);
}

void hv_sim_xen_boot(struct sim_host *h)
{
	buf_reset(&h->conring);
	hv_sim_xen_printk(h, "Xen version 4.17.0 (xcon simulated hypervisor)");
	hv_sim_xen_printk(h, "Command line: dom0_mem=1024M,max:1024M loglvl=all guest_loglvl=all");
	hv_sim_xen_printk(h, "Xen is running in simulation: no real hardware is being driven");
	hv_sim_xen_printk(h, "Scheduling granularity: cpu, 1 CPU per sched-resource");
	hv_sim_xen_printk(h, "Initialising domain 0");
	hv_sim_xen_printk(h, "*** Serial input to DOM0 (type 'CTRL-a' three times to switch input)");
}

int hv_sim_xen_dmesg(struct hv *hv, bool clear, char **text, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_host_dmesg, true, err);
	if (!h)
		return -1;
	*text = xstrdup(h->conring.data ? h->conring.data : "");
	if (clear)
		buf_reset(&h->conring);
	hv_sim_end(h);
	return 0;
}

/* ---- debug keys ---- */

struct each_ctx {
	struct sim_host *h;
	int64_t now;
};

static void dump_domain(const char *key, void *val, void *cookie)
{
	struct each_ctx *c = cookie;
	const struct sim_dom *d = val;
	hv_sim_xen_printk(c->h, "General information for domain %u:", d->domid);
	hv_sim_xen_printk(c->h, "    refcnt=3 dying=0 pause_count=%d", d->state == HV_STATE_PAUSED ? 1 : 0);
	hv_sim_xen_printk(c->h, "    nr_pages=%llu max_pages=%llu", (unsigned long long)(d->memory / 4096),
			  (unsigned long long)(d->static_max / 4096));
	hv_sim_xen_printk(c->h, "    handle=%s vm_assist=0000002d", d->uuid);
	hv_sim_xen_printk(c->h, "    %s guest, %u VCPUs, cpu_time=%.3fs", d->hvm ? "HVM" : "PV", d->vcpus,
			  hv_sim_dom_cpu_time(d, c->now));
}

static void key_help(struct sim_host *h);

static void key_domains(struct sim_host *h)
{
	hv_sim_xen_printk(h, "General information for domain 0:");
	hv_sim_xen_printk(h, "    dom0, %u VCPUs", h->ncpus);
	struct each_ctx c = { h, hv_sim_now() };
	strmap_each(&h->doms, dump_domain, &c);
}

static void key_memory(struct sim_host *h)
{
	hv_sim_xen_printk(h, "Physical memory information:");
	hv_sim_xen_printk(h, "    Xen heap: %lluMiB free", (unsigned long long)(hv_sim_host_memory_free(h) / SIM_MIB));
	hv_sim_xen_printk(h, "    Dom heap: %lluMiB used by %u domains", (unsigned long long)(h->mem_used / SIM_MIB),
			  h->ndoms);
}

static void key_runq(struct sim_host *h)
{
	hv_sim_xen_printk(h, "sched_smt_power_savings: disabled");
	hv_sim_xen_printk(h, "Scheduler: SMP Credit Scheduler rev2 (credit2)");
	for (unsigned i = 0; i < h->ncpus; i++)
		hv_sim_xen_printk(h, "CPU[%02u] runq=0, sibling={%u}, core={%u}", i, i, i);
}

static void key_timers(struct sim_host *h)
{
	hv_sim_xen_printk(h, "Dumping timer queues:");
	for (unsigned i = 0; i < h->ncpus; i++)
		hv_sim_xen_printk(h, "CPU%02u:", i);
}

static void key_registers(struct sim_host *h)
{
	for (unsigned i = 0; i < h->ncpus; i++)
		hv_sim_xen_printk(h, "*** Dumping CPU%u host state: ***", i);
}

static const struct debug_key {
	char key;
	const char *desc;
	void (*fn)(struct sim_host *h);
} debug_keys[] = {
	{ 'd', "dump registers", key_registers },
	{ 'h', "show this message", key_help },
	{ 'm', "memory info", key_memory },
	{ 'q', "dump domain (and guest debug) info", key_domains },
	{ 'r', "dump run queues", key_runq },
	{ 't', "display multi-cpu clock info", key_timers },
};

static void key_help(struct sim_host *h)
{
	for (size_t i = 0; i < ARRAY_SIZE(debug_keys); i++)
		hv_sim_xen_printk(h, " key '%c' (ascii '%02x') => %s", debug_keys[i].key, debug_keys[i].key,
				  debug_keys[i].desc);
}

int hv_sim_xen_debug_keys(struct hv *hv, const char *keys, struct xc_error *err)
{
	bool ok = keys && *keys;
	for (const char *k = keys; ok && *k; k++)
		ok = *k > ' ' && *k < 0x7f;
	if (!ok) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "keys", keys ? keys : "");
		return -1;
	}
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_host_debug_keys, true, err);
	if (!h)
		return -1;
	for (const char *k = keys; *k; k++) {
		const struct debug_key *dk = NULL;
		for (size_t i = 0; i < ARRAY_SIZE(debug_keys); i++)
			if (debug_keys[i].key == *k)
				dk = &debug_keys[i];
		/* Xen ignores keys no handler is registered for; the simulator
		 * registers only the harmless ones (no 'R' reboot, 'C' crash). */
		if (!dk)
			continue;
		hv_sim_xen_printk(h, "'%c' pressed -> %s", dk->key, dk->desc);
		dk->fn(h);
	}
	hv_sim_end(h);
	return 0;
}

/* ---- triggers ---- */

enum trigger { TRIG_POWER, TRIG_SLEEP, TRIG_S3RESUME, TRIG_INIT, TRIG_NMI, TRIG_RESET };

static const struct {
	const char *name;
	enum trigger t;
	bool hvm_only; /* ACPI and INIT need emulated hardware: Xen refuses them for PV */
} triggers[] = {
	{ "power", TRIG_POWER, true }, { "sleep", TRIG_SLEEP, true }, { "s3resume", TRIG_S3RESUME, true },
	{ "init", TRIG_INIT, true },   { "nmi", TRIG_NMI, false },     { "reset", TRIG_RESET, false },
};

static void deliver(struct sim_dom *d, enum trigger t)
{
	struct sim_guest *g = &d->g;
	switch (t) {
	case TRIG_POWER:
		hv_sim_guest_printk(d, "ACPI: button: Power Button [PWRF]: pressed");
		hv_sim_guest_request(d, HV_SHUTDOWN_POWEROFF);
		break;
	case TRIG_SLEEP:
		if (g->asleep)
			break;
		hv_sim_guest_printk(d, "ACPI: button: Sleep Button [SLPF]: pressed");
		hv_sim_guest_printk(d, "PM: suspend entry (deep)");
		g->asleep = true;
		break;
	case TRIG_S3RESUME:
		/* Waking a guest that is not asleep does nothing, as in Xen. */
		if (!g->asleep)
			break;
		g->asleep = false;
		hv_sim_guest_printk(d, "ACPI: PM: Waking up from system sleep state S3");
		hv_sim_guest_printk(d, "PM: suspend exit");
		break;
	case TRIG_NMI:
		hv_sim_guest_printk(d, "Uhhuh. NMI received for unknown reason 3c on CPU 0.");
		hv_sim_guest_printk(d, "Dazed and confused, but trying to continue");
		break;
	case TRIG_INIT:
	case TRIG_RESET:
		/* The machine is reset under the guest: a reboot, nothing said. */
		hv_sim_dom_shutdown_done(d, HV_SHUTDOWN_REBOOT);
		break;
	}
}

int hv_sim_xen_send_trigger(struct hv *hv, uint32_t domid, const char *trigger, struct xc_error *err)
{
	size_t i = 0;
	while (i < ARRAY_SIZE(triggers) && strcmp(triggers[i].name, trigger ? trigger : "") != 0)
		i++;
	if (i == ARRAY_SIZE(triggers)) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "trigger", trigger ? trigger : "");
		return -1;
	}
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_send_trigger, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = hv_sim_dom_live(h, domid, false, "Running", err);
	int rc = d ? 0 : -1;
	if (d && triggers[i].hvm_only && !d->hvm) {
		xc_error_set(err, XC_ERR_VM_HVM_REQUIRED, d->uuid);
		rc = -1;
	} else if (d) {
		log_debug("domain %u: trigger %s", domid, trigger);
		deliver(d, triggers[i].t);
	}
	hv_sim_end(h);
	return rc;
}
