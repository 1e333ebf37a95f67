# bench-core: the launch alone. The guest returns at once, so its row is each side's start, result line and exit; the
# other rows' "past the launch" ratio takes these medians off their own. RAX is 0.
        .include "core_bench.inc"
bench:
        xor eax, eax
        ret
