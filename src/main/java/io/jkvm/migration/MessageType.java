package io.jkvm.migration;

/** The messages of the migration stream, in the order a migration sends them (docs/migration.md). */
final class MessageType {
    private MessageType() {
    }

    /** Each side's first message: proves it holds the key. */
    static final int HELLO = 1;
    /** Source to destination: guest RAM's size, the vCPUs and the CPU model (JSON), before any memory. */
    static final int MACHINE = 2;
    /** Destination to source: it can take this machine; memory may come. */
    static final int ACCEPT = 3;
    /** Either way: one line why the migration cannot go on; the sender stops. */
    static final int ERROR = 4;
    /** Source to destination: pages, each an 8-byte guest-physical offset and its 4096 bytes. */
    static final int PAGES = 5;
    /** Source to destination: the end of a pre-copy round (its number and pages, for the destination's log). */
    static final int ROUND_END = 6;
    /** Source to destination, with the vCPUs stopped: the machine's state, in the snapshot state file's format. */
    static final int STATE = 7;
    /** Destination to source: the machine runs here now; the source ends. */
    static final int RESUMED = 8;

    static String name(int type) {
        return switch (type) {
            case HELLO -> "HELLO";
            case MACHINE -> "MACHINE";
            case ACCEPT -> "ACCEPT";
            case ERROR -> "ERROR";
            case PAGES -> "PAGES";
            case ROUND_END -> "ROUND_END";
            case STATE -> "STATE";
            case RESUMED -> "RESUMED";
            default -> "type " + type;
        };
    }
}
