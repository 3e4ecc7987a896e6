/* Operation rules and in-flight bookkeeping of the classes besides VM that
 * publish allowed_operations and current_operations: SR, VDI, VBD, VIF and
 * host.  Per class, one check function decides whether an operation would
 * pass (the XenAPI error of the first rule that fails, in xapi's order);
 * the messages run it before they act and allowed_operations is the set of
 * operations it lets through, so the two cannot disagree.  Also the "in
 * use" queries the storage and network rules share.
 *
 * An operation runs as (op_vbd.c is the model):
 *
 *   key = dev_op_begin(c, "VBD", vbd, "plug", extra_check, arg, err)
 *         -- one transaction: checks, current_operations[key] = "plug",
 *            allowed_operations recomputed
 *   ... the backend call, no transaction held ...
 *   dev_op_end(c, "VBD", vbd, key, apply, arg, err)
 *         -- one transaction: apply (the new state), the key removed,
 *            allowed_operations recomputed
 */
#ifndef XCON_DEV_OPS_H
#define XCON_DEV_OPS_H

#include "engine_priv.h"

/* Extra checks of one message, run inside dev_op_begin's transaction
 * after the class rules; rec is the object's record. */
typedef int (*dev_check_fn)(struct op_ctx *c, struct store_txn *t, const char *ref, const struct value *rec,
			    void *arg, struct xc_error *err);
/* The state change an operation made, applied inside dev_op_end's
 * transaction. */
typedef int (*dev_apply_fn)(struct op_ctx *c, struct store_txn *t, const char *ref, void *arg,
			    struct xc_error *err);

/* Checks op on the object (HANDLE_INVALID if it does not exist) and marks
 * it in flight.  Returns the current_operations key (the task ref, or a
 * fresh one for a synchronous call; caller frees) or NULL with err set. */
char *dev_op_begin(struct op_ctx *c, const char *cls, const char *ref, const char *op, dev_check_fn check,
		   void *arg, struct xc_error *err);
/* Ends it: apply (if any, and only if the object still exists), then the
 * key removed and allowed_operations recomputed.  When apply fails the key
 * is still removed and the error returned. */
int dev_op_end(struct op_ctx *c, const char *cls, const char *ref, const char *key, dev_apply_fn apply,
	       void *arg, struct xc_error *err);
/* The class rules alone, inside t: 0 if op would pass now. */
int dev_op_check(struct store_txn *t, const char *cls, const char *ref, const struct value *rec, const char *op,
		 struct xc_error *err);

/* The allowed_operations a record would have (a new array): for records
 * about to be created (ref may be REF_NULL then) or changed by a setter. */
struct value *dev_allowed_of(struct store_txn *t, const char *cls, const char *ref, const struct value *rec);
/* Recomputes allowed_operations of one SR, VDI, VBD, VIF or host. */
int dev_update_allowed(struct store_txn *t, const char *cls, const char *ref, struct xc_error *err);
/* Recomputes them for a VBD and everything its state shows in: its VDI
 * and that VDI's SR. */
int dev_update_vbd_chain(struct store_txn *t, const char *vbd, struct xc_error *err);
/* For an SR and every VDI in it (after a PBD plug/unplug). */
int dev_update_sr_chain(struct store_txn *t, const char *sr, struct xc_error *err);
/* For every VBD and VIF of a VM and the VDIs and SRs behind them: what a
 * VM power-state change calls (vm_state.c). */
int dev_update_vm_devices(struct store_txn *t, const char *vm, struct xc_error *err);

/* For every object of those classes: at start, once the records are in
 * line with the backend (reconcile.c). */
int dev_update_all(struct store_txn *t, struct xc_error *err);

/* True if the VM record is Running or Paused (it has a domain). */
bool dev_vm_has_domain(const struct value *vm_rec);
/* The first VBD through which a VM with a domain (resident on host, unless
 * host is NULL) has the VDI attached (read-write ones only if rw_only), or
 * NULL.  Caller frees. */
char *dev_vdi_active_vbd(struct store_txn *t, const char *vdi, const char *host, bool rw_only);
/* The first VDI of the SR that a VM with a domain (resident on host,
 * unless host is NULL) has attached, or NULL.  Caller frees. */
char *dev_sr_active_vdi(struct store_txn *t, const char *sr, const char *host);
/* The VM whose suspend image the VDI is, or NULL.  Caller frees. */
char *dev_vdi_suspended_vm(struct store_txn *t, const char *vdi);
/* Removes the VBDs that use a VDI about to disappear (xapi does the same
 * rather than leave them pointing nowhere). */
int dev_vdi_drop_vbds(struct store_txn *t, const char *vdi, struct xc_error *err);
/* The first plugged PBD of the SR (on host, unless host is NULL), or
 * NULL.  Caller frees. */
char *dev_sr_plugged_pbd(struct store_txn *t, const char *sr, const char *host);
/* The backend and domain of a VM that has one (HANDLE_INVALID, or
 * INTERNAL_ERROR for a record without a resident host); *hvm tells the
 * guest type (may be NULL). */
int dev_vm_domain(struct op_ctx *c, struct store_txn *t, const char *vm, struct hv **hv, uint32_t *domid,
		  bool *hvm, struct xc_error *err);
/* The guest device of a VBD: as recorded at attach time, else derived
 * from its userdevice.  Caller frees. */
char *dev_vbd_vdev(const struct value *vbd_rec, bool hvm);
/* The "file" SR driver's device_config: location must be there and
 * absolute (SR_BACKEND_FAILURE_94 / _226); with must_exist it must name a
 * directory (SR_BACKEND_FAILURE_47).  Returns the location (caller frees). */
char *dev_file_location(const struct value *device_config, bool must_exist, struct xc_error *err);
/* SR_BACKEND_FAILURE_<n> ["", what, detail], as storage drivers report. */
void dev_backend_failure(struct xc_error *err, int n, const char *what, const char *detail);

/* True if vm still runs as domain domid (it did not stop, or restart as
 * another domain, while a device was being hot-plugged). */
bool dev_vm_still_on(struct store_txn *t, const char *vm, uint32_t domid);
/* The refs of class cls whose field equals v (a new array). */
struct value *dev_find(struct store_txn *t, const char *cls, const char *field, const char *v);

/* A write transaction in which ref of cls exists, or NULL with
 * HANDLE_INVALID [cls, ref] (nothing left open). */
struct store_txn *dev_write_existing(struct op_ctx *c, const char *cls, const char *ref, struct xc_error *err);
/* Commits t if r is a result, else aborts it: r, or NULL (r dropped) when
 * r was NULL or the commit failed. */
struct value *dev_commit_result(struct store_txn *t, struct value *r, struct xc_error *err);
/* Sets one field of an existing object in its own transaction (and, with
 * recompute_allowed, its allowed_operations): void_result or NULL. */
struct value *dev_set_field(struct op_ctx *c, const char *cls, const char *ref, const char *field,
			    const struct value *v, bool recompute_allowed, struct xc_error *err);
/* Before destroying a VBD or VIF: OTHER_OPERATION_IN_PROGRESS while one is
 * in flight; else 0 with *rec its record and *running_vm the record of its
 * VM if it is attached to it and the VM has a domain (else NULL); both
 * for the caller to unref. */
int dev_destroy_check(struct store_txn *t, const char *cls, const char *ref, struct value **rec,
		      struct value **running_vm, struct xc_error *err);
/* The uuid of an object being introduced into uuid (UUID_STRLEN + 1
 * bytes): given, or a fresh one if given is empty; INVALID_VALUE [uuid,
 * given] if given is not a uuid. */
int dev_uuid_of_given(const char *given, char *uuid, struct xc_error *err);
/* True if mac is "aa:bb:cc:dd:ee:ff", hex digits in either case. */
bool dev_mac_valid(const char *mac);
/* A before_set hook for classes whose only checked field is other_config
 * (netconf_check_map). */
int dev_before_set_other_config(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *ref,
				const struct value *v, struct xc_error *err);

#endif
