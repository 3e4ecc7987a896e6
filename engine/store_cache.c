/* The store's record cache (see store_cache.h). */
#include "store_cache.h"

#include <stdlib.h>

#include "../util/xalloc.h"

struct store_cache_entry {
	const struct dm_class *cls;
	char *ref;
	struct value *rec;
	struct store_cache_entry *prev, *next;
};

void store_cache_init(struct store_cache *c, size_t max)
{
	*c = (struct store_cache){ .by_ref = STRMAP_INIT, .max = max };
	pthread_mutex_init(&c->lock, NULL);
}

static void unlink_entry(struct store_cache *c, struct store_cache_entry *e)
{
	if (e->next == e) {
		c->lru = NULL;
	} else {
		e->prev->next = e->next;
		e->next->prev = e->prev;
		if (c->lru == e)
			c->lru = e->next;
	}
}

static void push_front(struct store_cache *c, struct store_cache_entry *e)
{
	if (!c->lru) {
		e->prev = e->next = e;
	} else {
		e->next = c->lru;
		e->prev = c->lru->prev;
		e->prev->next = e;
		c->lru->prev = e;
	}
	c->lru = e;
}

static void drop(struct store_cache *c, struct store_cache_entry *e)
{
	unlink_entry(c, e);
	strmap_del(&c->by_ref, e->ref);
	c->n--;
	value_unref(e->rec);
	free(e->ref);
	free(e);
}

void store_cache_destroy(struct store_cache *c)
{
	while (c->lru)
		drop(c, c->lru);
	strmap_clear(&c->by_ref, NULL);
	pthread_mutex_destroy(&c->lock);
}

struct value *store_cache_get(struct store_cache *c, const struct dm_class *cls, const char *ref)
{
	struct value *v = NULL;
	pthread_mutex_lock(&c->lock);
	struct store_cache_entry *e = strmap_get(&c->by_ref, ref);
	if (e && e->cls == cls) {
		v = value_ref(e->rec);
		if (c->lru != e) {
			unlink_entry(c, e);
			push_front(c, e);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

uint64_t store_cache_gen(struct store_cache *c)
{
	pthread_mutex_lock(&c->lock);
	uint64_t g = c->gen;
	pthread_mutex_unlock(&c->lock);
	return g;
}

void store_cache_put(struct store_cache *c, uint64_t gen, const struct dm_class *cls, const char *ref,
		     struct value *rec)
{
	if (!c->max)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->gen == gen && !strmap_has(&c->by_ref, ref)) {
		struct store_cache_entry *e = xmalloc(sizeof(*e));
		*e = (struct store_cache_entry){ .cls = cls, .ref = xstrdup(ref), .rec = value_ref(rec) };
		strmap_put(&c->by_ref, ref, e);
		push_front(c, e);
		if (++c->n > c->max)
			drop(c, c->lru->prev);
	}
	pthread_mutex_unlock(&c->lock);
}

void store_cache_forget(struct store_cache *c, const char *ref)
{
	pthread_mutex_lock(&c->lock);
	c->gen++;
	struct store_cache_entry *e = strmap_get(&c->by_ref, ref);
	if (e)
		drop(c, e);
	pthread_mutex_unlock(&c->lock);
}
