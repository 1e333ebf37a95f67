/* Everything jkvm binds from C. scripts/gen-bindings runs jextract on this file with @jkvm.jextract. */
#define _GNU_SOURCE /* SEEK_DATA and SEEK_HOLE */
#include <linux/kvm.h>
#include <asm/prctl.h>
#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
