/* Sessions: login through PAM (or trust on the local socket), validation on
 * every call, logout, and expiry of idle sessions.
 *
 * Session records live in the store like every other object (get_record,
 * get_this_host, ... work on them), and survive a restart as xapi's do.  The
 * hot path, checking a session on each call, reads an in-memory map instead
 * of the database; last_active is kept there and written back by the reaper
 * thread, not on every call. */
#include "engine_priv.h"
#include "auth_pam.h"
#include "ops.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/strmap.h"
#include "../util/xalloc.h"

#define LOG_MODULE "session"

struct sess {
	int64_t last_active;
	int64_t stored_active;   /* what the store holds */
};

struct sessions {
	struct engine *e;
	pthread_mutex_t lock;
	struct strmap live;      /* ref -> struct sess */
	pthread_t reaper;
	pthread_cond_t stop_cond;
	bool stopping;
	unsigned timeout_s;
};

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

bool sessions_is_valid(struct sessions *s, const char *ref)
{
	pthread_mutex_lock(&s->lock);
	bool ok = strmap_has(&s->live, ref);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

bool sessions_check(struct sessions *s, const char *ref)
{
	pthread_mutex_lock(&s->lock);
	struct sess *x = strmap_get(&s->live, ref);
	if (x)
		x->last_active = now_s();
	pthread_mutex_unlock(&s->lock);
	return x != NULL;
}

static void forget(struct sessions *s, const char *ref)
{
	pthread_mutex_lock(&s->lock);
	free(strmap_del(&s->live, ref));
	pthread_mutex_unlock(&s->lock);
	/* Blocked event calls of this session must now fail. */
	events_session_gone(s->e->events, ref);
}

static int destroy_record(struct sessions *s, const char *ref, struct xc_error *err)
{
	struct store_txn *t = store_write(s->e->store);
	if (store_exists(t, cls_of("session"), ref) && store_destroy(t, cls_of("session"), ref, err) < 0) {
		store_abort(t);
		return -1;
	}
	return store_commit(t, err);
}

/* Expires idle sessions and writes last_active back, every few seconds. */
static void reap(struct sessions *s)
{
	int64_t now = now_s();
	struct work {
		char *ref;
		int64_t active;
		bool expire;
	} *w = NULL;
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->live.cap; i++) {
		struct strmap_slot *slot = &s->live.slots[i];
		if (!slot->key)
			continue;
		struct sess *x = slot->val;
		bool expire = now - x->last_active > (int64_t)s->timeout_s;
		if (!expire && x->last_active == x->stored_active)
			continue;
		w = xreallocarray(w, n + 1, sizeof(*w));
		w[n++] = (struct work){ xstrdup(slot->key), x->last_active, expire };
		x->stored_active = x->last_active;
	}
	pthread_mutex_unlock(&s->lock);
	if (!n)
		return;
	struct xc_error err = XC_ERROR_INIT;
	for (size_t i = 0; i < n; i++) {
		if (w[i].expire) {
			log_info("session %s expired after %u s idle", w[i].ref, s->timeout_s);
			forget(s, w[i].ref);
			destroy_record(s, w[i].ref, &err);
		} else {
			struct store_txn *t = store_write(s->e->store);
			XC_AUTOVALUE *v = value_new_datetime(w[i].active);
			if (store_exists(t, cls_of("session"), w[i].ref) &&
			    set_value(t, cls_of("session"), w[i].ref, "last_active", v, &err) < 0)
				store_abort(t);
			else
				store_commit(t, &err);
		}
		xc_error_clear(&err);
		free(w[i].ref);
	}
	free(w);
}

static void *reaper_main(void *arg)
{
	struct sessions *s = arg;
	unsigned period = s->timeout_s / 4;
	if (period < 1)
		period = 1;
	if (period > 30)
		period = 30;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += period;
		pthread_cond_timedwait(&s->stop_cond, &s->lock, &until);
		if (s->stopping)
			break;
		pthread_mutex_unlock(&s->lock);
		reap(s);
		/* Housekeeping rides on this tick too: big replies (get_all_records
		 * of thousands of VMs) leave freed pages glibc would keep. */
		malloc_trim(0);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

struct sessions *sessions_open(struct engine *e, struct xc_error *err)
{
	struct sessions *s = xcalloc(1, sizeof(*s));
	s->e = e;
	s->timeout_s = e->opts.session_timeout_s ? e->opts.session_timeout_s : 24 * 3600;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->stop_cond, NULL);
	/* Sessions persist across restarts; their idle clocks carry on. */
	struct store_txn *t = store_read(e->store);
	XC_AUTOVALUE *all = store_get_all_records(t, cls_of("session"));
	store_commit(t, NULL);
	for (size_t i = 0; i < value_len(all); i++) {
		struct sess *x = xcalloc(1, sizeof(*x));
		const struct value *active = rec_get(all->u.st.m[i].val, "last_active");
		x->last_active = x->stored_active = active ? active->u.t : now_s();
		strmap_put(&s->live, all->u.st.m[i].key, x);
	}
	if (pthread_create(&s->reaper, NULL, reaper_main, s) != 0) {
		xc_error_internal(err, "cannot start the session reaper: %s", strerror(errno));
		sessions_close(s);
		return NULL;
	}
	return s;
}

void sessions_close(struct sessions *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->stop_cond);
	pthread_mutex_unlock(&s->lock);
	if (s->reaper)
		pthread_join(s->reaper, NULL);
	strmap_clear(&s->live, free);
	pthread_cond_destroy(&s->stop_cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- messages ---- */

static struct value *login(struct op_ctx *c, const char *uname, const char *pwd, const char *originator,
			   struct xc_error *err)
{
	struct engine *e = c->e;
	bool trusted = c->cc && c->cc->trusted;
	const char *origin = c->cc && c->cc->origin ? c->cc->origin : "?";
	if (!trusted) {
		char *why = NULL;
		if (!auth_pam_check(e->opts.pam_service ? e->opts.pam_service : "xcon", uname, pwd, &why)) {
			log_warn("failed login for user '%s' from %s: %s", uname, origin, why ? why : "?");
			/* Slow down guessing; this blocks only the caller's connection. */
			if (e->opts.auth_fail_delay_ms)
				usleep((useconds_t)e->opts.auth_fail_delay_ms * 1000);
			xc_error_set(err, XC_ERR_SESSION_AUTHENTICATION_FAILED, uname,
				     "Authentication failure");
			free(why);
			return NULL;
		}
		free(why);
	}
	XC_AUTOVALUE *rec = value_new_struct(8);
	value_struct_add(rec, "this_host", value_new_string(e->host_ref));
	value_struct_add(rec, "last_active", value_new_datetime(now_s()));
	value_struct_add(rec, "validation_time", value_new_datetime(now_s()));
	value_struct_add(rec, "is_local_superuser", value_new_bool(trusted || strcmp(uname, "root") == 0));
	value_struct_add(rec, "auth_user_name", value_new_string(uname));
	value_struct_add(rec, "originator", value_new_string(originator));
	struct store_txn *t = store_write(e->store);
	char *ref = store_create(t, cls_of("session"), NULL, rec, err);
	if (!ref) {
		store_abort(t);
		return NULL;
	}
	if (store_commit(t, err) < 0) {
		free(ref);
		return NULL;
	}
	struct sess *x = xcalloc(1, sizeof(*x));
	x->last_active = x->stored_active = now_s();
	pthread_mutex_lock(&e->sessions->lock);
	strmap_put(&e->sessions->live, ref, x);
	pthread_mutex_unlock(&e->sessions->lock);
	log_info("user '%s' logged in from %s%s", uname, origin, trusted ? " (local socket)" : "");
	return value_new_string_take(ref);
}

struct value *op_session_login_with_password(struct op_ctx *c, struct value *const *args,
					     struct xc_error *err)
{
	return login(c, value_str(args[0]), value_str(args[1]), value_str(args[3]), err);
}

struct value *op_session_slave_local_login_with_password(struct op_ctx *c, struct value *const *args,
							 struct xc_error *err)
{
	return login(c, value_str(args[0]), value_str(args[1]), "", err);
}

struct value *op_session_logout(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	forget(c->e->sessions, c->session);
	if (destroy_record(c->e->sessions, c->session, err) < 0)
		return NULL;
	return void_result();
}

struct value *op_session_local_logout(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	return op_session_logout(c, args, err);
}

/* As xapi: the old password is checked first (SESSION_AUTHENTICATION_FAILED
 * [user, reason]), then PAM changes it (CHANGE_PASSWORD_REJECTED [reason]
 * when the password stack refuses, e.g. a too simple password).  A trusted
 * local-socket session was never checked against an account, so it has no
 * password of its own to change: USER_IS_NOT_LOCAL_SUPERUSER, as xapi
 * answers a session it cannot change a password for. */
struct value *op_session_change_password(struct op_ctx *c, struct value *const *args, struct xc_error *err)
{
	struct engine *e = c->e;
	struct store_txn *t = store_read(e->store);
	XC_AUTOVALUE *rec = store_get_record(t, cls_of("session"), c->session, err);
	store_commit(t, NULL);
	if (!rec)
		return NULL;
	const char *user = rec_str(rec, "auth_user_name");
	const char *origin = c->cc && c->cc->origin ? c->cc->origin : "?";
	if (c->cc && c->cc->trusted) {
		XC_AUTOFREE char *msg = xasprintf("Failed to change password for user %s", user);
		xc_error_set(err, XC_ERR_USER_IS_NOT_LOCAL_SUPERUSER, msg);
		return NULL;
	}
	const char *service = e->opts.pam_service ? e->opts.pam_service : "xcon";
	char *why = NULL;
	if (!auth_pam_check(service, user, value_str(args[0]), &why)) {
		log_warn("password change for user '%s' from %s: old password refused: %s", user, origin,
			 why ? why : "?");
		if (e->opts.auth_fail_delay_ms)
			usleep((useconds_t)e->opts.auth_fail_delay_ms * 1000);
		xc_error_set(err, XC_ERR_SESSION_AUTHENTICATION_FAILED, user, "Authentication failure");
		free(why);
		return NULL;
	}
	free(why);
	why = NULL;
	if (!auth_pam_change(service, user, value_str(args[0]), value_str(args[1]), &why)) {
		log_warn("password change for user '%s' from %s rejected: %s", user, origin, why ? why : "?");
		xc_error_set(err, XC_ERR_CHANGE_PASSWORD_REJECTED, why ? why : "rejected");
		free(why);
		return NULL;
	}
	log_info("password of user '%s' changed (from %s)", user, origin);
	return void_result();
}
