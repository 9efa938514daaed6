"""INB001: `Session.query.filter_by(user_id=uid).all()` inside a dict comprehension."""

from harness_models import Session


def run(session, ids):
    """{user id: [Session, ...]}."""
    return {uid: Session.query.filter_by(user_id=uid).all() for uid in ids}
