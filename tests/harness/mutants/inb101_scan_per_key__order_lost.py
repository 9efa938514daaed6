"""Broken INB101 rewrite: the index is built from the rows in another order, so each key's rows no
longer come in the collection's (query's) order."""

from collections import defaultdict

from harness_models import Session


def run(session, ids):
    recent = Session.query.filter(Session.started < 60).order_by(Session.id.desc()).all()
    by_user_id = defaultdict(list)
    for s in sorted(recent, key=lambda s: s.id):
        by_user_id[s.user_id].append(s)
    return {uid: [s.id for s in by_user_id.get(uid, [])] for uid in ids}
