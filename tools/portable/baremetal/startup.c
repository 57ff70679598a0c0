/* startup.c - a bare-metal Cortex-M start for QEMU's MPS2 boards (tools/portable/baremetal.sh):
   vector table, FPU on, .bss cleared, the command line fetched by semihosting
   (SYS_GET_CMDLINE: qemu -semihosting-config arg=...), main(), exit through newlib's
   librdimon (semihosting: stdout, files and the exit go to the host). No OS, no crt0. */
#include <stdlib.h>
#include <string.h>

extern unsigned long __stack_top, __bss_start__, __bss_end__;
extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void); /* librdimon: stdin/stdout/stderr handles */
void fnet_reset(void);
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}

static void fault(void) {
    static const char msg[] = "baremetal: fault\n";
    /* SYS_WRITE0 (0x04), then stop: the host sees the message and a hung run times out */
    __asm__ volatile("mov r0, #4\n mov r1, %0\n bkpt 0xAB" : : "r"(msg) : "r0", "r1", "memory");
    for (;;) {}
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, fnet_reset, fault, fault, fault, fault, fault, 0, 0, 0, 0, fault, fault, 0, fault, fault};

static int semihost(int op, void *arg) {
    register int r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void fnet_reset(void) {
    static char cmd[1024];
    static char *argv[16];
    int argc = 0;
    char *p;
    unsigned long *b;
    struct { char *buf; int len; } block;
    /* CPACR: full access to CP10 and CP11 (the FPU) before any floating-point instruction */
    *(volatile unsigned long *)0xE000ED88UL |= 0xFUL << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
    for (b = &__bss_start__; b < &__bss_end__; b++) *b = 0;
    initialise_monitor_handles();
    block.buf = cmd;
    block.len = (int)sizeof cmd - 1;
    if (semihost(0x15, &block) != 0) block.len = 0; /* SYS_GET_CMDLINE */
    cmd[block.len] = 0;
    for (p = strtok(cmd, " "); p && argc < 15; p = strtok(NULL, " ")) argv[argc++] = p;
    argv[argc] = NULL;
    exit(main(argc, argv));
}
