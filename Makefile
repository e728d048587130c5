# zapjobs: PGXS build.  `make && make install`, then `make installcheck` runs
# the pg_regress suites (private temp instance) and the TAP tests.

EXTENSION = zapjobs
MODULE_big = zapjobs
OBJS = \
	src/init.o \
	src/supervisor.o \
	src/utility.o \
	src/shmem.o \
	src/query.o \
	src/roles.o \
	src/cron.o \
	src/output.o \
	src/sqlexec.o \
	src/remote.o \
	src/srf.o \
	src/bgworker.o \
	src/procgroup.o \
	src/wakeup.o \
	src/events.o \
	src/failure.o \
	src/runctx.o \
	src/watchdog.o \
	src/runinsert.o \
	src/runstate.o \
	src/runstate_attempt.o \
	src/runstate_deps.o \
	src/runstate_retry.o \
	src/restore.o \
	src/version.o \
	src/ratelimit.o \
	src/claim.o \
	src/publisher.o \
	src/reaper.o \
	src/retention.o \
	src/progress.o \
	src/joblog.o \
	src/attempt.o \
	src/shell_output.o \
	src/shell.o \
	src/batch.o \
	src/worker.o \
	src/pool.o \
	src/schedule.o \
	src/control.o \
	src/api.o \
	src/launcher.o

# zapjobs_cron (pg_cron's interface) ships with zapjobs; its control file
# lives in sql/ with its script.
DATA = $(wildcard sql/zapjobs--*.sql) $(wildcard sql/zapjobs_cron--*.sql) sql/zapjobs_cron.control

REGRESS = api execution security reliability progress shell schedule definitions workflows pg_cron cron
REGRESS_OPTS = --temp-config=test/zapjobs.conf --temp-instance=./tmp_check_regress

TAP_TESTS = 1

PG_CPPFLAGS = -Wall -Werror -Wmissing-prototypes

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: an object is rebuilt when any header
# changes (the column lists of runs, say, live in headers).
$(OBJS): $(wildcard src/*.h)

# TAP tests live in test/t, not t/.
PROVE_TESTS ?= test/t/*.pl

# The zapjobs command (cmd/): its own Makefile, built and installed with the
# extension, into $(pg_config --bindir).
.PHONY: zapjobs-cmd install-zapjobs-cmd clean-zapjobs-cmd
all: zapjobs-cmd
zapjobs-cmd:
	$(MAKE) -C cmd PG_CONFIG='$(PG_CONFIG)'
install: install-zapjobs-cmd
install-zapjobs-cmd: zapjobs-cmd
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) cmd/zapjobs '$(DESTDIR)$(bindir)/zapjobs'
clean: clean-zapjobs-cmd
clean-zapjobs-cmd:
	$(MAKE) -C cmd clean

# The benchmark (not a test): builds, installs and runs its own server.
.PHONY: bench
bench:
	bash test/bench/run.sh

EXTRA_CLEAN = tmp_check tmp_check_regress results regression.diffs regression.out log
