"""Broken INB301 rewrite: de-duplicated but not chunked — same rows, yet 2,500 parameters in one
statement (the original's own unbounded IN list grants nothing)."""

from harness_models import Session


def run(session, ids):
    return Session.query.filter(Session.user_id.in_(list(dict.fromkeys(ids)))).all()
