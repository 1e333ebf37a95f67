package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cores over one RAM, as their epochs see them: one for each vCPU id, however often a vCPU is remade on the core
 * (each move to it), and another core's stores are ruled out only while it has slept since the last epoch.
 */
class CoreActivityTest {
    @Test
    void aVcpuRemadeOnTheCoreTakesItsOldCoresPlace() {
        CoreActivity.Cores cores = new CoreActivity.Cores();
        cores.join().isVcpu(0);
        for (int move = 0; move < 100; move++) {
            cores.join().isVcpu(1);
        }
        assertEquals(2, cores.count(), "vCPU 0's core and vCPU 1's latest");
    }

    @Test
    void anotherCoreMayHaveStoredUnlessItSleptSinceTheEpoch() {
        CoreActivity.Cores cores = new CoreActivity.Cores();
        CoreActivity self = cores.join(), other = cores.join();
        self.isVcpu(0);
        other.isVcpu(1);
        assertTrue(self.othersMayHaveStored(), "before the first epoch");
        self.epochBegins();
        assertTrue(self.othersMayHaveStored(), "the other was awake at the epoch");
        other.sleeps();
        self.epochBegins();
        assertFalse(self.othersMayHaveStored(), "asleep at the epoch and since");
        other.wakes();
        other.sleeps();
        assertTrue(self.othersMayHaveStored(), "it woke in between, though asleep again");
        self.epochBegins();
        assertFalse(self.othersMayHaveStored());
        cores.join().isVcpu(1); // vCPU 1 remade (a move): a new core, awake
        assertTrue(self.othersMayHaveStored(), "the set changed since the epoch");
    }
}
