/* The store's connections and transactions (see store.h for the contract).
 *
 * One writer connection behind a mutex, a pool of reader connections handed
 * out per read transaction.  SQLite runs in WAL mode, so readers see the last
 * committed snapshot and never wait for the writer. */
#include "store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "store"

int store_sqlite_error(sqlite3 *db, int rc, struct xc_error *err)
{
	xc_error_internal(err, "database: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return -1;
}

int store_tx(struct conn *c, enum txn_stmt k)
{
	sqlite3_stmt *st = c->tx[k];
	if (!st)
		return SQLITE_ERROR;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Process-wide SQLite settings, before its first use: no memory statistics
 * (they take a global mutex on every allocation). */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static struct conn *conn_open(struct store *s, bool writer, struct xc_error *err)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(s->path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		xc_error_internal(err, "cannot open database %s: %s", s->path,
				  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	char pragmas[256];
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF;"
		 "PRAGMA cache_size=-8000; %s",
		 /* NORMAL even for --sync full: the engine fsyncs the WAL itself,
		  * once for every commit waiting (group commit). */
		 "NORMAL",
		 /* The writer never checkpoints: that fsync would stall every
		  * writer queued behind it.  The checkpointer thread does it. */
		 writer ? "PRAGMA wal_autocheckpoint=0;" : "PRAGMA query_only=1;");
	char *msg = NULL;
	if (sqlite3_exec(db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		xc_error_internal(err, "cannot set up database %s: %s", s->path, msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(db);
		return NULL;
	}
	struct conn *c = xcalloc(1, sizeof(*c));
	c->db = db;
	static const char *const tx_sql[TX_LAST] = { "BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK" };
	for (int k = 0; k < TX_LAST; k++)
		sqlite3_prepare_v3(db, tx_sql[k], -1, SQLITE_PREPARE_PERSISTENT, &c->tx[k], NULL);
	unsigned n = dm_class_count();
	c->stmts = xcalloc(n, sizeof(*c->stmts));
	c->fstmts = xcalloc(n, sizeof(*c->fstmts));
	return c;
}

static void conn_close(struct conn *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < dm_class_count(); i++) {
		const struct dm_class *cls = dm_class_at(i);
		if (c->stmts[i])
			for (int k = 0; k < ST_KIND_LAST; k++)
				sqlite3_finalize(c->stmts[i][k]);
		if (c->fstmts[i])
			for (unsigned k = 0; k < cls->nfields * FST_KIND_LAST; k++)
				sqlite3_finalize(c->fstmts[i][k]);
		free(c->stmts[i]);
		free(c->fstmts[i]);
	}
	free(c->stmts);
	free(c->fstmts);
	for (int k = 0; k < TX_LAST; k++)
		sqlite3_finalize(c->tx[k]);
	sqlite3_close(c->db);
	free(c);
}

void store_add_columns(struct buf *b, const struct dm_class *cls, const char *sep)
{
	bool first = true;
	for (unsigned i = 0; i < cls->nfields; i++) {
		if (cls->fields[i].col < 0)
			continue;
		buf_printf(b, "%s\"%s\"", first ? "" : sep, cls->fields[i].name);
		first = false;
	}
}

static sqlite3_stmt *prepare(struct conn *c, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		log_error("cannot prepare %s: %s", sql, sqlite3_errmsg(c->db));
		return NULL;
	}
	return st;
}

sqlite3_stmt *store_stmt(struct conn *c, const struct dm_class *cls, enum stmt_kind k)
{
	if (!c->stmts[cls->idx])
		c->stmts[cls->idx] = xcalloc(ST_KIND_LAST, sizeof(sqlite3_stmt *));
	sqlite3_stmt **slot = &c->stmts[cls->idx][k];
	if (*slot) {
		sqlite3_reset(*slot);
		sqlite3_clear_bindings(*slot);
		return *slot;
	}
	struct buf b = BUF_INIT;
	switch (k) {
	case ST_SELECT_ROW:
		buf_adds(&b, "SELECT ");
		store_add_columns(&b, cls, ",");
		buf_printf(&b, " FROM \"%s\" WHERE _ref=?1", cls->name);
		break;
	case ST_SELECT_ALL:
		buf_adds(&b, "SELECT _ref,");
		store_add_columns(&b, cls, ",");
		buf_printf(&b, " FROM \"%s\" ORDER BY rowid", cls->name);
		break;
	case ST_SELECT_REFS:
		buf_printf(&b, "SELECT _ref FROM \"%s\" ORDER BY rowid", cls->name);
		break;
	case ST_EXISTS:
		buf_printf(&b, "SELECT 1 FROM \"%s\" WHERE _ref=?1", cls->name);
		break;
	case ST_INSERT: {
		buf_printf(&b, "INSERT INTO \"%s\"(_ref,", cls->name);
		store_add_columns(&b, cls, ",");
		buf_adds(&b, ") VALUES (?1");
		for (unsigned i = 0; i < cls->nstored; i++)
			buf_printf(&b, ",?%u", i + 2);
		buf_adds(&b, ")");
		break;
	}
	case ST_DELETE:
		buf_printf(&b, "DELETE FROM \"%s\" WHERE _ref=?1", cls->name);
		break;
	default:
		break;
	}
	*slot = prepare(c, b.data);
	buf_free(&b);
	return *slot;
}

sqlite3_stmt *store_fstmt(struct conn *c, const struct dm_field *f, enum fstmt_kind k)
{
	const struct dm_class *cls = f->cls;
	if (!c->fstmts[cls->idx])
		c->fstmts[cls->idx] = xcalloc((size_t)cls->nfields * FST_KIND_LAST, sizeof(sqlite3_stmt *));
	sqlite3_stmt **slot = &c->fstmts[cls->idx][f->idx * FST_KIND_LAST + k];
	if (*slot) {
		sqlite3_reset(*slot);
		sqlite3_clear_bindings(*slot);
		return *slot;
	}
	char *sql = NULL;
	switch (k) {
	case FST_SELECT:
		sql = xasprintf("SELECT \"%s\" FROM \"%s\" WHERE _ref=?1", f->name, cls->name);
		break;
	case FST_UPDATE:
		sql = xasprintf("UPDATE \"%s\" SET \"%s\"=?2 WHERE _ref=?1", cls->name, f->name);
		break;
	case FST_FIND:
		sql = xasprintf("SELECT _ref FROM \"%s\" WHERE \"%s\"=?1 ORDER BY rowid", cls->name, f->name);
		break;
	case FST_PAIRS:
		sql = xasprintf("SELECT \"%s\", _ref FROM \"%s\" ORDER BY rowid", f->name, cls->name);
		break;
	default:
		break;
	}
	*slot = prepare(c, sql);
	free(sql);
	return *slot;
}

/* ---- metadata ---- */

char *store_meta_get(struct store_txn *t, const char *key)
{
	sqlite3_stmt *st;
	char *val = NULL;
	if (sqlite3_prepare_v2(t->c->db, "SELECT value FROM _meta WHERE key=?1", -1, &st, NULL) != SQLITE_OK)
		return NULL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		val = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return val;
}

int store_meta_set(struct store_txn *t, const char *key, const char *val, struct xc_error *err)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(t->c->db, "INSERT OR REPLACE INTO _meta(key, value) VALUES (?1, ?2)",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store_sqlite_error(t->c->db, rc, err);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, val, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_sqlite_error(t->c->db, rc, err);
}

/* ---- open / close ---- */

static int load_counts(struct store *s, struct xc_error *err)
{
	s->counts = xcalloc(dm_class_count(), sizeof(*s->counts));
	for (unsigned i = 0; i < dm_class_count(); i++) {
		const struct dm_class *c = dm_class_at(i);
		if (c->flags & DM_C_NO_RECORDS)
			continue;
		char *sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", c->name);
		sqlite3_stmt *st;
		int rc = sqlite3_prepare_v2(s->writer->db, sql, -1, &st, NULL);
		sqlite3_free(sql);
		if (rc != SQLITE_OK)
			return store_sqlite_error(s->writer->db, rc, err);
		if (sqlite3_step(st) == SQLITE_ROW)
			s->counts[i] = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	return 0;
}

/* Folds the WAL into the database once a second (PASSIVE: never waits for
 * readers or the writer), and at once when the WAL grows large.  Running on
 * its own connection keeps its fsyncs off the commit path. */
static void *checkpointer_main(void *arg)
{
	struct store *s = arg;
	struct xc_error err = XC_ERROR_INIT;
	struct conn *c = conn_open(s, false, &err);
	xc_error_clear(&err);
	if (c)
		sqlite3_exec(c->db, "PRAGMA query_only=0", NULL, NULL, NULL);
	pthread_mutex_lock(&s->ckpt_lock);
	while (!s->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&s->ckpt_cond, &s->ckpt_lock, &until);
		if (s->stopping || !c)
			continue;
		pthread_mutex_unlock(&s->ckpt_lock);
		int log = 0, done = 0;
		sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
		pthread_mutex_lock(&s->ckpt_lock);
	}
	pthread_mutex_unlock(&s->ckpt_lock);
	conn_close(c);
	return NULL;
}

struct store *store_open(const char *path, bool sync_full, struct xc_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, sqlite_setup);
	dm_init();
	struct store *s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->sync_full = sync_full;
	s->wal_fd = -1;
	store_cache_init(&s->cache, STORE_CACHE_RECORDS);
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->pool_lock, NULL);
	s->writer = conn_open(s, true, err);
	if (!s->writer || store_schema_apply(s->writer->db, err) < 0 || load_counts(s, err) < 0) {
		store_close(s);
		return NULL;
	}
	struct store_txn t = { .s = s, .c = s->writer };
	XC_AUTOFREE char *next = store_meta_get(&t, "next_event_id");
	s->next_event_id = next ? strtoull(next, NULL, 10) : 1;
	if (s->next_event_id == 0)
		s->next_event_id = 1;
	pthread_mutex_init(&s->sync_lock, NULL);
	pthread_cond_init(&s->sync_cond, NULL);
	XC_AUTOFREE char *wal = xasprintf("%s-wal", s->path);
	s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
	if (s->wal_fd < 0 && s->sync_full) {
		/* No WAL file to sync ourselves: let SQLite sync every commit. */
		sqlite3_exec(s->writer->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	}
	pthread_mutex_init(&s->ckpt_lock, NULL);
	pthread_cond_init(&s->ckpt_cond, NULL);
	s->checkpointer_started = pthread_create(&s->checkpointer, NULL, checkpointer_main, s) == 0;
	return s;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->checkpointer_started) {
		pthread_mutex_lock(&s->ckpt_lock);
		s->stopping = true;
		pthread_cond_broadcast(&s->ckpt_cond);
		pthread_mutex_unlock(&s->ckpt_lock);
		pthread_join(s->checkpointer, NULL);
		pthread_cond_destroy(&s->ckpt_cond);
		pthread_mutex_destroy(&s->ckpt_lock);
	}
	for (unsigned i = 0; i < s->nreaders; i++)
		conn_close(s->all_readers[i]);
	free(s->all_readers);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	if (s->writer) {
		/* Fold the WAL back so the database is one file at rest. */
		sqlite3_wal_checkpoint_v2(s->writer->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		conn_close(s->writer);
	}
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->pool_lock);
	pthread_mutex_destroy(&s->sync_lock);
	pthread_cond_destroy(&s->sync_cond);
	store_cache_destroy(&s->cache);
	free(s->counts);
	free(s->path);
	free(s);
}

void store_set_publisher(struct store *s, store_publisher fn, void *cookie)
{
	pthread_mutex_lock(&s->write_lock);
	s->publish = fn;
	s->publish_cookie = cookie;
	pthread_mutex_unlock(&s->write_lock);
}

uint64_t store_next_event_id(struct store *s)
{
	return __atomic_load_n(&s->next_event_id, __ATOMIC_ACQUIRE);
}

uint64_t store_count(struct store *s, const struct dm_class *c)
{
	return __atomic_load_n(&s->counts[c->idx], __ATOMIC_RELAXED);
}

void store_changes_free(struct store_change *changes, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		free(changes[i].ref);
		value_unref(changes[i].snapshot);
	}
	free(changes);
}

/* ---- transactions ---- */

static struct conn *reader_get(struct store *s)
{
	pthread_mutex_lock(&s->pool_lock);
	struct conn *c = s->free_readers;
	if (c)
		s->free_readers = c->next_free;
	pthread_mutex_unlock(&s->pool_lock);
	if (c)
		return c;
	struct xc_error err = XC_ERROR_INIT;
	c = conn_open(s, false, &err);
	if (!c) {
		log_error("%s", err.params[0]);
		xc_error_clear(&err);
		return NULL;
	}
	pthread_mutex_lock(&s->pool_lock);
	s->all_readers = xreallocarray(s->all_readers, s->nreaders + 1, sizeof(*s->all_readers));
	s->all_readers[s->nreaders++] = c;
	pthread_mutex_unlock(&s->pool_lock);
	return c;
}

static void reader_put(struct store *s, struct conn *c)
{
	pthread_mutex_lock(&s->pool_lock);
	c->next_free = s->free_readers;
	s->free_readers = c;
	pthread_mutex_unlock(&s->pool_lock);
}

struct store_txn *store_read(struct store *s)
{
	/* With no connection (out of descriptors) every read of t fails
	 * cleanly: the store functions check t->c. */
	struct conn *c = reader_get(s);
	struct store_txn *t = xcalloc(1, sizeof(*t));
	t->s = s;
	t->c = c;
	if (c)
		store_tx(c, TX_BEGIN);
	return t;
}

struct store_txn *store_write(struct store *s)
{
	pthread_mutex_lock(&s->write_lock);
	struct store_txn *t = xcalloc(1, sizeof(*t));
	t->s = s;
	t->c = s->writer;
	t->write = true;
	t->count_delta = xcalloc(dm_class_count(), sizeof(*t->count_delta));
	int rc = store_tx(s->writer, TX_BEGIN_IMMEDIATE);
	if (rc != SQLITE_OK)
		log_error("cannot begin a write: %s", sqlite3_errmsg(s->writer->db));
	return t;
}

bool store_txn_is_write(const struct store_txn *t)
{
	return t->write;
}

static void txn_free(struct store_txn *t)
{
	for (unsigned i = 0; i < t->npend; i++) {
		free(t->pend[i].ref);
		value_unref(t->pend[i].before);
	}
	free(t->pend);
	strmap_clear(&t->pend_index, NULL);
	free(t->count_delta);
	free(t);
}

void store_note(struct store_txn *t, const struct dm_class *c, const char *ref, enum store_op op,
		struct value *before)
{
	if (op == STORE_ADD)
		t->count_delta[c->idx]++;
	else if (op == STORE_DEL)
		t->count_delta[c->idx]--;
	if (c->flags & DM_C_NO_EVENTS) {
		value_unref(before);
		return;
	}
	uintptr_t slot = (uintptr_t)strmap_get(&t->pend_index, ref);
	if (slot) {
		struct pending *p = &t->pend[slot - 1];
		if (op == STORE_DEL) {
			/* Created and destroyed in one go: nobody saw it. */
			if (p->op == STORE_ADD)
				p->op = (enum store_op)-1;
			else
				p->op = STORE_DEL;
			value_unref(p->before);
			p->before = before;
		} else {
			value_unref(before);
		}
		return;
	}
	if (t->npend == t->cappend) {
		t->cappend = t->cappend ? t->cappend * 2 : 8;
		t->pend = xreallocarray(t->pend, t->cappend, sizeof(*t->pend));
	}
	t->pend[t->npend] = (struct pending){ c, xstrdup(ref), op, before };
	t->npend++;
	strmap_put(&t->pend_index, ref, (void *)(uintptr_t)t->npend);
}

struct value *store_get_record_shared(struct store *s, const struct dm_class *c, const char *ref,
				      struct xc_error *err)
{
	bool cacheable = ref && !(c->flags & (DM_C_NO_EVENTS | DM_C_NO_RECORDS));
	struct value *rec = cacheable ? store_cache_get(&s->cache, c, ref) : NULL;
	if (rec)
		return rec;
	uint64_t gen = store_cache_gen(&s->cache);
	struct store_txn *t = store_read(s);
	rec = store_get_record(t, c, ref, err);
	store_commit(t, NULL);
	if (rec && cacheable)
		store_cache_put(&s->cache, gen, c, ref, rec);
	return rec;
}

static void end_read(struct store_txn *t)
{
	if (t->c) {
		store_tx(t->c, TX_COMMIT);
		reader_put(t->s, t->c);
	}
	txn_free(t);
}

/* Group commit.  With --sync full a call is acknowledged only once its
 * commit is on disk.  Rather than one fsync per commit under the writer lock
 * (every writer queued behind each), commits go to the WAL without a sync;
 * then the first waiter fsyncs the WAL for every commit made so far and the
 * others waiting share that one sync.  Events are published at commit, before
 * the sync: a process that dies still leaves the commit in the WAL (the OS
 * has it); only a power cut between commit and sync could lose it, and then
 * its caller was never answered. */
static int wait_durable(struct store *s, uint64_t seq, struct xc_error *err)
{
	if (!s->sync_full || s->wal_fd < 0)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&s->sync_lock);
	while (s->synced_seq < seq) {
		if (s->syncing) {
			pthread_cond_wait(&s->sync_cond, &s->sync_lock);
			continue;
		}
		s->syncing = true;
		uint64_t upto = __atomic_load_n(&s->commit_seq, __ATOMIC_ACQUIRE);
		pthread_mutex_unlock(&s->sync_lock);
		int r = fdatasync(s->wal_fd);
		int saved = errno;
		pthread_mutex_lock(&s->sync_lock);
		s->syncing = false;
		if (r < 0) {
			xc_error_internal(err, "cannot sync the database journal: %s", strerror(saved));
			rc = -1;
			pthread_cond_broadcast(&s->sync_cond);
			break;
		}
		if (upto > s->synced_seq)
			s->synced_seq = upto;
		pthread_cond_broadcast(&s->sync_cond);
	}
	pthread_mutex_unlock(&s->sync_lock);
	return rc;
}

int store_commit(struct store_txn *t, struct xc_error *err)
{
	if (!t->write) {
		end_read(t);
		return 0;
	}
	struct store *s = t->s;
	struct store_change *changes = xcalloc(t->npend ? t->npend : 1, sizeof(*changes));
	unsigned n = 0;
	int64_t now = (int64_t)time(NULL);
	uint64_t next = s->next_event_id;
	for (unsigned i = 0; i < t->npend; i++) {
		struct pending *p = &t->pend[i];
		if ((int)p->op < 0)
			continue;
		struct value *snap;
		if (p->op == STORE_DEL) {
			snap = value_ref(p->before);
		} else {
			struct xc_error ignore = XC_ERROR_INIT;
			snap = store_get_record(t, p->cls, p->ref, &ignore);
			xc_error_clear(&ignore);
			if (!snap)
				continue; /* modified, then destroyed by a later step */
		}
		changes[n++] = (struct store_change){ p->cls, xstrdup(p->ref), p->op, snap, next++, now };
	}
	if (n) {
		char id[32];
		snprintf(id, sizeof(id), "%" PRIu64, next);
		if (store_meta_set(t, "next_event_id", id, err) < 0)
			goto fail;
	}
	int rc = store_tx(t->c, TX_COMMIT);
	if (rc != SQLITE_OK) {
		store_sqlite_error(t->c->db, rc, err);
		goto fail;
	}
	for (unsigned i = 0; i < t->npend; i++)
		store_cache_forget(&s->cache, t->pend[i].ref);
	for (unsigned i = 0; i < dm_class_count(); i++)
		if (t->count_delta[i])
			__atomic_add_fetch(&s->counts[i], (uint64_t)t->count_delta[i], __ATOMIC_RELAXED);
	__atomic_store_n(&s->next_event_id, next, __ATOMIC_RELEASE);
	uint64_t seq = __atomic_add_fetch(&s->commit_seq, 1, __ATOMIC_ACQ_REL);
	if (n && s->publish)
		s->publish(s->publish_cookie, changes, n);
	else
		store_changes_free(changes, n);
	pthread_mutex_unlock(&s->write_lock);
	txn_free(t);
	return wait_durable(s, seq, err);
fail:
	store_changes_free(changes, n);
	store_tx(t->c, TX_ROLLBACK);
	pthread_mutex_unlock(&s->write_lock);
	txn_free(t);
	return -1;
}

void store_abort(struct store_txn *t)
{
	if (!t)
		return;
	if (!t->write) {
		end_read(t);
		return;
	}
	store_tx(t->c, TX_ROLLBACK);
	pthread_mutex_unlock(&t->s->write_lock);
	txn_free(t);
}
