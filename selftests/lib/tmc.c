// SPDX-License-Identifier: GPL-2.0
/*
 * tmc: read back tmcount's windows in the guest.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "tmc.h"

/* Time for the readers after the first one (awk, tee) to finish. */
#define TMC_SETTLE_US	(200 * 1000)

int tmc_open(struct tmc *t)
{
	const char *path = getenv(TMC_LOG_ENV);

	t->f = NULL;
	if (!path || !*path)
		return -ENOENT;
	t->f = fopen(path, "r");
	if (!t->f)
		return -errno;
	/* Windows closed before we came are someone else's. */
	while (fgetc(t->f) != EOF)
		;
	return 0;
}

void tmc_close(struct tmc *t)
{
	if (t->f)
		fclose(t->f);
	t->f = NULL;
}

int tmc_read(struct tmc *t, unsigned int slot, struct tmc_count *c)
{
	unsigned long long insns, execs;
	char line[256];
	unsigned int s;
	int tries;

	/*
	 * The plugin wrote the line before the guest ran on past the
	 * marker; a retry only covers a file system that shows it late.
	 */
	for (tries = 0; tries < 50; tries++) {
		if (fgets(line, sizeof(line), t->f))
			break;
		clearerr(t->f);
		usleep(20000);
	}
	if (tries == 50)
		return -ETIMEDOUT;
	if (sscanf(line, "window %u %llu %llu", &s, &insns, &execs) != 3 ||
	    s != slot) {
		fprintf(stderr, "tmc: expected a window of slot %u, got: %s",
			slot, line);
		return -EPROTO;
	}
	c->insns = insns;
	c->execs = execs;
	return 0;
}

void tmc_settle(void)
{
	int queued;

	fflush(NULL);
	while (!ioctl(STDOUT_FILENO, FIONREAD, &queued) && queued > 0)
		usleep(1000);
	usleep(TMC_SETTLE_US);
}
