/* The simulated Xen host: the backend hv_open("sim", ...) returns, plus the
 * few hooks tests and the simulated pool use.  The engine never includes
 * this header (tools/check-layers enforces it); it goes through hv.h. */
#ifndef XCON_HV_SIM_H
#define XCON_HV_SIM_H

#include "hv.h"

/* Opens simulated host number index (0 is this machine, i > 0 the pool's
 * other hosts); see hv.h's hv_open.  Reads XCON_SIM_TIME_SCALE,
 * XCON_SIM_HOST_MEMORY and XCON_SIM_FAIL (hv/README.md); a malformed value
 * fails the open with INVALID_VALUE [variable, value]. */
struct hv *hv_sim_open(const char *name, unsigned index, const char *state_dir,
		       hv_event_fn fn, void *cookie, struct xc_error *err);

/* A text description of the host and every domain (state, memory, devices
 * with their settings, xenstore entries, guest stage, console path), for
 * tests and debugging.  Caller frees.  NULL if hv is not a simulated host. */
char *hv_sim_debug_dump(struct hv *hv);

/* Replaces the fault plan ("op:N[,op:N...]", as XCON_SIM_FAIL) and zeroes
 * the call counts.  NULL or "" clears it. */
int hv_sim_set_faults(struct hv *hv, const char *spec, struct xc_error *err);

/* Powers a host that host_shutdown turned off back on; it comes up after
 * the (scaled) boot delay and reports domid 0 HV_STATE_RUNNING. */
int hv_sim_host_power_on(struct hv *hv, struct xc_error *err);

#endif
