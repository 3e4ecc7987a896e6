/* XML-RPC request parser: methodCall bytes -> method name + value tree.
 *
 * Hand-written because a general XML library is the wrong tool for the hot
 * path: xmlrpc-c (expat underneath) cost ~46,000 instructions and ~30
 * allocations for a 300-byte VM.get_record call, building an element tree
 * and seeding srand() on every call.  This parser reads the document once,
 * front to back, and builds the value tree as it goes; the only allocations
 * are the tree itself and the method name (text is gathered in a scratch
 * buffer that lives on the stack until a value outgrows it).
 *
 * It is a strict subset of XML 1.0 sized to XML-RPC: elements, attributes
 * (checked, then ignored), character data with the five predefined entities
 * and character references, CDATA sections, comments, processing
 * instructions and an XML declaration (UTF-8, US-ASCII or ISO-8859-1).
 * A DOCTYPE is refused, so no entity can expand and no DTD can be fetched.
 *
 * Where XML-RPC is loose, it follows what xmlrpc-c accepted (the behaviour
 * clients already rely on): text beside child elements of a container is
 * ignored, a struct member may give its <value> before its <name>, a repeated
 * member name keeps the first position and the last value, ints may carry a
 * '+' sign and leading zeros but no spaces, datetimes may have dashes,
 * colons, fractions and a zone suffix (ignored, as before), base64 skips
 * characters outside its alphabet.  Differences, all deliberate: a literal
 * CR is normalised to LF as XML says but &#13; stays CR (xmlrpc-c turned it
 * into LF too); characters outside the Basic Multilingual Plane are
 * accepted (xmlrpc-c refused them); an out-of-range <i8> is an error
 * (xmlrpc-c 1.33 crashed formatting that error); a UTF-8 byte order mark is
 * skipped.
 *
 * Nesting is handled by recursion bounded by XMLRPC_MAX_NESTING (each level
 * is a few small frames), and every element is checked against the grammar
 * when it opens, so a deep pile of unknown tags fails at the first one.
 */
#include "xmlrpc.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/xalloc.h"

/* --- scratch text ------------------------------------------------------ */

/* Character data of the element being read, or member names waiting for
 * their value.  Starts in the inline array: a typical call never mallocs. */
struct scratch {
	char *s;
	size_t len, cap;
	char inl[256];
};

static void scratch_init(struct scratch *t)
{
	t->s = t->inl;
	t->len = 0;
	t->cap = sizeof(t->inl);
}

static void scratch_free(struct scratch *t)
{
	if (t->s != t->inl)
		free(t->s);
}

/* Keeps room for n more bytes and the terminating NUL. */
static void scratch_room(struct scratch *t, size_t n)
{
	if (t->len + n < t->cap)
		return;
	size_t cap = t->cap * 2;
	while (cap <= t->len + n)
		cap *= 2;
	if (t->s == t->inl) {
		t->s = xmalloc(cap);
		memcpy(t->s, t->inl, t->len);
	} else {
		t->s = xrealloc(t->s, cap);
	}
	t->cap = cap;
}

static void scratch_put(struct scratch *t, const void *p, size_t n)
{
	scratch_room(t, n);
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void scratch_putc(struct scratch *t, char c)
{
	scratch_room(t, 1);
	t->s[t->len++] = c;
	t->s[t->len] = '\0';
}

static void scratch_put_utf8(struct scratch *t, uint32_t cp)
{
	char u[4];
	size_t n;
	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	scratch_put(t, u, n);
}

/* --- parser state and errors ------------------------------------------- */

struct parser {
	const unsigned char *start, *p, *end;
	struct scratch text;  /* character data since the last tag */
	struct scratch names; /* member names read before their value */
	size_t elements, members;
	bool latin1; /* declared ISO-8859-1: bytes >= 0x80 are code points */
	char msg[200]; /* the first error; empty while all is well */
};

enum tag_kind { TAG_OPEN, TAG_EMPTY, TAG_CLOSE, TAG_END };

struct tag {
	enum tag_kind kind;
	const char *name;
	size_t len;
};

#define NAME_IS(t, lit) ((t)->len == sizeof(lit) - 1 && memcmp((t)->name, lit, sizeof(lit) - 1) == 0)

/* Records the first error with where it happened; returns NULL so that
 * callers can `return fail(...)` whatever they return. */
__attribute__((format(printf, 2, 3))) static void *fail(struct parser *ps, const char *fmt, ...)
{
	if (ps->msg[0])
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(ps->msg, sizeof(ps->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(ps->msg))
		snprintf(ps->msg + n, sizeof(ps->msg) - (size_t)n, " (at byte %zu)", (size_t)(ps->p - ps->start));
	return NULL;
}

/* --- characters --------------------------------------------------------- */

/* Byte classes: TEXT is copied as is inside character data (not '<',
 * '&', ']', CR, controls or non-ASCII, which need a look); NAME_START and
 * NAME may begin and continue an element or attribute name: ASCII letters,
 * digits, '_', ':', '.', '-' and anything non-ASCII (XML allows most of it;
 * no XML-RPC element uses it, so such a name is refused later as unknown). */
enum { TEXT = 1, NAME_START = 2, NAME = 4 };
static const unsigned char cclass[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 5, 5, 1,
	5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7, 1, 0, 1, 1, 1,
	1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 1, 1, 0, 1, 7,
	1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 1, 1, 1, 1, 1,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
};

/* lo <= c <= hi in one unsigned comparison. */
static bool between(unsigned c, unsigned lo, unsigned hi)
{
	return c - lo <= hi - lo;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* XML 1.0 Char production. */
static bool is_xml_char(uint32_t cp)
{
	if (cp < 0x20)
		return cp == '\t' || cp == '\n' || cp == '\r';
	return cp <= 0xD7FF || (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* Length of the well-formed UTF-8 sequence of an XML character at p, or 0.
 * Overlong forms, surrogates, U+FFFE/U+FFFF and code points past U+10FFFF
 * are refused. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	/* Lead bytes whose second byte is narrowed to rule out overlong forms,
	 * surrogates and code points past U+10FFFF. */
	static const struct {
		unsigned char lead, lo, hi;
	} narrow[] = { { 0xE0, 0xA0, 0xBF }, { 0xED, 0x80, 0x9F }, { 0xF0, 0x90, 0xBF }, { 0xF4, 0x80, 0x8F } };
	unsigned char c = p[0], lo = 0x80, hi = 0xBF;
	if (c < 0xC2 || c >= 0xF5)
		return 0;
	size_t n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	for (size_t i = 0; i < ARRAY_SIZE(narrow); i++) {
		if (narrow[i].lead == c) {
			lo = narrow[i].lo;
			hi = narrow[i].hi;
		}
	}
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (c == 0xEF && p[1] == 0xBF && p[2] >= 0xBE)
		return 0;
	return n;
}

/* &#N; or &#xN; (p at the '#', semi at the ';'). */
static bool char_ref(struct parser *ps, const unsigned char *p, const unsigned char *semi)
{
	bool hex = p + 1 < semi && p[1] == 'x';
	const unsigned char *d = p + 1 + hex;
	uint32_t cp = 0;
	if (d == semi)
		return fail(ps, "empty character reference");
	for (; d < semi; d++) {
		unsigned v;
		if (between(*d, '0', '9'))
			v = *d - '0';
		else if (hex && between(*d | 0x20, 'a', 'f'))
			v = (*d | 0x20) - 'a' + 10;
		else
			return fail(ps, "malformed character reference");
		if (cp <= 0x10FFFF) /* past that it is refused anyway; don't overflow */
			cp = cp * (hex ? 16 : 10) + v;
	}
	if (!is_xml_char(cp))
		return fail(ps, "character reference to an invalid character");
	scratch_put_utf8(&ps->text, cp);
	return true;
}

/* An entity at p ('&'); returns the byte after it, NULL on error.  Only the
 * five predefined entities and character references exist: there is no
 * DTD to declare others. */
static const unsigned char *entity(struct parser *ps, const unsigned char *p)
{
	size_t room = (size_t)(ps->end - p);
	const unsigned char *semi = memchr(p, ';', room < 40 ? room : 40);
	if (!semi)
		return fail(ps, "'&' that starts no entity");
	const char *name = (const char *)p + 1;
	size_t n = (size_t)(semi - p) - 1;
	static const struct {
		char name[5];
		char c;
	} predefined[] = { { "lt", '<' }, { "gt", '>' }, { "amp", '&' }, { "quot", '"' }, { "apos", '\'' } };
	for (size_t i = 0; i < ARRAY_SIZE(predefined); i++) {
		if (strlen(predefined[i].name) == n && memcmp(predefined[i].name, name, n) == 0) {
			scratch_putc(&ps->text, predefined[i].c);
			return semi + 1;
		}
	}
	if (n > 0 && name[0] == '#')
		return char_ref(ps, p + 1, semi) ? semi + 1 : NULL;
	return fail(ps, "unknown entity &%.*s;", (int)(n < 20 ? n : 20), name);
}

/* One character at p that is not plain; `markup` is false inside CDATA,
 * where '&', '<' and ']' are just characters; nothing at or after `stop`
 * belongs to it.  Returns the byte after it. */
static const unsigned char *special_char(struct parser *ps, const unsigned char *p, const unsigned char *stop,
					 bool markup)
{
	struct scratch *t = &ps->text;
	switch (*p) {
	case '&':
		if (markup)
			return entity(ps, p);
		break;
	case '<':
		if (markup)
			return fail(ps, "'<' in text");
		break;
	case ']':
		if (markup && stop - p >= 3 && p[1] == ']' && p[2] == '>')
			return fail(ps, "']]>' outside a CDATA section");
		break;
	case '\r':
		/* XML line-end handling: CR LF and a lone CR both become LF.
		 * A CR the sender wants kept travels as &#13;. */
		scratch_putc(t, '\n');
		return p + 1 < stop && p[1] == '\n' ? p + 2 : p + 1;
	default:
		if (*p < 0x80)
			return fail(ps, "control character 0x%02x in text", *p);
		if (ps->latin1) {
			scratch_put_utf8(t, *p);
			return p + 1;
		}
		size_t n = utf8_len(p, stop);
		if (!n)
			return fail(ps, "invalid UTF-8");
		scratch_put(t, p, n);
		return p + n;
	}
	scratch_putc(t, (char)*p);
	return p + 1;
}

/* Appends the characters from ps->p up to `stop`, or in text (where
 * `markup` counts) up to the next '<'; leaves ps->p there. */
static bool copy_chars(struct parser *ps, const unsigned char *stop, bool markup)
{
	const unsigned char *p = ps->p;
	while (p < stop) {
		const unsigned char *run = p;
		while (p < stop && (cclass[*p] & TEXT))
			p++;
		if (p > run)
			scratch_put(&ps->text, run, (size_t)(p - run));
		if (p == stop || (markup && *p == '<'))
			break;
		ps->p = p;
		p = special_char(ps, p, stop, markup);
		if (!p)
			return false;
	}
	ps->p = p;
	return true;
}

static bool text_is_space(const struct parser *ps)
{
	for (size_t i = 0; i < ps->text.len; i++)
		if (!is_space((unsigned char)ps->text.s[i]))
			return false;
	return true;
}

/* --- markup ------------------------------------------------------------- */

static const unsigned char *skip_space(const unsigned char *p, const unsigned char *end)
{
	while (p < end && is_space(*p))
		p++;
	return p;
}

static const unsigned char *skip_name(const unsigned char *p, const unsigned char *end)
{
	if (p == end || !(cclass[*p] & NAME_START))
		return NULL;
	while (p < end && (cclass[*p] & NAME))
		p++;
	return p;
}

static bool has_prefix(const unsigned char *p, const unsigned char *end, const char *lit)
{
	size_t n = strlen(lit);
	return (size_t)(end - p) >= n && memcmp(p, lit, n) == 0;
}

/* The first occurrence of lit in [p, end), or NULL.  (memmem's set-up
 * costs more than these short searches.) */
static const unsigned char *find(const unsigned char *p, const unsigned char *end, const char *lit)
{
	size_t n = strlen(lit);
	while ((size_t)(end - p) >= n && (p = memchr(p, lit[0], (size_t)(end - p) - n + 1)) != NULL) {
		if (memcmp(p, lit, n) == 0)
			return p;
		p++;
	}
	return NULL;
}

/* The end of the first occurrence of lit at or after p, or NULL. */
static const unsigned char *past(const unsigned char *p, const unsigned char *end, const char *lit)
{
	const unsigned char *q = find(p, end, lit);
	return q ? q + strlen(lit) : NULL;
}

/* Attributes up to '>', "/>" or "?>": syntax-checked, values ignored (no
 * XML-RPC element has meaningful ones; xmlns declarations are common). */
static const unsigned char *skip_attributes(struct parser *ps, const unsigned char *p)
{
	const unsigned char *end = ps->end;
	for (;;) {
		const unsigned char *q = skip_space(p, end);
		if (q == end || *q == '>' || *q == '/' || *q == '?')
			return q;
		if (q == p)
			return fail(ps, "malformed tag");
		ps->p = q;
		p = skip_name(q, end);
		if (!p)
			return fail(ps, "malformed attribute");
		p = skip_space(p, end);
		if (p == end || *p != '=')
			return fail(ps, "attribute without a value");
		p = skip_space(p + 1, end);
		if (p == end || (*p != '"' && *p != '\''))
			return fail(ps, "unquoted attribute value");
		const unsigned char *close = memchr(p + 1, *p, (size_t)(end - p - 1));
		if (!close)
			return fail(ps, "unterminated attribute value");
		if (memchr(p + 1, '<', (size_t)(close - p - 1)))
			return fail(ps, "'<' in an attribute value");
		p = close + 1;
	}
}

/* A start, empty-element or end tag at ps->p ('<' already checked). */
static bool element_tag(struct parser *ps, struct tag *t)
{
	const unsigned char *p = ps->p + 1, *end = ps->end;
	bool closing = p < end && *p == '/';
	const unsigned char *name = p + closing;
	p = skip_name(name, end);
	if (!p)
		return fail(ps, "malformed tag");
	t->name = (const char *)name;
	t->len = (size_t)(p - name);
	if (closing) {
		p = skip_space(p, end);
		if (p == end || *p != '>')
			return fail(ps, "malformed end tag");
		t->kind = TAG_CLOSE;
		ps->p = p + 1;
		return true;
	}
	if (++ps->elements > XMLRPC_MAX_ELEMENTS)
		return fail(ps, "too many elements");
	p = skip_attributes(ps, p);
	if (!p)
		return false;
	if (p < end && *p == '>') {
		t->kind = TAG_OPEN;
		ps->p = p + 1;
	} else if (end - p >= 2 && p[0] == '/' && p[1] == '>') {
		t->kind = TAG_EMPTY;
		ps->p = p + 2;
	} else {
		ps->p = p;
		return fail(ps, p == end ? "document ends inside a tag" : "malformed tag");
	}
	return true;
}

/* A comment, CDATA section or processing instruction at ps->p.  Returns
 * false on error; the text of a CDATA section is appended. */
static bool other_markup(struct parser *ps)
{
	const unsigned char *p = ps->p, *end = ps->end, *q;
	if (has_prefix(p, end, "<!--")) {
		q = past(p + 4, end, "--");
		if (!q || q == end)
			return fail(ps, "unterminated comment");
		if (*q != '>')
			return fail(ps, "'--' inside a comment");
		ps->p = q + 1;
		return true;
	}
	if (has_prefix(p, end, "<![CDATA[")) {
		q = past(p + 9, end, "]]>");
		if (!q)
			return fail(ps, "unterminated CDATA section");
		ps->p = p + 9;
		if (!copy_chars(ps, q - 3, false))
			return false;
		ps->p = q;
		return true;
	}
	if (p[1] == '!')
		return fail(ps, has_prefix(p, end, "<!DOCTYPE") ? "document type declarations are not accepted"
								 : "malformed markup");
	/* "<?target ...?>": an XML declaration is only allowed first. */
	q = skip_name(p + 2, end);
	if (!q || q == end || !(is_space(*q) || *q == '?'))
		return fail(ps, "malformed processing instruction");
	if (q - p == 5 && (p[2] | 0x20) == 'x' && (p[3] | 0x20) == 'm' && (p[4] | 0x20) == 'l')
		return fail(ps, "XML declaration not at the start of the document");
	q = past(q, end, "?>");
	if (!q)
		return fail(ps, "unterminated processing instruction");
	ps->p = q;
	return true;
}

/* Reads up to and including the next tag: the character data before it
 * (comments and processing instructions skipped, CDATA included) ends up
 * in ps->text.  At the end of the document the tag is TAG_END. */
static bool next_tag(struct parser *ps, struct tag *t)
{
	ps->text.len = 0;
	ps->text.s[0] = '\0';
	for (;;) {
		if (!copy_chars(ps, ps->end, true))
			return false;
		if (ps->p == ps->end) {
			t->kind = TAG_END;
			t->name = "";
			t->len = 0;
			return true;
		}
		if (ps->end - ps->p < 2)
			return fail(ps, "document ends inside a tag");
		unsigned char c = ps->p[1];
		if (c != '!' && c != '?')
			return element_tag(ps, t);
		if (!other_markup(ps))
			return false;
	}
}

/* next_tag inside element `in`, where the document may not end. */
static bool inner_tag(struct parser *ps, struct tag *t, const char *in)
{
	if (!next_tag(ps, t))
		return false;
	if (t->kind == TAG_END)
		return fail(ps, "document ends inside <%s>", in);
	return true;
}

/* Checks that t closes the element named [in, in + n); anything else
 * there is out of place. */
static bool closes_n(struct parser *ps, const struct tag *t, const char *in, size_t n)
{
	if (t->kind != TAG_CLOSE)
		return fail(ps, "unexpected <%.*s> in <%.*s>", (int)t->len, t->name, (int)n, in);
	if (t->len != n || memcmp(t->name, in, n) != 0)
		return fail(ps, "</%.*s> where </%.*s> was expected", (int)t->len, t->name, (int)n, in);
	return true;
}

static bool closes(struct parser *ps, const struct tag *t, const char *in)
{
	return closes_n(ps, t, in, strlen(in));
}

/* The text content of an element that may hold no elements, in ps->text. */
static bool leaf(struct parser *ps, const struct tag *open)
{
	if (open->kind == TAG_EMPTY) {
		ps->text.len = 0;
		ps->text.s[0] = '\0';
		return true;
	}
	struct tag t;
	if (!next_tag(ps, &t))
		return false;
	if (t.kind == TAG_END)
		return fail(ps, "document ends inside <%.*s>", (int)open->len, open->name);
	return closes_n(ps, &t, open->name, open->len);
}

/* --- scalars ------------------------------------------------------------ */

/* Decimal with an optional sign, no spaces, within [lo, hi]. */
static struct value *int_value(struct parser *ps, const char *type, int64_t lo, int64_t hi)
{
	const char *s = ps->text.s;
	size_t n = ps->text.len, i = 0;
	bool neg = n > 0 && s[0] == '-';
	if (n > 0 && (s[0] == '-' || s[0] == '+'))
		i++;
	if (i == n)
		return fail(ps, "<%s> holds no number", type);
	uint64_t limit = neg ? (uint64_t)-(lo + 1) + 1 : (uint64_t)hi, v = 0;
	for (; i < n; i++) {
		unsigned d = (unsigned)((unsigned char)s[i] - '0');
		if (!between((unsigned char)s[i], '0', '9'))
			return fail(ps, "<%s> holds '%.40s', not a number", type, s);
		if (v > (limit - d) / 10)
			return fail(ps, "<%s> value %.40s is out of range", type, s);
		v = v * 10 + d;
	}
	return value_new_int(neg ? (int64_t)(0 - v) : (int64_t)v);
}

static struct value *conv_i4(struct parser *ps)
{
	return int_value(ps, "int", INT32_MIN, INT32_MAX);
}

static struct value *conv_i8(struct parser *ps)
{
	return int_value(ps, "i8", INT64_MIN, INT64_MAX);
}

static struct value *conv_string(struct parser *ps)
{
	return value_new_stringn(ps->text.s, ps->text.len);
}

static struct value *conv_boolean(struct parser *ps)
{
	if (ps->text.len == 1 && (ps->text.s[0] == '0' || ps->text.s[0] == '1'))
		return value_new_bool(ps->text.s[0] == '1');
	return fail(ps, "<boolean> must hold 0 or 1, not '%.40s'", ps->text.s);
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* strtod's syntax (leading space allowed, nothing after the number), in
 * the C locale whatever the process's, and finite non-overflowing values
 * or the spelled-out inf/nan, as xmlrpc-c took them. */
static struct value *conv_double(struct parser *ps)
{
	pthread_once(&c_locale_once, c_locale_init);
	const char *s = ps->text.s;
	char *e;
	errno = 0;
	double d = c_locale ? strtod_l(s, &e, c_locale) : strtod(s, &e);
	if (ps->text.len == 0 || e != s + ps->text.len || errno == ERANGE)
		return fail(ps, "<double> holds '%.40s', not a number in range", s);
	return value_new_float(d);
}

/* Fixed-width decimal field; advances *i. */
static bool digits(const char *s, size_t n, size_t *i, unsigned width, unsigned *out)
{
	unsigned v = 0;
	for (unsigned k = 0; k < width; k++, (*i)++) {
		if (*i >= n || !between((unsigned char)s[*i], '0', '9'))
			return false;
		v = v * 10 + (unsigned)(s[*i] - '0');
	}
	*out = v;
	return true;
}

static void skip_opt(const char *s, size_t n, size_t *i, char c)
{
	if (*i < n && s[*i] == c)
		(*i)++;
}

/* The forms xmlrpc-c recognised: YYYY[-]MM[-]DDTHH[:]MM[:]SS followed by
 * either [.][digits] (a fraction) or one of Z, + or - and 0 or 2-4 digits
 * (a zone, ignored as it always was).  T and Z in either case. */
static bool datetime_fields(const char *s, size_t n, unsigned f[6])
{
	size_t i = 0;
	if (!digits(s, n, &i, 4, &f[0]))
		return false;
	skip_opt(s, n, &i, '-');
	if (!digits(s, n, &i, 2, &f[1]))
		return false;
	skip_opt(s, n, &i, '-');
	if (!digits(s, n, &i, 2, &f[2]) || i >= n || (s[i] | 0x20) != 't')
		return false;
	i++;
	for (int k = 3; k < 6; k++) {
		if (k > 3)
			skip_opt(s, n, &i, ':');
		if (!digits(s, n, &i, 2, &f[k]))
			return false;
	}
	size_t zone = 0;
	if (i < n && ((s[i] | 0x20) == 'z' || s[i] == '+' || s[i] == '-'))
		zone = ++i;
	else
		skip_opt(s, n, &i, '.');
	while (i < n && between((unsigned char)s[i], '0', '9'))
		i++;
	if (i != n)
		return false;
	return !zone || n - zone == 0 || (n - zone >= 2 && n - zone <= 4);
}

/* Days from 1970-01-01 to the first of month m of year y (proleptic
 * Gregorian), counting in 400-year eras so that any year works. */
static int64_t days_to_month(int64_t y, unsigned m)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static struct value *conv_datetime(struct parser *ps)
{
	unsigned f[6];
	if (!datetime_fields(ps->text.s, ps->text.len, f))
		return fail(ps, "<dateTime.iso8601> holds '%.40s', not a datetime", ps->text.s);
	/* Day 31 of any month is let through and rolls over, as before. */
	if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 59)
		return fail(ps, "<dateTime.iso8601> '%.40s' is out of range", ps->text.s);
	int64_t days = days_to_month(f[0], f[1]) + f[2] - 1;
	return value_new_datetime(days * 86400 + f[3] * 3600 + f[4] * 60 + f[5]);
}

static int base64_digit(unsigned char c)
{
	if (between(c, 'A', 'Z'))
		return c - 'A';
	if (between(c, 'a', 'z'))
		return c - 'a' + 26;
	if (between(c, '0', '9'))
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decoded in place (the bytes never outgrow the text).  Characters outside
 * the alphabet are skipped; '=' counts as a zero digit and is taken off the
 * end, at most two of them. */
static struct value *conv_base64(struct parser *ps)
{
	unsigned char *s = (unsigned char *)ps->text.s;
	size_t out = 0, pads = 0;
	unsigned acc = 0, bits = 0;
	for (size_t i = 0; i < ps->text.len; i++) {
		int d = s[i] == '=' ? 0 : base64_digit(s[i]);
		if (d < 0)
			continue;
		pads += s[i] == '=';
		acc = (acc << 6 | (unsigned)d) & 0xFFFF;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			s[out++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits)
		return fail(ps, "incorrect base64 padding");
	if (pads > 2 || pads > out)
		return fail(ps, "malformed base64 data");
	return value_new_stringn((const char *)s, out - pads);
}

static struct value *conv_nil(struct parser *ps)
{
	return value_new_nil();
}

/* --- containers --------------------------------------------------------- */

static struct value *parse_value(struct parser *ps, const struct tag *open, unsigned level);

/* Reads one child element of a container into `into`. */
typedef bool child_fn(struct parser *ps, const struct tag *t, struct value *into, unsigned level);

/* The children of container `in` up to its end tag, each of which must be
 * a <child> (text between them is ignored). */
static bool each_child(struct parser *ps, const struct tag *open, const char *in, const char *child,
		       child_fn *fn, struct value *into, unsigned level)
{
	if (open->kind == TAG_EMPTY)
		return true;
	size_t n = strlen(child);
	struct tag t;
	while (inner_tag(ps, &t, in) && t.kind != TAG_CLOSE) {
		if (t.len != n || memcmp(t.name, child, n) != 0)
			return fail(ps, "unexpected <%.*s> in <%s>", (int)t.len, t.name, in);
		if (!fn(ps, &t, into, level))
			return false;
	}
	return !ps->msg[0] && closes(ps, &t, in);
}

static bool data_item(struct parser *ps, const struct tag *t, struct value *arr, unsigned level)
{
	struct value *v = parse_value(ps, t, level);
	if (v)
		value_array_push(arr, v);
	return v != NULL;
}

static struct value *parse_array(struct parser *ps, const struct tag *open, unsigned level)
{
	struct tag t;
	if (open->kind == TAG_EMPTY)
		return fail(ps, "<array> without <data>");
	if (!inner_tag(ps, &t, "array"))
		return NULL;
	if (t.kind == TAG_CLOSE || !NAME_IS(&t, "data"))
		return t.kind == TAG_CLOSE ? fail(ps, "<array> without <data>")
					   : fail(ps, "unexpected <%.*s> in <array>", (int)t.len, t.name);
	struct value *arr = value_new_array(0);
	if (!each_child(ps, &t, "data", "value", data_item, arr, level + 1) || !inner_tag(ps, &t, "array") ||
	    !closes(ps, &t, "array")) {
		value_unref(arr);
		return NULL;
	}
	return arr;
}

static int member_cmp(const void *a, const void *b)
{
	const struct value_member *x = *(struct value_member *const *)a, *y = *(struct value_member *const *)b;
	int c = strcmp(x->key, y->key);
	return c ? c : (x > y) - (x < y);
}

/* Folds member `dup` into the earlier `keep` of the same name: the later
 * value wins, the earlier position stays (what xmlrpc-c did).  `dup` is
 * left with no value, to be swept out. */
static void merge_member(struct value_member *keep, struct value_member *dup)
{
	value_unref(keep->val);
	keep->val = dup->val;
	dup->val = NULL;
	free(dup->key);
	dup->key = NULL;
}

/* Repeated member names: pairwise for the small structs real calls send,
 * sorted for big ones so that a hostile 10,000-member struct costs
 * n log n, not n². */
static void merge_duplicates(struct value *st)
{
	struct value_member *m = st->u.st.m;
	size_t n = st->u.st.n;
	if (n < 2)
		return;
	if (n <= 16) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (m[j].val && strcmp(m[j].key, m[i].key) == 0) {
					merge_member(&m[j], &m[i]);
					break;
				}
	} else {
		struct value_member **order = xreallocarray(NULL, n, sizeof(*order));
		for (size_t i = 0; i < n; i++)
			order[i] = &m[i];
		qsort(order, n, sizeof(*order), member_cmp);
		/* Each run of one name is in document order: fold it, last first,
		 * into its first member. */
		for (size_t i = 0, j; i < n; i = j) {
			for (j = i + 1; j < n && strcmp(order[i]->key, order[j]->key) == 0; j++)
				;
			if (j - i > 1)
				merge_member(order[i], order[j - 1]);
			for (size_t k = i + 1; k + 1 < j; k++) {
				value_unref(order[k]->val);
				order[k]->val = NULL;
				free(order[k]->key);
				order[k]->key = NULL;
			}
		}
		free(order);
	}
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (m[i].val)
			m[w++] = m[i];
	st->u.st.n = w;
}

/* One <member>: a <name> and a <value>, in either order, added to st.  A
 * name read first waits in ps->names, as the value may hold members too. */
static bool parse_member(struct parser *ps, const struct tag *open, struct value *st, unsigned level)
{
	if (++ps->members > XMLRPC_MAX_MEMBERS)
		return fail(ps, "too many struct members");
	if (open->kind == TAG_EMPTY)
		return fail(ps, "<member> needs a <name> and a <value>");
	size_t mark = ps->names.len;
	bool named = false;
	struct value *v = NULL;
	struct tag t;
	while (inner_tag(ps, &t, "member") && t.kind != TAG_CLOSE) {
		if (NAME_IS(&t, "name") && !named) {
			if (!leaf(ps, &t))
				break;
			scratch_put(&ps->names, ps->text.s, ps->text.len + 1);
			named = true;
		} else if (NAME_IS(&t, "value") && !v) {
			v = parse_value(ps, &t, level);
			if (!v)
				break;
		} else {
			fail(ps, "unexpected <%.*s> in <member>", (int)t.len, t.name);
			break;
		}
	}
	bool ok = !ps->msg[0] && closes(ps, &t, "member");
	if (ok && (!named || !v))
		ok = fail(ps, "<member> needs a <name> and a <value>");
	if (ok)
		value_struct_add(st, ps->names.s + mark, v);
	else
		value_unref(v);
	ps->names.len = mark;
	return ok;
}

static struct value *parse_struct(struct parser *ps, const struct tag *open, unsigned level)
{
	struct value *st = value_new_struct(0);
	if (!each_child(ps, open, "struct", "member", parse_member, st, level + 1)) {
		value_unref(st);
		return NULL;
	}
	merge_duplicates(st);
	return st;
}

typedef struct value *scalar_fn(struct parser *ps);

#define SCALAR(name, fn) { name, sizeof(name) - 1, fn }
static const struct {
	const char *name;
	size_t len;
	scalar_fn *conv;
} scalars[] = {
	SCALAR("string", conv_string),   SCALAR("i4", conv_i4),
	SCALAR("int", conv_i4),          SCALAR("i8", conv_i8),
	SCALAR("ex:i8", conv_i8),        SCALAR("boolean", conv_boolean),
	SCALAR("double", conv_double),   SCALAR("dateTime.iso8601", conv_datetime),
	SCALAR("base64", conv_base64),   SCALAR("nil", conv_nil),
	SCALAR("ex:nil", conv_nil),
};

/* The typed element inside a <value>: a container (level is how many
 * enclose it, the params array counting as one) or a scalar. */
static struct value *parse_typed(struct parser *ps, const struct tag *t, unsigned level)
{
	bool array = NAME_IS(t, "array");
	if (array || NAME_IS(t, "struct")) {
		if (level >= XMLRPC_MAX_NESTING)
			return fail(ps, "values nested too deeply");
		return array ? parse_array(ps, t, level) : parse_struct(ps, t, level);
	}
	for (size_t i = 0; i < ARRAY_SIZE(scalars); i++)
		if (t->len == scalars[i].len && memcmp(t->name, scalars[i].name, t->len) == 0)
			return leaf(ps, t) ? scalars[i].conv(ps) : NULL;
	return fail(ps, "unknown value type <%.*s>", (int)t->len, t->name);
}

/* After <value>: untyped text is a string, else one typed element (text
 * around it is ignored). */
static struct value *parse_value(struct parser *ps, const struct tag *open, unsigned level)
{
	if (open->kind == TAG_EMPTY)
		return value_new_stringn("", 0);
	struct tag t;
	if (!inner_tag(ps, &t, "value"))
		return NULL;
	if (t.kind == TAG_CLOSE)
		return closes(ps, &t, "value") ? value_new_stringn(ps->text.s, ps->text.len) : NULL;
	struct value *v = parse_typed(ps, &t, level);
	if (v && !(inner_tag(ps, &t, "value") && closes(ps, &t, "value"))) {
		value_unref(v);
		v = NULL;
	}
	return v;
}

/* --- the envelope ------------------------------------------------------- */

static bool parse_param(struct parser *ps, const struct tag *open, struct value *arr, unsigned level)
{
	struct tag t;
	if (open->kind == TAG_EMPTY || !inner_tag(ps, &t, "param"))
		return open->kind == TAG_EMPTY ? fail(ps, "<param> without <value>") : false;
	if (t.kind == TAG_CLOSE || !NAME_IS(&t, "value"))
		return t.kind == TAG_CLOSE ? fail(ps, "<param> without <value>")
					   : fail(ps, "unexpected <%.*s> in <param>", (int)t.len, t.name);
	return data_item(ps, &t, arr, level) && inner_tag(ps, &t, "param") && closes(ps, &t, "param");
}

static struct value *parse_params(struct parser *ps, const struct tag *open)
{
	struct value *arr = value_new_array(0);
	/* The params array is the first level of nesting. */
	if (!each_child(ps, open, "params", "param", parse_param, arr, 1)) {
		value_unref(arr);
		return NULL;
	}
	return arr;
}

/* The children of <methodCall>: one <methodName>, at most one <params>,
 * in either order. */
static bool parse_call_body(struct parser *ps, char **method, struct value **params)
{
	struct tag t;
	while (inner_tag(ps, &t, "methodCall") && t.kind != TAG_CLOSE) {
		if (NAME_IS(&t, "methodName") && !*method) {
			if (!leaf(ps, &t))
				return false;
			*method = xstrndup(ps->text.s, ps->text.len);
		} else if (NAME_IS(&t, "params") && !*params) {
			*params = parse_params(ps, &t);
			if (!*params)
				return false;
		} else {
			return fail(ps, "unexpected <%.*s> in <methodCall>", (int)t.len, t.name);
		}
	}
	if (ps->msg[0] || !closes(ps, &t, "methodCall"))
		return false;
	if (!*method)
		return fail(ps, "<methodCall> without <methodName>");
	if (!*params)
		*params = value_new_array(0);
	return true;
}

/* The XML declaration's encoding, if any: UTF-8 (or its subset ASCII) as
 * every client sends, or ISO-8859-1, which is simple to read. */
static bool declared_encoding(struct parser *ps, const unsigned char *decl, const unsigned char *end)
{
	const unsigned char *e = find(decl, end, "encoding");
	if (!e)
		return true;
	e = skip_space(e + 8, end);
	if (e == end || *e != '=')
		return fail(ps, "malformed XML declaration");
	e = skip_space(e + 1, end);
	const unsigned char *close = e < end ? memchr(e + 1, *e, (size_t)(end - e - 1)) : NULL;
	if (!close)
		return fail(ps, "malformed XML declaration");
	size_t n = (size_t)(close - e - 1);
	const char *name = (const char *)e + 1;
	if ((n == 5 && strncasecmp(name, "utf-8", 5) == 0) || (n == 8 && strncasecmp(name, "us-ascii", 8) == 0))
		return true;
	if ((n == 10 && strncasecmp(name, "iso-8859-1", 10) == 0) || (n == 6 && strncasecmp(name, "latin1", 6) == 0)) {
		ps->latin1 = true;
		return true;
	}
	return fail(ps, "unsupported encoding '%.*s'", (int)(n < 20 ? n : 20), name);
}

/* A byte order mark and the XML declaration, both optional. */
static bool prolog(struct parser *ps)
{
	if (has_prefix(ps->p, ps->end, "\xEF\xBB\xBF"))
		ps->p += 3;
	const unsigned char *p = ps->p;
	if (!has_prefix(p, ps->end, "<?xml") || ps->end - p < 6 || !(is_space(p[5]) || p[5] == '?'))
		return true;
	const unsigned char *q = skip_attributes(ps, p + 5);
	if (!q)
		return false;
	if (!has_prefix(q, ps->end, "?>") || !find(p, q, "version"))
		return fail(ps, "malformed XML declaration");
	if (!declared_encoding(ps, p + 5, q))
		return false;
	ps->p = q + 2;
	return true;
}

static bool parse_document(struct parser *ps, char **method, struct value **params)
{
	struct tag t;
	if (!prolog(ps) || !next_tag(ps, &t))
		return false;
	if (!text_is_space(ps))
		return fail(ps, "text before the root element");
	if (t.kind == TAG_END)
		return fail(ps, "no root element");
	if (t.kind == TAG_CLOSE || !NAME_IS(&t, "methodCall"))
		return fail(ps, "the root element is <%s%.*s>, not <methodCall>", t.kind == TAG_CLOSE ? "/" : "",
			    (int)t.len, t.name);
	if (t.kind == TAG_EMPTY)
		return fail(ps, "<methodCall> without <methodName>");
	if (!parse_call_body(ps, method, params) || !next_tag(ps, &t))
		return false;
	if (t.kind != TAG_END || !text_is_space(ps))
		return fail(ps, "content after the root element");
	return true;
}

int xmlrpc_decode_call(const char *xml, size_t len, char **method, struct value **params,
		       struct xc_error *err)
{
	/* Field by field: an initialiser would zero the scratch arrays too. */
	struct parser ps;
	ps.start = ps.p = (const unsigned char *)xml;
	ps.end = ps.start + len;
	ps.elements = ps.members = 0;
	ps.latin1 = false;
	ps.msg[0] = '\0';
	scratch_init(&ps.text);
	scratch_init(&ps.names);
	*method = NULL;
	*params = NULL;
	bool ok = len <= XMLRPC_MAX_DOC ? parse_document(&ps, method, params)
					: (fail(&ps, "document too large"), false);
	scratch_free(&ps.text);
	scratch_free(&ps.names);
	if (ok)
		return 0;
	free(*method);
	value_unref(*params);
	*method = NULL;
	*params = NULL;
	xc_error_set(err, XC_ERR_XMLRPC_UNMARSHAL_FAILURE, "methodCall", ps.msg[0] ? ps.msg : "parse error");
	return -1;
}
