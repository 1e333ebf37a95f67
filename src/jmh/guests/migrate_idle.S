# Migration benchmark: the guest that idles once its RAM is filled (migrate_guest.inc).
        .include "migrate_guest.inc"
