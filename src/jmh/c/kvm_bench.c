/*
 * The C side of scripts/bench: the same KVM calls jkvm's JMH benchmarks make, timed in a plain loop.
 * Usage: kvm_bench GUEST.bin  (the pio_loop test guest, loaded at 0x100000 in 64-bit long mode)
 * Prints "name ns_per_op" lines: mean over 5 measured rounds after 2 warm-up rounds.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (16UL << 20)
#define CODE 0x100000UL

static void die(const char *what) { perror(what); exit(1); }

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static void flat_segment(struct kvm_segment *s, int code) {
    memset(s, 0, sizeof(*s));
    s->limit = 0xffffffff; s->present = 1; s->s = 1; s->g = 1;
    if (code) { s->selector = 0x08; s->type = 0xb; s->l = 1; }
    else { s->selector = 0x10; s->type = 0x3; s->db = 1; }
}

/* Long mode per jkvm's entry contract: GDT at 0x1000, PML4 0x2000, PDPT 0x3000, 2 MiB pages from 0x4000. */
static void long_mode(int vcpu, uint8_t *mem) {
    uint64_t *gdt = (uint64_t *)(mem + 0x1000);
    gdt[1] = 0x00af9a000000ffffULL;
    gdt[2] = 0x00cf92000000ffffULL;
    uint64_t *pml4 = (uint64_t *)(mem + 0x2000), *pdpt = (uint64_t *)(mem + 0x3000);
    pml4[0] = 0x3000 | 3;
    for (int d = 0; d < 4; d++) {
        uint64_t *pd = (uint64_t *)(mem + 0x4000 + d * 0x1000);
        pdpt[d] = (0x4000 + d * 0x1000) | 3;
        for (int e = 0; e < 512; e++) pd[e] = ((uint64_t)d << 30) + ((uint64_t)e << 21) + 0x83;
    }
    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    flat_segment(&sregs.cs, 1);
    flat_segment(&sregs.ds, 0);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = 0x1000; sregs.gdt.limit = 0x27;
    sregs.cr0 = 0x80050033; /* PG AM WP NE ET MP PE */
    sregs.cr3 = 0x2000;
    sregs.cr4 = 0x620;      /* PAE OSFXSR OSXMMEXCPT */
    sregs.efer = 0xd00;     /* NXE LMA LME */
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = { .rip = CODE, .rsp = MEM_SIZE, .rflags = 2 };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s pio_loop.bin\n", argv[0]); return 2; }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0UL);
    if (vm < 0) die("KVM_CREATE_VM");
    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    FILE *f = fopen(argv[1], "rb");
    if (!f) die(argv[1]);
    size_t n = fread(mem + CODE, 1, MEM_SIZE - CODE, f);
    fclose(f);
    if (n == 0) die("empty guest");
    struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
                                                  .userspace_addr = (uint64_t)mem };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0UL);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0UL);
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");
    struct { struct kvm_cpuid2 h; struct kvm_cpuid_entry2 e[256]; } cpuid = { .h.nent = 256 };
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, &cpuid) < 0) die("KVM_SET_CPUID2");
    long_mode(vcpu, mem);

    const long rounds = 7, warm = 2;
    volatile long sink = 0;
    double total;

    total = 0;
    for (long r = 0; r < rounds; r++) {
        long iters = 200000;
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) sink += ioctl(kvm, KVM_CHECK_EXTENSION, (unsigned long)KVM_CAP_XSAVE2);
        if (r >= warm) total += (now_ns() - t0) / iters;
    }
    printf("check_extension %.1f\n", total / (rounds - warm));

    total = 0;
    struct kvm_regs regs;
    for (long r = 0; r < rounds; r++) {
        long iters = 20000;
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
            sink += regs.rip;
        }
        if (r >= warm) total += (now_ns() - t0) / iters;
    }
    printf("get_regs %.1f\n", total / (rounds - warm));

    total = 0;
    int xsave_size = ioctl(vm, KVM_CHECK_EXTENSION, (unsigned long)KVM_CAP_XSAVE2);
    if (xsave_size < (int)sizeof(struct kvm_xsave)) xsave_size = sizeof(struct kvm_xsave);
    struct kvm_xsave *xsave = aligned_alloc(64, xsave_size);
    for (long r = 0; r < rounds; r++) {
        long iters = 20000;
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            if (ioctl(vcpu, KVM_GET_XSAVE2, xsave) < 0) die("KVM_GET_XSAVE2");
            if (ioctl(vcpu, KVM_SET_XSAVE, xsave) < 0) die("KVM_SET_XSAVE");
        }
        if (r >= warm) total += (now_ns() - t0) / iters;
    }
    printf("xsave_roundtrip %.1f\n", total / (rounds - warm));

    total = 0;
    long exits = 0;
    for (long r = 0; r < rounds; r++) {
        long iters = 20000;
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            if (ioctl(vcpu, KVM_RUN, 0UL) < 0) die("KVM_RUN");
            if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0x80) { fprintf(stderr, "unexpected exit %u\n", run->exit_reason); return 1; }
            sink += *((uint8_t *)run + run->io.data_offset);
            exits++;
        }
        if (r >= warm) total += (now_ns() - t0) / iters;
    }
    printf("pio_roundtrip %.1f\n", total / (rounds - warm));
    if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
    /* The guest counts an exit after it returns from it: the last one is not counted yet. */
    if ((long)regs.rax != exits - 1) { fprintf(stderr, "guest counted %lld exits, host %ld\n", (long long)regs.rax, exits); return 1; }
    return 0;
}
