"""Capture's rules, with no I/O and no clock of their own: which parameters, cookies and referrers a landing
brings, the channel of a touch and the referrer lists behind it, the attribution models, the one signed
cookie and its compact wire form, consent, and the middleware's validated settings.

May use: the ground. Never the web edge, checkout, delivery, vendors or reports: the edge calls these rules,
checkout reads the models they make.
"""
