"""Errors of the emulated kops, worded like kops v1.36 prints them after ``Error: ``.

kops is a cobra program: a command's error is printed to stderr as ``Error: <message>`` and the
process exits 1. Flag errors also print the command's usage after the message.
"""

from __future__ import annotations

STATE_ERROR = (
    "State Store: Required value: Please set the --state flag or export KOPS_STATE_STORE.\n"
    "For example, a valid value follows the format s3://<bucket>.\n"
    "You can find the supported stores in https://kops.sigs.k8s.io/state."
)


class KopsError(Exception):
    """A command failed: cobra prints ``Error: <message>`` and kops exits ``exit_code``."""

    exit_code = 1
    show_usage = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.command = ""  # the command whose usage a flag error shows


class FlagError(KopsError):
    """Bad command line (unknown flag, missing value): cobra also prints the usage."""

    show_usage = True


class UnknownFlag(FlagError):
    """``unknown flag: --foo`` (pflag)."""

    def __init__(self, flag: str) -> None:
        super().__init__(f"unknown flag: {flag}")


class UnknownShorthandFlag(FlagError):
    """``unknown shorthand flag: 'x' in -x`` (pflag)."""

    def __init__(self, letter: str, arg: str) -> None:
        super().__init__(f"unknown shorthand flag: '{letter}' in {arg}")


class FlagNeedsArgument(FlagError):
    """``flag needs an argument: --state`` (pflag)."""

    def __init__(self, flag: str) -> None:
        super().__init__(f"flag needs an argument: {flag}")


class InvalidFlagValue(FlagError):
    """``invalid argument "x" for "--node-count" flag: ...`` (pflag)."""

    def __init__(self, value: str, flag: str, reason: str) -> None:
        super().__init__(f'invalid argument "{value}" for "{flag}" flag: {reason}')


class UnknownCommand(FlagError):
    """``unknown command "foo" for "kops"`` (cobra)."""

    def __init__(self, command: str, parent: str) -> None:
        super().__init__(
            f'unknown command "{command}" for "{parent}"\nRun \'{parent} --help\' for usage.'
        )


class StateStoreRequired(KopsError):
    """No ``--state`` and no ``KOPS_STATE_STORE``."""

    def __init__(self) -> None:
        super().__init__(STATE_ERROR)


class ClusterNotFound(KopsError):
    """``kops get cluster NAME`` for a name the state store lacks (filterClustersByName)."""

    def __init__(self, name: str) -> None:
        super().__init__(f'cluster not found "{name}"')


class ClusterConfigNotFound(KopsError):
    """Commands that load one cluster (validate, export, delete, update) when it is absent."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f'error reading cluster configuration: Cluster.kops.k8s.io "{name}" not found'
        )


class NoClustersFound(KopsError):
    """``kops get clusters`` on an empty state store."""

    def __init__(self) -> None:
        super().__init__("no clusters found")


class ClusterAlreadyExists(KopsError):
    """``kops create cluster`` for a name the state store already has."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"cluster \"{name}\" already exists; use 'kops update cluster' to apply changes"
        )


class ValidationFailed(KopsError):
    """``kops validate cluster`` found the cluster not (yet) valid."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"validation failed: {reason}")


class TwinLimitation(KopsError):
    """Something real kops would do that the twin cannot (worded as the twin's own error)."""
