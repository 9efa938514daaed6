from django.db import models
from django.db.models.signals import post_save
from django.dispatch import receiver


class Customer(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        app_label = "harness_djapp"


class Order(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="orders")
    status = models.CharField(max_length=20)
    placed = models.IntegerField()
    total = models.DecimalField(max_digits=10, decimal_places=2, null=True)

    class Meta:
        app_label = "harness_djapp"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=20)
    quantity = models.IntegerField()

    class Meta:
        app_label = "harness_djapp"


class Account(models.Model):
    """One per customer id, keyed by a unique `number` that is not its primary key (the rows are
    inserted in reverse order): the `get(unique_field=key)` → `in_bulk(field_name=...)` shape, and
    `.first()` per tier under `Meta.ordering`."""

    number = models.IntegerField(unique=True)
    holder = models.CharField(max_length=100)
    # number % 7: many accounts per tier, for `.first()` per key under `Meta.ordering`
    tier = models.IntegerField()

    class Meta:
        app_label = "harness_djapp"
        # `first()` follows this ordering (lowest number), not the primary key (the highest).
        ordering = ["number"]


# Models whose rows must be written one by one (INB005 refuses its bulk fixes for them). Only the
# cases about them use them: a receiver connected for another model would change what every
# other Django case counts and returns.


class AuditedNote(models.Model):
    """Every saved note gets an `AuditEntry` from the `post_save` receiver below."""

    text = models.CharField(max_length=100)

    class Meta:
        app_label = "harness_djapp"


class AuditEntry(models.Model):
    note_id = models.IntegerField()
    created = models.BooleanField()

    class Meta:
        app_label = "harness_djapp"


@receiver(post_save, sender=AuditedNote)
def audit_note(sender, instance, created, **kwargs):
    AuditEntry.objects.create(note_id=instance.pk, created=created)


class SluggedTag(models.Model):
    """`save()` derives the slug: `bulk_create` would store it empty."""

    name = models.CharField(max_length=100)
    slug = models.CharField(max_length=100, blank=True)

    class Meta:
        app_label = "harness_djapp"

    def save(self, *args, **kwargs):
        self.slug = self.name.lower().replace(" ", "-")
        super().save(*args, **kwargs)
