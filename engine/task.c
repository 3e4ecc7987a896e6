/* Tasks: the Async.* calls, run by a pool of worker threads.
 *
 * An Async call creates its task record (pending, progress 0) and returns the
 * ref at once; a worker runs the same handler the synchronous call would, with
 * the task in its context, and finishes the record: success with the result
 * as an XML-RPC value fragment, failure with error_info, or cancelled.
 *
 * States (status field):
 *
 *     pending --(handler returns)----------> success
 *        |    --(handler fails)------------> failure
 *        |    --(fails with TASK_CANCELLED)> cancelled
 *        +--- task.cancel sets the cancel flag; the operation notices it at
 *             its next safe point (task_check_cancel) and undoes its work.
 *
 * Tasks left pending by an engine that died are failed at the next start.
 */
#include "engine_priv.h"
#include "ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "../util/strmap.h"
#include "../util/xalloc.h"

#define LOG_MODULE "task"
#define DEFAULT_WORKERS 16

struct task {
	char *ref;
	char *session;
	const struct dm_message *msg;
	struct value **args;
	unsigned nargs;
	struct call_ctx cc;
	char *origin;
	bool cancel;
	struct task *next;
};

struct tasks {
	struct engine *e;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct task *head, *tail;
	struct strmap running;  /* task ref -> struct task (queued or running) */
	pthread_t *threads;
	unsigned nthreads;
	bool stopping;
};

const char *task_ref(const struct task *t)
{
	return t->ref;
}

static void task_free(struct task *t)
{
	for (unsigned i = 0; i < t->nargs; i++)
		value_unref(t->args[i]);
	free(t->args);
	free(t->ref);
	free(t->session);
	free(t->origin);
	free(t);
}

static int write_fields(struct engine *e, const char *ref, struct xc_error *err,
			int (*fn)(struct store_txn *, const char *, void *, struct xc_error *), void *arg)
{
	struct store_txn *t = store_write(e->store);
	if (!store_exists(t, cls_of("task"), ref)) {
		store_abort(t);
		return 0; /* destroyed meanwhile: nothing to record */
	}
	if (fn(t, ref, arg, err) < 0) {
		store_abort(t);
		return -1;
	}
	return store_commit(t, err);
}

struct finish {
	const char *status;
	const char *result;
	const struct xc_error *error;
};

static int do_finish(struct store_txn *t, const char *ref, void *arg, struct xc_error *err)
{
	const struct finish *f = arg;
	const struct dm_class *c = cls_of("task");
	XC_AUTOVALUE *empty = value_new_array(0);
	XC_AUTOVALUE *noops = value_new_struct(0);
	if (set_str(t, c, ref, "status", f->status, err) < 0 ||
	    set_float(t, c, ref, "progress", 1.0, err) < 0 ||
	    set_value(t, c, ref, "allowed_operations", empty, err) < 0 ||
	    set_value(t, c, ref, "current_operations", noops, err) < 0)
		return -1;
	XC_AUTOVALUE *fin = value_new_datetime((int64_t)time(NULL));
	if (set_value(t, c, ref, "finished", fin, err) < 0)
		return -1;
	if (f->result && set_str(t, c, ref, "result", f->result, err) < 0)
		return -1;
	if (f->error) {
		XC_AUTOVALUE *info = value_new_array(f->error->nparams + 1);
		value_array_push_string(info, xc_error_wire_code(f->error));
		unsigned n;
		char *const *p = xc_error_wire_params(f->error, &n);
		for (unsigned i = 0; i < n; i++)
			value_array_push_string(info, p[i]);
		if (set_value(t, c, ref, "error_info", info, err) < 0)
			return -1;
	}
	return 0;
}

static void run(struct tasks *ts, struct task *task)
{
	struct engine *e = ts->e;
	struct op_ctx c = { .e = e, .msg = task->msg, .cc = &task->cc, .session = task->session, .task = task };
	struct xc_error err = XC_ERROR_INIT;
	struct value *result = engine_run(&c, task->args, &err);
	/* Out of the running set before the record says finished, so a cancel
	 * never lands on a task that has already ended. */
	pthread_mutex_lock(&ts->lock);
	strmap_del(&ts->running, task->ref);
	pthread_mutex_unlock(&ts->lock);
	struct finish f = { 0 };
	char *frag = NULL;
	if (result) {
		frag = e->opts.encode_result ? e->opts.encode_result(result) : xstrdup("");
		f.status = "success";
		f.result = frag;
	} else {
		f.status = err.code == XC_ERR_TASK_CANCELLED ? "cancelled" : "failure";
		f.error = &err;
	}
	struct xc_error werr = XC_ERROR_INIT;
	if (write_fields(e, task->ref, &werr, do_finish, &f) < 0)
		log_error("cannot record the end of task %s: %s", task->ref, xc_error_wire_code(&werr));
	log_debug("task %s (%s) %s", task->ref, task->msg->wire, f.status);
	xc_error_clear(&werr);
	xc_error_clear(&err);
	value_unref(result);
	free(frag);
}

static void *worker_main(void *arg)
{
	struct tasks *ts = arg;
	pthread_mutex_lock(&ts->lock);
	for (;;) {
		while (!ts->head && !ts->stopping)
			pthread_cond_wait(&ts->work, &ts->lock);
		if (!ts->head && ts->stopping)
			break;
		struct task *t = ts->head;
		ts->head = t->next;
		if (!ts->head)
			ts->tail = NULL;
		pthread_mutex_unlock(&ts->lock);
		run(ts, t);
		task_free(t);
		pthread_mutex_lock(&ts->lock);
	}
	pthread_mutex_unlock(&ts->lock);
	return NULL;
}

/* Tasks a previous engine left pending can never finish now. */
static int fail_orphans(struct engine *e, struct xc_error *err)
{
	struct store_txn *t = store_write(e->store);
	const struct dm_class *c = cls_of("task");
	XC_AUTOVALUE *pending = value_new_string("pending");
	XC_AUTOVALUE *refs = store_find(t, dm_field_find(c, "status"), pending);
	struct xc_error why = XC_ERROR_INIT;
	xc_error_set(&why, XC_ERR_INTERNAL_ERROR, "xcon restarted while this task was running; its operation did not complete");
	struct finish f = { "failure", NULL, &why };
	for (size_t i = 0; i < value_len(refs); i++) {
		log_warn("failing task %s left pending by the previous run", value_str(value_array_at(refs, i)));
		if (do_finish(t, value_str(value_array_at(refs, i)), &f, err) < 0) {
			xc_error_clear(&why);
			store_abort(t);
			return -1;
		}
	}
	xc_error_clear(&why);
	return store_commit(t, err);
}

struct tasks *tasks_open(struct engine *e, unsigned workers, struct xc_error *err)
{
	if (fail_orphans(e, err) < 0)
		return NULL;
	struct tasks *ts = xcalloc(1, sizeof(*ts));
	ts->e = e;
	pthread_mutex_init(&ts->lock, NULL);
	pthread_cond_init(&ts->work, NULL);
	ts->nthreads = workers ? workers : DEFAULT_WORKERS;
	ts->threads = xcalloc(ts->nthreads, sizeof(*ts->threads));
	for (unsigned i = 0; i < ts->nthreads; i++) {
		if (pthread_create(&ts->threads[i], NULL, worker_main, ts) != 0) {
			xc_error_internal(err, "cannot start task workers: %s", strerror(errno));
			ts->nthreads = i;
			tasks_close(ts);
			return NULL;
		}
	}
	return ts;
}

void tasks_close(struct tasks *ts)
{
	if (!ts)
		return;
	pthread_mutex_lock(&ts->lock);
	ts->stopping = true;
	/* Queued work that never started is failed by the next start. */
	for (struct task *t = ts->head; t;) {
		struct task *next = t->next;
		strmap_del(&ts->running, t->ref);
		task_free(t);
		t = next;
	}
	ts->head = ts->tail = NULL;
	/* Running operations see a cancel at their next safe point. */
	for (size_t i = 0; i < ts->running.cap; i++)
		if (ts->running.slots[i].key)
			((struct task *)ts->running.slots[i].val)->cancel = true;
	pthread_cond_broadcast(&ts->work);
	pthread_mutex_unlock(&ts->lock);
	for (unsigned i = 0; i < ts->nthreads; i++)
		pthread_join(ts->threads[i], NULL);
	strmap_clear(&ts->running, NULL);
	free(ts->threads);
	pthread_cond_destroy(&ts->work);
	pthread_mutex_destroy(&ts->lock);
	free(ts);
}

static char *create_record(struct engine *e, const char *label, const char *descr, bool cancellable,
			   struct xc_error *err)
{
	XC_AUTOVALUE *rec = value_new_struct(8);
	value_struct_add(rec, "name_label", value_new_string(label));
	value_struct_add(rec, "name_description", value_new_string(descr));
	value_struct_add(rec, "created", value_new_datetime((int64_t)time(NULL)));
	value_struct_add(rec, "status", value_new_string("pending"));
	value_struct_add(rec, "resident_on", value_new_string(e->host_ref));
	value_struct_add(rec, "type", value_new_string("<none/>"));
	struct value *ops = value_new_array(2);
	if (cancellable)
		value_array_push_string(ops, "cancel");
	value_struct_add(rec, "allowed_operations", ops);
	struct store_txn *t = store_write(e->store);
	char *ref = store_create(t, cls_of("task"), NULL, rec, err);
	if (!ref) {
		store_abort(t);
		return NULL;
	}
	if (store_commit(t, err) < 0) {
		free(ref);
		return NULL;
	}
	return ref;
}

char *tasks_submit(struct tasks *ts, struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	XC_AUTOFREE char *label = xasprintf("Async.%s", c->msg->wire);
	char *ref = create_record(ts->e, label, "", true, err);
	if (!ref)
		return NULL;
	struct task *t = xcalloc(1, sizeof(*t));
	t->ref = xstrdup(ref);
	t->session = xstrdup(c->session ? c->session : "");
	t->msg = c->msg;
	t->nargs = c->msg->nparams;
	t->args = xcalloc(t->nargs ? t->nargs : 1, sizeof(*t->args));
	for (unsigned i = 0; i < t->nargs; i++)
		t->args[i] = value_ref(args[i]);
	t->origin = xstrdup(c->cc && c->cc->origin ? c->cc->origin : "?");
	t->cc.trusted = c->cc && c->cc->trusted;
	t->cc.origin = t->origin;
	pthread_mutex_lock(&ts->lock);
	strmap_put(&ts->running, t->ref, t);
	if (ts->tail)
		ts->tail->next = t;
	else
		ts->head = t;
	ts->tail = t;
	pthread_cond_signal(&ts->work);
	pthread_mutex_unlock(&ts->lock);
	return ref;
}

static int do_progress(struct store_txn *t, const char *ref, void *arg, struct xc_error *err)
{
	return set_float(t, cls_of("task"), ref, "progress", *(double *)arg, err);
}

void task_progress(struct op_ctx *c, double progress)
{
	if (!c->task)
		return;
	struct xc_error err = XC_ERROR_INIT;
	if (progress < 0)
		progress = 0;
	if (progress > 1)
		progress = 1;
	write_fields(c->e, c->task->ref, &err, do_progress, &progress);
	xc_error_clear(&err);
}

bool task_cancelled(struct op_ctx *c)
{
	if (!c->task)
		return false;
	return __atomic_load_n(&c->task->cancel, __ATOMIC_ACQUIRE);
}

int task_check_cancel(struct op_ctx *c, struct xc_error *err)
{
	if (!task_cancelled(c))
		return 0;
	xc_error_set(err, XC_ERR_TASK_CANCELLED, c->task->ref);
	return -1;
}

/* ---- messages ---- */

struct value *op_task_create(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	char *ref = create_record(c->e, value_str(args[0]), value_str(args[1]), false, err);
	return ref ? value_new_string_take(ref) : NULL;
}

static int mark_cancelling(struct store_txn *t, const char *ref, void *arg, struct xc_error *err)
{
	XC_AUTOVALUE *ops = value_new_struct(1);
	value_struct_add(ops, ref, value_new_string("cancel"));
	return set_value(t, cls_of("task"), ref, "current_operations", ops, err);
}

struct value *op_task_cancel(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct tasks *ts = c->e->tasks;
	const char *ref = value_str(args[0]);
	struct store_txn *t = store_read(c->e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("task"), ref, err);
	store_commit(t, NULL);
	if (!rec)
		return NULL;
	/* Held across the write: the worker takes the task out of the running
	 * set under this lock before recording its end, so the mark below can
	 * never land after that end. */
	pthread_mutex_lock(&ts->lock);
	struct task *task = strmap_get(&ts->running, ref);
	int rc = -1;
	if (task) {
		__atomic_store_n(&task->cancel, true, __ATOMIC_RELEASE);
		rc = write_fields(c->e, ref, err, mark_cancelling, NULL);
	}
	pthread_mutex_unlock(&ts->lock);
	if (!task)
		xc_error_set(err, XC_ERR_OPERATION_NOT_ALLOWED,
			     strcmp(rec_str(rec, "status"), "pending") == 0 ? "This task cannot be cancelled"
									    : "The task has already finished");
	return rc < 0 ? NULL : void_result();
}

struct value *op_task_destroy(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const char *ref = value_str(args[0]);
	struct store_txn *t = store_write(c->e->store);
	if (store_destroy(t, cls_of("task"), ref, err) < 0) {
		store_abort(t);
		return NULL;
	}
	return store_commit(t, err) < 0 ? NULL : void_result();
}
