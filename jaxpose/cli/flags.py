"""The `jaxpose` command line: a forgiving gflags-style parser over the options table, and `--help`.

Accepted spellings, as gflags: `--flag value`, `--flag=value`, `-flag value`; booleans also as
`--flag` alone, `--flag=true|false|1|0|yes|no`, `--flag 1` and `--noflag`. The flags themselves
(names, types, defaults, help) live in `jaxpose.options.table`.
"""

from __future__ import annotations

import textwrap

from jaxpose.errors import UsageError
from jaxpose.options.table import (  # noqa: F401  (re-exported for the command's modules)
    FALSE_WORDS, TRUE_WORDS, FLAG_LIST, FLAGS, UNSUPPORTED, Flag, Options, convert, defaults, parse_bool,
    parse_resolution, parse_square, unknown_flag,
)


def _looks_like_flag(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:
        float(token)
        return False
    except ValueError:
        return True


def parse(argv: list[str], extra: tuple[Flag, ...] = ()) -> Options:
    """Parse the command line. Returns Options (all flags, defaults filled in), or raises UsageError.

    `--help` / `-h` / `--helpfull` set `options.help`; `--version` sets `options.version`.
    extra: flags of a sub-command, accepted besides the table's.
    """
    table = {**FLAGS, **{flag.name: flag for flag in extra}}
    values = {**defaults(), **{flag.name: flag.default for flag in extra}}
    given: set[str] = set()
    inputs: list[str] = []
    show_help = show_version = False
    i = 0
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            inputs.extend(argv[i:])
            break
        if not _looks_like_flag(token):
            inputs.append(token)
            continue
        name, has_value, text = token.lstrip("-").partition("=")
        if name in ("h", "help", "helpfull", "helpshort"):
            show_help = True
            continue
        if name == "version":
            show_version = True
            continue
        flag = table.get(name)
        if flag is None and name.startswith("no") and table.get(name[2:], None) and table[name[2:]].kind == "bool":
            if has_value:
                raise UsageError(f"--{name} takes no value.")
            values[name[2:]] = False
            given.add(name[2:])
            continue
        if flag is None:
            raise unknown_flag(name)
        if flag.kind == "bool":
            if has_value:
                value = parse_bool(name, text)
            elif i < len(argv) and argv[i].strip().lower() in TRUE_WORDS | FALSE_WORDS:
                value = parse_bool(name, argv[i])
                i += 1
            else:
                value = True
        else:
            if not has_value:
                if i >= len(argv):
                    raise UsageError(f"--{name} needs a value (e.g. --{name}={_example(flag)}).")
                text = argv[i]
                i += 1
            value = convert(flag, text)
        values[flag.name] = value
        given.add(flag.name)
    options = Options(**values)
    options.given = frozenset(given)
    options.inputs = inputs
    options.help = show_help
    options.version = show_version
    return options


def _example(flag: Flag) -> str:
    return {"int": "1", "float": "0.5", "bool": "true"}.get(flag.kind, "VALUE" if flag.default == "" else str(flag.default))


def help_text() -> str:
    """`jaxpose --help`: usage, examples, then every flag (gflags style: help, type, default)."""
    lines = [
        "jaxpose: multi-person body (+ hand, face) keypoints, OpenPose-compatible, in JAX.",
        "",
        "Usage: jaxpose [INPUT ...] [--flag value | --flag=value ...]",
        "       jaxpose convert ...        (OpenPose Caffe weights -> jaxpose model file)",
        "       jaxpose fetch-models       (download the default model ahead of time)",
        "       jaxpose batch MANIFEST --out DIR [--ray [ADDRESS]]   (many inputs, resumable; see jaxpose batch --help)",
        "",
        "INPUT is a folder of images, an image or a video (same as --image_dir / --video).",
        "",
        "Examples:",
        "  jaxpose --video video.avi --write_json out/ --write_video out.avi",
        "  jaxpose photos/ --write_images rendered/ --write_coco_json results.json",
        "  jaxpose --image_dir photos --model_pose BODY_25 --model_folder openpose/models --hand",
        "",
        "Exit status: 0 all inputs processed, 1 some inputs or frames failed, 2 bad usage, 130 interrupted.",
    ]
    groups: dict[str, list[Flag]] = {}
    for flag in FLAG_LIST:
        groups.setdefault(flag.group, []).append(flag)
    for group, flags in groups.items():
        lines += ["", f"{group}:"]
        for flag in flags:
            kind = {"str": "string", "int": "int32", "float": "double", "bool": "bool"}[flag.kind]
            default = f'"{flag.default}"' if flag.kind == "str" else str(flag.default).lower()
            lines.append(f"  --{flag.name}")
            lines.extend(textwrap.wrap(f"({flag.help})", width=96, initial_indent="      ",
                                       subsequent_indent="       ", break_on_hyphens=False))
            lines.append(f"      type: {kind}  default: {default}")
    lines += [
        "",
        "Booleans accept --flag, --flag=true/false, --flag 1/0 and --noflag, as OpenPose's gflags.",
    ]
    return "\n".join(lines) + "\n"
