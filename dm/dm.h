/* The datamodel: the one source of truth for the XenAPI object model.
 *
 * The classes, fields, enums and messages are rows in the .def files beside
 * this header (classes.def includes one def/<Class>.def per class, enums.def
 * holds the enums).  Everything else is derived from those rows at start-up:
 * the store's tables and columns, every generated message (get_all,
 * get_record, get_<field>, set_<field>, add_to_<map>, ...), system.listMethods,
 * the reverse-reference sets, and the field views of `xe` and the TUI.
 *
 * Row formats (X-macros; a field is one line):
 *
 *   CLASS(name, flags, "description")
 *       flags: DM_C_* below, or 0.
 *   FIELD(class, name, "type", qual, default, "description")
 *       type: see "Type syntax"; qual: RO (server-maintained), RO_C (given to
 *       the constructor, then read-only), RW (has a generated setter);
 *       default: the text of the value a constructor uses when the key is
 *       missing ("" for strings, "0", "true", "OpaqueRef:NULL", ...), or NULL
 *       for the type's zero value.
 *   REVERSE(class, name, other_class, other_field, "description")
 *       A read-only set of other_class refs whose other_field points at the
 *       object (VM.VBDs = the VBDs whose VM is this VM).  Never stored: the
 *       store derives it, so it can never drift.
 *   MESSAGE(class, name, "result type", flags, "params", "description")
 *       A custom message.  params: "type name; type name?; ..." where a
 *       trailing ? marks an optional parameter (added in a later release; it
 *       takes its type's zero value when a client omits it).  The session
 *       parameter is implicit unless flags has DM_M_NO_SESSION.  A MESSAGE
 *       with the name of a generated one (create, destroy, ...) replaces it.
 *   ENUM(name, "Value1 Value2 ...")
 *
 * Type syntax, prefix notation with space-separated tokens:
 *   string | int | float | bool | datetime | ref <Class> | enum <name> |
 *   set <type> | map <keytype> <valuetype> | record <Class> | struct | void
 *   e.g. "set ref VBD", "map string enum vm_operations", "map int set string".
 *   "struct" is a free-form struct (event.from's reply).
 */
#ifndef XCON_DM_H
#define XCON_DM_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/error.h"
#include "../util/value.h"

enum dm_kind {
	DM_VOID,
	DM_STRING,
	DM_INT,
	DM_FLOAT,
	DM_BOOL,
	DM_DATETIME,
	DM_REF,
	DM_ENUM,
	DM_SET,
	DM_MAP,
	DM_RECORD,
	DM_STRUCT,
	DM_KIND_LAST
};

struct dm_class;
struct dm_enum;

struct dm_type {
	enum dm_kind kind;
	const struct dm_class *cls;  /* DM_REF, DM_RECORD */
	const struct dm_enum *enm;   /* DM_ENUM */
	const struct dm_type *key;   /* DM_MAP */
	const struct dm_type *elem;  /* DM_SET element, DM_MAP value */
	char *spec;                  /* canonical text, e.g. "set ref VBD" */
};

enum dm_qual { DM_RO, DM_RO_C, DM_RW };

/* Class flags */
#define DM_C_NO_RECORDS  0x01u /* no objects (event, system): no table, no getters */
#define DM_C_NO_GET_ALL  0x02u /* no get_all / get_all_records (session) */
#define DM_C_NO_EVENTS   0x04u /* changes are not published as events */
#define DM_C_CTOR        0x08u /* generated create(record) */
#define DM_C_DTOR        0x10u /* generated destroy(self) */
#define DM_C_NO_NAME_GET 0x20u /* no get_by_name_label even with a name_label field */

/* Message flags */
#define DM_M_ASYNC      0x01u /* also callable as Async.<Class>.<name> */
#define DM_M_NO_SESSION 0x02u /* no session parameter (login, listMethods) */
#define DM_M_SECRET     0x04u /* parameters never logged (passwords) */
#define DM_M_READONLY   0x08u /* reads only */

enum dm_msg_kind {
	DM_MSG_CUSTOM,
	DM_MSG_GET_ALL,
	DM_MSG_GET_ALL_RECORDS,
	DM_MSG_GET_ALL_WHERE,         /* xapi's hidden filtered forms (store_filter.c) */
	DM_MSG_GET_ALL_RECORDS_WHERE,
	DM_MSG_GET_RECORD,
	DM_MSG_GET_BY_UUID,
	DM_MSG_GET_BY_NAME_LABEL,
	DM_MSG_GET_FIELD,
	DM_MSG_SET_FIELD,
	DM_MSG_ADD_TO_MAP,
	DM_MSG_REMOVE_FROM_MAP,
	DM_MSG_ADD_TO_SET,
	DM_MSG_REMOVE_FROM_SET,
	DM_MSG_CREATE,
	DM_MSG_DESTROY,
	DM_MSG_KIND_LAST
};

struct dm_enum {
	const char *name;
	const char *spec;
	const char **values;
	unsigned n;
};

struct dm_field {
	const struct dm_class *cls;
	const char *name;
	size_t name_len;
	const char *type_spec;
	const struct dm_type *type;
	enum dm_qual qual;
	const char *deflt;
	const char *doc;
	unsigned idx;                 /* position in the record */
	int col;                      /* stored column number, -1 for reverse sets */
	const struct dm_field *partner; /* reverse set: the ref field it mirrors */
	const char *partner_class, *partner_field;
};

struct dm_param {
	char *name;
	const struct dm_type *type;
	bool optional;
};

struct dm_message {
	const struct dm_class *cls;
	const char *name;       /* "start" */
	char *wire;             /* "VM.start" */
	enum dm_msg_kind kind;
	const struct dm_field *field; /* generated field messages */
	struct dm_param *params;
	unsigned nparams, nrequired;
	const struct dm_type *result;
	unsigned flags;
	const char *doc;
	int custom_id;          /* index among the MESSAGE rows, -1 if generated */
};

struct dm_class {
	const char *name;       /* wire name: "VM" */
	char *lname;            /* event class name: "vm" */
	unsigned flags;
	const char *doc;
	unsigned idx;
	struct dm_field *fields;
	unsigned nfields;
	unsigned nstored;       /* fields with a column */
	const struct dm_field *f_uuid, *f_name_label; /* NULL when absent */
	struct dm_message **messages; /* every message of the class, wire order */
	unsigned nmessages;
};

/* Parses the tables once; safe to call from any thread, any number of times.
 * A malformed row is a programming error: it aborts with the row named. */
void dm_init(void);

unsigned dm_class_count(void);
const struct dm_class *dm_class_at(unsigned i);
const struct dm_class *dm_class_find(const char *name);     /* exact: "VM" */
const struct dm_class *dm_class_find_ci(const char *name);  /* any case: "vm" */
const struct dm_field *dm_field_find(const struct dm_class *c, const char *name);
const struct dm_enum *dm_enum_find(const char *name);
bool dm_enum_has(const struct dm_enum *e, const char *v);

/* Every message, sorted by wire name (system.listMethods order). */
unsigned dm_message_count(void);
const struct dm_message *dm_message_at(unsigned i);
const struct dm_message *dm_message_find(const char *wire);
/* The MESSAGE rows in file order: custom_id indexes this. */
unsigned dm_custom_message_count(void);

/* A new value of the field's default (constructor) value. */
struct value *dm_field_default(const struct dm_field *f);
/* The zero value of a type: "", 0, false, epoch, OpaqueRef:NULL, [], {}. */
struct value *dm_type_zero(const struct dm_type *t);
/* Checks v against t and returns a new reference in canonical form (ints sent
 * as strings become ints, datetimes sent as strings become datetimes, ...).
 * On a mismatch returns NULL with FIELD_TYPE_ERROR [what]. */
struct value *dm_coerce(const struct dm_type *t, const struct value *v, const char *what,
			struct xc_error *err);
/* Parses text (a .def default, an xe argument) into a value of type t. */
struct value *dm_parse_text(const struct dm_type *t, const char *text, struct xc_error *err);

const char *dm_kind_name(enum dm_kind k);

#endif
