from django.http import JsonResponse

from .models import Customer, Order


def customer_report(request, customer_ids):
    report = {}
    for cid in customer_ids:
        customer = Customer.objects.get(id=cid)
        report[cid] = {"name": customer.name}
    total = 0
    for order in Order.objects.filter(id__gt=10):
        report[order.customer_id]["seen_by"] = order.customer.name
        report[order.customer_id]["tags"] = [t.label for t in order.tags.all()]
        total += order.amount
    for customer in Customer.objects.all():
        report[customer.id]["orders"] = customer.orders.count()
    return JsonResponse({"report": report, "total": total})
