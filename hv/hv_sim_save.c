/* Moving a simulated domain out of a host and back in: suspend to an image
 * file, restore from one, and migration to another simulated host.
 *
 * The suspend image is a 4 KiB text header (magic, uuid, memory, vcpus,
 * the guest's stage and clocks), NUL-padded, followed by a hole the size of
 * the domain's memory (ftruncate: sparse, so it costs no disk).  Saving and
 * restoring take ~1 s per GiB (scaled); migration ~1 s.  A domain being
 * saved is SHUTDOWN(suspend) until the image is written, then gone; if the
 * write fails it runs on as before (as libxl resumes a failed suspend).
 * Migration is live: the guest and its console pty keep going while the
 * memory "copies", then the domain moves in one step under both hosts'
 * locks and gets the destination's next domid.
 */
#include "hv_sim_priv.h"

#include "../util/log.h"
#include "../util/uuid.h"
#include "../util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MODULE "hv.sim.save"

#define IMAGE_MAGIC "XCON-SIM-SUSPEND 1\n"
#define IMAGE_HEADER 4096
#define SAVE_SECONDS_PER_GIB 1.0
#define MIGRATE_SECONDS 1.0

struct image {
	char uuid[37];
	uint64_t memory, static_max;
	unsigned vcpus, vcpus_max;
	int hvm;
	char stage[16];
	char halting[16];
	double uptime, cpu_time;
};

static char *resolve(const struct sim_host *h, const char *path)
{
	if (path[0] != '/' && h->state_dir)
		return xasprintf("%s/%s", h->state_dir, path);
	return xstrdup(path);
}

static double save_seconds(uint64_t memory)
{
	return SAVE_SECONDS_PER_GIB * (double)memory / (double)SIM_GIB;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int image_write(const char *path, const struct image *im, struct xc_error *err)
{
	char hdr[IMAGE_HEADER];
	memset(hdr, 0, sizeof(hdr));
	snprintf(hdr, sizeof(hdr),
		 IMAGE_MAGIC "uuid %s\nmemory %llu\nstatic_max %llu\nvcpus %u\nvcpus_max %u\nhvm %d\n"
		 "guest %s\nhalting %s\nuptime %.3f\ncpu_time %.3f\nend\n",
		 im->uuid, (unsigned long long)im->memory, (unsigned long long)im->static_max, im->vcpus,
		 im->vcpus_max, im->hvm, im->stage, im->halting, im->uptime, im->cpu_time);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		xc_error_internal(err, "cannot write suspend image %s: %s", path, strerror(errno));
		return -1;
	}
	int rc = write_all(fd, hdr, sizeof(hdr));
	if (rc == 0)
		rc = ftruncate(fd, (off_t)(IMAGE_HEADER + im->memory));
	int e = errno;
	if (close(fd) != 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc < 0) {
		unlink(path);
		xc_error_internal(err, "cannot write suspend image %s: %s", path, strerror(e));
	}
	return rc;
}

static int bad_image(struct xc_error *err, const char *path, const char *why)
{
	xc_error_internal(err, "suspend image %s: %s", path, why);
	return -1;
}

/* One "key value" header line into the image; false if the key is unknown
 * or the value does not parse. */
static bool image_field(struct image *im, const char *k, const char *v)
{
	char *end = NULL;
	errno = 0;
	if (!strcmp(k, "uuid"))
		return uuid_is_valid(v) && snprintf(im->uuid, sizeof(im->uuid), "%s", v) > 0;
	if (!strcmp(k, "guest"))
		return snprintf(im->stage, sizeof(im->stage), "%s", v) < (int)sizeof(im->stage);
	if (!strcmp(k, "halting"))
		return snprintf(im->halting, sizeof(im->halting), "%s", v) < (int)sizeof(im->halting);
	if (!strcmp(k, "memory"))
		im->memory = strtoull(v, &end, 10);
	else if (!strcmp(k, "static_max"))
		im->static_max = strtoull(v, &end, 10);
	else if (!strcmp(k, "vcpus"))
		im->vcpus = (unsigned)strtoul(v, &end, 10);
	else if (!strcmp(k, "vcpus_max"))
		im->vcpus_max = (unsigned)strtoul(v, &end, 10);
	else if (!strcmp(k, "hvm"))
		im->hvm = (int)strtol(v, &end, 10);
	else if (!strcmp(k, "uptime"))
		im->uptime = strtod(v, &end);
	else if (!strcmp(k, "cpu_time"))
		im->cpu_time = strtod(v, &end);
	else
		return false;
	return !errno && end != v && *end == '\0';
}

static int image_parse(char *hdr, const char *path, struct image *im, struct xc_error *err)
{
	if (strncmp(hdr, IMAGE_MAGIC, strlen(IMAGE_MAGIC)) != 0)
		return bad_image(err, path, "not an xcon suspend image (bad magic)");
	bool end = false;
	char *save = NULL;
	for (char *l = strtok_r(hdr + strlen(IMAGE_MAGIC), "\n", &save); l && !end;
	     l = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(l, "end")) {
			end = true;
			break;
		}
		char *sp = strchr(l, ' ');
		if (!sp)
			return bad_image(err, path, "malformed header line");
		*sp = '\0';
		if (!image_field(im, l, sp + 1))
			return bad_image(err, path, "malformed header field");
	}
	if (!end)
		return bad_image(err, path, "header has no end");
	if (!im->uuid[0] || !im->memory || !im->vcpus || im->vcpus > SIM_MAX_VCPUS)
		return bad_image(err, path, "header lacks uuid, memory or vcpus");
	if (hv_sim_guest_stage_lookup(im->stage) == SIM_GUEST_LAST)
		return bad_image(err, path, "unknown guest state");
	return 0;
}

static int image_read(const char *path, struct image *im, struct xc_error *err)
{
	memset(im, 0, sizeof(*im));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		xc_error_internal(err, "cannot open suspend image %s: %s", path, strerror(errno));
		return -1;
	}
	char hdr[IMAGE_HEADER + 1];
	size_t got = 0;
	while (got < IMAGE_HEADER) {
		ssize_t r = read(fd, hdr + got, IMAGE_HEADER - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	hdr[got] = '\0';
	struct stat st;
	int rc = fstat(fd, &st);
	close(fd);
	if (rc < 0 || got < IMAGE_HEADER)
		return bad_image(err, path, "truncated header");
	if (image_parse(hdr, path, im, err) < 0)
		return -1;
	if ((uint64_t)st.st_size < IMAGE_HEADER + im->memory)
		return bad_image(err, path, "truncated memory image");
	return 0;
}

int hv_sim_save_suspend(struct hv *hv, uint32_t domid, const char *path, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_domain_suspend, true, err);
	if (!h)
		return -1;
	struct sim_dom *d = NULL;
	if (!path || !*path)
		xc_error_set(err, XC_ERR_INVALID_VALUE, "path", "");
	else
		d = hv_sim_dom_live(h, domid, true, "Running", err);
	if (!d) {
		hv_sim_end(h);
		return -1;
	}
	struct image im = { .memory = d->memory, .static_max = d->static_max, .vcpus = d->vcpus,
			    .vcpus_max = d->vcpus_max, .hvm = d->hvm };
	snprintf(im.uuid, sizeof(im.uuid), "%s", d->uuid);
	snprintf(im.stage, sizeof(im.stage), "%s", hv_sim_guest_stage_name(d->g.stage));
	snprintf(im.halting, sizeof(im.halting), "%s", hv_reason_name(d->g.stage == SIM_GUEST_HALT
		 ? d->g.halt_reason : d->g.pending));
	im.uptime = hv_sim_guest_uptime(d);
	im.cpu_time = hv_sim_dom_cpu_time(d, hv_sim_now());
	enum hv_domain_state before = d->state;
	uint64_t serial = d->serial;
	hv_sim_guest_printk(d, "Freezing user space processes ... (elapsed 0.001 seconds) done.");
	d->busy = "suspend";
	hv_sim_dom_set_state(d, HV_STATE_SHUTDOWN, HV_SHUTDOWN_SUSPEND);

	char *full = resolve(h, path);
	hv_sim_sleep(h, save_seconds(im.memory));
	pthread_mutex_unlock(&h->lock);
	int rc = image_write(full, &im, err);
	pthread_mutex_lock(&h->lock);
	struct xc_error gone = XC_ERROR_INIT;
	d = hv_sim_dom_again(h, domid, serial, "suspend", &gone);
	if (!d) {
		if (rc == 0) {
			unlink(full);
			xc_error_move(err, &gone);
			rc = -1;
		}
		xc_error_clear(&gone);
	} else if (rc < 0) {
		d->busy = NULL;
		hv_sim_dom_set_state(d, before, HV_SHUTDOWN_NONE);
		hv_sim_guest_printk(d, "Restarting tasks ... done.");
	} else {
		log_info("host %s: domain %u (%s) suspended to %s", h->hostname, domid, d->name, full);
		hv_sim_dom_kill(d);
	}
	free(full);
	hv_sim_end(h);
	return rc;
}

/* Where the restored guest picks up. */
static void resume_guest(struct sim_dom *d, const struct image *im)
{
	struct sim_guest *g = &d->g;
	enum sim_stage s = hv_sim_guest_stage_lookup(im->stage);
	switch (s) {
	case SIM_GUEST_SHELL:
		g->stage = SIM_GUEST_SHELL;
		break;
	case SIM_GUEST_LOGIN:
	case SIM_GUEST_PASSWORD:
	case SIM_GUEST_HALT:
		g->stage = SIM_GUEST_LOGIN;
		break;
	default:
		return; /* it had not booted: it boots again */
	}
	if (s == SIM_GUEST_HALT)
		g->pending = !strcmp(im->halting, "reboot") ? HV_SHUTDOWN_REBOOT : HV_SHUTDOWN_POWEROFF;
	g->resumed = true;
	g->uptime_base = im->uptime;
	g->boot_ns = hv_sim_now();
	d->cpu_acc = im->cpu_time;
	hv_sim_guest_agent(d);
}

int hv_sim_save_restore(struct hv *hv, const struct hv_domain_config *cfg, const char *path,
			bool paused, uint32_t *domid, struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_domain_restore, true, err);
	if (!h)
		return -1;
	if (!cfg || !path || !*path) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, cfg ? "path" : "config", "");
		hv_sim_end(h);
		return -1;
	}
	char *full = resolve(h, path);
	struct image im;
	pthread_mutex_unlock(&h->lock);
	int rc = image_read(full, &im, err);
	pthread_mutex_lock(&h->lock);
	struct hv_domain_config c = *cfg;
	if (!c.uuid || !*c.uuid)
		c.uuid = im.uuid;
	if (c.memory_static_max < im.static_max)
		c.memory_static_max = im.static_max;
	if (c.vcpus_max < im.vcpus_max)
		c.vcpus_max = im.vcpus_max;
	c.hvm = im.hvm;
	struct sim_dom *d = NULL;
	if (rc == 0 && h->closing)
		xc_error_internal(err, "simulated host %s is closing", h->hostname);
	else if (rc == 0 && h->power != SIM_HOST_UP)
		xc_error_set(err, XC_ERR_HOST_OFFLINE, h->hostname);
	else if (rc == 0 && !uuid_is_valid(c.uuid))
		xc_error_set(err, XC_ERR_UUID_INVALID, "VM", c.uuid);
	else if (rc == 0 && hv_sim_dom_admit(h, c.uuid, im.memory, err) == 0)
		d = hv_sim_dom_build(h, &c, im.memory, im.vcpus, "restore", err);
	if (d) {
		uint32_t id = d->domid;
		uint64_t serial = d->serial;
		resume_guest(d, &im);
		hv_sim_sleep(h, save_seconds(im.memory));
		if ((d = hv_sim_dom_again(h, id, serial, "restore", err))) {
			d->busy = NULL;
			if (!paused)
				hv_sim_dom_set_state(d, HV_STATE_RUNNING, HV_SHUTDOWN_NONE);
			*domid = id;
			log_info("host %s: domain %u (%s) restored from %s", h->hostname, id, d->name, full);
		}
	}
	free(full);
	hv_sim_end(h);
	return d ? 0 : -1;
}

/* Both hosts' locks, in address order (h is held on entry). */
static void lock_pair(struct sim_host *h, struct sim_host *to)
{
	if (to == h)
		return;
	if (to < h) {
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_lock(&to->lock);
		pthread_mutex_lock(&h->lock);
	} else {
		pthread_mutex_lock(&to->lock);
	}
}

/* Reserves memory and a domid on the destination; with only h held. */
static int reserve(struct sim_host *h, struct sim_host *to, const char *uuid, uint64_t mem,
		   uint32_t *id, struct xc_error *err)
{
	if (to != h) {
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_lock(&to->lock);
	}
	int rc = -1;
	if (to->closing)
		xc_error_internal(err, "simulated host %s is closing", to->hostname);
	else if (to->power != SIM_HOST_UP)
		xc_error_set(err, XC_ERR_HOST_OFFLINE, to->hostname);
	else if (hv_sim_dom_admit(to, to == h ? NULL : uuid, mem, err) < 0)
		;
	else if (!(*id = hv_sim_dom_alloc_domid(to)))
		xc_error_internal(err, "no free domain id on %s", to->hostname);
	else {
		to->mem_reserved += mem;
		to->inflight++;
		rc = 0;
	}
	if (to != h) {
		pthread_mutex_unlock(&to->lock);
		pthread_mutex_lock(&h->lock);
	}
	return rc;
}

int hv_sim_save_migrate(struct hv *hv, uint32_t domid, struct hv *dest, uint32_t *new_domid,
			struct xc_error *err)
{
	struct sim_host *h = hv_sim_begin(hv, SIM_OP_domain_migrate, true, err);
	if (!h)
		return -1;
	if (!dest || dest->ops != &hv_sim_ops) {
		xc_error_set(err, XC_ERR_INVALID_VALUE, "destination", "not a simulated host");
		hv_sim_end(h);
		return -1;
	}
	struct sim_host *to = (struct sim_host *)dest;
	struct sim_dom *d = hv_sim_dom_live(h, domid, true, "Running", err);
	if (!d) {
		hv_sim_end(h);
		return -1;
	}
	uint64_t mem = d->memory, serial = d->serial;
	char uuid[37];
	snprintf(uuid, sizeof(uuid), "%s", d->uuid);
	d->busy = "migrate";
	uint32_t id = 0;
	if (reserve(h, to, uuid, mem, &id, err) < 0) {
		if ((d = hv_sim_dom_find(h, domid)) && d->serial == serial)
			d->busy = NULL;
		hv_sim_end(h);
		return -1;
	}
	hv_sim_sleep(h, MIGRATE_SECONDS);
	lock_pair(h, to);
	to->mem_reserved -= mem;
	d = hv_sim_dom_again(h, domid, serial, "migration", err);
	if (d && hv_sim_dom_find(to, id))   /* taken meanwhile (the domid space wrapped) */
		id = hv_sim_dom_alloc_domid(to);
	if (d && d->state == HV_STATE_SHUTDOWN) {
		/* It halted, rebooted or crashed while its memory was copying:
		 * the source keeps it (and has reported it). */
		xc_error_set(err, XC_ERR_VM_MIGRATE_FAILED, d->uuid, h->hostname, to->hostname,
			     "the domain shut down during migration");
		d->busy = NULL;
		d = NULL;
	} else if (d && (to->closing || to->power != SIM_HOST_UP || !id)) {
		if (to->closing)
			xc_error_internal(err, "simulated host %s closed during migration", to->hostname);
		else if (!id)
			xc_error_internal(err, "no free domain id on %s", to->hostname);
		else
			xc_error_set(err, XC_ERR_HOST_OFFLINE, to->hostname);
		d->busy = NULL;
		d = NULL;
	} else if (d) {
		hv_sim_console_detach(d);
		hv_sim_dom_unlink(d);
		d->domid = id;
		hv_sim_dom_insert(to, d);
		d->busy = NULL;
		hv_sim_dom_set_state(d, d->state, d->reason);
		*new_domid = id;
		log_info("domain %u (%s) migrated from %s to %s as domain %u", domid, d->name, h->hostname,
			 to->hostname, id);
	}
	to->inflight--;
	if (to->closing && !to->inflight)
		pthread_cond_broadcast(&to->cond);
	if (to != h)
		pthread_mutex_unlock(&to->lock);
	hv_sim_end(h);
	return d ? 0 : -1;
}
