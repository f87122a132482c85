"""The AT protocol, sans-IO: bytes in -> lines, prompts and URCs; a command's transaction; the
meaning of final results; command builders and parsers. No ports, no time."""

from modemd.at.parser import AtParser, Line, Prompt, Urc
from modemd.at.results import ErrorClass, Final, FinalKind, classify_cms, sim_problem
from modemd.at.transaction import CTRL_Z, Command, Disposition, Phase, Transaction

__all__ = [
    "CTRL_Z",
    "AtParser",
    "Command",
    "Disposition",
    "ErrorClass",
    "Final",
    "FinalKind",
    "Line",
    "Phase",
    "Prompt",
    "Transaction",
    "Urc",
    "classify_cms",
    "sim_problem",
]
