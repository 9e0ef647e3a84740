/* dpc_copy.h: rows of the claims store as PostgreSQL COPY data, and a COPY
 * stream that goes to a connection (COPY ... FROM STDIN in progress) or to a
 * file.  `dpcctl synth` and `dpcctl load` write through it, so both loaders
 * send the same bytes for the same rows.
 *
 * Binary rows follow PostgreSQL's binary COPY format (big-endian lengths,
 * timestamptz as microseconds since 2000-01-01 UTC); a binary stream starts
 * with dpc_copy_header() and ends with dpc_copy_trailer().  Text rows escape
 * backslash, newline, carriage return and tab, which is all COPY text needs. */
#ifndef DPC_COPY_H
#define DPC_COPY_H

#include <stdint.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "dpc_synth.h"
#include "dpc_synth_tpl.h"

/* Flush the buffer to its destination once it holds this much: little, so
 * that the server, which reads what its socket holds (a few hundred KB),
 * gets the next rows while it works through those (flushing 1 MB at a time
 * left it waiting: both loaders were 4 to 9% slower, build/bench-load). */
#define DPC_COPY_FLUSH_AT (32 * 1024)

/* Where rows go: conn (a COPY FROM STDIN in progress) or file; neither means
 * the rows are encoded and dropped.  error is set on the first failure and
 * every later call fails. */
typedef struct dpc_copy_out {
    PGconn *conn;
    FILE *file;
    int binary;
    dpc_sbuf buf;
    const char *error;
    int ended;                  /* dpc_copy_send_end() was called */
    /* With idle, the COPY goes through conn in nonblocking mode: while the
     * server has all it can take (or works through the end of the COPY),
     * idle(idle_ctx) is called to do other work, a little at a time (its
     * answer: it did some; 0, nothing left to do, and then the COPY waits
     * for the socket). */
    int (*idle)(void *idle_ctx);
    void *idle_ctx;
} dpc_copy_out;

/* The binary stream's header and trailer. */
void dpc_copy_header(dpc_sbuf *b);
void dpc_copy_trailer(dpc_sbuf *b);

/* The columns of a claims_resource row, in the table's own order (so that
 * a COPY of the table without a column list reads the same rows). */
#define DPC_COPY_CLAIM_COLUMNS "mbi, fhir_version, resource_type, resource_id, " \
    "last_updated, body, claim_type, service_start, service_end, coverage_status"

/* One claims_resource row of DPC_COPY_CLAIM_COLUMNS; text rows use
 * r->last_updated, binary ones r->last_updated_us.  A NULL claim_type,
 * service date or coverage_status is SQL NULL; service dates are
 * "YYYY-MM-DD" (a caller's check: anything else is sent as NULL).  The
 * other fields of r are not read. */
void dpc_copy_claim_row(dpc_sbuf *b, int binary, const dpc_synth_row *r);

/* One beneficiary row: (mbi, bene_id, last_updated). */
void dpc_copy_bene_row(dpc_sbuf *b, int binary, const char *mbi, const char *bene_id,
                       const char *last_updated, int64_t last_updated_us);

/* Send what the buffer holds; 0, or -1 with o->error set. */
int dpc_copy_flush(dpc_copy_out *o);
/* dpc_copy_flush() once the buffer holds DPC_COPY_FLUSH_AT bytes. */
int dpc_copy_maybe_flush(dpc_copy_out *o);
/* Flush and end the COPY on o->conn without waiting for the server: it
 * works through the rest while the caller does something else (but use the
 * connection) until dpc_copy_end().  After an error the COPY is aborted. */
void dpc_copy_send_end(dpc_copy_out *o);
/* dpc_copy_send_end() unless done, then read the COPY's results through; 0,
 * or -1 with o->error set (the COPY was then aborted).  o may then start
 * another COPY. */
int dpc_copy_end(dpc_copy_out *o);

#endif
