/* Run a program as if its CPU had AVX2 but no AVX-512 (an AMD Zen 2's vector extensions), on a CPU that has
 * AVX-512, so that the libraries' own dispatch (ONNX Runtime's MLAS, oneDNN, OpenCV, NumPy) picks their AVX2
 * kernels. Loaded with LD_PRELOAD by run.sh beside this file (issue 26: the AVX2-only profile).
 *
 * How: Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID, the cpu flag `cpuid_fault`) makes every CPUID
 * instruction of the process raise SIGSEGV; the handler below runs the real CPUID with faulting briefly off,
 * clears the bits of the extensions an AVX2-only CPU lacks, and steps over the instruction. The setting is
 * inherited by threads and forks and dropped at exec. Only the instruction set is emulated: the clock, caches
 * and memory of a slower CPU are not.
 *
 * Programs that install their own SIGSEGV handler (Python's faulthandler, X servers, Ray) keep it: sigaction()
 * and signal() for SIGSEGV are answered here, and a fault that is not a CPUID goes on to the program's handler.
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* Leaf 7, sub-leaf 0. EBX: AVX512F, DQ, IFMA, CD, BW, VL. */
#define HIDDEN_7_0_EBX ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 28) | (1u << 30) | (1u << 31))
/* ECX: AVX512_VBMI, VBMI2, GFNI, VAES, VPCLMULQDQ, AVX512_VNNI, BITALG, VPOPCNTDQ. */
#define HIDDEN_7_0_ECX                                                                                         \
    ((1u << 1) | (1u << 6) | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 14))
/* EDX: AVX512_4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512_FP16, AMX-TILE, AMX-INT8. */
#define HIDDEN_7_0_EDX ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25))
/* Leaf 7, sub-leaf 1. EAX: AVX-VNNI, AVX512_BF16, AVX-IFMA. */
#define HIDDEN_7_1_EAX ((1u << 4) | (1u << 5) | (1u << 23))

static atomic_ulong cpuid_calls;
static struct sigaction program_action; /* the SIGSEGV handler the program asked for (zero: the default) */
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void set_faulting(int on) { syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1); }

static void to_program(int signal_number, siginfo_t *info, void *context) {
    if (program_action.sa_flags & SA_SIGINFO) {
        program_action.sa_sigaction(signal_number, info, context);
    } else if (program_action.sa_handler != SIG_DFL && program_action.sa_handler != SIG_IGN) {
        program_action.sa_handler(signal_number);
    } else { /* the default: the faulting instruction runs again and kills the process */
        struct sigaction fallback = {0};
        fallback.sa_handler = SIG_DFL;
        real_sigaction(SIGSEGV, &fallback, NULL);
    }
}

static void find_real_sigaction(void) {
    if (!real_sigaction)
        real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
}

int sigaction(int signal_number, const struct sigaction *action, struct sigaction *previous) {
    find_real_sigaction();
    if (signal_number != SIGSEGV) return real_sigaction(signal_number, action, previous);
    if (previous) *previous = program_action;
    if (action) program_action = *action;
    return 0;
}

sighandler_t signal(int signal_number, sighandler_t handler) {
    if (signal_number != SIGSEGV) {
        sighandler_t (*real_signal)(int, sighandler_t) = (sighandler_t(*)(int, sighandler_t))dlsym(RTLD_NEXT, "signal");
        return real_signal(signal_number, handler);
    }
    struct sigaction action = {0}, previous;
    action.sa_handler = handler;
    action.sa_flags = SA_RESTART;
    if (sigaction(signal_number, &action, &previous) != 0) return SIG_ERR;
    return previous.sa_handler;
}

static void on_cpuid_fault(int signal_number, siginfo_t *info, void *context) {
    greg_t *registers = ((ucontext_t *)context)->uc_mcontext.gregs;
    const uint8_t *instruction = (const uint8_t *)registers[REG_RIP];
    if (instruction[0] != 0x0f || instruction[1] != 0xa2) { /* a real fault: the program's to handle */
        to_program(signal_number, info, context);
        return;
    }
    uint32_t leaf = (uint32_t)registers[REG_RAX], subleaf = (uint32_t)registers[REG_RCX];
    uint32_t eax, ebx, ecx, edx;
    set_faulting(0);
    __cpuid_count(leaf, subleaf, eax, ebx, ecx, edx);
    set_faulting(1);
    if (leaf == 7 && subleaf == 0) {
        ebx &= ~HIDDEN_7_0_EBX;
        ecx &= ~HIDDEN_7_0_ECX;
        edx &= ~HIDDEN_7_0_EDX;
    } else if (leaf == 7 && subleaf == 1) {
        eax &= ~HIDDEN_7_1_EAX;
    }
    registers[REG_RAX] = eax;
    registers[REG_RBX] = ebx;
    registers[REG_RCX] = ecx;
    registers[REG_RDX] = edx;
    registers[REG_RIP] += 2;
    atomic_fetch_add(&cpuid_calls, 1);
}

static void report_calls(void) {
    if (getenv("HIDE_AVX512_REPORT"))
        fprintf(stderr, "hide_avx512: %lu CPUID instructions answered\n", atomic_load(&cpuid_calls));
}

__attribute__((constructor)) static void hide_avx512(void) {
    find_real_sigaction();
    struct sigaction action = {0};
    action.sa_sigaction = on_cpuid_fault;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (real_sigaction(SIGSEGV, &action, NULL) != 0 || syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "hide_avx512: this CPU or kernel has no CPUID faulting (cpu flag cpuid_fault)\n");
        _exit(2);
    }
    atexit(report_calls);
}
