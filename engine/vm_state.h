/* Power-state bookkeeping of VM records: the one place that knows which
 * fields change when a VM halts, starts, pauses or suspends, and the
 * watcher that lets an operation wait for what the backend reports. */
#ifndef XCON_VM_STATE_H
#define XCON_VM_STATE_H

#include "engine_priv.h"

/* Halted: no domain, no host, devices detached, consoles gone. */
int vm_state_halted(struct engine *e, struct store_txn *t, const char *vm, struct xc_error *err);
/* Running (or Paused) on host as domid: devices attached, a console,
 * metrics from the backend. */
int vm_state_running(struct engine *e, struct store_txn *t, const char *vm, const char *host,
		     uint32_t domid, bool paused, struct xc_error *err);
/* Suspended with its memory image in the given VDI. */
int vm_state_suspended(struct engine *e, struct store_txn *t, const char *vm, const char *suspend_vdi,
		       struct xc_error *err);
/* host_metrics.memory_free and friends from the backend. */
int host_metrics_refresh(struct engine *e, struct store_txn *t, const char *host, struct xc_error *err);

/* Domain watch: waiting for the backend's word on a domain. */
struct domwatch;
struct domwatch *domwatch_open(void);
void domwatch_close(struct domwatch *w);
uint64_t domwatch_seq(struct engine *e);
/* Waits until the backend reports a change of (hv, domid) numbered after
 * `after`, up to timeout_ms; gives up early with TASK_CANCELLED if the
 * caller's task is cancelled.  0 and *out on success, -1 with err. */
int domwatch_wait(struct op_ctx *c, struct hv *hv, uint32_t domid, uint64_t after, int timeout_ms,
		  struct hv_event *out, struct xc_error *err);

/* The reaction to a guest that halted, rebooted or crashed by itself
 * (actions_after_shutdown/reboot/crash), run off the backend's thread. */
int reactions_start(struct engine *e, struct xc_error *err);
void reactions_stop(struct engine *e);
void vm_react(struct engine *e, struct hv *hv, const struct hv_event *ev);

#endif
