package io.jkvm.cli;

/** A minimal JSON writer for `--json` output: objects, arrays, strings, numbers and booleans, correctly escaped. */
final class Json {
    private final StringBuilder out = new StringBuilder();
    private boolean needComma;

    Json open() {
        comma();
        out.append('{');
        needComma = false;
        return this;
    }

    Json close() {
        out.append('}');
        needComma = true;
        return this;
    }

    Json openArray() {
        comma();
        out.append('[');
        needComma = false;
        return this;
    }

    Json closeArray() {
        out.append(']');
        needComma = true;
        return this;
    }

    Json key(String name) {
        comma();
        string(name);
        out.append(':');
        needComma = false;
        return this;
    }

    Json field(String name, String value) {
        return key(name).value(value);
    }

    Json field(String name, long value) {
        key(name);
        out.append(value);
        needComma = true;
        return this;
    }

    Json field(String name, boolean value) {
        key(name);
        out.append(value);
        needComma = true;
        return this;
    }

    Json value(String value) {
        comma();
        string(value);
        needComma = true;
        return this;
    }

    private void comma() {
        if (needComma) {
            out.append(',');
        }
    }

    private void string(String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    @Override
    public String toString() {
        return out.toString();
    }
}
