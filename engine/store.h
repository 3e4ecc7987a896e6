/* The object store: every record of the datamodel in one SQLite database.
 *
 * Every SQL statement of xcon lives behind this interface, so the store can
 * later run on a replicated engine without the rest noticing.
 *
 * Transactions.  One writer at a time (store_write blocks until the previous
 * writer commits), any number of readers, each reading a consistent snapshot
 * that a writer never blocks (SQLite WAL).  An API call's writes are one
 * transaction: store_commit makes them durable (fsync with sync_full) before
 * returning, so an acknowledged call survives a kill -9 at any instant.
 *
 * Events.  The write path records every object it adds, modifies or deletes,
 * plus the objects whose reverse-reference sets change as a result.  At
 * commit each gets an event id (persisted with the data) and a snapshot of its
 * new record, and the batch goes to the publisher: no mutation can forget its
 * event.
 *
 * Records are structs with one member per datamodel field, in field order,
 * reverse sets included (derived by query, never stored).
 */
#ifndef XCON_STORE_H
#define XCON_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "../dm/dm.h"
#include "../util/error.h"
#include "../util/value.h"

struct store;
struct store_txn;

enum store_op { STORE_ADD, STORE_MOD, STORE_DEL };

struct store_change {
	const struct dm_class *cls;
	char *ref;
	enum store_op op;
	struct value *snapshot; /* the record after the change; before it for DEL */
	uint64_t id;            /* event id, increasing across restarts */
	int64_t timestamp;
};

/* Receives each committed batch, in commit order, and owns it afterwards
 * (free with store_changes_free).  Called with the writer lock held, so it
 * must be quick and must not call back into the store for writing. */
typedef void (*store_publisher)(void *cookie, struct store_change *changes, unsigned n);

struct store *store_open(const char *path, bool sync_full, struct xc_error *err);
void store_close(struct store *s);
void store_set_publisher(struct store *s, store_publisher fn, void *cookie);
void store_changes_free(struct store_change *changes, unsigned n);
/* The id the next event will get. */
uint64_t store_next_event_id(struct store *s);
/* Number of live objects of a class (kept in memory). */
uint64_t store_count(struct store *s, const struct dm_class *c);

struct store_txn *store_read(struct store *s);
struct store_txn *store_write(struct store *s);
/* Commits (or ends a read); on failure rolls back and sets err.  Frees txn. */
int store_commit(struct store_txn *t, struct xc_error *err);
/* Rolls back and frees; NULL is fine. */
void store_abort(struct store_txn *t);
bool store_txn_is_write(const struct store_txn *t);

/* Reads.  A ref of the wrong class or unknown gives HANDLE_INVALID [class, ref]. */
bool store_exists(struct store_txn *t, const struct dm_class *c, const char *ref);
struct value *store_get_record(struct store_txn *t, const struct dm_class *c, const char *ref,
			       struct xc_error *err);
/* The same as a frozen tree that may be shared (never modify it), read in a
 * transaction of its own unless the record cache holds it (store_cache.h).
 * For calls that read this record and nothing else. */
struct value *store_get_record_shared(struct store *s, const struct dm_class *c, const char *ref,
				      struct xc_error *err);
struct value *store_get_field(struct store_txn *t, const struct dm_field *f, const char *ref,
			      struct xc_error *err);
/* Array of refs of every object of the class. */
struct value *store_get_all(struct store_txn *t, const struct dm_class *c);
/* Struct ref -> record of every object of the class. */
struct value *store_get_all_records(struct store_txn *t, const struct dm_class *c);
/* The same written into a sink (util/value_sink.h) a few rows at a time,
 * never a tree: how the API's get_all_records reaches the wire.  Each step
 * writes up to max_rows records (the first also opens the struct, the last
 * closes it) and answers as a lazy value's step does (util/value.h); t must
 * stay open until store_rows_close. */
struct value_sink;
struct store_rows;
struct store_rows *store_rows_open(struct store_txn *t, const struct dm_class *c);
/* The same rows in another frame: with framed, the records' struct is
 * opened and closed as above; each record is written between row_begin and
 * row_end (get_all_records: the ref as a member's key, then member_end; an
 * event: the event's fields, then its snapshot). */
struct store_rows_shape {
	bool framed;
	void (*row_begin)(struct value_sink *k, void *cookie, const struct dm_class *c, const char *ref, size_t n);
	void (*row_end)(struct value_sink *k, void *cookie);
};
struct store_rows *store_rows_open_shaped(struct store_txn *t, const struct dm_class *c,
					  const struct store_rows_shape *shape, void *cookie);

/* A filter in xapi's row filter language (store_filter.c):
 * `field "power_state"="Running" and not field "is_a_template"="true"`.
 * NULL with INTERNAL_ERROR naming the problem for a malformed expression,
 * an unknown field or one that is not stored (a reverse set). */
struct store_filter;
struct store_filter *store_filter_parse(const struct dm_class *c, const char *expr, struct xc_error *err);
void store_filter_free(struct store_filter *f);
/* The records that pass f, as store_rows_open gives them all; f must
 * outlive the iteration. */
struct store_rows *store_rows_open_where(struct store_txn *t, const struct store_filter *f);
/* Array of refs of the objects that pass f, or NULL with err set. */
struct value *store_get_all_where(struct store_txn *t, const struct store_filter *f, struct xc_error *err);
enum value_step store_rows_step(struct store_rows *r, struct value_sink *k, unsigned max_rows);
void store_rows_close(struct store_rows *r);
/* Array of refs whose stored field equals v (uuid, name_label, a ref field). */
struct value *store_find(struct store_txn *t, const struct dm_field *f, const struct value *v);
/* The ref with that uuid, or NULL (caller frees). */
char *store_ref_by_uuid(struct store_txn *t, const struct dm_class *c, const char *uuid);

/* Writes (write transactions only). */
/* Inserts a record: fields missing from rec take their defaults; uuid is
 * generated when missing or empty.  ref NULL generates one.  Returns the ref
 * (caller frees) or NULL. */
char *store_create(struct store_txn *t, const struct dm_class *c, const char *ref,
		   const struct value *rec, struct xc_error *err);
int store_set(struct store_txn *t, const struct dm_field *f, const char *ref,
	      const struct value *v, struct xc_error *err);
int store_destroy(struct store_txn *t, const struct dm_class *c, const char *ref,
		  struct xc_error *err);
/* Marks an object modified without changing it (event.inject, heartbeats). */
int store_touch(struct store_txn *t, const struct dm_class *c, const char *ref,
		struct xc_error *err);

/* Engine-private key/value metadata kept with the data (first-start flags). */
char *store_meta_get(struct store_txn *t, const char *key);
int store_meta_set(struct store_txn *t, const char *key, const char *val, struct xc_error *err);

/* PRAGMA integrity_check on t's snapshot: its lines ("ok" when sound), caller
 * frees; NULL with err set if the check itself fails (store_check.c). */
char *store_integrity_check(struct store_txn *t, struct xc_error *err);

#endif
