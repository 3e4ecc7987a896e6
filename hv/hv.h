/* The Xen control interface: what the engine asks of a hypervisor, shaped
 * after libxenlight (domain create from a full config, pause, unpause,
 * shutdown requests, destroy, suspend/resume, device hot-plug, console pty,
 * and a stream of domain state changes).
 *
 * Two backends implement it: the simulated host (hv_sim_*.c, the default
 * wherever no Xen runs) and libxenlight + libxenstore (hv_xen_*.c).  Engine
 * code above this header never knows which one runs.  A NULL slot in the ops
 * table means "not supported by this backend"; hv_* wrappers turn that into
 * NOT_IMPLEMENTED.
 *
 * Sizes are bytes, times are seconds.  Every function returns 0 or -1 with
 * err set to the XenAPI error the engine should report (e.g.
 * HOST_NOT_ENOUGH_FREE_MEMORY [needed, available]).
 */
#ifndef XCON_HV_H
#define XCON_HV_H

#include <stdbool.h>
#include <stdint.h>

#include "../util/error.h"

struct hv;

struct hv_cpu {
	char vendor[64];
	char modelname[128];
	char flags[1024];
	char stepping[16];
	unsigned speed_mhz;
	unsigned family, model;
};

struct hv_nic {
	char device[32];      /* eth0, enp1s0 */
	char mac[18];         /* lowercase aa:bb:cc:dd:ee:ff */
	unsigned mtu;
	bool carrier;
	unsigned speed_mbit;
	bool duplex_full;
	char vendor_name[64];
	char device_name[128];
	char pci_bus_path[32];
	bool physical;        /* a real NIC, not a bridge or virtual device */
};

struct hv_host_info {
	char hostname[256];
	char address[64];      /* management address, "" if none */
	char xen_version[32];
	char linux_version[64];
	char sched_policy[32];
	char capabilities[256]; /* space separated, e.g. "xen-3.0-x86_64 hvm-3.0-x86_32" */
	uint64_t memory_total;
	uint64_t memory_free;
	uint64_t memory_overhead;
	unsigned ncpus;
	struct hv_cpu *cpus;   /* ncpus of them */
	unsigned nnics;
	struct hv_nic *nics;
};

/* Frees what host_info filled in (not the struct itself, which is usually
 * the caller's local) and zeroes it.  NULL is fine. */
void hv_host_info_free(struct hv_host_info *h);

enum hv_disk_mode { HV_DISK_RO, HV_DISK_RW };

struct hv_disk {
	char *vdev;            /* guest device: "xvda", "hdc", or the userdevice number */
	char *target;          /* backing file; NULL for an empty CD drive */
	enum hv_disk_mode mode;
	bool cdrom;
	bool bootable;
};

struct hv_kv {
	char *key;
	char *value;
};

struct hv_vif {
	char *devid;           /* "0", "1" ... */
	char *mac;
	char *bridge;
	unsigned mtu;
	struct hv_kv *settings;  /* ethtool-* and the other other-config keys */
	unsigned nsettings;
};

struct hv_domain_config {
	char *name;
	char *uuid;
	uint64_t memory_static_max;
	uint64_t memory_target;
	unsigned vcpus_max;
	unsigned vcpus;
	bool hvm;
	char *kernel, *ramdisk, *cmdline;   /* PV direct boot */
	char *bootloader, *bootloader_args; /* PV bootloader (pygrub) */
	struct hv_disk *disks;
	unsigned ndisks;
	struct hv_vif *vifs;
	unsigned nvifs;
	struct hv_kv *xenstore;   /* guest-visible entries, keys relative to the domain path */
	unsigned nxenstore;
	struct hv_kv *platform;
	unsigned nplatform;
};

/* Frees every string and array a config holds (not the struct itself) and
 * zeroes it.  NULL is fine. */
void hv_domain_config_free(struct hv_domain_config *c);

enum hv_domain_state {
	HV_STATE_RUNNING,
	HV_STATE_PAUSED,
	HV_STATE_SHUTDOWN,   /* stopped, see shutdown_reason; still exists until destroyed */
	HV_STATE_GONE
};

enum hv_shutdown_reason {
	HV_SHUTDOWN_POWEROFF,
	HV_SHUTDOWN_REBOOT,
	HV_SHUTDOWN_SUSPEND,
	HV_SHUTDOWN_CRASH,
	HV_SHUTDOWN_NONE
};

struct hv_domain_info {
	uint32_t domid;
	char uuid[37];
	enum hv_domain_state state;
	enum hv_shutdown_reason reason;
	uint64_t memory;      /* current allocation */
	unsigned vcpus;
	double cpu_time;
	int64_t start_time;
};

/* A change in a domain's state, reported without being asked (a guest
 * that halts, reboots or crashes by itself, or finishes a requested
 * shutdown).  The engine reconciles VM records from these.  Changes the
 * engine asked for and that complete before the call returns (create,
 * pause, unpause, destroy, suspend, migrate) raise no event.
 *
 * domid 0 stands for the host itself: when the host goes down (host_reboot,
 * host_shutdown) every domain reports HV_STATE_GONE, then domid 0 reports
 * HV_STATE_GONE; when a rebooting host is back, domid 0 reports
 * HV_STATE_RUNNING.  The uuid of domid 0 is all zeros. */
struct hv_event {
	uint32_t domid;
	char uuid[37];
	enum hv_domain_state state;
	enum hv_shutdown_reason reason;
};

typedef void (*hv_event_fn)(void *cookie, struct hv *hv, const struct hv_event *ev);

struct hv_ops {
	const char *name;   /* "sim", "xen" */
	void (*close)(struct hv *hv);
	int (*host_info)(struct hv *hv, struct hv_host_info *out, struct xc_error *err);
	/* Just the memory figures, cheaply: metrics refresh after every VM
	 * start and stop (host_info reads NICs and CPUs too). */
	int (*host_memory)(struct hv *hv, uint64_t *total, uint64_t *free_bytes, struct xc_error *err);
	int (*domain_create)(struct hv *hv, const struct hv_domain_config *cfg, bool paused,
			     uint32_t *domid, struct xc_error *err);
	int (*domain_pause)(struct hv *hv, uint32_t domid, struct xc_error *err);
	int (*domain_unpause)(struct hv *hv, uint32_t domid, struct xc_error *err);
	/* Asks the guest to power off or reboot; completion arrives as an event. */
	int (*domain_shutdown)(struct hv *hv, uint32_t domid, enum hv_shutdown_reason how,
			       struct xc_error *err);
	int (*domain_destroy)(struct hv *hv, uint32_t domid, struct xc_error *err);
	int (*domain_suspend)(struct hv *hv, uint32_t domid, const char *path, struct xc_error *err);
	int (*domain_restore)(struct hv *hv, const struct hv_domain_config *cfg, const char *path,
			      bool paused, uint32_t *domid, struct xc_error *err);
	int (*disk_add)(struct hv *hv, uint32_t domid, const struct hv_disk *d, struct xc_error *err);
	int (*disk_remove)(struct hv *hv, uint32_t domid, const char *vdev, struct xc_error *err);
	int (*disk_change_media)(struct hv *hv, uint32_t domid, const char *vdev, const char *target,
				 struct xc_error *err);
	int (*vif_add)(struct hv *hv, uint32_t domid, const struct hv_vif *v, struct xc_error *err);
	int (*vif_remove)(struct hv *hv, uint32_t domid, const char *devid, struct xc_error *err);
	int (*set_vcpus)(struct hv *hv, uint32_t domid, unsigned n, struct xc_error *err);
	int (*set_memory_target)(struct hv *hv, uint32_t domid, uint64_t bytes, struct xc_error *err);
	int (*send_sysrq)(struct hv *hv, uint32_t domid, char key, struct xc_error *err);
	/* Path of the pty carrying the domain's text console (caller frees). */
	int (*console_pty)(struct hv *hv, uint32_t domid, char **path, struct xc_error *err);
	/* Every domain, dom0 (domid 0, uuid all zeros) first as libxl_list_domain
	 * has it, then by domid; *out is one array the caller frees with free(). */
	int (*domain_list)(struct hv *hv, struct hv_domain_info **out, unsigned *n, struct xc_error *err);
	/* Moves a running domain to another backend instance (the simulated
	 * pool's migration; libxl uses its own send/receive). */
	int (*domain_migrate)(struct hv *hv, uint32_t domid, struct hv *dest, uint32_t *new_domid,
			      struct xc_error *err);
	/* Host power: a rebooting host loses its domains as a real one does. */
	int (*host_reboot)(struct hv *hv, struct xc_error *err);
	int (*host_shutdown)(struct hv *hv, struct xc_error *err);
	/* Reads a xenstore key of a domain: relative keys are below
	 * /local/domain/<domid>/ (as the config's xenstore entries are); the
	 * guest's own writes (data/, attr/: its agent's metrics) are seen too.
	 * An absent key is not an error: 0 with *value NULL.  Caller frees. */
	int (*xenstore_read)(struct hv *hv, uint32_t domid, const char *key, char **value,
			     struct xc_error *err);
	/* A named trigger, as libxl_send_trigger: "power" and "sleep" (ACPI
	 * buttons), "s3resume", "init" (HVM only: VM_HVM_REQUIRED [uuid]),
	 * "nmi", "reset"; another name is INVALID_VALUE ["trigger", name]. */
	int (*send_trigger)(struct hv *hv, uint32_t domid, const char *trigger, struct xc_error *err);
	/* Tells a domain that the disk behind vdev now has `size` bytes (the
	 * backend's online resize; blkfront sees the new capacity). */
	int (*disk_resize)(struct hv *hv, uint32_t domid, const char *vdev, uint64_t size,
			   struct xc_error *err);
	/* The hypervisor's console ring, as `xl dmesg` (caller frees); clear
	 * empties it after reading, as `xl dmesg -c`. */
	int (*host_dmesg)(struct hv *hv, bool clear, char **text, struct xc_error *err);
	/* Debug-key presses, as `xl debug-keys`: printable ASCII only
	 * (INVALID_VALUE ["keys", keys]); the output lands in the ring. */
	int (*host_debug_keys)(struct hv *hv, const char *keys, struct xc_error *err);
};

struct hv {
	const struct hv_ops *ops;
	hv_event_fn on_event;
	void *on_event_cookie;
};

/* Is a Xen control domain present on this machine? (for --backend auto)
 * Cheap checks only: /proc/xen/capabilities says control_d, or
 * /dev/xen/privcmd exists and xenstored's socket accepts a connection. */
bool hv_xen_available(void);
/* Opens a backend: "sim" (name is the simulated host's name, NULL or "" for
 * this machine's hostname, "<hostname>-sim<index>" when index > 0; index its
 * number in a simulated pool; state_dir, may be NULL, is where relative
 * suspend image paths land), "xen", or "auto" (= "xen" when
 * hv_xen_available(), else "sim").  Events are delivered to fn from the
 * backend's own thread and never under the backend's lock: fn may call any
 * hv_* function, even hv_close of this backend (the backend's thread then
 * finishes the close once fn returns). */
struct hv *hv_open(const char *backend, const char *name, unsigned index, const char *state_dir,
		   hv_event_fn fn, void *cookie, struct xc_error *err);
/* Stops the backend's thread, kills its domains (no events), closes their
 * consoles and frees it.  Waits for calls still running on other threads;
 * no call may start once hv_close has.  NULL is fine. */
void hv_close(struct hv *hv);

/* The calls the engine makes: each checks its slot and answers
 * NOT_IMPLEMENTED ["hv.<slot>"] when the backend lacks it. */
int hv_host_info(struct hv *hv, struct hv_host_info *out, struct xc_error *err);
int hv_domain_create(struct hv *hv, const struct hv_domain_config *cfg, bool paused,
		     uint32_t *domid, struct xc_error *err);
int hv_domain_pause(struct hv *hv, uint32_t domid, struct xc_error *err);
int hv_domain_unpause(struct hv *hv, uint32_t domid, struct xc_error *err);
int hv_domain_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason how,
		       struct xc_error *err);
int hv_domain_destroy(struct hv *hv, uint32_t domid, struct xc_error *err);
int hv_domain_suspend(struct hv *hv, uint32_t domid, const char *path, struct xc_error *err);
int hv_domain_restore(struct hv *hv, const struct hv_domain_config *cfg, const char *path,
		      bool paused, uint32_t *domid, struct xc_error *err);
int hv_disk_add(struct hv *hv, uint32_t domid, const struct hv_disk *d, struct xc_error *err);
int hv_disk_remove(struct hv *hv, uint32_t domid, const char *vdev, struct xc_error *err);
int hv_disk_change_media(struct hv *hv, uint32_t domid, const char *vdev, const char *target,
			 struct xc_error *err);
int hv_vif_add(struct hv *hv, uint32_t domid, const struct hv_vif *v, struct xc_error *err);
int hv_vif_remove(struct hv *hv, uint32_t domid, const char *devid, struct xc_error *err);
int hv_set_vcpus(struct hv *hv, uint32_t domid, unsigned n, struct xc_error *err);
int hv_set_memory_target(struct hv *hv, uint32_t domid, uint64_t bytes, struct xc_error *err);
int hv_send_sysrq(struct hv *hv, uint32_t domid, char key, struct xc_error *err);
int hv_console_pty(struct hv *hv, uint32_t domid, char **path, struct xc_error *err);
int hv_domain_list(struct hv *hv, struct hv_domain_info **out, unsigned *n, struct xc_error *err);
int hv_domain_migrate(struct hv *hv, uint32_t domid, struct hv *dest, uint32_t *new_domid,
		      struct xc_error *err);
int hv_host_reboot(struct hv *hv, struct xc_error *err);
int hv_host_shutdown(struct hv *hv, struct xc_error *err);
int hv_xenstore_read(struct hv *hv, uint32_t domid, const char *key, char **value,
		     struct xc_error *err);
int hv_send_trigger(struct hv *hv, uint32_t domid, const char *trigger, struct xc_error *err);
int hv_disk_resize(struct hv *hv, uint32_t domid, const char *vdev, uint64_t size, struct xc_error *err);
int hv_host_dmesg(struct hv *hv, bool clear, char **text, struct xc_error *err);
int hv_host_debug_keys(struct hv *hv, const char *keys, struct xc_error *err);

/* Names for logs and messages ("running", "poweroff"). */
const char *hv_state_name(enum hv_domain_state s);
const char *hv_reason_name(enum hv_shutdown_reason r);

#endif
