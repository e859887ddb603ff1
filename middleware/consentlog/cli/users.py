"""The dashboard's named users: ``users add``, ``remove``, ``role``, ``password``, ``list``.

They edit the users file (``--users-file`` or ``CONSENTLOG_USERS_FILE``; see
``dashboard.users``) and touch no store. A password is read from a prompt (twice) or, with
``--password-stdin``, from the first line of stdin — never from the command line, where
other users of the machine and the shell history would see it: ``--password`` exists only
to refuse, with an error that never repeats what was typed, and no option may be
abbreviated (``--pass`` is no ``--password-stdin``). Hashes and TOTP secrets are never
printed, except the new secret of ``add --totp``, once.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from consentlog.cli.common import USERS_OPTIONS, print_table
from consentlog.dashboard.roles import ROLES, Role, parse_role
from consentlog.dashboard.users import UserError, UserStore, check_name, totp_uri
from consentlog.exceptions import ConfigError
from consentlog.settings import Settings

ON_THE_COMMAND_LINE = (
    "a password on the command line is refused: other users of the machine and the shell"
    " history would see it; type it at the prompt, or pipe it with --password-stdin"
)


class _RefusePassword(argparse.Action):
    """``--password``: refused, without repeating the value typed after it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error(ON_THE_COMMAND_LINE)


def _password_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    parser.add_argument(
        "--password",
        action=_RefusePassword,
        nargs="?",
        metavar="REFUSED",
        help="refused: a password is never taken from the command line",
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``users`` command and its subcommands."""
    users = commands.add_parser(
        "users", help="named dashboard users and their roles", allow_abbrev=False
    )
    users.set_defaults(parser=users)
    actions = users.add_subparsers(dest="action", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, allow_abbrev=False)
        sub.set_defaults(parser=sub)
        sub.add_argument(
            "--users-file", help="the users file (default: CONSENTLOG_USERS_FILE)", metavar="PATH"
        )
        return sub

    roles = ", ".join(ROLES)
    add = action("add", "add a user (the password from a prompt or --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, help=f"one of {roles}")
    add.add_argument("--totp", action="store_true", help="ask for a TOTP code after the password")
    _password_options(add)
    add.set_defaults(handler=cmd_users_add)

    remove = action("remove", "remove a user: their sessions and share links end")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_users_remove)

    role = action("role", "give a user another role: their sessions and share links end")
    role.add_argument("name")
    role.add_argument("role", help=f"one of {roles}")
    role.set_defaults(handler=cmd_users_role)

    password = action("password", "give a user a new password: their sessions and links end")
    password.add_argument("name")
    _password_options(password)
    password.set_defaults(handler=cmd_users_password)

    listing = action("list", "every user: name, role, TOTP (never a hash)")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.set_defaults(handler=cmd_users_list)


def _store(args: argparse.Namespace) -> UserStore:
    path = (
        args.users_file
        or Settings.from_env(require_secret_keys=False, only=USERS_OPTIONS).users_file
    )
    if not path:
        raise ConfigError("no users file: set CONSENTLOG_USERS_FILE or pass --users-file PATH")
    return UserStore(path)


def _role(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise UserError("the two passwords differ: nothing was changed")
    return password


def cmd_users_add(args: argparse.Namespace) -> int:
    """Add a user with a role, and print the TOTP secret once when ``--totp``."""
    role = _role(args.role)
    check_name(args.name)  # before the prompt: a bad name is no reason to type a password
    store = _store(args)
    if store.get(args.name) is not None:
        raise UserError(f"user {args.name!r} exists already: remove it first, or pick another")
    user = store.add(args.name, role, _password(args.password_stdin), totp=args.totp)
    print(f"added {user.name} ({user.role}) to {store.path}")
    if user.has_totp:
        print("TOTP secret (shown this once; add it to an authenticator app):")
        print(f"  secret: {user.totp_secret}")
        print(f"  uri:    {totp_uri(user)}")
    return 0


def cmd_users_remove(args: argparse.Namespace) -> int:
    """Remove a user."""
    store = _store(args)
    store.remove(args.name)
    print(f"removed {args.name} from {store.path}")
    return 0


def cmd_users_role(args: argparse.Namespace) -> int:
    """Give a user another role."""
    store = _store(args)
    user = store.set_role(args.name, _role(args.role))
    print(f"{user.name} is now {user.role}")
    return 0


def cmd_users_password(args: argparse.Namespace) -> int:
    """Give a user a new password."""
    store = _store(args)
    if store.get(args.name) is None:  # before the prompt
        raise UserError(f"no user {args.name!r}: `consentlog users list` shows who exists")
    user = store.set_password(args.name, _password(args.password_stdin))
    print(f"new password for {user.name}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    """Print every user: name, role, whether TOTP is on."""
    users = sorted(_store(args).users().values(), key=lambda u: u.name)
    if args.format == "json":
        rows = [{"name": u.name, "role": u.role, "totp": u.has_totp} for u in users]
        print(json.dumps(rows, indent=2))
        return 0
    print_table(
        ["name", "role", "totp"],
        [[u.name, u.role, "yes" if u.has_totp else "no"] for u in users],
        left=3,
    )
    return 0
