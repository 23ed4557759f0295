"""What both command lines (`trainable.train`, `search.run`) share: their --help format."""

from __future__ import annotations

import argparse


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """--help names each flag's default where it has one (not for None or a bare switch, and
    not twice where the help text already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)
