/* Per-class rules run inside the generated messages' write transactions.
 * A class with rules defines a `const struct class_hooks hooks_<Class>` in
 * its op_<class>.c and adds it to HOOK_TABLE_ROWS below. */
#ifndef XCON_HOOKS_H
#define XCON_HOOKS_H

#include "engine_priv.h"

struct class_hooks {
	const char *cls;
	/* rec: the full record about to be inserted; may be amended. */
	int (*before_create)(struct op_ctx *c, struct store_txn *t, struct value *rec, struct xc_error *err);
	int (*before_destroy)(struct op_ctx *c, struct store_txn *t, const char *ref, struct xc_error *err);
	int (*before_set)(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *ref,
			  const struct value *v, struct xc_error *err);
	/* After a generated set/add/remove wrote the field (derived state, e.g.
	 * allowed_operations, follows it). */
	int (*after_set)(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *ref,
			 struct xc_error *err);
};


/* One extern per class with rules, and the row in the table below. */
extern const struct class_hooks hooks_VM;
extern const struct class_hooks hooks_VDI;
extern const struct class_hooks hooks_VBD;
extern const struct class_hooks hooks_VIF;
extern const struct class_hooks hooks_PBD;
extern const struct class_hooks hooks_network;
extern const struct class_hooks hooks_PIF;

#define HOOK_TABLE_ROWS &hooks_VM, &hooks_VDI, &hooks_VBD, &hooks_VIF, &hooks_PBD, &hooks_network, &hooks_PIF,

#endif
