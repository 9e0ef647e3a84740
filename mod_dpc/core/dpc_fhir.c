/* dpc_fhir.c: see dpc_fhir.h. */
#include "dpc_fhir.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

json_t *dpc_oo_new(void)
{
    return json_pack("{s:s, s:[]}", "resourceType", "OperationOutcome", "issue");
}

int dpc_utf8_seq(const unsigned char *s)
{
    int len, i;
    unsigned long cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

int dpc_utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    int len;

    for (; *u; u += len)
        if (!(len = dpc_utf8_seq(u)))
            return 0;
    return 1;
}

const char *dpc_utf8_clean(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    char *out, *o;
    int len;

    if (!s || dpc_utf8_valid(s))
        return s;
    o = out = apr_palloc(p, strlen(s) * 3 + 1);
    for (; *u; u += len) {
        if ((len = dpc_utf8_seq(u)) != 0) {
            memcpy(o, u, len);
            o += len;
        }
        else {
            memcpy(o, "\xef\xbf\xbd", 3);    /* U+FFFD */
            o += 3;
            len = 1;
        }
    }
    *o = '\0';
    return out;
}

void dpc_oo_add(json_t *oo, const char *severity, const char *code,
                const char *diagnostics, const char *expression)
{
    json_t *issue = json_pack("{s:s, s:s}", "severity", severity, "code", code);
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    /* messages may quote what the client sent */
    if (diagnostics)
        json_object_set_new(issue, "diagnostics", json_string(dpc_utf8_clean(p, diagnostics)));
    if (expression)
        json_object_set_new(issue, "expression",
                            json_pack("[s]", dpc_utf8_clean(p, expression)));
    apr_pool_destroy(p);
    json_array_append_new(json_object_get(oo, "issue"), issue);
}

const char *dpc_oo_simple(apr_pool_t *p, const char *code, const char *diagnostics)
{
    json_t *oo = dpc_oo_new();

    dpc_oo_add(oo, strcmp(code, DPC_ISSUE_INFORMATIONAL) ? "error" : "information",
               code, diagnostics, NULL);
    return dpc_json_pdump_decref(p, oo);
}

const char *dpc_json_pdump(apr_pool_t *p, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    const char *r;

    if (!s)
        return NULL;
    r = apr_pstrdup(p, s);
    free(s);
    return r;
}

const char *dpc_json_pdump_decref(apr_pool_t *p, json_t *v)
{
    const char *r = dpc_json_pdump(p, v);

    json_decref(v);
    return r;
}

static apr_status_t json_cleanup(void *v)
{
    json_decref(v);
    return APR_SUCCESS;
}

json_t *dpc_json_pool(apr_pool_t *p, json_t *v)
{
    if (v)
        apr_pool_cleanup_register(p, v, json_cleanup, apr_pool_cleanup_null);
    return v;
}

/* Read exactly n digits. */
static int digits(const char **s, int n, int *out)
{
    int v = 0;

    while (n--) {
        if (!isdigit((unsigned char)**s))
            return -1;
        v = v * 10 + (*(*s)++ - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long days_from_civil(int y, int m, int d)
{
    int era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (long long)era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dim[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

int dpc_instant_parse(const char *s, apr_time_t *out, const char **why)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    long long usec = 0, scale = 100000, secs;

    *why = "not a FHIR instant (YYYY-MM-DDThh:mm:ss[.fff](Z|+hh:mm|-hh:mm))";
    if (!s || digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-'
        || digits(&s, 2, &d) || *s++ != 'T' || digits(&s, 2, &h) || *s++ != ':'
        || digits(&s, 2, &mi) || *s++ != ':' || digits(&s, 2, &sec))
        return -1;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return -1;
        while (isdigit((unsigned char)*s)) {
            usec += (*s++ - '0') * scale;
            scale /= 10;
        }
    }
    if (*s == 'Z')
        s++;
    else if (*s == '+' || *s == '-') {
        sign = *s++ == '+' ? 1 : -1;
        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om))
            return -1;
    }
    else {
        *why = "a FHIR instant needs a time zone (Z or +hh:mm)";
        return -1;
    }
    if (*s) {
        *why = "unexpected characters after the FHIR instant";
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59
        || sec > 60 || oh > 14 || om > 59) {
        *why = "the FHIR instant names a date or time that does not exist";
        return -1;
    }
    secs = days_from_civil(y, mo, d) * 86400LL + h * 3600 + mi * 60 + (sec > 59 ? 59 : sec);
    secs -= sign * (oh * 3600 + om * 60);
    *out = (apr_time_t)(secs * APR_USEC_PER_SEC + usec);
    *why = NULL;
    return 0;
}

const char *dpc_instant_format(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;

    apr_time_exp_gmt(&tm, t);
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        tm.tm_usec / 1000);
}
