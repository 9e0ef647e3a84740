/* dpcctl_synth.h: `dpcctl synth`, the synthetic claims loader. */
#ifndef DPCCTL_SYNTH_H
#define DPCCTL_SYNTH_H

#include <libpq-fe.h>

int dpcctl_synth(PGconn *conn, int argc, char **argv);

#endif
