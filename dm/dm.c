/* The datamodel, parsed: classes, fields, enums and every message, generated
 * or custom, derived from the rows of the .def files (see dm.h).
 *
 * Everything here is built once by dm_init() and never changes or is freed
 * afterwards, so the descriptors can be read from any thread without locks. */
#include "dm.h"
#include "dm_rows.h"

#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../util/xalloc.h"

static struct dm_class *classes;
static unsigned nclasses;
static struct dm_enum *enums;
static unsigned nenums;
static struct dm_message **messages; /* sorted by wire name */
static unsigned nmessages;
static unsigned ncustom;

static const char *const kind_names[] = {
	"void", "string", "int", "float", "bool", "datetime", "ref", "enum",
	"set", "map", "record", "struct",
};
_Static_assert(ARRAY_SIZE(kind_names) == DM_KIND_LAST, "kind names");

const char *dm_kind_name(enum dm_kind k)
{
	return k < DM_KIND_LAST ? kind_names[k] : "?";
}

static void __attribute__((noreturn, format(printf, 1, 2))) bad_row(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "xcon: datamodel: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* ---- lookups ---- */

const struct dm_class *dm_class_find(const char *name)
{
	for (unsigned i = 0; i < nclasses; i++)
		if (strcmp(classes[i].name, name) == 0)
			return &classes[i];
	return NULL;
}

const struct dm_class *dm_class_find_ci(const char *name)
{
	for (unsigned i = 0; i < nclasses; i++)
		if (strcasecmp(classes[i].name, name) == 0)
			return &classes[i];
	return NULL;
}

unsigned dm_class_count(void) { return nclasses; }
const struct dm_class *dm_class_at(unsigned i) { return i < nclasses ? &classes[i] : NULL; }

const struct dm_field *dm_field_find(const struct dm_class *c, const char *name)
{
	for (unsigned i = 0; i < c->nfields; i++)
		if (strcmp(c->fields[i].name, name) == 0)
			return &c->fields[i];
	return NULL;
}

const struct dm_enum *dm_enum_find(const char *name)
{
	for (unsigned i = 0; i < nenums; i++)
		if (strcmp(enums[i].name, name) == 0)
			return &enums[i];
	return NULL;
}

bool dm_enum_has(const struct dm_enum *e, const char *v)
{
	for (unsigned i = 0; i < e->n; i++)
		if (strcmp(e->values[i], v) == 0)
			return true;
	return false;
}

unsigned dm_message_count(void) { return nmessages; }
const struct dm_message *dm_message_at(unsigned i) { return i < nmessages ? messages[i] : NULL; }
unsigned dm_custom_message_count(void) { return ncustom; }

static int cmp_msg_key(const void *key, const void *elem)
{
	return strcmp(key, (*(struct dm_message *const *)elem)->wire);
}

const struct dm_message *dm_message_find(const char *wire)
{
	struct dm_message **m = bsearch(wire, messages, nmessages, sizeof(*messages), cmp_msg_key);
	return m ? *m : NULL;
}

/* ---- type parsing ---- */

static char *next_token(const char **p)
{
	while (**p == ' ')
		(*p)++;
	const char *s = *p;
	while (**p && **p != ' ')
		(*p)++;
	return *p > s ? xstrndup(s, (size_t)(*p - s)) : NULL;
}

static struct dm_type *parse_type_tokens(const char **p, const char *where)
{
	XC_AUTOFREE char *tok = next_token(p);
	if (!tok)
		bad_row("%s: type ends too early", where);
	struct dm_type *t = xcalloc(1, sizeof(*t));
	static const struct { const char *name; enum dm_kind kind; } prims[] = {
		{ "void", DM_VOID }, { "string", DM_STRING }, { "int", DM_INT },
		{ "float", DM_FLOAT }, { "bool", DM_BOOL }, { "datetime", DM_DATETIME },
		{ "struct", DM_STRUCT },
	};
	for (size_t i = 0; i < ARRAY_SIZE(prims); i++) {
		if (strcmp(tok, prims[i].name) == 0) {
			t->kind = prims[i].kind;
			t->spec = xstrdup(tok);
			return t;
		}
	}
	if (strcmp(tok, "ref") == 0 || strcmp(tok, "record") == 0) {
		XC_AUTOFREE char *cname = next_token(p);
		t->kind = tok[1] == 'e' && tok[2] == 'f' ? DM_REF : DM_RECORD;
		t->cls = cname ? dm_class_find(cname) : NULL;
		if (!t->cls)
			bad_row("%s: no class %s", where, cname ? cname : "(missing)");
		t->spec = xasprintf("%s %s", tok, cname);
	} else if (strcmp(tok, "enum") == 0) {
		XC_AUTOFREE char *ename = next_token(p);
		t->kind = DM_ENUM;
		t->enm = ename ? dm_enum_find(ename) : NULL;
		if (!t->enm)
			bad_row("%s: no enum %s", where, ename ? ename : "(missing)");
		t->spec = xasprintf("enum %s", ename);
	} else if (strcmp(tok, "set") == 0) {
		t->kind = DM_SET;
		t->elem = parse_type_tokens(p, where);
		t->spec = xasprintf("set %s", t->elem->spec);
	} else if (strcmp(tok, "map") == 0) {
		t->kind = DM_MAP;
		t->key = parse_type_tokens(p, where);
		t->elem = parse_type_tokens(p, where);
		if (t->key->kind == DM_SET || t->key->kind == DM_MAP || t->key->kind == DM_STRUCT)
			bad_row("%s: map keys must be scalars", where);
		t->spec = xasprintf("map %s %s", t->key->spec, t->elem->spec);
	} else {
		bad_row("%s: unknown type word '%s'", where, tok);
	}
	return t;
}

static const struct dm_type *parse_type(const char *spec, const char *where)
{
	const char *p = spec;
	struct dm_type *t = parse_type_tokens(&p, where);
	while (*p == ' ')
		p++;
	if (*p)
		bad_row("%s: trailing words in type '%s'", where, spec);
	return t;
}

/* ---- building ---- */

static void build_enums(void)
{
	nenums = dm_nenum_rows;
	enums = xcalloc(nenums, sizeof(*enums));
	for (unsigned i = 0; i < nenums; i++) {
		struct dm_enum *e = &enums[i];
		e->name = dm_enum_rows[i].name;
		e->spec = dm_enum_rows[i].values;
		const char *p = e->spec;
		char *tok;
		while ((tok = next_token(&p)) != NULL) {
			e->values = xreallocarray(e->values, e->n + 1, sizeof(*e->values));
			e->values[e->n++] = tok;
		}
		if (!e->n)
			bad_row("enum %s has no values", e->name);
	}
}

static struct dm_class *class_of_row(const struct dm_row *r)
{
	struct dm_class *c = (struct dm_class *)dm_class_find(r->cls);
	if (!c)
		bad_row("%s.%s: class %s has no CLASS row before it", r->cls, r->name, r->cls);
	return c;
}

static void build_classes(void)
{
	for (unsigned i = 0; i < dm_nrows; i++)
		if (dm_rows[i].kind == DM_ROW_CLASS)
			nclasses++;
	classes = xcalloc(nclasses, sizeof(*classes));
	unsigned ci = 0;
	for (unsigned i = 0; i < dm_nrows; i++) {
		const struct dm_row *r = &dm_rows[i];
		if (r->kind != DM_ROW_CLASS)
			continue;
		struct dm_class *c = &classes[ci];
		c->name = r->cls;
		c->idx = ci++;
		c->flags = r->flags;
		c->doc = r->doc;
		c->lname = xstrdup(r->cls);
		for (char *s = c->lname; *s; s++)
			*s = (char)tolower((unsigned char)*s);
	}
	/* Fields, in row order: the record order clients see. */
	for (unsigned i = 0; i < dm_nrows; i++) {
		const struct dm_row *r = &dm_rows[i];
		if (r->kind != DM_ROW_FIELD && r->kind != DM_ROW_REVERSE)
			continue;
		struct dm_class *c = class_of_row(r);
		c->fields = xreallocarray(c->fields, c->nfields + 1, sizeof(*c->fields));
		struct dm_field *f = &c->fields[c->nfields];
		memset(f, 0, sizeof(*f));
		f->cls = c;
		f->name = r->name;
		f->name_len = strlen(r->name);
		f->type_spec = r->type;
		f->qual = r->qual;
		f->deflt = r->text;
		f->doc = r->doc;
		f->idx = c->nfields++;
		f->col = r->kind == DM_ROW_REVERSE ? -1 : (int)c->nstored++;
		f->partner_class = r->ocls;
		f->partner_field = r->ofield;
	}
	/* Types once every class exists, then what depends on other fields' types. */
	for (unsigned i = 0; i < nclasses; i++) {
		struct dm_class *c = &classes[i];
		for (unsigned j = 0; j < c->nfields; j++) {
			struct dm_field *f = &c->fields[j];
			XC_AUTOFREE char *where = xasprintf("%s.%s", c->name, f->name);
			for (unsigned k = 0; k < j; k++)
				if (strcmp(c->fields[k].name, f->name) == 0)
					bad_row("%s: field listed twice", where);
			f->type = parse_type(f->type_spec, where);
		}
	}
	for (unsigned i = 0; i < nclasses; i++) {
		struct dm_class *c = &classes[i];
		for (unsigned j = 0; j < c->nfields; j++) {
			struct dm_field *f = &c->fields[j];
			XC_AUTOFREE char *where = xasprintf("%s.%s", c->name, f->name);
			if (f->partner_class) {
				const struct dm_class *oc = dm_class_find(f->partner_class);
				const struct dm_field *of = oc ? dm_field_find(oc, f->partner_field) : NULL;
				if (!of || of->col < 0 || of->type->kind != DM_REF || of->type->cls != c)
					bad_row("%s: partner %s.%s is not a ref %s field", where,
						f->partner_class, f->partner_field, c->name);
				f->partner = of;
			}
			if (f->deflt) {
				struct xc_error err = XC_ERROR_INIT;
				struct value *v = dm_parse_text(f->type, f->deflt, &err);
				if (!v)
					bad_row("%s: default '%s' is not a %s", where, f->deflt, f->type->spec);
				value_unref(v);
			}
		}
		c->f_uuid = dm_field_find(c, "uuid");
		c->f_name_label = dm_field_find(c, "name_label");
		if (!(c->flags & DM_C_NO_RECORDS) && !c->f_uuid)
			bad_row("class %s has records but no uuid field", c->name);
	}
}

static struct dm_message *new_message(struct dm_class *c, const char *name, enum dm_msg_kind kind,
				      const struct dm_field *f, const char *result, unsigned flags)
{
	struct dm_message *m = xcalloc(1, sizeof(*m));
	m->cls = c;
	m->name = name;
	m->wire = xasprintf("%s.%s", c->name, name);
	m->kind = kind;
	m->field = f;
	m->flags = flags;
	m->custom_id = -1;
	XC_AUTOFREE char *where = xasprintf("%s result", m->wire);
	m->result = parse_type(result, where);
	return m;
}

static void add_param(struct dm_message *m, const char *name, const char *type, bool optional)
{
	m->params = xreallocarray(m->params, m->nparams + 1, sizeof(*m->params));
	XC_AUTOFREE char *where = xasprintf("%s(%s)", m->wire, name);
	m->params[m->nparams].name = xstrdup(name);
	m->params[m->nparams].type = parse_type(type, where);
	m->params[m->nparams].optional = optional;
	if (!optional) {
		if (m->nrequired != m->nparams)
			bad_row("%s: required parameter %s after an optional one", m->wire, name);
		m->nrequired++;
	}
	m->nparams++;
}

/* "ref VM vm; bool force; map string string sm_config?" */
static void parse_params(struct dm_message *m, const char *spec)
{
	XC_AUTOFREE char *copy = xstrdup(spec);
	char *save = NULL;
	for (char *part = strtok_r(copy, ";", &save); part; part = strtok_r(NULL, ";", &save)) {
		while (*part == ' ')
			part++;
		char *end = part + strlen(part);
		while (end > part && end[-1] == ' ')
			*--end = '\0';
		if (!*part)
			continue;
		char *sp = strrchr(part, ' ');
		if (!sp)
			bad_row("%s: parameter '%s' has no type", m->wire, part);
		*sp = '\0';
		char *name = sp + 1;
		bool optional = false;
		size_t n = strlen(name);
		if (n && name[n - 1] == '?') {
			name[n - 1] = '\0';
			optional = true;
		}
		add_param(m, name, part, optional);
	}
}

static void push_message(struct dm_class *c, struct dm_message *m)
{
	for (unsigned i = 0; i < c->nmessages; i++) {
		if (strcmp(c->messages[i]->name, m->name) == 0) {
			/* A custom row replaces the generated message of that name. */
			if (c->messages[i]->kind == DM_MSG_CUSTOM && m->kind == DM_MSG_CUSTOM)
				bad_row("%s: message listed twice", m->wire);
			if (m->kind != DM_MSG_CUSTOM)
				return;
			c->messages[i] = m;
			return;
		}
	}
	c->messages = xreallocarray(c->messages, c->nmessages + 1, sizeof(*c->messages));
	c->messages[c->nmessages++] = m;
}

static void generate_field_messages(struct dm_class *c, const struct dm_field *f, const char *ref)
{
	XC_AUTOFREE char *get = xasprintf("get_%s", f->name);
	struct dm_message *m = new_message(c, xstrdup(get), DM_MSG_GET_FIELD, f, f->type->spec, DM_M_READONLY);
	add_param(m, "self", ref, false);
	push_message(c, m);
	if (f->qual != DM_RW)
		return;
	XC_AUTOFREE char *set = xasprintf("set_%s", f->name);
	m = new_message(c, xstrdup(set), DM_MSG_SET_FIELD, f, "void", 0);
	add_param(m, "self", ref, false);
	add_param(m, "value", f->type->spec, false);
	push_message(c, m);
	if (f->type->kind == DM_MAP) {
		XC_AUTOFREE char *add = xasprintf("add_to_%s", f->name);
		m = new_message(c, xstrdup(add), DM_MSG_ADD_TO_MAP, f, "void", 0);
		add_param(m, "self", ref, false);
		add_param(m, "key", f->type->key->spec, false);
		add_param(m, "value", f->type->elem->spec, false);
		push_message(c, m);
		XC_AUTOFREE char *rm = xasprintf("remove_from_%s", f->name);
		m = new_message(c, xstrdup(rm), DM_MSG_REMOVE_FROM_MAP, f, "void", 0);
		add_param(m, "self", ref, false);
		add_param(m, "key", f->type->key->spec, false);
		push_message(c, m);
	} else if (f->type->kind == DM_SET) {
		XC_AUTOFREE char *add = xasprintf("add_%s", f->name);
		m = new_message(c, xstrdup(add), DM_MSG_ADD_TO_SET, f, "void", 0);
		add_param(m, "self", ref, false);
		add_param(m, "value", f->type->elem->spec, false);
		push_message(c, m);
		XC_AUTOFREE char *rm = xasprintf("remove_%s", f->name);
		m = new_message(c, xstrdup(rm), DM_MSG_REMOVE_FROM_SET, f, "void", 0);
		add_param(m, "self", ref, false);
		add_param(m, "value", f->type->elem->spec, false);
		push_message(c, m);
	}
}

static void generate_class_messages(struct dm_class *c)
{
	if (c->flags & DM_C_NO_RECORDS)
		return;
	XC_AUTOFREE char *ref = xasprintf("ref %s", c->name);
	XC_AUTOFREE char *rec = xasprintf("record %s", c->name);
	XC_AUTOFREE char *refs = xasprintf("set ref %s", c->name);
	XC_AUTOFREE char *recs = xasprintf("map ref %s record %s", c->name, c->name);
	struct dm_message *m;
	if (!(c->flags & DM_C_NO_GET_ALL)) {
		push_message(c, new_message(c, "get_all", DM_MSG_GET_ALL, NULL, refs, DM_M_READONLY));
		push_message(c, new_message(c, "get_all_records", DM_MSG_GET_ALL_RECORDS, NULL, recs, DM_M_READONLY));
		m = new_message(c, "get_all_where", DM_MSG_GET_ALL_WHERE, NULL, refs, DM_M_READONLY);
		add_param(m, "expr", "string", false);
		push_message(c, m);
		m = new_message(c, "get_all_records_where", DM_MSG_GET_ALL_RECORDS_WHERE, NULL, recs, DM_M_READONLY);
		add_param(m, "expr", "string", false);
		push_message(c, m);
	}
	m = new_message(c, "get_record", DM_MSG_GET_RECORD, NULL, rec, DM_M_READONLY);
	add_param(m, "self", ref, false);
	push_message(c, m);
	m = new_message(c, "get_by_uuid", DM_MSG_GET_BY_UUID, NULL, ref, DM_M_READONLY);
	add_param(m, "uuid", "string", false);
	push_message(c, m);
	if (c->f_name_label && !(c->flags & DM_C_NO_NAME_GET)) {
		m = new_message(c, "get_by_name_label", DM_MSG_GET_BY_NAME_LABEL, NULL, refs, DM_M_READONLY);
		add_param(m, "label", "string", false);
		push_message(c, m);
	}
	if (c->flags & DM_C_CTOR) {
		m = new_message(c, "create", DM_MSG_CREATE, NULL, ref, DM_M_ASYNC);
		add_param(m, "args", rec, false);
		push_message(c, m);
	}
	if (c->flags & DM_C_DTOR) {
		m = new_message(c, "destroy", DM_MSG_DESTROY, NULL, "void", DM_M_ASYNC);
		add_param(m, "self", ref, false);
		push_message(c, m);
	}
	for (unsigned i = 0; i < c->nfields; i++)
		generate_field_messages(c, &c->fields[i], ref);
}

static int cmp_msg(const void *a, const void *b)
{
	return strcmp((*(struct dm_message *const *)a)->wire, (*(struct dm_message *const *)b)->wire);
}

static void build_messages(void)
{
	for (unsigned i = 0; i < nclasses; i++)
		generate_class_messages(&classes[i]);
	for (unsigned i = 0; i < dm_nrows; i++) {
		const struct dm_row *r = &dm_rows[i];
		if (r->kind != DM_ROW_MESSAGE)
			continue;
		struct dm_class *c = class_of_row(r);
		struct dm_message *m = new_message(c, r->name, DM_MSG_CUSTOM, NULL, r->type, r->flags);
		m->doc = r->doc;
		m->custom_id = (int)ncustom++;
		parse_params(m, r->text);
		push_message(c, m);
	}
	for (unsigned i = 0; i < nclasses; i++)
		nmessages += classes[i].nmessages;
	messages = xcalloc(nmessages, sizeof(*messages));
	unsigned k = 0;
	for (unsigned i = 0; i < nclasses; i++)
		for (unsigned j = 0; j < classes[i].nmessages; j++)
			messages[k++] = classes[i].messages[j];
	qsort(messages, nmessages, sizeof(*messages), cmp_msg);
	for (unsigned i = 1; i < nmessages; i++)
		if (strcmp(messages[i - 1]->wire, messages[i]->wire) == 0)
			bad_row("message %s defined twice", messages[i]->wire);
}

static void init_once(void)
{
	build_enums();
	build_classes();
	build_messages();
}

void dm_init(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, init_once);
}
