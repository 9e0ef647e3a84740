## mod_dpc/tools/synth.mk: the synthetic claims generator (`dpcctl synth`).
## Included from the top-level Makefile.am; paths are relative to the top.
##
## The templates and code lists under mod_dpc/tools/synth are compiled into the
## tools library by build/embed (as dpc_synth_files[], keyed by base name),
## so their text lives only in those files.

SYNTH_TEMPLATES = \
    mod_dpc/tools/synth/templates/stu3-patient.json \
    mod_dpc/tools/synth/templates/stu3-coverage-part-a.json \
    mod_dpc/tools/synth/templates/stu3-coverage-part-b.json \
    mod_dpc/tools/synth/templates/stu3-coverage-part-c.json \
    mod_dpc/tools/synth/templates/stu3-coverage-part-d.json \
    mod_dpc/tools/synth/templates/stu3-eob-carrier.json \
    mod_dpc/tools/synth/templates/stu3-eob-dme.json \
    mod_dpc/tools/synth/templates/stu3-eob-hha.json \
    mod_dpc/tools/synth/templates/stu3-eob-hospice.json \
    mod_dpc/tools/synth/templates/stu3-eob-inpatient.json \
    mod_dpc/tools/synth/templates/stu3-eob-outpatient.json \
    mod_dpc/tools/synth/templates/stu3-eob-pde.json \
    mod_dpc/tools/synth/templates/stu3-eob-snf.json \
    mod_dpc/tools/synth/templates/r4-patient.json \
    mod_dpc/tools/synth/templates/r4-coverage-part-a.json \
    mod_dpc/tools/synth/templates/r4-coverage-part-b.json \
    mod_dpc/tools/synth/templates/r4-coverage-part-c.json \
    mod_dpc/tools/synth/templates/r4-coverage-part-d.json \
    mod_dpc/tools/synth/templates/r4-eob-carrier.json \
    mod_dpc/tools/synth/templates/r4-eob-dme.json \
    mod_dpc/tools/synth/templates/r4-eob-hha.json \
    mod_dpc/tools/synth/templates/r4-eob-hospice.json \
    mod_dpc/tools/synth/templates/r4-eob-inpatient.json \
    mod_dpc/tools/synth/templates/r4-eob-outpatient.json \
    mod_dpc/tools/synth/templates/r4-eob-pde.json \
    mod_dpc/tools/synth/templates/r4-eob-snf.json \
    mod_dpc/tools/synth/codes/icd10cm.tsv \
    mod_dpc/tools/synth/codes/icd10pcs.tsv \
    mod_dpc/tools/synth/codes/hcpcs.tsv \
    mod_dpc/tools/synth/codes/hcpcs-dme.tsv \
    mod_dpc/tools/synth/codes/ndc.tsv \
    mod_dpc/tools/synth/codes/names-family.txt \
    mod_dpc/tools/synth/codes/names-female.txt \
    mod_dpc/tools/synth/codes/names-male.txt \
    mod_dpc/tools/synth/codes/states.tsv

SYNTH_SOURCES += \
    mod_dpc/tools/dpc_synth.c mod_dpc/tools/dpc_synth.h \
    mod_dpc/tools/dpc_synth_tpl.c mod_dpc/tools/dpc_synth_tpl.h \
    mod_dpc/tools/dpc_synth_files.c

# The prerequisites are found through VPATH; the recipe names them by
# $(srcdir) itself, as POSIX make has no $^.
mod_dpc/tools/dpc_synth_files.c: $(SYNTH_TEMPLATES) $(srcdir)/build/embed
	$(AM_V_GEN)$(MKDIR_P) mod_dpc/tools && files= && \
	for f in $(SYNTH_TEMPLATES); do files="$$files $(srcdir)/$$f"; done && \
	$(SHELL) $(srcdir)/build/embed dpc_synth_files $@ $$files

BUILT_SOURCES += mod_dpc/tools/dpc_synth_files.c
CLEANFILES += mod_dpc/tools/dpc_synth_files.c
EXTRA_DIST += $(SYNTH_TEMPLATES) mod_dpc/tools/synth/README.md build/bench-synth
