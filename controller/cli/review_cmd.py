"""``kunci review``: the periodic access review (docs/install-pi.md "Access review").

Lists, from the sealed entry log and the people table (:mod:`controller.store.review`): credentials
not used for ``review.dormant_days``, agreements older than ``review.agreement_max_age_days``, and
people still active after their last valid day. Codes only; ``--with-names`` adds display names
(as ``kunci user list``). ``--sign-off --note TEXT`` records a sealed ``admin.review_signed_off``
event with the counts shown and the note; ``--apply-suspensions`` suspends the people whose every
credential is unused for ``review.auto_suspend_dormant_days`` (when above 0), each a sealed
``admin.user_suspended`` with reason ``dormant``. Both changes go through the one writer
(:func:`controller.control.changes.apply`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from zoneinfo import ZoneInfo

from controller.cli.people_cmd import print_table, read_only, site_today
from controller.errors import InvalidInput
from controller.i18n import T, _
from controller.paths import DataDir


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``review``."""
    parser = subparsers.add_parser("review", parents=[common],
                                   help="access review: dormant credentials, old agreements, expired people")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--with-names", action="store_true", help="include display names (admins only)")
    parser.add_argument("--sign-off", action="store_true",
                        help="record that the review was done (sealed admin.review_signed_off, with --note)")
    parser.add_argument("--note", help="what was decided (with --sign-off; at most 500 characters)")
    parser.add_argument("--apply-suspensions", action="store_true",
                        help="suspend people whose every credential is unused for review.auto_suspend_dormant_days")
    parser.set_defaults(func=run_review)


def _print_lists(review: Any, with_names: bool) -> None:
    name = (_("NAME"),) if with_names else ()

    def who(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["code"], *((row.get("name"),) if with_names else ()))

    print(_("Access review on {day} (site date)").format(day=review.today.isoformat()))
    print("\n" + _("Credentials unused for {days} days or more: {count}").format(days=review.dormant_days,
                                                                              count=len(review.dormant)))
    if review.dormant:
        print_table((_("CODE"), *name, _("CREDENTIAL"), _("LAST USED"), _("IDLE DAYS")),
                    [(*who(r), r["credential"], r["last_used"] or _("never"), r["idle_days"]) for r in review.dormant])
    print("\n" + _("Agreements older than {days} days (or none recorded): {count}").format(
        days=review.agreement_max_age_days, count=len(review.old_agreements)))
    if review.old_agreements:
        print_table((_("CODE"), *name, _("AGREEMENT SIGNED"), _("AGE DAYS")),
                    [(*who(r), r["agreement_signed_on"] or _("none"), r["age_days"]) for r in review.old_agreements])
    print("\n" + _("Still active after their last valid day: {count}").format(count=len(review.expired)))
    if review.expired:
        print_table((_("CODE"), *name, _("VALID UNTIL"), _("DAYS PAST")),
                    [(*who(r), r["valid_until"], r["days_past"]) for r in review.expired])
    if review.auto_suspend_dormant_days:
        print("\n" + _("To suspend (every credential unused for {days} days or more): {codes}").format(
            days=review.auto_suspend_dormant_days, codes=", ".join(review.suspension_candidates) or _("nobody")))


def run_review(args: argparse.Namespace) -> int:
    """Print the review; then sign it off and/or apply the suspensions when asked."""
    from controller.store import review as access_review

    if args.note is not None and not args.sign_off:
        raise InvalidInput(T("--note goes with --sign-off"))
    if args.sign_off and not (args.note or "").strip():
        raise InvalidInput(T("--sign-off needs --note TEXT (what was reviewed and decided)"))
    datadir = DataDir.resolve(args.data)
    with read_only(datadir) as (config, session):
        review = access_review.build(access_review.usage(session), config.review, site_today(config),
                                     ZoneInfo(config.site.timezone), with_names=args.with_names)
    if args.apply_suspensions and config.review.auto_suspend_dormant_days <= 0:
        raise InvalidInput(T("automatic suspension is off: set review.auto_suspend_dormant_days above 0"))
    out: dict[str, Any] = review.as_json()
    if args.format == "table":
        _print_lists(review, args.with_names)
    if args.apply_suspensions or args.sign_off:
        from controller.control import changes

        if args.apply_suspensions:
            out["applied"] = changes.apply(datadir, "review.apply_suspensions",
                                           {"users": review.suspension_candidates})
            if args.format == "table":
                suspended = ", ".join(out["applied"]["suspended"]) or _("nobody")
                print("\n" + _("suspended: {codes}").format(codes=suspended))
        if args.sign_off:
            out["signed_off"] = changes.apply(datadir, "review.sign_off",
                                              {"note": args.note, "counts": review.counts()})
            if args.format == "table":
                print("\n" + _("review signed off (sealed admin.review_signed_off)"))
    if args.format == "json":
        print(json.dumps(out, indent=1, ensure_ascii=True))
    return 0
