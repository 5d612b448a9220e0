// What the engine asks the CPU and the kernel directly: cpuid leaves (Swift has no intrinsic for
// them) and the Linux AMX permission request (syscall(2) is variadic, which Swift cannot call).
#include <stdint.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <unistd.h>
#include <sys/syscall.h>
#endif

/// Registers of cpuid(leaf, subleaf) into out[0..3] = eax, ebx, ecx, edx; returns 0 when the
/// leaf is beyond the CPU's maximum (or the machine is not x86-64).
static inline int apo_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
#if defined(__x86_64__)
    return __get_cpuid_count(leaf, subleaf, &out[0], &out[1], &out[2], &out[3]);
#else
    out[0] = out[1] = out[2] = out[3] = 0;
    return 0;
#endif
}

/// XCR0, the register state the OS saves on context switch (AVX-512 needs its opmask/ZMM bits).
static inline uint64_t apo_xgetbv0(void) {
#if defined(__x86_64__)
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
#else
    return 0;
#endif
}

/// Asks Linux for permission to use the AMX tile data state (ARCH_REQ_XCOMP_PERM with
/// XFEATURE_XTILEDATA, kernel 5.16+). Returns 0 when granted, -1 when refused or unsupported.
static inline int apo_request_amx_permission(void) {
#if defined(__linux__) && defined(__x86_64__)
    return (int)syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */);
#else
    return -1;
#endif
}

/// The spin-wait hint (x86 `pause`, ARM `yield`): a thread polling a flag yields the core's
/// resources and saves power while it waits (ThreadTeam's hand-off).
static inline void apo_spin_pause(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}
