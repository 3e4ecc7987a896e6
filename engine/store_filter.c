/* xapi's row filter language, the argument of <class>.get_all_where and
 * get_all_records_where (see store.h), compiled into an SQL condition on the
 * class's table so that SQLite does the filtering.
 *
 *   expr  := value "=" value | expr "and" expr | expr "or" expr
 *          | "not" expr | "true" | "false" | "(" expr ")"
 *   value := "\"" literal "\"" | "field" "\"" name "\""
 *
 * As in xapi's grammar, "and" and "or" share one level and group to the
 * left, and "not" takes everything after it ("not a and b" is
 * "not (a and b)").  Literals have no escapes.  A field is named as in the
 * API ("name_label") or as in xapi's database ("name__label").  xapi
 * compares the database's text forms; here a literal is read as a value of
 * the field's type, and one that is not such a value ("abc" for an int)
 * matches nothing, which is what the text comparison would say too.
 */
#include "store_priv.h"

#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/xalloc.h"

#define LOG_MODULE "store"

/* Limits: the nesting the parser follows, the nodes in all (a chain of
 * "and"s is as deep as it is long in SQLite's tree, which refuses depths
 * over 1,000), and parentheses in the SQL (SQLite's parser overflows on a
 * few hundred). */
#define FILTER_MAX_DEPTH 64
#define FILTER_MAX_NODES 512
#define FILTER_MAX_SQL_DEPTH 80

enum tok { T_EOF, T_EQ, T_TRUE, T_FALSE, T_LP, T_RP, T_FIELD, T_AND, T_OR, T_NOT, T_STR, T_BAD };

enum node_kind { N_TRUE, N_FALSE, N_NOT, N_AND, N_OR, N_EQ };

struct operand {
	const struct dm_field *field; /* or a literal */
	char *lit;
};

struct node {
	enum node_kind kind;
	int a, b; /* children (N_NOT: a; N_AND/N_OR: a, b) */
	struct operand l, r;
};

struct parser {
	const struct dm_class *c;
	const char *s, *p;
	enum tok tok;
	char *str; /* the current T_STR's text */
	struct node *nodes;
	unsigned n, cap;
	struct xc_error *err;
	bool failed;
};

struct store_filter {
	const struct dm_class *c;
	char *where; /* the SQL condition, with ?N placeholders */
	struct value **params;
	const struct dm_type **types;
	unsigned nparams;
};

static void fail(struct parser *ps, const char *what)
{
	if (ps->tok == T_BAD) /* the lexer's trouble comes first */
		what = *ps->p == '"' ? "a string without its closing quote" : "unexpected character";
	if (!ps->failed)
		xc_error_internal(ps->err, "filter expression: %s at offset %ld in \"%.80s%s\"", what,
				  (long)(ps->p - ps->s), ps->s, strlen(ps->s) > 80 ? "..." : "");
	ps->failed = true;
}

static bool word(struct parser *ps, const char *w, enum tok t)
{
	size_t n = strlen(w);
	if (strncmp(ps->p, w, n) != 0)
		return false;
	ps->p += n;
	ps->tok = t;
	return true;
}

static void next(struct parser *ps)
{
	free(ps->str);
	ps->str = NULL;
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n')
		ps->p++;
	static const char punct[] = "=()";
	static const enum tok punct_tok[] = { T_EQ, T_LP, T_RP };
	const char *pc = *ps->p ? strchr(punct, *ps->p) : NULL;
	if (!*ps->p) {
		ps->tok = T_EOF;
		return;
	}
	if (pc) {
		ps->p++;
		ps->tok = punct_tok[pc - punct];
		return;
	}
	if (*ps->p == '"') {
		const char *end = strchr(ps->p + 1, '"');
		if (!end) {
			ps->tok = T_BAD;
			return;
		}
		ps->str = xstrndup(ps->p + 1, (size_t)(end - ps->p - 1));
		ps->p = end + 1;
		ps->tok = T_STR;
		return;
	}
	/* Keywords as xapi's lexer takes them: the longest fixed word. */
	if (word(ps, "true", T_TRUE) || word(ps, "false", T_FALSE) || word(ps, "field", T_FIELD) ||
	    word(ps, "and", T_AND) || word(ps, "or", T_OR) || word(ps, "not", T_NOT))
		return;
	ps->tok = T_BAD;
}

static int add_node(struct parser *ps, enum node_kind k)
{
	if (ps->n == FILTER_MAX_NODES) {
		fail(ps, "too long");
		return -1;
	}
	if (ps->n == ps->cap) {
		ps->cap = ps->cap ? ps->cap * 2 : 16;
		ps->nodes = xreallocarray(ps->nodes, ps->cap, sizeof(*ps->nodes));
	}
	memset(&ps->nodes[ps->n], 0, sizeof(ps->nodes[ps->n]));
	ps->nodes[ps->n].kind = k;
	return (int)ps->n++;
}

static const struct dm_field *find_field(const struct dm_class *c, const char *name)
{
	const struct dm_field *f = dm_field_find(c, name);
	if (f || !strstr(name, "__"))
		return f;
	/* xapi's database names nested fields with "__": name__label. */
	char *api = xstrdup(name);
	char *w = api;
	for (const char *r = name; *r; r++) {
		*w++ = *r;
		if (r[0] == '_' && r[1] == '_')
			r++;
	}
	*w = '\0';
	f = dm_field_find(c, api);
	free(api);
	return f;
}

static bool operand(struct parser *ps, struct operand *o)
{
	if (ps->tok == T_STR) {
		o->lit = ps->str;
		ps->str = NULL;
		next(ps);
		return true;
	}
	if (ps->tok != T_FIELD) {
		fail(ps, "expected a \"literal\" or field \"name\"");
		return false;
	}
	next(ps);
	if (ps->tok != T_STR) {
		fail(ps, "expected a quoted field name after field");
		return false;
	}
	o->field = find_field(ps->c, ps->str);
	if (!o->field) {
		xc_error_internal(ps->err, "filter expression: %s has no field \"%s\"", ps->c->name, ps->str);
		ps->failed = true;
		return false;
	}
	if (o->field->col < 0) {
		xc_error_internal(ps->err, "filter expression: %s.%s is computed from other objects and cannot be filtered on",
				  ps->c->name, o->field->name);
		ps->failed = true;
		return false;
	}
	next(ps);
	return true;
}

static int parse_expr(struct parser *ps, unsigned depth);

static int parse_primary(struct parser *ps, unsigned depth)
{
	int k;
	switch (ps->tok) {
	case T_TRUE:
	case T_FALSE:
		k = add_node(ps, ps->tok == T_TRUE ? N_TRUE : N_FALSE);
		next(ps);
		return k;
	case T_LP:
		next(ps);
		k = parse_expr(ps, depth + 1);
		if (k < 0)
			return -1;
		if (ps->tok != T_RP) {
			fail(ps, "expected )");
			return -1;
		}
		next(ps);
		return k;
	default:
		break;
	}
	struct operand l = { 0 }, r = { 0 };
	if (!operand(ps, &l))
		return -1;
	if (ps->tok != T_EQ) {
		free(l.lit);
		fail(ps, "expected =");
		return -1;
	}
	next(ps);
	if (!operand(ps, &r) || (k = add_node(ps, N_EQ)) < 0) {
		free(l.lit);
		free(r.lit);
		return -1;
	}
	ps->nodes[k].l = l;
	ps->nodes[k].r = r;
	return k;
}

/* "not" reaches to the end of the enclosing expression, as in xapi. */
static int parse_not(struct parser *ps, unsigned depth)
{
	next(ps);
	int e = parse_expr(ps, depth + 1);
	int k = e < 0 ? -1 : add_node(ps, N_NOT);
	if (k >= 0)
		ps->nodes[k].a = e;
	return k;
}

static int parse_expr(struct parser *ps, unsigned depth)
{
	if (depth > FILTER_MAX_DEPTH) {
		fail(ps, "nested too deeply");
		return -1;
	}
	if (ps->tok == T_NOT)
		return parse_not(ps, depth);
	int left = parse_primary(ps, depth);
	while (left >= 0 && (ps->tok == T_AND || ps->tok == T_OR)) {
		enum node_kind op = ps->tok == T_AND ? N_AND : N_OR;
		next(ps);
		int right = ps->tok == T_NOT ? parse_not(ps, depth) : parse_primary(ps, depth);
		int k = right < 0 ? -1 : add_node(ps, op);
		if (k >= 0) {
			ps->nodes[k].a = left;
			ps->nodes[k].b = right;
		}
		left = k;
	}
	return left;
}

/* ---- SQL ---- */

static void add_param(struct store_filter *f, const struct dm_type *t, struct value *v, struct buf *sql)
{
	f->params = xreallocarray(f->params, f->nparams + 1, sizeof(*f->params));
	f->types = xreallocarray(f->types, f->nparams + 1, sizeof(*f->types));
	f->params[f->nparams] = v;
	f->types[f->nparams] = t;
	f->nparams++;
	buf_printf(sql, "?%u", f->nparams);
}

/* A literal as a value of t, or NULL if it is none (it then equals no
 * stored value).  Containers: only xapi's empty S-expression "()". */
static struct value *literal_value(const struct dm_type *t, const char *lit)
{
	if (t->kind == DM_SET || t->kind == DM_MAP)
		return strcmp(lit, "()") == 0 ? dm_type_zero(t) : NULL;
	struct xc_error ignore = XC_ERROR_INIT;
	struct value *v = dm_parse_text(t, lit, &ignore);
	xc_error_clear(&ignore);
	return v;
}

static void emit_eq(struct store_filter *f, const struct node *n, struct buf *sql)
{
	const struct operand *l = &n->l, *r = &n->r;
	if (!l->field && !r->field) {
		buf_adds(sql, strcmp(l->lit, r->lit) == 0 ? "1" : "0");
		return;
	}
	if (l->field && r->field) {
		buf_printf(sql, "(\"%s\" = \"%s\")", l->field->name, r->field->name);
		return;
	}
	const struct operand *fo = l->field ? l : r, *lo = l->field ? r : l;
	struct value *v = literal_value(fo->field->type, lo->lit);
	if (!v) {
		buf_adds(sql, "0");
		return;
	}
	buf_printf(sql, "(\"%s\" = ", fo->field->name);
	add_param(f, fo->field->type, v, sql);
	buf_adds(sql, ")");
}

struct emitter {
	struct store_filter *f;
	const struct node *nodes;
	struct buf *sql;
	unsigned depth, max_depth; /* parentheses open */
};

static void open_paren(struct emitter *e, bool paren)
{
	if (!paren)
		return;
	buf_adds(e->sql, "(");
	if (++e->depth > e->max_depth)
		e->max_depth = e->depth;
}

static void close_paren(struct emitter *e, bool paren)
{
	if (!paren)
		return;
	buf_adds(e->sql, ")");
	e->depth--;
}

/* A chain of one operator ("a and b and c", grouped to the left) is written
 * flat: SQLite's parser overflows on a few hundred nested parentheses. */
static void emit(struct emitter *e, int k, bool paren)
{
	const struct node *n = &e->nodes[k];
	switch (n->kind) {
	case N_TRUE:
		buf_adds(e->sql, "1");
		break;
	case N_FALSE:
		buf_adds(e->sql, "0");
		break;
	case N_NOT:
		buf_adds(e->sql, "NOT ");
		open_paren(e, true);
		emit(e, n->a, false);
		close_paren(e, true);
		break;
	case N_AND:
	case N_OR:
		open_paren(e, paren);
		emit(e, n->a, e->nodes[n->a].kind != n->kind);
		buf_adds(e->sql, n->kind == N_AND ? " AND " : " OR ");
		emit(e, n->b, true);
		close_paren(e, paren);
		break;
	case N_EQ:
		emit_eq(e->f, n, e->sql);
		break;
	}
}

struct store_filter *store_filter_parse(const struct dm_class *c, const char *expr, struct xc_error *err)
{
	struct parser ps = { .c = c, .s = expr, .p = expr, .err = err };
	next(&ps);
	int root = parse_expr(&ps, 0);
	if (root >= 0 && ps.tok != T_EOF)
		fail(&ps, ps.tok == T_BAD ? "unexpected character" : "unexpected text after the expression");
	struct store_filter *f = NULL;
	if (!ps.failed && root >= 0) {
		f = xcalloc(1, sizeof(*f));
		f->c = c;
		struct buf sql = BUF_INIT;
		struct emitter e = { f, ps.nodes, &sql, 0, 0 };
		emit(&e, root, true);
		f->where = buf_steal(&sql, NULL);
		if (e.max_depth > FILTER_MAX_SQL_DEPTH) {
			xc_error_internal(err, "filter expression: nested too deeply (and/or alternating %u levels)",
					  e.max_depth);
			store_filter_free(f);
			f = NULL;
		}
	}
	for (unsigned i = 0; i < ps.n; i++) {
		free(ps.nodes[i].l.lit);
		free(ps.nodes[i].r.lit);
	}
	free(ps.nodes);
	free(ps.str);
	return f;
}

const struct dm_class *store_filter_class(const struct store_filter *f)
{
	return f->c;
}

void store_filter_free(struct store_filter *f)
{
	if (!f)
		return;
	for (unsigned i = 0; i < f->nparams; i++)
		value_unref(f->params[i]);
	free(f->params);
	free(f->types);
	free(f->where);
	free(f);
}

sqlite3_stmt *store_filter_prepare(struct store_txn *t, const struct store_filter *f, bool records)
{
	if (!t->c)
		return NULL;
	struct buf sql = BUF_INIT;
	buf_adds(&sql, "SELECT _ref");
	if (records) { /* the columns of ST_SELECT_ALL, in its order */
		buf_adds(&sql, ",");
		store_add_columns(&sql, f->c, ",");
	}
	buf_printf(&sql, " FROM \"%s\" WHERE %s ORDER BY rowid", f->c->name, f->where);
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(t->c->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
		log_error("cannot prepare %s: %s", sql.data, sqlite3_errmsg(t->c->db));
		st = NULL;
	}
	buf_free(&sql);
	for (unsigned i = 0; st && i < f->nparams; i++)
		store_bind(st, (int)i + 1, f->types[i], f->params[i]);
	return st;
}
