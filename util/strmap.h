/* A string-keyed hash map of pointers (open addressing, linear probing).
 * Keys are copied; values are the caller's.  Not thread-safe by itself. */
#ifndef XCON_STRMAP_H
#define XCON_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

struct strmap_slot {
	char *key;
	void *val;
	bool tomb;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap;   /* power of two */
	size_t used;  /* live keys */
	size_t filled; /* live keys + tombstones */
};

#define STRMAP_INIT { NULL, 0, 0, 0 }

void *strmap_get(const struct strmap *m, const char *key);
bool strmap_has(const struct strmap *m, const char *key);
/* Sets key to val; returns the previous value (NULL if new). */
void *strmap_put(struct strmap *m, const char *key, void *val);
/* Removes key; returns its value (NULL if absent). */
void *strmap_del(struct strmap *m, const char *key);
/* Calls fn for each entry; fn must not change the map. */
void strmap_each(const struct strmap *m, void (*fn)(const char *key, void *val, void *cookie), void *cookie);
/* Frees the keys, and each value with free_val unless it is NULL. */
void strmap_clear(struct strmap *m, void (*free_val)(void *));

#endif
