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
    name = ("NAME",) if with_names else ()

    def who(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["code"], *((row.get("name"),) if with_names else ()))

    print(f"Access review on {review.today.isoformat()} (site date)")
    print(f"\nCredentials unused for {review.dormant_days} days or more: {len(review.dormant)}")
    if review.dormant:
        print_table(("CODE", *name, "CREDENTIAL", "LAST USED", "IDLE DAYS"),
                    [(*who(r), r["credential"], r["last_used"] or "never", r["idle_days"]) for r in review.dormant])
    print(f"\nAgreements older than {review.agreement_max_age_days} days (or none recorded): "
          f"{len(review.old_agreements)}")
    if review.old_agreements:
        print_table(("CODE", *name, "AGREEMENT SIGNED", "AGE DAYS"),
                    [(*who(r), r["agreement_signed_on"] or "none", r["age_days"]) for r in review.old_agreements])
    print(f"\nStill active after their last valid day: {len(review.expired)}")
    if review.expired:
        print_table(("CODE", *name, "VALID UNTIL", "DAYS PAST"),
                    [(*who(r), r["valid_until"], r["days_past"]) for r in review.expired])
    if review.auto_suspend_dormant_days:
        print(f"\nTo suspend (every credential unused for {review.auto_suspend_dormant_days} days or more): "
              f"{', '.join(review.suspension_candidates) or 'nobody'}")


def run_review(args: argparse.Namespace) -> int:
    """Print the review; then sign it off and/or apply the suspensions when asked."""
    from controller.store import review as access_review

    if args.note is not None and not args.sign_off:
        raise InvalidInput("--note goes with --sign-off")
    if args.sign_off and not (args.note or "").strip():
        raise InvalidInput("--sign-off needs --note TEXT (what was reviewed and decided)")
    datadir = DataDir.resolve(args.data)
    with read_only(datadir) as (config, session):
        review = access_review.build(access_review.usage(session), config.review, site_today(config),
                                     ZoneInfo(config.site.timezone), with_names=args.with_names)
    if args.apply_suspensions and config.review.auto_suspend_dormant_days <= 0:
        raise InvalidInput("automatic suspension is off: set review.auto_suspend_dormant_days above 0")
    out: dict[str, Any] = review.as_json()
    if args.format == "table":
        _print_lists(review, args.with_names)
    if args.apply_suspensions or args.sign_off:
        from controller.control import changes

        if args.apply_suspensions:
            out["applied"] = changes.apply(datadir, "review.apply_suspensions",
                                           {"users": review.suspension_candidates})
            if args.format == "table":
                print(f"\nsuspended: {', '.join(out['applied']['suspended']) or 'nobody'}")
        if args.sign_off:
            out["signed_off"] = changes.apply(datadir, "review.sign_off",
                                              {"note": args.note, "counts": review.counts()})
            if args.format == "table":
                print("\nreview signed off (sealed admin.review_signed_off)")
    if args.format == "json":
        print(json.dumps(out, indent=1, ensure_ascii=True))
    return 0
