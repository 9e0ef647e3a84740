/* mod_dpc_people.h: Practitioner and Patient.  One handler per operation
 * serves both; the dispatch table's variant says which. */
#ifndef MOD_DPC_PEOPLE_H
#define MOD_DPC_PEOPLE_H

#include "mod_dpc_db.h"
#include "mod_dpc_op.h"

#define DPC_PRACTITIONER 0
#define DPC_PATIENT      1

int dpc_op_person_create(request_rec *r, const dpc_call *call);
int dpc_op_person_read(request_rec *r, const dpc_call *call);
int dpc_op_person_search(request_rec *r, const dpc_call *call);
int dpc_op_person_update(request_rec *r, const dpc_call *call);
int dpc_op_person_delete(request_rec *r, const dpc_call *call);
int dpc_op_person_submit(request_rec *r, const dpc_call *call);
int dpc_op_person_validate(request_rec *r, const dpc_call *call);
int dpc_op_everything(request_rec *r, const dpc_call *call);

extern const dpc_statement dpc_people_statements[];

#endif
