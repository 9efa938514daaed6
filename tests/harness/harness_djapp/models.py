from django.db import models


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
