"""The ``tinygen`` command line: a click group whose subcommands live in ``tinygen.commands``.

Subcommands are imported only when used, so ``tinygen boards`` does not pay for importing
TensorFlow. A :class:`~tinygen.errors.TinygenError` becomes a one-line message and a non-zero
exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from tinygen import __version__
from tinygen.errors import TinygenError

#: command name -> (module in tinygen.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("inspect", "Print a model's graph: ops, shapes, quantization, params and MACs."),
    "convert": ("convert", "Quantize/import a model and emit its C99 inference library."),
    "init": ("init", "Write a tinygen.toml naming the model, calibration data and board."),
    "build": ("build", "Generate a PlatformIO project for a board and build the firmware."),
    "flash": ("flash", "Build if needed and upload the firmware to a board."),
    "boards": ("boards", "List the supported boards."),
    "test": ("test", "Run the model in QEMU and compare every output bit for bit."),
    "validate": ("validate", "Run the model on your samples: accuracy and errors of int8 vs float, C bit-exact (host or QEMU)."),
    "monitor": ("monitor", "Print a board's serial console (TG-OUT, TG-CYCLES...) readably, until Ctrl-C or TG-END."),
    "bench": ("bench", "Count instructions per inference and per layer in QEMU."),
    "report": ("report", "Write one self-contained HTML report: summary, layers, memory plan, validation."),
    "export": ("export", "Package a generated library for another tool: 'export arduino' writes an Arduino library ZIP."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, help_text = COMMANDS[name]
        try:
            module = importlib.import_module(f"tinygen.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tinygen.commands.{module_name}":
                raise
            return _not_available(name, help_text)
        command: click.Command = module.command
        command.help = command.help or help_text
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Show help lines without importing every command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_text) for name, (_, help_text) in COMMANDS.items()])


def _not_available(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=help_text, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def unavailable(args: tuple[str, ...]) -> None:
        raise TinygenError(f"'tinygen {name}' is not available in this version of tinygen")

    return unavailable


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tinygen")
def cli() -> None:
    """tinygen: int8 TinyML models to C99 inference libraries and Cortex-M firmware."""


#: modules of the optional [keras] extra
KERAS_MODULES = ("tensorflow", "keras", "tf_keras")


def main(argv: list[str] | None = None) -> int:
    from tinygen import quiet_tf

    quiet_tf.install()
    try:
        # Without standalone mode click returns ctx.exit(n)'s code instead of exiting with it.
        result = cli.main(args=argv, prog_name="tinygen", standalone_mode=False)
    except TinygenError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in KERAS_MODULES:
            raise
        # the Keras flow (and QAT) needs TensorFlow, an optional extra: the .tflite flow does not
        click.echo(f"error: this needs TensorFlow/Keras ({exc.name} is not installed): pip install 'tinygen[keras]' "
                   "(int8 .tflite models need neither)", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
