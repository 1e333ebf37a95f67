package io.jkvm.snapshot;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.x86.Activity;
import io.jkvm.x86.ApxState;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.DebugRegisters;
import io.jkvm.x86.PendingEvents;
import io.jkvm.x86.Registers;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuState;
import io.jkvm.x86.XsaveArea;
import io.jkvm.x86.XsaveComponent;
import io.jkvm.x86.XsaveLayout;

import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;

/**
 * The snapshot's sections as JSON with named fields (docs/snapshot-format.md): the CPU model, and each vCPU's
 * registers, segments, control registers, XCR0, XSAVE components by number (with the offset each had and its bytes),
 * MSRs, events and debug registers. XSAVE state is read back by component number into the layout of the snapshot's
 * own CPU model, never by offset. Anything missing or malformed is a {@link SnapshotException} naming the field.
 */
final class StateJson {
    private StateJson() {
    }

    static final ObjectMapper MAPPER = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();

    // ---- CPU model -------------------------------------------------------------------------------------------

    static ObjectNode cpuModel(CpuModel model) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("spec", model.spec());
        n.put("vendor", model.cpuid().vendor());
        n.put("mxcsrMask", model.mxcsrMask());
        n.set("cpuid", MAPPER.valueToTree(model.cpuid().entries()));
        ArrayNode layout = n.putArray("xsaveLayout"); // what the CPUID implies, for a reader that does not decode leaf 0xD
        for (XsaveLayout.Component c : model.layout().components()) {
            layout.addObject().put("component", c.number()).put("name", c.name()).put("offset", c.offset()).put("size", c.size())
                    .put("supervisor", c.supervisor());
        }
        return n;
    }

    static CpuModel cpuModel(JsonNode n) {
        List<CpuidEntry> entries = read(n, "cpuid", MAPPER.getTypeFactory().constructCollectionType(List.class, CpuidEntry.class));
        try {
            return new CpuModel(text(n, "spec"), new CpuidTable(entries), integer(n, "mxcsrMask"));
        } catch (RuntimeException e) {
            throw new SnapshotException("the CPU model section is not valid: " + e.getMessage());
        }
    }

    // ---- vCPUs -----------------------------------------------------------------------------------------------

    static ObjectNode vcpu(int id, VcpuState s) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("id", id);
        n.put("activity", s.activity().name());
        n.set("registers", MAPPER.valueToTree(s.registers()));
        ArrayNode egprs = n.putArray("r16ToR31"); // also in XSAVE component 19: written twice so a reader sees them by name
        for (int i = 16; i < 32; i++) {
            egprs.add(s.gpr(i));
        }
        n.set("specialRegisters", MAPPER.valueToTree(s.specialRegisters()));
        n.put("xcr0", s.xcr0());
        n.set("xsave", xsave(s.xsave()));
        ArrayNode msrs = n.putArray("msrs");
        s.msrs().forEach((index, value) -> msrs.addObject().put("index", String.format("0x%x", index)).put("value", value));
        n.set("events", MAPPER.valueToTree(s.events()));
        n.set("debugRegisters", MAPPER.valueToTree(s.debugRegisters()));
        return n;
    }

    /** A vCPU of {@code model}: its CPUID is the model's with the vCPU's APIC ID, its XSAVE area in the model's layout. */
    static VcpuState vcpu(JsonNode n, CpuModel model) {
        int id = integer(n, "id");
        Activity activity;
        try {
            activity = Activity.valueOf(text(n, "activity"));
        } catch (IllegalArgumentException e) {
            throw new SnapshotException("vCPU " + id + ": activity '" + n.get("activity").asText() + "' is not ACTIVE or HALTED");
        }
        SequencedMap<Integer, Long> msrs = new LinkedHashMap<>();
        for (JsonNode m : array(n, "msrs")) {
            String index = text(m, "index");
            try {
                msrs.put(Integer.parseUnsignedInt(index.replaceFirst("^0x", ""), 16), m.get("value").longValue());
            } catch (NumberFormatException | NullPointerException e) {
                throw new SnapshotException("vCPU " + id + ": MSR '" + index + "' is not a hex index with a value");
            }
        }
        XsaveArea xsave = xsave(require(n, "xsave"), model.layout(), id);
        VcpuState s = new VcpuState(model.cpuid().withApicId(id), read(n, "registers", Registers.class),
                read(n, "specialRegisters", SpecialRegisters.class), require(n, "xcr0").longValue(), xsave, msrs,
                read(n, "events", PendingEvents.class), read(n, "debugRegisters", DebugRegisters.class), activity);
        JsonNode egprs = array(n, "r16ToR31");
        if (xsave.present(ApxState.COMPONENT)) {
            for (int i = 16; i < 32; i++) {
                if (egprs.size() != 16 || egprs.get(i - 16).longValue() != s.gpr(i)) {
                    throw new SnapshotException("vCPU " + id + ": R" + i + " differs between r16ToR31 and XSAVE component 19");
                }
            }
        }
        return s;
    }

    private static ObjectNode xsave(XsaveArea area) {
        ObjectNode n = MAPPER.createObjectNode();
        byte[] bytes = area.toBytes();
        n.put("legacy", HEX.formatHex(bytes, 0, XsaveLayout.LEGACY_SIZE));
        n.put("xstateBv", area.xstateBv());
        ArrayNode components = n.putArray("components");
        for (XsaveLayout.Component c : area.layout().components()) {
            if (c.number() >= 2 && !c.supervisor() && area.present(c.number())) {
                components.addObject().put("component", c.number()).put("name", c.name()).put("offset", c.offset())
                        .put("size", c.size()).put("bytes", HEX.formatHex(area.component(c.number())));
            }
        }
        return n;
    }

    /** The area in {@code layout}: each component placed by its number; one the layout lacks is named. */
    private static XsaveArea xsave(JsonNode n, XsaveLayout layout, int vcpu) {
        byte[] legacy = hex(text(n, "legacy"), "vCPU " + vcpu + " XSAVE legacy region");
        if (legacy.length != XsaveLayout.LEGACY_SIZE) {
            throw new SnapshotException("vCPU " + vcpu + ": the XSAVE legacy region is " + legacy.length + " bytes, not 512");
        }
        byte[] image = new byte[layout.standardSize()];
        System.arraycopy(legacy, 0, image, 0, legacy.length);
        long xstateBv = require(n, "xstateBv").longValue();
        java.nio.ByteBuffer.wrap(image).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(XsaveArea.XSTATE_BV, xstateBv);
        long placed = xstateBv & 3;
        for (JsonNode c : array(n, "components")) {
            int number = integer(c, "component");
            if (!layout.has(number)) {
                throw new SnapshotException("vCPU " + vcpu + ": XSAVE component " + number + " (" + XsaveComponent.nameOf(number)
                        + ") is in use, and the snapshot's CPU model has no place for it");
            }
            XsaveLayout.Component at = layout.require(number);
            byte[] bytes = hex(text(c, "bytes"), "vCPU " + vcpu + " XSAVE component " + number);
            if (bytes.length != at.size()) {
                throw new SnapshotException("vCPU " + vcpu + ": XSAVE component " + number + " has " + bytes.length
                        + " bytes, the CPU model says " + at.size());
            }
            System.arraycopy(bytes, 0, image, at.offset(), bytes.length); // by number: the offset is this layout's
            placed |= 1L << number;
        }
        if (placed != xstateBv) {
            throw new SnapshotException(String.format("vCPU %d: XSTATE_BV 0x%x marks components the section does not carry (0x%x)",
                    vcpu, xstateBv, xstateBv & ~placed));
        }
        return XsaveArea.of(layout, image);
    }

    // ---- devices ---------------------------------------------------------------------------------------------

    static ObjectNode device(String id, Record state) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("id", id);
        n.put("type", state.getClass().getName());
        n.set("state", MAPPER.valueToTree(state));
        return n;
    }

    static <S extends Record> S deviceState(JsonNode n, Class<S> type) {
        return read(n, "state", type);
    }

    // ---- field access with one-line errors -------------------------------------------------------------------

    static JsonNode require(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            throw new SnapshotException("the field '" + field + "' is missing");
        }
        return v;
    }

    static String text(JsonNode n, String field) {
        JsonNode v = require(n, field);
        if (!v.isTextual()) {
            throw new SnapshotException("the field '" + field + "' is not text");
        }
        return v.asText();
    }

    static int integer(JsonNode n, String field) {
        JsonNode v = require(n, field);
        if (!v.canConvertToInt()) {
            throw new SnapshotException("the field '" + field + "' is not a 32-bit number");
        }
        return v.intValue();
    }

    static long number(JsonNode n, String field) {
        JsonNode v = require(n, field);
        if (!v.canConvertToLong()) {
            throw new SnapshotException("the field '" + field + "' is not a 64-bit number");
        }
        return v.longValue();
    }

    static JsonNode array(JsonNode n, String field) {
        JsonNode v = require(n, field);
        if (!v.isArray()) {
            throw new SnapshotException("the field '" + field + "' is not a list");
        }
        return v;
    }

    private static <T> T read(JsonNode n, String field, Class<T> type) {
        try {
            return MAPPER.treeToValue(require(n, field), type);
        } catch (JsonProcessingException | IllegalArgumentException e) {
            throw new SnapshotException("the field '" + field + "' is not a valid " + type.getSimpleName() + ": " + reason(e));
        }
    }

    private static <T> T read(JsonNode n, String field, com.fasterxml.jackson.databind.JavaType type) {
        try {
            return MAPPER.treeToValue(require(n, field), type);
        } catch (JsonProcessingException | IllegalArgumentException e) {
            throw new SnapshotException("the field '" + field + "' is not valid: " + reason(e));
        }
    }

    private static String reason(Exception e) {
        String m = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.replace('\n', ' ');
    }

    private static byte[] hex(String text, String what) {
        try {
            return HEX.parseHex(text);
        } catch (IllegalArgumentException e) {
            throw new SnapshotException(what + " is not hex bytes");
        }
    }
}
