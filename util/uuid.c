/* UUIDs from the kernel's random source. */
#include "uuid.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

void uuid_generate(char out[UUID_STRLEN + 1])
{
	uint8_t b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, UUID_STRLEN + 1,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
		 b[12], b[13], b[14], b[15]);
}

void ref_generate(char out[48])
{
	memcpy(out, REF_PREFIX, sizeof(REF_PREFIX) - 1);
	uuid_generate(out + sizeof(REF_PREFIX) - 1);
}

bool uuid_is_valid(const char *s)
{
	if (strlen(s) != UUID_STRLEN)
		return false;
	for (int i = 0; i < UUID_STRLEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

bool ref_is_null(const char *ref)
{
	return !ref || !*ref || strcmp(ref, REF_NULL) == 0;
}
