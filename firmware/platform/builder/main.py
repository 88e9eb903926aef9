"""SCons build script of tinygen's PlatformIO dev-platform.

Everything board-specific comes from the board manifest's ``tinygen`` section (which a project
may override with ``board_tinygen.<key> = value`` lines, e.g. to build a board's code for its
QEMU stand-in): compiler flags, memory regions (rendered into the linker script), console and
timer. The compiler is the system ``arm-none-eabi-gcc`` on PATH; nothing is downloaded.
"""

# pylint: disable=import-error,undefined-variable
import os
import shlex
from string import Template

from SCons.Script import AlwaysBuild, Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()
PLATFORM_DIR = platform.get_dir()
TG = board.get("tinygen")


def _int(value):
    return int(value, 0) if isinstance(value, str) else int(value)


def _list(value):
    # a list in the manifest; a string when a project overrides it on one line
    return shlex.split(value) if isinstance(value, str) else list(value)


PREFIX = os.environ.get("TINYGEN_ARM_PREFIX", "arm-none-eabi-")
env.Replace(
    AR=PREFIX + "gcc-ar",
    AS=PREFIX + "gcc",
    CC=PREFIX + "gcc",
    CXX=PREFIX + "g++",
    GDB=PREFIX + "gdb",
    OBJCOPY=PREFIX + "objcopy",
    RANLIB=PREFIX + "gcc-ranlib",
    SIZETOOL=PREFIX + "size",
    ARFLAGS=["rc"],
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    # Flash = code + constants + the initial values of .data; RAM = .data + .bss + reserved stack.
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPROGREGEXP=r"^(?:\.boot2|\.isr_vector|\.text|\.ARM\.extab|\.ARM\.exidx|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES",
)

CPU_FLAGS = _list(TG["cpu_flags"])
env.Append(
    ASFLAGS=CPU_FLAGS + ["-x", "assembler-with-cpp"],
    CFLAGS=["-std=c99"],
    CCFLAGS=CPU_FLAGS
    + ["-O2", "-g", "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-pedantic"],
    LINKFLAGS=CPU_FLAGS
    + [
        "-nostartfiles",
        "--specs=nano.specs",
        "--specs=nosys.specs",
        "-Wl,--gc-sections",
        # the path substituted now: SCons quotes a flag holding spaces, not one whose variable expands to them
        "-Wl,-Map=" + os.path.join(env.subst("$BUILD_DIR"), "firmware.map"),
    ],
    CPPPATH=[os.path.join(PLATFORM_DIR, "include")],
    CPPDEFINES=[("TG_CPU_HZ", _int(TG["clock_hz"]))],
)


def _console_defines(console):
    kind = console.get("kind", "none")
    if kind == "semihosting":
        return [("TG_CONSOLE_SEMIHOSTING", 1)]
    if kind == "cmsdk_uart":
        return [("TG_CONSOLE_CMSDK_UART", 1), ("TG_UART_BASE", console["base"])]
    if kind == "stm32_usart":
        enables = console["enable"]
        if not 1 <= len(enables) <= 4:
            raise ValueError("board %s: console.enable lists 1 to 4 registers" % board.id)
        bus = _int(console.get("bus", 1))
        if bus not in (1, 2):
            raise ValueError("board %s: console.bus is the APB the UART hangs on, 1 or 2" % board.id)
        defines = [
            ("TG_CONSOLE_STM32_USART", 1),
            ("TG_UART_BASE", console["base"]),
            # BRR is computed at run time from the bus clock tg_clock_init() configured
            ("TG_UART_BUS", bus),
            ("TG_UART_BRR_SCALE", "%du" % _int(console.get("brr_scale", 1))),
            ("TG_UART_BAUD", "%du" % _int(console["baud"])),
            ("TG_UART_GPIO", console["tx"]["gpio"]),
            ("TG_UART_PIN", _int(console["tx"]["pin"])),
            ("TG_UART_AF", _int(console["tx"]["af"])),
            ("TG_UART_NUM_ENABLES", len(enables)),
        ]
        if console.get("registers", "v2") == "v1":
            defines.append(("TG_UART_V1", 1))
        for i, item in enumerate(enables):
            defines += [("TG_UART_EN%d_REG" % i, item["reg"]), ("TG_UART_EN%d_BIT" % i, _int(item["bit"]))]
        return defines
    if kind == "nrf_uart":
        # nRF52 UART BAUDRATE register values (product specification, UART chapter)
        baud = {9600: "0x00275000", 115200: "0x01D7E000", 1000000: "0x10000000"}[_int(console["baud"])]
        return [
            ("TG_CONSOLE_NRF_UART", 1),
            ("TG_UART_BASE", console["base"]),
            ("TG_UART_PIN", _int(console["tx_pin"])),
            ("TG_UART_BAUD", baud),
        ] + ([("TG_UART_RX_PIN", _int(console["rx_pin"]))] if "rx_pin" in console else [])
    if kind == "rp2040_uart":
        # RP2040 UART (an Arm PL011): divisors computed at run time from clk_peri
        return [
            ("TG_CONSOLE_RP2040_UART", 1),
            ("TG_UART_BASE", console["base"]),
            ("TG_UART_BAUD", "%du" % _int(console["baud"])),
            ("TG_UART_PIN", _int(console["tx_pin"])),
            ("TG_UART_RX_PIN", _int(console["rx_pin"])),
        ]
    if kind == "none":
        return [("TG_CONSOLE_NONE", 1)]
    raise ValueError("board %s: unknown console kind %r" % (board.id, kind))


env.Append(CPPDEFINES=_console_defines(TG["console"]))

CLOCK_FAMILIES = ("stm32f4", "stm32f7", "stm32h7", "stm32l4", "stm32u5", "stm32g0", "nrf52", "rp2040")
PRESCALERS = {"ahb_div": (1, 2, 4, 8, 16), "apb1_div": (1, 2, 4, 8, 16), "apb2_div": (1, 2, 4, 8, 16)}


def _wait_states(clock, hclk_hz):
    """Flash wait states for ``hclk_hz`` from the manifest's table (index = wait states)."""
    for ws, max_hz in enumerate(clock["flash_wait_states"]["max_hclk_hz"]):
        if hclk_hz <= _int(max_hz):
            return ws
    raise ValueError("board %s: %d Hz is above the flash's fastest clock" % (board.id, hclk_hz))


def _clock_defines(clock):
    """tg_clock.c's parameters: family, reset clock, PLL factors, prescalers, wait states, caches."""
    family = (clock or {}).get("family", "none")
    if family == "none":
        return []
    if family not in CLOCK_FAMILIES:
        raise ValueError("board %s: unknown clock family %r" % (board.id, family))
    defines = [("TG_CLOCK_" + family.upper(), 1), ("TG_CLK_RESET_HZ", "%du" % _int(clock["reset_hz"]))]
    if family == "nrf52":
        return defines
    if family == "rp2040":
        pll = clock["pll"]
        return defines + [("TG_CLK_SYSCLK_HZ", "%du" % _int(clock["sysclk_hz"])), ("TG_CLK_XOSC_HZ", "%du" % _int(clock["xosc_hz"]))] + [
            ("TG_CLK_PLL_" + k.upper(), "%du" % _int(pll[k])) for k in ("refdiv", "fbdiv", "postdiv1", "postdiv2")
        ]
    for key, allowed in PRESCALERS.items():
        if _int(clock[key]) not in allowed:
            raise ValueError("board %s: clock.%s must be one of %s" % (board.id, key, allowed))
        defines.append(("TG_CLK_" + key.upper(), _int(clock[key])))
    sysclk = _int(clock["sysclk_hz"])
    pll = clock["pll"]
    defines += [
        ("TG_CLK_SYSCLK_HZ", "%du" % sysclk),
        ("TG_CLK_FLASH_WS", "%du" % _wait_states(clock, sysclk // _int(clock["ahb_div"]))),
        ("TG_CLK_VOS", _int(clock.get("vos", 1))),
        ("TG_CLK_OVERDRIVE", int(bool(clock.get("overdrive", False)))),
        ("TG_CLK_ICACHE", int(bool(clock.get("icache", False)))),
        ("TG_CLK_DCACHE", int(bool(clock.get("dcache", False)))),
    ]
    defines += [("TG_CLK_PLL" + k.upper(), "%du" % _int(pll[k])) for k in ("m", "n", "p", "q", "r") if k in pll]
    slow = clock.get("slow_silicon")
    if slow:
        slow_hz = _int(slow["sysclk_hz"])
        defines += [
            ("TG_CLK_SLOW_SYSCLK_HZ", "%du" % slow_hz),
            ("TG_CLK_SLOW_PLLN", "%du" % _int(slow["n"])),
            ("TG_CLK_SLOW_FLASH_WS", "%du" % _wait_states(clock, slow_hz // _int(clock["ahb_div"]))),
        ]
    return defines


env.Append(CPPDEFINES=_clock_defines(TG.get("clock")))


def _timer_defines(timer):
    # "systick" | "dwt" | "cmsdk@<base address>" | "sse_counter@<system timer frame>"
    kind, _, base = str(timer).partition("@")
    if kind == "systick":
        return [("TG_TIMER_SYSTICK", 1)]
    if kind == "dwt":
        return [("TG_TIMER_DWT", 1)]
    if kind == "cmsdk":
        return [("TG_TIMER_CMSDK", 1), ("TG_TIMER_BASE", base)]
    if kind == "sse_counter":
        return [("TG_TIMER_SSE_COUNTER", 1), ("TG_TIMER_BASE", base)]
    raise ValueError("board %s: unknown timer %r" % (board.id, timer))


env.Append(CPPDEFINES=_timer_defines(TG["timer"]))

# The linker script: the project's own (board_build.ldscript) or one rendered from tinygen.memory.
if not env.get("LDSCRIPT_PATH"):
    mem = TG["memory"]
    with open(os.path.join(PLATFORM_DIR, "ldscripts", "tinygen.ld.in")) as fh:
        script = Template(fh.read()).substitute(
            FLASH_ORIGIN="0x%08X" % _int(mem["flash"]["origin"]),
            FLASH_SIZE=_int(mem["flash"]["size"]),
            RAM_ORIGIN="0x%08X" % _int(mem["ram"]["origin"]),
            RAM_SIZE=_int(mem["ram"]["size"]),
            STACK_SIZE=_int(TG["stack_size"]),
        )
    build_dir = env.subst("$BUILD_DIR")
    os.makedirs(build_dir, exist_ok=True)
    ldscript = os.path.join(build_dir, "tinygen.ld")
    # rewrite only on change, so an unchanged project relinks nothing
    if not os.path.isfile(ldscript) or open(ldscript).read() != script:
        with open(ldscript, "w") as fh:
            fh.write(script)
    env.Replace(LDSCRIPT_PATH=ldscript)

env.Append(
    BUILDERS=dict(
        ElfToBin=Builder(
            action=env.VerboseAction("$OBJCOPY -O binary $SOURCES $TARGET", "Building $TARGET"),
            suffix=".bin",
        ),
        ElfToHex=Builder(
            action=env.VerboseAction("$OBJCOPY -O ihex $SOURCES $TARGET", "Building $TARGET"),
            suffix=".hex",
        ),
    )
)

# startup code, console and timer
env.BuildSources(os.path.join("$BUILD_DIR", "tinygen_platform"), os.path.join(PLATFORM_DIR, "src"))

target_elf = env.BuildProgram()
target_bin = env.ElfToBin(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
target_hex = env.ElfToHex(os.path.join("$BUILD_DIR", "${PROGNAME}"), target_elf)
target_buildprog = env.Alias("buildprog", [target_bin, target_hex], target_bin)

target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
AlwaysBuild(target_size)


def _upload_command(protocol):
    """The uploader command line for ``protocol`` and the file it writes; tinygen checks the
    program is installed (tinygen/platformio.py, UPLOADERS) before running ``pio run -t upload``."""
    flash_origin = "0x%08X" % _int(TG["memory"]["flash"]["origin"])
    target = board.get("debug.openocd_target", "")
    port = env.subst("$UPLOAD_PORT")
    openocd = 'openocd -f interface/%s.cfg -f target/%s.cfg -c "program {${SOURCE.abspath}} verify reset exit"'
    if protocol == "pyocd":
        # the hex carries its addresses; pyOCD erases only the sectors it writes (a bootloader
        # survives); --no-wait: no probe is an error, not an endless wait
        return "pyocd flash --no-wait --erase sector --target %s ${SOURCE.abspath}" % board.get("debug.pyocd_target"), target_hex
    if protocol == "stlink":
        return "st-flash --reset write ${SOURCE.abspath} " + flash_origin, target_bin
    if protocol == "openocd":
        return openocd % ("stlink", target), target_elf
    if protocol == "cmsis-dap":
        return openocd % ("cmsis-dap", target), target_elf
    if protocol == "nrfutil":
        return (
            "nrfutil device program --firmware ${SOURCE.abspath} "
            "--options chip_erase_mode=ERASE_RANGES_TOUCHED_BY_FIRMWARE,verify=VERIFY_READ,reset=RESET_SYSTEM",
            target_hex,
        )
    if protocol == "nrfjprog":
        return "nrfjprog -f nrf52 --program ${SOURCE.abspath} --sectorerase --verify --reset", target_hex
    if protocol == "jlink":
        script = os.path.join("$BUILD_DIR", "upload.jlink")
        return (
            "printf 'r\\nloadfile ${SOURCE.abspath}\\nr\\ng\\nq\\n' > %s && JLinkExe -device %s -if SWD -speed 4000 "
            "-autoconnect 1 -CommanderScript %s" % (script, board.get("build.mcu"), script),
            target_hex,
        )
    if protocol == "bossac":
        # Arduino's SAM-BA bootloader (Nano 33 BLE: entered by a double tap of reset) presents the
        # flash from 0x10000, where the app is linked: bossac writes the .bin there and the
        # bootloader below it is never erased; what Arduino's IDE runs (-U: native USB, -i: info,
        # -e -w: erase and write the app area, -R: reset into the app)
        return "bossac %s-U -i -e -w ${SOURCE.abspath} -R" % ("--port=%s " % port if port else ""), target_bin
    if protocol == "picotool":
        # the board in BOOTSEL mode (held while plugging in); -x runs the firmware after loading
        return "picotool load -x ${SOURCE.abspath}", target_uf2
    if protocol == "uf2":
        # the UF2 bootloader's drive (tinygen finds it and passes it as upload_port): the boot ROM
        # flashes what is copied there and restarts
        if not port:  # `pio run -t upload` by hand, without tinygen finding the drive
            return "echo 'no UF2 drive: set upload_port to the RPI-RP2 drive, or use tinygen flash' >&2 && false", target_uf2
        return "cp ${SOURCE.abspath} %s" % shlex.quote(os.path.join(port, "firmware.uf2")), target_uf2
    raise ValueError("board %s: tinygen cannot upload with protocol %r" % (board.id, protocol))


# A UF2 image next to the .bin for a board with a UF2 bootloader (tinygen.uf2_family; the
# converter is tinygen.uf2, run with PlatformIO's Python, which is tinygen's)
target_uf2 = None
if TG.get("uf2_family") is not None:
    target_uf2 = env.Command(
        os.path.join("$BUILD_DIR", "${PROGNAME}.uf2"),
        target_bin,
        env.VerboseAction(
            '"$PYTHONEXE" -m tinygen.uf2 $SOURCE $TARGET --base 0x%08X --family 0x%08X'
            % (_int(TG["memory"]["flash"]["origin"]), _int(TG["uf2_family"])),
            "Building $TARGET",
        ),
    )
    env.Depends(target_buildprog, target_uf2)

protocol = env.subst("$UPLOAD_PROTOCOL") or board.get("upload.protocol", "")
if protocol and protocol != "qemu":
    command, source = _upload_command(protocol)
    if source is None:
        raise ValueError("board %s: protocol %r needs a UF2 image (tinygen.uf2_family)" % (board.id, protocol))
    AlwaysBuild(env.Alias("upload", source, [env.VerboseAction(command, "Uploading $SOURCE")]))

Default([target_buildprog, target_size])
