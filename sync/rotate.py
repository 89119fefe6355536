"""``accs-sync secret rotate``: replace the client secret while every process keeps minting.

The steps, each leaving a state in which a process reading ``IMS_CLIENT_SECRET_FILE`` (and, on
``invalid_client``, ``IMS_CLIENT_SECRET_NEXT_FILE``) at its next mint still gets a token:

1. **list** the credential's secrets. Two already (Adobe's limit): refuse, unless the older has
   not been used for ``--idle-days`` and ``--delete-idle`` is given; then the configured secret
   is proven first (so it is not the idle one) and the idle one deleted.
2. **create** a secret. It is valid at once, next to the old one; nothing uses it yet.
3. **write** it to ``IMS_CLIENT_SECRET_NEXT_FILE`` (atomic, 0600), or print it once (``--print``).
4. **prove** it: mint a token with it (a few tries: a new secret may take seconds to reach
   IMS). A failure restores the next file and deletes the new secret again.
5. **promote** it: ``IMS_CLIENT_SECRET_FILE`` is replaced atomically; the next mint of every
   process reads it (either file is whole, and both secrets are valid during the swap).
6. **delete** the old secret when its ``last_used_at`` is older than the new secret's first use
   (nobody used it since the new one took over), or on ``--delete-old``. Otherwise it is left,
   and the report says so.

The value exists in this process's memory, the next file, the secret file and (``--print``)
standard output only: every report, log line and audit row names secrets by uuid.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from pydantic import SecretStr

from sync.api.secrets_api import CreatedSecret, SecretInfo, SecretsApi
from sync.clock import Clock
from sync.errors import AccsSyncError, ConfigError
from sync.lockfile import open_lock_file
from sync.rotation_report import RotateOptions, RotationReport, SecretTargets, Step
from sync.secret_files import read_secret_file, remove_secret_file, write_secret_file

__all__ = ["RotateOptions", "Rotation", "RotationReport", "SecretTargets", "Step"]

log = logging.getLogger(__name__)

#: Waits between tries of the new secret (a new secret may take a moment to reach IMS).
PROVE_WAITS = (1.0, 2.0)


class _Stop(Exception):
    """The rotation ends here (the step said why)."""


def _when(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def _described(secret: SecretInfo) -> str:
    return f"{secret.uuid} (created {_when(secret.created)}, last used {_when(secret.last_used)})"


class Rotation:
    """One run of the steps in the module docstring.

    ``prove(secret)`` mints a token with ``secret`` (None: with the configured secrets) and
    raises when IMS refuses; ``on_secret`` learns the new value before anything could log it
    (the log filter); ``emit`` prints it for ``--print``.
    """

    def __init__(
        self,
        api: SecretsApi,
        targets: SecretTargets,
        options: RotateOptions,
        *,
        prove: Callable[[SecretStr | None], None],
        clock: Clock,
        on_secret: Callable[[str], None],
        emit: Callable[[str], None],
    ) -> None:
        self._api = api
        self._targets = targets
        self._options = options
        self._prove = prove
        self._clock = clock
        self._on_secret = on_secret
        self._emit = emit
        self.report = RotationReport()

    def run(self) -> RotationReport:
        try:
            with self._exclusive():
                self._run()
        except _Stop:
            pass
        return self.report

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One rotation at a time per secret files: ``flock`` on ``<next file>.lock``."""
        path = self._targets.next_file
        if path is None:
            yield
            return
        lock = path.with_name(path.name + ".lock")
        try:
            fd = open_lock_file(lock, "IMS_CLIENT_SECRET_NEXT_FILE")
        except OSError as exc:
            self.report.add("plan", "refused", f"cannot open the lock file {lock} ({exc})")
            self.report.misconfigured = True
            raise _Stop from None
        except ConfigError as exc:
            self.report.add("plan", "refused", exc.message)
            raise _Stop from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self.report.add(
                    "plan",
                    "refused",
                    f"another `accs-sync secret rotate` holds {lock}: let it finish first",
                )
                raise _Stop from None
            yield
        finally:
            os.close(fd)

    @contextmanager
    def _step(self, name: str, undo: Callable[[], list[str]] | None = None) -> Iterator[None]:
        """Run a step; its :class:`AccsSyncError` fails it (after ``undo``) and stops."""
        try:
            yield
        except AccsSyncError as exc:
            self.report.add(name, "failed", exc.message)
            self.report.misconfigured |= exc.exit_code == 2
            if undo is not None:
                self.report.left += undo()
            raise _Stop from None

    def _now(self) -> datetime:
        return self._clock.now()

    # -- the steps ----------------------------------------------------------------------------

    def _run(self) -> None:
        options, report = self._options, self.report
        if not options.print_secret and self._targets.next_file is None:
            report.add(
                "plan",
                "refused",
                "set IMS_CLIENT_SECRET_NEXT_FILE (a writable file every process reads) or use "
                "--print to hand the new secret to a secret manager",
            )
            raise _Stop
        with self._step("list"):
            secrets = self._api.list()
        if not secrets:
            report.add("list", "failed", "the credential lists no client secret")
            raise _Stop
        report.add("list", "done", "; ".join(_described(s) for s in secrets))
        old = self._make_room(secrets)
        if options.dry_run:
            self._plan()
            return
        with self._step("create"):
            new = self._api.create()
        self._on_secret(new.value.get_secret_value())
        report.created = new.uuid
        report.add("create", "done", f"secret {new.uuid}")
        previous = self._write(new)
        first_use = self._prove_new(new, previous)
        if not self._promote(new):
            return
        self._delete_old(old, new, first_use)

    def _make_room(self, secrets: list[SecretInfo]) -> list[SecretInfo]:
        """With two secrets, delete the idle older one (``--delete-idle``) or refuse."""
        if len(secrets) < 2:
            return secrets
        older = secrets[0]
        idle = self._now() - older.idle_since()
        wanted = timedelta(days=self._options.idle_days)
        if not self._options.delete_idle or idle < wanted:
            why = (
                f"it was used {idle.days} days ago, less than --idle-days "
                f"{self._options.idle_days:g}"
                if idle < wanted
                else "--delete-idle was not given"
            )
            self.report.add(
                "list",
                "refused",
                f"the credential already has two client secrets (Adobe's limit) and the older, "
                f"{older.uuid}, cannot be deleted: {why}",
            )
            self.report.left.append(
                f"delete one secret in the Adobe Developer Console, or run again with "
                f"--delete-idle once {older.uuid} has not been used for --idle-days"
            )
            raise _Stop
        if self._options.dry_run:
            self.report.add("delete", "planned", f"idle secret {_described(older)}")
            return secrets[1:]
        with self._step("delete"):
            # The configured secret mints first, so it cannot be the idle one; listing again
            # shows that use (and any other since).
            self._prove(None)
            again = {s.uuid: s for s in self._api.list()}
            current = again.get(older.uuid)
            if current is not None and self._now() - current.idle_since() < wanted:
                self.report.add(
                    "delete",
                    "refused",
                    f"{older.uuid} was used at {_when(current.last_used)}: it is in use",
                )
                raise _Stop
            if current is not None:
                self._api.delete(older.uuid)
        self.report.deleted.append(older.uuid)
        self.report.add("delete", "done", f"idle secret {_described(older)}")
        return secrets[1:]

    def _plan(self) -> None:
        targets, options = self._targets, self._options
        where = (
            "print it once on standard output"
            if options.print_secret
            else (f"write it to IMS_CLIENT_SECRET_NEXT_FILE ({targets.next_file})")
        )
        self.report.add("create", "planned", "a new client secret")
        self.report.add("write", "planned", where)
        self.report.add("prove", "planned", "mint a token with the new secret")
        if targets.primary_file is not None and not options.print_secret:
            self.report.add("promote", "planned", f"replace {targets.primary_file}")
        else:
            self.report.add("promote", "planned", "left to you (no IMS_CLIENT_SECRET_FILE)")
        rule = "--delete-old" if options.delete_old else "once unused since the new one's first use"
        self.report.add("delete", "planned", f"the old secret ({rule})")

    def _write(self, new: CreatedSecret) -> str | None:
        """Write or print the new secret; the next file's previous content is returned."""
        value = new.value.get_secret_value()
        if self._options.print_secret:
            self._emit(value)
            self.report.add("write", "done", "printed once on standard output")
            return None
        path = self._targets.next_file
        assert path is not None
        with self._step("write", undo=lambda: self._undo_create(new)):
            previous = read_secret_file(path, "IMS_CLIENT_SECRET_NEXT_FILE")
            write_secret_file(path, value, "IMS_CLIENT_SECRET_NEXT_FILE")
        self.report.add("write", "done", f"IMS_CLIENT_SECRET_NEXT_FILE ({path})")
        return previous

    def _prove_new(self, new: CreatedSecret, previous: str | None) -> datetime | None:
        """Mint with the new secret; its first use as the API lists it (None if unknown)."""
        waits = list(PROVE_WAITS)
        while True:
            try:
                self._prove(new.value)
                break
            except AccsSyncError as exc:
                if not waits:
                    self.report.add("prove", "failed", f"the new secret does not mint: {exc}")
                    self.report.left += self._undo_write(previous) + self._undo_create(new)
                    raise _Stop from None
                self._clock.sleep(waits.pop(0))
        self.report.add("prove", "done", "IMS minted a token with the new secret")
        try:
            listed = {s.uuid: s for s in self._api.list()}
        except AccsSyncError as exc:
            log.warning("cannot list the secrets after the proof (%s)", exc.message)
            return None
        mine = listed.get(new.uuid)
        return mine.last_used if mine is not None else None

    def _promote(self, new: CreatedSecret) -> bool:
        path = self._targets.primary_file
        if self._options.print_secret or path is None:
            self.report.add("promote", "skipped", "this process cannot change where it comes from")
            self.report.left.append(
                "store the new secret as IMS_CLIENT_SECRET wherever your processes read it "
                f"(secret {new.uuid}); then delete the old one in the Adobe Developer Console"
            )
            return False
        value = new.value.get_secret_value()
        with self._step("promote"):
            write_secret_file(path, value, "IMS_CLIENT_SECRET_FILE")
            if read_secret_file(path, "IMS_CLIENT_SECRET_FILE") != value:
                raise ConfigError(
                    f"IMS_CLIENT_SECRET_FILE ({path}) does not hold the new secret after "
                    "writing it (is it a symbolic link or a mount another process rewrites?)"
                )
        self.report.add("promote", "done", f"IMS_CLIENT_SECRET_FILE ({path}) holds the new secret")
        return True

    def _delete_old(
        self, old: list[SecretInfo], new: CreatedSecret, first_use: datetime | None
    ) -> None:
        for secret in old:
            if not self._options.delete_old:
                reason = self._still_used(secret, first_use)
                if reason:
                    self.report.add("delete", "skipped", f"old secret {secret.uuid}: {reason}")
                    self.report.left.append(
                        f"delete the old secret {secret.uuid} once nothing uses it (Developer "
                        "Console, or `accs-sync secret rotate --delete-idle` after --idle-days)"
                    )
                    continue
            with self._step("delete"):
                self._api.delete(secret.uuid)
            self.report.deleted.append(secret.uuid)
            self.report.add("delete", "done", f"old secret {secret.uuid}")

    def _still_used(self, secret: SecretInfo, first_use: datetime | None) -> str:
        """Why ``secret`` may still be in use ('' when it is not)."""
        if first_use is None:
            return "the new secret's first use is unknown, so the old one's last use says nothing"
        try:
            listed = {s.uuid: s for s in self._api.list()}
        except AccsSyncError as exc:
            return f"cannot list the secrets ({exc.message})"
        current = listed.get(secret.uuid, secret)
        if current.last_used is not None and current.last_used >= first_use:
            return (
                f"used at {_when(current.last_used)}, after the new secret's first use "
                f"({_when(first_use)}): some process still has it"
            )
        return ""

    # -- undo ---------------------------------------------------------------------------------

    def _undo_write(self, previous: str | None) -> list[str]:
        path = self._targets.next_file
        if path is None or self._options.print_secret:
            return []
        try:
            if previous is None:
                remove_secret_file(path)
            else:
                write_secret_file(path, previous, "IMS_CLIENT_SECRET_NEXT_FILE")
        except (OSError, ConfigError) as exc:
            return [f"restore IMS_CLIENT_SECRET_NEXT_FILE ({path}): {exc}"]
        self.report.add("undo", "done", f"IMS_CLIENT_SECRET_NEXT_FILE ({path}) restored")
        return []

    def _undo_create(self, new: CreatedSecret) -> list[str]:
        try:
            self._api.delete(new.uuid)
        except AccsSyncError as exc:
            return [f"delete the unused new secret {new.uuid} ({exc.message})"]
        self.report.add("undo", "done", f"new secret {new.uuid} deleted again")
        return []
