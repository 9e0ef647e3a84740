/* dpc_log.c: see dpc_log.h. */
#include "dpc_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <apr_strings.h>

static dpc_log_fn *log_cb;
static dpc_log_level_fn *level_cb;
static void *log_baton;

void dpc_log_set(dpc_log_fn *cb, dpc_log_level_fn *lcb, void *baton)
{
    log_cb = cb;
    level_cb = lcb;
    log_baton = baton;
}

int dpc_log_is_level(int level)
{
    if (!log_cb)
        return 0;
    return level_cb ? level_cb(log_baton, level) : 1;
}

void dpc_log_perror(const char *file, int line, int level, apr_status_t rv,
                    const char *fmt, ...)
{
    char buf[2048];
    va_list ap;

    if (!dpc_log_is_level(level))
        return;
    va_start(ap, fmt);
    apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    log_cb(log_baton, file, line, level, rv, buf);
}

static const char *level_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug", "trace1"
};

int dpc_log_stderr_level(void *baton, int level)
{
    int max = baton ? *(int *)baton : DPC_LOG_WARNING;
    return level <= max;
}

void dpc_log_stderr(void *baton, const char *file, int line, int level,
                    apr_status_t rv, const char *msg)
{
    char when[32], err[256];
    time_t now = time(NULL);
    struct tm tm;

    (void)file;
    (void)line;
    if (!dpc_log_stderr_level(baton, level))
        return;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (rv != APR_SUCCESS)
        fprintf(stderr, "[%s] [dpc:%s] [pid %ld] %s: %s\n", when,
                level_names[level < 8 ? level : 8], (long)getpid(), msg,
                apr_strerror(rv, err, sizeof(err)));
    else
        fprintf(stderr, "[%s] [dpc:%s] [pid %ld] %s\n", when,
                level_names[level < 8 ? level : 8], (long)getpid(), msg);
}
