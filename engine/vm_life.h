/* VM lifecycle operations shared between the messages (op_vm_life.c) and
 * the reactions to guests that change state by themselves. */
#ifndef XCON_VM_LIFE_H
#define XCON_VM_LIFE_H

#include "engine_priv.h"
#include "vm_ops.h"

/* Builds the VM's domain and boots it on host; records it running. */
int vm_boot(struct op_ctx *c, const char *vm, const char *host, bool paused, struct xc_error *err);

#endif
