package io.jkvm.kvm;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The checks Kvm.open makes on what the device says, fed values the real device here never gives. */
class KvmVerifyTest {

    @Test
    void anApiVersionOtherThan12IsRefused() {
        KvmException e = assertThrows(KvmException.class, () -> Kvm.verify("/dev/kvm", 11, c -> 1));
        assertEquals("/dev/kvm speaks KVM API version 11, jkvm needs 12: use a Linux kernel with standard KVM", e.getMessage());
    }

    @Test
    void aMissingRequiredCapabilityIsNamed() {
        KvmException e = assertThrows(KvmException.class,
                () -> Kvm.verify("/dev/kvm", 12, c -> c == Capability.IMMEDIATE_EXIT ? 0 : 1));
        assertEquals("KVM at /dev/kvm lacks KVM_CAP_IMMEDIATE_EXIT, which jkvm needs: use a newer Linux kernel", e.getMessage());
    }

    @Test
    void optionalCapabilitiesMayBeAbsent() {
        Kvm.verify("/dev/kvm", 12, c -> c.required() ? 1 : 0);
    }

    @Test
    void aDeviceThatIsNotKvmIsNamed() {
        KvmException e = assertThrows(KvmException.class, () -> Kvm.open("/dev/null"));
        assertEquals("/dev/null is not a KVM device (ioctl(KVM_GET_API_VERSION) on /dev/null: Inappropriate ioctl for device"
                + " (errno 25)): pass the KVM device, normally /dev/kvm", e.getMessage());
    }

    @Test
    void aMissingDeviceSaysWhatToDo() {
        KvmException e = assertThrows(KvmException.class, () -> Kvm.open("/nonexistent/kvm"));
        assertEquals("/nonexistent/kvm does not exist: enable KVM on the host (modprobe kvm_intel or kvm_amd, "
                + "virtualization on in the firmware) or pass --device /dev/kvm to the container", e.getMessage());
    }
}
