/* Events: the bus the store's commits feed, and the messages that read it.
 *
 * Every committed change arrives here (store publisher) with its id and
 * snapshot and goes into a ring of the most recent events.  Both APIs read
 * the same ring:
 *   - event.register/next (rio): each session has a cursor; next blocks until
 *     an event of a subscribed class is past it.  A session whose cursor fell
 *     off the ring gets EVENTS_LOST, never a silent gap.
 *   - event.from (boston): a token is an event id; a call returns what changed
 *     since, one entry per object (its latest state), or waits up to timeout.
 * Waiters sleep on one condition variable that every publish broadcasts:
 * nobody polls. */
#include "engine_priv.h"
#include "ops.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/log.h"
#include "../util/strmap.h"
#include "../util/value_sink.h"
#include "../util/xalloc.h"

#define LOG_MODULE "event"
#define DEFAULT_CAPACITY 10000

struct ev {
	uint64_t id;
	const struct dm_class *cls;
	char *ref;
	enum store_op op;
	struct value *snapshot;
	int64_t timestamp;
};

/* Which classes a subscription covers: all, or a mask over class indexes. */
struct mask {
	bool all;
	bool *on;
};

struct sub {
	struct mask classes;
	uint64_t cursor;   /* next event id this session has not seen */
};

struct events {
	struct engine *e;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct ev *ring;
	unsigned cap;
	unsigned head;     /* slot of the oldest event */
	unsigned n;        /* events held */
	uint64_t next_id;  /* one past the newest event */
	struct strmap subs; /* session ref -> struct sub */
	bool stopping;
};

static const char *const op_names[] = { "add", "mod", "del" };

static void ev_clear(struct ev *v)
{
	free(v->ref);
	value_unref(v->snapshot);
	memset(v, 0, sizeof(*v));
}

static uint64_t first_id(const struct events *ev)
{
	return ev->n ? ev->ring[ev->head].id : ev->next_id;
}

static void publish(void *cookie, struct store_change *ch, unsigned n)
{
	struct events *ev = cookie;
	pthread_mutex_lock(&ev->lock);
	for (unsigned i = 0; i < n; i++) {
		unsigned slot = (ev->head + ev->n) % ev->cap;
		if (ev->n == ev->cap) {
			ev_clear(&ev->ring[ev->head]);
			ev->head = (ev->head + 1) % ev->cap;
			ev->n--;
		}
		ev->ring[slot] = (struct ev){ ch[i].id, ch[i].cls, ch[i].ref, ch[i].op, ch[i].snapshot,
					      ch[i].timestamp };
		ch[i].ref = NULL;
		ch[i].snapshot = NULL;
		ev->n++;
		ev->next_id = ch[i].id + 1;
	}
	pthread_cond_broadcast(&ev->changed);
	pthread_mutex_unlock(&ev->lock);
	store_changes_free(ch, n);
}

struct events *events_open(struct engine *e, unsigned capacity)
{
	struct events *ev = xcalloc(1, sizeof(*ev));
	ev->e = e;
	ev->cap = capacity ? capacity : DEFAULT_CAPACITY;
	ev->ring = xcalloc(ev->cap, sizeof(*ev->ring));
	ev->next_id = store_next_event_id(e->store);
	pthread_mutex_init(&ev->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->changed, &ca);
	pthread_condattr_destroy(&ca);
	store_set_publisher(e->store, publish, ev);
	return ev;
}

static void free_sub(void *p)
{
	struct sub *s = p;
	free(s->classes.on);
	free(s);
}

void events_close(struct events *ev)
{
	if (!ev)
		return;
	store_set_publisher(ev->e->store, NULL, NULL);
	for (unsigned i = 0; i < ev->n; i++)
		ev_clear(&ev->ring[(ev->head + i) % ev->cap]);
	free(ev->ring);
	strmap_clear(&ev->subs, free_sub);
	pthread_cond_destroy(&ev->changed);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void events_wake_all(struct events *ev)
{
	pthread_mutex_lock(&ev->lock);
	if (ev->e->stopping)
		ev->stopping = true;
	pthread_cond_broadcast(&ev->changed);
	pthread_mutex_unlock(&ev->lock);
}

void events_session_gone(struct events *ev, const char *session)
{
	pthread_mutex_lock(&ev->lock);
	struct sub *s = strmap_del(&ev->subs, session);
	if (s)
		free_sub(s);
	pthread_cond_broadcast(&ev->changed);
	pthread_mutex_unlock(&ev->lock);
}

/* "*", a class name in any case, or "class/ref" (the ref part is accepted
 * and widened to the class). */
static int mask_add(struct mask *m, const struct value *classes, bool on, struct xc_error *err)
{
	if (!m->on)
		m->on = xcalloc(dm_class_count(), sizeof(bool));
	for (size_t i = 0; i < value_len(classes); i++) {
		const char *name = value_str(value_array_at(classes, i));
		if (!name)
			continue;
		if (strcmp(name, "*") == 0) {
			m->all = on;
			if (!on)
				memset(m->on, 0, dm_class_count() * sizeof(bool));
			continue;
		}
		XC_AUTOFREE char *cname = xstrdup(name);
		char *slash = strchr(cname, '/');
		if (slash)
			*slash = '\0';
		const struct dm_class *c = dm_class_find_ci(cname);
		if (!c || (c->flags & DM_C_NO_RECORDS)) {
			xc_error_set(err, XC_ERR_EVENT_SUBSCRIPTION_PARSE_FAILURE, name);
			return -1;
		}
		m->on[c->idx] = on;
	}
	return 0;
}

static bool mask_has(const struct mask *m, const struct dm_class *c)
{
	return m->all || (m->on && m->on[c->idx]);
}

static struct value *event_record(uint64_t id, const char *ts, const struct dm_class *c, const char *ref,
				  enum store_op op, struct value *snapshot)
{
	struct value *r = value_new_struct(6);
	value_struct_add(r, "id", value_new_stringf("%" PRIu64, id));
	value_struct_add(r, "timestamp", value_new_string(ts));
	value_struct_add(r, "class", value_new_string(c->lname));
	value_struct_add(r, "operation", value_new_string(op_names[op]));
	value_struct_add(r, "ref", value_new_string(ref));
	if (snapshot)
		value_struct_add(r, "snapshot", value_ref(snapshot));
	return r;
}

/* ---- rio: register / unregister / next ---- */

struct value *op_event_register(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct events *ev = c->e->events;
	pthread_mutex_lock(&ev->lock);
	struct sub *s = strmap_get(&ev->subs, c->session);
	bool created = !s;
	if (created) {
		s = xcalloc(1, sizeof(*s));
		s->cursor = ev->next_id;
	}
	struct mask m = s->classes;
	int rc = mask_add(&m, args[0], true, err);
	s->classes = m;
	if (created) {
		if (rc < 0)
			free_sub(s);
		else
			strmap_put(&ev->subs, c->session, s);
	}
	pthread_mutex_unlock(&ev->lock);
	return rc < 0 ? NULL : void_result();
}

struct value *op_event_unregister(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct events *ev = c->e->events;
	pthread_mutex_lock(&ev->lock);
	struct sub *s = strmap_get(&ev->subs, c->session);
	int rc = s ? mask_add(&s->classes, args[0], false, err) : 0;
	pthread_mutex_unlock(&ev->lock);
	return rc < 0 ? NULL : void_result();
}

struct value *op_event_next(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct events *ev = c->e->events;
	struct value *out = NULL;
	pthread_mutex_lock(&ev->lock);
	for (;;) {
		struct sub *s = strmap_get(&ev->subs, c->session);
		if (!sessions_is_valid(c->e->sessions, c->session) || ev->stopping) {
			xc_error_set(err, XC_ERR_SESSION_INVALID, c->session);
			break;
		}
		if (!s) {
			xc_error_set(err, XC_ERR_SESSION_NOT_REGISTERED, c->session);
			break;
		}
		if (s->cursor < first_id(ev)) {
			/* The ring moved past what this session read: say so, and
			 * start it afresh so a re-register sees new events. */
			s->cursor = ev->next_id;
			xc_error_set(err, XC_ERR_EVENTS_LOST);
			break;
		}
		for (unsigned i = 0; i < ev->n; i++) {
			const struct ev *x = &ev->ring[(ev->head + i) % ev->cap];
			if (x->id < s->cursor || !mask_has(&s->classes, x->cls))
				continue;
			if (!out)
				out = value_new_array(8);
			char ts[32];
			snprintf(ts, sizeof(ts), "%" PRId64 ".", x->timestamp);
			value_array_push(out, event_record(x->id, ts, x->cls, x->ref, x->op, x->snapshot));
		}
		s->cursor = ev->next_id;
		if (out)
			break;
		pthread_cond_wait(&ev->changed, &ev->lock);
	}
	pthread_mutex_unlock(&ev->lock);
	return out;
}

struct value *op_event_get_current_id(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct events *ev = c->e->events;
	pthread_mutex_lock(&ev->lock);
	uint64_t id = ev->next_id;
	pthread_mutex_unlock(&ev->lock);
	return value_new_int((int64_t)id);
}

/* ---- boston: from / inject ---- */

static struct value *token_of(uint64_t id)
{
	return value_new_stringf("%020" PRIu64 ",%020d", id, 0);
}

static bool parse_token(const char *s, uint64_t *id)
{
	char *end;
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || (*end && *end != ','))
		return false;
	if (*end == ',') {
		const char *p = end + 1;
		if (!*p)
			return false;
		for (; *p; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	*id = v;
	return true;
}

static struct value *ref_counts(struct engine *e)
{
	struct value *m = value_new_struct(dm_class_count());
	for (unsigned i = 0; i < dm_class_count(); i++) {
		const struct dm_class *c = dm_class_at(i);
		if (c->flags & (DM_C_NO_RECORDS | DM_C_NO_EVENTS))
			continue;
		value_struct_add(m, c->lname, value_new_int32((int32_t)store_count(e->store, c)));
	}
	return m;
}

static struct value *from_reply(struct engine *e, struct value *events, uint64_t token)
{
	struct value *r = value_new_struct(3);
	value_struct_add(r, "events", events);
	value_struct_add(r, "valid_ref_counts", ref_counts(e));
	value_struct_add(r, "token", token_of(token));
	return r;
}

/* The first call with an empty token: every object, as an add.  XenCenter
 * and Xen Orchestra make this call (classes "*") on every connect, so like
 * get_all_records it is a lazy value over one read snapshot: the events
 * are written straight from the rows, a batch at a time, never a tree. */
#define FROM_ALL_BATCH 16

struct from_all {
	struct store_txn *t;
	struct mask m;            /* owns m.on */
	char id[24];              /* every event's id: the token's */
	struct value *counts, *token;
	unsigned next_class;      /* the next class to open */
	struct store_rows *rows;  /* the class being written, or NULL */
	enum { FA_HEAD, FA_EVENTS, FA_TAIL } phase;
};

static void add_row_begin(struct value_sink *k, void *cookie, const struct dm_class *c, const char *ref, size_t n)
{
	const struct from_all *a = cookie;
	const struct value_sink_ops *o = k->ops;
	o->struct_begin(k);
	o->member(k, "id", 2, true);
	o->string(k, a->id, strlen(a->id));
	o->member_end(k);
	o->member(k, "timestamp", 9, true);
	o->string(k, "0.0", 3);
	o->member_end(k);
	o->member(k, "class", 5, true);
	o->string(k, c->lname, strlen(c->lname));
	o->member_end(k);
	o->member(k, "operation", 9, true);
	o->string(k, op_names[STORE_ADD], strlen(op_names[STORE_ADD]));
	o->member_end(k);
	o->member(k, "ref", 3, true);
	o->string(k, ref, n);
	o->member_end(k);
	o->member(k, "snapshot", 8, true);
}

static void add_row_end(struct value_sink *k, void *cookie)
{
	k->ops->member_end(k);
	k->ops->struct_end(k);
}

static const struct store_rows_shape add_shape = { false, add_row_begin, add_row_end };

/* The next class the mask asks for, opened; false when none is left. */
static bool from_all_next_class(struct from_all *a)
{
	for (; a->next_class < dm_class_count(); a->next_class++) {
		const struct dm_class *cls = dm_class_at(a->next_class);
		if ((cls->flags & (DM_C_NO_RECORDS | DM_C_NO_EVENTS)) || !mask_has(&a->m, cls))
			continue;
		a->rows = store_rows_open_shaped(a->t, cls, &add_shape, a);
		a->next_class++;
		return true;
	}
	return false;
}

static void from_all_tail(struct from_all *a, struct value_sink *k)
{
	const struct value_sink_ops *o = k->ops;
	o->array_end(k);
	o->member_end(k);
	o->member(k, "valid_ref_counts", 16, true);
	value_emit(a->counts, k);
	o->member_end(k);
	o->member(k, "token", 5, true);
	value_emit(a->token, k);
	o->member_end(k);
	o->struct_end(k);
}

static enum value_step from_all_step(void *state, struct value_sink *k)
{
	struct from_all *a = state;
	if (a->phase == FA_HEAD) {
		k->ops->struct_begin(k);
		k->ops->member(k, "events", 6, true);
		k->ops->array_begin(k);
		a->phase = FA_EVENTS;
	}
	while (a->rows || from_all_next_class(a)) {
		enum value_step r = store_rows_step(a->rows, k, FROM_ALL_BATCH);
		if (r == VALUE_STEP_MORE)
			return r;
		store_rows_close(a->rows);
		a->rows = NULL;
		if (r == VALUE_STEP_FAILED) {
			from_all_tail(a, k); /* balanced, and failed */
			return r;
		}
	}
	from_all_tail(a, k);
	return VALUE_STEP_DONE;
}

static void from_all_release(void *state)
{
	struct from_all *a = state;
	store_rows_close(a->rows);
	store_commit(a->t, NULL);
	value_unref(a->counts);
	value_unref(a->token);
	free(a->m.on);
	free(a);
}

/* Takes over m. */
static struct value *from_everything(struct op_ctx *c, struct mask *m)
{
	struct from_all *a = xcalloc(1, sizeof(*a));
	uint64_t token = store_next_event_id(c->e->store);
	snprintf(a->id, sizeof(a->id), "%" PRIu64, token);
	a->token = token_of(token);
	a->t = store_read(c->e->store);
	a->counts = ref_counts(c->e);
	a->m = *m;
	m->on = NULL;
	return value_new_lazy(from_all_step, from_all_release, a);
}

/* Changes since `since`, one per object, latest state; NULL if none. */
static struct value *collect_since(struct events *ev, const struct mask *m, uint64_t since)
{
	struct value *events = NULL;
	struct strmap seen = STRMAP_INIT; /* ref -> index + 1 in events */
	bool *added = NULL;
	size_t nadded = 0;
	for (unsigned i = 0; i < ev->n; i++) {
		const struct ev *x = &ev->ring[(ev->head + i) % ev->cap];
		if (x->id < since || !mask_has(m, x->cls))
			continue;
		if (!events)
			events = value_new_array(8);
		uintptr_t at = (uintptr_t)strmap_get(&seen, x->ref);
		enum store_op op = x->op;
		if (at) {
			/* Keep the first operation's add-ness, the last state. */
			bool was_added = added[at - 1];
			if (was_added && op == STORE_MOD)
				op = STORE_ADD;
			struct value *rec = event_record(x->id, "0.0", x->cls, x->ref, op, op == STORE_DEL ? NULL : x->snapshot);
			value_unref(events->u.arr.items[at - 1]);
			events->u.arr.items[at - 1] = rec;
			added[at - 1] = was_added;
			continue;
		}
		value_array_push(events, event_record(x->id, "0.0", x->cls, x->ref, op, op == STORE_DEL ? NULL : x->snapshot));
		added = xreallocarray(added, nadded + 1, sizeof(*added));
		added[nadded++] = op == STORE_ADD;
		strmap_put(&seen, x->ref, (void *)(uintptr_t)value_len(events));
	}
	strmap_clear(&seen, NULL);
	free(added);
	return events;
}

struct value *op_event_from(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct events *ev = c->e->events;
	struct mask m = { false, NULL };
	if (mask_add(&m, args[0], true, err) < 0) {
		free(m.on);
		return NULL;
	}
	const char *token = value_str(args[1]);
	uint64_t since = 0;
	if (!*token)
		return from_everything(c, &m);
	if (!parse_token(token, &since)) {
		free(m.on);
		xc_error_set(err, XC_ERR_EVENT_FROM_TOKEN_PARSE_FAILURE, token);
		return NULL;
	}
	double timeout = args[2]->u.f;
	if (timeout < 0 || timeout != timeout)
		timeout = 0;
	if (timeout > 3600)
		timeout = 3600;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)timeout;
	until.tv_nsec += (long)((timeout - (double)(time_t)timeout) * 1e9);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	struct value *events = NULL;
	uint64_t next;
	pthread_mutex_lock(&ev->lock);
	for (;;) {
		if (!sessions_is_valid(c->e->sessions, c->session) || ev->stopping) {
			pthread_mutex_unlock(&ev->lock);
			free(m.on);
			xc_error_set(err, XC_ERR_SESSION_INVALID, c->session);
			return NULL;
		}
		if (since < first_id(ev) || since > ev->next_id) {
			pthread_mutex_unlock(&ev->lock);
			free(m.on);
			xc_error_set(err, XC_ERR_EVENTS_LOST);
			return NULL;
		}
		events = collect_since(ev, &m, since);
		next = ev->next_id;
		if (events)
			break;
		if (pthread_cond_timedwait(&ev->changed, &ev->lock, &until) == ETIMEDOUT) {
			next = ev->next_id;
			events = collect_since(ev, &m, since);
			break;
		}
	}
	pthread_mutex_unlock(&ev->lock);
	free(m.on);
	return from_reply(c->e, events ? events : value_new_array(0), next);
}

struct value *op_event_inject(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	const struct dm_class *cls = dm_class_find_ci(value_str(args[0]));
	if (!cls || (cls->flags & DM_C_NO_RECORDS)) {
		xc_error_set(err, XC_ERR_EVENT_SUBSCRIPTION_PARSE_FAILURE, value_str(args[0]));
		return NULL;
	}
	struct store_txn *t = store_write(c->e->store);
	uint64_t id = store_next_event_id(c->e->store);
	if (store_touch(t, cls, value_str(args[1]), err) < 0) {
		store_abort(t);
		return NULL;
	}
	if (store_commit(t, err) < 0)
		return NULL;
	return token_of(id);
}
