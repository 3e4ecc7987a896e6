/* Internals shared by the store_*.c files; nothing outside the store. */
#ifndef XCON_STORE_PRIV_H
#define XCON_STORE_PRIV_H

#include <pthread.h>
#include <sqlite3.h>

#include "store.h"
#include "store_cache.h"
#include "../util/strmap.h"

/* Statements prepared once per connection and class. */
enum stmt_kind {
	ST_SELECT_ROW,   /* every stored column of one ref */
	ST_SELECT_ALL,   /* every stored column of every row */
	ST_SELECT_REFS,  /* every ref */
	ST_EXISTS,
	ST_INSERT,
	ST_DELETE,
	ST_KIND_LAST
};

enum fstmt_kind {
	FST_SELECT,      /* one field of one ref */
	FST_UPDATE,      /* set one field of one ref */
	FST_FIND,        /* refs whose field equals ? */
	FST_PAIRS,       /* (field, ref) of every row: reverse sets in bulk */
	FST_KIND_LAST
};

enum txn_stmt { TX_BEGIN, TX_BEGIN_IMMEDIATE, TX_COMMIT, TX_ROLLBACK, TX_LAST };

struct conn {
	sqlite3 *db;
	sqlite3_stmt *tx[TX_LAST];   /* transaction control, prepared once */
	sqlite3_stmt ***stmts;   /* [class][stmt_kind] */
	sqlite3_stmt ***fstmts;  /* [class][field * FST_KIND_LAST + kind] */
	struct conn *next_free;
};

struct store {
	char *path;
	bool sync_full;
	struct conn *writer;
	pthread_mutex_t write_lock;
	pthread_mutex_t pool_lock;
	struct conn *free_readers;
	struct conn **all_readers;
	unsigned nreaders;
	uint64_t next_event_id;     /* guarded by write_lock */
	uint64_t *counts;           /* per class; atomics */
	store_publisher publish;
	void *publish_cookie;
	/* Group commit (see store_commit): commits are numbered under the
	 * writer lock; one waiter at a time fsyncs the WAL for all of them. */
	int wal_fd;
	uint64_t commit_seq;
	uint64_t synced_seq;
	bool syncing;
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
	/* WAL checkpoints run here, off the write path (see store.c). */
	pthread_t checkpointer;
	bool checkpointer_started;
	bool stopping;
	pthread_mutex_t ckpt_lock;
	pthread_cond_t ckpt_cond;
	struct store_cache cache;
};

struct pending {
	const struct dm_class *cls;
	char *ref;
	enum store_op op;
	struct value *before;  /* DEL: the record as it was */
};

struct store_txn {
	struct store *s;
	struct conn *c;
	bool write;
	struct pending *pend;
	unsigned npend, cappend;
	struct strmap pend_index;  /* ref -> index + 1 into pend */
	int64_t *count_delta;      /* per class */
};

/* store_schema.c */
int store_schema_apply(sqlite3 *db, struct xc_error *err);

/* store_codec.c: stored column <-> value */
int store_bind(sqlite3_stmt *st, int col, const struct dm_type *t, const struct value *v);
struct value *store_column(sqlite3_stmt *st, int col, const struct dm_type *t);
/* The same written into a sink, without a tree. */
void store_column_emit(sqlite3_stmt *st, int col, const struct dm_type *t, struct value_sink *k);
/* Containers are kept as netstrings in a TEXT column; exposed for defaults. */
char *store_encode_container(const struct dm_type *t, const struct value *v);
const char *store_sql_type(const struct dm_type *t);

/* store.c */
/* Runs one of the prepared transaction statements; SQLite's result code. */
int store_tx(struct conn *c, enum txn_stmt k);
sqlite3_stmt *store_stmt(struct conn *c, const struct dm_class *cls, enum stmt_kind k);
sqlite3_stmt *store_fstmt(struct conn *c, const struct dm_field *f, enum fstmt_kind k);
int store_sqlite_error(sqlite3 *db, int rc, struct xc_error *err);
void store_note(struct store_txn *t, const struct dm_class *c, const char *ref, enum store_op op,
		struct value *before);
/* The stored columns of cls, quoted, in column order, separated by sep. */
struct buf;
void store_add_columns(struct buf *b, const struct dm_class *cls, const char *sep);

/* store_filter.c: a new statement selecting the rows that pass f (_ref,
 * then with records every stored column as ST_SELECT_ALL), its parameters
 * bound; the caller finalizes it.  NULL if it cannot be prepared. */
sqlite3_stmt *store_filter_prepare(struct store_txn *t, const struct store_filter *f, bool records);
const struct dm_class *store_filter_class(const struct store_filter *f);

#endif
