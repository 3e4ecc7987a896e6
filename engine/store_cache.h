/* The store's record cache: recently read records as frozen, shared trees.
 *
 * A get_record that hits it costs a hash lookup instead of a read
 * transaction, a row and one query per reverse set.  It is a read cache in
 * front of SQLite, never a second source of truth:
 *
 *  - only store_get_record_shared fills and reads it, for calls that read one
 *    record and nothing else (a hit may be newer than a transaction's
 *    snapshot, which is fine for a lone read and wrong inside a handler);
 *  - every commit forgets the records it touched (reverse-set partners
 *    included: the write path notes them for events) before the call is
 *    answered, so nobody reads a record older than a write they saw acked;
 *  - a reader that missed inserts what it read only if no commit forgot
 *    anything since before its transaction began (the generation below):
 *    otherwise its row may predate a commit that already ran its forgets.
 *
 * Classes whose changes are not noted (DM_C_NO_EVENTS) are never cached.
 * Bounded by a record count; least recently used records go first.
 */
#ifndef XCON_STORE_CACHE_H
#define XCON_STORE_CACHE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../dm/dm.h"
#include "../util/strmap.h"
#include "../util/value.h"

/* Enough for the working set of a console and its clients on a big host;
 * a VM record is a few kilobytes of tree. */
#define STORE_CACHE_RECORDS 4096u

struct store_cache_entry;

struct store_cache {
	pthread_mutex_t lock;
	struct strmap by_ref;        /* ref -> entry */
	struct store_cache_entry *lru; /* most recent first; circular */
	size_t n, max;
	uint64_t gen;                /* forgets so far */
};

void store_cache_init(struct store_cache *c, size_t max);
void store_cache_destroy(struct store_cache *c);

/* The cached record of ref if it is of class cls (a new reference), or NULL. */
struct value *store_cache_get(struct store_cache *c, const struct dm_class *cls, const char *ref);
/* Taken before a reader's transaction begins; see store_cache_put. */
uint64_t store_cache_gen(struct store_cache *c);
/* Remembers rec (frozen from now on) as read by a transaction begun at gen. */
void store_cache_put(struct store_cache *c, uint64_t gen, const struct dm_class *cls, const char *ref,
		     struct value *rec);
/* Forgets ref and starts a new generation; called by the committer for each
 * ref it touched, after the commit and before anyone is told of it. */
void store_cache_forget(struct store_cache *c, const char *ref);

#endif
