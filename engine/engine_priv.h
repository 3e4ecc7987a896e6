/* What the engine's own files share: the engine struct, the handler
 * signature and the helpers every operation uses.  Nothing outside engine/
 * includes this. */
#ifndef XCON_ENGINE_PRIV_H
#define XCON_ENGINE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "store.h"
#include "../dm/dm.h"
#include "../hv/hv.h"

struct sessions;
struct events;
struct tasks;
struct task;
struct domwatch;
struct reactions;

struct engine {
	struct engine_opts opts;
	char *state_dir;
	char *db_path;
	struct store *store;
	struct sessions *sessions;
	struct events *events;
	struct tasks *tasks;
	struct hv *hv;            /* the Xen control backend of the master */
	struct hv **hvs;          /* one per host: a simulated pool has several */
	unsigned nhosts;
	char **host_refs;         /* host record of each hvs[i] */
	char *pool_ref;
	char *host_ref;           /* the host this engine runs on (the master) = host_refs[0] */
	struct domwatch *domwatch; /* backend events, for operations waiting on them */
	struct reactions *reactions; /* guests that halt, reboot or crash by themselves */
	volatile bool stopping;
};

/* A running call: what a handler knows about its caller. */
struct op_ctx {
	struct engine *e;
	const struct dm_message *msg;
	const struct call_ctx *cc;
	const char *session;      /* caller's session ref; NULL for session-less calls */
	struct task *task;        /* the Async task doing the work, NULL when synchronous */
};

/* A message handler.  args holds msg->nparams values (the session excluded),
 * already checked against the parameter types, optional ones defaulted.
 * Returns the result (a new reference; void messages return an empty
 * string) or NULL with err set. */
typedef struct value *(*op_fn)(struct op_ctx *c, struct value *const *args, struct xc_error *err);

/* Generated messages (ops_generic.c), by dm_msg_kind. */
op_fn ops_generic_handler(enum dm_msg_kind kind);
/* Custom messages (ops_table.c): the op_<Class>_<name> functions; NULL when
 * a message has no implementation yet (answered with NOT_IMPLEMENTED). */
op_fn ops_custom_handler(int custom_id);

/* Runs a message's handler directly (the task workers, and operations made
 * of other operations). */
struct value *engine_run(struct op_ctx *c, struct value *const *args, struct xc_error *err);

/* Hooks that keep class-specific rules out of the generated messages:
 * checks before a generated create/destroy/set, run inside its write txn. */
int hooks_before_create(struct op_ctx *c, struct store_txn *t, const struct dm_class *cls,
			struct value *rec, struct xc_error *err);
int hooks_before_destroy(struct op_ctx *c, struct store_txn *t, const struct dm_class *cls,
			 const char *ref, struct xc_error *err);
int hooks_before_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f,
		     const char *ref, const struct value *v, struct xc_error *err);
int hooks_after_set(struct op_ctx *c, struct store_txn *t, const struct dm_field *f, const char *ref,
		    struct xc_error *err);

/* Small helpers used everywhere. */
struct value *void_result(void);
/* A field of a record by name (borrowed), or NULL. */
const struct value *rec_get(const struct value *rec, const char *field);
const char *rec_str(const struct value *rec, const char *field);
int64_t rec_int(const struct value *rec, const char *field);
bool rec_bool(const struct value *rec, const char *field);
/* Sets one field of an object inside a write transaction. */
int set_str(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	    const char *v, struct xc_error *err);
int set_int(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	    int64_t v, struct xc_error *err);
int set_bool(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	     bool v, struct xc_error *err);
int set_float(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	      double v, struct xc_error *err);
int set_value(struct store_txn *t, const struct dm_class *c, const char *ref, const char *field,
	      const struct value *v, struct xc_error *err);
/* Records op in the object's current_operations under a key naming who
 * does it (the task ref, or a fresh ref for a synchronous call), inside t. */
int op_mark_begin(struct op_ctx *c, struct store_txn *t, const struct dm_class *cls, const char *ref,
		  const struct value *rec, const char *op, char key[48], struct xc_error *err);
/* 0 if ref is an object of class cls, else -1 with HANDLE_INVALID [cls, ref]. */
int ref_check(struct engine *e, const char *cls, const char *ref, struct xc_error *err);
/* The class named, which must exist (a programming error otherwise). */
const struct dm_class *cls_of(const char *name);

/* Sessions (session.c) */
struct sessions *sessions_open(struct engine *e, struct xc_error *err);
void sessions_close(struct sessions *s);
/* True if ref is a live session; refreshes its last_active. */
bool sessions_check(struct sessions *s, const char *ref);
bool sessions_is_valid(struct sessions *s, const char *ref);

/* Events (event.c) */
struct events *events_open(struct engine *e, unsigned capacity);
void events_close(struct events *ev);
/* Wakes every blocked event call (logout, shutdown) so it re-checks. */
void events_wake_all(struct events *ev);
/* Drops a session's subscriptions and wakes its blocked calls. */
void events_session_gone(struct events *ev, const char *session);

/* Tasks (task.c) */
struct tasks *tasks_open(struct engine *e, unsigned workers, struct xc_error *err);
void tasks_close(struct tasks *ts);
/* Creates the task for an Async call and queues the work; returns the task
 * ref (caller frees). args are the call's checked arguments. */
char *tasks_submit(struct tasks *ts, struct op_ctx *c, struct value *const *args,
		   struct xc_error *err);
/* For operations: progress in [0,1], and whether cancellation was asked. */
void task_progress(struct op_ctx *c, double progress);
bool task_cancelled(struct op_ctx *c);
/* Fails with TASK_CANCELLED if cancellation was asked (a safe point). */
int task_check_cancel(struct op_ctx *c, struct xc_error *err);
const char *task_ref(const struct task *t);

/* First start (populate.c): the pool, its hosts and what they hold. */
int populate_if_new(struct engine *e, struct xc_error *err);

/* Backend reconciliation (reconcile.c): VM records brought in line with the
 * domains the backend reports, at start and on every backend event. */
int engine_reconcile(struct engine *e, struct xc_error *err);
void engine_hv_event(struct engine *e, struct hv *hv, const struct hv_event *ev);
/* The backend of a host record, or NULL. */
struct hv *engine_hv_of_host(struct engine *e, const char *host_ref);

#endif
