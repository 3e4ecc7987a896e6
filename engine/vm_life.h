/* VM lifecycle operations shared between the messages (op_vm_life.c) and
 * the reactions to guests that change state by themselves. */
#ifndef XCON_VM_LIFE_H
#define XCON_VM_LIFE_H

#include "engine_priv.h"
#include "vm_ops.h"

/* Builds the VM's domain and boots it on host; records it running. */
int vm_boot(struct op_ctx *c, const char *vm, const char *host, bool paused, struct xc_error *err);

/* Runs fn on the VM's running domain between vm_op_begin(op) and vm_op_end,
 * then apply (if given) in the closing transaction.  Returns void or NULL. */
struct value *with_domain(struct op_ctx *c, const char *vm, const char *op,
			  int (*fn)(struct op_ctx *, const char *, const struct value *, struct hv *, uint32_t,
				    void *, struct xc_error *),
			  int (*apply)(struct op_ctx *, struct store_txn *, const char *, void *, struct xc_error *),
			  void *arg, struct xc_error *err);

#endif
