"""`docs`: regenerate docs/data-contract.md from the contract."""

from __future__ import annotations

import argparse

from pipelines.contract.docs import DOC, render


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="regenerate docs/data-contract.md from the contract module")
    p.add_argument("--check", action="store_true", help="exit 1 if the committed page is stale")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != text:
            print(f"{DOC} is stale: run `python -m pipelines docs`.")
            return 1
        print(f"{DOC} is up to date.")
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0
