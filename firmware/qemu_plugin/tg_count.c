/*
 * tinygen's QEMU TCG plugin: exact guest instruction counts at marker addresses.
 *
 * Debian's qemu-system-arm 7.2 exports the plugin API version 1 but ships no header, so the few
 * declarations this plugin needs are written out below (they match QEMU 7.2's qemu-plugin.h).
 *
 * Arguments (-plugin tg_count.so,out=PATH,mark=0xADDR[,fault=0xADDR ...][,grace=N][,blocks=PATH]):
 *   out    file written at exit: one line per event, "mark <count>", "fault <count> <addr>",
 *          then "total <count>" (count = guest instructions executed before that event)
 *   mark   address of the firmware's tg_mark(); every execution is recorded
 *   fault  address of a fault handler (repeatable, up to 8); its execution is recorded and,
 *          after `grace` more instructions (default 2,000,000: room for the handler to print a
 *          diagnostic and exit by itself), the plugin ends QEMU with exit status 125
 *   blocks also profile blocks (for the cycle estimator, tinygen/cycles): how often each
 *          translated block ran between tg_mark() calls, written to PATH at exit (format below)
 *
 * Counting uses an inline add on every instruction (not per translation block), so an exception
 * in the middle of a block still counts exactly the instructions that executed. The block profile
 * does not change it: it only adds a callback per executed block.
 *
 * Block profile: "block ID VADDR NINSNS BYTES" for every distinct (start address, length)
 * translated, then per interval "interval K" followed by "ID EXECS FALLTHROUGHS" lines for the
 * blocks that ran in it (FALLTHROUGHS: executions whose next block started right after this one's
 * last instruction, i.e. its final branch was not taken), and "error out of memory" if the profile
 * is incomplete. Interval K ends at the (K+1)-th tg_mark(); the last interval runs to the end. As
 * with the counts, the tg_mark instruction itself belongs to the interval it opens. (Data
 * addresses are not recorded: QEMU 7.2's memory callbacks miss LDRD, so a flash-load count from
 * them would be wrong; the estimator counts loads from the disassembly instead.)
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
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
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

/* ---- block profile (blocks=PATH) ---- */

struct block {
    uint64_t vaddr, end;             /* first instruction, address after the last one */
    uint32_t n_insns, id;
    uint64_t execs, falls;           /* totals so far */
    uint64_t seen_execs, seen_falls; /* totals at the last mark */
};

static const char *blocks_path;     /* NULL: no block profile */
static struct block **blocks;       /* by id */
static size_t n_blocks, cap_blocks;
static struct block **table;        /* open addressing on (vaddr, n_insns) */
static size_t table_size;
static struct block *previous;      /* the block that ran last */
static char *log_text;              /* the intervals, written out at exit */
static size_t log_len, log_cap;
static uint64_t interval;
static bool profile_failed;

static void append(const char *fmt, uint64_t a, uint64_t b, uint64_t c)
{
    char line[96];
    int n = snprintf(line, sizeof line, fmt, a, b, c);
    if (profile_failed || n < 0) {
        return;
    }
    if (log_len + (size_t)n + 1 > log_cap) {
        size_t cap = log_cap ? log_cap * 2 : 1 << 20;
        char *grown = realloc(log_text, cap);
        if (grown == NULL) {
            profile_failed = true;   /* the file then says so and the harness reports it */
            return;
        }
        log_text = grown;
        log_cap = cap;
    }
    memcpy(log_text + log_len, line, (size_t)n);
    log_len += (size_t)n;
}

/* Close the current interval; `running` (may be NULL) has already been counted for an execution
 * that belongs to the next interval. */
static void close_interval(const struct block *running)
{
    size_t i;
    append("interval %" PRIu64 "\n", interval++, 0, 0);
    for (i = 0; i < n_blocks; i++) {
        struct block *b = blocks[i];
        uint64_t execs = b->execs - (b == running ? 1 : 0);
        if (execs != b->seen_execs || b->falls != b->seen_falls) {
            append("%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", b->id, execs - b->seen_execs, b->falls - b->seen_falls);
            b->seen_execs = execs;
            b->seen_falls = b->falls;
        }
    }
}

static void write_profile(void)
{
    FILE *f;
    size_t i;
    close_interval(NULL);
    f = fopen(blocks_path, "w");
    if (f == NULL) {
        qemu_plugin_outs("tg_count: cannot open the block profile file\n");
        return;
    }
    for (i = 0; i < n_blocks; i++) {
        const struct block *b = blocks[i];
        fprintf(f, "block %" PRIu32 " 0x%" PRIx64 " %" PRIu32 " %" PRIu64 "\n", b->id, b->vaddr, b->n_insns,
                b->end - b->vaddr);
    }
    if (log_len) {
        fwrite(log_text, 1, log_len, f);
    }
    if (profile_failed) {
        fprintf(f, "error out of memory\n");
    }
    fclose(f);
}

static size_t slot(uint64_t vaddr, uint32_t n)
{
    uint64_t h = (vaddr ^ ((uint64_t)n << 40)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (table_size - 1);
}

static bool grow_table(void)
{
    size_t size = table_size ? table_size * 2 : 4096, i;
    struct block **old = table;
    size_t old_size = table_size;
    table = calloc(size, sizeof *table);
    if (table == NULL) {
        table = old;
        return false;
    }
    table_size = size;
    for (i = 0; i < old_size; i++) {
        if (old[i] != NULL) {
            size_t s = slot(old[i]->vaddr, old[i]->n_insns);
            while (table[s] != NULL) {
                s = (s + 1) & (table_size - 1);
            }
            table[s] = old[i];
        }
    }
    free(old);
    return true;
}

/* The block for (vaddr, n): retranslations of the same code share one record. */
static struct block *find_block(uint64_t vaddr, uint32_t n, uint64_t end)
{
    size_t s;
    struct block *b;
    if ((n_blocks + 1) * 10 > table_size * 7 && !grow_table()) {
        return NULL;
    }
    for (s = slot(vaddr, n); table[s] != NULL; s = (s + 1) & (table_size - 1)) {
        if (table[s]->vaddr == vaddr && table[s]->n_insns == n) {
            return table[s];
        }
    }
    if (n_blocks == cap_blocks) {
        size_t cap = cap_blocks ? cap_blocks * 2 : 1024;
        struct block **grown = realloc(blocks, cap * sizeof *blocks);
        if (grown == NULL) {
            return NULL;
        }
        blocks = grown;
        cap_blocks = cap;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        return NULL;
    }
    b->vaddr = vaddr;
    b->end = end;
    b->n_insns = n;
    b->id = (uint32_t)n_blocks;
    blocks[n_blocks++] = b;
    table[s] = b;
    return b;
}

static void on_block(unsigned int vcpu, void *udata)
{
    struct block *b = udata;
    (void)vcpu;
    b->execs++;
    if (previous != NULL && previous->end == b->vaddr) {
        previous->falls++;
    }
    previous = b;
}

/* The profile record of a block being translated (NULL when not profiling or out of memory). */
static struct block *profile_block(struct qemu_plugin_tb *tb, size_t n)
{
    struct qemu_plugin_insn *last;
    struct block *b;
    if (blocks_path == NULL || n == 0) {
        return NULL;
    }
    last = qemu_plugin_tb_get_insn(tb, n - 1);
    b = find_block(qemu_plugin_tb_vaddr(tb), (uint32_t)n, qemu_plugin_insn_vaddr(last) + qemu_plugin_insn_size(last));
    if (b == NULL) {
        profile_failed = true;
        return NULL;
    }
    /* registered before the instructions' callbacks, so a block's execution is counted before its
     * first instruction's tg_mark() callback runs */
    qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS, b);
    return b;
}

/* ---- end of the block profile ---- */

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
    if (blocks_path != NULL) {
        write_profile();
    }
}

/* udata: with a block profile, the block whose first instruction is tg_mark's (its execution
 * opens the next interval), else NULL */
static void on_mark(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    if (blocks_path != NULL) {
        close_interval(udata);
    }
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
    struct block *profiled = profile_block(tb, n);
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* callbacks first, so the recorded count excludes the marked instruction itself */
        if (pc == mark_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, i == 0 ? profiled : NULL);
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
        } else if (strncmp(arg, "blocks=", 7) == 0 && arg[7] != '\0') {
            blocks_path = arg + 7;
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
