/* The backend-neutral half of the Xen control interface (see hv.h): picking a
 * backend by name, the hv_* wrappers that turn a NULL slot into
 * NOT_IMPLEMENTED, and freeing the structs backends fill in. */
#include "hv.h"
#include "hv_sim.h"

#include "../util/log.h"
#include "../util/xalloc.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_MODULE "hv"

typedef struct hv *(*hv_open_fn)(const char *name, unsigned index, const char *state_dir,
				 hv_event_fn fn, void *cookie, struct xc_error *err);

static struct hv *xen_open(const char *name, unsigned index, const char *state_dir,
			   hv_event_fn fn, void *cookie, struct xc_error *err);

static const struct hv_backend {
	const char *name;
	hv_open_fn open;
} backends[] = {
	{ "sim", hv_sim_open },
	{ "xen", xen_open },
};

/* The libxenlight backend is written by a later change. */
static struct hv *xen_open(const char *name, unsigned index, const char *state_dir,
			   hv_event_fn fn, void *cookie, struct xc_error *err)
{
	xc_error_set(err, XC_ERR_NOT_IMPLEMENTED, "libxenlight backend");
	return NULL;
}

static bool xenstored_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

bool hv_xen_available(void)
{
	FILE *f = fopen("/proc/xen/capabilities", "re");
	if (f) {
		char line[256];
		bool control = false;
		while (!control && fgets(line, sizeof(line), f))
			control = strstr(line, "control_d") != NULL;
		fclose(f);
		if (control)
			return true;
	}
	if (access("/dev/xen/privcmd", F_OK) != 0)
		return false;
	return xenstored_answers("/run/xenstored/socket") ||
	       xenstored_answers("/var/run/xenstored/socket");
}

struct hv *hv_open(const char *backend, const char *name, unsigned index, const char *state_dir,
		   hv_event_fn fn, void *cookie, struct xc_error *err)
{
	if (!backend || strcmp(backend, "auto") == 0)
		backend = hv_xen_available() ? "xen" : "sim";
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
		if (strcmp(backends[i].name, backend) == 0) {
			struct hv *hv = backends[i].open(name, index, state_dir, fn, cookie, err);
			if (hv)
				log_info("backend %s opened (host %u)", backend, index);
			return hv;
		}
	}
	xc_error_set(err, XC_ERR_INVALID_VALUE, "backend", backend);
	return NULL;
}

void hv_close(struct hv *hv)
{
	if (hv)
		hv->ops->close(hv);
}

/* The wrappers: one line each, the slot's name in the error. */
#define HV_CALL(slot, ...)                                                         \
	do {                                                                       \
		if (!hv || !hv->ops->slot) {                                       \
			xc_error_set(err, XC_ERR_NOT_IMPLEMENTED, "hv." #slot);    \
			return -1;                                                 \
		}                                                                  \
		return hv->ops->slot(hv, __VA_ARGS__);                             \
	} while (0)

int hv_host_info(struct hv *hv, struct hv_host_info *out, struct xc_error *err)
{ HV_CALL(host_info, out, err); }
int hv_domain_create(struct hv *hv, const struct hv_domain_config *cfg, bool paused,
		     uint32_t *domid, struct xc_error *err)
{ HV_CALL(domain_create, cfg, paused, domid, err); }
int hv_domain_pause(struct hv *hv, uint32_t domid, struct xc_error *err)
{ HV_CALL(domain_pause, domid, err); }
int hv_domain_unpause(struct hv *hv, uint32_t domid, struct xc_error *err)
{ HV_CALL(domain_unpause, domid, err); }
int hv_domain_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason how,
		       struct xc_error *err)
{ HV_CALL(domain_shutdown, domid, how, err); }
int hv_domain_destroy(struct hv *hv, uint32_t domid, struct xc_error *err)
{ HV_CALL(domain_destroy, domid, err); }
int hv_domain_suspend(struct hv *hv, uint32_t domid, const char *path, struct xc_error *err)
{ HV_CALL(domain_suspend, domid, path, err); }
int hv_domain_restore(struct hv *hv, const struct hv_domain_config *cfg, const char *path,
		      bool paused, uint32_t *domid, struct xc_error *err)
{ HV_CALL(domain_restore, cfg, path, paused, domid, err); }
int hv_disk_add(struct hv *hv, uint32_t domid, const struct hv_disk *d, struct xc_error *err)
{ HV_CALL(disk_add, domid, d, err); }
int hv_disk_remove(struct hv *hv, uint32_t domid, const char *vdev, struct xc_error *err)
{ HV_CALL(disk_remove, domid, vdev, err); }
int hv_disk_change_media(struct hv *hv, uint32_t domid, const char *vdev, const char *target,
			 struct xc_error *err)
{ HV_CALL(disk_change_media, domid, vdev, target, err); }
int hv_vif_add(struct hv *hv, uint32_t domid, const struct hv_vif *v, struct xc_error *err)
{ HV_CALL(vif_add, domid, v, err); }
int hv_vif_remove(struct hv *hv, uint32_t domid, const char *devid, struct xc_error *err)
{ HV_CALL(vif_remove, domid, devid, err); }
int hv_set_vcpus(struct hv *hv, uint32_t domid, unsigned n, struct xc_error *err)
{ HV_CALL(set_vcpus, domid, n, err); }
int hv_set_memory_target(struct hv *hv, uint32_t domid, uint64_t bytes, struct xc_error *err)
{ HV_CALL(set_memory_target, domid, bytes, err); }
int hv_send_sysrq(struct hv *hv, uint32_t domid, char key, struct xc_error *err)
{ HV_CALL(send_sysrq, domid, key, err); }
int hv_console_pty(struct hv *hv, uint32_t domid, char **path, struct xc_error *err)
{ HV_CALL(console_pty, domid, path, err); }
int hv_domain_list(struct hv *hv, struct hv_domain_info **out, unsigned *n, struct xc_error *err)
{ HV_CALL(domain_list, out, n, err); }
int hv_domain_migrate(struct hv *hv, uint32_t domid, struct hv *dest, uint32_t *new_domid,
		      struct xc_error *err)
{ HV_CALL(domain_migrate, domid, dest, new_domid, err); }
int hv_host_reboot(struct hv *hv, struct xc_error *err)
{ HV_CALL(host_reboot, err); }
int hv_host_shutdown(struct hv *hv, struct xc_error *err)
{ HV_CALL(host_shutdown, err); }
int hv_xenstore_read(struct hv *hv, uint32_t domid, const char *key, char **value,
		     struct xc_error *err)
{ HV_CALL(xenstore_read, domid, key, value, err); }
int hv_send_trigger(struct hv *hv, uint32_t domid, const char *trigger, struct xc_error *err)
{ HV_CALL(send_trigger, domid, trigger, err); }
int hv_disk_resize(struct hv *hv, uint32_t domid, const char *vdev, uint64_t size, struct xc_error *err)
{ HV_CALL(disk_resize, domid, vdev, size, err); }
int hv_host_dmesg(struct hv *hv, bool clear, char **text, struct xc_error *err)
{ HV_CALL(host_dmesg, clear, text, err); }
int hv_host_debug_keys(struct hv *hv, const char *keys, struct xc_error *err)
{ HV_CALL(host_debug_keys, keys, err); }

const char *hv_state_name(enum hv_domain_state s)
{
	switch (s) {
	case HV_STATE_RUNNING: return "running";
	case HV_STATE_PAUSED: return "paused";
	case HV_STATE_SHUTDOWN: return "shutdown";
	case HV_STATE_GONE: return "gone";
	}
	return "unknown";
}

const char *hv_reason_name(enum hv_shutdown_reason r)
{
	switch (r) {
	case HV_SHUTDOWN_POWEROFF: return "poweroff";
	case HV_SHUTDOWN_REBOOT: return "reboot";
	case HV_SHUTDOWN_SUSPEND: return "suspend";
	case HV_SHUTDOWN_CRASH: return "crash";
	case HV_SHUTDOWN_NONE: return "none";
	}
	return "unknown";
}

static void kvs_free(struct hv_kv *kv, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void hv_host_info_free(struct hv_host_info *h)
{
	if (!h)
		return;
	free(h->cpus);
	free(h->nics);
	memset(h, 0, sizeof(*h));
}

void hv_domain_config_free(struct hv_domain_config *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->uuid);
	free(c->kernel);
	free(c->ramdisk);
	free(c->cmdline);
	free(c->bootloader);
	free(c->bootloader_args);
	for (unsigned i = 0; i < c->ndisks; i++) {
		free(c->disks[i].vdev);
		free(c->disks[i].target);
	}
	free(c->disks);
	for (unsigned i = 0; i < c->nvifs; i++) {
		free(c->vifs[i].devid);
		free(c->vifs[i].mac);
		free(c->vifs[i].bridge);
		kvs_free(c->vifs[i].settings, c->vifs[i].nsettings);
	}
	free(c->vifs);
	kvs_free(c->xenstore, c->nxenstore);
	kvs_free(c->platform, c->nplatform);
	memset(c, 0, sizeof(*c));
}
