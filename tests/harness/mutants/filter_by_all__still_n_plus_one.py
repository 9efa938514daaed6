"""Broken on purpose: behaves the same but still runs one query per id (the count check fails)."""

from harness_models import Session


def run(session, ids):
    return {uid: Session.query.filter(Session.user_id.in_([uid])).all() for uid in ids}
