/* RP2040 second-stage boot loader ("boot2"), the first 256 bytes of flash (RP2040 datasheet 2.8.1
   "Processor controlled boot sequence", 4.10 "SSI").

   The boot ROM copies these 256 bytes to the top of SRAM (0x20041F00), checks that the CRC32 of
   the first 252 (polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no final XOR) is
   the last word, and runs them. This one sets the flash interface (SSI) up for execute-in-place
   with the plain 03h read command, which every SPI NOR flash answers (24-bit address, 1-bit data,
   SCK = clk_sys / 4, well under the 03h command's limit at the ROM's clock and at 125 MHz), then
   points VTOR at the vector table right after it (0x10000100), loads its stack pointer and jumps
   to its reset handler. The CRC word below is this exact code's: tests/test_board_rp2040.py
   recomputes it from the built firmware. Faster reads (quad I/O) are a flash-chip-specific boot2,
   out of scope here. */
#if defined(TG_CLOCK_RP2040)
    .syntax unified
    .cpu cortex-m0plus
    .thumb

    .section .boot2, "ax"
    .global tg_boot2
    .type tg_boot2, %function
    .thumb_func
tg_boot2:
    ldr r3, =0x18000000         /* XIP_SSI_BASE */
    movs r1, #0
    str r1, [r3, #0x08]         /* SSIENR = 0: the SSI is configured while disabled */
    movs r1, #4
    str r1, [r3, #0x14]         /* BAUDR: SCK = clk_sys / 4 */
    ldr r1, =0x001F0300         /* CTRLR0: SPI_FRF 0 (standard SPI), DFS_32 31 (32-bit frames), TMOD 3 (EEPROM read) */
    str r1, [r3, #0x00]
    ldr r1, =0x03000218         /* SPI_CTRLR0: XIP_CMD 0x03, INST_L 2 (8-bit), ADDR_L 6 (24-bit), TRANS_TYPE 0 */
    ldr r0, =0x180000F4
    str r1, [r0]
    movs r1, #0
    str r1, [r3, #0x04]         /* CTRLR1: NDF 0, one frame per read */
    movs r1, #1
    str r1, [r3, #0x08]         /* SSIENR = 1: XIP reads now go through 03h commands */
    ldr r0, =0x10000100         /* the vector table after boot2 */
    ldr r1, =0xE000ED08         /* VTOR */
    str r0, [r1]
    ldmia r0, {r0, r1}          /* initial stack pointer, reset handler */
    msr msp, r0
    bx r1
    .ltorg
    .org 252, 0
    .word 0x0AACAA58            /* CRC32 of the 252 bytes above */
    .size tg_boot2, . - tg_boot2
#endif
