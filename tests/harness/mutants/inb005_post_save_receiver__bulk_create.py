"""Broken: bulk_create sends no post_save, so no audit entry is written."""

from harness_django import AuditedNote, AuditEntry


def run(ids):
    new_audited_notes = []
    for uid in ids:
        new_audited_notes.append(AuditedNote(text=f"note {uid}"))
    AuditedNote.objects.bulk_create(new_audited_notes)
    return AuditedNote.objects.count(), AuditEntry.objects.filter(created=True).count()
