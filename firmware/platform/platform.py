"""tinygen's PlatformIO dev-platform.

It declares no packages: the compiler is the system ``arm-none-eabi-gcc`` found on PATH and the
uploaders (pyocd, st-flash, openocd, nrfutil, nrfjprog, JLinkExe, bossac, picotool, or a copy to the
RP2040's UF2 drive) are programs the user installs, so PlatformIO never has to reach its registry for
this platform.
"""

from platformio.public import PlatformBase


class TinygenPlatform(PlatformBase):
    pass
