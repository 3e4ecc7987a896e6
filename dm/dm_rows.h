/* The datamodel rows as the .def files give them, before parsing.  Private to
 * dm/ (and the engine's handler table, which expands the same rows). */
#ifndef XCON_DM_ROWS_H
#define XCON_DM_ROWS_H

#include "dm.h"

enum dm_row_kind { DM_ROW_CLASS, DM_ROW_FIELD, DM_ROW_REVERSE, DM_ROW_MESSAGE };

struct dm_row {
	enum dm_row_kind kind;
	const char *cls;     /* CLASS: the class name; others: owning class */
	const char *name;    /* field or message name */
	const char *type;    /* field type or message result type */
	enum dm_qual qual;
	const char *text;    /* field default, or message params */
	const char *doc;
	unsigned flags;
	const char *ocls, *ofield; /* REVERSE partner */
};

struct dm_enum_row {
	const char *name;
	const char *values;
};

extern const struct dm_row dm_rows[];
extern const unsigned dm_nrows;
extern const struct dm_enum_row dm_enum_rows[];
extern const unsigned dm_nenum_rows;

#endif
