/* The value tree: the one representation of API data in xcon.
 *
 * Every call's arguments and results, every stored record and every event
 * snapshot is a tree of these.  The codecs in rpc/ turn XML-RPC and JSON into
 * trees and back; the engine only ever sees trees.
 *
 * Ownership: value_new_* returns a tree with one reference.  value_ref() adds
 * one, value_unref() drops one and frees at zero (atomically, so a frozen tree
 * such as an event snapshot can be shared by many threads).  A tree that has
 * been shared must not be modified; the builders (value_array_push,
 * value_struct_set) are for trees still owned by one writer.
 *
 * Records are structs whose members appear in datamodel field order, so the
 * engine reaches a field by index (value_struct_at) and the codecs print the
 * members in the order xapi does.  Map keys are strings on the wire whatever
 * their datamodel type, so maps are structs too.
 */
#ifndef XCON_VALUE_H
#define XCON_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum value_type {
	VALUE_NIL,
	VALUE_STRING,
	VALUE_INT,
	VALUE_FLOAT,
	VALUE_BOOL,
	VALUE_DATETIME, /* seconds since the epoch, UTC */
	VALUE_ARRAY,
	VALUE_STRUCT,
	VALUE_LAZY,     /* produced on demand: see value_new_lazy */
	VALUE_TYPE_LAST
};

struct value;
struct value_sink;

enum value_step { VALUE_STEP_MORE, VALUE_STEP_DONE, VALUE_STEP_FAILED };

struct value_member {
	char *key;
	struct value *val;
	bool key_static; /* key lives as long as the program (a datamodel name) */
};

struct value {
	enum value_type type;
	unsigned refs;
	bool int32;     /* an int the wire must type as 32-bit (<i4>), see value_new_int32 */
	bool immortal;  /* a shared constant: never freed, refs not counted */
	bool inline_str; /* the string lives in the same allocation */
	union {
		struct {
			char *s;
			size_t len;
		} str;
		int64_t i;
		double f;
		bool b;
		int64_t t;
		struct {
			struct value **items;
			size_t n, cap;
		} arr;
		struct {
			struct value_member *m;
			size_t n, cap;
		} st;
		struct {
			enum value_step (*step)(void *state, struct value_sink *k);
			void (*release)(void *state);
			void *state;
			enum value_step last; /* MORE until the source has finished */
		} lazy;
	} u;
};

const char *value_type_name(enum value_type t);

struct value *value_new_nil(void);
struct value *value_new_string(const char *s);
struct value *value_new_stringn(const char *s, size_t n);
/* Takes ownership of the malloc'd string s. */
struct value *value_new_string_take(char *s);
struct value *value_new_stringf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
struct value *value_new_int(int64_t i);
/* Shared, immutable constants for the commonest stored values (false, true,
 * 0, -1, "" and OpaqueRef:NULL): reading a record allocates none of them.
 * Like any value they must not be modified. */
struct value *value_shared_bool(bool b);
struct value *value_shared_int(int64_t i);   /* a new value unless 0 or -1 */
struct value *value_shared_string(const char *s, size_t n); /* a new one unless "" or the null ref */
/* XenAPI ints travel untyped; the few 32-bit ones (event.from's
 * valid_ref_counts) are tagged so the codec can say <i4>. */
struct value *value_new_int32(int32_t i);
struct value *value_new_float(double f);
struct value *value_new_bool(bool b);
struct value *value_new_datetime(int64_t t);
struct value *value_new_array(size_t hint);
struct value *value_new_struct(size_t hint);
/* A value whose content step() produces into a sink (value_sink.h) piece by
 * piece, so a big result (every record of a class) goes from its source to
 * the wire without a tree in between, and a writer can send each piece before
 * asking for the next (value_lazy_step).  step() answers VALUE_STEP_MORE
 * while there is more to come; a source that fails still closes what it
 * opened, so every sink stays balanced, and answers VALUE_STEP_FAILED.  The
 * content can be produced once.  release(state) runs when the last reference
 * goes.  Only the writers (value_emit) and value_materialize understand it:
 * it is for call results, never for stored data. */
struct value *value_new_lazy(enum value_step (*step)(void *state, struct value_sink *k),
			     void (*release)(void *state), void *state);

struct value *value_ref(struct value *v);
void value_unref(struct value *v);
/* A deep copy with one reference, safe to modify (of a lazy value: its
 * content as a tree, which uses the value up, see value_new_lazy). */
struct value *value_copy(const struct value *v);
bool value_equal(const struct value *a, const struct value *b);

/* Builders: take ownership of the item/val reference passed in. */
void value_array_push(struct value *arr, struct value *item);
void value_array_push_string(struct value *arr, const char *s);
/* Appends a member without checking for duplicates (records built in order). */
void value_struct_add(struct value *st, const char *key, struct value *val);
/* The same with a key that outlives every tree (a datamodel field name):
 * not copied, which spares records one allocation per field. */
void value_struct_add_static(struct value *st, const char *key, struct value *val);
/* Replaces the member's value if the key exists, else appends. */
void value_struct_set(struct value *st, const char *key, struct value *val);
/* Removes the member; returns whether it existed. */
bool value_struct_remove(struct value *st, const char *key);

/* Lookups return borrowed pointers, NULL when absent or of another type. */
struct value *value_struct_get(const struct value *st, const char *key);
struct value *value_struct_at(const struct value *st, size_t i);
struct value *value_array_at(const struct value *arr, size_t i);
size_t value_len(const struct value *v); /* array items, struct members, string bytes */
const char *value_str(const struct value *v); /* NULL unless a string */
const char *value_struct_get_str(const struct value *st, const char *key);

/* Datetimes on the XenAPI wire: "YYYYMMDDTHH:MM:SSZ", never with dashes. */
void value_datetime_format(int64_t t, char out[32]);
/* Accepts the wire form, with or without Z, and ISO 8601 with dashes. */
bool value_datetime_parse(const char *s, int64_t *t);

/* Cleanup helper for struct value * locals. */
static inline void value_unrefp(struct value **pv) { value_unref(*pv); }
#define XC_AUTOVALUE __attribute__((cleanup(value_unrefp))) struct value

#endif
