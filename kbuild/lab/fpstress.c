// SPDX-License-Identifier: GPL-2.0
/*
 * fpstress - does a kernel keep every task's x87/SSE/AVX/AVX-512 state intact?
 *
 * Written to prove User Mode Linux's FP/XSTATE handling (patches/uml/), but it
 * is an ordinary static x86-64 program and passes on any correct kernel.
 *
 * Build (on the host):  gcc -O2 -static -pthread -o fpstress fpstress.c
 * Run:                   ./fpstress        (exit 0 and "fpstress: PASS ..." or
 *                                           exit 1 naming the failed check)
 *
 * What it does, in NPROC forked workers with two threads each, while the
 * parent sends them SIGUSR1 (KICKS each at most) and, where the kernel has
 * setitimer (CONFIG_POSIX_TIMERS), an interval timer sends SIGALRM:
 *  - known-value computations: x87 (values kept on the x87 stack across
 *    system calls), SSE2, AVX2/FMA and, when the CPU has it, AVX-512 with
 *    mask registers; results are exact integers checked against closed forms;
 *  - register windows: load every register of the widest available set
 *    (x87 st0-7, FCW, MXCSR, xmm/ymm/zmm 0-15/0-31, k0-7) with per-thread
 *    random patterns, spin, fault in fresh pages and sched_yield (so other
 *    tasks, the kernel's fault path and signal handlers run), store them
 *    (into fresh pages: more faults) and compare;
 *  - the signal handlers (on a sigaltstack in each worker's main thread)
 *    check the stack alignment and the interrupted registers in the signal
 *    frame (uc_mcontext.fpregs, XSTATE offsets from CPUID 0xD), change some
 *    of them there (sigreturn must restore the changed values), then clobber
 *    every vector register, x87, FCW and MXCSR themselves;
 *  - fork+exec of itself (FP state after exec), glibc's string functions
 *    (AVX2/EVEX implementations) against byte loops, and ptrace
 *    PTRACE_GETFPREGS/PTRACE_GETREGSET of a stopped child (reported, not
 *    judged: see patches/README.md).
 * Every check is deterministic; how often a signal lands inside a window is
 * not, so that count is reported (and must not be zero).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define NPROC 4
#define ROUNDS 150		/* register windows per thread */
#define YIELDS 3		/* sched_yield calls inside a window */
#define SPIN 20000		/* busy loop between them */
#define KICKS 150		/* SIGUSR1s the parent sends each worker, at most */

/* ---------------------------------------------------------------- state */

enum level { LV_SSE, LV_AVX2, LV_AVX512 };
static const char *const level_name[] = { "sse2", "avx2", "avx512" };
static enum level level;
static int have_avx2, have_avx512;
static unsigned int xoff[8];	/* XSTATE component offsets (standard format) */
static unsigned int xstate_size;
static const char *self_path;

/* Everything the register windows load and store. */
struct img {
	uint8_t z[32][64];	/* zmm0-31; xmm = low 16 bytes, ymm = low 32 */
	uint64_t k[8];
	uint8_t x87[8][16];	/* st(i), 80-bit values in 16-byte slots */
	uint32_t mxcsr;
	uint16_t fcw;
} __attribute__((aligned(64)));

/* literal offsets, for the assembler strings below */
#define KO	2048
#define XO	2112
#define MXO	2240
#define FCWO	2244
_Static_assert(offsetof(struct img, k) == KO, "layout");
_Static_assert(offsetof(struct img, x87) == XO, "layout");
_Static_assert(offsetof(struct img, mxcsr) == MXO, "layout");
_Static_assert(offsetof(struct img, fcw) == FCWO, "layout");

/* shared between all processes */
struct stats {
	long windows, sigs, sigs_in_window, frame_checks, frame_mods;
	long misaligned_fpstate, exec_ok, string_ok, compute_ok, on_altstack;
	char failure[256];
};
static struct stats *st;

static __thread volatile int in_window;
static __thread struct img *volatile cur_expect;
static __thread char *alt_lo, *alt_hi;	/* this thread's sigaltstack */
static volatile sig_atomic_t handler_failed;
static char handler_msg[160];

static const uint16_t default_fcw = 0x037f;
static const uint32_t default_mxcsr = 0x1f80;

static void fail(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (st && !st->failure[0])
		snprintf(st->failure, sizeof(st->failure), "%s", buf);
	printf("fpstress: FAIL [pid %d] %s\n", getpid(), buf);
	fflush(stdout);
	exit(1);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void make_pattern(struct img *m, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	int i, j;

	memset(m, 0, sizeof(*m));
	for (i = 0; i < 32; i++)
		for (j = 0; j < 64; j += 8) {
			uint64_t v = xorshift(&s) | 1;	/* never all zero */
			memcpy(&m->z[i][j], &v, 8);
		}
	for (i = 0; i < 8; i++)
		m->k[i] = xorshift(&s) | 1;
	for (i = 0; i < 8; i++) {
		/* a normal 80-bit value: integer bit set, moderate exponent */
		uint64_t mant = xorshift(&s) | (1ull << 63);
		uint16_t se = (uint16_t)(0x3fff - 200 + xorshift(&s) % 400);

		if (xorshift(&s) & 1)
			se |= 0x8000;
		memcpy(&m->x87[i][0], &mant, 8);
		memcpy(&m->x87[i][8], &se, 2);
	}
	/* exceptions stay masked; vary flags, rounding, DAZ, FTZ */
	m->mxcsr = 0x1f80 | (xorshift(&s) & 0xe07f);
	/* exceptions masked; precision 24/53/64 bits; any rounding mode */
	{
		static const uint16_t pc[3] = { 0, 2, 3 };
		uint64_t r = xorshift(&s);

		m->fcw = 0x007f | (uint16_t)(pc[r % 3] << 8) | (uint16_t)(((r >> 8) & 3) << 10);
	}
}

/* ------------------------------------------------------- register windows */

#define S_(x) #x
#define S(x) S_(x)

#define X87_LOAD \
	"fldt " S(XO) "+7*16(%[in])\n\t" "fldt " S(XO) "+6*16(%[in])\n\t" \
	"fldt " S(XO) "+5*16(%[in])\n\t" "fldt " S(XO) "+4*16(%[in])\n\t" \
	"fldt " S(XO) "+3*16(%[in])\n\t" "fldt " S(XO) "+2*16(%[in])\n\t" \
	"fldt " S(XO) "+1*16(%[in])\n\t" "fldt " S(XO) "+0*16(%[in])\n\t" \
	"fldcw %c[fcwo](%[in])\n\t" "ldmxcsr %c[mxo](%[in])\n\t"
#define X87_STORE \
	"stmxcsr %c[mxo](%[out])\n\t" "fnstcw %c[fcwo](%[out])\n\t" \
	"fstpt " S(XO) "+0*16(%[out])\n\t" "fstpt " S(XO) "+1*16(%[out])\n\t" \
	"fstpt " S(XO) "+2*16(%[out])\n\t" "fstpt " S(XO) "+3*16(%[out])\n\t" \
	"fstpt " S(XO) "+4*16(%[out])\n\t" "fstpt " S(XO) "+5*16(%[out])\n\t" \
	"fstpt " S(XO) "+6*16(%[out])\n\t" "fstpt " S(XO) "+7*16(%[out])\n\t" \
	"fldcw %[dfcw]\n\t" "ldmxcsr %[dmx]\n\t"
/*
 * Spin, touch a fresh page (a page fault: UML runs a stub in the process to
 * learn the fault address) and yield, YIELDS times; a signal may arrive
 * anywhere in here.
 */
#define WINDOW \
	"movl $1, (%[flag])\n\t" \
	"mov %[ny], %%r8\n" \
	"1:\n\t" \
	"mov %[spin], %%r9\n" \
	"2:\n\t" \
	"dec %%r9\n\t" \
	"jnz 2b\n\t" \
	"mov %%r8, %%rax\n\t" \
	"shl $12, %%rax\n\t" \
	"movl $1, (%[touch], %%rax)\n\t" \
	"mov $24, %%eax\n\t"	/* __NR_sched_yield */ \
	"syscall\n\t" \
	"dec %%r8\n\t" \
	"jnz 1b\n\t" \
	"mov %[spin], %%r9\n" \
	"3:\n\t" \
	"dec %%r9\n\t" \
	"jnz 3b\n\t" \
	"movl $0, (%[flag])\n\t"
#define WIN_IN \
	[in] "r" (in), [out] "r" (out), [flag] "r" (&in_window), [touch] "r" (touch), \
	[ny] "r" ((long)YIELDS), [spin] "r" ((long)SPIN), \
	[fcwo] "i" (FCWO), [mxo] "i" (MXO), \
	[dfcw] "m" (default_fcw), [dmx] "m" (default_mxcsr)
#define WIN_CLOB \
	"rax", "rcx", "r11", "r8", "r9", "memory", "cc", \
	"st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", \
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

#define R16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) \
	M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define R32(M) R16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) \
	M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define R8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

#define XMM_LD(i) "movdqu " #i "*64(%[in]), %%xmm" #i "\n\t"
#define XMM_ST(i) "movdqu %%xmm" #i ", " #i "*64(%[out])\n\t"
#define YMM_LD(i) "vmovdqu " #i "*64(%[in]), %%ymm" #i "\n\t"
#define YMM_ST(i) "vmovdqu %%ymm" #i ", " #i "*64(%[out])\n\t"
#define ZMM_LD(i) "vmovdqu64 " #i "*64(%[in]), %%zmm" #i "\n\t"
#define ZMM_ST(i) "vmovdqu64 %%zmm" #i ", " #i "*64(%[out])\n\t"
#define K_LD(i) "kmovq " S(KO) "+" #i "*8(%[in]), %%k" #i "\n\t"
#define K_ST(i) "kmovq %%k" #i ", " S(KO) "+" #i "*8(%[out])\n\t"

static void window_sse(const struct img *in, struct img *out, void *touch)
{
	__asm__ volatile(X87_LOAD R16(XMM_LD) WINDOW R16(XMM_ST) X87_STORE
			 : : WIN_IN : WIN_CLOB);
}

__attribute__((target("avx2")))
static void window_avx2(const struct img *in, struct img *out, void *touch)
{
	__asm__ volatile(X87_LOAD R16(YMM_LD) WINDOW R16(YMM_ST) X87_STORE
			 "vzeroupper\n\t"
			 : : WIN_IN : WIN_CLOB);
}

__attribute__((target("avx512f,avx512bw")))
static void window_avx512(const struct img *in, struct img *out, void *touch)
{
	__asm__ volatile(X87_LOAD R32(ZMM_LD) R8(K_LD) WINDOW R32(ZMM_ST) R8(K_ST)
			 X87_STORE "vzeroupper\n\t"
			 : : WIN_IN : WIN_CLOB,
			 "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
			 "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",
			 "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

static int vec_bytes(void)
{
	return level == LV_SSE ? 16 : level == LV_AVX2 ? 32 : 64;
}

static int vec_regs(void)
{
	return level == LV_AVX512 ? 32 : 16;
}

static void compare_img(const struct img *want, const struct img *got, const char *what)
{
	const char *name = level == LV_SSE ? "xmm" : level == LV_AVX2 ? "ymm" : "zmm";
	int i;

	for (i = 0; i < vec_regs(); i++)
		if (memcmp(want->z[i], got->z[i], vec_bytes()))
			fail("%s: %s%d changed (%s)", what, name, i,
			     memcmp(want->z[i], got->z[i], 16) ? "low 128 bits" : "upper bits");
	if (level == LV_AVX512)
		for (i = 0; i < 8; i++)
			if (want->k[i] != got->k[i])
				fail("%s: k%d changed: want %#llx got %#llx", what, i,
				     (unsigned long long)want->k[i], (unsigned long long)got->k[i]);
	for (i = 0; i < 8; i++)
		if (memcmp(want->x87[i], got->x87[i], 10))
			fail("%s: x87 st(%d) changed", what, i);
	if (want->mxcsr != got->mxcsr)
		fail("%s: MXCSR want %#x got %#x", what, want->mxcsr, got->mxcsr);
	if (want->fcw != got->fcw)
		fail("%s: x87 control word want %#x got %#x", what, want->fcw, got->fcw);
}

static void run_window(uint64_t seed, const char *what)
{
	/* fresh pages: storing the registers afterwards faults too */
	size_t got_len = (sizeof(struct img) + 4095) & ~4095ul;
	size_t touch_len = (YIELDS + 1) * 4096;
	struct img *want = aligned_alloc(64, sizeof(struct img));
	struct img *got = mmap(NULL, got_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *touch = mmap(NULL, touch_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!want || got == MAP_FAILED || touch == MAP_FAILED)
		fail("out of memory");
	make_pattern(want, seed);
	cur_expect = want;	/* the handler may change the frame and this */
	switch (level) {
	case LV_SSE: window_sse(want, got, touch); break;
	case LV_AVX2: window_avx2(want, got, touch); break;
	case LV_AVX512: window_avx512(want, got, touch); break;
	}
	cur_expect = NULL;
	if (handler_failed)
		fail("in a signal handler: %s", handler_msg);
	compare_img(want, got, what);
	__atomic_add_fetch(&st->windows, 1, __ATOMIC_RELAXED);
	free(want);
	munmap(got, got_len);
	munmap(touch, touch_len);
}

/* ------------------------------------------------------------- signals */

static void hfail(const char *msg)
{
	if (!handler_failed) {
		snprintf(handler_msg, sizeof(handler_msg), "%s", msg);
		handler_failed = 1;
	}
}

/*
 * The interrupted thread had exactly *want in its registers. Check the
 * frame, then flip bits in a few registers both in the frame and in *want:
 * sigreturn has to restore what the frame says.
 */
#define HFAIL(msg) do { hfail(msg); return; } while (0)

static void check_frame(uint8_t *fx, struct img *want)
{
	uint64_t xstate_bv;
	uint16_t fcw;
	uint32_t mxcsr;
	int i;

	memcpy(&fcw, fx + 0, 2);
	memcpy(&mxcsr, fx + 24, 4);
	if (fcw != want->fcw)
		HFAIL("signal frame: x87 control word is not the interrupted one");
	if (mxcsr != want->mxcsr)
		HFAIL("signal frame: MXCSR is not the interrupted one");
	for (i = 0; i < 8; i++)
		if (memcmp(fx + 32 + 16 * i, want->x87[i], 10))
			HFAIL("signal frame: an x87 register is not the interrupted one");
	for (i = 0; i < 16; i++)
		if (memcmp(fx + 160 + 16 * i, want->z[i], 16))
			HFAIL("signal frame: an xmm register is not the interrupted one");
	/* flip xmm7 (low 128 bits) */
	for (i = 0; i < 16; i++) {
		fx[160 + 16 * 7 + i] ^= 0x5a;
		want->z[7][i] ^= 0x5a;
	}
	if (level == LV_SSE)
		goto done;

	memcpy(&xstate_bv, fx + 512, 8);
	if (!(xstate_bv & 4))
		HFAIL("signal frame: XSTATE header says no AVX state");
	for (i = 0; i < 16; i++)
		if (memcmp(fx + xoff[2] + 16 * i, &want->z[i][16], 16))
			HFAIL("signal frame: a ymm upper half is not the interrupted one");
	for (i = 0; i < 16; i++) {	/* flip ymm9's upper half */
		fx[xoff[2] + 16 * 9 + i] ^= 0xc3;
		want->z[9][16 + i] ^= 0xc3;
	}
	if (level == LV_SSE || level == LV_AVX2)
		goto done;

	if ((xstate_bv & 0xe0) != 0xe0)
		HFAIL("signal frame: XSTATE header lacks AVX-512 state");
	for (i = 0; i < 8; i++)
		if (memcmp(fx + xoff[5] + 8 * i, &want->k[i], 8))
			HFAIL("signal frame: a k register is not the interrupted one");
	for (i = 0; i < 16; i++)
		if (memcmp(fx + xoff[6] + 32 * i, &want->z[i][32], 32))
			HFAIL("signal frame: a zmm0-15 upper half is not the interrupted one");
	for (i = 0; i < 16; i++)
		if (memcmp(fx + xoff[7] + 64 * i, want->z[16 + i], 64))
			HFAIL("signal frame: a zmm16-31 is not the interrupted one");
	for (i = 0; i < 64; i++) {	/* flip zmm21, zmm3's top and k3 */
		fx[xoff[7] + 64 * 5 + i] ^= 0x3c;
		want->z[21][i] ^= 0x3c;
	}
	for (i = 0; i < 32; i++) {
		fx[xoff[6] + 32 * 3 + i] ^= 0x99;
		want->z[3][32 + i] ^= 0x99;
	}
	{
		uint64_t k3;

		memcpy(&k3, fx + xoff[5] + 8 * 3, 8);
		k3 ^= 0xf0f0f0f0f0f0f0f0ull;
		memcpy(fx + xoff[5] + 8 * 3, &k3, 8);
		want->k[3] ^= 0xf0f0f0f0f0f0f0f0ull;
	}
done:
	__atomic_add_fetch(&st->frame_mods, 1, __ATOMIC_RELAXED);
}

static const uint8_t junk[32 * 64] __attribute__((aligned(64))) = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3 };
static const uint32_t junk_mxcsr = 0x7f80 | 0x3f;	/* round to zero, flags set */
static const uint16_t junk_fcw = 0x0c7f;		/* truncate */
static const uint64_t junk_k = 0x0123456789abcdefull;

static void clobber_sse(void)
{
	__asm__ volatile("fninit\n\t" "fldpi\n\t" "fld1\n\t" "fldl2e\n\t" "fldln2\n\t"
			 "fldpi\n\t" "fld1\n\t" "fldlg2\n\t" "fldz\n\t"
			 "fldcw %[fcw]\n\t" "ldmxcsr %[mx]\n\t"
#define XMM_J(i) "movdqa " #i "*16+%[j], %%xmm" #i "\n\t"
			 R16(XMM_J)
			 "addps %%xmm1, %%xmm2\n\t" "mulpd %%xmm3, %%xmm4\n\t"
			 : : [j] "m" (junk), [fcw] "m" (junk_fcw), [mx] "m" (junk_mxcsr)
			 : "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",
			 "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

__attribute__((target("avx2,fma")))
static void clobber_avx2(void)
{
	clobber_sse();
	__asm__ volatile(
#define YMM_J(i) "vmovdqa " #i "*32+%[j], %%ymm" #i "\n\t"
			 R16(YMM_J)
			 "vfmadd231pd %%ymm1, %%ymm2, %%ymm3\n\t"
			 : : [j] "m" (junk)
			 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

__attribute__((target("avx512f,avx512bw")))
static void clobber_avx512(void)
{
	clobber_sse();
	__asm__ volatile(
#define ZMM_J(i) "vmovdqa64 " #i "*64+%[j], %%zmm" #i "\n\t"
			 R32(ZMM_J)
#define K_J(i) "kmovq %[k], %%k" #i "\n\t"
			 R8(K_J)
			 "vpaddq %%zmm1, %%zmm2, %%zmm3%{%%k1%}\n\t"
			 : : [j] "m" (junk), [k] "m" (junk_k)
			 : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
			 "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23",
			 "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31",
			 "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

static void handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	int saved_errno = errno;
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);

	(void)sig;
	(void)si;
	/* entered as if called: (sp + 8) % 16 == 0, so after "push %rbp" ... */
	if (fp % 16)
		hfail("signal handler entered with a misaligned stack");
	if (alt_lo) {
		if ((char *)fp < alt_lo || (char *)fp >= alt_hi)
			hfail("SA_ONSTACK handler is not on the alternate signal stack");
		else
			__atomic_add_fetch(&st->on_altstack, 1, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&st->sigs, 1, __ATOMIC_RELAXED);
	if (!uc->uc_mcontext.fpregs) {
		hfail("signal frame without FP state (uc_mcontext.fpregs is NULL)");
	} else {
		if ((uintptr_t)uc->uc_mcontext.fpregs % 64)
			__atomic_add_fetch(&st->misaligned_fpstate, 1, __ATOMIC_RELAXED);
		if (in_window && cur_expect) {
			__atomic_add_fetch(&st->sigs_in_window, 1, __ATOMIC_RELAXED);
			check_frame((uint8_t *)uc->uc_mcontext.fpregs, cur_expect);
			__atomic_add_fetch(&st->frame_checks, 1, __ATOMIC_RELAXED);
		}
	}
	/* now wreck everything; the kernel has to put it back */
	switch (level) {
	case LV_SSE: clobber_sse(); break;
	case LV_AVX2: clobber_avx2(); break;
	case LV_AVX512: clobber_avx512(); break;
	}
	errno = saved_errno;
}

static void install_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	/* SA_ONSTACK: threads with a sigaltstack (worker main threads) use it */
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	/* no nesting: in_window describes the code a handler interrupted */
	sigfillset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGALRM, &sa, NULL))
		fail("sigaction: %s", strerror(errno));
}

static int have_itimer = 1;

/* Kernels without CONFIG_POSIX_TIMERS lack setitimer: then only SIGUSR1. */
static void set_timer(long usec)
{
	struct itimerval it = { { 0, usec }, { 0, usec } };

	if (setitimer(ITIMER_REAL, &it, NULL)) {
		if (errno != ENOSYS)
			fail("setitimer: %s", strerror(errno));
		have_itimer = 0;
	}
}

/* --------------------------------------------------- known-value checks */

/* 3^39 on the x87 stack, one multiplication per system call */
static void check_x87(void)
{
	int64_t r = 0;
	long i;

	__asm__ volatile("fninit\n\t"
			 "fld1\n\t"			/* st0 = 1 */
			 "fildl %[three]\n\t"		/* st0 = 3, st1 = product */
			 "mov $39, %%r8\n"
			 "1:\n\t"
			 "fmul %%st(0), %%st(1)\n\t"
			 "mov $24, %%eax\n\t"
			 "syscall\n\t"
			 "dec %%r8\n\t"
			 "jnz 1b\n\t"
			 "fstp %%st(0)\n\t"
			 "fistpll %[r]\n\t"
			 : [r] "=m" (r)
			 : [three] "m" ((int32_t){3})
			 : "rax", "rcx", "r11", "r8", "memory", "cc",
			 "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");
	if (r != 4052555153018976267LL)
		fail("x87: 3^39 = %lld, want 4052555153018976267", (long long)r);

	/* and sum 1..n in long double, through the C compiler's x87 code */
	{
		volatile long double s = 0;

		for (i = 1; i <= 20000; i++) {
			s += (long double)i;
			if (i % 2000 == 0)
				sched_yield();
		}
		if (s != 200010000.0L)
			fail("x87: sum 1..20000 = %Lf", s);
	}
}

static void check_sse2(void)
{
	__m128d acc = _mm_setzero_pd();
	__m128i iacc = _mm_setzero_si128();
	double out[2];
	uint32_t iout[4];
	long i;

	for (i = 1; i <= 4000; i += 2) {
		__m128d v = _mm_set_pd((double)(i + 1), (double)i);

		acc = _mm_add_pd(acc, _mm_mul_pd(v, v));
		iacc = _mm_add_epi32(iacc, _mm_set1_epi32((int)i));
		if (i % 401 == 0)
			sched_yield();
	}
	_mm_storeu_pd(out, acc);
	_mm_storeu_si128((__m128i *)iout, iacc);
	/* sum of squares 1..4000 = 4000*4001*8001/6 */
	if (out[0] + out[1] != 21341334000.0)
		fail("sse2: sum of squares = %.1f", out[0] + out[1]);
	/* sum of odd numbers below 4000 = 2000^2 */
	if (iout[0] != 4000000u || iout[3] != 4000000u)
		fail("sse2: integer lanes %u %u", iout[0], iout[3]);
}

__attribute__((target("avx2,fma")))
static void check_avx2(void)
{
	__m256d acc = _mm256_setzero_pd();
	__m256i iacc = _mm256_setzero_si256();
	double out[4];
	uint32_t iout[8];
	long i;
	int l;

	for (i = 0; i < 2000; i++) {
		__m256d v = _mm256_set_pd(4.0 * i + 4, 4.0 * i + 3, 4.0 * i + 2, 4.0 * i + 1);
		__m256i w = _mm256_set1_epi32((int)i);

		acc = _mm256_fmadd_pd(v, v, acc);			/* sum of squares */
		iacc = _mm256_add_epi32(iacc, _mm256_mullo_epi32(w, w));
		if (i % 333 == 0)
			sched_yield();
	}
	_mm256_storeu_pd(out, acc);
	_mm256_storeu_si256((__m256i *)iout, iacc);
	/* 1..8000 squared: 8000*8001*16001/6 */
	if (out[0] + out[1] + out[2] + out[3] != 170698668000.0)
		fail("avx2/fma: sum of squares = %.1f", out[0] + out[1] + out[2] + out[3]);
	for (l = 0; l < 8; l++)	/* sum i^2, i < 2000 = 1999*2000*3999/6 */
		if (iout[l] != 2664667000u)
			fail("avx2: lane %d = %u, want 2664667000", l, iout[l]);
}

__attribute__((target("avx512f,avx512bw")))
static void check_avx512(void)
{
	__m512d acc = _mm512_setzero_pd();
	__m512i iacc = _mm512_setzero_si512();
	__mmask16 even = 0x5555;
	double out[8], sum = 0;
	uint32_t iout[16];
	long i;
	int l;

	for (i = 0; i < 1000; i++) {
		__m512d v = _mm512_add_pd(_mm512_set1_pd(8.0 * i + 1),
					  _mm512_set_pd(7, 6, 5, 4, 3, 2, 1, 0));
		__m512i w = _mm512_set1_epi32((int)i);

		acc = _mm512_fmadd_pd(v, v, acc);
		/* only even lanes accumulate */
		iacc = _mm512_mask_add_epi32(iacc, even, iacc, _mm512_mullo_epi32(w, w));
		if (i % 167 == 0)
			sched_yield();
	}
	_mm512_storeu_pd(out, acc);
	_mm512_storeu_si512(iout, iacc);
	for (l = 0; l < 8; l++)
		sum += out[l];
	if (sum != 170698668000.0)	/* 1..8000 squared */
		fail("avx512: sum of squares = %.1f", sum);
	for (l = 0; l < 16; l++) {	/* sum i^2, i < 1000 = 332833500 */
		uint32_t want = (l % 2 == 0) ? 332833500u : 0;

		if (iout[l] != want)
			fail("avx512: masked lane %d = %u, want %u", l, iout[l], want);
	}
}

static void check_compute(void)
{
	check_x87();
	check_sse2();
	if (have_avx2)
		check_avx2();
	if (have_avx512)
		check_avx512();
	__atomic_add_fetch(&st->compute_ok, 1, __ATOMIC_RELAXED);
}

/* ------------------------------------------------ glibc string functions */

static void check_strings(uint64_t seed)
{
	static uint8_t a[4200], b[4200], c[4200];
	uint64_t s = seed | 1;
	size_t len, i;
	int off;

	for (i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(xorshift(&s) % 255 + 1);	/* no NUL */
	for (len = 0; len < 1100; len += 1 + len / 8) {
		for (off = 0; off < 64; off += 7) {
			size_t n;

			memset(b, 0xee, sizeof(b));
			memcpy(b + off, a + 3, len);
			for (i = 0; i < len; i++)
				if (b[off + i] != a[3 + i])
					fail("glibc memcpy(len %zu, off %d) wrong at %zu", len, off, i);
			if (b[off + len] != 0xee || (off && b[off - 1] != 0xee))
				fail("glibc memcpy(len %zu) wrote outside", len);
			if (memcmp(b + off, a + 3, len))
				fail("glibc memcmp(len %zu) says different", len);
			if (len) {
				b[off + len - 1] ^= 1;
				if (!memcmp(b + off, a + 3, len))
					fail("glibc memcmp(len %zu) missed a difference", len);
				b[off + len - 1] ^= 1;
			}
			/* strlen / strchr */
			memcpy(c, a, sizeof(c));
			c[off + len] = 0;
			n = strlen((char *)c + off);
			if (n != len)
				fail("glibc strlen = %zu, want %zu", n, len);
			{
				uint8_t ch = a[(len * 7) % sizeof(a)];
				char *want = NULL, *got;

				for (i = 0; i < len; i++)
					if (c[off + i] == ch) {
						want = (char *)c + off + i;
						break;
					}
				got = strchr((char *)c + off, ch);
				if (got != want)
					fail("glibc strchr(len %zu) = %p, want %p", len, got, want);
			}
			/* overlapping memmove both ways */
			memcpy(c, a, sizeof(c));
			memmove(c + off + 5, c + off, len);
			for (i = 0; i < len; i++)
				if (c[off + 5 + i] != a[off + i])
					fail("glibc memmove up(len %zu) wrong at %zu", len, i);
			memcpy(c, a, sizeof(c));
			memmove(c + off, c + off + 9, len);
			for (i = 0; i < len; i++)
				if (c[off + i] != a[off + 9 + i])
					fail("glibc memmove down(len %zu) wrong at %zu", len, i);
			memset(c + off, 0x42, len);
			for (i = 0; i < len; i++)
				if (c[off + i] != 0x42)
					fail("glibc memset(len %zu) wrong at %zu", len, i);
		}
		if (len % 64 == 0)
			sched_yield();
	}
	__atomic_add_fetch(&st->string_ok, 1, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------- the workers */

struct targ {
	int id;
};

static void *thread_main(void *p)
{
	struct targ *t = p;
	char what[64];
	int r;

	for (r = 0; r < ROUNDS; r++) {
		snprintf(what, sizeof(what), "worker %d thread %d round %d", t->id / 2,
			 t->id % 2, r);
		run_window(((uint64_t)t->id << 32) + r + 1, what);
		if (r % 50 == 25)
			check_compute();
	}
	return NULL;
}

static void exec_self(void)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		char *argv[] = { (char *)self_path, "--exec-child", NULL };

		execv(self_path, argv);
		printf("fpstress: FAIL exec %s: %s\n", self_path, strerror(errno));
		_exit(1);
	}
	if (waitpid(pid, &status, 0) != pid)
		fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("exec'd child failed (status %#x)", status);
	__atomic_add_fetch(&st->exec_ok, 1, __ATOMIC_RELAXED);
}

/* The frame (with the whole XSTATE area) must fit and stay inside. */
static void use_altstack(void)
{
	size_t len = 256 * 1024;
	stack_t ss;

	ss.ss_sp = malloc(len);
	ss.ss_size = len;
	ss.ss_flags = 0;
	if (!ss.ss_sp || sigaltstack(&ss, NULL))
		fail("sigaltstack: %s", strerror(errno));
	alt_lo = ss.ss_sp;
	alt_hi = alt_lo + len;
}

static void worker(int id)
{
	pthread_t th;
	struct targ t0 = { 2 * id }, t1 = { 2 * id + 1 };

	install_handlers();
	use_altstack();		/* this thread only, not the second one */
	set_timer(997 + 13 * id);
	if (pthread_create(&th, NULL, thread_main, &t1))
		fail("pthread_create failed");
	check_compute();
	thread_main(&t0);
	if (pthread_join(th, NULL))
		fail("pthread_join failed");
	check_strings(id + 77);
	exec_self();
	set_timer(0);
	exit(0);
}

/* Entry for "fpstress --exec-child": FP state right after execve. */
static int exec_child(void)
{
	uint16_t fcw;
	uint32_t mxcsr;

	__asm__ volatile("fnstcw %0\n\tstmxcsr %1" : "=m" (fcw), "=m" (mxcsr));
	if (fcw != 0x037f) {
		printf("fpstress: FAIL after exec: x87 control word %#x, want 0x37f\n", fcw);
		return 1;
	}
	if ((mxcsr & ~0x3fu) != 0x1f80) {
		printf("fpstress: FAIL after exec: MXCSR %#x, want 0x1f80\n", mxcsr);
		return 1;
	}
	run_window(0xe8ec, "after exec");
	check_compute();
	return 0;
}

/* ---------------------------------------------------------------- ptrace */

/*
 * A traced child stops with known xmm/ymm values; the parent reads them with
 * PTRACE_GETFPREGS and PTRACE_GETREGSET(NT_X86_XSTATE). Reported only: UML
 * 6.1 answers these from the wrong host process (see patches/README.md).
 */
static void ptrace_probe(char *out, size_t outlen)
{
	struct img *want = aligned_alloc(64, sizeof(struct img));
	struct img *got = aligned_alloc(64, sizeof(struct img));
	struct user_fpregs_struct fpr;
	static uint8_t xs[16384] __attribute__((aligned(64)));
	struct iovec iov = { xs, sizeof(xs) };
	int status, fpregs_ok = 0, xstate_ok = 0, child_ok = 0;
	long r1, r2;
	pid_t pid;

	make_pattern(want, 0x77ace);
	pid = fork();
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		/* load xmm, stop ourselves (kill(getpid(), SIGSTOP)), store */
		__asm__ volatile(R16(XMM_LD)
				 "mov $39, %%eax\n\t" "syscall\n\t"
				 "mov %%eax, %%edi\n\t" "mov $19, %%esi\n\t"
				 "mov $62, %%eax\n\t" "syscall\n\t"
				 R16(XMM_ST)
				 : : [in] "r" (want), [out] "r" (got)
				 : "rax", "rcx", "rdx", "rsi", "rdi", "r11", "memory",
				 "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
				 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
				 "xmm15");
		for (int i = 0; i < 16; i++)
			if (memcmp(want->z[i], got->z[i], 16))
				_exit(2);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		snprintf(out, outlen, "ptrace: child did not stop");
		return;
	}
	memset(&fpr, 0, sizeof(fpr));
	r1 = ptrace(PTRACE_GETFPREGS, pid, 0, &fpr);
	if (r1 == 0) {
		fpregs_ok = 1;
		for (int i = 0; i < 16; i++)
			if (memcmp((uint8_t *)fpr.xmm_space + 16 * i, want->z[i], 16))
				fpregs_ok = 0;
	}
	r2 = ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov);
	if (r2 == 0) {
		xstate_ok = 1;
		for (int i = 0; i < 16; i++)
			if (memcmp(xs + 160 + 16 * i, want->z[i], 16))
				xstate_ok = 0;
	}
	ptrace(PTRACE_CONT, pid, 0, 0);
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		child_ok = 1;
	else
		fail("ptrace: the traced child's xmm registers changed across its ptrace stop");
	snprintf(out, outlen, "ptrace: GETFPREGS %s, GETREGSET(XSTATE) %s, tracee intact %s",
		 r1 ? strerror(errno) : fpregs_ok ? "matches" : "MISMATCH",
		 r2 ? "unsupported" : xstate_ok ? "matches" : "MISMATCH",
		 child_ok ? "yes" : "no");
	free(want);
	free(got);
}

/* ----------------------------------------------------------------- main */

static void detect(void)
{
	unsigned int a, b, c, d, i;

	__builtin_cpu_init();
	/* __builtin_cpu_supports also checks XCR0, i.e. that the OS enabled it */
	have_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	have_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
	level = have_avx512 ? LV_AVX512 : have_avx2 ? LV_AVX2 : LV_SSE;
	if (__get_cpuid_count(0xd, 0, &a, &b, &c, &d)) {
		xstate_size = b;
		for (i = 2; i < 8; i++) {
			__cpuid_count(0xd, i, a, b, c, d);
			xoff[i] = b;
		}
	}
}

int main(int argc, char **argv)
{
	struct timespec t0, t1, pause = { 0, 1000000 };
	pid_t pids[NPROC];
	char ptrace_msg[200];
	int i, status, alive, kicks, failed = 0;

	self_path = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	st = mmap(NULL, sizeof(*st), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		return 1;
	memset(st, 0, sizeof(*st));
	detect();
	if (argc > 1 && !strcmp(argv[1], "--exec-child"))
		return exec_child();
	if (self_path[0] != '/') {
		fprintf(stderr, "fpstress: run me by absolute path (for the exec test)\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	set_timer(0);	/* probe: setitimer may be missing */
	printf("fpstress: level %s (avx2 %d, avx512 %d), CPUID XSTATE size %u bytes, %d workers x 2 threads x %d windows\n",
	       level_name[level], have_avx2, have_avx512, xstate_size, NPROC, ROUNDS);

	/* the known values, once, before anything runs concurrently */
	check_compute();
	check_strings(1);

	install_handlers();
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			fail("fork: %s", strerror(errno));
		if (pids[i] == 0)
			worker(i);
	}
	/* interrupt them (a bounded number of times) until they are done */
	alive = NPROC;
	for (kicks = 0; alive; kicks++) {
		for (i = 0; i < NPROC; i++) {
			if (!pids[i])
				continue;
			if (kicks < KICKS)
				kill(pids[i], SIGUSR1);
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				if (!WIFEXITED(status) || WEXITSTATUS(status)) {
					printf("fpstress: worker %d failed (%s %d)\n", i,
					       WIFEXITED(status) ? "exit" : "signal",
					       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
					failed = 1;
				}
				pids[i] = 0;
				alive--;
			}
		}
		nanosleep(&pause, NULL);
	}
	/* the parent's own registers went through all those switches too */
	run_window(0xfeed, "parent");
	check_compute();
	ptrace_probe(ptrace_msg, sizeof(ptrace_msg));
	if (handler_failed)
		fail("in a signal handler: %s", handler_msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (failed) {
		printf("fpstress: FAIL %s\n", st->failure[0] ? st->failure : "a worker failed");
		return 1;
	}
	if (st->exec_ok != NPROC || st->string_ok != NPROC + 1)
		fail("not every worker finished (exec %ld, strings %ld)", st->exec_ok, st->string_ok);
	if (st->frame_checks == 0)
		fail("coverage: no signal arrived inside a register window (%ld signals)", st->sigs);
	printf("fpstress: %s\n", ptrace_msg);
	printf("fpstress: PASS level=%s windows=%ld signals=%ld (itimer %s, on altstack %ld) "
	       "in-window=%ld frame-checked=%ld frame-modified=%ld compute=%ld strings=%ld exec=%ld "
	       "fpstate-not-64-aligned=%ld time=%.2fs\n",
	       level_name[level], st->windows, st->sigs, have_itimer ? "on" : "off",
	       st->on_altstack, st->sigs_in_window, st->frame_checks,
	       st->frame_mods, st->compute_ok, st->string_ok, st->exec_ok, st->misaligned_fpstate,
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
