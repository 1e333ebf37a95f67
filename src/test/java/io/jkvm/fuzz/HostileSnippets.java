package io.jkvm.fuzz;

import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static io.jkvm.fuzz.InstructionForms.COMMON_MSRS;
import static io.jkvm.fuzz.InstructionForms.FAULTING_SYSTEM_OPS;
import static io.jkvm.fuzz.InstructionForms.MMIO_FORMS;
import static io.jkvm.fuzz.InstructionForms.OTHER_MSRS;
import static io.jkvm.fuzz.InstructionForms.SYSTEM_OPS;
import static io.jkvm.fuzz.InstructionForms.WRITABLE_MSRS;

/**
 * Hand-shaped hostile guests, written as GNU as source: port I/O at random ports and widths, the UART and PIC
 * registers hammered (and interrupts taken through an IDT), MMIO at every width and across the end of RAM, REP
 * string instructions on MMIO, self-modifying code (each checks its result), page-table edits, MSRs and CPUID,
 * a serial flood whose length stdout must match, and jumps to where nothing is. Each guest is built to end: with
 * debug-exit v (or HLT with interrupts off), with status 2 where an instruction may fault or KVM may fail to
 * emulate it, and with the "wrong result" exit when a self-check fails.
 */
final class HostileSnippets {
    /** A generated guest: its theme, its source and what it may end with. */
    record Snippet(String theme, String source, FuzzCase.Expectation expect) {
    }

    static final List<String> THEMES = List.of("port-io", "uart", "pic", "pic-irq", "mmio", "rep-mmio",
            "self-modifying", "page-tables", "msr-cpuid", "serial-flood", "wild-jump");
    /** Ops that neither write the UART nor end the guest: what may be mixed into any theme. */
    private static final List<String> QUIET_THEMES = List.of("mmio", "rep-mmio", "self-modifying", "page-tables", "msr-cpuid");
    /** Scratch RAM inside the image (label scratch, address in R12): string ops on RAM stay inside it. */
    private static final int SCRATCH = 8192;

    private final Random r;
    private final long memory;
    private final boolean kvm;
    private final StringBuilder code = new StringBuilder();
    private int labels;
    private boolean mayFault;
    private boolean mayHaltInHandler;
    private boolean mayRunOn;
    private boolean exactOutput = true;
    private long outputBytes;
    private boolean needsIdt;
    private boolean picInitialized;
    private boolean terminal;
    /** Port and MMIO exits left for this guest: each costs ~30 us on kvm_pvm, and the guest must end well in time. */
    private int exitBudget = 40_000;

    private HostileSnippets(Random r, long memory, boolean kvm) {
        this.r = r;
        this.memory = memory;
        this.kvm = kvm;
    }

    /** A guest for a machine with {@code memory} bytes of RAM, on KVM when {@code kvm} (kvm_pvm limits apply). */
    static Snippet generate(Random r, long memory, boolean kvm) {
        return new HostileSnippets(r, memory, kvm).build(THEMES.get(r.nextInt(THEMES.size())));
    }

    private Snippet build(String theme) {
        int ops = 1 + r.nextInt(4);
        for (int i = 0; i < ops; i++) {
            op(theme);
            if (r.nextInt(3) == 0 && !theme.equals("serial-flood")) {
                op(QUIET_THEMES.get(r.nextInt(QUIET_THEMES.size())));
            }
        }
        if (theme.equals("wild-jump")) {
            wildJump();
        }
        int v = r.nextInt(128);
        int wrong = v ^ 0x40;
        boolean endInHlt = !terminal && r.nextInt(7) == 0;
        Set<Integer> statuses = new HashSet<>();
        if (!terminal) {
            statuses.add(endInHlt ? 0 : FuzzCase.debugExitStatus(v));
        }
        if (mayFault || terminal) {
            statuses.add(2);
        }
        if (mayHaltInHandler) {
            statuses.add(0);
        }
        StringBuilder s = new StringBuilder();
        s.append("# fuzz-guests: theme ").append(theme).append(", for ").append(memory >> 20).append("M of RAM")
                .append(kvm ? " on KVM" : " on the software core").append("\n");
        s.append("        .intel_syntax noprefix\n        .code64\n        .section .text.start, \"ax\"\n        .globl _start\n");
        s.append("_start:\n        lea r12, [rip + scratch]\n");
        if (needsIdt) {
            s.append(idtSetup());
        }
        s.append(code);
        s.append(endInHlt ? "        cli\n        hlt\n" : exit(v));
        s.append("wrong:\n").append(exit(wrong));
        s.append(handlers());
        s.append("        .balign 4096\nscratch: .skip ").append(SCRATCH).append("\n");
        s.append("        .balign 4096\nidt: .skip 4096\n");
        s.append("        .balign 4096\n        .skip 4093\nstraddle_fn:\n        mov eax, 0x11223344\n        ret\n");
        s.append("        .balign 4096\n");
        var expect = new FuzzCase.Expectation(statuses, mayRunOn, mayRunOn, exactOutput ? outputBytes : -1,
                FuzzCase.debugExitStatus(wrong));
        return new Snippet(theme, s.toString(), expect);
    }

    private static String exit(int v) {
        return String.format("        mov al, %d\n        out 0xf4, al\n        cli\n        hlt\n", v);
    }

    /** Up to {@code want} of the exits left. */
    private int take(int want) {
        int n = Math.min(want, exitBudget);
        exitBudget -= n;
        return n;
    }

    private void a(String format, Object... args) {
        code.append("        ").append(args.length == 0 ? format : String.format(format, args)).append('\n');
    }

    private String label() {
        return "L" + (++labels);
    }

    private void place(String label) {
        code.append(label).append(":\n");
    }

    private void op(String theme) {
        switch (theme) {
            case "port-io" -> portIo();
            case "uart" -> uart();
            case "pic" -> pic(false);
            case "pic-irq" -> pic(true);
            case "mmio" -> mmio();
            case "rep-mmio" -> repString();
            case "self-modifying" -> selfModifying();
            case "page-tables" -> pageTables();
            case "msr-cpuid" -> msrCpuid();
            case "serial-flood" -> serialFlood();
            case "wild-jump" -> msrCpuid(); // the jump itself comes last
            default -> throw new IllegalArgumentException(theme);
        }
    }

    // ---- port I/O ---------------------------------------------------------------------------------------------

    /** A port anywhere but debug-exit's byte (a wider access based at 0xF1-0xF3 would cover it). */
    private int port() {
        int[] devices = {0x20, 0x21, 0xA0, 0xA1, 0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x80, 0x60,
                0x64, 0x70, 0x71, 0xCF8, 0xCFC, 0x2F8, 0x92, 0x3C0, 0x1F0, 0x510};
        while (true) {
            int p = r.nextBoolean() ? devices[r.nextInt(devices.length)] : r.nextInt(0x10000);
            if (p < 0xF1 || p > 0xF4) {
                return p;
            }
        }
    }

    private void portIo() {
        int n = 1 + r.nextInt(40);
        for (int i = 0; i < n; i++) {
            int port = port();
            String reg = List.of("al", "ax", "eax").get(r.nextInt(3));
            boolean out = r.nextBoolean();
            if (out) {
                if (port >= 0x3F0 && port <= 0x3FF) {
                    exactOutput = false;
                }
                a("mov eax, 0x%x", r.nextInt());
            }
            if (port < 0x100 && r.nextBoolean()) {
                a(out ? "out 0x%x, %s" : "in %2$s, 0x%1$x", port, reg);
            } else {
                a("mov dx, 0x%x", port);
                a(out ? "out dx, %s" : "in %s, dx", reg);
            }
        }
        if (r.nextInt(kvm ? 3 : 8) == 0) { // string port I/O into and out of scratch RAM
            mayFault |= !kvm; // the software core has no INS/OUTS: #UD
            int port = port();
            if (port >= 0x3F0 && port <= 0x3FF) {
                exactOutput = false;
            }
            a("mov dx, 0x%x", port);
            a("mov rdi, r12");
            a("mov rsi, r12");
            a("mov ecx, %d", take(r.nextInt(SCRATCH / 4)));
            a("rep %s%s", r.nextBoolean() ? "ins" : "outs", List.of("b", "w", "d").get(r.nextInt(3)));
        }
    }

    private void uart() {
        exactOutput = false;
        int n = 1 + r.nextInt(12);
        for (int i = 0; i < n; i++) {
            switch (r.nextInt(6)) {
                case 0 -> { // any register, any value
                    a("mov dx, 0x%x", 0x3F8 + r.nextInt(8));
                    a("mov al, 0x%x", r.nextInt(256));
                    a("out dx, al");
                }
                case 1 -> {
                    a("mov dx, 0x%x", 0x3F8 + r.nextInt(8));
                    a("in al, dx");
                }
                case 2 -> { // loopback: the UART receives what it sends, past its 4096-byte FIFO
                    String l = label();
                    a("mov dx, 0x3fc");
                    a("mov al, 0x%x", 0x10 | r.nextInt(16));
                    a("out dx, al");
                    a("mov dx, 0x3f8");
                    a("mov ecx, %d", 1 + take(r.nextInt(6000)));
                    place(l);
                    a("out dx, al");
                    a("inc al");
                    a("dec ecx");
                    a("jnz %s", l);
                    drain(1 + take(r.nextInt(5000)) / 2);
                }
                case 3 -> { // divisor latch in and out
                    a("mov dx, 0x3fb");
                    a("mov al, 0x%x", 0x80 | r.nextInt(128));
                    a("out dx, al");
                    a("mov dx, 0x3f8");
                    a("mov ax, 0x%x", r.nextInt(0x10000));
                    a("out dx, %s", r.nextBoolean() ? "al" : "ax");
                    a("mov dx, 0x3fb");
                    a("mov al, 0x%x", r.nextInt(128));
                    a("out dx, al");
                }
                case 4 -> drain(1 + r.nextInt(100));
                default -> { // FIFO control and interrupt enable (interrupts stay off: IF = 0)
                    a("mov dx, 0x3fa");
                    a("mov al, 0x%x", r.nextInt(256));
                    a("out dx, al");
                    a("mov dx, 0x3f9");
                    a("mov al, 0x%x", r.nextInt(16));
                    a("out dx, al");
                }
            }
        }
    }

    /** Reads LSR and RBR {@code n} times. */
    private void drain(int n) {
        String l = label();
        a("mov ecx, %d", n);
        place(l);
        a("mov dx, 0x3fd");
        a("in al, dx");
        a("mov dx, 0x3f8");
        a("in al, dx");
        a("dec ecx");
        a("jnz %s", l);
    }

    /**
     * The PICs: init sequences, masks, EOIs, OCW3 reads, polls and random writes, with the UART raising IRQ4.
     * With {@code interrupts}, an IDT is installed and interrupts are let in for a while.
     */
    private void pic(boolean interrupts) {
        exactOutput = false;
        if (interrupts) {
            needsIdt = true;
            mayHaltInHandler = true; // an IRQ on an exception vector (ICW2 below 0x20) ends in the exception handler
            mayFault = true;
        }
        if (interrupts && !picInitialized) { // IRQs on vectors 0x20-0x2F, all unmasked, before anything random
            picInitialized = true;
            a("mov al, 0x11\n        out 0x20, al\n        out 0xa0, al");
            a("mov al, 0x20\n        out 0x21, al\n        mov al, 0x28\n        out 0xa1, al");
            a("mov al, 4\n        out 0x21, al\n        mov al, 2\n        out 0xa1, al");
            a("mov al, 1\n        out 0x21, al\n        out 0xa1, al");
            a("xor eax, eax\n        out 0x21, al\n        out 0xa1, al");
        }
        int n = 1 + r.nextInt(20);
        int window = interrupts ? -1 : faultingOne(n);
        int[] ports = {0x20, 0x21, 0xA0, 0xA1};
        for (int i = 0; i < n; i++) {
            switch (r.nextInt(5)) {
                case 0 -> { // ICW1-ICW4: edge-triggered, as a PC sets them (level mode would let an IRQ storm livelock the guest)
                    boolean slave = r.nextBoolean();
                    int base = slave ? 0xA0 : 0x20;
                    a("mov al, 0x11");
                    a("out 0x%x, al", base);
                    a("mov al, 0x%x", r.nextInt(32) << 3);
                    a("out 0x%x, al", base + 1);
                    a("mov al, 0x%x", slave ? 2 : 4);
                    a("out 0x%x, al", base + 1);
                    a("mov al, 0x%x", 1 | (r.nextInt(2) << 1));
                    a("out 0x%x, al", base + 1);
                }
                case 1 -> { // OCW2 (EOIs, rotations) and OCW3 (IRR/ISR reads, poll, special mask)
                    int base = r.nextBoolean() ? 0x20 : 0xA0;
                    int ocw = r.nextBoolean() ? (r.nextInt(8) << 5) | r.nextInt(8) : 0x08 | (r.nextInt(4) << 5) | r.nextInt(8);
                    a("mov al, 0x%x", ocw & ~0x10);
                    a("out 0x%x, al", base);
                    a("in al, 0x%x", base);
                }
                case 2 -> { // the UART's interrupt causes, on IRQ4
                    a("mov dx, 0x3f9");
                    a("mov al, 0x%x", r.nextInt(16));
                    a("out dx, al");
                    a("mov dx, 0x3fc");
                    a("mov al, 0x%x", r.nextInt(32));
                    a("out dx, al");
                    a("mov dx, 0x3f8");
                    a("out dx, al");
                }
                case 3 -> { // masks
                    a("mov al, 0x%x", r.nextInt(256));
                    a("out 0x%x, al", r.nextBoolean() ? 0x21 : 0xA1);
                }
                default -> {
                    int p = ports[r.nextInt(4)];
                    if (!interrupts || (p & 1) == 1) { // a random ICW1 (bit 4 on 0x20/0xA0) may select level mode
                        a("mov al, 0x%x", r.nextInt(256));
                        a("out 0x%x, al", p);
                    }
                    a("in al, 0x%x", ports[r.nextInt(4)]);
                }
            }
            if (interrupts && r.nextBoolean()) { // let interrupts in for a while
                String l = label();
                a("mov ecx, %d", 1 + r.nextInt(2000));
                a("sti");
                place(l);
                a("pause");
                a("dec ecx");
                a("jnz %s", l);
                a("cli");
            } else if (i == window) {
                mayFault = true; // no IDT: an interrupt let in triple-faults
                a("sti");
                a("nop");
                a("cli");
            }
        }
    }

    private String idtSetup() {
        return """
                        lea rdi, [rip + idt]
                        lea rax, [rip + exception_handler]
                        xor ecx, ecx
                idt_fill:
                        cmp ecx, 32
                        jne 1f
                        lea rax, [rip + irq_handler]
                1:      mov word ptr [rdi], ax
                        mov word ptr [rdi + 2], 0x08
                        mov word ptr [rdi + 4], 0x8e00
                        mov rdx, rax
                        shr rdx, 16
                        mov word ptr [rdi + 6], dx
                        shr rdx, 16
                        mov dword ptr [rdi + 8], edx
                        mov dword ptr [rdi + 12], 0
                        add rdi, 16
                        inc ecx
                        cmp ecx, 256
                        jne idt_fill
                        sub rsp, 16
                        mov word ptr [rsp], 4095
                        lea rax, [rip + idt]
                        mov qword ptr [rsp + 2], rax
                        lidt [rsp]
                        add rsp, 16
                """;
    }

    private String handlers() {
        if (!needsIdt) {
            return "";
        }
        // IRQs: clear every UART cause (so its line drops), EOI both PICs, count; exceptions: HLT, status 0.
        return """
                irq_handler:
                        push rax
                        push rdx
                        mov dx, 0x3fa
                        in al, dx
                        mov dx, 0x3fd
                        in al, dx
                        mov dx, 0x3fe
                        in al, dx
                        mov dx, 0x3f8
                        in al, dx
                        mov al, 0x20
                        out 0xa0, al
                        out 0x20, al
                        inc dword ptr [rip + scratch + 8188]
                        pop rdx
                        pop rax
                        iretq
                exception_handler:
                        cli
                        hlt
                """;
    }

    // ---- MMIO ---------------------------------------------------------------------------------------------------

    /** Sets RBX to an address with no RAM (or a few bytes below the end of RAM, so accesses straddle it). */
    private void mmioBase() {
        long base = switch (r.nextInt(6)) {
            case 0 -> memory + (r.nextInt(256) << 12) + r.nextInt(4096);
            case 1 -> 0xC000_0000L + r.nextInt(0x10000);
            case 2 -> 0xFEE0_0000L + r.nextInt(0x1000);
            case 3 -> 0xFEC0_0000L + r.nextInt(0x1000);
            case 4 -> 0xFFFF_F000L + r.nextInt(0xF00);
            default -> memory - 1 - r.nextInt(15);
        };
        a("mov rbx, 0x%x", base);
    }

    private void mmio() {
        mayFault = true;
        mmioBase();
        int n = 1 + r.nextInt(12);
        int faulting = faultingOne(n);
        for (int i = 0; i < n; i++) {
            InstructionForms.Form form = pick(MMIO_FORMS, f -> kvm ? f.failsOnKvm() : f.failsOnCore(), i == faulting);
            if (kvm && (form.asm().startsWith("sgdt") || form.asm().startsWith("sidt"))) {
                continue; // kvm_pvm never returns from KVM_RUN for SGDT/SIDT on MMIO (a host limitation, HostKvm)
            }
            if (form.asm().contains("A")) {
                a("lea rdi, [rbx + %d]", r.nextInt(64));
                a("and rdi, -64");
            }
            a(form.asm().replace("M", "[rbx + " + r.nextInt(64) + "]").replace(" A", " [rdi]"));
        }
    }

    /** Which of {@code n} steps may fault: one, in a quarter of the ops, so most guests get further; else -1. */
    private int faultingOne(int n) {
        return r.nextInt(4) == 0 ? r.nextInt(n) : -1;
    }

    /** One of {@code all} that {@code faults} on this backend, or not. */
    private <T> T pick(List<T> all, java.util.function.Predicate<T> faults, boolean faulting) {
        List<T> some = all.stream().filter(t -> faults.test(t) == faulting).toList();
        List<T> from = some.isEmpty() ? all : some;
        return from.get(r.nextInt(from.size()));
    }

    /** REP string instructions with each operand in scratch RAM, MMIO or straddling the end of RAM. */
    private void repString() {
        mayFault = true;
        int n = 1 + r.nextInt(4);
        for (int i = 0; i < n; i++) {
            String insn = List.of("movs", "stos", "lods", "cmps", "scas", "ins", "outs").get(r.nextInt(kvm || r.nextInt(5) == 0 ? 7 : 5));
            boolean port = insn.equals("ins") || insn.equals("outs");
            int width = 1 << r.nextInt(port ? 3 : 4);
            boolean down = r.nextInt(4) == 0;
            boolean srcRam = r.nextBoolean();
            boolean dstRam = r.nextBoolean();
            int count = List.of(0, 1, 2, 3, 7, 64, 255, 1000, 4096, r.nextInt(4097)).get(r.nextInt(10));
            if (srcRam || dstRam) {
                count = Math.min(count, SCRATCH / width);
            }
            count = take(count);
            mmioBase();
            a(srcRam ? "lea rsi, [r12 + %d]" : "lea rsi, [rbx + %d]", down ? SCRATCH - width : 0);
            a(dstRam ? "lea rdi, [r12 + %d]" : "lea rdi, [rbx + %d]", down ? SCRATCH - width : 0);
            if (port) {
                int p;
                do {
                    p = port();
                } while (p >= 0x3F0 && p <= 0x3FF); // the output stays exactly what the guest meant
                a("mov dx, 0x%x", p);
            }
            a("mov ecx, %d", count);
            a("mov eax, 0x%x", r.nextInt());
            a(down ? "std" : "cld");
            String prefix = insn.equals("cmps") || insn.equals("scas") ? (r.nextBoolean() ? "repe" : "repne")
                    : r.nextInt(5) == 0 ? "" : "rep";
            if (r.nextInt(6) == 0) {
                a(".byte 0x67"); // 32-bit addressing: ESI, EDI, ECX
            }
            a("%s %s%s", prefix, insn, "bwdq".charAt(Integer.numberOfTrailingZeros(width)));
            a("cld");
        }
    }

    // ---- self-modifying code (each part checks its result and exits through `wrong` when it differs) ----------

    private void selfModifying() {
        switch (r.nextInt(memory < (16L << 20) ? 4 : 5)) {
            case 0 -> { // a loop adds to the immediate of an instruction it already ran
                int iterations = 1 + r.nextInt(50);
                int start = r.nextInt(1 << 20);
                int delta = 1 + r.nextInt(1000);
                String loop = label();
                String patch = label();
                a("mov ecx, %d", iterations);
                a("xor ebx, ebx");
                place(loop);
                place(patch);
                a("mov eax, %d", start);
                a("add ebx, eax");
                a("add dword ptr [rip + %s + 1], %d", patch, delta);
                a("dec ecx");
                a("jnz %s", loop);
                long sum = (long) iterations * start + (long) delta * iterations * (iterations - 1) / 2;
                a("cmp ebx, 0x%x", (int) sum);
                a("jne wrong");
            }
            case 1 -> { // the store rewrites the very next instruction, decoded with it
                int value = r.nextInt(256);
                String next = label();
                a("mov byte ptr [rip + %s + 1], %d", next, value);
                place(next);
                a("mov al, 1");
                a("cmp al, %d", value);
                a("jne wrong");
            }
            case 2 -> { // REP STOSB replaces a jump to `wrong` ahead of it with NOPs
                String ahead = label();
                a("lea rdi, [rip + %s]", ahead);
                a("mov al, 0x90");
                a("mov ecx, 5");
                a("rep stosb");
                place(ahead);
                a(".byte 0xe9");
                a(".long wrong - . - 4");
            }
            case 3 -> { // an instruction straddling a page boundary, rewritten in its second page
                int top = r.nextInt(256);
                a("call straddle_fn");
                a("cmp eax, 0x11223344");
                a("jne wrong");
                a("mov byte ptr [rip + straddle_fn + 4], %d", top);
                a("call straddle_fn");
                a("cmp eax, 0x%x", (top << 24) | 0x223344);
                a("jne wrong");
                a("mov byte ptr [rip + straddle_fn + 4], 0x11");
            }
            default -> { // functions written to, run in and rewritten in more pages than the decoded-code cache holds
                long room = (memory - 0x40_0000 - 0x10_0000) >> 12;
                int pages = (int) Math.min(1 + r.nextInt(kvm ? 400 : 1500), room);
                String first = label();
                String second = label();
                a("mov r13d, %d", pages);
                a("xor r14d, r14d");
                a("mov r15, 0x400000");
                place(first);
                a("mov byte ptr [r15], 0xb8");
                a("mov dword ptr [r15 + 1], r13d");
                a("mov byte ptr [r15 + 5], 0xc3");
                a("call r15");
                a("add r14d, eax");
                a("add r15, 4096");
                a("dec r13d");
                a("jnz %s", first);
                a("mov r13d, %d", pages);
                a("mov r15, 0x400000");
                place(second);
                a("inc dword ptr [r15 + 1]");
                a("call r15");
                a("add r14d, eax");
                a("add r15, 4096");
                a("dec r13d");
                a("jnz %s", second);
                a("cmp r14d, %d", pages * (pages + 1) + pages);
                a("jne wrong");
            }
        }
    }

    // ---- page tables, MSRs, CPUID --------------------------------------------------------------------------------

    /** Linear 2 MiB region 8-15 (16M-32M): clear of the image, the stack top and the self-modifying pages. */
    private void pageTables() {
        mayFault = true;
        int region = 8 + r.nextInt(8);
        String pde = String.format("[0x%x]", 0x4000 + 8 * region);
        long linear = (long) region << 21;
        int kind = r.nextInt(12); // 0: faults; 1-2: may fault; the rest should not
        switch (kind == 0 ? 1 : kind < 3 ? 0 : 2 + (kind - 3) / 2) {
            case 0 -> { // not present, then maybe touched: #PF with no IDT, a triple fault
                a("and qword ptr %s, -2", pde);
                a("invlpg [0x%x]", linear);
                if (r.nextInt(3) == 0) {
                    a("mov rax, qword ptr [0x%x]", linear + r.nextInt(1 << 21));
                }
                a("or qword ptr %s, 1", pde);
                a("invlpg [0x%x]", linear);
            }
            case 1 -> { // a reserved bit, touched
                a("mov rax, 0x%x", 1L << (13 + r.nextInt(8)) | (1L << 51));
                a("or qword ptr %s, rax", pde);
                a("invlpg [0x%x]", linear);
                a("mov rax, qword ptr [0x%x]", linear);
            }
            case 2 -> { // a 2 MiB page where there is no RAM (or beyond MAXPHYADDR), read and written
                long phys = List.of(0xC000_0000L, 0x40_0000_0000L, (1L << 46) - (2L << 20), memory & ~0x1F_FFFFL)
                        .get(r.nextInt(4));
                a("mov rax, 0x%x", phys | 0x83);
                a("mov qword ptr %s, rax", pde);
                a("invlpg [0x%x]", linear);
                a("mov rax, qword ptr [0x%x]", linear + r.nextInt(1 << 21) / 8 * 8);
                a("mov dword ptr [0x%x], eax", linear + r.nextInt(1 << 21) / 4 * 4);
                a("mov qword ptr %s, 0x%x", pde, linear | 0x83);
                a("invlpg [0x%x]", linear);
            }
            case 3 -> { // an alias of the image's 2 MiB page: code patched through it runs patched
                String patch = label();
                int value = 1 + r.nextInt(0x7fff_0000);
                a("mov qword ptr %s, 0x83", pde);
                a("invlpg [0x%x]", linear);
                a("lea rax, [rip + %s]", patch);
                a("mov dword ptr [rax + 0x%x + 1], %d", linear, value);
                place(patch);
                a("mov eax, 0");
                a("cmp eax, %d", value);
                a("jne wrong");
                a("mov qword ptr %s, 0x%x", pde, linear | 0x83);
                a("invlpg [0x%x]", linear);
            }
            case 4 -> { // a 1 GiB page aliasing RAM at 0, read against the identity mapping
                int slot = 8 + r.nextInt(500);
                a("mov qword ptr [0x%x], 0x83", 0x3000 + 8 * slot);
                a("mov rax, cr3");
                a("mov cr3, rax");
                a("lea rcx, [rip + _start]");
                a("mov rax, 0x%x", (long) slot << 30);
                a("mov rax, qword ptr [rax + rcx]");
                a("cmp rax, qword ptr [rcx]");
                a("jne wrong");
                a("mov qword ptr [0x%x], 0", 0x3000 + 8 * slot);
                a("mov rax, cr3");
                a("mov cr3, rax");
            }
            default -> { // control registers: reloads, toggles, random bits (#GP when reserved)
                switch (r.nextInt(6)) {
                    case 0, 4 -> a("mov rax, cr3\n        mov cr3, rax");
                    case 1 -> a("mov rax, cr4\n        xor rax, 0x80\n        mov cr4, rax");
                    case 2, 5 -> a("mov rax, cr0\n        xor eax, 0x10000\n        mov cr0, rax");
                    default -> a("mov rax, cr4\n        xor rax, 0x%x\n        mov cr4, rax", 1 << r.nextInt(24));
                }
            }
        }
    }

    private void msrCpuid() {
        mayFault = true;
        int n = 1 + r.nextInt(8);
        int faulting = faultingOne(n);
        int[] leaves = {0, 1, 4, 7, 0xB, 0xD, 0x14, 0x1F, 0x29, 0x4000_0000, 0x8000_0000, 0x8000_0001, 0x8000_0008};
        for (int i = 0; i < n; i++) {
            if (i == faulting) { // something that faults somewhere: it ends the guest with status 2
                switch (r.nextInt(5)) {
                    case 0 -> a("mov ecx, 0x%x\n        rdmsr", r.nextBoolean() ? r.nextInt() : OTHER_MSRS[r.nextInt(OTHER_MSRS.length)]);
                    case 1 -> a("mov ecx, 0x%x\n        mov eax, 0x%x\n        mov edx, 0x%x\n        wrmsr",
                            WRITABLE_MSRS[r.nextInt(WRITABLE_MSRS.length)], r.nextInt(), r.nextInt(4) == 0 ? r.nextInt() : 0);
                    case 2 -> a("xor ecx, ecx\n        mov eax, %d\n        xor edx, edx\n        xsetbv",
                            List.of(3, 7, 0xE7, 1, 0x80003).get(r.nextInt(5)));
                    case 3 -> a("mov ax, 0x%x\n        mov ds, ax", r.nextInt(0x10000));
                    default -> a(FAULTING_SYSTEM_OPS.get(r.nextInt(FAULTING_SYSTEM_OPS.size())));
                }
                continue;
            }
            switch (r.nextInt(4)) {
                case 0 -> a("mov eax, 0x%x\n        mov ecx, %d\n        cpuid", r.nextBoolean() ? leaves[r.nextInt(leaves.length)] : r.nextInt(), r.nextInt(4));
                case 1 -> a("mov ecx, 0x%x\n        rdmsr", COMMON_MSRS[r.nextInt(COMMON_MSRS.length)]);
                case 2 -> a("mov ecx, 0x%x\n        rdmsr\n        wrmsr", COMMON_MSRS[r.nextInt(COMMON_MSRS.length)]);
                default -> a(SYSTEM_OPS.get(r.nextInt(SYSTEM_OPS.size())));
            }
        }
    }

    // ---- output and endings ------------------------------------------------------------------------------------

    /** Bytes to COM1 with REP OUTSB or one OUT each, counted: stdout must hold exactly that many. */
    private void serialFlood() {
        boolean rep = kvm && r.nextBoolean(); // the software core has no OUTS
        int n = rep ? 1 + r.nextInt(kvm ? 64 * 1024 : 256 * 1024) : 1 + take(r.nextInt(20000));
        outputBytes += n;
        a("mov dx, 0x3f8");
        if (rep) {
            a("mov esi, 0x100000");
            a("mov ecx, %d", n);
            a("cld");
            a("rep outsb");
        } else {
            String l = label();
            a("mov ecx, %d", n);
            place(l);
            a("mov al, cl");
            a("out dx, al");
            a("dec ecx");
            a("jnz %s", l);
        }
    }

    /** A selector other than the code segment's (0x08 at any RPL): loading it into CS faults. */
    private int notCodeSelector() {
        while (true) {
            int selector = r.nextInt(0x10000);
            if ((selector & ~3) != 0x08) {
                return selector;
            }
        }
    }

    /** Ends the guest where nothing is: status 2 (or, jumping into RAM, whatever that RAM does). */
    private void wildJump() {
        terminal = true;
        switch (r.nextInt(12)) {
            case 0 -> a("mov rax, 0x8000000000000000\n        jmp rax"); // non-canonical
            case 1 -> a("mov rax, 0x8000000000\n        jmp rax"); // no PML4 entry
            case 2 -> a("mov rax, 0x%x\n        jmp rax", List.of(0xC000_0000L, memory, 0xFFFF_F000L).get(r.nextInt(3)));
            case 3 -> { // the last bytes of RAM, zeroed: an instruction running off the end of RAM
                a("mov rax, 0x%x", memory - 16);
                a("mov qword ptr [rax], 0\n        mov qword ptr [rax + 8], 0");
                a("add rax, %d\n        jmp rax", 13 + r.nextInt(3));
            }
            case 4 -> a(List.of("ud2", "int3", "int 0x80", "xor ecx, ecx\n        div ecx", ".byte 0xce # INTO",
                    "syscall", "sysenter", ".byte 0xf1 # INT1").get(r.nextInt(8)));
            case 5 -> a("push 0\n        push 0\n        push 0x%x\n        push 0x%x\n        push 0x%x\n        iretq",
                    r.nextInt(0x10000), notCodeSelector(), r.nextInt(0x10000)); // SS, RSP, RFLAGS, CS, RIP
            case 6 -> a("mov rax, 0x%x\n        push rax\n        ret", 0xC000_0000L + r.nextInt(1 << 20));
            case 7 -> a("mov dword ptr [r12], 0x100000\n        mov word ptr [r12 + 4], 0x%x\n        jmp fword ptr [r12]",
                    notCodeSelector());
            case 8 -> a("mov rax, cr0\n        and eax, 0x7fffffff\n        mov cr0, rax"); // paging off in long mode: #GP
            case 9 -> { // the stack's page not present, then a push
                long stackRegion = (memory - 1) >> 21;
                long pde = stackRegion < 512 ? 0x4000 + 8 * stackRegion : -1;
                a("and qword ptr [0x%x], -2\n        mov rax, cr3\n        mov cr3, rax\n        push rax", pde);
            }
            case 10 -> a("mov eax, 0xc0000000\n        call qword ptr [rax]"); // through a pointer read from MMIO (all ones)
            default -> { // into RAM that holds zeros, the boot tables, or this image: anything may follow
                terminal = false;
                mayRunOn = true;
                mayFault = true;
                mayHaltInHandler = true;
                // 0x200000: straight-line code through all of RAM above the image (zeros: ADD [RAX], AL)
                a("mov rax, 0x%x\n        jmp rax", List.of(0L, 0x1000L, 0x200000L, memory - 0x10000, 0x100000L + r.nextInt(0x4000))
                        .get(r.nextInt(5)));
            }
        }
    }
}
