/* Appending and escaping wire text (see wire.h).
 *
 * Each escaper classifies bytes with a 256-entry table and copies runs of
 * plain bytes with one append. */
#include "wire.h"

#include <stdbool.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif


enum { PLAIN, SPECIAL, HIGH };

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

static const uint8_t xml_class[256] = {
	[0x00 ... 0x08] = SPECIAL, [0x0B ... 0x1F] = SPECIAL, /* tab and LF pass */
	['"'] = SPECIAL, ['&'] = SPECIAL, ['<'] = SPECIAL, ['>'] = SPECIAL,
	[0x80 ... 0xFF] = HIGH,
};

static const uint8_t json_class[256] = {
	[0x00 ... 0x1F] = SPECIAL, ['"'] = SPECIAL, ['\\'] = SPECIAL,
	[0x80 ... 0xFF] = HIGH,
};

/* Length of the valid UTF-8 sequence at p (shortest form, no surrogates, at
 * most U+10FFFF), or 0.  XML additionally refuses U+FFFE and U+FFFF. */
static size_t utf8_len(const unsigned char *p, size_t avail, bool xml)
{
	unsigned c = p[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		n = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else
		return 0;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (xml && c == 0xEF && p[1] == 0xBF && p[2] >= 0xBE)
		return 0;
	return n;
}

/* The end of the run of PLAIN bytes at p.  Replies are mostly plain text
 * (refs, uuids, names), so sixteen bytes are checked at once where SSE2 is
 * there: a signed "less than 0x20" catches C0 controls and every byte from
 * 0x80 up, an equality test each the few specials; a hit that the table
 * says is plain after all (tab, LF) goes on byte by byte. */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *end, const uint8_t *cls,
				      const char *specials)
{
#ifdef __SSE2__
	const __m128i ctl = _mm_set1_epi8(0x20);
	__m128i sp[4];
	unsigned nsp = 0;
	for (; specials[nsp] && nsp < 4; nsp++)
		sp[nsp] = _mm_set1_epi8(specials[nsp]);
	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)p);
		__m128i hit = _mm_cmplt_epi8(x, ctl);
		for (unsigned i = 0; i < nsp; i++)
			hit = _mm_or_si128(hit, _mm_cmpeq_epi8(x, sp[i]));
		unsigned mask = (unsigned)_mm_movemask_epi8(hit);
		if (!mask) {
			p += 16;
			continue;
		}
		p += __builtin_ctz(mask);
		if (cls[*p] != PLAIN)
			return p;
		p++;
	}
#else
	(void)specials;
#endif
	while (p < end && cls[*p] == PLAIN)
		p++;
	return p;
}

void wire_escape_xml(struct buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	if (b->cap - b->len <= n)
		buf_reserve(b, n);
	while (p < end) {
		const unsigned char *run = p;
		p = plain_run(p, end, xml_class, "<>&\"");
		if (p > run)
			wire_put(b, run, (size_t)(p - run));
		if (p == end)
			break;
		if (xml_class[*p] == HIGH) {
			size_t k = utf8_len(p, (size_t)(end - p), true);
			if (k) {
				wire_put(b, p, k);
				p += k;
			} else {
				WIRE_LIT(b, replacement);
				p++;
			}
			continue;
		}
		switch (*p++) {
		case '&': WIRE_LIT(b, "&amp;"); break;
		case '<': WIRE_LIT(b, "&lt;"); break;
		case '>': WIRE_LIT(b, "&gt;"); break;
		case '"': WIRE_LIT(b, "&quot;"); break;
		case '\r': WIRE_LIT(b, "&#13;"); break;
		default: WIRE_LIT(b, replacement); break; /* C0 controls XML 1.0 forbids */
		}
	}
}

void wire_escape_json(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	if (b->cap - b->len <= n)
		buf_reserve(b, n);
	while (p < end) {
		const unsigned char *run = p;
		p = plain_run(p, end, json_class, "\"\\");
		if (p > run)
			wire_put(b, run, (size_t)(p - run));
		if (p == end)
			break;
		if (json_class[*p] == HIGH) {
			size_t k = utf8_len(p, (size_t)(end - p), false);
			if (k) {
				wire_put(b, p, k);
				p += k;
			} else {
				WIRE_LIT(b, "\\ufffd");
				p++;
			}
			continue;
		}
		unsigned char c = *p++;
		switch (c) {
		case '"': WIRE_LIT(b, "\\\""); break;
		case '\\': WIRE_LIT(b, "\\\\"); break;
		case '\n': WIRE_LIT(b, "\\n"); break;
		case '\r': WIRE_LIT(b, "\\r"); break;
		case '\t': WIRE_LIT(b, "\\t"); break;
		case '\b': WIRE_LIT(b, "\\b"); break;
		case '\f': WIRE_LIT(b, "\\f"); break;
		default: {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			wire_put(b, u, sizeof(u));
		}
		}
	}
}

void wire_put_double(struct buf *b, double f)
{
	/* Below 2^53 a whole double is exact as an int64 and %.16g prints
	 * its digits: -0.0 prints as "-0", so it takes the slow way. */
	if (f > -9007199254740992.0 && f < 9007199254740992.0 && f == (double)(int64_t)f && !(f == 0 && signbit(f))) {
		wire_put_i64(b, (int64_t)f);
		return;
	}
	char tmp[40];
	int n = snprintf(tmp, sizeof(tmp), "%.16g", f);
	wire_put(b, tmp, (size_t)n);
}

void wire_put_result(struct wire_writer *w, const struct value *v, struct wire_deferred *d)
{
	if (d && v && v->type == VALUE_LAZY) {
		d->v = value_ref((struct value *)v);
		d->at = w->b->len;
		d->w = *w;
		return;
	}
	value_emit(v, &w->k);
}
