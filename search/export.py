"""The answer as one file for deployment: an exported torch program and what it expects.

    python -m search.export results/NAME            # -> results/NAME/answer.pt2, answer.json
    python -m search.export results/NAME --out site/answer.pt2

    python -m search.export results/NAME --format onnx   # -> results/NAME/answer.onnx

    # on the deployment machine, with torch alone:
    model = torch.export.load("answer.pt2").module()
    probs = model(images)     # uint8 (N, C, H, W) -> calibrated class probabilities (N, K)

    # or with onnxruntime:
    session = onnxruntime.InferenceSession("answer.onnx")
    probs = session.run(None, {"images": images})[0]

The module holds the answer's members, each with its normalisation, their mean and the
temperature fitted on validation (search.stats.calibration); no optimiser state. answer.json (also
inside answer.pt2 as an extra file) says what it expects and returns: channels, size, the
resize method training's images went through, class names, the tuned cut and the cuts at
each sensitivity level, and the versions it was made with. `torch.export` (an ExportedProgram,
any batch size) by default because it loads with torch alone (TorchScript, which also
worked, is deprecated in torch 2.14); ONNX (`--format onnx`, the `onnx` extra: onnx and
onnxscript to write it) for runtimes other than torch, the description in its metadata.
"""

from __future__ import annotations

import io
import json
import sys
from importlib import metadata
from pathlib import Path

from search.deploy.answer import Answer, load_answer
from search.experiment.formats import stamped
from search.experiment.layout import EXPORT_DESCRIPTION, EXPORTS
from search.predict import check_out
from trainable.errors import UserError
from trainable.files import replacing


def description(answer: Answer) -> dict:
    """What the exported module expects and returns (answer.json)."""
    return {
        "input": {
            "dtype": "uint8",
            "layout": "N, C, H, W",
            "channels": answer.channels,
            "size": answer.size,
            "resize": answer.resize,
        },
        "output": "class probabilities (N, K), calibrated, in the order of `classes`",
        "classes": answer.classes,
        "threshold": answer.threshold,
        "threshold_applies_to": answer.classes[1] if answer.threshold is not None else None,
        "sensitivity_cuts": answer.sensitivity_cuts,
        "members": len(answer.states),
        "temperature": answer.temperature,
        "versions": {p: metadata.version(p) for p in ("torch", "torchvision")},
    }


def export(experiment: Path, out: Path, form: str = "pt2") -> dict:
    """Write the answer to `out` as a torch program (`pt2`) or an ONNX model (`onnx`), and
    its description beside it (and inside it); return the description."""
    import torch

    from search.deploy.module import answer_module

    answer = load_answer(experiment)
    module = answer_module(answer).requires_grad_(False)
    example = torch.zeros(2, answer.channels, answer.size, answer.size, dtype=torch.uint8)
    info = stamped(description(answer))
    text = json.dumps(info, indent=2)
    with quiet_export():
        if form == "onnx":
            model = onnx_bytes(module, example, text)
        else:
            batch = torch.export.Dim("batch")
            program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
            buffer = io.BytesIO()
            torch.export.save(program, buffer, extra_files={EXPORT_DESCRIPTION: text})
            model = buffer.getvalue()
    write_beside(out, model, text + "\n")
    return info


def write_beside(out: Path, model: bytes, text: str) -> None:
    """The model and its description, each written beside its place and renamed into it once
    both are whole. Serialised in memory first: torch's own file writer, out of disk space,
    aborted the process in C++ (no error line, a temporary file left)."""
    try:  # both written before either is renamed: the inner block ends first
        with replacing(out) as model_tmp, replacing(out.with_suffix(".json")) as text_tmp:
            model_tmp.write_bytes(model)
            text_tmp.write_text(text)
    except OSError as e:
        raise UserError(
            f"cannot write {out} ({e.strerror or e}); it needs about "
            f"{(len(model) + len(text)) / 2**20:.1f} MiB in {out.parent}: free space there or "
            "give another --out"
        ) from None


def onnx_bytes(module, example, text: str) -> bytes:
    """torch.onnx's exporter (dynamo; onnxscript), any batch size, the description as the
    model's metadata; one file (no external data: the members are small)."""
    import onnx
    import torch

    program = torch.onnx.export(
        module,
        (example,),
        dynamo=True,
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        input_names=["images"],
        output_names=["probabilities"],
        verbose=False,
    )
    model = program.model_proto
    onnx.helper.set_model_props(model, {EXPORT_DESCRIPTION: text})
    return model.SerializeToString()


class quiet_export:
    """torch.export's and torch.onnx's chatter (log lines and warnings that a user can do
    nothing about, such as "No complete tensor found in the group!") kept off the console."""

    def __enter__(self):
        import logging
        import warnings

        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore")
        self.loggers = [logging.getLogger(n) for n in ("torch", "onnxscript", "onnx_ir")]
        self.levels = [logger.level for logger in self.loggers]
        for logger in self.loggers:
            logger.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        for logger, level in zip(self.loggers, self.levels, strict=True):
            logger.setLevel(level)
        self.warnings.__exit__(*exc)
        return False


def main(argv: list[str] | None = None) -> int:
    from trainable.cli import HelpWithDefaults, OneLineParser, command_name, help_text

    p = OneLineParser(
        prog=command_name("search.export", "imbalance-export"),
        description=help_text(__doc__, "search.export", "imbalance-export"),
        formatter_class=HelpWithDefaults,
    )
    p.add_argument("experiment", type=Path, help="a finished search's folder (results/NAME)")
    p.add_argument(
        "--format",
        choices=tuple(EXPORTS),
        default="pt2",
        help="pt2: torch.export, loads with torch alone; onnx: ONNX (onnxruntime and other "
        "runtimes; needs the onnx extra)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="the file written (default: EXPERIMENT/answer.pt2, or answer.onnx)",
    )
    args = p.parse_args(argv)
    out = args.out or args.experiment / EXPORTS[args.format]
    try:
        owned = (*EXPORTS.values(), EXPORT_DESCRIPTION)  # an earlier export's files
        check_out(out, (f".{args.format}",), args.experiment, owned=owned)
        check_out(out.with_suffix(".json"), (".json",), args.experiment, owned=owned)
        if args.format == "onnx":
            check_onnx()
        info = export(args.experiment, out, args.format)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the model and its description are renamed in together at the end
        print(f"interrupted; {out} is as it was: run the same command again", file=sys.stderr)
        return 130
    shape = f"{info['input']['channels']}x{info['input']['size']}x{info['input']['size']}"
    print(f"{out}: {info['members']} models, input uint8 (N, {shape}); {out.with_suffix('.json')}")
    return 0


def check_onnx() -> None:
    from importlib.util import find_spec

    missing = [m for m in ("onnx", "onnxscript") if find_spec(m) is None]
    if missing:
        raise UserError(
            f"--format onnx needs {' and '.join(missing)}: pip install -e '.[onnx]' -c "
            "constraints.txt"
        )


if __name__ == "__main__":
    sys.exit(main())
