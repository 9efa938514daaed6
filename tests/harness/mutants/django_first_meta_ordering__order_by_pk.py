"""Mutant: the rewrite inbatch made before issue 19, `order_by("pk")` on the batch, which overrides
the model's `Meta.ordering`: each tier gets its highest number instead of its lowest."""

from harness_django import Account


def run(ids):
    """The first account number of each tier (ids taken as tiers; most have no accounts)."""
    account_by_tier = {}
    keys = list(dict.fromkeys(ids))
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for row in Account.objects.filter(tier__in=chunk).order_by("pk"):
            account_by_tier.setdefault(row.tier, row)
    result = []
    for tier in ids:
        account = account_by_tier.get(tier)
        result.append(account.number if account is not None else None)
    return result
