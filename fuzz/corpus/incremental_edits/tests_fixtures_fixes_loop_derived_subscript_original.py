"""INB001: `session.query(Session).filter(Session.user_id == row["id"]).all()` once per row."""

from harness_models import Session


def run(session, rows):
    """`rows` are dicts with an "id" and a "label": {label: [session started, ...]}."""
    result = {}
    for row in rows:
        sessions = session.query(Session).filter(Session.user_id == row["id"]).all()
        result[row["label"]] = [s.started for s in sessions]
    return result
