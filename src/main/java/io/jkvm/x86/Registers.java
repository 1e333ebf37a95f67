package io.jkvm.x86;

/** The sixteen legacy general-purpose registers, RIP and RFLAGS (what KVM_GET_REGS carries). */
public record Registers(long rax, long rbx, long rcx, long rdx, long rsi, long rdi, long rsp, long rbp,
                        long r8, long r9, long r10, long r11, long r12, long r13, long r14, long r15,
                        long rip, long rflags) {

    /** RFLAGS bit 1 is reserved and always set. */
    public static final long RFLAGS_RESERVED = 0x2;
    public static final long RFLAGS_IF = 1L << 9;

    public static Registers zero() {
        return new Registers(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, RFLAGS_RESERVED);
    }

    /** From GPRs in encoding order ({@code g[0]} = RAX, 1 = RCX, ... 15 = R15; entries past 15 are not read). */
    public static Registers byEncoding(long[] g, long rip, long rflags) {
        return new Registers(g[0], g[3], g[1], g[2], g[6], g[7], g[4], g[5],
                g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15], rip, rflags);
    }

    /** A register by its x86 encoding number (0 = RAX, 1 = RCX, 2 = RDX, 3 = RBX, 4 = RSP, ... 15 = R15). */
    public long gpr(int number) {
        return switch (number) {
            case 0 -> rax; case 1 -> rcx; case 2 -> rdx; case 3 -> rbx;
            case 4 -> rsp; case 5 -> rbp; case 6 -> rsi; case 7 -> rdi;
            case 8 -> r8; case 9 -> r9; case 10 -> r10; case 11 -> r11;
            case 12 -> r12; case 13 -> r13; case 14 -> r14; case 15 -> r15;
            default -> throw new IllegalArgumentException("no legacy GPR " + number);
        };
    }

    /** A copy with the register of encoding {@code number} set to {@code value}. */
    public Registers withGpr(int number, long value) {
        long[] g = new long[16];
        for (int i = 0; i < 16; i++) {
            g[i] = i == number ? value : gpr(i);
        }
        if (number < 0 || number > 15) {
            throw new IllegalArgumentException("no legacy GPR " + number);
        }
        return byEncoding(g, rip, rflags);
    }

    public Registers withRip(long value) {
        return new Registers(rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, value, rflags);
    }

    public Registers withRsp(long value) {
        return withGpr(4, value);
    }

    public Registers withRflags(long value) {
        return new Registers(rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, value);
    }

    public boolean interruptsEnabled() {
        return (rflags & RFLAGS_IF) != 0;
    }
}
