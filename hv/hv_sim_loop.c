/* The simulated host's thread: one epoll loop per host runs every guest on
 * it (so 1,000 domains cost one thread, not 1,000) and delivers hv_events.
 *
 * It watches an eventfd (woken when events are queued or the loop must
 * stop), a timerfd armed for the earliest guest step (a min-heap of
 * domains keyed by their due time) and each domain's pty master.  It takes
 * the host lock to run guests and fire timers, and drops it to call
 * on_event, so the engine may call back into the backend from there. */
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/xalloc.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define LOG_MODULE "hv.sim.loop"

#define TICKS_PER_ROUND 100000  /* keeps one round finite whatever the guests do */

static void *loop_main(void *arg);

static uint64_t key(enum sim_key kind, uint32_t id)
{
	return (uint64_t)kind << 32 | id;
}

static int add_fd(int epfd, int fd, enum sim_key kind)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = key(kind, 0) };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int hv_sim_loop_start(struct sim_host *h, struct xc_error *err)
{
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	h->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (h->epfd < 0 || h->wakefd < 0 || h->timerfd < 0 ||
	    add_fd(h->epfd, h->wakefd, SIM_KEY_WAKE) < 0 || add_fd(h->epfd, h->timerfd, SIM_KEY_TIMER) < 0) {
		xc_error_internal(err, "simulated host: cannot set up its event loop: %s", strerror(errno));
		return -1;
	}
	int rc = pthread_create(&h->thread, NULL, loop_main, h);
	if (rc) {
		xc_error_internal(err, "simulated host: cannot start its thread: %s", strerror(rc));
		return -1;
	}
	h->thread_started = true;
	return 0;
}

static void wake(struct sim_host *h)
{
	uint64_t one = 1;
	if (write(h->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("cannot wake the loop of %s: %s", h->hostname, strerror(errno));
}

bool hv_sim_loop_stop(struct sim_host *h)
{
	if (!h->thread_started)
		return true;
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	bool self = pthread_equal(pthread_self(), h->thread);
	if (self)
		h->self_free = true;
	pthread_mutex_unlock(&h->lock);
	wake(h);
	if (self) {
		pthread_detach(h->thread);
		return false;
	}
	pthread_join(h->thread, NULL);
	return true;
}

void hv_sim_loop_free(struct sim_host *h)
{
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->wakefd >= 0)
		close(h->wakefd);
	if (h->timerfd >= 0)
		close(h->timerfd);
	h->epfd = h->wakefd = h->timerfd = -1;
	free(h->heap);
	free(h->evq);
	h->heap = NULL;
	h->evq = NULL;
	h->nheap = h->nev = 0;
}

int hv_sim_loop_watch(struct sim_host *h, struct sim_dom *d, int op, uint32_t mask)
{
	struct epoll_event ev = { .events = mask, .data.u64 = key(SIM_KEY_PTY, d->domid) };
	return epoll_ctl(h->epfd, op, d->con.master, &ev);
}

/* The timer heap: domains by due time, each knowing its index. */

static bool earlier(const struct sim_dom *a, const struct sim_dom *b)
{
	return a->due < b->due;
}

static void heap_place(struct sim_host *h, size_t i, struct sim_dom *d)
{
	h->heap[i] = d;
	d->heap_idx = i;
}

static void heap_up(struct sim_host *h, size_t i)
{
	struct sim_dom *d = h->heap[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!earlier(d, h->heap[p]))
			break;
		heap_place(h, i, h->heap[p]);
		i = p;
	}
	heap_place(h, i, d);
}

static void heap_down(struct sim_host *h, size_t i)
{
	struct sim_dom *d = h->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->nheap)
			break;
		if (c + 1 < h->nheap && earlier(h->heap[c + 1], h->heap[c]))
			c++;
		if (!earlier(h->heap[c], d))
			break;
		heap_place(h, i, h->heap[c]);
		i = c;
	}
	heap_place(h, i, d);
}

static void heap_remove(struct sim_host *h, struct sim_dom *d)
{
	size_t i = d->heap_idx;
	d->heap_idx = SIZE_MAX;
	struct sim_dom *last = h->heap[--h->nheap];
	if (last == d)
		return;
	heap_place(h, i, last);
	heap_up(h, i);
	heap_down(h, last->heap_idx);
}

static void arm(struct sim_host *h, int64_t due)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	if (due != SIM_NEVER) {
		if (due < 1)
			due = 1;
		its.it_value.tv_sec = due / SIM_NS;
		its.it_value.tv_nsec = due % SIM_NS;
	}
	timerfd_settime(h->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
	h->armed = due;
}

void hv_sim_loop_timer_set(struct sim_dom *d, int64_t due)
{
	struct sim_host *h = d->host;
	if (d->heap_idx != SIZE_MAX)
		heap_remove(h, d);
	d->due = due;
	if (due == SIM_NEVER)
		return;
	if (h->nheap == h->capheap) {
		h->capheap = h->capheap ? 2 * h->capheap : 64;
		h->heap = xreallocarray(h->heap, h->capheap, sizeof(*h->heap));
	}
	h->heap[h->nheap] = d;
	d->heap_idx = h->nheap++;
	heap_up(h, d->heap_idx);
	if (due < h->armed)
		arm(h, due);
}

void hv_sim_loop_host_timer(struct sim_host *h, int64_t due)
{
	h->power_due = due;
	if (due < h->armed)
		arm(h, due);
}

void hv_sim_loop_event(struct sim_host *h, uint32_t domid, const char *uuid,
		       enum hv_domain_state s, enum hv_shutdown_reason r)
{
	if (h->nev == h->capev) {
		h->capev = h->capev ? 2 * h->capev : 16;
		h->evq = xreallocarray(h->evq, h->capev, sizeof(*h->evq));
	}
	struct hv_event *ev = &h->evq[h->nev++];
	memset(ev, 0, sizeof(*ev));
	ev->domid = domid;
	snprintf(ev->uuid, sizeof(ev->uuid), "%s", uuid);
	ev->state = s;
	ev->reason = r;
	log_debug("host %s: domain %u %s %s", h->hostname, domid, hv_state_name(s), hv_reason_name(r));
	wake(h);
}

static void drain(int fd)
{
	uint64_t v;
	while (read(fd, &v, sizeof(v)) > 0)
		;
}

/* Runs whatever is due; called with the lock held. */
static void run_timers(struct sim_host *h)
{
	int64_t now = hv_sim_now();
	unsigned ticks = 0;
	while (h->nheap && h->heap[0]->due <= now && ticks++ < TICKS_PER_ROUND) {
		struct sim_dom *d = h->heap[0];
		heap_remove(h, d);
		d->due = SIM_NEVER;
		hv_sim_guest_tick(d, now);
	}
	if (h->power_due <= now)
		hv_sim_host_tick(h, now);
	int64_t next = h->nheap ? h->heap[0]->due : SIM_NEVER;
	if (h->power_due < next)
		next = h->power_due;
	arm(h, next);
}

static void dispatch(struct sim_host *h, const struct epoll_event *ev)
{
	enum sim_key kind = (enum sim_key)(ev->data.u64 >> 32);
	uint32_t id = (uint32_t)ev->data.u64;
	switch (kind) {
	case SIM_KEY_WAKE:
		drain(h->wakefd);
		break;
	case SIM_KEY_TIMER:
		drain(h->timerfd);
		break;
	case SIM_KEY_PTY: {
		/* A readiness reported before the domain went or moved finds
		 * nothing, or a newer domain whose read just says EAGAIN. */
		struct sim_dom *d = hv_sim_dom_find(h, id);
		if (d && d->con.master >= 0 && d->con.loop == h)
			hv_sim_console_io(d, ev->events);
		break;
	}
	}
}

static void *loop_main(void *arg)
{
	struct sim_host *h = arg;
	struct epoll_event evs[64];
	for (;;) {
		int n = epoll_wait(h->epfd, evs, (int)ARRAY_SIZE(evs), -1);
		if (n < 0 && errno != EINTR)
			log_error("host %s: epoll_wait: %s", h->hostname, strerror(errno));
		pthread_mutex_lock(&h->lock);
		if (h->stop) {
			pthread_mutex_unlock(&h->lock);
			break;
		}
		for (int i = 0; i < n; i++)
			dispatch(h, &evs[i]);
		run_timers(h);
		struct hv_event *q = h->evq;
		size_t nq = h->nev;
		h->evq = NULL;
		h->nev = h->capev = 0;
		pthread_mutex_unlock(&h->lock);
		for (size_t i = 0; i < nq; i++) {
			pthread_mutex_lock(&h->lock);
			bool stop = h->stop;
			pthread_mutex_unlock(&h->lock);
			if (stop)
				break;
			if (h->hv.on_event)
				h->hv.on_event(h->hv.on_event_cookie, &h->hv, &q[i]);
		}
		free(q);
	}
	if (h->self_free)
		hv_sim_free(h);
	return NULL;
}
