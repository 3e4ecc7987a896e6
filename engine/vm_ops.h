/* Which VM operations are allowed when, and the bookkeeping of operations in
 * flight (current_operations) that makes concurrent callers see
 * OTHER_OPERATION_IN_PROGRESS instead of racing.
 *
 * Power states and the operations between them (xapi's rules):
 *
 *            start/start_on            pause
 *   Halted ------------------> Running ------> Paused
 *     ^  ^   clean_/hard_shutdown |  ^  <------   |
 *     |  +------------------------+  |  unpause   |
 *     |        suspend |   resume/   |            |
 *     |                v   resume_on |            |
 *     +---hard_shutdown-- Suspended -+            |
 *     +-------------------hard_shutdown-----------+
 */
#ifndef XCON_VM_OPS_H
#define XCON_VM_OPS_H

#include "engine_priv.h"

/* Checks op against the VM record: power state, operations in flight,
 * templates, the control domain.  Sets the XenAPI error of the first check
 * that fails (xapi's order). */
int vm_op_check(const char *vm, const struct value *rec, const char *op, struct xc_error *err);

/* Starts an operation: checks it inside a write transaction and records it
 * in current_operations under a key (the task ref, or a fresh one for a
 * synchronous call).  Returns the key (caller frees) or NULL. */
char *vm_op_begin(struct op_ctx *c, const char *vm, const char *op, struct value **rec_out,
		  struct xc_error *err);
/* Ends it: removes the key and recomputes allowed_operations; `apply`, if
 * given, runs in the same transaction (the state change the operation made). */
int vm_op_end(struct op_ctx *c, const char *vm, const char *key,
	      int (*apply)(struct op_ctx *c, struct store_txn *t, const char *vm, void *arg,
			   struct xc_error *err),
	      void *arg, struct xc_error *err);
/* The operations that would pass vm_op_check now (a new array). */
struct value *vm_allowed_operations(const char *vm, const struct value *rec);
/* Recomputes allowed_operations of a VM inside t. */
int vm_update_allowed(struct store_txn *t, const char *vm, struct xc_error *err);

#endif
