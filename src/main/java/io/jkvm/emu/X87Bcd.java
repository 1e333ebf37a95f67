package io.jkvm.emu;

import io.jkvm.emu.Float80.Env;
import io.jkvm.emu.Float80.Ext;

import java.math.BigInteger;

/**
 * FBLD and FBSTP: the 80-bit packed BCD integer, eighteen digits two to a byte (low nibble first) and the sign in
 * bit 79. FBSTP rounds under RC; a NaN, an infinity or a value beyond eighteen digits is IE, and masked stores the
 * packed BCD indefinite (FFFF C000 0000 0000 0000).
 */
final class X87Bcd {
    private X87Bcd() {
    }

    private static final BigInteger LIMIT = BigInteger.TEN.pow(18);

    /** The value of the ten bytes at {@code a}; nibbles above 9 weigh as their value, which the SDM leaves undefined. */
    static Ext load(Core c, long a) {
        long low = c.read(a, 8);
        int high = (int) c.read(a + 8, 2);
        long value = 0;
        for (int digit = 17; digit >= 0; digit--) {
            long nibble = digit >= 16 ? (high >>> (4 * (digit - 16))) & 0xF : (low >>> (4 * digit)) & 0xF;
            value = value * 10 + nibble;
        }
        Ext v = Float80.fromInteger(value);
        return (high & 0x8000) != 0 ? v.withSign(true) : v;
    }

    static void storeAndPop(Core c) {
        X87State f = c.fpu;
        long a = X87.address(c, 10, true);
        c.checkWritable(a, 10);
        Env env = Env.of(f.control);
        long low;
        int high;
        if (f.empty(0)) {
            if (!X87.stackUnderflow(f)) {
                return;
            }
            low = 0xC000_0000_0000_0000L;
            high = 0xFFFF;
        } else {
            Ext v = f.st(0);
            BigInteger n = v.isFinite() ? Float80.integral(v, false, env) : null;
            if (n == null || n.abs().compareTo(LIMIT) >= 0) {
                env.flags = (env.flags & ~Float80.PE) | Float80.IE;
                env.roundedUp = false;
                f.raise(env.flags);
                if (env.stopped()) {
                    f.setC1(false);
                    return;
                }
                low = 0xC000_0000_0000_0000L;
                high = 0xFFFF;
            } else {
                long m = n.abs().longValue();
                low = 0;
                high = v.negative() ? 0x8000 : 0;
                for (int digit = 0; digit < 18; digit++) {
                    long d = m % 10;
                    m /= 10;
                    if (digit < 16) {
                        low |= d << (4 * digit);
                    } else {
                        high |= (int) d << (4 * (digit - 16));
                    }
                }
                f.raise(env.flags);
            }
        }
        c.write(a, 8, low);
        c.write(a + 8, 2, high);
        f.setC1(env.roundedUp);
        f.pop();
    }
}
