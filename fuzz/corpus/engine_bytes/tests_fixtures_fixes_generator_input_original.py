"""INB001: `Payment.query.filter_by(user_id=uid).all()` over an iterable that may be a generator."""

from typing import Iterable

from harness_models import Payment


def run(session, ids: Iterable[int]):
    """[(user id, number of payments), ...] in input order; `ids` may be a one-shot generator."""
    counts = []
    for uid in ids:
        payments = Payment.query.filter_by(user_id=uid).all()
        counts.append((uid, len(payments)))
    return counts
