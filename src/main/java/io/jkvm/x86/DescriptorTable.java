package io.jkvm.x86;

/** GDTR or IDTR: linear base and limit. */
public record DescriptorTable(long base, int limit) {
}
