/* The raw rows of the datamodel, expanded once from the .def files.
 * dm.c turns them into the parsed descriptors everyone else uses. */
#include "dm_rows.h"

#include <stddef.h>

/* The .def files spell qualifiers briefly. */
#define RO DM_RO
#define RO_C DM_RO_C
#define RW DM_RW

#define CLASS(name, flags, doc) { DM_ROW_CLASS, #name, NULL, NULL, 0, NULL, doc, flags, NULL, NULL },
#define FIELD(cls, name, type, qual, deflt, doc) { DM_ROW_FIELD, #cls, #name, type, qual, deflt, doc, 0, NULL, NULL },
#define REVERSE(cls, name, ocls, ofield, doc) { DM_ROW_REVERSE, #cls, #name, "set ref " #ocls, DM_RO, NULL, doc, 0, #ocls, #ofield },
#define MESSAGE(cls, name, result, flags, params, doc) { DM_ROW_MESSAGE, #cls, #name, result, 0, params, doc, flags, NULL, NULL },

const struct dm_row dm_rows[] = {
#include "classes.def"
};
const unsigned dm_nrows = sizeof(dm_rows) / sizeof(dm_rows[0]);

#undef CLASS
#undef FIELD
#undef REVERSE
#undef MESSAGE

#define ENUM(name, values) { #name, values },
const struct dm_enum_row dm_enum_rows[] = {
#include "enums.def"
};
const unsigned dm_nenum_rows = sizeof(dm_enum_rows) / sizeof(dm_enum_rows[0]);
#undef ENUM
