"""tinygen's PlatformIO dev-platform.

It declares no packages: the compiler is the system ``arm-none-eabi-gcc`` found on PATH and the
uploaders (st-flash, openocd, nrfjprog) are system programs, so PlatformIO never has to reach
its registry for this platform.
"""

from platformio.public import PlatformBase


class TinygenPlatform(PlatformBase):
    pass
