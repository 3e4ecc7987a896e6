/* String hash map: FNV-1a, linear probing, tombstones, grows at 70% load. */
#include "strmap.h"
#include "xalloc.h"

#include <stdint.h>
#include <string.h>

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

static struct strmap_slot *find(const struct strmap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1;
	for (size_t i = hash(key) & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];
		if (!s->key && !s->tomb)
			return NULL;
		if (s->key && strcmp(s->key, key) == 0)
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key);
	return s ? s->val : NULL;
}

bool strmap_has(const struct strmap *m, const char *key)
{
	return find(m, key) != NULL;
}

static void grow(struct strmap *m)
{
	struct strmap old = *m;
	m->cap = old.cap ? old.cap * 2 : 16;
	while (m->used * 10 >= m->cap * 5)
		m->cap *= 2;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->filled = m->used;
	size_t mask = m->cap - 1;
	for (size_t j = 0; j < old.cap; j++) {
		struct strmap_slot *s = &old.slots[j];
		if (!s->key)
			continue;
		size_t i = hash(s->key) & mask;
		while (m->slots[i].key)
			i = (i + 1) & mask;
		m->slots[i].key = s->key;
		m->slots[i].val = s->val;
	}
	free(old.slots);
}

void *strmap_put(struct strmap *m, const char *key, void *val)
{
	struct strmap_slot *s = find(m, key);
	if (s) {
		void *prev = s->val;
		s->val = val;
		return prev;
	}
	if ((m->filled + 1) * 10 >= m->cap * 7)
		grow(m);
	size_t mask = m->cap - 1;
	size_t i = hash(key) & mask;
	while (m->slots[i].key)
		i = (i + 1) & mask;
	if (!m->slots[i].tomb)
		m->filled++;
	m->slots[i].key = xstrdup(key);
	m->slots[i].val = val;
	m->slots[i].tomb = false;
	m->used++;
	return NULL;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct strmap_slot *s = find(m, key);
	if (!s)
		return NULL;
	void *val = s->val;
	free(s->key);
	s->key = NULL;
	s->val = NULL;
	s->tomb = true;
	m->used--;
	return val;
}

void strmap_each(const struct strmap *m, void (*fn)(const char *, void *, void *), void *cookie)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].key)
			fn(m->slots[i].key, m->slots[i].val, cookie);
}

void strmap_clear(struct strmap *m, void (*free_val)(void *))
{
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].key) {
			free(m->slots[i].key);
			if (free_val)
				free_val(m->slots[i].val);
		}
	}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}
