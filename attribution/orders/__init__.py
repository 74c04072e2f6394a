"""What a site reports and what the library keeps of it: the conversion model (an order or event, its items,
the customer, the request context), validated at construction; the customer's data in the forms vendors match
on (``identifiers``), normalised and hashed as conversion APIs expect (``pii``).

It sits below checkout, vendors, delivery and reports, which all speak it: checkout builds a conversion, the
outbox keeps it, the worker hands it to an adapter, reports add it up. May use: capture's models and the ground.
"""
