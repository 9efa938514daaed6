"""Broken on purpose: an unknown id maps to None instead of []."""

from collections import defaultdict

from harness_models import Session


def run(session, ids):
    sessions_by_user_id = defaultdict(list)
    keys = list(dict.fromkeys(ids))
    for i in range(0, len(keys), 1000):
        for row in Session.query.filter(Session.user_id.in_(keys[i:i + 1000])).all():
            sessions_by_user_id[row.user_id].append(row)
    return {uid: sessions_by_user_id.get(uid) for uid in ids}
