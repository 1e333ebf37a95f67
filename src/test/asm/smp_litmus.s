# The SMP test guests of SmpMemoryTest, assembled with: llvm-mc -triple=x86_64 -filetype=obj -o x.o FILE && objcopy -O binary -j .text x.o x.bin
# Three blobs: LOCKS (ticket, counter), LITMUS and CROSS_MODIFYING; each starts at its first label.
# ---- LOCKS
.intel_syntax noprefix
# ticket: rbx = DATA, rcx = iterations
ticket:
  mov eax, 1
  lock xadd dword ptr [rbx], eax
1: cmp dword ptr [rbx + 4], eax
  je 2f
  pause
  jmp 1b
2: inc qword ptr [rbx + 8]
  inc dword ptr [rbx + 4]
  dec rcx
  jnz ticket
  hlt
# counter: a CMPXCHG loop on [rbx + 16]
counter:
  mov rax, qword ptr [rbx + 16]
3: lea rdx, [rax + 1]
  lock cmpxchg qword ptr [rbx + 16], rdx
  jne 3b
  dec rcx
  jnz counter
  hlt
# ---- LITMUS
.intel_syntax noprefix
.macro barrier
  lock inc qword ptr [rbx]
  lea rax, [rsi + rsi + 2]
9: cmp qword ptr [rbx], rax
  jae 8f
  pause
  jmp 9b
8:
  mov rdi, rsi
  shl rdi, 4
.endm
.macro next
  inc rsi
  cmp rsi, rcx
.endm
mp_writer:
  xor esi, esi
1: barrier
  mov qword ptr [rbx + rdi + 64], 1
  mov qword ptr [rbx + rdi + 72], 1
  next
  jb 1b
  hlt
mp_reader:
  xor esi, esi
1: barrier
2: mov rax, qword ptr [rbx + rdi + 72]
  test rax, rax
  jz 2b
  mov rdx, qword ptr [rbx + rdi + 64]
  mov qword ptr [rbx + rdi + 0x80000], rdx
  next
  jb 1b
  hlt
sb_a:
  xor esi, esi
1: barrier
  mov qword ptr [rbx + rdi + 64], 1
  mov rax, qword ptr [rbx + rdi + 72]
  mov qword ptr [rbx + rdi + 0x80000], rax
  next
  jb 1b
  hlt
sb_b:
  xor esi, esi
1: barrier
  mov qword ptr [rbx + rdi + 72], 1
  mov rax, qword ptr [rbx + rdi + 64]
  mov qword ptr [rbx + rdi + 0x80008], rax
  next
  jb 1b
  hlt
sb_a_fenced:
  xor esi, esi
1: barrier
  mov qword ptr [rbx + rdi + 64], 1
  mfence
  mov rax, qword ptr [rbx + rdi + 72]
  mov qword ptr [rbx + rdi + 0x80000], rax
  next
  jb 1b
  hlt
sb_b_fenced:
  xor esi, esi
1: barrier
  mov qword ptr [rbx + rdi + 72], 1
  mfence
  mov rax, qword ptr [rbx + rdi + 64]
  mov qword ptr [rbx + rdi + 0x80008], rax
  next
  jb 1b
  hlt
# ---- CROSS_MODIFYING
.intel_syntax noprefix
# cross-modifying code: RBX = DATA. The patcher waits for 1000 calls, patches target's immediate, raises the flag;
# the runner calls target until it sees the flag, serializes with CPUID (which sets RBX: RSI keeps DATA), and calls it once more.
patcher:
1: cmp qword ptr [rbx + 16], 1000
  jb 1b
  mov byte ptr [rip + target + 1], 2
  mov qword ptr [rbx + 8], 1
  hlt
runner:
1: call target
  mov dword ptr [rbx + 0x40], eax
  inc qword ptr [rbx + 16]
  cmp qword ptr [rbx + 8], 1
  jne 1b
  mov rsi, rbx
  xor eax, eax
  cpuid
  call target
  mov dword ptr [rsi + 0x48], eax
  hlt
.org 0x1000
target:
  mov eax, 1
  ret
