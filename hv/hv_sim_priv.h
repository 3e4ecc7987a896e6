/* The simulated host's insides, shared by the hv_sim_*.c files and by
 * nothing else.
 *
 * One struct sim_host per hv_sim_open: its domains (struct sim_dom, keyed
 * by domid), its memory book-keeping, and one event-loop thread (epoll over
 * every domain's console pty master, a timerfd for the guests' timed steps
 * and an eventfd to wake it) that runs all its simulated guests and delivers
 * hv_events.
 *
 * Locking: one mutex per host guards everything in it, guests included; the
 * loop thread takes it to run a guest and drops it to call on_event.  A call
 * that takes time (create, suspend, migrate...) sleeps on the host's
 * condition variable, which drops the lock, and afterwards finds its domain
 * again by domid + serial (it may have been destroyed meanwhile).  Migration
 * holds two hosts' locks, taken in address order.  `inflight` counts calls
 * under way so that hv_close waits for them.
 */
#ifndef XCON_HV_SIM_PRIV_H
#define XCON_HV_SIM_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"
#include "../util/buf.h"
#include "../util/strmap.h"

#define SIM_NS 1000000000LL
#define SIM_NEVER INT64_MAX
#define SIM_LINE_MAX 256             /* the guest's line buffer */
#define SIM_OUT_MAX (64 * 1024)      /* console output held while nobody reads */
#define SIM_MIB (1024ULL * 1024)
#define SIM_GIB (1024ULL * SIM_MIB)
#define SIM_MAX_VCPUS 128
#define SIM_DOMID_MAX 0x7fefU        /* DOMID_FIRST_RESERVED - 1 */

/* Every slot of hv_ops, for fault injection and the call counts. */
#define SIM_OPS(X) X(host_info) X(domain_create) X(domain_pause) X(domain_unpause) \
	X(domain_shutdown) X(domain_destroy) X(domain_suspend) X(domain_restore) \
	X(disk_add) X(disk_remove) X(disk_change_media) X(vif_add) X(vif_remove) \
	X(set_vcpus) X(set_memory_target) X(send_sysrq) X(console_pty) X(domain_list) \
	X(domain_migrate) X(host_reboot) X(host_shutdown) X(xenstore_read) \
	X(send_trigger) X(disk_resize) X(host_dmesg) X(host_debug_keys)

enum sim_op {
#define SIM_OP_ENUM(n) SIM_OP_##n,
	SIM_OPS(SIM_OP_ENUM)
#undef SIM_OP_ENUM
	SIM_OP_LAST
};

/* The guest's life, drawn in hv_sim_guest.c. */
enum sim_stage {
	SIM_GUEST_OFF,       /* built, never run yet */
	SIM_GUEST_BOOT,      /* printing its boot log */
	SIM_GUEST_LOGIN,     /* "<name> login: " */
	SIM_GUEST_PASSWORD,  /* "Password: " */
	SIM_GUEST_SHELL,     /* "root@<name>:~# " */
	SIM_GUEST_HALT,      /* printing its shutdown log */
	SIM_GUEST_DEAD,      /* halted, rebooted away or crashed */
	SIM_GUEST_LAST
};

enum sim_power { SIM_HOST_UP, SIM_HOST_REBOOTING, SIM_HOST_DOWN };

/* Keys of the loop's epoll registrations: kind << 32 | domid. */
enum sim_key { SIM_KEY_WAKE = 1, SIM_KEY_TIMER, SIM_KEY_PTY };

struct sim_kvs {
	struct hv_kv *v;
	unsigned n;
};

struct sim_disk {
	char *vdev;          /* normalised: xvd<letters>[<partition>] */
	char *target;        /* NULL: empty drive */
	enum hv_disk_mode mode;
	bool cdrom;
	bool bootable;
	uint64_t size;       /* bytes, once an online resize told it; 0 before */
};

struct sim_vif {
	char *devid;
	char *mac;
	char *bridge;
	unsigned mtu;
	struct sim_kvs settings;
};

struct sim_console {
	int master, slave;   /* -1 when closed; the slave is held as xenconsoled does */
	char path[64];       /* the slave, /dev/pts/N */
	char *ring;          /* output the pty would not take yet: a ring of */
	size_t head, queued; /* SIM_OUT_MAX bytes, allocated while non-empty */
	struct buf batch;    /* output gathered while one chunk of input is handled */
	bool batching;
	uint32_t mask;       /* epoll events registered */
	struct sim_host *loop; /* whose epoll it is registered with, NULL if none */
	unsigned hups;       /* hang-ups recovered from, to give up on a dead pty */
};

struct sim_guest {
	enum sim_stage stage;
	char host[64];          /* its hostname: the domain name made safe */
	char line[SIM_LINE_MAX];
	size_t len;
	unsigned char esc;      /* 0; 1 after ESC; 2 inside a CSI/SS3 sequence */
	bool cr;                /* last byte was CR: a following LF is the same Enter */
	char *boot;             /* the boot log being printed, one line per step */
	size_t boot_pos;
	double boot_step;       /* seconds between boot lines, scaled */
	unsigned step;          /* halting step */
	enum hv_shutdown_reason halt_reason;
	enum hv_shutdown_reason pending; /* toolstack request not yet acted on */
	char sysrq;             /* sysrq not yet acted on, 0 for none */
	bool asleep;            /* in ACPI S3 (trigger sleep) until s3resume: deaf */
	bool resumed;           /* restored or migrated in: say so once it runs */
	int64_t act_due;        /* next boot/halt step, SIM_NEVER for none */
	double uptime_base;     /* uptime carried over from a suspend image */
	int64_t boot_ns;        /* monotonic start of this run */
	struct sim_kvs xs;      /* what the guest wrote to xenstore */
};

struct sim_dom {
	struct sim_host *host;
	uint32_t domid;
	uint64_t serial;        /* unique in the process: finds a domain again after a sleep */
	char uuid[37];
	char *name;
	enum hv_domain_state state;
	enum hv_shutdown_reason reason;
	uint64_t memory, static_max;
	unsigned vcpus, vcpus_max;
	bool hvm;
	char *cmdline;
	int64_t start_time;
	double cpu_acc;         /* cpu seconds up to run_since */
	int64_t run_since;      /* monotonic ns it last started running, 0 if not running */
	const char *busy;       /* long call under way ("create", "suspend", ...) or NULL */
	struct sim_disk *disks;
	unsigned ndisks;
	struct sim_vif *vifs;
	unsigned nvifs;
	struct sim_kvs xs;      /* the config's xenstore entries */
	struct sim_console con;
	struct sim_guest g;
	int64_t due;            /* the loop's timer for this domain */
	size_t heap_idx;        /* SIZE_MAX when no timer is set */
};

struct sim_fault {
	enum sim_op op;
	unsigned long nth;
};

struct sim_host {
	struct hv hv;           /* first: a struct hv * is a struct sim_host * */
	pthread_mutex_t lock;
	pthread_cond_t cond;    /* sleeps (cut short by close) and the inflight drain */
	char *hostname;
	unsigned index;
	char *state_dir;
	double scale;           /* XCON_SIM_TIME_SCALE */
	int64_t boot_wall;      /* when the host (last) came up, unix seconds */
	/* memory, bytes */
	uint64_t mem_total, mem_overhead, mem_dom0;
	uint64_t mem_used;      /* sum of the domains' allocations */
	uint64_t mem_reserved;  /* promised to incoming migrations */
	unsigned ncpus;
	struct hv_cpu *cpus;
	/* domains */
	struct strmap doms;     /* "<domid>" -> struct sim_dom */
	struct strmap uuids;    /* uuid -> struct sim_dom */
	unsigned ndoms;
	uint32_t next_domid;
	struct buf conring;     /* Xen's console ring (xl dmesg), bounded */
	enum sim_power power;
	int64_t power_due;      /* when a rebooting host is up again */
	unsigned inflight;
	bool closing;
	/* the loop (hv_sim_loop.c) */
	pthread_t thread;
	bool thread_started;
	bool stop;              /* the loop is to end */
	bool self_free;         /* hv_close came from the loop thread: it frees */
	int epfd, wakefd, timerfd;
	int64_t armed;          /* when the timerfd fires, SIM_NEVER if disarmed */
	struct sim_dom **heap;
	size_t nheap, capheap;
	struct hv_event *evq;
	size_t nev, capev;
	/* fault injection (hv_sim_fault.c) */
	struct sim_fault *faults;
	unsigned nfaults;
	unsigned long calls[SIM_OP_LAST];
};

/* hv_sim.c: the core */
extern const struct hv_ops hv_sim_ops;
int64_t hv_sim_now(void);
/* Enters a call: locks h, refuses it when closing, when the fault plan says
 * so, or (need_up) when the host is not up; counts it in flight.  Returns
 * the host, locked, or NULL with err set (unlocked). */
struct sim_host *hv_sim_begin(struct hv *hv, enum sim_op op, bool need_up, struct xc_error *err);
/* Leaves a call begun with hv_sim_begin: unlocks. */
void hv_sim_end(struct sim_host *h);
/* Sleeps secs of simulated time (scaled) with h->lock held, dropping it
 * meanwhile; false if the host started closing. */
bool hv_sim_sleep(struct sim_host *h, double secs);
/* Frees a host once its loop has stopped. */
void hv_sim_free(struct sim_host *h);
void hv_sim_kvs_set(struct sim_kvs *kv, const char *key, const char *value);
const char *hv_sim_kvs_get(const struct sim_kvs *kv, const char *key);
void hv_sim_kvs_copy(struct sim_kvs *dst, const struct hv_kv *src, unsigned n);
void hv_sim_kvs_free(struct sim_kvs *kv);

/* hv_sim_host.c: host facts and power */
int hv_sim_host_load(struct sim_host *h, const char *name, struct xc_error *err);
int hv_sim_host_info(struct hv *hv, struct hv_host_info *out, struct xc_error *err);
int hv_sim_host_memory(struct hv *hv, uint64_t *total, uint64_t *free_bytes, struct xc_error *err);
int hv_sim_host_reboot(struct hv *hv, struct xc_error *err);
int hv_sim_host_shutdown(struct hv *hv, struct xc_error *err);
uint64_t hv_sim_host_memory_free(const struct sim_host *h);
void hv_sim_host_tick(struct sim_host *h, int64_t now);

/* hv_sim_domain.c: domains and their memory */
int hv_sim_dom_create(struct hv *hv, const struct hv_domain_config *cfg, bool paused,
		      uint32_t *domid, struct xc_error *err);
int hv_sim_dom_pause(struct hv *hv, uint32_t domid, struct xc_error *err);
int hv_sim_dom_unpause(struct hv *hv, uint32_t domid, struct xc_error *err);
int hv_sim_dom_shutdown(struct hv *hv, uint32_t domid, enum hv_shutdown_reason how,
			struct xc_error *err);
int hv_sim_dom_destroy(struct hv *hv, uint32_t domid, struct xc_error *err);
int hv_sim_dom_set_vcpus(struct hv *hv, uint32_t domid, unsigned n, struct xc_error *err);
int hv_sim_dom_set_memory_target(struct hv *hv, uint32_t domid, uint64_t bytes,
				 struct xc_error *err);
int hv_sim_dom_send_sysrq(struct hv *hv, uint32_t domid, char key, struct xc_error *err);
int hv_sim_dom_console_pty(struct hv *hv, uint32_t domid, char **path, struct xc_error *err);
int hv_sim_dom_list(struct hv *hv, struct hv_domain_info **out, unsigned *n, struct xc_error *err);
int hv_sim_dom_xenstore_read(struct hv *hv, uint32_t domid, const char *key, char **value,
			     struct xc_error *err);
struct sim_dom *hv_sim_dom_find(const struct sim_host *h, uint32_t domid);
/* The domain a call names: not dom0, existing, and (if set) not busy. */
struct sim_dom *hv_sim_dom_get(struct sim_host *h, uint32_t domid, bool idle, struct xc_error *err);
/* hv_sim_dom_get, and not shut down: that is an error naming `expected`. */
struct sim_dom *hv_sim_dom_live(struct sim_host *h, uint32_t domid, bool idle,
				const char *expected, struct xc_error *err);
/* Builds a domain from a config (memory and vcpus already decided), with
 * its devices and console, inserted paused and busy; NULL with err set. */
struct sim_dom *hv_sim_dom_build(struct sim_host *h, const struct hv_domain_config *cfg,
				 uint64_t memory, unsigned vcpus, const char *busy,
				 struct xc_error *err);
/* Checks a new domain of `memory` bytes and this uuid fits on h. */
int hv_sim_dom_admit(struct sim_host *h, const char *uuid, uint64_t memory, struct xc_error *err);
uint32_t hv_sim_dom_alloc_domid(struct sim_host *h);
void hv_sim_dom_insert(struct sim_host *h, struct sim_dom *d);
void hv_sim_dom_unlink(struct sim_dom *d);
/* Unlinks (if linked), closes the console and frees. */
void hv_sim_dom_kill(struct sim_dom *d);
/* Finds a domain again after a sleep; NULL with err set if it is gone. */
struct sim_dom *hv_sim_dom_again(struct sim_host *h, uint32_t domid, uint64_t serial,
				 const char *during, struct xc_error *err);
void hv_sim_dom_set_state(struct sim_dom *d, enum hv_domain_state s, enum hv_shutdown_reason r);
/* The guest has stopped by itself: SHUTDOWN(r) and an event. */
void hv_sim_dom_shutdown_done(struct sim_dom *d, enum hv_shutdown_reason r);
double hv_sim_dom_cpu_time(const struct sim_dom *d, int64_t now);
void hv_sim_dom_err_state(struct xc_error *err, const struct sim_dom *d, const char *expected);
/* A xenstore key of the domain; tmp holds computed values.  NULL if absent. */
const char *hv_sim_dom_xs_get(const struct sim_dom *d, const char *key, char tmp[128]);

/* hv_sim_xen.c: the hypervisor's own console ring, debug keys, triggers */
/* Fills the ring with Xen's boot messages (host open and reboot). */
void hv_sim_xen_boot(struct sim_host *h);
void hv_sim_xen_printk(struct sim_host *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int hv_sim_xen_dmesg(struct hv *hv, bool clear, char **text, struct xc_error *err);
int hv_sim_xen_debug_keys(struct hv *hv, const char *keys, struct xc_error *err);
int hv_sim_xen_send_trigger(struct hv *hv, uint32_t domid, const char *trigger, struct xc_error *err);

/* hv_sim_save.c: suspend images and migration */
int hv_sim_save_suspend(struct hv *hv, uint32_t domid, const char *path, struct xc_error *err);
int hv_sim_save_restore(struct hv *hv, const struct hv_domain_config *cfg, const char *path,
			bool paused, uint32_t *domid, struct xc_error *err);
int hv_sim_save_migrate(struct hv *hv, uint32_t domid, struct hv *dest, uint32_t *new_domid,
			struct xc_error *err);

/* hv_sim_device.c: disks and vifs */
int hv_sim_device_disk_add(struct hv *hv, uint32_t domid, const struct hv_disk *disk,
			   struct xc_error *err);
int hv_sim_device_disk_remove(struct hv *hv, uint32_t domid, const char *vdev, struct xc_error *err);
int hv_sim_device_disk_change_media(struct hv *hv, uint32_t domid, const char *vdev,
				    const char *target, struct xc_error *err);
int hv_sim_device_vif_add(struct hv *hv, uint32_t domid, const struct hv_vif *v, struct xc_error *err);
int hv_sim_device_vif_remove(struct hv *hv, uint32_t domid, const char *devid, struct xc_error *err);
/* Attaches the config's devices to a domain being built (no guest message). */
int hv_sim_device_attach_all(struct sim_dom *d, const struct hv_domain_config *cfg,
			     struct xc_error *err);
void hv_sim_device_free_all(struct sim_dom *d);
int hv_sim_device_disk_resize(struct hv *hv, uint32_t domid, const char *vdev, uint64_t size,
			      struct xc_error *err);
const struct sim_vif *hv_sim_device_vif_find(const struct sim_dom *d, const char *devid);
/* The ethtool-* keys a VIF may carry and the guest's names for them. */
struct sim_ethtool_key {
	const char *key;       /* "ethtool-tx" */
	const char *feature;   /* "tx-checksumming" */
	bool dflt;
};
extern const struct sim_ethtool_key hv_sim_ethtool_keys[];
extern const unsigned hv_sim_nethtool_keys;
/* The value of a VIF setting as the guest sees it ("on"/"off" for ethtool). */
bool hv_sim_device_setting_on(const struct sim_vif *v, const char *key, bool dflt);
unsigned hv_sim_device_vif_mtu(const struct sim_vif *v);

/* hv_sim_console.c: the pty */
int hv_sim_console_open(struct sim_dom *d, struct xc_error *err);
void hv_sim_console_close(struct sim_dom *d);
/* Takes the pty out of its loop (before the domain moves to another host). */
void hv_sim_console_detach(struct sim_dom *d);
void hv_sim_console_write(struct sim_dom *d, const char *p, size_t n);
void hv_sim_console_io(struct sim_dom *d, uint32_t events);
/* Re-registers the pty with its host's loop for what it now wants. */
void hv_sim_console_update(struct sim_dom *d);

/* hv_sim_guest.c: the simulated guest (all under the host lock) */
void hv_sim_guest_init(struct sim_dom *d);
void hv_sim_guest_free(struct sim_dom *d);
void hv_sim_guest_tick(struct sim_dom *d, int64_t now);
/* Puts the domain's timer where the guest next needs to act. */
void hv_sim_guest_resched(struct sim_dom *d);
void hv_sim_guest_input(struct sim_dom *d, const char *p, size_t n);
void hv_sim_guest_request(struct sim_dom *d, enum hv_shutdown_reason how);
void hv_sim_guest_sysrq(struct sim_dom *d, char key, bool now);
void hv_sim_guest_halt(struct sim_dom *d, enum hv_shutdown_reason r);
void hv_sim_guest_logout(struct sim_dom *d);
void hv_sim_guest_puts(struct sim_dom *d, const char *s);
void hv_sim_guest_printf(struct sim_dom *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A kernel message: "[uptime] text\r\n". */
void hv_sim_guest_printk(struct sim_dom *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double hv_sim_guest_uptime(const struct sim_dom *d);
/* What the guest's agent writes to xenstore once it is up. */
void hv_sim_guest_agent(struct sim_dom *d);
const char *hv_sim_guest_stage_name(enum sim_stage s);
enum sim_stage hv_sim_guest_stage_lookup(const char *name);
extern const char hv_sim_guest_kernel[];   /* the guest's uname -r */
extern const char hv_sim_guest_build[];    /* and its uname -v */
extern const char hv_sim_guest_os[];       /* PRETTY_NAME */
extern const char hv_sim_guest_ok[];       /* systemd's "[  OK  ] " */

/* hv_sim_boot.c: the boot log, one line per \n (caller frees) */
char *hv_sim_boot_log(const struct sim_dom *d);

/* hv_sim_shell.c: the guest's shell */
void hv_sim_shell_run(struct sim_dom *d, char *line);

/* hv_sim_loop.c: the host's thread */
int hv_sim_loop_start(struct sim_host *h, struct xc_error *err);
/* Stops and joins the loop; false when called on the loop thread itself
 * (it then frees the host when it unwinds). */
bool hv_sim_loop_stop(struct sim_host *h);
void hv_sim_loop_free(struct sim_host *h);
void hv_sim_loop_timer_set(struct sim_dom *d, int64_t due);
void hv_sim_loop_host_timer(struct sim_host *h, int64_t due);
void hv_sim_loop_event(struct sim_host *h, uint32_t domid, const char *uuid,
		       enum hv_domain_state s, enum hv_shutdown_reason r);
int hv_sim_loop_watch(struct sim_host *h, struct sim_dom *d, int op, uint32_t mask);

/* hv_sim_fault.c */
int hv_sim_fault_parse(const char *spec, struct sim_fault **out, unsigned *n, struct xc_error *err);
/* Counts a call of op; true if the plan says this one fails. */
bool hv_sim_fault_hit(struct sim_host *h, enum sim_op op);
const char *hv_sim_op_name(enum sim_op op);

#endif
