"""Managing studio accounts (for `mailengine user ...`): add, list, remove, set a password.

Addresses are kept in lower case; a role is one of `ROLES`; a password must meet
`passwords.check_new_password` and is stored only as its Argon2id hash.
"""

from __future__ import annotations

from datetime import datetime

from mailengine.addresses import InvalidAddressError, normalize_email
from mailengine.errors import MailengineError
from mailengine.store.database import Database
from mailengine.store.users import (
    UserRecord,
    add_user,
    list_users,
    remove_user,
    set_password_hash,
    user_by_email,
)
from mailengine.studio.access import ROLES
from mailengine.studio.passwords import hash_password


class AccountError(MailengineError, ValueError):
    """An account that exists already, does not exist, or a bad address or role."""


def account_address(email: str) -> str:
    """The address as accounts keep it, or an error naming what is wrong with it."""
    try:
        return normalize_email(email)
    except InvalidAddressError as error:
        raise AccountError(str(error)) from None


def create_account(
    database: Database, email: str, role: str, password: str, now: datetime
) -> UserRecord:
    address = account_address(email)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: roles are {', '.join(ROLES)}")
    password_hash = hash_password(password)
    with database.transaction() as session:
        if user_by_email(session, address) is not None:
            raise AccountError(
                f"{address} has an account already: `mailengine user password {address}` "
                "sets a new password"
            )
        return add_user(session, address, role, password_hash, now)


def account_exists(database: Database, email: str) -> bool:
    with database.session() as session:
        return user_by_email(session, account_address(email)) is not None


def accounts(database: Database) -> list[UserRecord]:
    with database.session() as session:
        return list_users(session)


def delete_account(database: Database, email: str) -> None:
    address = account_address(email)
    with database.transaction() as session:
        if not remove_user(session, address):
            raise AccountError(f"no studio account has the address {address}")


def change_password(database: Database, email: str, password: str, now: datetime) -> None:
    """A new password; the account's sessions end (every browser logs in again)."""
    address = account_address(email)
    password_hash = hash_password(password)
    with database.transaction() as session:
        found = user_by_email(session, address)
        if found is None:
            raise AccountError(f"no studio account has the address {address}")
        set_password_hash(session, found.id, password_hash, now)
