# Django managers and related managers.
from shop.models import Customer, Order, Product


def objects_filter(customer_ids):
    for cid in customer_ids:
        orders = list(Order.objects.filter(customer_id=cid))  # expect: INB001
        print(orders)


def objects_get(customer_ids):
    for cid in customer_ids:
        customer = Customer.objects.get(pk=cid)  # expect: INB001
        print(customer)


def objects_exclude_count(customer_ids):
    for cid in customer_ids:
        print(Order.objects.exclude(status="cancelled").filter(customer=cid).count())  # expect: INB001


def objects_exists(customer_ids):
    return {cid: Order.objects.filter(customer_id=cid).exists() for cid in customer_ids}  # expect: INB001


def objects_values(customer_ids):
    for cid in customer_ids:
        print(Order.objects.filter(customer_id=cid).values("id", "total"))  # expect: INB001


def objects_first(product_ids):
    for pid in product_ids:
        print(Product.objects.filter(id=pid).first())  # expect: INB001


def related_manager(customers):
    for customer in customers:
        print(customer.order_set.count())  # expect: INB001


def related_manager_filter(customers):
    for customer in customers:
        print(customer.order_set.filter(status="paid").all())  # expect: INB001


def default_manager(customer_ids):
    for cid in customer_ids:
        print(Customer._default_manager.get(id=cid))  # expect: INB001
