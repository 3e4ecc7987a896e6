/* Keeping the records true to the hypervisor.
 *
 * At start the engine asks every backend which domains exist and brings the
 * VM records in line: a VM recorded as running whose domain is gone (the host
 * rebooted, or the simulated host went away with the previous engine) is
 * halted, and operations a dead engine left in flight are cleared.
 *
 * While running, the backend reports domain changes as events from its own
 * thread (engine_hv_event).  Each is (1) recorded in the domain watch, which
 * wakes an operation waiting for it (clean_shutdown waiting for the guest to
 * go down), and (2) queued for the reaction thread, which applies the VM's
 * actions_after_* when no operation of ours caused it: a guest that powers
 * itself off, reboots or crashes is noticed without polling. */
#include "engine_priv.h"
#include "vm_state.h"
#include "vm_life.h"
#include "dev_ops.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "../util/deadline.h"
#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#define LOG_MODULE "reconcile"
#define WATCH_SLOTS 1024

struct hv *engine_hv_of_host(struct engine *e, const char *host_ref)
{
	for (unsigned i = 0; i < e->nhosts; i++)
		if (host_ref && e->host_refs && e->host_refs[i] && strcmp(e->host_refs[i], host_ref) == 0)
			return e->hvs[i];
	return NULL;
}

/* ---- domain watch ---- */

struct watched {
	struct hv *hv;
	struct hv_event ev;
	uint64_t seq;
};

struct domwatch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t seq;
	struct watched slots[WATCH_SLOTS];
};

struct domwatch *domwatch_open(void)
{
	struct domwatch *w = xcalloc(1, sizeof(*w));
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	return w;
}

void domwatch_close(struct domwatch *w)
{
	if (!w)
		return;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

uint64_t domwatch_seq(struct engine *e)
{
	pthread_mutex_lock(&e->domwatch->lock);
	uint64_t s = e->domwatch->seq;
	pthread_mutex_unlock(&e->domwatch->lock);
	return s;
}

static void domwatch_post(struct domwatch *w, struct hv *hv, const struct hv_event *ev)
{
	pthread_mutex_lock(&w->lock);
	w->seq++;
	struct watched *s = &w->slots[w->seq % WATCH_SLOTS];
	s->hv = hv;
	s->ev = *ev;
	s->seq = w->seq;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int domwatch_wait(struct op_ctx *c, struct hv *hv, uint32_t domid, uint64_t after, int timeout_ms,
		  struct hv_event *out, struct xc_error *err)
{
	struct domwatch *w = c->e->domwatch;
	struct timespec deadline = deadline_in_ms(CLOCK_MONOTONIC, (unsigned)timeout_ms);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		for (uint64_t s = after + 1; s <= w->seq; s++) {
			const struct watched *x = &w->slots[s % WATCH_SLOTS];
			if (x->seq == s && x->hv == hv && x->ev.domid == domid) {
				*out = x->ev;
				pthread_mutex_unlock(&w->lock);
				return 0;
			}
		}
		if (w->seq > after)
			after = w->seq;
		if (task_cancelled(c) || c->e->stopping) {
			pthread_mutex_unlock(&w->lock);
			return task_check_cancel(c, err) < 0 ? -1 : (xc_error_internal(err, "engine stopping"), -1);
		}
		/* Cancellation is a flag, not an event: look at it every 200 ms. */
		struct timespec slice = deadline_in_ms(CLOCK_MONOTONIC, 200);
		bool last = slice.tv_sec > deadline.tv_sec ||
			    (slice.tv_sec == deadline.tv_sec && slice.tv_nsec >= deadline.tv_nsec);
		if (pthread_cond_timedwait(&w->cond, &w->lock, last ? &deadline : &slice) == ETIMEDOUT && last) {
			pthread_mutex_unlock(&w->lock);
			xc_error_set(err, XC_ERR_INTERNAL_ERROR, "timed out waiting for the domain");
			return -1;
		}
	}
}

/* ---- reactions ---- */

struct reaction {
	struct hv *hv;
	struct hv_event ev;
	struct reaction *next;
};

struct reactions {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct reaction *head, *tail;
	pthread_t thread;
	bool stopping, started;
};

/* The host went down (GONE) or finished booting (RUNNING). */
static void host_react(struct engine *e, struct hv *hv, const struct hv_event *ev)
{
	const char *host = NULL;
	for (unsigned i = 0; i < e->nhosts; i++)
		if (e->hvs[i] == hv)
			host = e->host_refs[i];
	if (!host)
		return;
	bool live = ev->state == HV_STATE_RUNNING;
	struct xc_error err = XC_ERROR_INIT;
	struct store_txn *t = store_write(e->store);
	XC_AUTOVALUE *m = store_get_field(t, dm_field_find(cls_of("host"), "metrics"), host, &err);
	if (m && store_exists(t, cls_of("host_metrics"), value_str(m)) &&
	    set_bool(t, cls_of("host_metrics"), value_str(m), "live", live, &err) == 0 &&
	    (!live || host_metrics_refresh(e, t, host, &err) == 0)) {
		store_commit(t, &err);
		log_info("host %s is %s", host, live ? "up" : "down");
	} else {
		store_abort(t);
	}
	xc_error_clear(&err);
}

static void *reactions_main(void *arg)
{
	struct engine *e = arg;
	struct reactions *r = e->reactions;
	pthread_mutex_lock(&r->lock);
	while (!r->stopping) {
		if (!r->head) {
			pthread_cond_wait(&r->cond, &r->lock);
			continue;
		}
		struct reaction *x = r->head;
		r->head = x->next;
		if (!r->head)
			r->tail = NULL;
		pthread_mutex_unlock(&r->lock);
		if (x->ev.domid == 0)
			host_react(e, x->hv, &x->ev);
		else
			vm_react(e, x->hv, &x->ev);
		free(x);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int reactions_start(struct engine *e, struct xc_error *err)
{
	struct reactions *r = xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	e->reactions = r;
	if (pthread_create(&r->thread, NULL, reactions_main, e) != 0) {
		xc_error_internal(err, "cannot start the reaction thread: %s", strerror(errno));
		return -1;
	}
	r->started = true;
	return 0;
}

void reactions_stop(struct engine *e)
{
	struct reactions *r = e->reactions;
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	if (r->started)
		pthread_join(r->thread, NULL);
	while (r->head) {
		struct reaction *x = r->head;
		r->head = x->next;
		free(x);
	}
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
	e->reactions = NULL;
}

void engine_hv_event(struct engine *e, struct hv *hv, const struct hv_event *ev)
{
	log_debug("domain %u (%s): state %d reason %d", ev->domid, ev->uuid, ev->state, ev->reason);
	domwatch_post(e->domwatch, hv, ev);
	struct reactions *r = e->reactions;
	/* Guests that stop need a reaction; the host itself (domid 0) going
	 * down or coming back changes host_metrics.live.  Either way the work
	 * runs on the reaction thread, never on the backend's. */
	if (!r || (ev->domid != 0 && (ev->state == HV_STATE_RUNNING || ev->state == HV_STATE_PAUSED)))
		return;
	struct reaction *x = xcalloc(1, sizeof(*x));
	x->hv = hv;
	x->ev = *ev;
	pthread_mutex_lock(&r->lock);
	if (r->tail)
		r->tail->next = x;
	else
		r->head = x;
	r->tail = x;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* ---- start-up reconciliation ---- */

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
	/* One record at a time: a pool of 10,000 VMs is not to be held in
	 * memory at once just to look at each. */
	XC_AUTOVALUE *all = store_get_all(t, vmc);
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
		const char *ref = value_str(value_array_at(all, k));
		XC_AUTOVALUE *vm = store_get_record(t, vmc, ref, err);
		if (!vm) {
			rc = -1;
			break;
		}
		if (rec_bool(vm, "is_control_domain"))
			continue;
		if (value_len(rec_get(vm, "current_operations"))) {
			XC_AUTOVALUE *none = value_new_struct(0);
			rc = set_value(t, vmc, ref, "current_operations", none, err);
		}
		const char *ps = rec_str(vm, "power_state");
		if (rc == 0 && (strcmp(ps, "Running") == 0 || strcmp(ps, "Paused") == 0)) {
			int idx = -1;
			for (unsigned i = 0; i < e->nhosts; i++)
				if (strcmp(e->host_refs[i], rec_str(vm, "resident_on")) == 0)
					idx = (int)i;
			if (idx < 0 || !domain_alive(doms[idx], ndoms[idx], rec_str(vm, "uuid"), rec_int(vm, "domid"))) {
				log_info("VM %s (%s) has no domain any more: now halted", rec_str(vm, "name_label"), ref);
				rc = vm_state_halted(e, t, ref, err);
			}
		}
		if (rc == 0)
			rc = vm_update_allowed(t, ref, err);
	}
	for (unsigned i = 0; i < e->nhosts && rc == 0; i++)
		rc = host_metrics_refresh(e, t, e->host_refs[i], err);
	if (rc == 0)
		rc = dev_update_all(t, err);
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
