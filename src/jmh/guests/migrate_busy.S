# Migration benchmark: the guest that keeps dirtying 16 MiB once its RAM is filled (migrate_guest.inc).
        .set BUSY, 1
        .include "migrate_guest.inc"
