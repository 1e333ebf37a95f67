package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.testing.Idt;
import io.jkvm.x86.InterruptSource;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * External interrupts on the software core: taken at an instruction boundary only with RFLAGS.IF set and no
 * STI shadow, acknowledged once, delivered through the IDT; HLT with IF set sleeps until INTR rises.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD) // a guest loop that misses its interrupt never returns
class ExternalInterruptTest {
    private static final int VECTOR = 0x30;
    private static final long HANDLER = 0x102000, IDT = 0x104000;

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    /** A controller with one request: acknowledging it lowers INTR, as the 8259A does for an edge request. */
    private static final class OneRequest implements InterruptSource {
        final AtomicInteger acknowledged = new AtomicInteger();
        private final EmuVm vm;

        OneRequest(EmuVm vm) {
            this.vm = vm;
        }

        @Override
        public int acknowledge() {
            acknowledged.incrementAndGet();
            vm.vcpu.setInterruptLine(false);
            return VECTOR;
        }
    }

    /** The handler for VECTOR reports RBX and the saved RIP: OUT 0x90 with EBX, OUT 0x91 with the RIP's low byte. */
    private static OneRequest setUp(EmuVm vm) {
        byte[] h = hex("89 d8 e6 90" // mov eax, ebx; out 0x90, al
                + "8b 04 24 e6 91" // mov eax, [rsp]; out 0x91, al
                + "48 cf"); // iretq
        vm.memory.write(HANDLER, h, 0, h.length);
        Idt.writeGate(vm.memory, IDT, VECTOR, HANDLER);
        Idt.load(vm.vcpu, IDT, 0xFFF);
        OneRequest source = new OneRequest(vm);
        vm.vcpu.connectInterrupts(source);
        return source;
    }

    /**
     * A loop that never leaves its block (compiled, it goes round inside one method): INTR raised from another thread
     * stops it at an instruction boundary, the INC or the JMP, as between any two blocks.
     */
    @Test
    void anInterruptStopsASpinningLoopAtAnInstructionBoundary() {
        // sti; 1: inc rbx; jmp 1b
        try (EmuVm vm = new EmuVm(hex("fb 48 ff c3 eb fb"))) {
            OneRequest source = setUp(vm);
            Thread raiser = Thread.ofPlatform().start(() -> {
                try {
                    Thread.sleep(300);
                } catch (InterruptedException e) {
                    return;
                }
                vm.vcpu.setInterruptLine(true);
            });
            vm.nextOut(0x90);
            long rbx = vm.vcpu.registers().rbx();
            long savedRip = vm.nextOut(0x91);
            assertTrue(rbx > 1000, "the loop ran until the interrupt: " + rbx);
            assertTrue(savedRip == ((EmuVm.CODE + 1) & 0xFF) || savedRip == ((EmuVm.CODE + 4) & 0xFF),
                    "saved RIP at the INC or the JMP: " + Long.toHexString(savedRip));
            assertEquals(1, source.acknowledged.get());
            raiser.interrupt();
        }
    }

    @Test
    void theStiShadowDelaysTheInterruptByExactlyOneInstruction() {
        // IF = 0 at entry with INTR already up: sti; inc ebx; inc ebx; inc ebx
        try (EmuVm vm = new EmuVm(hex("fb ff c3 ff c3 ff c3 f4"))) {
            OneRequest source = setUp(vm);
            vm.vcpu.setInterruptLine(true);
            assertEquals(1, vm.nextOut(0x90), "one INC ran in the shadow of STI, then the interrupt");
            assertEquals((EmuVm.CODE + 3) & 0xFF, vm.nextOut(0x91), "saved RIP: the second INC");
            assertEquals(1, source.acknowledged.get());
        }
    }

    /**
     * The instruction in STI's shadow starts a block whose compiled code would leave its flags uncomputed (ADD sets them
     * all after it): the interrupt after it sees them, in the RFLAGS it pushes.
     */
    @Test
    void theFlagsOfTheInstructionInTheShadowAreThoseTheInterruptSees() {
        // mov edx, 0x10000; mov ecx, 0x10000; sti; imul edx, ecx (CF = OF = 1); add eax, esi; hlt
        try (EmuVm vm = new EmuVm(hex("ba 00 00 01 00 b9 00 00 01 00 fb 0f af d1 01 f0 f4"))) {
            setUp(vm);
            byte[] h = hex("8b 44 24 10 e6 92" // mov eax, [rsp + 16]: the pushed RFLAGS; out 0x92, al
                    + "48 cf"); // iretq
            vm.memory.write(HANDLER, h, 0, h.length);
            vm.vcpu.setInterruptLine(true);
            long flags = vm.nextOut(0x92);
            assertEquals(1, flags & 1, "CF from the IMUL");
        }
    }

    @Test
    void movSsBlocksTheInterruptForOneInstructionToo() {
        // IF = 0 at entry: mov eax, 0x10; sti; mov ss, ax (in the STI shadow); inc ebx (in the MOV SS shadow); inc ebx
        try (EmuVm vm = new EmuVm(hex("b8 10 00 00 00 fb 8e d0 ff c3 ff c3 f4"))) {
            setUp(vm);
            vm.vcpu.setInterruptLine(true);
            assertEquals(1, vm.nextOut(0x90));
            assertEquals((EmuVm.CODE + 10) & 0xFF, vm.nextOut(0x91), "saved RIP: the second INC");
        }
    }

    @Test
    void popfSettingIfHasNoShadow() {
        // push 0x202; popfq; inc ebx: the interrupt comes right after POPF
        try (EmuVm vm = new EmuVm(hex("68 02 02 00 00 9d ff c3 f4"))) {
            setUp(vm);
            vm.vcpu.setInterruptLine(true);
            assertEquals(0, vm.nextOut(0x90));
            assertEquals((EmuVm.CODE + 6) & 0xFF, vm.nextOut(0x91));
        }
    }

    @Test
    void withInterruptsDisabledTheRequestWaitsAndHltIsAnExit() {
        try (EmuVm vm = new EmuVm(hex("ff c3 f4"))) {
            OneRequest source = setUp(vm);
            vm.vcpu.setInterruptLine(true);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run(), "IF = 0: HLT leaves to the machine");
            assertEquals(0, source.acknowledged.get());
            assertEquals(1, vm.vcpu.registers().rbx());
        }
    }

    @Test
    void anInterruptWakesHltAndReturnsAfterIt() throws Exception {
        // sti; hlt; mov al, 0x55; out 0x92, al
        try (EmuVm vm = new EmuVm(hex("fb f4 b0 55 e6 92"))) {
            OneRequest source = setUp(vm);
            CompletableFuture<Long> handler = CompletableFuture.supplyAsync(() -> vm.nextOut(0x90),
                    r -> Thread.ofPlatform().start(r));
            waitUntilHalted(vm);
            Thread.sleep(50);
            assertFalse(handler.isDone(), "HLT waits for INTR");
            vm.vcpu.setInterruptLine(true);
            assertEquals(0, handler.get(10, TimeUnit.SECONDS));
            assertEquals((EmuVm.CODE + 2) & 0xFF, vm.nextOut(0x91), "the interrupt returns after the HLT");
            assertEquals(0x55, vm.nextOut(0x92));
            assertEquals(1, source.acknowledged.get());
        }
    }

    @Test
    void requestExitEndsAHltWaitAndTheVcpuStaysHalted() throws Exception {
        try (EmuVm vm = new EmuVm(hex("fb f4 b0 55 e6 92"))) {
            setUp(vm);
            CompletableFuture<VcpuExit> run = CompletableFuture.supplyAsync(vm.vcpu::run, r -> Thread.ofPlatform().start(r));
            waitUntilHalted(vm);
            vm.vcpu.requestExit();
            assertInstanceOf(VcpuExit.Interrupted.class, run.get(10, TimeUnit.SECONDS));
            assertTrue(vm.vcpu.halted(), "still in HLT: the next run waits again");
            vm.vcpu.clearExitRequest();
            vm.vcpu.setInterruptLine(true);
            assertEquals(0, vm.nextOut(0x90));
        }
    }

    private static void waitUntilHalted(EmuVm vm) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!vm.vcpu.halted()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the vCPU never reached HLT");
            }
            Thread.sleep(5);
        }
    }
}
