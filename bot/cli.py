"""``lianhu``: the admin command line. Try the whole engine without Telegram, and run the bot.

Every command (except ``state-chart``) first migrates the database — idempotent, so on a fresh machine
``lianhu import-org`` just works. Mistakes (bad config, unknown code, invalid CSV, a case you may not touch)
print one clear ``lianhu: error: ...`` message and exit 2; no traceback reaches the operator (``--debug``
shows one for developers).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from i18n import UI_LANGUAGES
from runtime.config import Config, ConfigError, load_config
from runtime.ledger import (
    DEFAULT_LEDGER_LANGUAGE,
    DEFAULT_TIMEZONE,
    FORMATS,
    format_for,
    localized,
    unit_ids_in,
    write_ledger,
    zone,
)
from runtime.tasks_export import VISITS_SHEET, visits_grid
from runtime.wiring import Services, build_services, open_database
from storage.db import Database
from storage.models import Person, Role
from storage.orgtree import SAMPLE_DIR, OrgImportError, export_org, import_org_dir
from workflows.ports import Clock, SystemClock
from workflows.scopes import ALIASES, SCOPES, default_scope

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
LOCAL = zone(DEFAULT_TIMEZONE)


class CliError(Exception):
    """A user mistake: printed as one line, exit code 2."""


# ---------------------------------------------------------------------------------------------- helpers


class Context:
    """What a command gets: the config, an output stream, and lazily built database/services."""

    def __init__(self, config: Config, out: Any, clock: Clock | None) -> None:
        self.config, self.out, self._clock = config, out, clock
        self._db: Database | None = None
        self._services: Services | None = None

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self.config)
        return self._db

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = build_services(self.config, clock=self._clock, db=self.db)
        return self._services

    @property
    def clock(self) -> Clock:
        return self._clock or SystemClock()

    def print(self, *parts: object) -> None:
        print(*parts, file=self.out)

    def person_id(self, code: str, what: str = "person") -> int:
        with self.db.session() as s:
            pid = s.scalars(select(Person.id).where(Person.code == code)).one_or_none()
        if pid is None:
            raise CliError(f"no {what} with code {code!r} (see people.csv, or run `lianhu import-org` first)")
        return pid

    def viewer_id(self, code: str | None) -> int:
        """``--as CODE``, else the first admin: the CLI is an admin tool."""
        if code:
            return self.person_id(code)
        with self.db.session() as s:
            pid = s.scalars(select(Person.id).where(Person.role == Role.admin).order_by(Person.id)).first()
        if pid is None:
            raise CliError("no admin in the org tree; add one to people.csv or pass --as PERSON_CODE")
        return pid

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.replace(tzinfo=UTC).astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")


def _ref(ref: Any) -> str:
    return ref.name if ref is not None else "(nobody)"


# ---------------------------------------------------------------------------------------------- commands


def cmd_migrate(ctx: Context, args: argparse.Namespace) -> int:
    from alembic.migration import MigrationContext

    with ctx.db.engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    ctx.print(f"database {ctx.config.database.safe_url} is at schema revision {revision} (newest)")
    return EXIT_OK


def cmd_import_org(ctx: Context, args: argparse.Namespace) -> int:
    folder = Path(args.dir) if args.dir else SAMPLE_DIR
    with ctx.db.session() as s:
        summary = import_org_dir(s, folder)
    ctx.print(f"imported {folder}: {summary}")
    return EXIT_OK


def cmd_export_org(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.db.session() as s:
        counts = export_org(s, args.dir)
    ctx.print(f"exported to {args.dir}: " + ", ".join(f"{name} ({n} rows)" for name, n in counts.items()))
    return EXIT_OK


def cmd_invite(ctx: Context, args: argparse.Namespace) -> int:
    person_id = ctx.person_id(args.person)
    with ctx.db.session() as s:
        bound = s.get(Person, person_id).telegram_user_id is not None  # type: ignore[union-attr]
    if bound and not args.again:
        ctx.print(f"{args.person} is already registered (their Telegram account is linked); a new code would only "
                  "work from that same account. Use --again to make one anyway.")
        return EXIT_OK
    invite = ctx.services.people_service.create_invite(person_id, created_by=None)  # the operator
    code = invite if isinstance(invite, str) else invite.code
    ctx.print(f"invite code for {args.person}: {code}")
    link = ctx.config.bot.deep_link(code)
    if link:
        ctx.print(f"deep link: {link}")
    else:
        ctx.print(f"they send the bot: /start {code}   (set [bot] username in config.toml to get a deep link)")
    return EXIT_OK


def cmd_report(ctx: Context, args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        raise CliError('report: the text is empty; e.g. lianhu report --from P1111 "羊圈着火了"')
    reporter = ctx.person_id(args.reporter)
    case = ctx.services.case_service.file_report(reporter, text=text, language=args.language)
    ctx.print(
        f"case #{case.id}: {case.category}, {case.urgency}, {case.state}, owner: {_ref(case.owner)}"
        + (" (needs review)" if case.needs_review else "")
    )
    return EXIT_OK


def _case_line(case: Any) -> str:
    late = "  OVERDUE" if case.overdue else ""
    text = (case.text or "").replace("\n", " ")
    if len(text) > 40:
        text = text[:39] + "…"
    return (
        f"#{case.id:<5} {case.urgency:<8} {case.state:<9} {case.category:<14} owner: {_ref(case.owner):<8} "
        f"{_time(case.created_at)}{late}  {text}"
    )


def cmd_cases(ctx: Context, args: argparse.Namespace) -> int:
    if args.person:
        viewer = ctx.person_id(args.person)
        scope = args.scope
        if scope is None:  # what /cases (officials) or /my (workers) shows: workflows.scopes
            with ctx.db.session() as s:
                scope = default_scope(s.get(Person, viewer).role)  # type: ignore[union-attr]
        cases = ctx.services.case_service.list_cases(
            viewer, scope=scope, open_only=not args.all, limit=args.limit
        )
        if not cases:
            ctx.print(f"no {'' if args.all else 'open '}cases ({scope}) for {args.person}")
        for case in cases:
            ctx.print(_case_line(case))
        return EXIT_OK
    service = ctx.services.case_service
    rows: Iterable[Mapping[str, Any]]
    if args.limit > 0:  # the newest ``limit`` rows, read newest first by id and printed oldest first
        rows = reversed(list(localized(
            service.iter_ledger(open_only=not args.all, newest_first=True, limit=args.limit), LOCAL)))
    else:  # --limit 0: every row, streamed oldest first (flat memory whatever the county's size)
        rows = localized(service.iter_ledger(open_only=not args.all), LOCAL)
    printed = 0
    for r in rows:
        printed += 1
        late = "  OVERDUE" if r["overdue"] else ""
        ctx.print(
            f"#{r['case_id']:<5} {r['urgency']:<8} {r['state']:<9} {r['category']:<14} "
            f"owner: {r['owner'] or '(nobody)'}  {r['unit']}  {r['created_at']}{late}"
        )
    if not printed:
        ctx.print("no cases yet" if args.all else "no open cases (use --all to include closed ones)")
    return EXIT_OK


def cmd_show(ctx: Context, args: argparse.Namespace) -> int:
    viewer = ctx.viewer_id(args.as_person)
    service = ctx.services.case_service
    case = service.get_case(args.number, viewer)
    timeline = service.timeline(args.number, viewer)
    p = ctx.print
    p(f"Case #{case.id}  [{case.urgency}] {case.category} — {case.state}" + ("  OVERDUE" if case.overdue else ""))
    p(f"  where:     {' > '.join(case.unit_path) or case.unit_name}")
    p(f"  reporter:  {_ref(case.reporter)}      reported: {_time(case.created_at)}")
    p(f"  owner:     {_ref(case.owner)}      escalation level: {case.escalation_level}")
    p(f"  ack due:   {_time(case.ack_due_at)}      resolve due: {_time(case.resolve_due_at)}")
    if case.confidence is not None:
        cues = ", ".join(case.why_words()) or "-"
        p(f"  triage:    confidence {case.confidence:.2f}; cues: {cues}")
    if case.needs_review:
        p("  needs review (e.g. an untranscribed voice note)")
    p(f"  text:      {case.text or '-'}")
    if case.resolution_note:
        p(f"  resolution: {case.resolution_note}")
    if case.close_reason:
        p(f"  closed because: {case.close_reason}")
    p("Timeline:")
    for e in timeline:
        move = f" {e.from_state or ''}→{e.to_state or ''}" if e.from_state != e.to_state else ""
        note = f"  “{e.note}”" if e.note else ""
        p(f"  {_time(e.at)}  {e.kind:<12} {e.actor_name or 'system'}{move}{note}")
    return EXIT_OK


def cmd_task(ctx: Context, args: argparse.Namespace) -> int:
    """Send a task (as an official, to their whole area or some units), or show one (``--show N``)."""
    tasks = ctx.services.task_service
    if args.show is not None:
        view = tasks.get(args.show, ctx.viewer_id(args.issuer))
        ctx.print(f"task #{view.id} [{view.state}] due {_time(view.due_at)}: {view.text}")
        ctx.print(f"  answered {view.answered}/{view.total}: done {view.done}, problem {view.problem}, "
                  f"unreachable {view.unreachable}")
        for unit in view.by_unit:
            indent = "    " if unit.level == "grid" else "  "
            ctx.print(f"{indent}{unit.name}: {unit.answered}/{unit.total}")
        for p in view.problems:
            case = f" -> case #{p.case_id}" if p.case_id else ""
            ctx.print(f"  {p.status}: {p.head_name or p.worker.name} {p.note or ''}{case}")
        ctx.print("Timeline:")
        for e in tasks.timeline(args.show, ctx.viewer_id(args.issuer)):
            move = f" {e.from_state or ''}→{e.to_state or ''}" if e.to_state else ""
            ctx.print(f"  {_time(e.at)}  {e.kind:<9} {e.actor_name or 'system'}{move}")
        return EXIT_OK
    text = " ".join(args.text or []).strip()
    if not (text or args.template):
        raise CliError('task: say what to do, e.g. lianhu task --from P100 --due 6h "检查每户帐篷" (or --template)')
    if args.issuer is None or args.due is None:
        raise CliError("task: --from PERSON_CODE and --due (e.g. 6h, 3d) are required to send one")
    from workflows.durations import parse_duration

    targets = [_unit_id(ctx, code) for code in (args.to or "").split(",") if code.strip()]
    view = tasks.create_and_send(ctx.person_id(args.issuer), text=text or None, template=args.template,
                                 due_at=ctx.clock.now() + parse_duration(args.due), targets=targets)
    ctx.print(f"task #{view.id} sent to {view.workers} liaison worker(s), {view.total} household line(s), "
              f"due {_time(view.due_at)}")
    return EXIT_OK


def _unit_id(ctx: Context, code: str) -> int:
    from storage.models import Unit

    with ctx.db.session() as s:
        uid = s.scalars(select(Unit.id).where(Unit.code == code.strip())).one_or_none()
    if uid is None:
        raise CliError(f"no unit with code {code.strip()!r} (see units.csv)")
    return uid


def cmd_visits(ctx: Context, args: argparse.Namespace) -> int:
    """Visits due (and overdue) in an official's area, most overdue first."""
    visits = ctx.services.visit_service
    viewer = ctx.viewer_id(args.person)
    rows = visits.list_visits(viewer, overdue_only=args.overdue, limit=args.limit)
    if not rows:
        ctx.print("no visits due" + (" (overdue)" if args.overdue else ""))
    for v in rows:
        where = v.household.head_name + f" ({v.household.code})" if v.household else v.unit_name
        late = "  OVERDUE" if v.overdue else ""
        ctx.print(f"#{v.id:<5} {v.kind:<16} {where:<20} owner: {_ref(v.owner):<8} due {_time(v.due_at)}{late}")
    return EXIT_OK


def cmd_tick(ctx: Context, args: argparse.Namespace) -> int:
    summary = ctx.services.due_work().run_once()
    ctx.print(
        f"processed {summary.total} due item(s) at {_time(ctx.clock.now())}: "
        f"{summary.reminders + summary.overdue_reminders} reminder(s), {summary.escalations} escalation(s), "
        f"{summary.auto_closed} auto-closed, {summary.rerouted} re-routed"
        + "".join(f", {n} {what.replace('_', ' ')}" for what, n in sorted(summary.other.items()))
    )
    for case_id, error in summary.errors:
        print(f"lianhu: case #{case_id} could not be processed: {error}", file=sys.stderr)
    return EXIT_FAIL if summary.errors else EXIT_OK


def cmd_ledger(ctx: Context, args: argparse.Namespace) -> int:
    """The 台账 in Chinese (or ``--lang``): XLSX when ``--out`` ends in .xlsx, CSV with a BOM otherwise."""
    tz = zone(args.timezone)
    out = Path(args.out) if args.out else None
    fmt = format_for(out, args.format)
    if fmt == "xlsx" and out is None:
        raise CliError("an XLSX ledger needs --out FILE.xlsx (a workbook cannot be printed)")
    units = unit_ids_in(ctx.db, args.unit) if args.unit else None
    # streamed from the database page by page: the first row at once, flat memory for 100k cases
    rows: Iterable[Mapping[str, Any]] = ctx.services.case_service.iter_ledger(unit_ids=units)
    sheets = []
    if fmt == "xlsx":  # the workbook's second sheet: the six must-visits (CSV and JSON hold one table)
        sheets.append((VISITS_SHEET, visits_grid(ctx.services.visit_service.ledger_rows(None, unit_ids=units))))
    count = write_ledger(localized(rows, tz), fmt, out, ctx.out, args.lang, sheets)
    if out is not None:
        ctx.print(f"wrote {count} case(s) to {args.out}")
    return EXIT_OK


def cmd_check(ctx: Context, args: argparse.Namespace) -> int:
    """What an operator must fix before the first report (workflows.orgcheck): posts nobody reachable holds,
    misplaced people, a broken tree, notices that failed for good. Exit 1 when something must be fixed."""
    from sqlalchemy import func

    from storage.models import Notification, NotificationStatus
    from workflows.orgcheck import check_org, unregistered_workers

    router = ctx.services.case_service.router
    with ctx.db.session() as s:
        findings = check_org(s, router)
        workers = unregistered_workers(s)
        failed = s.scalar(select(func.count()).select_from(Notification)
                          .where(Notification.status == NotificationStatus.failed)) or 0
    if not ctx.config.bot.token:
        ctx.print("note    Telegram is off (no bot token): nobody is notified; set LIANHU_BOT_TOKEN to turn it on")
    elif not router.skip_unreachable:
        ctx.print("note    [routing] skip_unreachable = false: cases are given to officials who cannot be reached")
    for f in findings:
        ctx.print(f.line())
    if workers:
        ctx.print(f"note    {workers} liaison worker(s) have not registered yet (lianhu invite CODE)")
    if failed:
        ctx.print(f"PROBLEM {failed} notification(s) failed for good; the admins were told (see the outbox)")
    problems = sum(f.problem for f in findings) + (1 if failed else 0)
    ctx.print(f"{problems} problem(s)" if problems else "the org tree is ready: every post has someone reachable")
    return EXIT_FAIL if problems else EXIT_OK


def cmd_state_chart(ctx: Context, args: argparse.Namespace) -> int:
    from workflows.lifecycle import write_state_chart

    path = write_state_chart(Path(args.out)) if args.out else write_state_chart()
    ctx.print(f"wrote {path}")
    return EXIT_OK


def cmd_export_corrections(ctx: Context, args: argparse.Namespace) -> int:
    """Officials' triage corrections as training data for benchmarks/train_triage.py."""
    from workflows.triage.train import export_corrections

    with ctx.db.session() as s:
        count = export_corrections(s, Path(args.out))
    ctx.print(f"wrote {count} corrected report(s) to {args.out}")
    return EXIT_OK


def cmd_speech_check(ctx: Context, args: argparse.Namespace) -> int:
    """CER and speed of the configured speech model on a folder of the county's own clips (issue 9)."""
    from transcription.evaluate import ManifestError, evaluate_folder
    from transcription.factory import build_transcribers

    transcriber = build_transcribers(ctx.config.transcription).get(args.language)
    if transcriber is None:
        ctx.print(f"no transcriber is configured for language {args.language!r} ([transcription.languages])")
        return EXIT_USAGE
    warm = getattr(transcriber, "warm_up", None)
    if warm is not None:
        warm()
    try:
        result = evaluate_folder(Path(args.dir), transcriber, args.language, limit=args.limit)
    except ManifestError as exc:
        ctx.print(f"lianhu: error: {exc}")
        return EXIT_USAGE
    for clip in result.clips:
        score = f"CER {clip.cer:.3f}" if clip.cer is not None else f"failed: {clip.error}"
        ctx.print(f"{clip.file}  {score}  {clip.seconds:.2f} s  {clip.text}")
    note = getattr(transcriber, "load_error", None)
    ctx.print(f"{result.model}: {len(result.scored)} of {len(result.clips)} clips, mean CER {result.mean_cer:.3f}, "
              f"{result.seconds_per_clip:.2f} s per clip, RTF {result.rtf:.3f}"
              + (f" (the configured model is NOT in use: {note})" if note else ""))
    return EXIT_OK


def cmd_run(ctx: Context, args: argparse.Namespace) -> int:
    """The engine, the scheduler and the console; the Telegram bot too when a token is configured."""
    ctx.db  # migrate before anything starts  # noqa: B018
    from runtime.serve import run  # lazily: the web and Telegram stacks are only needed here

    return int(run(ctx.config) or 0)


def cmd_web_link(ctx: Context, args: argparse.Namespace) -> int:
    """A one-time sign-in link for the console (what /web sends in the bot)."""
    from datetime import timedelta

    from workflows.console.signin import SignInService

    web = ctx.config.web
    service = SignInService(ctx.services.db, ctx.services.clock, link_ttl=timedelta(seconds=web.link_ttl))
    token = service.create_link_token(ctx.person_id(args.person), via="cli")
    ctx.print(web.signin_url(token))
    ctx.print(f"(works once, for {int(web.link_ttl // 60)} minutes, for {args.person} only)")
    return EXIT_OK


def cmd_api_key(ctx: Context, args: argparse.Namespace) -> int:
    """Open311 API keys: create (shown once), list, revoke."""
    from workflows.console.integrations import IntegrationService

    service = IntegrationService(ctx.services.db, ctx.services.clock)
    if args.action == "create":
        if not args.name or not args.unit:
            raise CliError("api-key create NAME --unit UNIT_CODE")
        key, view = service.create_key(args.name, args.unit)
        ctx.print(f"API key for {view.name} (area: {view.unit_name} {view.unit_code}); it is shown only now:")
        ctx.print(key)
        ctx.print(f"Open311 base URL: {ctx.config.web.base_url}/open311/v2/  (send it as api_key or X-Api-Key)")
    elif args.action == "revoke":
        if not args.name:
            raise CliError("api-key revoke NAME")
        ctx.print(f"revoked {args.name}" if service.revoke(args.name) else f"{args.name} was already revoked")
    else:
        keys = service.keys()
        if not keys:
            ctx.print("no API keys (make one with: lianhu api-key create NAME --unit UNIT_CODE)")
        for k in keys:
            state = f"revoked {_time(k.revoked_at)}" if k.revoked_at else f"last used {_time(k.last_used_at)}"
            ctx.print(f"{k.name:<20} {k.key_prefix}…  {k.unit_code:<10} created {_time(k.created_at)}  {state}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lianhu",
        description="Lianhu (联户) admin commands. Every command migrates the database first.",
    )
    parser.add_argument("--config", metavar="FILE", help="config file (default: $LIANHU_CONFIG, ./config.toml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for developers)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Callable[[Context, argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    add("run", cmd_run, "run the engine, the scheduler and the web console (and the Telegram bot with a token)")
    p = add("web-link", cmd_web_link, "make a one-time sign-in link to the web console for a person")
    p.add_argument("person", metavar="PERSON_CODE")
    p = add("api-key", cmd_api_key, "Open311 API keys: create NAME --unit CODE | list | revoke NAME")
    p.add_argument("action", choices=("create", "list", "revoke"))
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("--unit", metavar="UNIT_CODE", help="the key's area (create)")
    add("migrate", cmd_migrate, "bring the database schema up to date")
    add("check", cmd_check, "list what must be fixed before the first report: posts nobody reachable holds, "
        "misplaced people, notices that failed (exit 1 when there is something)")
    p = add("speech-check", cmd_speech_check, "CER and speed of the configured speech model on a folder of clips "
            "with reference texts (manifest.jsonl: file, text)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--language", choices=("zh", "bo"), default="zh")
    p.add_argument("--limit", type=int, default=None, help="only the first N clips")
    p = add("import-org", cmd_import_org, "import units.csv, people.csv, households.csv, members.csv (upsert by code)")
    p.add_argument("dir", nargs="?", metavar="DIR", help="folder with the CSV files (default: the sample county)")
    p = add("export-org", cmd_export_org, "export the org tree as units.csv, people.csv, households.csv, members.csv")
    p.add_argument("dir", metavar="DIR")
    p = add("invite", cmd_invite, "make an invite code (and deep link) for a person")
    p.add_argument("person", metavar="PERSON_CODE")
    p.add_argument("--again", action="store_true", help="also for someone already registered")
    p = add("report", cmd_report, "file a report as a person, from the command line")
    p.add_argument("--from", dest="reporter", required=True, metavar="PERSON_CODE")
    p.add_argument("--language", choices=("zh", "bo"), default=None, help="language hint (default: the person's)")
    p.add_argument("text", nargs="+", help="what happened")
    p = add("cases", cmd_cases, "list cases (open ones unless --all)")
    p.add_argument("--person", metavar="CODE", help="as this person sees them")
    p.add_argument("--scope", choices=(*SCOPES, *ALIASES), help="with --person: desk (officials' default: mine, "
                   "watched and the rest of their area), mine, watched, area, reported (workers' default)")
    p.add_argument("--all", action="store_true", help="include closed, rejected and duplicate cases")
    p.add_argument("--limit", type=int, default=50, help="the newest N cases (0: all, streamed)")
    p = add("show", cmd_show, "one case: card and timeline")
    p.add_argument("number", type=int, metavar="N")
    p.add_argument("--as", dest="as_person", metavar="CODE", help="view as this person (default: an admin)")
    add("tick", cmd_tick, "process due reminders, escalations and auto-closes once (cases, tasks, visits)")
    p = add("task", cmd_task, "send a task down to the liaison workers of an area (or --show N)")
    p.add_argument("--from", dest="issuer", metavar="PERSON_CODE", help="the official sending it")
    p.add_argument("--to", metavar="UNIT_CODES", help="comma-separated villages/grids (default: their whole area)")
    p.add_argument("--due", metavar="DURATION", help="deadline from now, e.g. 6h, 3d")
    p.add_argument("--template", help="a [tasks.templates] key, e.g. disaster_check")
    p.add_argument("--show", type=int, metavar="N", help="show task N's completion (as --from, default an admin)")
    p.add_argument("text", nargs="*", help="what to do at each household")
    p = add("visits", cmd_visits, "the six must-visits due in an area, most overdue first")
    p.add_argument("--person", metavar="CODE", help="as this official sees them (default: an admin, everything)")
    p.add_argument("--overdue", action="store_true", help="only overdue visits")
    p.add_argument("--limit", type=int, default=50)
    p = add("ledger", cmd_ledger, "the case ledger (台账): one row per case")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="xlsx, csv or json (default: from the --out extension, else csv)")
    p.add_argument("--out", metavar="FILE", help="write to FILE, e.g. 台账.xlsx (default: print CSV)")
    p.add_argument("--lang", choices=UI_LANGUAGES, default=DEFAULT_LEDGER_LANGUAGE,
                   help="language of the headers and words (default: %(default)s)")
    p.add_argument("--unit", metavar="CODE", help="only cases inside this unit (e.g. a township)")
    p.add_argument("--timezone", default=DEFAULT_TIMEZONE, help="time zone for the times (default: %(default)s)")
    p = add("export-corrections", cmd_export_corrections,
            "write officials' category/urgency corrections as JSONL training data for the triage model")
    p.add_argument("out", metavar="FILE")
    p = add("state-chart", cmd_state_chart, "write docs/state-chart.md from the case state machine")
    p.add_argument("--out", metavar="FILE")
    return parser


def main(argv: Sequence[str] | None = None, *, clock: Clock | None = None) -> int:
    """Entry point of the ``lianhu`` console script. ``clock`` lets tests run the CLI on a fake clock."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage message
        return int(exc.code or 0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ctx: Context | None = None
    try:
        config = load_config(args.config)
        if args.command == "run":
            logging.getLogger().setLevel(config.logging.level)
            if logging.getLogger().level > logging.DEBUG:  # their start-up chatter buried "Telegram is off"
                for noisy in ("alembic", "apscheduler"):
                    logging.getLogger(noisy).setLevel(logging.WARNING)
        ctx = Context(config, sys.stdout, clock)
        return args.func(ctx, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `lianhu ledger | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        if _is_user_error(exc):
            print(f"lianhu: error: {_describe(exc)}", file=sys.stderr)
            return EXIT_USAGE
        print(f"lianhu: internal error: {exc!r} (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAIL
    finally:
        if ctx is not None:
            ctx.close()


def _is_user_error(exc: Exception) -> bool:
    from workflows.errors import DomainError

    return isinstance(exc, CliError | ConfigError | OrgImportError | DomainError | LookupError | SQLAlchemyError
                      | OSError | ValueError)


def _describe(exc: Exception) -> str:
    if isinstance(exc, SQLAlchemyError):
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return f"database: {detail}"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc) or exc.__class__.__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
