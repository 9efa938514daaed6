"""Broken on purpose (INB301): one `.in_()` over every key, never chunked."""

from collections import defaultdict

from harness_models import Session


def run(session, ids):
    sessions_by_user_id = defaultdict(list)
    for row in Session.query.filter(Session.user_id.in_(list(dict.fromkeys(ids)))).all():
        sessions_by_user_id[row.user_id].append(row)
    return {uid: sessions_by_user_id.get(uid, []) for uid in ids}
