"""Broken: bulk_create never calls SluggedTag.save(), so every slug stays empty."""

from harness_django import SluggedTag


def run(ids):
    new_slugged_tags = []
    for uid in ids:
        new_slugged_tags.append(SluggedTag(name=f"Tag {uid}"))
    SluggedTag.objects.bulk_create(new_slugged_tags)
    return list(SluggedTag.objects.order_by("id").values_list("slug", flat=True))
