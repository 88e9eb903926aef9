/*
 * tinygen's QEMU TCG plugin: exact guest instruction counts at marker addresses.
 *
 * Debian's qemu-system-arm 7.2 exports the plugin API version 1 but ships no header, so the few
 * declarations this plugin needs are written out below (they match QEMU 7.2's qemu-plugin.h).
 *
 * Arguments (-plugin tg_count.so,out=PATH,mark=0xADDR[,fault=0xADDR ...][,grace=N]):
 *   out    file written at exit: one line per event, "mark <count>", "fault <count> <addr>",
 *          then "total <count>" (count = guest instructions executed before that event)
 *   mark   address of the firmware's tg_mark(); every execution is recorded
 *   fault  address of a fault handler (repeatable, up to 8); its execution is recorded and,
 *          after `grace` more instructions (default 2,000,000: room for the handler to print a
 *          diagnostic and exit by itself), the plugin ends QEMU with exit status 125
 *
 * Counting uses an inline add on every instruction (not per translation block), so an exception
 * in the middle of a block still counts exactly the instructions that executed.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- QEMU plugin API, version 1 (subset) ---- */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
    const char *target_name;
    struct { int min; int cur; } version;
    bool system_emulation;
    union { struct { int smp_vcpus; int max_vcpus; } system; };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
                                          enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op,
                                                void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);
#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1;
/* ---- end of API declarations ---- */

#define MAX_FAULTS 8

static uint64_t count;            /* instructions executed so far (single vCPU) */
static uint64_t mark_addr = UINT64_MAX;
static uint64_t fault_addr[MAX_FAULTS];
static int n_fault_addr;
static uint64_t grace = 2000000;
static const char *out_path;

static uint64_t *marks;           /* instruction count at each tg_mark() */
static size_t n_marks, cap_marks;
static bool faulted;
static uint64_t fault_count, fault_at;
static bool written;

static void write_results(void)
{
    FILE *f;
    size_t i;
    if (written || out_path == NULL) {
        return;
    }
    written = true;
    f = fopen(out_path, "w");
    if (f == NULL) {
        qemu_plugin_outs("tg_count: cannot open the output file\n");
        return;
    }
    for (i = 0; i < n_marks; i++) {
        fprintf(f, "mark %" PRIu64 "\n", marks[i]);
    }
    if (faulted) {
        fprintf(f, "fault %" PRIu64 " 0x%" PRIx64 "\n", fault_count, fault_at);
    }
    fprintf(f, "total %" PRIu64 "\n", count);
    fclose(f);
}

static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (n_marks == cap_marks) {
        size_t cap = cap_marks ? cap_marks * 2 : 1024;
        uint64_t *grown = realloc(marks, cap * sizeof *marks);
        if (grown == NULL) {
            return;   /* out of host memory: the mark count will not match, the harness reports it */
        }
        marks = grown;
        cap_marks = cap;
    }
    marks[n_marks++] = count;
}

static void on_fault(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (!faulted) {
        faulted = true;
        fault_count = count;
        fault_at = (uint64_t)(uintptr_t)udata;
    }
}

/* Registered on blocks holding a fault handler or translated after a fault: end a handler that
 * spins forever. */
static void check_grace(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (faulted && count - fault_count > grace) {
        write_results();
        _exit(125);
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb), i;
    int k;
    bool watch = faulted;
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* callbacks first, so the recorded count excludes the marked instruction itself */
        if (pc == mark_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        for (k = 0; k < n_fault_addr; k++) {
            if (pc == fault_addr[k]) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_fault, QEMU_PLUGIN_CB_NO_REGS,
                                                       (void *)(uintptr_t)pc);
                watch = true;   /* a handler that is a single spinning block */
            }
        }
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &count, 1);
    }
    if (watch) {
        qemu_plugin_register_vcpu_tb_exec_cb(tb, check_grace, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

static void on_exit_cb(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    write_results();
}

static void on_process_exit(void)
{
    write_results();
}

static bool parse_addr(const char *text, uint64_t *value)
{
    char *end;
    *value = strtoull(text, &end, 0);
    return end != text && *end == '\0';
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        uint64_t v;
        if (strncmp(arg, "out=", 4) == 0) {
            out_path = arg + 4;
        } else if (strncmp(arg, "mark=", 5) == 0 && parse_addr(arg + 5, &v)) {
            mark_addr = v & ~(uint64_t)1;   /* Thumb symbols carry bit 0 */
        } else if (strncmp(arg, "fault=", 6) == 0 && parse_addr(arg + 6, &v) && n_fault_addr < MAX_FAULTS) {
            fault_addr[n_fault_addr++] = v & ~(uint64_t)1;
        } else if (strncmp(arg, "grace=", 6) == 0 && parse_addr(arg + 6, &v)) {
            grace = v;
        } else {
            fprintf(stderr, "tg_count: bad argument '%s'\n", arg);
            return -1;
        }
    }
    if (out_path == NULL) {
        fprintf(stderr, "tg_count: missing out=PATH\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
    /* semihosting exit calls exit() directly; make sure the results are written then too */
    atexit(on_process_exit);
    return 0;
}
