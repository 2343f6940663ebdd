// SPDX-License-Identifier: GPL-2.0
/*
 * trustmig-vm: the VM, its vCPU thread, the workload's pace, and the
 * vCPU/VM state that travels in STATE records.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>

#include "vmm.h"

/* The guest asks for work at most this often. */
#define TICK_PERIOD	0.01
/* Work not done while the host lagged is forgotten after this long. */
#define TICK_CATCHUP	0.05

/*
 * STATE payloads: a header, then items (tag, length, bytes, padded to 8).
 * Host byte order: both ends are x86-64.  A receiver skips unknown tags.
 */
#define ST_MAGIC	0x54535654	/* "TVST" */
#define ST_VERSION	1
#define ST_KIND_VM	1
#define ST_KIND_VCPU	2

enum {
	ST_REGS = 1,
	ST_SREGS,
	ST_XSAVE,
	ST_XCRS,
	ST_MSRS,
	ST_EVENTS,
	ST_DEBUGREGS,
	ST_CLOCK,
	ST_FPU,
};

struct st_hdr {
	__u32 magic;
	__u16 version;
	__u16 kind;
};

struct st_item {
	__u32 tag;
	__u32 len;
};

/* The MSRs this VMM carries, when KVM knows them (KVM_GET_MSR_INDEX_LIST). */
static const __u32 vmm_msrs[] = {
	0x00000010,	/* IA32_TSC */
	0x0000003b,	/* IA32_TSC_ADJUST */
	0x00000174,	/* IA32_SYSENTER_CS */
	0x00000175,	/* IA32_SYSENTER_ESP */
	0x00000176,	/* IA32_SYSENTER_EIP */
	0x000001a0,	/* IA32_MISC_ENABLE */
	0x00000277,	/* IA32_PAT */
	0xc0000081,	/* STAR */
	0xc0000082,	/* LSTAR */
	0xc0000083,	/* CSTAR */
	0xc0000084,	/* SFMASK */
	0xc0000102,	/* KERNEL_GS_BASE */
	0xc0000103,	/* TSC_AUX */
	0x4b564d00,	/* KVM wall clock */
	0x4b564d01,	/* KVM system time */
};

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define VMM_NR_MSRS	ARRAY_SIZE(vmm_msrs)

double vmm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void vmm_sleep(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static __u32 *wl_hdr(struct vmm *v, unsigned int field)
{
	return (__u32 *)(v->vm.mem + TVM_WL_HDR_GPA + field);
}

__u32 vmm_writes(struct vmm *v)
{
	return __atomic_load_n(wl_hdr(v, TVM_WL_H_TOTAL), __ATOMIC_RELAXED);
}

/*
 * Layout: code, header, table (8 bytes per data page), data.  The guest
 * fills the rest itself.
 */
static void vmm_setup_workload(struct vmm *v)
{
	__u64 npages = v->vm.npages;
	__u64 table = ((npages - TVM_WL_TABLE_PAGE) * 8 + TVM_PAGE_SIZE - 1) /
		      TVM_PAGE_SIZE;
	__u64 first = TVM_WL_TABLE_PAGE + table;

	*wl_hdr(v, TVM_WL_H_MAGIC) = TVM_WL_MAGIC;
	*wl_hdr(v, TVM_WL_H_FIRST) = first;
	*wl_hdr(v, TVM_WL_H_NDATA) = npages - first;
	*wl_hdr(v, TVM_WL_H_TABLE) = TVM_WL_TABLE_PAGE * TVM_PAGE_SIZE;
}

int vmm_create(struct vmm *v, size_t mem_size, bool load_guest)
{
	struct kvm_regs regs;
	int ret;

	memset(v, 0, sizeof(*v));
	v->vm.kvm_fd = -1;
	v->vm.vm_fd = -1;
	v->vm.vcpu_fd = -1;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	if (mem_size < 64 * TVM_PAGE_SIZE)
		return -EINVAL;
	if (load_guest)
		ret = tvm_create_guest(&v->vm, mem_size, tvm_workload_start,
				       tvm_workload_end - tvm_workload_start,
				       true);
	else
		ret = tvm_create_guest(&v->vm, mem_size, NULL, 0, true);
	if (ret || !load_guest)
		return ret;

	vmm_setup_workload(v);
	memset(&regs, 0, sizeof(regs));
	regs.rip = TVM_GUEST_GPA;
	regs.rflags = 0x2;
	if (ioctl(v->vm.vcpu_fd, KVM_SET_REGS, &regs) < 0) {
		ret = -errno;
		tvm_destroy(&v->vm);
		return ret;
	}
	return 0;
}

void vmm_destroy(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	v->stop = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	if (v->thread_started) {
		/* The guest ticks every TICK_PERIOD; the thread sees stop. */
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
	tvm_destroy(&v->vm);
}

/* The guest's IN from the tick port: how many pages to write now. */
static __u32 vmm_tick(struct vmm *v)
{
	double now, dt, wait;
	__u32 n;

	pthread_mutex_lock(&v->lock);
	v->started = true;
	pthread_cond_broadcast(&v->cond);
	if (v->verify_req) {
		v->verify_req = false;
		pthread_mutex_unlock(&v->lock);
		return TVM_WL_VERIFY;
	}
	pthread_mutex_unlock(&v->lock);

	now = vmm_now();
	wait = v->last_tick + TICK_PERIOD - now;
	if (wait > 0) {
		vmm_sleep(wait);
		now = vmm_now();
	}
	dt = v->last_tick ? now - v->last_tick : TICK_PERIOD;
	if (dt > TICK_CATCHUP)
		dt = TICK_CATCHUP;
	v->last_tick = now;
	v->tokens += v->rate * dt;
	n = (__u32)v->tokens;
	v->tokens -= n;
	return n;
}

static void vmm_got_verdict(struct vmm *v, __u32 bad)
{
	struct kvm_regs regs;

	if (ioctl(v->vm.vcpu_fd, KVM_GET_REGS, &regs) < 0)
		memset(&regs, 0xff, sizeof(regs));
	pthread_mutex_lock(&v->lock);
	v->verdict.bad = bad;
	v->verdict.first_bad = regs.rbx;
	v->verdict.checked = regs.rcx;
	v->verdict.flags = regs.rdx;
	v->verdict.total = regs.rbp;
	v->verdict_ready = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

/* Parks while a pause is requested; false once asked to stop. */
static bool vmm_park(struct vmm *v)
{
	bool go;

	pthread_mutex_lock(&v->lock);
	while (v->pause_req && !v->stop) {
		if (!v->paused) {
			v->paused = true;
			pthread_cond_broadcast(&v->cond);
		}
		pthread_cond_wait(&v->cond, &v->lock);
	}
	v->paused = false;
	go = !v->stop;
	pthread_mutex_unlock(&v->lock);
	return go;
}

static bool vmm_wants_out(struct vmm *v)
{
	bool out;

	pthread_mutex_lock(&v->lock);
	out = v->pause_req || v->stop;
	pthread_mutex_unlock(&v->lock);
	return out;
}

static void *vmm_vcpu_main(void *arg)
{
	struct vmm *v = arg;
	struct kvm_run *run = v->vm.run;
	__u32 val, *data;
	int err = 0;

	while (vmm_park(v)) {
		if (ioctl(v->vm.vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			perror("trustmig-vm: KVM_RUN");
			break;
		}
		if (run->exit_reason == KVM_EXIT_INTR)
			continue;
		if (run->exit_reason != KVM_EXIT_IO || run->io.size != 4 ||
		    run->io.count != 1) {
			tvm_report_exit(&v->vm, "trustmig-vm: unexpected exit");
			err = -EIO;
			break;
		}
		data = (__u32 *)((__u8 *)run + run->io.data_offset);
		if (run->io.port == TVM_WL_PORT_TICK &&
		    run->io.direction == KVM_EXIT_IO_IN) {
			val = vmm_tick(v);
			memcpy(data, &val, sizeof(val));
		} else if (run->io.port == TVM_WL_PORT_VERDICT &&
			   run->io.direction == KVM_EXIT_IO_OUT) {
			memcpy(&val, data, sizeof(val));
			vmm_got_verdict(v, val);
		} else {
			tvm_report_exit(&v->vm, "trustmig-vm: unexpected I/O");
			err = -EIO;
			break;
		}
		/* Saved state must not be in the middle of an IN or OUT. */
		if (vmm_wants_out(v)) {
			err = tvm_complete_io(&v->vm);
			if (err)
				break;
		}
	}

	pthread_mutex_lock(&v->lock);
	if (err) {
		v->err = err;
		v->stop = true;
	}
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

int vmm_start(struct vmm *v)
{
	sigset_t all, old;
	int ret;

	/* Signals are the main thread's business (operator commands). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = -pthread_create(&v->thread, NULL, vmm_vcpu_main, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret)
		v->thread_started = true;
	return ret;
}

int vmm_pause(struct vmm *v)
{
	int err;

	pthread_mutex_lock(&v->lock);
	v->pause_req = true;
	while (!v->paused && !v->stop)
		pthread_cond_wait(&v->cond, &v->lock);
	err = v->paused ? 0 : (v->err ? v->err : -ESRCH);
	pthread_mutex_unlock(&v->lock);
	return err;
}

void vmm_resume(struct vmm *v)
{
	pthread_mutex_lock(&v->lock);
	v->pause_req = false;
	v->last_tick = 0;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static int vmm_wait(struct vmm *v, bool *flag, double timeout)
{
	struct timespec ts;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)timeout;
	pthread_mutex_lock(&v->lock);
	while (!*flag && !v->stop && !err)
		err = pthread_cond_timedwait(&v->cond, &v->lock, &ts);
	if (!*flag)
		err = v->err ? v->err : (err ? -err : -ESRCH);
	pthread_mutex_unlock(&v->lock);
	return *flag ? 0 : err;
}

int vmm_wait_started(struct vmm *v, double timeout)
{
	return vmm_wait(v, &v->started, timeout);
}

/* Has the running guest check all its pages; waits for its verdict. */
int vmm_verify(struct vmm *v, struct tvm_wl_verdict *out)
{
	int err;

	pthread_mutex_lock(&v->lock);
	v->verdict_ready = false;
	v->verify_req = true;
	pthread_mutex_unlock(&v->lock);
	err = vmm_wait(v, &v->verdict_ready, 120);
	if (!err)
		*out = v->verdict;
	return err;
}

int vmm_report_verdict(const struct tvm_wl_verdict *vd)
{
	if (!vd->bad && !vd->flags) {
		fprintf(stderr,
			"trustmig-vm: guest verdict: all %u pages intact (%u writes)\n",
			vd->checked, vd->total);
		return TMVM_EXIT_OK;
	}
	fprintf(stderr,
		"trustmig-vm: guest verdict: CORRUPT: %u of %u pages bad (first data page %u), flags 0x%x\n",
		vd->bad, vd->checked, vd->first_bad, vd->flags);
	return TMVM_EXIT_CORRUPT;
}

/* ---- state records ---------------------------------------------------- */

struct st_buf {
	__u8 *p;
	size_t len, cap;
};

static void *st_add(struct st_buf *b, __u32 tag, size_t len)
{
	size_t need = sizeof(struct st_item) + ((len + 7) & ~7UL);
	struct st_item *it;

	if (b->len + need > b->cap)
		return NULL;
	it = (void *)(b->p + b->len);
	it->tag = tag;
	it->len = len;
	memset(it + 1, 0, need - sizeof(*it));
	b->len += need;
	return it + 1;
}

static int st_begin(struct st_buf *b, void *buf, size_t cap, __u16 kind)
{
	struct st_hdr *h = buf;

	if (cap < sizeof(*h))
		return -ENOSPC;
	b->p = buf;
	b->cap = cap;
	b->len = sizeof(*h);
	h->magic = ST_MAGIC;
	h->version = ST_VERSION;
	h->kind = kind;
	return 0;
}

int vmm_save_vm(struct vmm *v, void *buf, size_t cap, size_t *len)
{
	struct kvm_clock_data *clk;
	struct st_buf b;
	int err;

	err = st_begin(&b, buf, cap, ST_KIND_VM);
	if (err)
		return err;
	clk = st_add(&b, ST_CLOCK, sizeof(*clk));
	if (!clk)
		return -ENOSPC;
	if (ioctl(v->vm.vm_fd, KVM_GET_CLOCK, clk) < 0)
		return -errno;
	*len = b.len;
	return 0;
}

/* The MSRs of vmm_msrs[] that KVM can save and restore. */
static int vmm_msr_list(struct vmm *v, struct kvm_msrs *m)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	unsigned int i, j;
	int err = 0;

	if (ioctl(v->vm.kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 &&
	    errno != E2BIG)
		return -errno;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(__u32));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	if (ioctl(v->vm.kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		err = -errno;
		goto out;
	}
	m->nmsrs = 0;
	for (i = 0; i < VMM_NR_MSRS; i++)
		for (j = 0; j < list->nmsrs; j++)
			if (list->indices[j] == vmm_msrs[i]) {
				m->entries[m->nmsrs++].index = vmm_msrs[i];
				break;
			}
out:
	free(list);
	return err;
}

/* The XSAVE area: what KVM_GET_XSAVE2 writes and KVM_SET_XSAVE reads. */
static size_t vmm_xsave_size(struct vmm *v)
{
	int size = ioctl(v->vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	return size > (int)sizeof(struct kvm_xsave) ? (size_t)size :
						     sizeof(struct kvm_xsave);
}

/* One item of @size bytes, filled by the vCPU ioctl @ioc. */
static int st_get(struct st_buf *b, int fd, __u32 tag, unsigned long ioc,
		  size_t size)
{
	void *p = st_add(b, tag, size);

	if (!p)
		return -ENOSPC;
	return ioctl(fd, ioc, p) < 0 ? -errno : 0;
}

int vmm_save_vcpu(struct vmm *v, void *buf, size_t cap, size_t *len)
{
	int fd = v->vm.vcpu_fd, ret;
	struct kvm_msrs *msrs;
	size_t xsave_size;
	struct st_buf b;
	void *p;

	ret = st_begin(&b, buf, cap, ST_KIND_VCPU);
	if (ret)
		return ret;

	ret = st_get(&b, fd, ST_SREGS, KVM_GET_SREGS, sizeof(struct kvm_sregs));
	if (ret)
		return ret;
	ret = st_get(&b, fd, ST_REGS, KVM_GET_REGS, sizeof(struct kvm_regs));
	if (ret)
		return ret;

	if (ioctl(v->vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0) {
		xsave_size = vmm_xsave_size(v);
		p = st_add(&b, ST_XSAVE, xsave_size);
		if (!p)
			return -ENOSPC;
		if (ioctl(fd, xsave_size > sizeof(struct kvm_xsave) ?
			  KVM_GET_XSAVE2 : KVM_GET_XSAVE, p) < 0)
			return -errno;
	} else {
		ret = st_get(&b, fd, ST_FPU, KVM_GET_FPU,
			     sizeof(struct kvm_fpu));
		if (ret)
			return ret;
	}
	if (ioctl(v->vm.vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		ret = st_get(&b, fd, ST_XCRS, KVM_GET_XCRS,
			     sizeof(struct kvm_xcrs));
		if (ret)
			return ret;
	}

	msrs = st_add(&b, ST_MSRS, sizeof(*msrs) +
		      VMM_NR_MSRS * sizeof(struct kvm_msr_entry));
	if (!msrs)
		return -ENOSPC;
	ret = vmm_msr_list(v, msrs);
	if (ret)
		return ret;
	ret = ioctl(fd, KVM_GET_MSRS, msrs);
	if (ret < 0)
		return -errno;
	if ((__u32)ret != msrs->nmsrs)
		return -EIO;

	ret = st_get(&b, fd, ST_EVENTS, KVM_GET_VCPU_EVENTS,
		     sizeof(struct kvm_vcpu_events));
	if (!ret)
		ret = st_get(&b, fd, ST_DEBUGREGS, KVM_GET_DEBUGREGS,
			     sizeof(struct kvm_debugregs));
	if (ret)
		return ret;
	*len = b.len;
	return 0;
}

/* The order KVM wants: special registers first, events after MSRs. */
static const __u32 st_load_order[] = {
	ST_CLOCK, ST_SREGS, ST_REGS, ST_XCRS, ST_XSAVE, ST_FPU, ST_MSRS,
	ST_EVENTS, ST_DEBUGREGS,
};

/* What KVM_SET_* reads of each fixed-size item. */
static const size_t st_size[] = {
	[ST_REGS] = sizeof(struct kvm_regs),
	[ST_SREGS] = sizeof(struct kvm_sregs),
	[ST_XCRS] = sizeof(struct kvm_xcrs),
	[ST_EVENTS] = sizeof(struct kvm_vcpu_events),
	[ST_DEBUGREGS] = sizeof(struct kvm_debugregs),
	[ST_CLOCK] = sizeof(struct kvm_clock_data),
	[ST_FPU] = sizeof(struct kvm_fpu),
};

/* An item's bytes with their padding. */
static size_t st_space(__u32 len)
{
	return sizeof(struct st_item) + (((size_t)len + 7) & ~7UL);
}

/*
 * Whether an item of @tag holds exactly what its KVM_SET_* reads, so that
 * no ioctl takes the next item's bytes (or the record's end) as state.
 */
static int st_check_item(__u32 tag, const void *p, __u32 len)
{
	size_t want;
	__u32 nmsrs;

	switch (tag) {
	case ST_XSAVE:
		/* At least the legacy area and header; st_load_xsave() extends. */
		want = sizeof(struct kvm_xsave);
		if (len >= want)
			return 0;
		break;
	case ST_MSRS:
		want = sizeof(struct kvm_msrs);
		if (len >= want) {
			memcpy(&nmsrs, p, sizeof(nmsrs));
			want += (size_t)nmsrs * sizeof(struct kvm_msr_entry);
		}
		break;
	default:
		if (tag >= ARRAY_SIZE(st_size) || !st_size[tag])
			return 0;	/* unknown: skipped */
		want = st_size[tag];
	}
	if (len == want)
		return 0;
	fprintf(stderr,
		"trustmig-vm: state item %u has %u bytes where KVM reads %zu: refused\n",
		tag, len, want);
	return -EPROTO;
}

/* Every item whole and of its size, before KVM sees any of them. */
static int st_check(const __u8 *p, size_t len)
{
	const struct st_item *it;
	size_t off;
	int err;

	for (off = sizeof(struct st_hdr); off < len; off += st_space(it->len)) {
		it = (const void *)(p + off);
		if (len - off < sizeof(*it) ||
		    it->len > len - off - sizeof(*it)) {
			fprintf(stderr,
				"trustmig-vm: state record: an item at byte %zu runs past its end (%zu bytes)\n",
				off, len);
			return -EPROTO;
		}
		err = st_check_item(it->tag, it + 1, it->len);
		if (err)
			return err;
	}
	return 0;
}

/* KVM_SET_XSAVE reads KVM's whole area: a smaller one is zero-extended. */
static int st_load_xsave(struct vmm *v, const void *p, __u32 len)
{
	size_t size = vmm_xsave_size(v);
	void *area = calloc(1, size > len ? size : len);
	int err;

	if (!area)
		return -ENOMEM;
	memcpy(area, p, len);
	err = ioctl(v->vm.vcpu_fd, KVM_SET_XSAVE, area) < 0 ? -errno : 0;
	free(area);
	return err;
}

/* One item that st_check() passed. */
static int st_load_one(struct vmm *v, __u32 tag, void *p, __u32 len)
{
	int fd = v->vm.vcpu_fd, ret;
	struct kvm_clock_data *clk = p;
	struct kvm_msrs *msrs = p;

	switch (tag) {
	case ST_CLOCK:
		/* Advance by the time the VM was away, if the host can. */
		clk->flags &= KVM_CLOCK_REALTIME;
		return ioctl(v->vm.vm_fd, KVM_SET_CLOCK, clk) < 0 ? -errno : 0;
	case ST_SREGS:
		return ioctl(fd, KVM_SET_SREGS, p) < 0 ? -errno : 0;
	case ST_REGS:
		return ioctl(fd, KVM_SET_REGS, p) < 0 ? -errno : 0;
	case ST_XCRS:
		return ioctl(fd, KVM_SET_XCRS, p) < 0 ? -errno : 0;
	case ST_XSAVE:
		return st_load_xsave(v, p, len);
	case ST_FPU:
		return ioctl(fd, KVM_SET_FPU, p) < 0 ? -errno : 0;
	case ST_MSRS:
		ret = ioctl(fd, KVM_SET_MSRS, msrs);
		if (ret < 0)
			return -errno;
		return (__u32)ret == msrs->nmsrs ? 0 : -EIO;
	case ST_EVENTS:
		return ioctl(fd, KVM_SET_VCPU_EVENTS, p) < 0 ? -errno : 0;
	case ST_DEBUGREGS:
		return ioctl(fd, KVM_SET_DEBUGREGS, p) < 0 ? -errno : 0;
	}
	return 0;
}

int vmm_load_state(struct vmm *v, const void *buf, size_t len)
{
	struct st_item *it;
	struct st_hdr h;
	unsigned int k;
	size_t off;
	__u8 *copy;
	int err;

	if (len >= sizeof(h))
		memcpy(&h, buf, sizeof(h));
	if (len < sizeof(h) || h.magic != ST_MAGIC ||
	    h.version != ST_VERSION) {
		fprintf(stderr,
			"trustmig-vm: state record: no TVST version %u header\n",
			ST_VERSION);
		return -EPROTO;
	}
	/* Aligned, and writable: the ioctls take non-const pointers. */
	copy = malloc(len);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, buf, len);
	err = st_check(copy, len);
	for (k = 0; !err && k < ARRAY_SIZE(st_load_order); k++) {
		for (off = sizeof(h); off < len; off += st_space(it->len)) {
			it = (void *)(copy + off);
			if (it->tag != st_load_order[k])
				continue;
			err = st_load_one(v, it->tag, it + 1, it->len);
			if (err) {
				fprintf(stderr,
					"trustmig-vm: loading state item %u: %s\n",
					it->tag, strerror(-err));
				break;
			}
		}
	}
	free(copy);
	return err;
}
