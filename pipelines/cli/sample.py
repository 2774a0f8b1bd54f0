"""`sample`: write the synthetic sample health system."""

from __future__ import annotations

import argparse

from pipelines.cli import common
from pipelines.cli.common import InputError, command
from pipelines.sample import realism, write_sample


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
@command
def _run(args: argparse.Namespace) -> int:
    common.output_directory(args.out, "--out")
    try:
        paths = write_sample(args.out, args.respondents_per_wave, args.waves, args.seed)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    print(f"Synthetic sample health system (seed {args.seed}), entirely made up:")
    for path in paths:
        with path.open("rb") as handle:
            rows = sum(1 for _ in handle) - 1
        print(f"  wrote {path} ({rows:,} rows)")
    for label, f in realism(args.out).items():
        print(
            f"  wave {label}: burnout {f['burnout_rate']:.1%}, intent to leave {f['itl_rate']:.1%}"
            f" (nurses {f['itl_nurse']:.1%}, physicians {f['itl_physician']:.1%}),"
            f" OR burnout {f['or_itl_burnout']:.2f}, response rate {f['response_rate']:.0%}"
        )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `sample`: write the synthetic sample health system as canonical CSVs plus a roster."""
    parser = subparsers.add_parser(
        "sample",
        help="write a synthetic sample health system (canonical CSVs and a headcount roster)",
        description=(
            "Write one canonical CSV per survey wave (wave_<year>.csv) and headcount.csv. "
            "The data is entirely synthetic and deterministic for a seed."
        ),
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write into")
    parser.add_argument(
        "--respondents-per-wave",
        type=int,
        default=3000,
        metavar="N",
        help="respondents per wave (default 3000)",
    )
    parser.add_argument(
        "--waves",
        type=int,
        default=3,
        metavar="K",
        help="number of waves, ending 2026 (default 3)",
    )
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="random seed (default 7)")
    parser.set_defaults(func=_run)
