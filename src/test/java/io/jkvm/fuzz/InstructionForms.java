package io.jkvm.fuzz;

import java.util.List;

/**
 * The instructions the hostile guests use on MMIO and on the machine's system state, each with where it faults or
 * KVM refuses it, as measured on this project's hosts, so a guest picks a faulting one only now and then (a fault
 * ends it with status 2 before the rest of it runs).
 */
final class InstructionForms {
    private InstructionForms() {
    }

    /**
     * An instruction with a memory operand M (or A: 64-byte aligned), and where it faults or KVM refuses it whatever
     * the address, as measured here: KVM's instruction emulator (which kvm_pvm runs every CPL0 instruction through)
     * lacks most SSE forms, POPCNT, CRC32 and CMPXCHG16B; the software core has no MOVNTI, MOVNTDQ or SMSW.
     */
    record Form(String asm, boolean failsOnKvm, boolean failsOnCore) {
        Form(String asm) {
            this(asm, false, false);
        }
    }

    private static Form kvmFails(String asm) {
        return new Form(asm, true, false);
    }

    private static Form coreFails(String asm) {
        return new Form(asm, false, true);
    }

    static final List<Form> MMIO_FORMS = List.of(
            new Form("mov al, byte ptr M"), new Form("mov ax, word ptr M"), new Form("mov eax, dword ptr M"),
            new Form("mov rax, qword ptr M"), new Form("movzx eax, word ptr M"), new Form("movsx rax, byte ptr M"),
            new Form("movsxd rax, dword ptr M"), new Form("movdqu xmm0, xmmword ptr M"), kvmFails("movq xmm1, qword ptr M"),
            kvmFails("movd xmm1, dword ptr M"), new Form("cmp qword ptr M, rax"), new Form("test dword ptr M, 0x55"),
            new Form("bt qword ptr M, 5"), new Form("add rax, qword ptr M"), new Form("imul rax, qword ptr M"),
            kvmFails("crc32 eax, byte ptr M"), new Form("mov byte ptr M, 0x5a"), new Form("mov word ptr M, 0x1234"),
            new Form("mov dword ptr M, 0x12345678"), new Form("mov qword ptr M, -2"), new Form("mov qword ptr M, rax"),
            coreFails("movnti qword ptr M, rax"), new Form("movdqu xmmword ptr M, xmm0"), kvmFails("movq qword ptr M, xmm0"),
            kvmFails("movd dword ptr M, xmm1"), new Form("setnz byte ptr M"), new Form("xchg qword ptr M, rcx"),
            new Form("lock xadd dword ptr M, eax"), new Form("lock cmpxchg qword ptr M, rcx"), new Form("lock add qword ptr M, 1"),
            new Form("lock or byte ptr M, 1"), new Form("inc word ptr M"), new Form("neg dword ptr M"), new Form("not qword ptr M"),
            new Form("shl qword ptr M, 3"), new Form("rol dword ptr M, cl"), new Form("adc qword ptr M, rax"),
            new Form("sbb word ptr M, ax"), new Form("bts qword ptr M, 7"), new Form("lock btc dword ptr M, 3"),
            new Form("cmpxchg8b qword ptr M"), kvmFails("stmxcsr dword ptr M"), new Form("mov word ptr M, ds"),
            coreFails("smsw word ptr M"), new Form("str word ptr M"), new Form("push qword ptr M\n        pop rax"),
            new Form("push rax\n        pop qword ptr M"), new Form("xlatb"),
            new Form("mov rsi, rbx\n        mov rdi, r12\n        movsq"), new Form("mov rdi, rbx\n        stosw"),
            new Form("movaps xmm0, xmmword ptr A"), new Form("movaps xmmword ptr A, xmm0"), coreFails("movntdq xmmword ptr A, xmm0"),
            kvmFails("lock cmpxchg16b xmmword ptr A"), kvmFails("fxsave A"), kvmFails("popcnt rax, qword ptr M"),
            // fault on both: no MOVBE in this host's model, MXCSR from all ones, a selector of all ones, a misaligned MOVAPS
            new Form("movbe eax, dword ptr M", true, true), new Form("ldmxcsr dword ptr M", true, true),
            new Form("fxrstor A", true, true), new Form("mov ds, word ptr M", true, true),
            new Form("movaps xmmword ptr M, xmm0", true, true), new Form("sgdt M", true, false), new Form("sidt M", true, false));

    /** MSRs both backends have here (others, such as 0x1A0 or 0x6E0, only KVM: #GP on the software core). */
    static final int[] COMMON_MSRS = {0x10, 0x1B, 0x174, 0x175, 0x176, 0x277, 0xC0000080, 0xC0000081,
            0xC0000082, 0xC0000084, 0xC0000100, 0xC0000101, 0xC0000102};
    static final int[] OTHER_MSRS = {0x3A, 0x8B, 0xFE, 0x179, 0x1A0, 0x2FF, 0xC0000103, 0xDA0, 0x6E0, 0x48};
    /** Random values only where they cannot send SYSCALL/SYSENTER (or EFER.SCE) somewhere the guest would run on. */
    static final int[] WRITABLE_MSRS = {0x10, 0x1B, 0x3A, 0x8B, 0x277, 0x2FF, 0xC0000100, 0xC0000101, 0xC0000102,
            0xC0000103, 0xDA0, 0x6E0, 0x48};
    /** What runs on both backends here, as measured (CPL0 x87 and XGETBV end in emulation failures on kvm_pvm). */
    static final List<String> SYSTEM_OPS = List.of("rdtsc", "rdrand rax", "rdseed rax", "mfence", "lfence",
            "clflush [r12]", "pause", "swapgs\n        swapgs", "mov rax, cr8\n        mov cr8, rax",
            "mov rax, dr7\n        mov dr7, rax", "mov rax, cr2", "fxsave [r12]\n        fxrstor [r12]", "sgdt [r12]",
            "sidt [r12]", "str ax", "sldt ax", "mov ax, ss\n        mov ss, ax", "push fs\n        pop fs",
            "mov ax, 0x10\n        mov gs, ax", "mov rax, cr3\n        mov cr3, rax", "invlpg [0x1000000]");
    /** What faults on one backend or both here: MSR writes of random values, XSETBV, x87, LAR/LSL/VERR, CLTS, WBINVD... */
    static final List<String> FAULTING_SYSTEM_OPS = List.of("rdtscp", "rdpid rax", "wbinvd", "clts", "smsw ax",
            "fninit\n        fnstsw ax", "fnstcw [r12]\n        fldcw [r12]", "fwait", "fld1", "fnclex",
            "xor ecx, ecx\n        xgetbv", "mov cx, 0x8\n        lar eax, cx\n        lsl eax, cx\n        verr cx",
            "mov eax, -1\n        mov edx, -1\n        xsave [r12]\n        xrstor [r12]",
            "mov eax, -1\n        mov edx, -1\n        xsavec [r12]\n        xrstor [r12]");
}
