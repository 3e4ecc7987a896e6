/* Random (version 4) UUIDs and the OpaqueRef handles built from them. */
#ifndef XCON_UUID_H
#define XCON_UUID_H

#include <stdbool.h>

#define UUID_STRLEN 36
#define REF_NULL "OpaqueRef:NULL"
#define REF_PREFIX "OpaqueRef:"

void uuid_generate(char out[UUID_STRLEN + 1]);
/* "OpaqueRef:<uuid>" in out (at least 47 bytes). */
void ref_generate(char out[48]);
bool uuid_is_valid(const char *s);
bool ref_is_null(const char *ref);

#endif
