/* dpc_embed.h: files compiled into the binaries by build/embed. */
#ifndef DPC_EMBED_H
#define DPC_EMBED_H

#include <stddef.h>

typedef struct dpc_embedded_file {
    const char *name;   /* base name, e.g. "001_core.sql"; NULL ends a table */
    const char *data;   /* the bytes, NUL-terminated for convenience */
    size_t len;
} dpc_embedded_file;

/* sql/NNN_*.sql, in order */
extern const dpc_embedded_file dpc_migrations[];
/* sql/functions/NAME.sql, by name: one stored function each */
extern const dpc_embedded_file dpc_functions[];

#endif
