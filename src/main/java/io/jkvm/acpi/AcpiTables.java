package io.jkvm.acpi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The ACPI tables of a PC platform, laid out from one base address in the BIOS area (where an OS scans for the RSDP,
 * 0xE0000-0xFFFFF): the RSDP (revision 2) first, then the RSDT and XSDT, the FADT with its PM1a event and control
 * blocks, PM timer and reset register, the FACS, the MADT with every vCPU's local APIC, the I/O APIC and the ISA
 * interrupt overrides, and a DSDT whose AML gives the sleep states (\_S3 and \_S5, with QEMU's SLP_TYP values).
 */
public final class AcpiTables {
    /** Where the platform's ACPI registers are, and what the tables describe. */
    public record Platform(long localApicAddress, long ioApicAddress, int ioApicId, int pmBase, int sciIrq, int resetPort,
                           int resetValue) {
        /** The PM1a event block (status, enable), PM1a control block and PM timer, from {@code pmBase}. */
        public int pm1aEvent() {
            return pmBase;
        }

        public int pm1aControl() {
            return pmBase + 4;
        }

        public int pmTimer() {
            return pmBase + 8;
        }
    }

    /**
     * A virtio-mmio device the DSDT describes (\_SB.VRnn, _HID "LNRO0005", as QEMU's microvm): its register window and
     * its I/O APIC pin, level-triggered and active high.
     */
    public record MmioDevice(long base, long size, int gsi) {
    }

    /** SLP_TYP values the DSDT gives for S3 and S5 (QEMU's, which kvm-unit-tests' s3 writes as constants). */
    public static final int SLP_TYP_S3 = 1, SLP_TYP_S5 = 0;
    static final String OEM_ID = "JKVM  ", OEM_TABLE_ID = "JKVMPC  ";

    private AcpiTables() {
    }

    /**
     * The tables for {@code p} with {@code cpus} vCPUs (APIC IDs 0..cpus-1), as one block of bytes to place at
     * guest-physical {@code base} (16-byte aligned).
     */
    public static byte[] build(Platform p, int cpus, long base) {
        return build(p, cpus, base, List.of());
    }

    /** As {@link #build(Platform, int, long)}, with {@code devices} described in the DSDT. */
    public static byte[] build(Platform p, int cpus, long base, List<MmioDevice> devices) {
        if ((base & 0xF) != 0 || base + 0x10000 > 0x1_0000_0000L) {
            throw new IllegalArgumentException("ACPI tables at 0x" + Long.toHexString(base) + ": not 16-byte aligned below 4G");
        }
        byte[] dsdt = dsdt(devices);
        byte[] madt = madt(p, cpus);
        // Offsets from base: the RSDP, then each table 64-byte aligned (the FACS must be)
        int rsdpAt = 0, rsdtAt = 64, xsdtAt = 128, fadtAt = FADT_AT, facsAt = FACS_AT, madtAt = facsAt + 64,
                dsdtAt = align(madtAt + madt.length), end = dsdtAt + dsdt.length;
        ByteBuffer b = ByteBuffer.allocate(end).order(ByteOrder.LITTLE_ENDIAN);
        b.put(rsdpAt, rsdp(base + rsdtAt, base + xsdtAt));
        b.put(rsdtAt, table("RSDT", 1, le32(base + fadtAt, base + madtAt)));
        b.put(xsdtAt, table("XSDT", 1, le64(base + fadtAt, base + madtAt)));
        b.put(fadtAt, fadt(p, base + facsAt, base + dsdtAt));
        b.put(facsAt, facs());
        b.put(madtAt, madt);
        b.put(dsdtAt, dsdt);
        return b.array();
    }


    private static final int FADT_LENGTH = 276; // revision 6
    private static final int FADT_AT = 192, FACS_AT = align(FADT_AT + FADT_LENGTH);

    /** Where the FACS is in the tables {@link #build} placed at {@code base}: the firmware waking vector is at +12. */
    public static long facs(long base) {
        return base + FACS_AT;
    }

    private static int align(int offset) {
        return (offset + 63) & ~63;
    }

    // ---- RSDP and the root tables ------------------------------------------------------------------------------

    private static byte[] rsdp(long rsdt, long xsdt) {
        ByteBuffer b = ByteBuffer.allocate(36).order(ByteOrder.LITTLE_ENDIAN);
        b.put("RSD PTR ".getBytes(StandardCharsets.US_ASCII));
        b.put(9, OEM_ID.getBytes(StandardCharsets.US_ASCII));
        b.put(15, (byte) 2); // revision 2: ACPI 2.0+, with the XSDT
        b.putInt(16, (int) rsdt);
        b.putInt(20, 36);
        b.putLong(24, xsdt);
        byte[] bytes = b.array();
        bytes[8] = checksum(bytes, 0, 20);
        bytes[32] = checksum(bytes, 0, 36);
        return bytes;
    }

    private static byte[] le32(long... addresses) {
        ByteBuffer b = ByteBuffer.allocate(4 * addresses.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long a : addresses) {
            b.putInt((int) a);
        }
        return b.array();
    }

    private static byte[] le64(long... addresses) {
        ByteBuffer b = ByteBuffer.allocate(8 * addresses.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long a : addresses) {
            b.putLong(a);
        }
        return b.array();
    }

    /** A table: the 36-byte header (signature, length, revision, checksum, OEM ids, creator) and {@code body}. */
    static byte[] table(String signature, int revision, byte[] body) {
        ByteBuffer b = ByteBuffer.allocate(36 + body.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(signature.getBytes(StandardCharsets.US_ASCII));
        b.putInt(4, 36 + body.length);
        b.put(8, (byte) revision);
        b.put(10, OEM_ID.getBytes(StandardCharsets.US_ASCII));
        b.put(16, OEM_TABLE_ID.getBytes(StandardCharsets.US_ASCII));
        b.putInt(24, 1); // OEM revision
        b.put(28, "JKVM".getBytes(StandardCharsets.US_ASCII));
        b.putInt(32, 1); // creator revision
        b.put(36, body);
        byte[] bytes = b.array();
        bytes[9] = checksum(bytes, 0, bytes.length);
        return bytes;
    }

    /** The byte that makes {@code length} bytes from {@code from} sum to 0 (its own place counted as 0). */
    static byte checksum(byte[] bytes, int from, int length) {
        int sum = 0;
        for (int i = from; i < from + length; i++) {
            sum += bytes[i];
        }
        return (byte) -sum;
    }

    // ---- FADT and FACS -----------------------------------------------------------------------------------------

    private static final int FADT_WBINVD = 1, FADT_PROC_C1 = 1 << 2, FADT_SLP_BUTTON = 1 << 5, FADT_TMR_VAL_EXT = 1 << 8,
            FADT_RESET_REG_SUP = 1 << 10;
    /** IAPC_BOOT_ARCH's bit 0: ISA devices (serial, RTC, PIT) are there. Its bit 1, an 8042, stays clear. */
    static final int IAPC_LEGACY_DEVICES = 1;

    private static byte[] fadt(Platform p, long facs, long dsdt) {
        ByteBuffer b = ByteBuffer.allocate(FADT_LENGTH - 36).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(36 - 36, (int) facs); // FIRMWARE_CTRL
        b.putInt(40 - 36, (int) dsdt);
        b.put(45 - 36, (byte) 0); // preferred PM profile: unspecified
        b.putShort(46 - 36, (short) p.sciIrq());
        // SMI_CMD 0: no SMM, ACPI is always enabled (PM1_CNT.SCI_EN reads 1)
        b.putInt(56 - 36, p.pm1aEvent());
        b.putInt(64 - 36, p.pm1aControl());
        b.putInt(76 - 36, p.pmTimer());
        b.put(88 - 36, (byte) 4); // PM1_EVT_LEN
        b.put(89 - 36, (byte) 2); // PM1_CNT_LEN
        b.put(91 - 36, (byte) 4); // PM_TMR_LEN
        b.putShort(96 - 36, (short) 101); // P_LVL2_LAT > 100: no C2
        b.putShort(98 - 36, (short) 1001); // P_LVL3_LAT > 1000: no C3
        b.put(108 - 36, (byte) 0x32); // CENTURY: the CMOS index of the century
        // IAPC_BOOT_ARCH: legacy devices, and no 8042: jkvm's answers none of a keyboard controller's commands (it only
        // resets, as Firecracker's), so a kernel that probed one waited half a second for replies that never came
        b.putShort(109 - 36, (short) IAPC_LEGACY_DEVICES);
        b.putInt(112 - 36, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP);
        gas(b, 116 - 36, 8, p.resetPort()); // RESET_REG
        b.put(128 - 36, (byte) p.resetValue());
        b.put(131 - 36, (byte) 0); // FADT minor version
        // X_FIRMWARE_CTRL stays 0: FIRMWARE_CTRL holds the FACS (the spec allows only one of them)
        b.putLong(140 - 36, dsdt); // X_DSDT
        gas(b, 148 - 36, 32, p.pm1aEvent()); // X_PM1a_EVT_BLK
        gas(b, 172 - 36, 16, p.pm1aControl()); // X_PM1a_CNT_BLK
        gas(b, 208 - 36, 32, p.pmTimer()); // X_PM_TMR_BLK
        return table("FACP", 6, b.array());
    }

    /** A Generic Address Structure for {@code bits} of system I/O at {@code port}. */
    private static void gas(ByteBuffer b, int at, int bits, int port) {
        b.put(at, (byte) 1); // system I/O
        b.put(at + 1, (byte) bits);
        b.put(at + 2, (byte) 0);
        b.put(at + 3, (byte) (bits == 8 ? 1 : bits == 16 ? 2 : 3)); // byte, word or dword access
        b.putLong(at + 4, port);
    }

    private static byte[] facs() {
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.put("FACS".getBytes(StandardCharsets.US_ASCII));
        b.putInt(4, 64);
        b.put(32, (byte) 2); // version
        return b.array(); // hardware signature, waking vectors and global lock: 0
    }

    // ---- MADT ------------------------------------------------------------------------------------------------

    private static byte[] madt(Platform p, int cpus) {
        List<byte[]> entries = new ArrayList<>();
        for (int id = 0; id < cpus; id++) {
            entries.add(new byte[]{0, 8, (byte) id, (byte) id, 1, 0, 0, 0}); // local APIC: ACPI id, APIC id, enabled
        }
        ByteBuffer io = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        io.put((byte) 1).put((byte) 12).put((byte) p.ioApicId()).put((byte) 0).putInt((int) p.ioApicAddress()).putInt(0);
        entries.add(io.array());
        entries.add(override(0, 2, 0)); // the PIT's IRQ 0 on pin 2, as the I/O APIC is wired
        entries.add(override(p.sciIrq(), p.sciIrq(), 0xD)); // the SCI: level-triggered, active high
        entries.add(new byte[]{4, 6, (byte) 0xFF, 0, 0, 1}); // local APIC NMI: every processor's LINT1
        int length = 8 + entries.stream().mapToInt(e -> e.length).sum();
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt((int) p.localApicAddress());
        b.putInt(1); // PCAT_COMPAT: the 8259s are there too
        entries.forEach(b::put);
        return table("APIC", 5, b.array());
    }

    private static byte[] override(int irq, int gsi, int flags) {
        ByteBuffer b = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) 2).put((byte) 10).put((byte) 0).put((byte) irq).putInt(gsi).putShort((short) flags);
        return b.array();
    }

    // ---- DSDT ------------------------------------------------------------------------------------------------

    /**
     * The DSDT: Name (\_S3, Package (4) {1, 1, 0, 0}), Name (\_S5, Package (4) {0, 0, 0, 0}), and in Scope (\_SB) a
     * Device for each virtio-mmio device, with _HID, _UID and _CRS (Memory32Fixed and an extended Interrupt).
     */
    private static byte[] dsdt(List<MmioDevice> devices) {
        ByteBuffer aml = ByteBuffer.allocate(64);
        sleepState(aml, "_S3_", SLP_TYP_S3);
        sleepState(aml, "_S5_", SLP_TYP_S5);
        java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        body.write(aml.array(), 0, aml.position());
        if (!devices.isEmpty()) {
            java.io.ByteArrayOutputStream scope = new java.io.ByteArrayOutputStream();
            scope.writeBytes(new byte[]{'\\', '_', 'S', 'B', '_'});
            for (int n = 0; n < devices.size(); n++) {
                scope.writeBytes(mmioDevice(n, devices.get(n)));
            }
            body.writeBytes(pkg(new byte[]{SCOPE_OP}, scope.toByteArray()));
        }
        return table("DSDT", 2, body.toByteArray());
    }

    private static final byte SCOPE_OP = 0x10, BUFFER_OP = 0x11, STRING_PREFIX = 0x0D, EXT_OP = 0x5B, DEVICE_OP = (byte) 0x82;

    /** Device (VRnn) { Name (_HID, "LNRO0005") Name (_UID, n) Name (_CRS, ResourceTemplate () {...}) }. */
    private static byte[] mmioDevice(int n, MmioDevice d) {
        java.io.ByteArrayOutputStream dev = new java.io.ByteArrayOutputStream();
        dev.writeBytes(String.format("VR%02X", n).getBytes(StandardCharsets.US_ASCII));
        dev.write(NAME_OP);
        dev.writeBytes("_HID".getBytes(StandardCharsets.US_ASCII));
        dev.write(STRING_PREFIX);
        dev.writeBytes("LNRO0005".getBytes(StandardCharsets.US_ASCII));
        dev.write(0);
        dev.write(NAME_OP);
        dev.writeBytes("_UID".getBytes(StandardCharsets.US_ASCII));
        dev.write(BYTE_PREFIX);
        dev.write(n);
        ByteBuffer crs = ByteBuffer.allocate(12 + 9 + 2).order(ByteOrder.LITTLE_ENDIAN);
        crs.put((byte) 0x86).putShort((short) 9).put((byte) 1).putInt((int) d.base()).putInt((int) d.size()); // Memory32Fixed, RW
        crs.put((byte) 0x89).putShort((short) 6).put((byte) 1).put((byte) 1).putInt(d.gsi()); // consumer, level, high, exclusive
        crs.put((byte) 0x79).put((byte) 0); // end tag (checksum 0: none)
        java.io.ByteArrayOutputStream buffer = new java.io.ByteArrayOutputStream();
        buffer.write(BYTE_PREFIX);
        buffer.write(crs.capacity());
        buffer.writeBytes(crs.array());
        dev.write(NAME_OP);
        dev.writeBytes("_CRS".getBytes(StandardCharsets.US_ASCII));
        dev.writeBytes(pkg(new byte[]{BUFFER_OP}, buffer.toByteArray()));
        return pkg(new byte[]{EXT_OP, DEVICE_OP}, dev.toByteArray());
    }

    /** {@code op}, a PkgLength (1 to 3 bytes, counting itself) and {@code body}. */
    static byte[] pkg(byte[] op, byte[] body) {
        int bytes = body.length + 1 < 0x40 ? 1 : body.length + 2 < 0x1000 ? 2 : 3;
        int length = body.length + bytes;
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        out.writeBytes(op);
        if (bytes == 1) {
            out.write(length);
        } else {
            out.write((bytes - 1) << 6 | length & 0xF);
            out.write(length >>> 4 & 0xFF);
            if (bytes == 3) {
                out.write(length >>> 12 & 0xFF);
            }
        }
        out.writeBytes(body);
        return out.toByteArray();
    }

    private static final byte NAME_OP = 0x08, PACKAGE_OP = 0x12, BYTE_PREFIX = 0x0A;

    private static void sleepState(ByteBuffer aml, String name, int slpTyp) {
        aml.put(NAME_OP).put(name.getBytes(StandardCharsets.US_ASCII));
        aml.put(PACKAGE_OP).put((byte) 10); // PkgLength: itself, NumElements and four two-byte elements
        aml.put((byte) 4);
        for (int v : new int[]{slpTyp, slpTyp, 0, 0}) {
            aml.put(BYTE_PREFIX).put((byte) v);
        }
    }
}
