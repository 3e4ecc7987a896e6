/* A domain's text console: a real pty, as xenconsoled makes one.  The
 * backend keeps the master (the guest writes its output there and reads
 * what is typed) and also holds the slave open, as xenconsoled does, so the
 * master never reports a hang-up while no client is attached; the slave is
 * in raw mode and its path (/dev/pts/N) is what console_pty hands out.
 *
 * Output the pty will not take (nobody reads the slave and the kernel's
 * buffer is full) waits in a queue bounded at SIM_OUT_MAX; beyond that the
 * oldest bytes go, as on a serial line nobody watches.  Input is read in
 * bounded chunks and only while the domain runs (a paused domain leaves it
 * in the kernel, so a writer feels back-pressure as with a real one). */
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define LOG_MODULE "hv.sim.console"

#define MAX_HUPS 16   /* hang-ups recovered from before the console is given up */

static int open_slave(const char *path)
{
	int s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0)
		return -1;
	struct termios t;
	if (tcgetattr(s, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(s, TCSANOW, &t);
	}
	return s;
}

int hv_sim_console_open(struct sim_dom *d, struct xc_error *err)
{
	struct sim_console *c = &d->con;
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, c->path, sizeof(c->path)) != 0) {
		int e = errno;
		if (m >= 0)
			close(m);
		xc_error_internal(err, "cannot allocate a console pty for domain %u: %s", d->domid,
				  strerror(e));
		return -1;
	}
	int s = open_slave(c->path);
	if (s < 0) {
		int e = errno;
		close(m);
		xc_error_internal(err, "cannot open console %s: %s", c->path, strerror(e));
		return -1;
	}
	struct winsize ws = { .ws_row = 25, .ws_col = 80 };
	ioctl(m, TIOCSWINSZ, &ws);
	fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
	c->master = m;
	c->slave = s;
	c->mask = 0;
	c->loop = NULL;
	if (hv_sim_loop_watch(d->host, d, EPOLL_CTL_ADD, 0) < 0) {
		int e = errno;
		hv_sim_console_close(d);
		xc_error_internal(err, "cannot watch console %s: %s", c->path, strerror(e));
		return -1;
	}
	c->loop = d->host;
	hv_sim_console_update(d);
	return 0;
}

void hv_sim_console_detach(struct sim_dom *d)
{
	struct sim_console *c = &d->con;
	if (c->loop && c->master >= 0)
		hv_sim_loop_watch(c->loop, d, EPOLL_CTL_DEL, 0);
	c->loop = NULL;
	c->mask = 0;
}

void hv_sim_console_close(struct sim_dom *d)
{
	struct sim_console *c = &d->con;
	hv_sim_console_detach(d);
	if (c->master >= 0)
		close(c->master);
	if (c->slave >= 0)
		close(c->slave);
	c->master = c->slave = -1;
	free(c->ring);
	c->ring = NULL;
	c->head = c->queued = 0;
	buf_free(&c->batch);
}

void hv_sim_console_update(struct sim_dom *d)
{
	struct sim_console *c = &d->con;
	if (c->master < 0 || c->slave < 0)   /* closed, or given up after hang-ups */
		return;
	if (!c->loop) {
		if (hv_sim_loop_watch(d->host, d, EPOLL_CTL_ADD, 0) < 0) {
			log_warn("domain %u: cannot watch %s: %s", d->domid, c->path, strerror(errno));
			return;
		}
		c->loop = d->host;
		c->mask = 0;
	}
	uint32_t want = (d->state != HV_STATE_PAUSED ? EPOLLIN : 0) | (c->queued ? EPOLLOUT : 0);
	if (want == c->mask)
		return;
	if (hv_sim_loop_watch(c->loop, d, EPOLL_CTL_MOD, want) == 0)
		c->mask = want;
}

/* Queues output, keeping the newest SIM_OUT_MAX bytes (O(n) whatever
 * is dropped: a flood costs no more than its own size). */
static void queue(struct sim_console *c, const char *p, size_t n)
{
	if (!c->ring)
		c->ring = xmalloc(SIM_OUT_MAX);
	if (n >= SIM_OUT_MAX) {
		p += n - SIM_OUT_MAX;
		n = SIM_OUT_MAX;
		c->head = c->queued = 0;
	}
	if (c->queued + n > SIM_OUT_MAX) {
		size_t drop = c->queued + n - SIM_OUT_MAX;
		c->head = (c->head + drop) % SIM_OUT_MAX;
		c->queued -= drop;
	}
	size_t tail = (c->head + c->queued) % SIM_OUT_MAX;
	size_t first = n < SIM_OUT_MAX - tail ? n : SIM_OUT_MAX - tail;
	memcpy(c->ring + tail, p, first);
	memcpy(c->ring, p + first, n - first);
	c->queued += n;
}

/* Writes to the pty what it takes and queues the rest. */
static void emit(struct sim_dom *d, const char *p, size_t n)
{
	struct sim_console *c = &d->con;
	if (!c->queued) {
		ssize_t w = write(c->master, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	if (n) {
		queue(c, p, n);
		hv_sim_console_update(d);
	}
}

static void batch_flush(struct sim_dom *d)
{
	struct sim_console *c = &d->con;
	if (c->batch.len)
		emit(d, c->batch.data, c->batch.len);
	buf_reset(&c->batch);
}

void hv_sim_console_write(struct sim_dom *d, const char *p, size_t n)
{
	struct sim_console *c = &d->con;
	if (c->master < 0 || !n)
		return;
	if (!c->batching) {
		emit(d, p, n);
		return;
	}
	if (c->batch.len + n > SIM_OUT_MAX)
		batch_flush(d);
	if (n > SIM_OUT_MAX)
		emit(d, p, n);
	else
		buf_add(&c->batch, p, n);
}

static void flush(struct sim_dom *d)
{
	struct sim_console *c = &d->con;
	while (c->queued) {
		size_t chunk = c->queued < SIM_OUT_MAX - c->head ? c->queued : SIM_OUT_MAX - c->head;
		ssize_t w = write(c->master, c->ring + c->head, chunk);
		if (w <= 0)
			break;
		c->head = (c->head + (size_t)w) % SIM_OUT_MAX;
		c->queued -= (size_t)w;
		if ((size_t)w < chunk)
			break;
	}
	if (!c->queued) {
		free(c->ring);
		c->ring = NULL;
		c->head = 0;
	}
	hv_sim_console_update(d);
}

/* The slave was hung up (a client made it its controlling tty and went):
 * our slave descriptor is dead and the master reports HUP for ever.  Open
 * the slave afresh, as a restarted xenconsoled would. */
static void hangup(struct sim_dom *d)
{
	struct sim_console *c = &d->con;
	if (c->slave >= 0)
		close(c->slave);
	c->slave = ++c->hups <= MAX_HUPS ? open_slave(c->path) : -1;
	if (c->slave < 0) {
		log_warn("domain %u: console %s hung up for good", d->domid, c->path);
		hv_sim_console_detach(d);
	}
}

void hv_sim_console_io(struct sim_dom *d, uint32_t events)
{
	struct sim_console *c = &d->con;
	if (events & EPOLLOUT)
		flush(d);
	if (events & EPOLLIN) {
		char in[4096];
		ssize_t r = read(c->master, in, sizeof(in));
		if (r > 0 && d->state == HV_STATE_RUNNING) {
			/* What the guest says back (echo, prompts) goes out in one write. */
			c->batching = true;
			hv_sim_guest_input(d, in, (size_t)r);
			c->batching = false;
			batch_flush(d);
			if (c->batch.cap > 4096)
				buf_free(&c->batch);
		} else if (r < 0 && errno != EAGAIN && errno != EINTR)
			events |= EPOLLHUP;
	}
	if (c->master >= 0 && (events & (EPOLLHUP | EPOLLERR)))
		hangup(d);
}
