package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

/**
 * The direct pages (reads and writes of RAM that skip the TLB's checks once an access was allowed) never let through
 * what the full path would stop: code decoded on a page stores went to directly, a CPL 3 access to a supervisor page a
 * CPL 0 access reached, a store the dirty log must see. Each in every execution setting.
 */
class DirectPagesTest {
    private static final long PAGE = 0x140000; // a page of its own in the first (user) 2 MiB
    private static final long SUPERVISOR_DATA = 0x200000; // the next 2 MiB page: the kernel's alone

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    /** mov eax, imm32; ret, as the little-endian quadword one store writes. */
    private static long returnsConstant(int value) {
        return 0xB8L | ((long) value << 8) | 0xC3L << 40;
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void codeStoredToAPageWrittenDirectlyRunsAsStored(String execution) {
        Asm a = new Asm().movImm64(3, PAGE)
                .movImm64(0, returnsConstant(1)).raw("48 89 03 48 89 03") // two stores: the second goes direct
                .raw("ff d3").raw("41 89 c0") // call rbx (the page now holds decoded code); mov r8d, eax
                .movImm64(0, returnsConstant(2)).raw("48 89 03") // the store must drop that code
                .raw("ff d3").outAl(0x80) // no exit between: the blocks' bytes are not compared with memory again
                .hlt();
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(a.bytes())) {
                assertEquals(2, vm.nextOut(0x80), "the code as the second store left it");
                assertEquals(1, vm.vcpu.registers().gpr(8), "the code as the first stores left it");
            }
            return null;
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void aSupervisorPageTheKernelReachedIsRefusedAtCpl3(String execution) {
        String kernelTouches = "48 c7 c3 00 00 20 00 48 8b 03 48 89 03"; // mov rbx, SUPERVISOR_DATA; mov rax, [rbx]; mov [rbx], rax
        byte[] toUser = ExceptionsTest.toUser().bytes(); // ends in IRETQ: the touches go just before it, after its WRMSRs
        Asm kernel = new Asm().raw(HexFormat.of().formatHex(toUser, 0, toUser.length - 2))
                .raw(kernelTouches).raw(kernelTouches) // twice: the second pair goes direct
                .raw("48 cf");
        ExecutionTest.with(execution, () -> {
            for (String user : new String[] {"48 8b 03", "48 89 03"}) { // mov rax, [rbx]; mov [rbx], rax
                try (EmuVm vm = new EmuVm(kernel.bytes())) {
                    ExceptionsTest.installIdt(vm);
                    ExceptionsTest.userPages(vm);
                    vm.memory.writeLong(SUPERVISOR_DATA, 0x5A5A);
                    byte[] code = hex(user + " 0f 05");
                    vm.memory.write(ExceptionsTest.USER, code, 0, code.length);
                    vm.memory.write(ExceptionsTest.SYSCALL, hex("f4"), 0, 1);
                    assertEquals(14, vm.nextOut(0x90), "#PF for " + user + " at CPL 3");
                    boolean write = user.startsWith("48 89");
                    assertEquals(write ? 7 : 5, vm.vcpu.registers().rbx(), "error code: present, user, " + (write ? "write" : "read"));
                    assertEquals(SUPERVISOR_DATA, vm.vcpu.registers().rcx(), "CR2");
                }
            }
            return null;
        });
    }

    @ParameterizedTest
    @ValueSource(strings = {"interpreter", "blocks", "compiled"})
    void theDirtyLogSeesStoresToPagesWrittenDirectlyBefore(String execution) {
        Asm a = new Asm().movImm64(3, PAGE)
                .raw("48 89 03 48 89 03").outAl(0x80) // mov [rbx], rax twice: the page is written directly
                .raw("48 89 03").outAl(0x81)
                .hlt();
        ExecutionTest.with(execution, () -> {
            try (EmuVm vm = new EmuVm(a.bytes())) {
                vm.nextOut(0x80);
                DirtyPages log = new DirtyPages(vm.memory.size());
                vm.vcpu.trackDirtyPages(log);
                vm.nextOut(0x81);
                long[] dirty = log.take();
                long page = PAGE >>> 12;
                assertNotEquals(0, dirty[(int) (page >>> 6)] & (1L << (page & 63)), "the store after tracking began is marked");
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            }
            return null;
        });
    }
}
