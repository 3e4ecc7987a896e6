/* Power-state bookkeeping of VM records: the one place that knows which
 * fields change when a VM halts, starts, pauses or suspends (vm_state.c). */
#ifndef XCON_VM_STATE_H
#define XCON_VM_STATE_H

#include "engine_priv.h"

/* Halted: no domain, no host, metrics reset, VBDs/VIFs detached. */
int vm_state_halted(struct engine *e, struct store_txn *t, const char *vm, struct xc_error *err);

#endif
