/* dpc_copy.c: see dpc_copy.h. */
#include "dpc_copy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dpc_pg.h"

/* PostgreSQL's epoch (2000-01-01 UTC) in microseconds since 1970. */
#define PG_EPOCH_US INT64_C(946684800000000)

/* COPY binary wants big-endian integers. */
static void put_be(dpc_sbuf *b, uint64_t v, int bytes)
{
    char tmp[8];
    int i;

    for (i = bytes - 1; i >= 0; i--, v >>= 8)
        tmp[i] = (char)(v & 0xff);
    dpc_sbuf_append(b, tmp, bytes);
}

static void bin_text(dpc_sbuf *b, const char *s, apr_size_t n)
{
    put_be(b, n, 4);
    dpc_sbuf_append(b, s, n);
}

static void bin_timestamp(dpc_sbuf *b, int64_t us_since_1970)
{
    put_be(b, 8, 4);
    put_be(b, (uint64_t)(us_since_1970 - PG_EPOCH_US), 8);
}

void dpc_copy_header(dpc_sbuf *b)
{
    dpc_sbuf_append(b, "PGCOPY\n\377\r\n\0", 11);
    put_be(b, 0, 4);            /* flags */
    put_be(b, 0, 4);            /* header extension length */
}

void dpc_copy_trailer(dpc_sbuf *b)
{
    put_be(b, 0xffff, 2);
}

static void text_field(dpc_sbuf *b, const char *s, apr_size_t n)
{
    apr_size_t i, from = 0;     /* start of the stretch not yet copied */

    for (i = 0; i < n; i++) {
        const char *esc = s[i] == '\\' ? "\\\\" : s[i] == '\n' ? "\\n"
                          : s[i] == '\r' ? "\\r" : s[i] == '\t' ? "\\t" : NULL;

        if (!esc)
            continue;
        dpc_sbuf_append(b, s + from, i - from);
        dpc_sbuf_append(b, esc, 2);
        from = i + 1;
    }
    dpc_sbuf_append(b, s + from, n - from);
}

static void text_str(dpc_sbuf *b, const char *s, char sep)
{
    text_field(b, s, strlen(s));
    dpc_sbuf_putc(b, sep);
}

/* A nullable text column. */
static void text_opt(dpc_sbuf *b, const char *s, char sep)
{
    if (s)
        text_str(b, s, sep);
    else {
        dpc_sbuf_append(b, "\\N", 2);
        dpc_sbuf_putc(b, sep);
    }
}

static void bin_opt(dpc_sbuf *b, const char *s)
{
    if (s)
        bin_text(b, s, strlen(s));
    else
        put_be(b, 0xffffffffu, 4);
}

/* Days from 1970-01-01 of a proleptic Gregorian y-m-d (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" as days since 1970, or -1 on any other form. */
static int parse_day(const char *s, int64_t *days)
{
    int i, y, m, d;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    y = atoi(s);
    m = atoi(s + 5);
    d = atoi(s + 8);
    if (m < 1 || m > 12 || d < 1 || d > 28 + (m == 2 ? (y % 4 == 0 && (y % 100 || y % 400 == 0))
                                                  : 2 + (m != 4 && m != 6 && m != 9 && m != 11)))
        return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

/* A nullable date column: binary dates count days from 2000-01-01. */
static void bin_date(dpc_sbuf *b, const char *s)
{
    int64_t days;

    if (parse_day(s, &days)) {
        put_be(b, 0xffffffffu, 4);
        return;
    }
    put_be(b, 4, 4);
    put_be(b, (uint64_t)(days - 10957), 4);
}

static void text_date(dpc_sbuf *b, const char *s, char sep)
{
    int64_t days;

    text_opt(b, parse_day(s, &days) ? NULL : s, sep);
}

void dpc_copy_claim_row(dpc_sbuf *b, int binary, const dpc_synth_row *r)
{
    if (binary) {
        put_be(b, 10, 2);
        bin_text(b, r->mbi, strlen(r->mbi));
        put_be(b, 2, 4);
        put_be(b, (uint64_t)r->fhir_version, 2);
        bin_text(b, r->resource_type, strlen(r->resource_type));
        bin_text(b, r->resource_id, strlen(r->resource_id));
        bin_timestamp(b, r->last_updated_us);
        bin_text(b, r->body, r->body_len);
        bin_opt(b, r->claim_type);
        bin_date(b, r->service_start);
        bin_date(b, r->service_end);
        bin_opt(b, r->coverage_status);
        return;
    }
    text_str(b, r->mbi, '\t');
    dpc_sbuf_putc(b, (char)('0' + r->fhir_version));
    dpc_sbuf_putc(b, '\t');
    text_str(b, r->resource_type, '\t');
    text_str(b, r->resource_id, '\t');
    text_str(b, r->last_updated, '\t');
    text_field(b, r->body, r->body_len);
    dpc_sbuf_putc(b, '\t');
    text_opt(b, r->claim_type, '\t');
    text_date(b, r->service_start, '\t');
    text_date(b, r->service_end, '\t');
    text_opt(b, r->coverage_status, '\n');
}

void dpc_copy_bene_row(dpc_sbuf *b, int binary, const char *mbi, const char *bene_id,
                       const char *last_updated, int64_t last_updated_us)
{
    if (binary) {
        put_be(b, 3, 2);
        bin_text(b, mbi, strlen(mbi));
        bin_text(b, bene_id, strlen(bene_id));
        bin_timestamp(b, last_updated_us);
        return;
    }
    text_str(b, mbi, '\t');
    text_str(b, bene_id, '\t');
    text_str(b, last_updated, '\n');
}

/* Nonblocking (o->idle): send what libpq holds, doing o->idle's work while
 * the socket is full. */
static int flush_idle(dpc_copy_out *o)
{
    int r;

    while ((r = PQflush(o->conn)) == 1) {
        if (!o->idle(o->idle_ctx) && dpc_pg_wait(o->conn, 1, -1) < 0)
            return -1;
    }
    return r;
}

/* PQputCopyData(), through flush_idle() when nonblocking. */
static int put_data(dpc_copy_out *o, const char *data, int len)
{
    int r;

    if (!o->idle)
        return PQputCopyData(o->conn, data, len) == 1 ? 0 : -1;
    while ((r = PQputCopyData(o->conn, data, len)) == 0) {
        if (flush_idle(o) < 0)
            return -1;
    }
    return r == 1 && flush_idle(o) == 0 ? 0 : -1;
}

int dpc_copy_flush(dpc_copy_out *o)
{
    if (o->error)
        return -1;
    if (o->buf.failed)
        o->error = "out of memory";
    else if (o->conn && o->buf.len && put_data(o, o->buf.data, (int)o->buf.len))
        o->error = PQerrorMessage(o->conn);
    else if (o->file && o->buf.len
             && fwrite(o->buf.data, 1, o->buf.len, o->file) != o->buf.len)
        o->error = strerror(errno);
    o->buf.len = 0;
    return o->error ? -1 : 0;
}

int dpc_copy_maybe_flush(dpc_copy_out *o)
{
    return o->buf.len >= DPC_COPY_FLUSH_AT ? dpc_copy_flush(o) : (o->error ? -1 : 0);
}

/* PQputCopyEnd(), through flush_idle() when nonblocking. */
static int put_end(dpc_copy_out *o, const char *why)
{
    int r;

    while ((r = PQputCopyEnd(o->conn, why)) == 0 && o->idle) {
        if (flush_idle(o) < 0)
            return -1;
    }
    return r == 1 && (!o->idle || flush_idle(o) == 0) ? 0 : -1;
}

void dpc_copy_send_end(dpc_copy_out *o)
{
    if (o->ended)
        return;
    o->ended = 1;
    if (dpc_copy_flush(o) || put_end(o, NULL)) {
        if (!o->error)
            o->error = PQerrorMessage(o->conn);
        put_end(o, "aborted");
    }
}

int dpc_copy_end(dpc_copy_out *o)
{
    PGresult *res;

    dpc_copy_send_end(o);
    /* the server works through the end of the COPY: o->idle's work meanwhile */
    while (o->idle && PQisBusy(o->conn) && PQconsumeInput(o->conn) && PQisBusy(o->conn)) {
        if (!o->idle(o->idle_ctx) && dpc_pg_wait(o->conn, 0, -1) < 0)
            break;
    }
    while ((res = PQgetResult(o->conn)) != NULL) {
        /* the message lives in the connection until the next command */
        if (PQresultStatus(res) != PGRES_COMMAND_OK && !o->error)
            o->error = PQerrorMessage(o->conn);
        PQclear(res);
    }
    o->ended = 0;               /* o may start the next COPY */
    return o->error ? -1 : 0;
}
