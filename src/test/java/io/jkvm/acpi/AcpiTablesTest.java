package io.jkvm.acpi;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ACPI tables as an OS finds them: the RSDP's checksums, the XSDT and RSDT to the FADT and MADT, every table's
 * checksum, the FADT's registers and FACS and DSDT, a local APIC per vCPU in the MADT; and ACPICA's own disassembler
 * (iasl -d, from acpica-tools) decodes each table without an error and reads the fields back.
 */
class AcpiTablesTest {
    private static final long BASE = 0xF0000;
    private static final AcpiTables.Platform PC = new AcpiTables.Platform(0xFEE00000L, 0xFEC00000L, 0, 0x600, 9, 0xCF9, 6);

    @TempDir
    Path dir;

    private final byte[] image = AcpiTables.build(PC, 3, BASE);
    private final ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);

    private String text(int at, int length) {
        return new String(image, at, length, StandardCharsets.US_ASCII);
    }

    private int at(long address) {
        return (int) (address - BASE);
    }

    private static int sum(byte[] bytes, int from, int length) {
        int s = 0;
        for (int i = from; i < from + length; i++) {
            s += bytes[i];
        }
        return s & 0xFF;
    }

    /** The tables the XSDT lists, by signature (each checked: its checksum, and the RSDT listing the same). */
    private Map<String, Integer> tables() {
        assertEquals("RSD PTR ", text(0, 8));
        assertEquals(0, sum(image, 0, 20), "the RSDP's ACPI 1.0 checksum");
        assertEquals(0, sum(image, 0, 36), "the RSDP's extended checksum");
        assertEquals(2, image[15], "revision 2: the XSDT is there");
        int rsdt = at(b.getInt(16) & 0xFFFFFFFFL), xsdt = at(b.getLong(24));
        assertEquals("RSDT", text(rsdt, 4));
        assertEquals("XSDT", text(xsdt, 4));
        Map<String, Integer> found = new LinkedHashMap<>();
        int entries = (b.getInt(xsdt + 4) - 36) / 8;
        assertEquals(entries, (b.getInt(rsdt + 4) - 36) / 4, "the RSDT lists as many tables");
        for (int i = 0; i < entries; i++) {
            int t = at(b.getLong(xsdt + 36 + 8 * i));
            assertEquals(t, at(b.getInt(rsdt + 36 + 4 * i) & 0xFFFFFFFFL));
            found.put(text(t, 4), t);
        }
        for (int t : List.of(rsdt, xsdt)) {
            found.putIfAbsent(text(t, 4), t);
        }
        int fadt = found.get("FACP");
        found.put("DSDT", at(b.getInt(fadt + 40) & 0xFFFFFFFFL));
        for (Map.Entry<String, Integer> e : found.entrySet()) {
            assertEquals(0, sum(image, e.getValue(), b.getInt(e.getValue() + 4)), e.getKey() + "'s checksum");
        }
        return found;
    }

    @Test
    void anOsFindsEveryTableAndItsRegisters() {
        Map<String, Integer> t = tables();
        assertEquals(List.of("FACP", "APIC", "RSDT", "XSDT", "DSDT"), List.copyOf(t.keySet()));
        int fadt = t.get("FACP");
        assertEquals(9, b.getShort(fadt + 46), "SCI_INT");
        assertEquals(0x600, b.getInt(fadt + 56), "PM1a_EVT_BLK");
        assertEquals(0x604, b.getInt(fadt + 64), "PM1a_CNT_BLK");
        assertEquals(0x608, b.getInt(fadt + 76), "PM_TMR_BLK");
        assertEquals(0xCF9, b.getLong(fadt + 116 + 4), "RESET_REG's port");
        assertEquals(AcpiTables.IAPC_LEGACY_DEVICES, b.getShort(fadt + 109),
                "IAPC_BOOT_ARCH: ISA devices, no 8042 to probe (the 8042 only resets)");
        int facs = at(b.getInt(fadt + 36) & 0xFFFFFFFFL);
        assertEquals("FACS", text(facs, 4));
        assertEquals(0, (BASE + facs) % 64, "the FACS is 64-byte aligned");
        assertEquals(t.get("DSDT"), at(b.getLong(fadt + 140)), "X_DSDT and DSDT agree");
        int madt = t.get("APIC"), end = madt + b.getInt(madt + 4);
        assertEquals(0xFEE00000, b.getInt(madt + 36));
        List<Integer> apicIds = new ArrayList<>();
        int ioapics = 0;
        for (int e = madt + 44; e < end; e += image[e + 1]) {
            switch (image[e]) {
                case 0 -> apicIds.add((int) image[e + 3]);
                case 1 -> {
                    ioapics++;
                    assertEquals(0xFEC00000, b.getInt(e + 4));
                }
                default -> {
                }
            }
        }
        assertEquals(List.of(0, 1, 2), apicIds, "a local APIC per vCPU");
        assertEquals(1, ioapics);
    }

    @Test
    void iaslDecodesEveryTable() throws Exception {
        Map<String, Integer> t = tables();
        t.put("FACS", at(b.getInt(t.get("FACP") + 36) & 0xFFFFFFFFL));
        Map<String, String> expected = Map.of(
                "FACP", "PM1A Event Block Address : 00000600",
                "APIC", "Local Apic Address : FEE00000",
                "DSDT", "Name (_S5, Package (0x04)",
                "FACS", "Signature : \"FACS\"",
                "XSDT", "ACPI Table Address   1 :",
                "RSDT", "ACPI Table Address   1 :");
        for (Map.Entry<String, String> e : expected.entrySet()) {
            int at = t.get(e.getKey());
            String dsl = disassemble(e.getKey(), java.util.Arrays.copyOfRange(image, at, at + b.getInt(at + 4)));
            assertTrue(dsl.contains(e.getValue().replaceAll(" +", " ")), e.getKey() + ":\n" + dsl);
        }
    }

    /** iasl -d of one table, which it must decode without an error or a warning; its text, runs of blanks as one. */
    private String disassemble(String signature, byte[] table) throws Exception {
        Path file = dir.resolve(signature.toLowerCase() + ".dat");
        Files.write(file, table);
        Process p = new ProcessBuilder("iasl", "-d", file.toString()).directory(dir.toFile()).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), signature + ": " + log);
        String dsl = Files.readString(dir.resolve(signature.toLowerCase() + ".dsl")).replaceAll("[ \\t]+", " ");
        assertTrue(!dsl.contains("Invalid") && !dsl.contains("**** "), signature + " has a warning:\n" + dsl);
        return dsl;
    }

    /** The DSDT with virtio-mmio devices: each one a Device with _HID LNRO0005, its window and its level-triggered GSI. */
    @Test
    void iaslDecodesTheVirtioMmioDevicesInTheDsdt() throws Exception {
        List<AcpiTables.MmioDevice> devices = List.of(new AcpiTables.MmioDevice(0xD0000000L, 0x200, 16),
                new AcpiTables.MmioDevice(0xD0001000L, 0x1000, 23));
        byte[] tables = AcpiTables.build(PC, 2, BASE, devices);
        ByteBuffer t = ByteBuffer.wrap(tables).order(ByteOrder.LITTLE_ENDIAN);
        int fadt = at(t.getLong(at(t.getLong(24)) + 36)); // the XSDT's first entry
        assertEquals("FACP", new String(tables, fadt, 4, StandardCharsets.US_ASCII));
        int dsdt = at(t.getInt(fadt + 40) & 0xFFFFFFFFL);
        assertEquals("DSDT", new String(tables, dsdt, 4, StandardCharsets.US_ASCII));
        int length = t.getInt(dsdt + 4);
        assertEquals(0, sum(tables, dsdt, length), "the DSDT's checksum");
        String dsl = disassemble("DSDT", java.util.Arrays.copyOfRange(tables, dsdt, dsdt + length));
        assertTrue(dsl.contains("Name (_S5, Package (0x04)"), "the sleep states are still there:\n" + dsl);
        assertTrue(dsl.contains("Scope (\\_SB)"), dsl);
        int vr00 = dsl.indexOf("Device (VR00)"), vr01 = dsl.indexOf("Device (VR01)");
        assertTrue(vr00 > 0 && vr01 > vr00 && !dsl.contains("Device (VR02)"), "a Device per virtio-mmio device:\n" + dsl);
        List<String> bodies = List.of(dsl.substring(vr00, vr01), dsl.substring(vr01));
        for (int n = 0; n < 2; n++) {
            String d = bodies.get(n);
            AcpiTables.MmioDevice m = devices.get(n);
            assertTrue(d.contains("Name (_HID, \"LNRO0005\")"), d);
            assertTrue(d.contains(String.format("Name (_UID, 0x%02X)", n)), d);
            assertTrue(d.contains(String.format("Memory32Fixed (ReadWrite,%n 0x%08X, // Address Base%n 0x%08X, // Address Length",
                    m.base(), m.size()).replaceAll("\\R", "\n")), d);
            assertTrue(d.contains("Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )"), d);
            assertTrue(d.contains(String.format("{%n 0x%08X,%n }", m.gsi()).replaceAll("\\R", "\n")), d);
        }
    }
}
