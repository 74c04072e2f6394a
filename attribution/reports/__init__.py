"""Reports: which channels and campaigns earned the revenue under an attribution model, and what each vendor
did with each order, read from the order records the outbox keeps.

May use: the outbox (reading only), capture's models and the ground.
"""
